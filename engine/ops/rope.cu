/* SPDX-License-Identifier: MIT */
/*
 * RoPE on the GPU: one block per token builds that token's cos/sin table
 * in shared memory once, then rotates every head of q and k with it,
 * eight pairs a thread in 16-byte loads where the rows allow (a prefill
 * moves q and k through this kernel once more than through the GEMMs).
 */
#include "cuda_common.cuh"

template <bool VEC>
__global__ void rope_kernel(bf16 *q, uint32_t ld_q, bf16 *k, uint32_t ld_k,
			    const int32_t *pos, uint32_t n_heads,
			    uint32_t n_kv_heads, uint32_t head_dim,
			    const float *inv_freq)
{
	extern __shared__ float cs[];	/* [half] cos, then [half] sin */
	uint32_t half = head_dim / 2;
	uint32_t pairs = (n_heads + n_kv_heads) * half;
	uint32_t step = VEC ? 8 : 1;
	size_t t = blockIdx.x;
	float p = static_cast<float>(pos[t]);

	for (uint32_t i = threadIdx.x; i < half; i += blockDim.x) {
		/* The angle is rounded to fp32 first, as transformers forms it. */
		float a = __fmul_rn(p, inv_freq[i]);

		sincosf(a, &cs[half + i], &cs[i]);
	}
	__syncthreads();

	for (uint32_t j = threadIdx.x * step; j < pairs; j += blockDim.x * step) {
		uint32_t h = j / half, i = j % half;
		bf16 *row = h < n_heads ?
			q + t * ld_q + static_cast<size_t>(h) * head_dim :
			k + t * ld_k + static_cast<size_t>(h - n_heads) * head_dim;

		if (VEC) {
			float x0[8], x1[8], y0[8], y1[8];

			ops_load8(row + i, x0);
			ops_load8(row + i + half, x1);
#pragma unroll
			for (int e = 0; e < 8; e++) {
				float c = cs[i + e], s = cs[half + i + e];

				y0[e] = x0[e] * c - x1[e] * s;
				y1[e] = x1[e] * c + x0[e] * s;
			}
			ops_store8(row + i, y0);
			ops_store8(row + i + half, y1);
			continue;
		}
		float x0 = __bfloat162float(row[i]);
		float x1 = __bfloat162float(row[i + half]);
		float c = cs[i], s = cs[half + i];

		row[i] = __float2bfloat16(x0 * c - x1 * s);
		row[i + half] = __float2bfloat16(x1 * c + x0 * s);
	}
}

extern "C" int ac_op_rope_cuda(uint16_t *q, uint32_t ld_q, uint16_t *k,
			       uint32_t ld_k, const int32_t *pos,
			       uint32_t n_tokens, uint32_t n_heads,
			       uint32_t n_kv_heads, uint32_t head_dim,
			       const float *inv_freq, void *stream)
{
	size_t pairs;

	if (!head_dim || head_dim % 2 || head_dim > AC_ROPE_HEAD_DIM_MAX ||
	    n_tokens > INT32_MAX)
		return -EINVAL;
	if (static_cast<size_t>(ld_q) < static_cast<size_t>(n_heads) * head_dim ||
	    static_cast<size_t>(ld_k) < static_cast<size_t>(n_kv_heads) * head_dim)
		return -EINVAL;
	pairs = (static_cast<size_t>(n_heads) + n_kv_heads) * (head_dim / 2);
	if (!n_tokens || !pairs)
		return 0;
	if (pairs > UINT32_MAX || !pos || !inv_freq || (n_heads && !q) ||
	    (n_kv_heads && !k))
		return -EINVAL;
	if (head_dim % 16 == 0 && ld_q % 8 == 0 && ld_k % 8 == 0 &&
	    (!n_heads || ops_aligned16(q)) && (!n_kv_heads || ops_aligned16(k)))
		return ops_launch(rope_kernel<true>, n_tokens,
				  ops_round_warp(pairs / 8, 1024),
				  head_dim * sizeof(float), stream, ops_bf16(q),
				  ld_q, ops_bf16(k), ld_k, pos, n_heads,
				  n_kv_heads, head_dim, inv_freq);
	return ops_launch(rope_kernel<false>, n_tokens, ops_round_warp(pairs, 1024),
			  head_dim * sizeof(float), stream, ops_bf16(q), ld_q,
			  ops_bf16(k), ld_k, pos, n_heads, n_kv_heads, head_dim,
			  inv_freq);
}
