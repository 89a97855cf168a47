/* SPDX-License-Identifier: MIT */
/*
 * The variant selection of msa_variants.h: each work list of a plan runs on
 * the library's kernel (msa_cuda_launch()) where the variant is the
 * library's, on a configuration from variants/ otherwise.
 */
#include <errno.h>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "msa_cuda_launch.cuh"
#include "msa_variants.h"
#include "variants/hopper.cuh"
#include "variants/mma_sync.cuh"

int msa_variant_tuning(uint32_t big, struct msa_tuning *tune)
{
	if (big < 1 || big > MSA_BENCH_BIG_VARIANTS)
		return -EINVAL;
	tune->big_rows = big == 1 || big == 3 ? MSA_MID_ROWS : MSA_BIG_ROWS;
	tune->force_mma = big <= 5;
	return 0;
}

/* Whether variant @big or @small is compiled here rather than shipped. */
static bool outside_library(uint32_t big, uint32_t small)
{
	return (big >= 3 && big <= 9) || big == 11 || small != 3;
}

static cudaError_t run_big(uint32_t big, const msa_launch &l, cudaStream_t st)
{
	msa_attn_params a = l.a;
	msa_hopper_params hp = l.hp;

	switch (big) {
	case 1:		/* a 64-row plan: the big list holds 64-row tiles */
		return msa_cuda_launch(&l, MSA_MMA_MID, l.big, l.n_big, st);
	case 2:
		return msa_cuda_launch(&l, MSA_MMA_BIG, l.big, l.n_big, st);
	case 3:
	case 4:
	case 5:
		a.work = l.big;
		a.n_work = l.n_big;
		return msa_bench::mma_big<__nv_bfloat16, 128>(big, a, st);
	case 10:
	case 12:
		return msa_cuda_launch(&l, l.hopper ? MSA_WGMMA_BIG : MSA_MMA_BIG,
				       l.big, l.n_big, st);
	}
	/* 6-9 and 11, which run variant 2 where wgmma cannot. */
	if (!l.hopper)
		return msa_cuda_launch(&l, MSA_MMA_BIG, l.big, l.n_big, st);
	if (!l.n_big)
		return cudaSuccess;
	hp.work = l.big;
	return msa_bench::wgmma_big<__nv_bfloat16, 128>(big, hp, l.n_big, st);
}

int msa_variant_run(uint32_t big, uint32_t small,
		    const struct ac_msa_plan *plan,
		    const struct ac_kv_pool *pool,
		    const struct ac_msa_batch *batch, uint32_t layer,
		    float scale, const void *q, void *out, void *workspace,
		    size_t workspace_size, void *stream)
{
	cudaStream_t st = (cudaStream_t)stream;
	struct msa_tuning want = msa_tuning_default;
	struct msa_launch l;
	cudaError_t err;

	if (!plan || !pool || !batch || !q || !out || plan->ops != &msa_cuda_ops)
		return -EINVAL;
	if (small < 1 || small > MSA_BENCH_SMALL_VARIANTS ||
	    msa_variant_tuning(big, &want))
		return -EINVAL;
	/* The plan's tile rows must be those of the variant's kernels. */
	if (plan->big_rows != want.big_rows ||
	    (want.force_mma && !plan->force_mma))
		return -EINVAL;
	if (workspace_size < plan->ws_size || (plan->ws_size && !workspace))
		return -EINVAL;
	if (outside_library(big, small) &&
	    (plan->layout.dtype != AC_DTYPE_BF16 || plan->layout.head_dim != 128))
		return -EOPNOTSUPP;
	if (!plan->total_q)
		return 0;

	err = msa_cuda_prepare(plan, pool, batch, layer, scale, q, out,
			       workspace, &l);
	if (err == cudaSuccess)
		err = run_big(big, l, st);
	if (err == cudaSuccess)
		err = msa_cuda_launch(&l, big == 12 && l.hopper ? MSA_WGMMA_MID :
								  MSA_MMA_MID,
				      l.mid, l.n_mid, st);
	if (err == cudaSuccess && small == 3) {
		err = msa_cuda_launch(&l, MSA_MMA_SMALL, l.small, l.n_small, st);
	} else if (err == cudaSuccess && l.n_small) {
		msa_attn_params a = l.a;

		a.work = l.small;
		a.n_work = l.n_small;
		err = msa_bench::mma_small<__nv_bfloat16, 128>(small, a, st);
	}
	if (err == cudaSuccess)
		err = msa_cuda_merge(&l, st);
	return msa_cuda_errno(err);
}
