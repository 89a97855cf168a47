/* SPDX-License-Identifier: MIT */
/* silu(gate) * up on the GPU, eight elements a thread where aligned. */
#include "cuda_common.cuh"

__device__ __forceinline__ float silu_mul(float g, float u)
{
	return g / (1.0f + expf(-g)) * u;
}

template <bool VEC>
__global__ void swiglu_kernel(bf16 *out, const bf16 *gate, const bf16 *up,
			      uint32_t n_rows, uint32_t dim, uint32_t ld_in)
{
	uint32_t width = VEC ? dim / 8 : dim;
	size_t total = static_cast<size_t>(n_rows) * width;

	for (size_t v = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
	     v < total; v += static_cast<size_t>(gridDim.x) * blockDim.x) {
		size_t r = v / width, c = v % width;
		size_t in = r * ld_in, o = r * dim;

		if (VEC) {
			float g[8], u[8];

			ops_load8(gate + in + 8 * c, g);
			ops_load8(up + in + 8 * c, u);
#pragma unroll
			for (int j = 0; j < 8; j++)
				g[j] = silu_mul(g[j], u[j]);
			ops_store8(out + o + 8 * c, g);
		} else {
			out[o + c] = __float2bfloat16(
				silu_mul(__bfloat162float(gate[in + c]),
					 __bfloat162float(up[in + c])));
		}
	}
}

extern "C" int ac_op_swiglu_cuda(uint16_t *out, const uint16_t *gate,
				 const uint16_t *up, uint32_t n_rows,
				 uint32_t dim, uint32_t ld_in, void *stream)
{
	bool vec = dim % 8 == 0 && ld_in % 8 == 0 && ops_aligned16(out) &&
		   ops_aligned16(gate) && ops_aligned16(up);
	size_t items;

	if (!dim || ld_in < dim)
		return -EINVAL;
	if (!n_rows)
		return 0;
	if (!out || !gate || !up)
		return -EINVAL;
	items = static_cast<size_t>(n_rows) * (vec ? dim / 8 : dim);
	return ops_launch(vec ? swiglu_kernel<true> : swiglu_kernel<false>,
			  ops_grid(items, 256), 256, 0, stream, ops_bf16(out),
			  ops_bf16(gate), ops_bf16(up), n_rows, dim, ld_in);
}
