/* SPDX-License-Identifier: MIT */
/*
 * RMSNorm on the GPU: one block per row, the sum of squares reduced in
 * fp32, the row read twice (the second time from L1/L2) rather than held.
 */
#include "cuda_common.cuh"

template <bool VEC>
__global__ void rmsnorm_kernel(bf16 *out, const bf16 *x, const bf16 *w,
			       uint32_t dim, float eps)
{
	const bf16 *xr = x + static_cast<size_t>(blockIdx.x) * dim;
	bf16 *o = out + static_cast<size_t>(blockIdx.x) * dim;
	float ss = 0.0f, inv;

	if (VEC) {
		for (uint32_t v = threadIdx.x; v < dim / 8; v += blockDim.x) {
			float f[8];

			ops_load8(xr + 8 * v, f);
#pragma unroll
			for (int j = 0; j < 8; j++)
				ss += f[j] * f[j];
		}
	} else {
		for (uint32_t i = threadIdx.x; i < dim; i += blockDim.x) {
			float f = __bfloat162float(xr[i]);

			ss += f * f;
		}
	}
	ss = ops_block_sum(ss);
	inv = rsqrtf(ss / static_cast<float>(dim) + eps);

	if (VEC) {
		for (uint32_t v = threadIdx.x; v < dim / 8; v += blockDim.x) {
			float f[8], g[8];

			ops_load8(xr + 8 * v, f);
			ops_load8(w + 8 * v, g);
#pragma unroll
			for (int j = 0; j < 8; j++)
				f[j] = f[j] * inv * g[j];
			ops_store8(o + 8 * v, f);
		}
	} else {
		for (uint32_t i = threadIdx.x; i < dim; i += blockDim.x)
			o[i] = __float2bfloat16(__bfloat162float(xr[i]) * inv *
						__bfloat162float(w[i]));
	}
}

extern "C" int ac_op_rmsnorm_cuda(uint16_t *out, const uint16_t *x,
				  const uint16_t *weight, uint32_t n_rows,
				  uint32_t dim, float eps, void *stream)
{
	bool vec = dim % 8 == 0 && ops_aligned16(out) && ops_aligned16(x) &&
		   ops_aligned16(weight);

	if (!dim || !(eps >= 0.0f) || n_rows > INT32_MAX)
		return -EINVAL;
	if (!n_rows)
		return 0;
	if (!out || !x || !weight)
		return -EINVAL;
	return ops_launch(vec ? rmsnorm_kernel<true> : rmsnorm_kernel<false>,
			  n_rows, ops_round_warp(vec ? dim / 8 : dim, 1024), 0,
			  stream, ops_bf16(out), ops_bf16(x), ops_bf16(weight),
			  dim, eps);
}
