/* SPDX-License-Identifier: MIT */
/*
 * Multi-Segment Attention over the paged pool: tensor-core (mma.sync
 * m16n8k16) flash attention with online softmax, fp32 accumulation.
 *
 * A thread block takes one work item (msa_internal.h): up to BM rows that
 * pack the G query heads of one kv head over consecutive tokens of one
 * segment, and walks its key range in tiles of BN keys that cp.async copies
 * from the pool blocks into a double-buffered, XOR-swizzled shared-memory
 * ring.  Each warp owns 16 * MT rows.  Scores stay in registers: the
 * accumulator fragment of S = QK^T is re-packed as the A operand of O += PV
 * without a trip through shared memory.
 */
#ifndef AC_KERNELS_MSA_ATTN_CUH
#define AC_KERNELS_MSA_ATTN_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "msa_internal.h"

struct msa_attn_params {
	const void *q;
	void *out;
	const char *pool;
	uint64_t block_bytes;
	const int32_t *table_indptr;
	const int32_t *block_ids;
	const struct msa_work *work;
	float *part_o;
	float *part_lse;
	uint32_t n_work;
	uint32_t num_q_heads;
	uint32_t group;
	uint32_t block_tokens_log2;
	uint64_t k_off;		/* element of (layer, K, head 0, token 0) */
	uint64_t v_off;
	uint32_t head_stride;	/* T * D */
	float scale_log2;	/* scale * log2(e): exp2 is one instruction */
};

struct msa_merge_params {
	void *out;
	const struct msa_merge *merge;
	const float *part_o;
	const float *part_lse;
	uint32_t num_q_heads;
	uint32_t group;
	uint32_t head_dim;
	uint32_t max_rows;	/* of any merge item: sizes the grid */
};

namespace msa {

template <typename T> struct mma_type;
template <> struct mma_type<__nv_bfloat16> {
	static __device__ __forceinline__ uint32_t pack(float lo, float hi)
	{
		__nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
		return *reinterpret_cast<uint32_t *>(&v);
	}
	static __device__ __forceinline__ void
	mma(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
	{
		asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
			     "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
			     "{%0,%1,%2,%3};\n"
			     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
			     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]),
			       "r"(b0), "r"(b1));
	}
};
template <> struct mma_type<__half> {
	static __device__ __forceinline__ uint32_t pack(float lo, float hi)
	{
		__half2 v = __floats2half2_rn(lo, hi);
		return *reinterpret_cast<uint32_t *>(&v);
	}
	static __device__ __forceinline__ void
	mma(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
	{
		asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
			     "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
			     "{%0,%1,%2,%3};\n"
			     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
			     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]),
			       "r"(b0), "r"(b1));
	}
};

static __device__ __forceinline__ void cp_async16(void *smem, const void *gmem,
						  bool valid)
{
	uint32_t s = (uint32_t)__cvta_generic_to_shared(smem);
	/* src-size 0 zero-fills: rows past the context read nothing. */
	asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s),
		     "l"(gmem), "r"(valid ? 16 : 0));
}

static __device__ __forceinline__ void cp_async_commit(void)
{
	asm volatile("cp.async.commit_group;\n" ::);
}

template <int N> static __device__ __forceinline__ void cp_async_wait(void)
{
	asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

static __device__ __forceinline__ void ldsm_x4(uint32_t r[4], const void *p)
{
	uint32_t s = (uint32_t)__cvta_generic_to_shared(p);

	asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
		     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
		     : "r"(s));
}

static __device__ __forceinline__ void ldsm_x4_t(uint32_t r[4], const void *p)
{
	uint32_t s = (uint32_t)__cvta_generic_to_shared(p);

	asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
		     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
		     : "r"(s));
}

/*
 * Shared-memory index of (row, 16-byte chunk): the chunk is XORed with the
 * row's low three bits so that the eight row addresses of one ldmatrix land
 * in eight different bank groups.
 */
template <int D>
static __device__ __forceinline__ int swz(int row, int chunk)
{
	return row * D + ((chunk ^ (row & 7)) << 3);
}

