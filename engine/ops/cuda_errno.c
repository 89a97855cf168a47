/* SPDX-License-Identifier: MIT */
/* The one place a CUDA runtime status becomes an errno. */
#include <errno.h>

#include <cuda_runtime_api.h>

#include "ops.h"

int ac_op_cuda_errno(int cuda_error)
{
	switch ((cudaError_t)cuda_error) {
	case cudaSuccess:
		return 0;
	case cudaErrorMemoryAllocation:
		return -ENOMEM;
	case cudaErrorInvalidValue:
	case cudaErrorInvalidConfiguration:
	case cudaErrorInvalidDevicePointer:
	case cudaErrorInvalidResourceHandle:
	case cudaErrorInvalidPitchValue:
		return -EINVAL;
	case cudaErrorNoDevice:
	case cudaErrorInsufficientDriver:
	case cudaErrorInvalidDevice:
		return -ENODEV;
	case cudaErrorNoKernelImageForDevice:
	case cudaErrorUnsupportedPtxVersion:
		return -ENOEXEC;
	default:
		return -EIO;
	}
}
