/* SPDX-License-Identifier: MIT */
/* Embedding lookup on the GPU: one block copies one token's row. */
#include "cuda_common.cuh"

template <bool VEC>
__global__ void embedding_kernel(bf16 *out, const int32_t *ids,
				 const bf16 *table, uint32_t vocab,
				 uint32_t dim)
{
	int32_t id = ids[blockIdx.x];
	bool ok = id >= 0 && static_cast<uint32_t>(id) < vocab;
	bf16 *o = out + static_cast<size_t>(blockIdx.x) * dim;
	const bf16 *src = table + (ok ? static_cast<size_t>(id) * dim : 0);

	if (VEC) {
		const uint4 *s4 = reinterpret_cast<const uint4 *>(src);
		uint4 *o4 = reinterpret_cast<uint4 *>(o);

		for (uint32_t v = threadIdx.x; v < dim / 8; v += blockDim.x)
			o4[v] = ok ? s4[v] : make_uint4(0, 0, 0, 0);
	} else {
		for (uint32_t i = threadIdx.x; i < dim; i += blockDim.x)
			o[i] = ok ? src[i] : __float2bfloat16(0.0f);
	}
}

extern "C" int ac_op_embedding_cuda(uint16_t *out, const int32_t *ids,
				    uint32_t n_tokens, const uint16_t *table,
				    uint32_t vocab, uint32_t dim, void *stream)
{
	bool vec = dim % 8 == 0 && ops_aligned16(out) && ops_aligned16(table);

	if (!n_tokens)
		return 0;
	if (!out || !ids || !table || !dim || !vocab || n_tokens > INT32_MAX)
		return -EINVAL;
	return ops_launch(vec ? embedding_kernel<true> : embedding_kernel<false>,
			  n_tokens, ops_round_warp(vec ? dim / 8 : dim, 256), 0,
			  stream, ops_bf16(out), ids, ops_bf16(table), vocab,
			  dim);
}
