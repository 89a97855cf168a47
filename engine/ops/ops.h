/* SPDX-License-Identifier: MIT */
/*
 * The engine's numeric ops: everything a Llama forward pass needs except
 * attention, which goes through the MSA kernels.  Each op has a CPU
 * version on fp32 data (the reference, and the CPU engine's path) and,
 * where CUDA is built, a launcher on bf16 device data with fp32
 * arithmetic inside.
 *
 * Conventions shared by every op:
 *  - tensors are row-major and densely packed unless a stride ("ld",
 *    in elements) is given; rows are tokens;
 *  - token ids and positions are int32_t, as the MSA batch arrays are;
 *  - functions return 0 or a negative errno and touch no global state;
 *  - CUDA launchers take device pointers and a cudaStream_t as void *
 *    (NULL: the legacy default stream), check their shapes on the host,
 *    enqueue, and report launch errors; they do not synchronise, so
 *    faults inside a kernel surface at the caller's next sync.
 *
 * Engine-internal: not installed, no ABI promise.
 */
#ifndef AC_ENGINE_OPS_H
#define AC_ENGINE_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <asymcache/elem.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest head_dim RoPE takes; 2 * this fits every Llama-family model. */
#define AC_ROPE_HEAD_DIM_MAX	512u

void ac_op_bf16_to_f32_cpu(float *dst, const uint16_t *src, size_t n);
void ac_op_f32_to_bf16_cpu(uint16_t *dst, const float *src, size_t n);

/*
 * out[t][:] = table[ids[t]][:]; out [n_tokens][dim], table [vocab][dim].
 * -ERANGE, with out untouched, if an id is outside 0..vocab-1.
 */
int ac_op_embedding_cpu(float *out, const int32_t *ids, uint32_t n_tokens,
			const float *table, uint32_t vocab, uint32_t dim);

/*
 * out[r][i] = x[r][i] / sqrt(mean_i(x[r][i]^2) + eps) * weight[i], over
 * [n_rows][dim]; out may be x.  The sum of squares is accumulated in
 * double.
 */
int ac_op_rmsnorm_cpu(float *out, const float *x, const float *weight,
		      uint32_t n_rows, uint32_t dim, float eps);

/*
 * RoPE frequencies, Hugging Face's rope_theta and rope_scaling.  With
 * llama3 false only theta is read.
 */
struct ac_rope_params {
	double theta;
	bool llama3;
	double factor;
	double low_freq_factor;
	double high_freq_factor;
	double original_max_position;	/* original_max_position_embeddings */
};

/*
 * inv_freq[i] = theta^(-2i/head_dim) for i < head_dim/2, then Llama 3's
 * wavelength-banded scaling (transformers' _compute_llama3_parameters):
 * long wavelengths divided by factor, short ones kept, the band between
 * blended linearly in original_max_position/wavelength.  Computed in
 * double, stored as float.  -EINVAL on an odd or oversize head_dim or
 * nonsensical parameters.
 */
int ac_rope_inv_freq(float *inv_freq, uint32_t head_dim,
		     const struct ac_rope_params *p);

/*
 * Rotate-half ("NeoX") RoPE in place, dimension i paired with i + D/2:
 *	x'[i]     = x[i] cos(a_i) - x[i + D/2] sin(a_i)
 *	x'[i+D/2] = x[i + D/2] cos(a_i) + x[i] sin(a_i)
 * with a_i = (float)pos[t] * inv_freq[i] rounded to fp32, as transformers
 * forms it.  q is [n_tokens] rows of n_heads*D, ld_q elements apart; k
 * likewise with n_kv_heads and ld_k (k may be NULL when n_kv_heads is 0).
 * Positions must be >= 0 (-EINVAL otherwise).
 */
int ac_op_rope_cpu(float *q, uint32_t ld_q, float *k, uint32_t ld_k,
		   const int32_t *pos, uint32_t n_tokens, uint32_t n_heads,
		   uint32_t n_kv_heads, uint32_t head_dim,
		   const float *inv_freq);

/*
 * out[r][i] = silu(gate[r][i]) * up[r][i]; out is [n_rows][dim] packed,
 * gate and up rows are ld_in elements apart, so a fused gate|up GEMM
 * output can be passed as gate = buf, up = buf + dim, ld_in = 2 * dim.
 */
int ac_op_swiglu_cpu(float *out, const float *gate, const float *up,
		     uint32_t n_rows, uint32_t dim, uint32_t ld_in);

/* x[i] += y[i]. */
void ac_op_residual_cpu(float *x, const float *y, size_t n);

