/* SPDX-License-Identifier: MIT */
/*
 * The CUDA backend's entry points: turn a plan and a call into kernel
 * parameters, pick the kernel for each work list (wgmma where
 * msa_cuda_use_hopper() allows, mma.sync otherwise), launch on the caller's
 * stream, and map cudaError_t to -errno at the C boundary.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include <cudaTypedefs.h>
#include <cuda_runtime.h>

#include "kv_write.cuh"
#include "msa_cuda_launch.cuh"
#include "msa_internal.h"

int msa_cuda_errno(cudaError_t err)
{
	switch (err) {
	case cudaSuccess:
		return 0;
	case cudaErrorMemoryAllocation:
		return -ENOMEM;
	case cudaErrorInvalidValue:
	case cudaErrorInvalidConfiguration:
	case cudaErrorInvalidDevicePointer:
	case cudaErrorInvalidResourceHandle:
		return -EINVAL;
	case cudaErrorNoDevice:
	case cudaErrorInsufficientDriver:
	case cudaErrorInvalidDevice:
		return -ENODEV;
	case cudaErrorNoKernelImageForDevice:
	case cudaErrorUnsupportedPtxVersion:
		return -ENOEXEC;
	default:
		return -EIO;
	}
}

static unsigned ilog2u(unsigned x)
{
	unsigned r = 0;

	while (x > 1) {
		x >>= 1;
		r++;
	}
	return r;
}

/*
 * Pageable source: the copy has left the buffer once this returns.  An
 * empty list is skipped, as its host array may be NULL.
 */
template <typename T>
static cudaError_t upload_list(char *w, size_t off, const T *src, size_t n,
			       cudaStream_t st)
{
	if (!n)
		return cudaSuccess;
	return cudaMemcpyAsync(w + off, src, n * sizeof(*src),
			       cudaMemcpyHostToDevice, st);
}

int msa_cuda_upload(const struct ac_msa_plan *p, void *ws, void *stream)
{
	cudaStream_t st = (cudaStream_t)stream;
	char *w = (char *)ws;
	cudaError_t err;

	err = upload_list(w, p->off_big, p->big, p->n_big, st);
	if (err == cudaSuccess)
		err = upload_list(w, p->off_mid, p->mid, p->n_mid, st);
	if (err == cudaSuccess)
		err = upload_list(w, p->off_small, p->small, p->n_small, st);
	if (err == cudaSuccess)
		err = upload_list(w, p->off_merge, p->merge, p->n_merge, st);
	return msa_cuda_errno(err);
}

/*
 * cuTensorMapEncodeTiled is a driver function; the runtime hands out its
 * address, so nothing links against libcuda.
 */
static PFN_cuTensorMapEncodeTiled_v12000 tmap_encode_fn(void)
{
	static PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
		cudaDriverEntryPointQueryResult q;
		void *f = nullptr;

		if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f,
						     12000, cudaEnableDefault,
						     &q) != cudaSuccess ||
		    q != cudaDriverEntryPointSuccess)
			f = nullptr;
		return (PFN_cuTensorMapEncodeTiled_v12000)f;
	}();

	return fn;
}

static CUtensorMapDataType tmap_dtype(const struct ac_kv_layout *lay)
{
	return lay->dtype == AC_DTYPE_BF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 :
					     CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
}

/* Compute capability of the current device as major * 10 + minor. */
static int device_cc(void)
{
	int dev, major, minor;

	if (cudaGetDevice(&dev) != cudaSuccess ||
	    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor,
				   dev) != cudaSuccess ||
	    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor,
				   dev) != cudaSuccess)
		return 0;
	return major * 10 + minor;
}

