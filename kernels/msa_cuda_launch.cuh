/* SPDX-License-Identifier: MIT */
/*
 * What one ac_msa_run() call launches on the CUDA backend: the parameters of
 * every kernel, prepared once from the plan and the call, and the kernels
 * the library ships, one work list per launch.  C++ only; msa_cuda.cu
 * defines these, and the benchmark (bench/msa) runs its own kernels on the
 * same prepared parameters.
 */
#ifndef AC_KERNELS_MSA_CUDA_LAUNCH_CUH
#define AC_KERNELS_MSA_CUDA_LAUNCH_CUH

#include <cuda_runtime.h>

#include "msa_attn.cuh"
#include "msa_hopper.cuh"
#include "msa_internal.h"

struct msa_launch {
	msa_attn_params a;	/* for the mma.sync kernels; a.work is per launch */
	msa_merge_params mp;
	/* Tensor maps with 128-row and 64-row Q boxes: set when hopper. */
	msa_hopper_params hp;
	msa_hopper_params hp_mid;	/* also needs n_mid */
	const struct msa_work *big, *mid, *small;	/* lists in the workspace */
	uint32_t n_big, n_mid, n_small, n_merge;
	bool hopper;		/* msa_cuda_use_hopper() */
	enum ac_dtype dtype;
	uint32_t head_dim;
};

/* The attention kernels in the library; a work list runs on one of them. */
enum msa_kernel {
	MSA_WGMMA_BIG,	/* wgmma: 128 rows, 128-key tiles, 3 stages, overlapped */
	MSA_WGMMA_MID,	/* wgmma: 64 rows, 64-key tiles, 2 stages */
	MSA_MMA_BIG,	/* mma.sync: 4 warps x 32 rows, 64-key tiles, 2 stages */
	MSA_MMA_MID,	/* mma.sync: 4 warps x 16 rows, 64-key tiles, 2 stages */
	MSA_MMA_SMALL,	/* mma.sync: 1 warp x 16 rows, 32-key tiles, 2 stages */
};

/* cudaError_t as a negative errno, as the C API returns it. */
extern "C" int msa_cuda_errno(cudaError_t err);

/* Fills @l for one ac_msa_run() call; encodes the tensor maps if hopper. */
cudaError_t msa_cuda_prepare(const struct ac_msa_plan *p,
			     const struct ac_kv_pool *pool,
			     const struct ac_msa_batch *b, uint32_t layer,
			     float scale, const void *q, void *out, void *ws,
			     struct msa_launch *l);

/*
 * Kernel @k over the @n items at @work (device memory), which must fit its
 * rows: a big list on a big kernel, a mid or 64-row list on a mid kernel or
 * a big one, a small list on any.  The wgmma kernels need l->hopper.
 */
cudaError_t msa_cuda_launch(const struct msa_launch *l, enum msa_kernel k,
			    const struct msa_work *work, uint32_t n,
			    cudaStream_t st);

/* The merge of the split items, after every attention launch. */
cudaError_t msa_cuda_merge(const struct msa_launch *l, cudaStream_t st);

#endif /* AC_KERNELS_MSA_CUDA_LAUNCH_CUH */
