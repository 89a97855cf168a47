/* SPDX-License-Identifier: MIT */
/*
 * The CUDA backend's ops table.  It lives in C because C++17 has no
 * designated initializers; the functions are in msa_cuda.cu.
 */
#include <cuda_runtime_api.h>

#include "msa_internal.h"

int msa_cuda_upload(const struct ac_msa_plan *p, void *ws, void *stream);
int msa_cuda_run(const struct ac_msa_plan *p, const struct ac_kv_pool *pool,
		 const struct ac_msa_batch *b, uint32_t layer, float scale,
		 const void *q, void *out, void *ws, void *stream);
int msa_cuda_kv_write(const struct ac_msa_plan *p,
		      const struct ac_kv_pool *pool,
		      const struct ac_msa_batch *b, uint32_t layer,
		      const void *k, const void *v, void *stream);
int msa_cuda_sm_count(uint32_t *ret_count);

const struct msa_backend_ops msa_cuda_ops = {
	.name = "cuda",
	.upload = msa_cuda_upload,
	.run = msa_cuda_run,
	.kv_write = msa_cuda_kv_write,
	.sm_count = msa_cuda_sm_count,
};
