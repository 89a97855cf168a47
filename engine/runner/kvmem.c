/* SPDX-License-Identifier: MIT */
/* A private pool's memory where the backend computes: host or device. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ac_config.h"
#include "kvsrc.h"

#if AC_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

int ac_kvmem_alloc(enum ac_fwd_backend backend, size_t bytes, void **ret)
{
	void *p = NULL;

	if (!bytes || !ret)
		return -EINVAL;
	if (backend == AC_FWD_CUDA) {
#if AC_HAVE_CUDA
		if (cudaMalloc(&p, bytes) != cudaSuccess) {
			cudaGetLastError();
			return -ENOMEM;
		}
		*ret = p;
		return 0;
#else
		return -EOPNOTSUPP;
#endif
	}
	/* Page-aligned, as the daemon's mapping is: the kernels assume it. */
	if (posix_memalign(&p, 4096, bytes))
		return -ENOMEM;
	memset(p, 0, bytes);
	*ret = p;
	return 0;
}

void ac_kvmem_free(enum ac_fwd_backend backend, void *p)
{
	if (!p)
		return;
#if AC_HAVE_CUDA
	if (backend == AC_FWD_CUDA) {
		cudaFree(p);
		return;
	}
#else
	(void)backend;
#endif
	free(p);
}
