/* SPDX-License-Identifier: MIT */
/*
 * RoPE on the GPU: one block per token builds that token's cos/sin table
 * in shared memory once, then rotates every head of q and k with it.
 */
#include "cuda_common.cuh"

__global__ void rope_kernel(bf16 *q, uint32_t ld_q, bf16 *k, uint32_t ld_k,
			    const int32_t *pos, uint32_t n_heads,
			    uint32_t n_kv_heads, uint32_t head_dim,
			    const float *inv_freq)
{
	extern __shared__ float cs[];	/* [half] cos, then [half] sin */
	uint32_t half = head_dim / 2;
	uint32_t pairs = (n_heads + n_kv_heads) * half;
	size_t t = blockIdx.x;
	float p = static_cast<float>(pos[t]);

	for (uint32_t i = threadIdx.x; i < half; i += blockDim.x) {
		/* The angle is rounded to fp32 first, as transformers forms it. */
		float a = __fmul_rn(p, inv_freq[i]);

		sincosf(a, &cs[half + i], &cs[i]);
	}
	__syncthreads();

	for (uint32_t j = threadIdx.x; j < pairs; j += blockDim.x) {
		uint32_t h = j / half, i = j % half;
		bf16 *row = h < n_heads ?
			q + t * ld_q + static_cast<size_t>(h) * head_dim :
			k + t * ld_k + static_cast<size_t>(h - n_heads) * head_dim;
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
	return ops_launch(rope_kernel, n_tokens, ops_round_warp(pairs, 1024),
			  head_dim * sizeof(float), stream, ops_bf16(q), ld_q,
			  ops_bf16(k), ld_k, pos, n_heads, n_kv_heads, head_dim,
			  inv_freq);
}
