/* SPDX-License-Identifier: MIT */
/*
 * What the op kernels share: bf16 views of the uint16_t tensors, 8-wide
 * loads and stores, block reductions, and the launch with its error check.
 */
#ifndef AC_ENGINE_OPS_CUDA_COMMON_CUH
#define AC_ENGINE_OPS_CUDA_COMMON_CUH

#include <errno.h>
#include <stdint.h>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "ops.h"

typedef __nv_bfloat16 bf16;

static inline cudaStream_t ops_stream(void *stream)
{
	return static_cast<cudaStream_t>(stream);
}

static inline bool ops_aligned16(const void *p)
{
	return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

static inline unsigned ops_round_warp(size_t n, unsigned max_threads)
{
	size_t t = (n + 31) / 32 * 32;

	if (t < 32)
		t = 32;
	return t > max_threads ? max_threads : static_cast<unsigned>(t);
}

/* Blocks for a grid-stride loop over n items: enough to fill the device. */
static inline unsigned ops_grid(size_t n, unsigned threads)
{
	size_t b = (n + threads - 1) / threads;

	if (b < 1)
		b = 1;
	return b > 65536 ? 65536u : static_cast<unsigned>(b);
}

/* The launchers' uint16_t tensors are bf16 bits. */
static inline bf16 *ops_bf16(uint16_t *p)
{
	return reinterpret_cast<bf16 *>(p);
}

static inline const bf16 *ops_bf16(const uint16_t *p)
{
	return reinterpret_cast<const bf16 *>(p);
}

/*
 * Enqueues @kernel on the caller's stream and reports the launch.  Launch
 * failures (bad configuration, no image for this GPU) are reported by
 * cudaGetLastError, which also clears them for the next caller.
 */
template <typename... Params, typename... Args>
static inline int ops_launch(void (*kernel)(Params...), unsigned blocks,
			     unsigned threads, size_t shmem, void *stream,
			     Args... args)
{
	kernel<<<blocks, threads, shmem, ops_stream(stream)>>>(args...);
	return ac_op_cuda_errno(static_cast<int>(cudaGetLastError()));
}

__device__ __forceinline__ void ops_load8(const bf16 *p, float f[8])
{
	uint4 u = *reinterpret_cast<const uint4 *>(p);
	const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&u);

#pragma unroll
	for (int i = 0; i < 4; i++) {
		float2 v = __bfloat1622float2(h[i]);

		f[2 * i] = v.x;
		f[2 * i + 1] = v.y;
	}
}

__device__ __forceinline__ void ops_store8(bf16 *p, const float f[8])
{
	uint4 u;
	__nv_bfloat162 *h = reinterpret_cast<__nv_bfloat162 *>(&u);

#pragma unroll
	for (int i = 0; i < 4; i++)
		h[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
	*reinterpret_cast<uint4 *>(p) = u;
}

__device__ __forceinline__ float ops_warp_sum(float v)
{
#pragma unroll
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

/*
 * Sum over the block, returned to every thread.  blockDim.x must be a
 * multiple of 32.  The leading barrier lets a kernel call it twice.
 */
__device__ __forceinline__ float ops_block_sum(float v)
{
	__shared__ float red[32];
	unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
	unsigned nwarps = blockDim.x >> 5;

	__syncthreads();
	v = ops_warp_sum(v);
	if (lane == 0)
		red[warp] = v;
	__syncthreads();
	if (warp == 0) {
		v = lane < nwarps ? red[lane] : 0.0f;
		v = ops_warp_sum(v);
		if (lane == 0)
			red[0] = v;
	}
	__syncthreads();
	return red[0];
}

#endif /* AC_ENGINE_OPS_CUDA_COMMON_CUH */