/*
 * out[m][n] = sum_k in[m][k] * w[n][k]: a linear layer with Hugging Face's
 * [out_features][in_features] weight.  OpenBLAS sgemm (sgemv for one
 * row).  out must not overlap in or w.
 */
int ac_op_matmul_cpu(float *out, const float *in, const float *w,
		     uint32_t m, uint32_t n, uint32_t k);

/*
 * tokens[r] = the index of the largest logits[r][:]; ties go to the lowest
 * index.  -EINVAL if a row holds a NaN.
 */
int ac_op_argmax_cpu(int32_t *tokens, const float *logits, uint32_t n_rows,
		     uint32_t vocab);

/* out[r][:] = logits[r][:] - logsumexp(logits[r][:]); out may be logits. */
int ac_op_log_softmax_cpu(float *out, const float *logits, uint32_t n_rows,
			  uint32_t vocab);

/* A caller-seeded generator (splitmix64): same seed, same draws. */
struct ac_rng {
	uint64_t state;
};

void ac_rng_seed(struct ac_rng *rng, uint64_t seed);
uint64_t ac_rng_next(struct ac_rng *rng);
/* Uniform in [0, 1), 53 random bits. */
double ac_rng_uniform(struct ac_rng *rng);

/*
 * Temperature and nucleus (top-p) sampling over one row of logits.  The
 * scratch arrays are sized once for the vocabulary so sampling allocates
 * nothing.  temperature 0 means greedy; top_p 1 means no cut.
 */
struct ac_sample_cand {
	float p;
	int32_t id;
};

struct ac_sampler {
	uint32_t vocab;
	float temperature;
	float top_p;
	struct ac_rng rng;
	struct ac_sample_cand *cand;	/* [2 * vocab] scratch */
};

/* -EINVAL for temperature < 0 or not finite, top_p outside (0, 1]. */
int ac_sampler_init(struct ac_sampler *s, uint32_t vocab, float temperature,
		    float top_p, uint64_t seed);
void ac_sampler_free(struct ac_sampler *s);

/*
 * Draws one token from softmax(logits / temperature) restricted to the
 * smallest set of most likely tokens whose mass reaches top_p (ties in
 * probability ordered by index).  -EINVAL if a logit is NaN.
 */
int ac_op_sample_cpu(struct ac_sampler *s, const float *logits,
		     int32_t *token);

#if defined(AC_HAVE_CUDA) && AC_HAVE_CUDA

/* cudaError_t (as int, so this header needs no CUDA header) to -errno. */
int ac_op_cuda_errno(int cuda_error);

/*
 * The CUDA ops on bf16 (uint16_t bits) device tensors, same shapes and
 * meaning as the CPU ops above.  Ids and positions live on the device, so
 * their range is the caller's to check: an embedding id outside the
 * vocabulary yields a zero row rather than a stray read.
 */
int ac_op_embedding_cuda(uint16_t *out, const int32_t *ids,
			 uint32_t n_tokens, const uint16_t *table,
			 uint32_t vocab, uint32_t dim, void *stream);
int ac_op_rmsnorm_cuda(uint16_t *out, const uint16_t *x,
		       const uint16_t *weight, uint32_t n_rows, uint32_t dim,
		       float eps, void *stream);
/* inv_freq: the [head_dim/2] table of ac_rope_inv_freq(), on the device. */
int ac_op_rope_cuda(uint16_t *q, uint32_t ld_q, uint16_t *k, uint32_t ld_k,
		    const int32_t *pos, uint32_t n_tokens, uint32_t n_heads,
		    uint32_t n_kv_heads, uint32_t head_dim,
		    const float *inv_freq, void *stream);
int ac_op_swiglu_cuda(uint16_t *out, const uint16_t *gate,
		      const uint16_t *up, uint32_t n_rows, uint32_t dim,
		      uint32_t ld_in, void *stream);
int ac_op_residual_cuda(uint16_t *x, const uint16_t *y, size_t n,
			void *stream);
/* Row-wise argmax (ties to the lowest index; NaNs ignored, -1 if all are). */
int ac_op_argmax_cuda(int32_t *tokens, const uint16_t *logits,
		      uint32_t n_rows, uint32_t vocab, void *stream);
/* Row-wise log-softmax of bf16 logits into fp32, for sampling on the host. */
int ac_op_log_softmax_cuda(float *out, const uint16_t *logits,
			   uint32_t n_rows, uint32_t vocab, void *stream);

