/* SPDX-License-Identifier: MIT */
/* x += y on bf16, rounded once from the fp32 sum. */
#include "cuda_common.cuh"

__global__ void residual_kernel(bf16 *x, const bf16 *y, size_t n, bool vec)
{
	size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
	size_t tid = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
	size_t head = vec ? n / 8 : 0;

	for (size_t v = tid; v < head; v += stride) {
		float a[8], b[8];

		ops_load8(x + 8 * v, a);
		ops_load8(y + 8 * v, b);
#pragma unroll
		for (int j = 0; j < 8; j++)
			a[j] += b[j];
		ops_store8(x + 8 * v, a);
	}
	for (size_t i = head * 8 + tid; i < n; i += stride)
		x[i] = __float2bfloat16(__bfloat162float(x[i]) +
					__bfloat162float(y[i]));
}

extern "C" int ac_op_residual_cuda(uint16_t *x, const uint16_t *y, size_t n,
				   void *stream)
{
	bool vec = ops_aligned16(x) && ops_aligned16(y);

	if (!n)
		return 0;
	if (!x || !y)
		return -EINVAL;
	return ops_launch(residual_kernel, ops_grid(vec ? n / 8 + 1 : n, 256),
			  256, 0, stream, ops_bf16(x), ops_bf16(y), n, vec);
}
