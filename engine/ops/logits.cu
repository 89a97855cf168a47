/* SPDX-License-Identifier: MIT */
/*
 * Row-wise argmax and log-softmax of bf16 logits: one block per row, each
 * thread scanning a strided slice, then a warp-shuffle and shared-memory
 * merge.  The log-softmax keeps an online (max, sum) pair per thread so
 * the row is read twice, not three times.
 */
#include <math_constants.h>

#include "cuda_common.cuh"

#define LOGITS_THREADS 1024

/* (value, index); index -1 means "nothing yet" (or only NaNs). */
struct best {
	float v;
	int32_t i;
};

/* Larger value wins; equal values go to the lower index. */
__device__ __forceinline__ best best_merge(best a, best b)
{
	if (b.i < 0)
		return a;
	if (a.i < 0 || b.v > a.v || (b.v == a.v && b.i < a.i))
		return b;
	return a;
}

__global__ void argmax_kernel(int32_t *tokens, const bf16 *logits,
			      uint32_t vocab)
{
	__shared__ best red[32];
	const bf16 *l = logits + static_cast<size_t>(blockIdx.x) * vocab;
	unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
	best b = { -CUDART_INF_F, -1 };

	for (uint32_t i = threadIdx.x; i < vocab; i += blockDim.x) {
		float v = __bfloat162float(l[i]);

		/* Indices only grow here, so strictly greater keeps the first. */
		if (!isnan(v) && (b.i < 0 || v > b.v)) {
			b.v = v;
			b.i = static_cast<int32_t>(i);
		}
	}
#pragma unroll
	for (int o = 16; o > 0; o >>= 1) {
		best other;

		other.v = __shfl_xor_sync(0xffffffffu, b.v, o);
		other.i = __shfl_xor_sync(0xffffffffu, b.i, o);
		b = best_merge(b, other);
	}
	if (lane == 0)
		red[warp] = b;
	__syncthreads();
	if (threadIdx.x == 0) {
		for (unsigned w = 1; w < blockDim.x / 32; w++)
			b = best_merge(b, red[w]);
		tokens[blockIdx.x] = b.i;
	}
}

struct lse {
	float m;	/* running maximum, -inf before any finite value */
	float s;	/* sum of exp(x - m) */
};

__device__ __forceinline__ lse lse_merge(lse a, lse b)
{
	float m = fmaxf(a.m, b.m);
	lse r;

	if (m == -CUDART_INF_F) {
		r.m = m;
		r.s = 0.0f;
		return r;
	}
	r.m = m;
	r.s = a.s * expf(a.m - m) + b.s * expf(b.m - m);
	return r;
}

__global__ void log_softmax_kernel(float *out, const bf16 *logits,
				   uint32_t vocab)
{
	__shared__ lse red[32];
	__shared__ float row_shift[2];
	const bf16 *l = logits + static_cast<size_t>(blockIdx.x) * vocab;
	float *o = out + static_cast<size_t>(blockIdx.x) * vocab;
	unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
	lse a = { -CUDART_INF_F, 0.0f };

	for (uint32_t i = threadIdx.x; i < vocab; i += blockDim.x) {
		float v = __bfloat162float(l[i]);

		if (v > a.m) {
			a.s = a.s * expf(a.m - v) + 1.0f;
			a.m = v;
		} else if (v != -CUDART_INF_F) {
			/* A NaN lands here and poisons the sum, as it should. */
			a.s += expf(v - a.m);
		}
	}
#pragma unroll
	for (int off = 16; off > 0; off >>= 1) {
		lse other;

		other.m = __shfl_xor_sync(0xffffffffu, a.m, off);
		other.s = __shfl_xor_sync(0xffffffffu, a.s, off);
		a = lse_merge(a, other);
	}
	if (lane == 0)
		red[warp] = a;
	__syncthreads();
	if (threadIdx.x == 0) {
		for (unsigned w = 1; w < blockDim.x / 32; w++)
			a = lse_merge(a, red[w]);
		row_shift[0] = a.m;
		row_shift[1] = logf(a.s);
	}
	__syncthreads();
	for (uint32_t i = threadIdx.x; i < vocab; i += blockDim.x)
		o[i] = (__bfloat162float(l[i]) - row_shift[0]) - row_shift[1];
}

static int logits_check(const void *out, const uint16_t *logits,
			uint32_t n_rows, uint32_t vocab)
{
	if (!vocab || vocab > INT32_MAX || n_rows > INT32_MAX)
		return -EINVAL;
	if (n_rows && (!out || !logits))
		return -EINVAL;
	return 0;
}

extern "C" int ac_op_argmax_cuda(int32_t *tokens, const uint16_t *logits,
				 uint32_t n_rows, uint32_t vocab, void *stream)
{
	int ret = logits_check(tokens, logits, n_rows, vocab);

	if (ret || !n_rows)
		return ret;
	argmax_kernel<<<n_rows, ops_round_warp(vocab, LOGITS_THREADS), 0,
			ops_stream(stream)>>>(
		tokens, reinterpret_cast<const bf16 *>(logits), vocab);
	return ops_launched();
}

extern "C" int ac_op_log_softmax_cuda(float *out, const uint16_t *logits,
				      uint32_t n_rows, uint32_t vocab,
				      void *stream)
{
	int ret = logits_check(out, logits, n_rows, vocab);

	if (ret || !n_rows)
		return ret;
	log_softmax_kernel<<<n_rows, ops_round_warp(vocab, LOGITS_THREADS), 0,
			     ops_stream(stream)>>>(
		out, reinterpret_cast<const bf16 *>(logits), vocab);
	return ops_launched();
}
