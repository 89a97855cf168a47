/* SPDX-License-Identifier: MIT */
/*
 * Multi-Segment Attention prefill for Hopper (sm_90a): warpgroup MMA fed
 * by the bulk tensor copy engine, warp-specialised.
 *
 * A thread block takes one work item (msa_internal.h), like the mma.sync
 * kernel.  Warpgroup 0 is the producer: one thread issues the copies of Q
 * and of every K and V tile (128 or 64 keys), one box per (pool block,
 * 64-column half), into a ring of two or three stages, each completing on
 * an mbarrier with a byte count.  The consumer
 * warpgroups (two for 128-row tiles, one for 64-row mid tiles) each own
 * 64 rows: S = QK^T with both operands in shared memory, the online softmax
 * on S in registers, then O += PV with P straight from the registers (the
 * accumulator layout of S is the register A layout of the second product).
 * A stage goes back to the producer once every consumer has finished
 * with it.
 *
 * The copies write the 128-byte-swizzled layout wgmma reads, so no thread
 * touches K or V except to zero the rows past the key range in the last
 * tile (they may hold anything, and 0 * NaN would poison the output).
 */
#ifndef AC_KERNELS_MSA_HOPPER_CUH
#define AC_KERNELS_MSA_HOPPER_CUH

#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include <type_traits>

#include "msa_attn.cuh"	/* mma_type<T>::pack */
#include "msa_internal.h"
#include "wgmma.cuh"

struct msa_hopper_params {
	CUtensorMap tm_q;	/* [total_q][Hq][D], box 64 x G x 128/G */
	CUtensorMap tm_kv;	/* [block][row in block][D], box 64 x T x 1 */
	void *out;
	const int32_t *table_indptr;
	const int32_t *block_ids;
	const struct msa_work *work;
	float *part_o;
	float *part_lse;
	uint32_t num_q_heads;
	uint32_t group;
	uint32_t block_tokens_log2;
	uint32_t k_row;		/* row in a block of (layer, K, head 0, token 0) */
	uint32_t v_row;
	float scale_log2;
};

