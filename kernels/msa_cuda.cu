/* SPDX-License-Identifier: MIT */
/*
 * The CUDA backend's entry points: turn a plan and a call into kernel
 * parameters, pick the instantiation from the shape, launch on the
 * caller's stream, and map cudaError_t to -errno at the C boundary.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include <cudaTypedefs.h>
#include <cuda_runtime.h>

#include "kv_write.cuh"
#include "msa_attn.cuh"
#include "msa_hopper.cuh"
#include "msa_internal.h"

extern "C" int msa_cuda_errno(cudaError_t err);

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

	if (p->big_variant < 6)
		return false;
	if (lay->head_dim != 64 && lay->head_dim != 128)
		return false;
	if (lay->dtype != AC_DTYPE_BF16 && lay->dtype != AC_DTYPE_FP16)
		return false;
	/* Q boxes are G heads by 128 / G tokens; key tiles whole blocks. */
	if (128 % p->group || 64 % lay->block_tokens)
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
static cudaError_t run_typed(const struct ac_msa_plan *p, msa_attn_params a,
			     const msa_merge_params &mp,
			     const msa_hopper_params *hp,
			     const msa_hopper_params *hp_mid, cudaStream_t st)
{
	using namespace msa::hopper;
	const struct msa_work *big = a.work;
	cudaError_t err;

	switch (hp ? 100 + p->big_variant : p->big_variant) {
	case 106:
		err = launch<T, D, 2, 128, 2, MODE_PLAIN, false>(*hp, p->n_big, st);
		break;
	case 107:
		err = launch<T, D, 2, 128, 2, MODE_OVERLAP, false>(*hp, p->n_big, st);
		break;
	case 108:
		err = launch<T, D, 2, 128, 3, MODE_OVERLAP, false>(*hp, p->n_big, st);
		break;
	case 109:
		err = launch<T, D, 2, 128, 2, MODE_PLAIN, true>(*hp, p->n_big, st);
		break;
	case 110:
	case 112:
		err = launch<T, D, 2, 128, 3, MODE_OVERLAP, true>(*hp, p->n_big, st);
		break;
	case 111:
		err = launch<T, D, 2, 128, 3, MODE_PINGPONG, true>(*hp, p->n_big, st);
		break;
	case 1:
		err = msa::launch_attn<T, D, 4, 1, 64, 2>(a, st);
		break;
	case 3:
		err = msa::launch_attn<T, D, 4, 1, 64, 3>(a, st);
		break;
	case 4:
		err = msa::launch_attn<T, D, 4, 2, 32, 3>(a, st);
		break;
	case 5:
		err = msa::launch_attn<T, D, 8, 1, 64, 2>(a, st);
		break;
	default:
		err = msa::launch_attn<T, D, 4, 2, 64, 2>(a, st);
		break;
	}
	if (err != cudaSuccess)
		return err;
	/*
	 * Short segments beside 128-row tiles: 64-row tiles, of one wgmma
	 * warpgroup (two blocks per SM) or of variant 1.
	 */
	a.work = (const struct msa_work *)((const char *)big - p->off_big +
					   p->off_mid);
	a.n_work = p->n_mid;
	if (hp_mid)
		err = launch<T, D, 1, 64, 2, MODE_PLAIN, true>(*hp_mid, p->n_mid, st);
	else
		err = msa::launch_attn<T, D, 4, 1, 64, 2>(a, st);
	if (err != cudaSuccess)
		return err;
	a.work = (const struct msa_work *)((const char *)big - p->off_big +
					   p->off_small);
	a.n_work = p->n_small;
	switch (p->small_variant) {
	case 2:
		err = msa::launch_attn<T, D, 1, 1, 32, 3>(a, st);
		break;
	case 3:
		err = msa::launch_attn<T, D, 1, 1, 32, 2>(a, st);
		break;
	default:
		err = msa::launch_attn<T, D, 1, 1, 64, 2>(a, st);
		break;
	}
	if (err != cudaSuccess)
		return err;
	return msa::launch_merge<T>(mp, p->n_merge, st);
}

int msa_cuda_run(const struct ac_msa_plan *p, const struct ac_kv_pool *pool,
		 const struct ac_msa_batch *b, uint32_t layer, float scale,
		 const void *q, void *out, void *ws, void *stream)
{
	const struct ac_kv_layout *lay = &p->layout;
	cudaStream_t st = (cudaStream_t)stream;
	char *w = (char *)ws;
	msa_attn_params a = {};
	msa_merge_params mp = {};
	msa_hopper_params hp, hp_mid;
	bool hop = msa_cuda_use_hopper(p, pool, q);
	cudaError_t err;

	a.q = q;
	a.out = out;
	a.pool = (const char *)pool->base;
	a.block_bytes = pool->block_bytes;
	a.table_indptr = b->table_indptr;
	a.block_ids = b->block_ids;
	a.work = (const struct msa_work *)(w + p->off_big);
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

	/* Variant 12 takes the 64-row tiles onto wgmma too. */
	const bool hop_mid = hop && p->big_variant == 12 && p->n_mid;

	if (hop) {
		err = hopper_params(p, pool, layer, a, &hp);
		if (err == cudaSuccess && hop_mid) {
			/* Same pool map; only the Q box and the list differ. */
			hp_mid = hp;
			hp_mid.work = (const struct msa_work *)(w + p->off_mid);
			err = encode_q(p, q, 64, &hp_mid.tm_q);
		}
		if (err != cudaSuccess)
			return msa_cuda_errno(err);
	}
	const msa_hopper_params *h = hop ? &hp : NULL;
	const msa_hopper_params *hm = hop_mid ? &hp_mid : NULL;

	if (lay->dtype == AC_DTYPE_BF16 && lay->head_dim == 128)
		err = run_typed<__nv_bfloat16, 128>(p, a, mp, h, hm, st);
	else if (lay->dtype == AC_DTYPE_BF16 && lay->head_dim == 64)
		err = run_typed<__nv_bfloat16, 64>(p, a, mp, h, hm, st);
	else if (lay->dtype == AC_DTYPE_FP16 && lay->head_dim == 128)
		err = run_typed<__half, 128>(p, a, mp, h, hm, st);
	else if (lay->dtype == AC_DTYPE_FP16 && lay->head_dim == 64)
		err = run_typed<__half, 64>(p, a, mp, h, hm, st);
	else
		return -EOPNOTSUPP;
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
