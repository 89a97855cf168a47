/* SPDX-License-Identifier: MIT */
/*
 * What a pool memory backend implements, and the backends there are.
 * Backends include only this; pool.h picks one and drives it.
 */
#ifndef AC_DAEMON_POOL_BACKEND_H
#define AC_DAEMON_POOL_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#define POOL_IPC_HANDLE_MAX 64

struct pool;

struct pool_ops {
	const char *name;		/* "host", "cuda": PoolInfo.backend */
	/* > 0 when usable on this machine, 0 when not, or -errno. */
	int (*probe)(void);
	/* Creates p->bytes of memory on p->device. */
	int (*create)(struct pool *p);
	/*
	 * What an Attach reply carries: an fd to pass with SCM_RIGHTS
	 * (or -1) and an opaque handle (or len 0). The fd stays owned by
	 * the pool.
	 */
	int (*export_handle)(struct pool *p, int *ret_fd, uint8_t *handle,
			     size_t *ret_handle_len);
	void (*destroy)(struct pool *p);
};

struct pool {
	const struct pool_ops *ops;
	uint64_t bytes;			/* nblocks * block_bytes */
	uint64_t block_bytes;
	uint32_t nblocks;
	int device;			/* CUDA ordinal; -1 on host */
	char device_name[256];		/* cuda: the GPU's name; "" on host */
	int fd;				/* host: the sealed memfd */
	void *dev_ptr;			/* cuda: the allocation */
	uint8_t handle[POOL_IPC_HANDLE_MAX];
	size_t handle_len;
};

extern const struct pool_ops pool_host_ops;
#if AC_HAVE_CUDA
extern const struct pool_ops pool_cuda_ops;
#endif

#endif /* AC_DAEMON_POOL_BACKEND_H */
