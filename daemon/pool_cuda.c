/* SPDX-License-Identifier: MIT */
/*
 * CUDA backend: one cudaMalloc per pool, exported once with
 * cudaIpcGetMemHandle. Every client opens the same 64-byte handle with
 * cudaIpcOpenMemHandle; the allocation lives as long as the daemon.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "pool_backend.h"

_Static_assert(sizeof(cudaIpcMemHandle_t) == POOL_IPC_HANDLE_MAX,
	       "cudaIpcMemHandle_t is 64 bytes in protocol v1");

static int cuda_errno(cudaError_t e)
{
	switch (e) {
	case cudaSuccess:
		return 0;
	case cudaErrorMemoryAllocation:
		return -ENOMEM;
	case cudaErrorNoDevice:
	case cudaErrorInsufficientDriver:
		return -ENODEV;
	case cudaErrorInvalidDevice:
		return -ENXIO;
	case cudaErrorInvalidValue:
		return -EINVAL;
	default:
		return -EIO;
	}
}

static int cuda_probe(void)
{
	int n = 0;

	if (cudaGetDeviceCount(&n) != cudaSuccess)
		return 0;
	return n > 0;
}

static int cuda_create(struct pool *p)
{
	struct cudaDeviceProp prop;
	cudaIpcMemHandle_t h;
	cudaError_t e;
	void *ptr = NULL;
	int n = 0;

	e = cudaGetDeviceCount(&n);
	if (e != cudaSuccess)
		return cuda_errno(e);
	if (p->device < 0 || p->device >= n)
		return -ENXIO;
	e = cudaSetDevice(p->device);
	if (e == cudaSuccess)
		e = cudaGetDeviceProperties(&prop, p->device);
	if (e != cudaSuccess)
		return cuda_errno(e);
	/* As asymcache-calibrate names it in a cost file. */
	snprintf(p->device_name, sizeof(p->device_name), "%s", prop.name);
	e = cudaMalloc(&ptr, p->bytes);
	if (e != cudaSuccess)
		return cuda_errno(e);
	/* Zeroed so a block never read back shows another run's bytes. */
	e = cudaMemset(ptr, 0, p->bytes);
	if (e == cudaSuccess)
		e = cudaDeviceSynchronize();
	if (e == cudaSuccess)
		e = cudaIpcGetMemHandle(&h, ptr);
	if (e != cudaSuccess) {
		cudaFree(ptr);
		return cuda_errno(e);
	}
	p->dev_ptr = ptr;
	memcpy(p->handle, &h, sizeof(h));
	p->handle_len = sizeof(h);
	p->fd = -1;
	return 0;
}

static int cuda_export(struct pool *p, int *ret_fd, uint8_t *handle,
		       size_t *ret_handle_len)
{
	*ret_fd = -1;
	memcpy(handle, p->handle, p->handle_len);
	*ret_handle_len = p->handle_len;
	return 0;
}

static void cuda_destroy(struct pool *p)
{
	if (p->dev_ptr) {
		cudaSetDevice(p->device);
		cudaFree(p->dev_ptr);
	}
	p->dev_ptr = NULL;
}

const struct pool_ops pool_cuda_ops = {
	.name = "cuda",
	.probe = cuda_probe,
	.create = cuda_create,
	.export_handle = cuda_export,
	.destroy = cuda_destroy,
};