/*
 * cuBLASLt state made once per device and stream user: the handle, a
 * workspace, and the descriptors and chosen algorithm of each shape seen.
 * Not thread-safe; calls on different streams must not overlap (they
 * share the workspace).
 */
struct ac_gemm_cuda;

/* workspace_bytes 0: the default (32 MiB, what cuBLAS asks for on Hopper). */
int ac_gemm_cuda_create(struct ac_gemm_cuda **out, size_t workspace_bytes);
void ac_gemm_cuda_destroy(struct ac_gemm_cuda *g);

/*
 * out[m][n] = in[m][k] * w[n][k]^T in bf16 with fp32 accumulation.
 * Pointers must be 16-byte aligned (-EINVAL); -EOPNOTSUPP if cuBLASLt
 * has no algorithm for the shape.
 */
int ac_op_matmul_cuda(struct ac_gemm_cuda *g, uint16_t *out,
		      const uint16_t *in, const uint16_t *w, uint32_t m,
		      uint32_t n, uint32_t k, void *stream);

/*
 * out[m][n] += in[m][k] * w[n][k]^T: the residual add in the GEMM's
 * epilogue (beta 1, out read once where a separate add would read the
 * product back), fp32 sum rounded once to bf16.
 */
int ac_op_matmul_add_cuda(struct ac_gemm_cuda *g, uint16_t *out,
			  const uint16_t *in, const uint16_t *w, uint32_t m,
			  uint32_t n, uint32_t k, void *stream);

/* Rows the bandwidth-bound few-row linear layer takes. */
#define AC_GEMV_MAX_ROWS	4u

/*
 * out[m][n] = in[m][k] * w[n][k]^T for m <= AC_GEMV_MAX_ROWS, or out +=
 * that with @accumulate (a residual add for free). k a multiple of 8,
 * m * k * 2 bytes of input at most 200 KiB, in and w 16-byte aligned;
 * -EINVAL otherwise. fp32 accumulation, one bf16 rounding at the end.
 */
int ac_op_gemv_cuda(uint16_t *out, const uint16_t *in, const uint16_t *w,
		    uint32_t m, uint32_t n, uint32_t k, bool accumulate,
		    void *stream);

/* What the GEMV makes of its input rows before the product. */
enum ac_gemv_pro {
	AC_GEMV_PRO_NONE,	/* in[m][k] as it is */
	/* rmsnorm(in[r]) * norm_w, as ac_op_rmsnorm_cuda() rounds it */
	AC_GEMV_PRO_RMSNORM,
	/* silu(in[r][i]) * in[r][k + i]: gate|up rows of 2k, as swiglu */
	AC_GEMV_PRO_SWIGLU,
};

/*
 * The few-row linear layer with the small ops around it folded in, so a
 * decode step streams each weight once and launches a kernel less per
 * fold: a prologue on the input (above), RoPE on the first @rope_cols
 * output columns (dimension i of a head paired with i + head_dim/2, the
 * angle pos[r] * inv_freq[i] as ac_op_rope_cuda() forms it, applied in
 * fp32 before the one rounding), the columns split over up to three
 * outputs (q, k and v of one product over their side-by-side weights:
 * columns [0, cols[0]) to out[0] as [m][cols[0]], the next cols[1] to
 * out[1], and so on), and @accumulate as in ac_op_gemv_cuda().
 *
 * @unroll (16-byte loads a lane keeps in flight a row, 1, 2 or 4) and
 * @ksplit (warps sharing one output pair, 1, 2, 4 or 8) tune the kernel;
 * 0 picks them from the shape. -EINVAL for a shape or argument the kernel
 * does not take.
 */
struct ac_gemv_args {
	uint16_t *out[3];
	uint32_t cols[3];		/* 0 for unused outputs; sum is n */
	const uint16_t *in;
	const uint16_t *w;		/* [n][k] */
	uint32_t m, n, k;
	bool accumulate;
	enum ac_gemv_pro pro;
	const uint16_t *norm_w;		/* [k], AC_GEMV_PRO_RMSNORM */
	float eps;
	uint32_t rope_cols;		/* a multiple of head_dim; 0: no RoPE */
	uint32_t head_dim;
	const int32_t *pos;		/* [m], device */
	const float *inv_freq;		/* [head_dim / 2], device */
	uint32_t unroll, ksplit;
};

int ac_op_gemv_ex_cuda(const struct ac_gemv_args *a, void *stream);

#endif /* AC_HAVE_CUDA */

#ifdef __cplusplus
}
#endif

#endif /* AC_ENGINE_OPS_H */
