/* SPDX-License-Identifier: MIT */
/*
 * Research configurations of the wgmma kernel (kernels/msa_hopper.cuh)
 * that the library does not ship, kept for msa_bench to compare.  The
 * kernel takes its exp2 and its turn-taking from the hooks type it is
 * instantiated with; these hooks differ from the library's
 * (msa::hopper::hooks) as follows:
 *
 *   exp2f_hooks: exp2f() for the probabilities, which keeps denormal
 *     probabilities instead of flushing them (variants 6-8);
 *   pingpong_hooks: the two consumer warpgroups take turns issuing their
 *     pair of products (named barriers 2 and 3; the kernel itself uses
 *     barrier 1), so the tensor cores see the two back to back while the
 *     other warpgroup runs its softmax (variant 11).  Warpgroup 1 lets 0
 *     go first; every turn ends by handing over, except the last one of
 *     warpgroup 1, which nobody would wait for.
 */
#ifndef AC_BENCH_MSA_VARIANTS_HOPPER_CUH
#define AC_BENCH_MSA_VARIANTS_HOPPER_CUH

#include "msa_hopper.cuh"

namespace msa_bench {

struct exp2f_hooks : msa::hopper::hooks {
	static __device__ __forceinline__ float exp2(float x)
	{
		return exp2f(x);
	}
};

struct pingpong_hooks : msa::hopper::hooks {
	static __device__ __forceinline__ void turns_start(int cwg)
	{
#ifdef MSA_SM90A
		if (cwg == 1)
			msa::hopper::named_arrive(2, 256);
#endif
	}
	static __device__ __forceinline__ void turn_begin(int cwg)
	{
#ifdef MSA_SM90A
		msa::hopper::named_sync(2 + cwg, 256);
#endif
	}
	static __device__ __forceinline__ void turn_end(int cwg)
	{
#ifdef MSA_SM90A
		msa::hopper::named_arrive(3 - cwg, 256);
#endif
	}
	static __device__ __forceinline__ void turn_last_end(int cwg)
	{
#ifdef MSA_SM90A
		if (cwg == 0)
			msa::hopper::named_arrive(3, 256);
#endif
	}
};

/*
 * Big-tile variants 6-9 and 11 on the big work list (128 rows, two
 * consumer warpgroups); cudaErrorInvalidValue for any
 * other.
 *   6: 128-key tiles, 2 stages, S / softmax / PV in turn, exp2f
 *   7: 6 with the softmax of one key tile overlapping PV of the previous
 *   8: 7 with a three-stage ring (225 KB of shared memory at D = 128)
 *   9: 6 with the library's one-instruction exp2
 *  11: the library's big kernel (8 with that exp2) plus ping-pong turns
 * Variant 10 is the library's MSA_WGMMA_BIG itself.
 */
template <typename T, int D>
static cudaError_t wgmma_big(uint32_t v, const msa_hopper_params &hp,
			     uint32_t n, cudaStream_t st)
{
	using msa::hopper::hooks;
	using msa::hopper::launch;

	switch (v) {
	case 6:
		return launch<T, D, 2, 128, 2, false, exp2f_hooks>(hp, n, st);
	case 7:
		return launch<T, D, 2, 128, 2, true, exp2f_hooks>(hp, n, st);
	case 8:
		return launch<T, D, 2, 128, 3, true, exp2f_hooks>(hp, n, st);
	case 9:
		return launch<T, D, 2, 128, 2, false, hooks>(hp, n, st);
	case 11:
		return launch<T, D, 2, 128, 3, true, pingpong_hooks>(hp, n, st);
	}
	return cudaErrorInvalidValue;
}

} /* namespace msa_bench */

#endif /* AC_BENCH_MSA_VARIANTS_HOPPER_CUH */
