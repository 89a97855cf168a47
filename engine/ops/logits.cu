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
__device__ __forceinline__ best merge(best a, best b)
{
	if (b.i < 0)
		return a;
	if (a.i < 0 || b.v > a.v || (b.v == a.v && b.i < a.i))
		return b;
	return a;
}

struct lse {
	float m;	/* running maximum, -inf before any finite value */
	float s;	/* sum of exp(x - m) */
};

__device__ __forceinline__ lse merge(lse a, lse b)
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

/* Both partials are 8 bytes: they cross lanes as one 64-bit word. */
template <typename T>
__device__ __forceinline__ T shfl_xor(T x, int lane_mask)
{
	unsigned long long u;

	static_assert(sizeof(T) == sizeof(u), "a partial is 8 bytes");
	memcpy(&u, &x, sizeof(u));
	u = __shfl_xor_sync(0xffffffffu, u, lane_mask);
	memcpy(&x, &u, sizeof(u));
	return x;
}

/*
 * Every thread's partial merged over the block: across each warp by
 * shuffles, then the warps' results by thread 0, which alone holds the
 * block's.  blockDim.x must be a multiple of 32.
 */
template <typename T>
__device__ __forceinline__ T block_merge(T x)
{
	__shared__ T red[32];
	unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;

#pragma unroll
	for (int o = 16; o > 0; o >>= 1)
		x = merge(x, shfl_xor(x, o));
	if (lane == 0)
		red[warp] = x;
	__syncthreads();
	if (threadIdx.x == 0)
		for (unsigned w = 1; w < blockDim.x / 32; w++)
			x = merge(x, red[w]);
	return x;
}

__global__ void argmax_kernel(int32_t *tokens, const bf16 *logits,
			      uint32_t vocab)
{
	const bf16 *l = logits + static_cast<size_t>(blockIdx.x) * vocab;
	best b = { -CUDART_INF_F, -1 };

	for (uint32_t i = threadIdx.x; i < vocab; i += blockDim.x) {
		float v = __bfloat162float(l[i]);

		/* Indices only grow here, so strictly greater keeps the first. */
		if (!isnan(v) && (b.i < 0 || v > b.v)) {
			b.v = v;
			b.i = static_cast<int32_t>(i);
		}
	}
	b = block_merge(b);
	if (threadIdx.x == 0)
		tokens[blockIdx.x] = b.i;
}

__global__ void log_softmax_kernel(float *out, const bf16 *logits,
				   uint32_t vocab)
{
	__shared__ float row_shift[2];
	const bf16 *l = logits + static_cast<size_t>(blockIdx.x) * vocab;
	float *o = out + static_cast<size_t>(blockIdx.x) * vocab;
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
	a = block_merge(a);
	if (threadIdx.x == 0) {
		row_shift[0] = a.m;
		row_shift[1] = logf(a.s);
	}
	__syncthreads();
	for (uint32_t i = threadIdx.x; i < vocab; i += blockDim.x)
		o[i] = (__bfloat162float(l[i]) - row_shift[0]) - row_shift[1];
}

/* One block a row; both ops check and launch alike. */
template <typename Out>
static int logits_launch(void (*kernel)(Out *, const bf16 *, uint32_t),
			 Out *out, const uint16_t *logits, uint32_t n_rows,
			 uint32_t vocab, void *stream)
{
	if (!vocab || vocab > INT32_MAX || n_rows > INT32_MAX)
		return -EINVAL;
	if (!n_rows)
		return 0;
	if (!out || !logits)
		return -EINVAL;
	return ops_launch(kernel, n_rows, ops_round_warp(vocab, LOGITS_THREADS),
			  0, stream, out, ops_bf16(logits), vocab);
}

extern "C" int ac_op_argmax_cuda(int32_t *tokens, const uint16_t *logits,
				 uint32_t n_rows, uint32_t vocab, void *stream)
{
	return logits_launch(argmax_kernel, tokens, logits, n_rows, vocab,
			     stream);
}

extern "C" int ac_op_log_softmax_cuda(float *out, const uint16_t *logits,
				      uint32_t n_rows, uint32_t vocab,
				      void *stream)
{
	return logits_launch(log_softmax_kernel, out, logits, n_rows, vocab,
			     stream);
}