namespace msa {
namespace hopper {

/*
 * NC consumer warpgroups of 64 rows each: big tiles take two (128 rows,
 * one block per SM), mid tiles one (64 rows, 64-key tiles, two blocks per
 * SM).  Plus the producer warpgroup.
 */
template <int NC> struct shape {
	static constexpr int BM = 64 * NC;
	static constexpr int THREADS = 128 * (NC + 1);
};

template <int D, int BM, int BN, int ST> struct layout {
	static constexpr uint32_t q_bytes = BM * D * 2;
	static constexpr uint32_t kv_bytes = BN * D * 2;
	static constexpr uint32_t bar_off = q_bytes + 2 * ST * kv_bytes;
	/* + 1024: the dynamic window is aligned up to a swizzle atom. */
	static constexpr uint32_t smem = bar_off + (1 + 3 * ST) * 8 + 1024;
};

#ifdef MSA_SM90A
/* The two products for element type T: fp16 or else bf16. */
template <typename T> struct ops {
	static constexpr bool f16 = std::is_same<T, __half>::value;

	template <int N>
	static __device__ __forceinline__ void qk(float *d, uint64_t a, uint64_t b, int acc)
	{
		if (f16 && N == 128)
			wgmma_ss_m64n128k16_f16(d, a, b, acc);
		else if (f16)
			wgmma_ss_m64n64k16_f16(d, a, b, acc);
		else if (N == 128)
			wgmma_ss_m64n128k16_bf16(d, a, b, acc);
		else
			wgmma_ss_m64n64k16_bf16(d, a, b, acc);
	}
	template <int D>
	static __device__ __forceinline__ void pv(float *d, const uint32_t a[4], uint64_t b)
	{
		if (f16 && D == 128)
			wgmma_rs_m64n128k16_f16_tb(d, a, b);
		else if (f16)
			wgmma_rs_m64n64k16_f16_tb(d, a, b);
		else if (D == 128)
			wgmma_rs_m64n128k16_bf16_tb(d, a, b);
		else
			wgmma_rs_m64n64k16_bf16_tb(d, a, b);
	}
	static __device__ __forceinline__ uint32_t pack(float lo, float hi)
	{
		return mma_type<T>::pack(lo, hi);
	}
};
#endif

/*
 * Customisation points of the kernel, as static members of its last
 * template argument; the library uses these.  exp2() takes the
 * probabilities: one MUFU.EX2 without the denormal fix-up exp2f() wraps
 * around it (three more instructions per element), so probabilities under
 * 2^-126 of the row maximum flush to 0.  The turn hooks let the consumer
 * warpgroups of the overlapped loop take turns at the tensor cores; here
 * they do nothing, each warpgroup issues when it is ready.
 */
struct hooks {
	static __device__ __forceinline__ float exp2(float x)
	{
#ifdef MSA_SM90A
		float y;

		asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
		return y;
#else
		return exp2f(x);
#endif
	}
	/* Once, before the first turn of consumer warpgroup @cwg. */
	static __device__ __forceinline__ void turns_start(int cwg) {}
	/* Around the products a turn issues. */
	static __device__ __forceinline__ void turn_begin(int cwg) {}
	static __device__ __forceinline__ void turn_end(int cwg) {}
	/* In place of turn_end() after the last turn. */
	static __device__ __forceinline__ void turn_last_end(int cwg) {}
};

/*
 * NC consumer warpgroups, BN-key tiles in an ST-stage ring; OVERLAP runs
 * the softmax of one key tile while PV of the previous one is on the
 * tensor cores, else S, softmax and PV follow one another.
 */
template <typename T, int D, int NC, int BN, int ST, bool OVERLAP, typename H = hooks>
__global__ void __launch_bounds__(shape<NC>::THREADS, NC == 2 ? 1 : 2)
msa_hopper_kernel(const __grid_constant__ msa_hopper_params p)
{
#ifdef MSA_SM90A
	constexpr int BM = shape<NC>::BM, NCT = 128 * NC;	/* consumer threads */
	typedef layout<D, BM, BN, ST> L;
	constexpr int CB = D / 64;	/* 64-column halves (swizzle atoms) */
	extern __shared__ unsigned char smem_raw[];
	unsigned char *base = reinterpret_cast<unsigned char *>(
		((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
	T *sq = reinterpret_cast<T *>(base);
	T *sk = reinterpret_cast<T *>(base + L::q_bytes);
	T *sv = reinterpret_cast<T *>(base + L::q_bytes + ST * L::kv_bytes);
	uint64_t *full_q = reinterpret_cast<uint64_t *>(base + L::bar_off);
	uint64_t *full_k = full_q + 1, *full_v = full_k + ST, *empty = full_v + ST;

	const msa_work w = p.work[blockIdx.x];
	const int tid = threadIdx.x;
	const int G = (int)p.group;
	const int n_tiles = (w.kv_end - w.kv_begin + BN - 1) / BN;

	if (tid == 0) {
		mbar_init(full_q, 1);
#pragma unroll
		for (int s = 0; s < ST; s++) {
			mbar_init(&full_k[s], 1);
			mbar_init(&full_v[s], 1);
			mbar_init(&empty[s], NCT);
		}
		mbar_fence_init();
	}
	__syncthreads();

	if (tid < 128) {
		/* The producer needs few registers; the consumers get them. */
		setmaxnreg_dec<24>();
		if (tid != 0)
			return;
		const int tlog2 = (int)p.block_tokens_log2, T_ = 1 << tlog2;
		const int32_t *tbl = p.block_ids + p.table_indptr[w.seq];
		const int nblk = p.table_indptr[w.seq + 1] - p.table_indptr[w.seq];
		const int krow = (int)p.k_row + w.kv_head * T_;
		const int vrow = (int)p.v_row + w.kv_head * T_;

		tma_prefetch_desc(&p.tm_q);
		tma_prefetch_desc(&p.tm_kv);
		/*
		 * A Q box is G heads by BM / G tokens: BM rows, or the few
		 * fewer a group that does not divide BM fills (3: 126 of 128),
		 * whose last rows then hold stale shared memory; they are
		 * computed like any row past the item and never written.
		 */
		mbar_expect_tx(full_q, (uint32_t)(BM / G * G) * D * 2);
#pragma unroll
		for (int cb = 0; cb < CB; cb++)
			tma_load_3d(sq + cb * BM * 64, &p.tm_q, cb * 64,
				    w.kv_head * G, w.q_row0, full_q);
		/*
		 * Blocks past the table (the tail of the last tile) repeat its
		 * last block: every box is issued, so the byte count stays
		 * constant; the rows are masked.
		 */
		auto load_tile = [&](T *dst, int row, int n0, uint64_t *bar) {
			mbar_expect_tx(bar, L::kv_bytes);
			for (int b = 0; b < BN; b += T_) {
				int bi = (n0 + b) >> tlog2;
				int blk = tbl[bi < nblk ? bi : nblk - 1];
#pragma unroll
				for (int cb = 0; cb < CB; cb++)
					tma_load_3d(dst + cb * BN * 64 + b * 64, &p.tm_kv,
						    cb * 64, row, blk, bar);
			}
		};
		for (int it = 0; it < n_tiles; it++) {
			const int s = it % ST, n0 = w.kv_begin + it * BN;

			if (it >= ST)
				mbar_wait(&empty[s], (it / ST - 1) & 1);
			load_tile(sk + s * BN * D, krow, n0, &full_k[s]);
			load_tile(sv + s * BN * D, vrow, n0, &full_v[s]);
		}
		return;
	}

	/* All 64K registers: 24 for the producer, the rest to consumers. */
	setmaxnreg_inc<NC == 2 ? 240 : 232>();
	typedef ops<T> O;
	const int ct = tid - 128;		/* 0..NCT - 1 */
	const int cwg = ct >> 7, lane = tid & 31;
	const int rbase = cwg * 64 + ((ct >> 5) & 3) * 16 + (lane >> 2);
	const int rows = w.ntok * G;
	int qpos[2];

#pragma unroll
	for (int h = 0; h < 2; h++) {
		int r = rbase + h * 8;

		/* Rows past the item are computed on other tokens, not written. */
		qpos[h] = w.pos0 + (r < rows ? r : rows - 1) / G;
	}

	float o[D / 2];
	float m_run[2] = { -INFINITY, -INFINITY }, l_run[2] = { 0.f, 0.f };
#pragma unroll
	for (int i = 0; i < D / 2; i++)
		o[i] = 0.f;

	const uint32_t q_addr = smem_u32(sq) + cwg * 64 * 128;
	float sc[BN / 2];
	uint32_t pa[BN / 16][4];
	float corr[2];

	/* S = Q K^T of tile @it into sc, issued, not waited for. */
	auto issue_qk = [&](int it) {
		const uint32_t k_addr = smem_u32(sk + (it % ST) * BN * D);

		mbar_wait(&full_k[it % ST], (it / ST) & 1);
		wgmma_fence();
#pragma unroll
		for (int kk = 0; kk < D / 16; kk++) {
			const uint32_t off = (kk & 3) * 32;	/* 16 columns */

			O::template qk<BN>(sc, desc_sw128(q_addr + (kk >> 2) * BM * 128 + off, 16, 1024),
			      desc_sw128(k_addr + (kk >> 2) * BN * 128 + off, 16, 1024),
			      kk > 0);
		}
		wgmma_commit();
	};
	/*
	 * Online softmax of tile @it in place: sc becomes the unnormalised
	 * probabilities, corr the factor the output so far must take.
	 */
	auto softmax = [&](int it) {
		const int n0 = w.kv_begin + it * BN;
		const int lim = w.kv_end - n0;	/* keys of this tile in range */
		const bool need_mask = lim < BN || n0 + BN - 1 > w.pos0;

#pragma unroll
		for (int h = 0; h < 2; h++) {
			float mx = -INFINITY;
#pragma unroll
			for (int j = 0; j < BN / 8; j++) {
#pragma unroll
				for (int e = 0; e < 2; e++) {
					const int key = j * 8 + (lane & 3) * 2 + e;
					float v = sc[j * 4 + 2 * h + e];

					if (need_mask && (key >= lim || n0 + key > qpos[h]))
						v = -INFINITY;
					sc[j * 4 + 2 * h + e] = v;
					mx = fmaxf(mx, v);
				}
			}
			mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
			mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
			/* Scores stay raw; the max is kept in scaled log2 units. */
			const float m_new = fmaxf(m_run[h], mx * p.scale_log2);
			/* A row with no key yet must not produce inf - inf. */
			const float m_use = m_new == -INFINITY ? 0.f : m_new;
			float sum = 0.f;

			corr[h] = H::exp2(m_run[h] - m_use);
#pragma unroll
			for (int j = 0; j < BN / 8; j++) {
#pragma unroll
				for (int e = 0; e < 2; e++) {
					float pv = H::exp2(fmaf(sc[j * 4 + 2 * h + e],
							      p.scale_log2, -m_use));

					sc[j * 4 + 2 * h + e] = pv;
					sum += pv;
				}
			}
			l_run[h] = l_run[h] * corr[h] + sum;
			m_run[h] = m_new;
		}
	};
	auto rescale_and_pack = [&]() {
#pragma unroll
		for (int j = 0; j < D / 8; j++) {
			o[j * 4 + 0] *= corr[0];
			o[j * 4 + 1] *= corr[0];
			o[j * 4 + 2] *= corr[1];
			o[j * 4 + 3] *= corr[1];
		}
#pragma unroll
		for (int kk = 0; kk < BN / 16; kk++) {
			pa[kk][0] = O::pack(sc[8 * kk + 0], sc[8 * kk + 1]);
			pa[kk][1] = O::pack(sc[8 * kk + 2], sc[8 * kk + 3]);
			pa[kk][2] = O::pack(sc[8 * kk + 4], sc[8 * kk + 5]);
			pa[kk][3] = O::pack(sc[8 * kk + 6], sc[8 * kk + 7]);
		}
	};
	/*
	 * Waits for V of tile @it; in the last tile, the rows past the key
	 * range are zeroed by both consumer warpgroups together.
	 */
	auto wait_v = [&](int it) {
		const int s = it % ST, lim = w.kv_end - w.kv_begin - it * BN;

		mbar_wait(&full_v[s], (it / ST) & 1);
		if (lim < BN) {
			/*
			 * Whole 128-byte rows: the swizzle only permutes the
			 * 16-byte chunks inside a row.
			 */
			uint4 z = make_uint4(0, 0, 0, 0);
			unsigned char *vb = reinterpret_cast<unsigned char *>(sv + s * BN * D);

			for (int c = ct; c < (BN - lim) * CB * 8; c += NCT) {
				int r = lim + c / (CB * 8), rem = c % (CB * 8);

				*reinterpret_cast<uint4 *>(vb + (rem >> 3) * BN * 128 +
							   r * 128 + (rem & 7) * 16) = z;
			}
			fence_proxy_async();
			named_sync(1, NCT);
		}
	};
	/* O += P V of tile @it (V landed), issued, not waited for. */
	auto issue_pv = [&](int it) {
		const uint32_t v_addr = smem_u32(sv + (it % ST) * BN * D);

		wgmma_fence();
#pragma unroll
		for (int kk = 0; kk < BN / 16; kk++)
			O::template pv<D>(o, pa[kk],
					  desc_sw128(v_addr + kk * 16 * 128, BN * 128, 1024));
		wgmma_commit();
	};

	mbar_wait(full_q, 0);
	if (!OVERLAP) {
		for (int it = 0; it < n_tiles; it++) {
			issue_qk(it);
			wgmma_wait<0>();
			reg_fence(sc);
			softmax(it);
			rescale_and_pack();
			wait_v(it);
			issue_pv(it);
			wgmma_wait<0>();
			reg_fence(o);
			mbar_arrive(&empty[it % ST]);
		}
	} else {
		/*
		 * S of tile it + 1 is issued before PV of tile it, and waiting
		 * for one leaves the other in flight, so the softmax of it + 1
		 * runs while the tensor cores do PV of it.  o is only touched
		 * once PV has landed.  The last tile is peeled: a conditional
		 * issue inside the loop makes ptxas serialise the wgmma
		 * pipeline.
		 */
		H::turns_start(cwg);
		H::turn_begin(cwg);
		issue_qk(0);
		H::turn_end(cwg);
		wgmma_wait<0>();
		reg_fence(sc);
		softmax(0);
		rescale_and_pack();
		for (int it = 0; it + 1 < n_tiles; it++) {
			H::turn_begin(cwg);
			issue_qk(it + 1);
			wait_v(it);	/* never the last tile: no zeroing */
			issue_pv(it);
			H::turn_end(cwg);
			wgmma_wait<1>();
			reg_fence(sc);
			softmax(it + 1);
			wgmma_wait<0>();
			reg_fence(o);
			mbar_arrive(&empty[it % ST]);
			rescale_and_pack();
		}
		/* Zeroing syncs all consumer warpgroups: outside the turns. */
		wait_v(n_tiles - 1);
		H::turn_begin(cwg);
		issue_pv(n_tiles - 1);
		H::turn_last_end(cwg);
		wgmma_wait<0>();
		reg_fence(o);
		mbar_arrive(&empty[(n_tiles - 1) % ST]);
	}

	T *out = static_cast<T *>(p.out);
	const int Hq = (int)p.num_q_heads;
#pragma unroll
	for (int h = 0; h < 2; h++) {
		float l = l_run[h];

		l += __shfl_xor_sync(0xffffffffu, l, 1);
		l += __shfl_xor_sync(0xffffffffu, l, 2);
		const int r = rbase + h * 8;
		if (r >= rows)
			continue;
		const float inv = l > 0.f ? 1.f / l : 0.f;

		if (w.part_row < 0) {
			T *dst = out + ((size_t)(w.q_row0 + r / G) * Hq + w.kv_head * G + r % G) * D;
#pragma unroll
			for (int j = 0; j < D / 8; j++)
				*reinterpret_cast<uint32_t *>(dst + j * 8 + (lane & 3) * 2) =
					O::pack(o[j * 4 + 2 * h] * inv, o[j * 4 + 2 * h + 1] * inv);
		} else {
			float *dst = p.part_o + (size_t)(w.part_row + r) * D;
#pragma unroll
			for (int j = 0; j < D / 8; j++)
				*reinterpret_cast<float2 *>(dst + j * 8 + (lane & 3) * 2) =
					make_float2(o[j * 4 + 2 * h] * inv, o[j * 4 + 2 * h + 1] * inv);
			if ((lane & 3) == 0)
				p.part_lse[w.part_row + r] =
					l > 0.f ? m_run[h] + log2f(l) : -INFINITY;
		}
	}
#endif
}

template <typename T, int D, int NC, int BN, int ST, bool OVERLAP, typename H = hooks>
static cudaError_t launch(const msa_hopper_params &p, uint32_t n_work,
			  cudaStream_t stream)
{
	const int smem = (int)layout<D, shape<NC>::BM, BN, ST>::smem;
	cudaError_t err;

	if (!n_work)
		return cudaSuccess;
	err = cudaFuncSetAttribute(msa_hopper_kernel<T, D, NC, BN, ST, OVERLAP, H>,
				   cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
	if (err != cudaSuccess)
		return err;
	msa_hopper_kernel<T, D, NC, BN, ST, OVERLAP, H>
		<<<n_work, shape<NC>::THREADS, smem, stream>>>(p);
	return cudaGetLastError();
}

} /* namespace hopper */
} /* namespace msa */

#endif /* AC_KERNELS_MSA_HOPPER_CUH */