template <typename T, int D, int NW, int MT, int BN, int STAGES>
__global__ void __launch_bounds__(NW * 32)
msa_attn_kernel(const __grid_constant__ msa_attn_params p)
{
	constexpr int BM = 16 * MT * NW;
	static_assert(MSA_KV_TILE % BN == 0, "splits must align to key tiles");
	static_assert(STAGES >= 2, "double buffering at least");
	constexpr int NT = NW * 32;
	constexpr int CPR = D / 8;	/* 16-byte chunks per row */
	typedef mma_type<T> M;

	extern __shared__ __align__(128) unsigned char smem_raw[];
	T *sq = reinterpret_cast<T *>(smem_raw);
	T *sk = sq + BM * D;		/* [STAGES][BN][D] */
	T *sv = sk + STAGES * BN * D;	/* [STAGES][BN][D] */

	const msa_work w = p.work[blockIdx.x];
	const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
	const int G = (int)p.group;
	const int rows = w.ntok * G;
	const int Hq = (int)p.num_q_heads;
	const int tmask = (1 << p.block_tokens_log2) - 1;
	const int32_t *tbl = p.block_ids + p.table_indptr[w.seq];
	const T *q = static_cast<const T *>(p.q);

	/* Q tile: row r is token r / G, query head kv_head * G + r % G. */
	for (int c = tid; c < BM * CPR; c += NT) {
		int r = c / CPR, ch = c % CPR;
		bool ok = r < rows;
		const T *src = q;

		if (ok)
			src = q + ((size_t)(w.q_row0 + r / G) * Hq +
				   w.kv_head * G + r % G) * D + ch * 8;
		cp_async16(sq + swz<D>(r, ch), src, ok);
	}

	const int n_tiles = (w.kv_end - w.kv_begin + BN - 1) / BN;
	/*
	 * Each thread copies the same 16-byte column of rows r0, r0 + RSTEP, ...
	 * of every key tile, so everything but the block lookup is hoisted out
	 * of the loop: per chunk one table load, one wide multiply, two copies.
	 */
	static_assert((BN * CPR) % NT == 0 && NT % CPR == 0, "even copy split");
	constexpr int RSTEP = NT / CPR;
	const int ch = tid % CPR, r0 = tid / CPR;
	const char *kbase = p.pool + (p.k_off + (uint64_t)w.kv_head * p.head_stride +
				      ch * 8) * sizeof(T);
	const uint64_t vdelta = (p.v_off - p.k_off) * sizeof(T);
	const int tlog2 = (int)p.block_tokens_log2;
	auto load_kv = [&](int it, int buf) {
		const int n0 = w.kv_begin + it * BN;
		const int lim = w.kv_end - n0;	/* rows past it are zero-filled */
		T *ks = sk + buf * BN * D, *vs = sv + buf * BN * D;

#pragma unroll
		for (int i = 0; i < BN / RSTEP; i++) {
			const int r = r0 + i * RSTEP, t = n0 + r;
			const bool ok = r < lim;
			const char *src = p.pool;

			if (ok)
				src = kbase + (uint64_t)(uint32_t)tbl[t >> tlog2] * p.block_bytes +
				      (uint32_t)((t & tmask) * D) * sizeof(T);
			cp_async16(ks + swz<D>(r, ch), src, ok);
			cp_async16(vs + swz<D>(r, ch), ok ? src + vdelta : src, ok);
		}
	};
	/*
	 * STAGES - 1 tiles in flight before the first use; every iteration
	 * commits one group, empty near the end, so wait_group counts stay
	 * uniform.  Group 0 also carries Q.
	 */
#pragma unroll
	for (int st = 0; st < STAGES - 1; st++) {
		if (st < n_tiles)
			load_kv(st, st);
		cp_async_commit();
	}

	/* Each thread holds rows lane/4 and lane/4 + 8 of each 16-row m-tile. */
	const int row_base = warp * 16 * MT;
	int qpos[MT][2];
#pragma unroll
	for (int mt = 0; mt < MT; mt++) {
#pragma unroll
		for (int h = 0; h < 2; h++) {
			int r = row_base + mt * 16 + (lane >> 2) + h * 8;
			/* Padding rows copy the last real row: finite, unused. */
			if (r >= rows)
				r = rows - 1;
			qpos[mt][h] = w.pos0 + r / G;
		}
	}

	float o[MT][D / 8][4];
	float m_run[MT][2], l_run[MT][2];
#pragma unroll
	for (int mt = 0; mt < MT; mt++) {
#pragma unroll
		for (int j = 0; j < D / 8; j++)
			o[mt][j][0] = o[mt][j][1] = o[mt][j][2] = o[mt][j][3] = 0.f;
		m_run[mt][0] = m_run[mt][1] = -INFINITY;
		l_run[mt][0] = l_run[mt][1] = 0.f;
	}
	/* MT == 1 keeps Q in registers; MT == 2 would spill, so re-reads. */
	uint32_t qf[MT == 1 ? D / 16 : 1][4];

	for (int it = 0; it < n_tiles; it++) {
		const int buf = it % STAGES;
		const int n0 = w.kv_begin + it * BN;

		/* The buffer refilled here was consumed last iteration. */
		if (it + STAGES - 1 < n_tiles)
			load_kv(it + STAGES - 1, (it + STAGES - 1) % STAGES);
		cp_async_commit();
		cp_async_wait<STAGES - 1>();
		__syncthreads();

		if (MT == 1 && it == 0) {
#pragma unroll
			for (int kk = 0; kk < D / 16; kk++)
				ldsm_x4(qf[MT == 1 ? kk : 0],
					sq + swz<D>(row_base + (lane & 15),
						    kk * 2 + (lane >> 4)));
		}

		const T *kb = sk + buf * BN * D;
		const T *vb = sv + buf * BN * D;
		float s[MT][BN / 8][4];
#pragma unroll
		for (int mt = 0; mt < MT; mt++)
#pragma unroll
			for (int j = 0; j < BN / 8; j++)
				s[mt][j][0] = s[mt][j][1] = s[mt][j][2] =
					s[mt][j][3] = 0.f;

#pragma unroll
		for (int kk = 0; kk < D / 16; kk++) {
			uint32_t a[MT][4];
#pragma unroll
			for (int mt = 0; mt < MT; mt++) {
				if (MT == 1) {
#pragma unroll
					for (int i = 0; i < 4; i++)
						a[mt][i] = qf[MT == 1 ? kk : 0][i];
				} else {
					ldsm_x4(a[mt],
						sq + swz<D>(row_base + mt * 16 + (lane & 15),
							    kk * 2 + (lane >> 4)));
				}
			}
#pragma unroll
			for (int jp = 0; jp < BN / 16; jp++) {
				uint32_t b[4];

				ldsm_x4(b, kb + swz<D>(jp * 16 + ((lane >> 4) << 3) + (lane & 7),
						       kk * 2 + ((lane >> 3) & 1)));
#pragma unroll
				for (int mt = 0; mt < MT; mt++) {
					M::mma(s[mt][2 * jp], a[mt], b[0], b[1]);
					M::mma(s[mt][2 * jp + 1], a[mt], b[2], b[3]);
				}
			}
		}

		/* Mask only the tiles that reach past a row's position or the range. */
		const bool need_mask = n0 + BN > w.kv_end || n0 + BN - 1 > w.pos0;
#pragma unroll
		for (int mt = 0; mt < MT; mt++) {
#pragma unroll
			for (int h = 0; h < 2; h++) {
				float mx = -INFINITY;
#pragma unroll
				for (int j = 0; j < BN / 8; j++) {
#pragma unroll
					for (int e = 0; e < 2; e++) {
						int key = n0 + j * 8 + (lane & 3) * 2 + e;
						float v = s[mt][j][2 * h + e] * p.scale_log2;

						if (need_mask && (key > qpos[mt][h] || key >= w.kv_end))
							v = -INFINITY;
						s[mt][j][2 * h + e] = v;
						mx = fmaxf(mx, v);
					}
				}
				mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
				mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
				float m_new = fmaxf(m_run[mt][h], mx);
				/* A row with no key yet must not produce inf - inf. */
				float m_use = m_new == -INFINITY ? 0.f : m_new;
				float corr = exp2f(m_run[mt][h] - m_use);
				float sum = 0.f;

#pragma unroll
				for (int j = 0; j < BN / 8; j++) {
#pragma unroll
					for (int e = 0; e < 2; e++) {
						float pv = exp2f(s[mt][j][2 * h + e] - m_use);

						s[mt][j][2 * h + e] = pv;
						sum += pv;
					}
				}
				l_run[mt][h] = l_run[mt][h] * corr + sum;
				m_run[mt][h] = m_new;
#pragma unroll
				for (int j = 0; j < D / 8; j++) {
					o[mt][j][2 * h] *= corr;
					o[mt][j][2 * h + 1] *= corr;
				}
			}
		}

#pragma unroll
		for (int kk = 0; kk < BN / 16; kk++) {
			uint32_t pa[MT][4];
#pragma unroll
			for (int mt = 0; mt < MT; mt++) {
				pa[mt][0] = M::pack(s[mt][2 * kk][0], s[mt][2 * kk][1]);
				pa[mt][1] = M::pack(s[mt][2 * kk][2], s[mt][2 * kk][3]);
				pa[mt][2] = M::pack(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
				pa[mt][3] = M::pack(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
			}
#pragma unroll
			for (int jd = 0; jd < D / 16; jd++) {
				uint32_t b[4];

				ldsm_x4_t(b, vb + swz<D>(kk * 16 + (lane & 15),
							 jd * 2 + (lane >> 4)));
#pragma unroll
				for (int mt = 0; mt < MT; mt++) {
					M::mma(o[mt][2 * jd], pa[mt], b[0], b[1]);
					M::mma(o[mt][2 * jd + 1], pa[mt], b[2], b[3]);
				}
			}
		}
		__syncthreads();
	}

	T *out = static_cast<T *>(p.out);
#pragma unroll
	for (int mt = 0; mt < MT; mt++) {
#pragma unroll
		for (int h = 0; h < 2; h++) {
			float l = l_run[mt][h];

			l += __shfl_xor_sync(0xffffffffu, l, 1);
			l += __shfl_xor_sync(0xffffffffu, l, 2);
			int r = row_base + mt * 16 + (lane >> 2) + h * 8;
			if (r >= rows)
				continue;
			float inv = l > 0.f ? 1.f / l : 0.f;

			if (w.part_row < 0) {
				T *dst = out + ((size_t)(w.q_row0 + r / G) * Hq +
						w.kv_head * G + r % G) * D;
#pragma unroll
				for (int j = 0; j < D / 8; j++) {
					uint32_t v = M::pack(o[mt][j][2 * h] * inv,
							     o[mt][j][2 * h + 1] * inv);
					*reinterpret_cast<uint32_t *>(dst + j * 8 + (lane & 3) * 2) = v;
				}
			} else {
				float *dst = p.part_o + (size_t)(w.part_row + r) * D;
#pragma unroll
				for (int j = 0; j < D / 8; j++)
					*reinterpret_cast<float2 *>(dst + j * 8 + (lane & 3) * 2) =
						make_float2(o[mt][j][2 * h] * inv,
							    o[mt][j][2 * h + 1] * inv);
				if ((lane & 3) == 0)
					p.part_lse[w.part_row + r] =
						l > 0.f ? m_run[mt][h] + log2f(l) : -INFINITY;
			}
		}
	}
}


/*
 * Combines the splits of one tile: weights 2^(lse_i - max lse).  Block
 * (x, y) takes output pairs y * 16 .. of merge x, eight lanes a pair, so
 * that a few merges still spread over the whole GPU: one block looping
 * over a whole tile would wait on L2 latency for every row of it.
 */
#define MERGE_LANES	8	/* lanes to one output pair; divides 32 */

template <typename T>
__global__ void __launch_bounds__(128)
msa_merge_kernel(const __grid_constant__ msa_merge_params p)
{
	const msa_merge m = p.merge[blockIdx.x];
	const int G = (int)p.group, D = (int)p.head_dim;
	const int rows = m.ntok * G;
	/*
	 * Eight lanes to an output pair, each taking every eighth split: a
	 * decode's 33 splits are a few loads a lane, in flight together,
	 * where one thread walking them all waited on each (11 us a merge).
	 */
	const int i = blockIdx.y * (blockDim.x / MERGE_LANES) +
		      threadIdx.x / MERGE_LANES;
	const int sl = threadIdx.x % MERGE_LANES;
	const unsigned mask = 0xffu << (threadIdx.x & 24);
	T *out = static_cast<T *>(p.out);

	if (i >= rows * (D / 2))
		return;		/* whole groups of eight: the masks hold */
	const int r = i / (D / 2), d = (i % (D / 2)) * 2;
	float mx = -INFINITY, wsum = 0.f, a0 = 0.f, a1 = 0.f;

#pragma unroll 4
	for (int k = sl; k < m.nsplit; k += MERGE_LANES)
		mx = fmaxf(mx, p.part_lse[m.part_row0 + k * rows + r]);
#pragma unroll
	for (int o = 1; o < MERGE_LANES; o <<= 1)
		mx = fmaxf(mx, __shfl_xor_sync(mask, mx, o));
#pragma unroll 4
	for (int k = sl; k < m.nsplit; k += MERGE_LANES) {
		size_t pr = (size_t)m.part_row0 + k * rows + r;
		float wgt = exp2f(p.part_lse[pr] - mx);
		float2 v = *reinterpret_cast<const float2 *>(p.part_o + pr * D + d);

		wsum += wgt;
		a0 += wgt * v.x;
		a1 += wgt * v.y;
	}
#pragma unroll
	for (int o = 1; o < MERGE_LANES; o <<= 1) {
		wsum += __shfl_xor_sync(mask, wsum, o);
		a0 += __shfl_xor_sync(mask, a0, o);
		a1 += __shfl_xor_sync(mask, a1, o);
	}
	if (sl)
		return;
	T *dst = out + ((size_t)(m.q_row0 + r / G) * p.num_q_heads +
			m.kv_head * G + r % G) * D + d;
	*reinterpret_cast<uint32_t *>(dst) =
		mma_type<T>::pack(a0 / wsum, a1 / wsum);
}

template <typename T, int D, int NW, int MT, int BN, int STAGES>
static cudaError_t launch_attn(const msa_attn_params &p, cudaStream_t stream)
{
	size_t smem = (size_t)(16 * MT * NW + 2 * STAGES * BN) * D * sizeof(T);
	cudaError_t err;

	if (!p.n_work)
		return cudaSuccess;
	err = cudaFuncSetAttribute(msa_attn_kernel<T, D, NW, MT, BN, STAGES>,
				   cudaFuncAttributeMaxDynamicSharedMemorySize,
				   (int)smem);
	if (err != cudaSuccess)
		return err;
	msa_attn_kernel<T, D, NW, MT, BN, STAGES>
		<<<p.n_work, NW * 32, smem, stream>>>(p);
	return cudaGetLastError();
}

template <typename T>
static cudaError_t launch_merge(const msa_merge_params &p, uint32_t n,
				cudaStream_t stream)
{
	if (!n)
		return cudaSuccess;
	/*
	 * A merge covers at most 128 rows, max_rows * D / 2 pairs, 16 a
	 * block: a decode's four rows take 16 blocks a merge.
	 */
	unsigned per = 128 / MERGE_LANES;
	unsigned y = (p.max_rows * (p.head_dim / 2) + per - 1) / per;

	msa_merge_kernel<T><<<dim3(n, y ? y : 1), 128, 0, stream>>>(p);
	return cudaGetLastError();
}

} /* namespace msa */

#endif /* AC_KERNELS_MSA_ATTN_CUH */
