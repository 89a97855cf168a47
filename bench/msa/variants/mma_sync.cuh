/* SPDX-License-Identifier: MIT */
/*
 * Research configurations of the mma.sync kernel (kernels/msa_attn.cuh,
 * templated on warps, 16-row m-tiles per warp, key tile and stages) that
 * the library does not ship, kept for msa_bench to compare.  The library's
 * own are MSA_MMA_BIG (variant 2), MSA_MMA_MID (variant 1, which also
 * serves the mid tiles of variants 2 and 4-11) and MSA_MMA_SMALL (small
 * variant 3).
 */
#ifndef AC_BENCH_MSA_VARIANTS_MMA_SYNC_CUH
#define AC_BENCH_MSA_VARIANTS_MMA_SYNC_CUH

#include "msa_attn.cuh"

namespace msa_bench {

/*
 * Big-tile variants 3-5; cudaErrorInvalidValue for
 * others.
 *   3: 64 rows (4 warps x 16), 64-key tiles, 3 stages
 *   4: 128 rows (4 warps x 32), 32-key tiles, 3 stages
 *   5: 128 rows (8 warps x 16), 64-key tiles, 2 stages
 */
template <typename T, int D>
static cudaError_t mma_big(uint32_t v, const msa_attn_params &a,
			   cudaStream_t st)
{
	switch (v) {
	case 3:
		return msa::launch_attn<T, D, 4, 1, 64, 3>(a, st);
	case 4:
		return msa::launch_attn<T, D, 4, 2, 32, 3>(a, st);
	case 5:
		return msa::launch_attn<T, D, 8, 1, 64, 2>(a, st);
	}
	return cudaErrorInvalidValue;
}

/*
 * Small-tile variants 1 and 2 (one warp, 16 rows); cudaErrorInvalidValue for
 * others.
 *   1: 64-key tiles, 2 stages
 *   2: 32-key tiles, 3 stages
 */
template <typename T, int D>
static cudaError_t mma_small(uint32_t v, const msa_attn_params &a,
			     cudaStream_t st)
{
	switch (v) {
	case 1:
		return msa::launch_attn<T, D, 1, 1, 64, 2>(a, st);
	case 2:
		return msa::launch_attn<T, D, 1, 1, 32, 3>(a, st);
	}
	return cudaErrorInvalidValue;
}

} /* namespace msa_bench */

#endif /* AC_BENCH_MSA_VARIANTS_MMA_SYNC_CUH */
