/* SPDX-License-Identifier: MIT */
/*
 * The CUDA backend's ops table.  It lives in C because C++17 has no
 * designated initializers; the functions are in msa_cuda.cu.
 */
#include <cuda_runtime_api.h>

#include "msa_internal.h"

const struct msa_backend_ops msa_cuda_ops = {
	.name = "cuda",
	.upload = msa_cuda_upload,
	.run = msa_cuda_run,
	.kv_write = msa_cuda_kv_write,
	.sm_count = msa_cuda_sm_count,
};
