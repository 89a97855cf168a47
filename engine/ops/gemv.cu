/* SPDX-License-Identifier: MIT */
/*
 * The linear layer for a few rows (decode): out[m][n] (+)= in[m][k] *
 * w[n][k]^T with m <= AC_GEMV_MAX_ROWS. Every weight byte is read once, so
 * the op is bound by memory bandwidth; a warp owns one output column at a
 * time and streams its weight row in 16-byte loads, while the few input
 * rows stay in shared memory. cuBLASLt's GEMMs split K for such shapes and
 * pay a reduction pass on top.
 */
#include "cuda_common.cuh"

#define GEMV_THREADS 256
#define GEMV_WARPS (GEMV_THREADS / 32)

template <int M>
__global__ void gemv_kernel(bf16 *out, const bf16 *in, const bf16 *w,
			    uint32_t n, uint32_t k, bool accumulate)
{
	extern __shared__ float xs[];	/* [M][k] */
	uint32_t lane = threadIdx.x & 31, warp = threadIdx.x >> 5;

	for (uint32_t i = threadIdx.x * 8; i < M * k; i += GEMV_THREADS * 8)
		ops_load8(in + i, xs + i);
	__syncthreads();

	for (uint32_t col = blockIdx.x * GEMV_WARPS + warp; col < n;
	     col += gridDim.x * GEMV_WARPS) {
		const bf16 *row = w + (size_t)col * k;
		float acc[M];

#pragma unroll
		for (int r = 0; r < M; r++)
			acc[r] = 0.f;
		for (uint32_t i = lane * 8; i < k; i += 32 * 8) {
			float wf[8];

			ops_load8(row + i, wf);
#pragma unroll
			for (int r = 0; r < M; r++) {
				const float *x = xs + r * k + i;
#pragma unroll
				for (int j = 0; j < 8; j++)
					acc[r] += wf[j] * x[j];
			}
		}
#pragma unroll
		for (int r = 0; r < M; r++) {
			float v = acc[r];

			for (int o = 16; o; o >>= 1)
				v += __shfl_xor_sync(0xffffffffu, v, o);
			if (lane == 0) {
				bf16 *dst = out + (size_t)r * n + col;

				if (accumulate)
					v += __bfloat162float(*dst);
				*dst = __float2bfloat16(v);
			}
		}
	}
}

template <int M>
static int launch(uint16_t *out, const uint16_t *in, const uint16_t *w,
		  uint32_t n, uint32_t k, bool accumulate, void *stream)
{
	size_t shmem = (size_t)M * k * sizeof(float);
	int dev = 0, sms = 132;

	if (shmem > 48 * 1024) {
		cudaError_t e = cudaFuncSetAttribute(
			gemv_kernel<M>, cudaFuncAttributeMaxDynamicSharedMemorySize,
			static_cast<int>(shmem));

		if (e != cudaSuccess)
			return ac_op_cuda_errno(static_cast<int>(e));
	}
	if (cudaGetDevice(&dev) == cudaSuccess)
		cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
	/* A few blocks an SM keep enough loads in flight to stream. */
	unsigned blocks = (n + GEMV_WARPS - 1) / GEMV_WARPS;
	unsigned cap = static_cast<unsigned>(sms) * 8;

	return ops_launch(gemv_kernel<M>, blocks < cap ? blocks : cap,
			  GEMV_THREADS, shmem, stream, ops_bf16(out),
			  ops_bf16(in), ops_bf16(w), n, k, accumulate);
}

extern "C" int ac_op_gemv_cuda(uint16_t *out, const uint16_t *in,
			       const uint16_t *w, uint32_t m, uint32_t n,
			       uint32_t k, bool accumulate, void *stream)
{
	if (!m || m > AC_GEMV_MAX_ROWS || !n || !k || k % 8 ||
	    (size_t)m * k * sizeof(float) > 200 * 1024)
		return -EINVAL;
	if (!out || !in || !w || !ops_aligned16(in) || !ops_aligned16(w))
		return -EINVAL;
	switch (m) {
	case 1: return launch<1>(out, in, w, n, k, accumulate, stream);
	case 2: return launch<2>(out, in, w, n, k, accumulate, stream);
	case 3: return launch<3>(out, in, w, n, k, accumulate, stream);
	case 4: return launch<4>(out, in, w, n, k, accumulate, stream);
	}
	return -EINVAL;
}