bool msa_cuda_use_hopper(const struct ac_msa_plan *p,
			 const struct ac_kv_pool *pool, const void *q)
{
#if defined(AC_MSA_SM90A) && AC_MSA_SM90A
	const struct ac_kv_layout *lay = &p->layout;

	/* The Q boxes are 128 and 64 rows: no 64-row big tiles. */
	if (p->force_mma || p->big_rows != MSA_BIG_ROWS)
		return false;
	if (lay->head_dim != 64 && lay->head_dim != 128)
		return false;
	if (lay->dtype != AC_DTYPE_BF16 && lay->dtype != AC_DTYPE_FP16)
		return false;
	/* Key tiles are whole blocks; Q boxes G heads by 128 / G tokens. */
	if (64 % lay->block_tokens)
		return false;
	if ((uintptr_t)q % 16 || (uintptr_t)pool->base % 16 ||
	    pool->block_bytes % 16)
		return false;
	return device_cc() == 90 && tmap_encode_fn();
#else
	(void)p;
	(void)pool;
	(void)q;
	return false;
#endif
}

/* The Q map: boxes of G heads by @bm / G tokens, @bm the rows of a block. */
static cudaError_t encode_q(const struct ac_msa_plan *p, const void *q,
			   uint32_t bm, CUtensorMap *tm)
{
	const cuuint64_t D = p->layout.head_dim;
	const cuuint64_t dim[3] = { D, p->num_q_heads, p->total_q };
	const cuuint64_t stride[2] = { D * 2, p->num_q_heads * D * 2 };
	const cuuint32_t box[3] = { 64, p->group, bm / p->group };
	const cuuint32_t one[3] = { 1, 1, 1 };

	if (tmap_encode_fn()(tm, tmap_dtype(&p->layout), 3, const_cast<void *>(q),
			     dim, stride, box, one, CU_TENSOR_MAP_INTERLEAVE_NONE,
			     CU_TENSOR_MAP_SWIZZLE_128B,
			     CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
			     CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS)
		return cudaErrorInvalidValue;
	return cudaSuccess;
}

/* Parameters of the 128-row launch over the big work list. */
static cudaError_t hopper_params(const struct ac_msa_plan *p,
				 const struct ac_kv_pool *pool, uint32_t layer,
				 const msa_attn_params &a, msa_hopper_params *hp)
{
	const struct ac_kv_layout *lay = &p->layout;
	const cuuint64_t D = lay->head_dim, T = lay->block_tokens;
	const cuuint64_t rows = (cuuint64_t)lay->num_layers * 2 *
				lay->num_kv_heads * T;
	const cuuint64_t kdim[3] = { D, rows, pool->num_blocks };
	const cuuint64_t kstride[2] = { D * 2, pool->block_bytes };
	const cuuint32_t kbox[3] = { 64, (cuuint32_t)T, 1 };
	const cuuint32_t one[3] = { 1, 1, 1 };
	cudaError_t err;

	memset(hp, 0, sizeof(*hp));
	err = encode_q(p, a.q, 128, &hp->tm_q);
	if (err != cudaSuccess)
		return err;
	if (tmap_encode_fn()(&hp->tm_kv, tmap_dtype(lay), 3, pool->base, kdim,
			     kstride, kbox, one, CU_TENSOR_MAP_INTERLEAVE_NONE,
			     CU_TENSOR_MAP_SWIZZLE_128B,
			     CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
			     CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS)
		return cudaErrorInvalidValue;
	hp->out = a.out;
	hp->table_indptr = a.table_indptr;
	hp->block_ids = a.block_ids;
	hp->work = a.work;
	hp->part_o = a.part_o;
	hp->part_lse = a.part_lse;
	hp->num_q_heads = p->num_q_heads;
	hp->group = p->group;
	hp->block_tokens_log2 = a.block_tokens_log2;
	hp->k_row = (uint32_t)((uint64_t)layer * 2 * lay->num_kv_heads * T);
	hp->v_row = (uint32_t)(((uint64_t)layer * 2 + 1) * lay->num_kv_heads * T);
	hp->scale_log2 = a.scale_log2;
	return cudaSuccess;
}

template <typename T, int D>
static cudaError_t launch_typed(const msa_launch &l, msa_kernel k,
				const msa_work *work, uint32_t n,
				cudaStream_t st)
{
	using namespace msa::hopper;
	msa_attn_params a = l.a;
	msa_hopper_params hp;

	a.work = work;
	a.n_work = n;
	switch (k) {
	case MSA_WGMMA_BIG:
		if (!l.hopper)
			return cudaErrorInvalidValue;
		hp = l.hp;
		hp.work = work;
		return launch<T, D, 2, 128, 3, true>(hp, n, st);
	case MSA_WGMMA_MID:
		if (!l.hopper || !l.n_mid)
			return cudaErrorInvalidValue;
		hp = l.hp_mid;
		hp.work = work;
		return launch<T, D, 1, 64, 2, false>(hp, n, st);
	case MSA_MMA_BIG:
		return msa::launch_attn<T, D, 4, 2, 64, 2>(a, st);
	case MSA_MMA_MID:
		return msa::launch_attn<T, D, 4, 1, 64, 2>(a, st);
	case MSA_MMA_SMALL:
		return msa::launch_attn<T, D, 1, 1, 32, 2>(a, st);
	}
	return cudaErrorInvalidValue;
}

cudaError_t msa_cuda_launch(const struct msa_launch *l, enum msa_kernel k,
			    const struct msa_work *work, uint32_t n,
			    cudaStream_t st)
{
	if (!n)
		return cudaSuccess;
	if (l->dtype == AC_DTYPE_BF16 && l->head_dim == 128)
		return launch_typed<__nv_bfloat16, 128>(*l, k, work, n, st);
	if (l->dtype == AC_DTYPE_BF16 && l->head_dim == 64)
		return launch_typed<__nv_bfloat16, 64>(*l, k, work, n, st);
	if (l->dtype == AC_DTYPE_FP16 && l->head_dim == 128)
		return launch_typed<__half, 128>(*l, k, work, n, st);
	if (l->dtype == AC_DTYPE_FP16 && l->head_dim == 64)
		return launch_typed<__half, 64>(*l, k, work, n, st);
	return cudaErrorInvalidValue;
}

cudaError_t msa_cuda_merge(const struct msa_launch *l, cudaStream_t st)
{
	if (l->dtype == AC_DTYPE_BF16)
		return msa::launch_merge<__nv_bfloat16>(l->mp, l->n_merge, st);
	if (l->dtype == AC_DTYPE_FP16)
		return msa::launch_merge<__half>(l->mp, l->n_merge, st);
	return cudaErrorInvalidValue;
}

cudaError_t msa_cuda_prepare(const struct ac_msa_plan *p,
			     const struct ac_kv_pool *pool,
			     const struct ac_msa_batch *b, uint32_t layer,
			     float scale, const void *q, void *out, void *ws,
			     struct msa_launch *l)
{
	const struct ac_kv_layout *lay = &p->layout;
	char *w = (char *)ws;
	msa_attn_params &a = l->a;
	msa_merge_params &mp = l->mp;
	cudaError_t err;

	memset(l, 0, sizeof(*l));
	l->big = (const struct msa_work *)(w + p->off_big);
	l->mid = (const struct msa_work *)(w + p->off_mid);
	l->small = (const struct msa_work *)(w + p->off_small);
	l->n_big = p->n_big;
	l->n_mid = p->n_mid;
	l->n_small = p->n_small;
	l->n_merge = p->n_merge;
	l->dtype = lay->dtype;
	l->head_dim = lay->head_dim;
	l->hopper = msa_cuda_use_hopper(p, pool, q);

	a.q = q;
	a.out = out;
	a.pool = (const char *)pool->base;
	a.block_bytes = pool->block_bytes;
	a.table_indptr = b->table_indptr;
	a.block_ids = b->block_ids;
	a.work = l->big;
	a.part_o = (float *)(w + p->off_part_o);
	a.part_lse = (float *)(w + p->off_part_lse);
	a.n_work = p->n_big;
	a.num_q_heads = p->num_q_heads;
	a.group = p->group;
	a.block_tokens_log2 = ilog2u(lay->block_tokens);
	a.k_off = ac_kv_elem_offset(lay, layer, 0, 0, 0);
	a.v_off = ac_kv_elem_offset(lay, layer, 1, 0, 0);
	a.head_stride = lay->block_tokens * lay->head_dim;
	a.scale_log2 = scale * (float)M_LOG2E;

	mp.out = out;
	mp.merge = (const struct msa_merge *)(w + p->off_merge);
	mp.part_o = a.part_o;
	mp.part_lse = a.part_lse;
	mp.num_q_heads = p->num_q_heads;
	mp.group = p->group;
	mp.head_dim = lay->head_dim;
	mp.max_rows = p->merge_rows;

	if (!l->hopper)
		return cudaSuccess;
	err = hopper_params(p, pool, layer, a, &l->hp);
	if (err == cudaSuccess && p->n_mid) {
		/* Same pool map; only the Q box and the list differ. */
		l->hp_mid = l->hp;
		l->hp_mid.work = l->mid;
		err = encode_q(p, q, 64, &l->hp_mid.tm_q);
	}
	return err;
}

int msa_cuda_run(const struct ac_msa_plan *p, const struct ac_kv_pool *pool,
		 const struct ac_msa_batch *b, uint32_t layer, float scale,
		 const void *q, void *out, void *ws, void *stream)
{
	cudaStream_t st = (cudaStream_t)stream;
	const enum ac_dtype dt = p->layout.dtype;
	const uint32_t D = p->layout.head_dim;
	struct msa_launch l;
	cudaError_t err;

	if ((dt != AC_DTYPE_BF16 && dt != AC_DTYPE_FP16) || (D != 64 && D != 128))
		return -EOPNOTSUPP;
	err = msa_cuda_prepare(p, pool, b, layer, scale, q, out, ws, &l);
	if (err == cudaSuccess)
		err = msa_cuda_launch(&l, l.hopper ? MSA_WGMMA_BIG : MSA_MMA_BIG,
				      l.big, l.n_big, st);
	if (err == cudaSuccess)
		err = msa_cuda_launch(&l, l.hopper ? MSA_WGMMA_MID : MSA_MMA_MID,
				      l.mid, l.n_mid, st);
	if (err == cudaSuccess)
		err = msa_cuda_launch(&l, MSA_MMA_SMALL, l.small, l.n_small, st);
	if (err == cudaSuccess)
		err = msa_cuda_merge(&l, st);
	return msa_cuda_errno(err);
}

int msa_cuda_kv_write(const struct ac_msa_plan *p,
		      const struct ac_kv_pool *pool,
		      const struct ac_msa_batch *b, uint32_t layer,
		      const void *k, const void *v, void *stream)
{
	const struct ac_kv_layout *lay = &p->layout;
	size_t esz = ac_dtype_size(lay->dtype);
	kv_write_params kp = {};
	uint32_t sm = 0;
	int ret;

	if ((uintptr_t)k % 16 || (uintptr_t)v % 16)
		return -EINVAL;
	ret = msa_cuda_sm_count(&sm);
	if (ret)
		return ret;
	kp.k = (const uint4 *)k;
	kp.v = (const uint4 *)v;
	kp.pool = (char *)pool->base;
	kp.block_bytes = pool->block_bytes;
	kp.seg_indptr = b->seg_indptr;
	kp.seg_seq = b->seg_seq;
	kp.seg_pos = b->seg_pos;
	kp.table_indptr = b->table_indptr;
	kp.block_ids = b->block_ids;
	kp.num_segs = b->num_segs;
	kp.num_kv_heads = lay->num_kv_heads;
	kp.chunks_per_row = lay->head_dim * esz / 16;
	kp.block_tokens_log2 = ilog2u(lay->block_tokens);
	kp.k_off_bytes = ac_kv_elem_offset(lay, layer, 0, 0, 0) * esz;
	kp.v_off_bytes = ac_kv_elem_offset(lay, layer, 1, 0, 0) * esz;
	kp.head_stride_bytes = (uint64_t)lay->block_tokens * lay->head_dim * esz;
	kp.total_chunks = (uint64_t)p->total_q * lay->num_kv_heads *
			  kp.chunks_per_row;
	return msa_cuda_errno(msa::launch_kv_write(kp, sm, (cudaStream_t)stream));
}

int msa_cuda_sm_count(uint32_t *ret_count)
{
	int dev, n;
	cudaError_t err;

	err = cudaGetDevice(&dev);
	if (err == cudaSuccess)
		err = cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount,
					     dev);
	if (err != cudaSuccess)
		return msa_cuda_errno(err);
	*ret_count = (uint32_t)n;
	return 0;
}
