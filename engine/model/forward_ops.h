/* SPDX-License-Identifier: MIT */
/*
 * The backend seam of the forward pass: one const table per backend. Every
 * tensor argument is the backend's memory in its activation dtype; the
 * shapes are those of engine/ops/ops.h.
 */
#ifndef AC_MODEL_FORWARD_OPS_H
#define AC_MODEL_FORWARD_OPS_H

#include <stddef.h>
#include <stdint.h>

#include <asymcache/msa.h>

#include "weights.h"

struct ac_fwd_ctx;

/*
 * Where each weight tensor sits in a backend's copy of the weights: the
 * copy keeps the element offsets of the loader's one allocation, whatever
 * the element size, so one table serves every backend.
 */
struct ac_fwd_tensors {
	const void *t[AC_WK_COUNT];	/* the kinds that are not per layer */
	const void **lt;		/* [layer * AC_WK_LAYER_COUNT + kind] */
};

/* Points @ts into @base, a copy of @w's tensors in elements of @esz bytes. */
int ac_fwd_tensors_bind(struct ac_fwd_tensors *ts, const struct ac_weights *w,
			const void *base, size_t esz);
void ac_fwd_tensors_free(struct ac_fwd_tensors *ts);

static inline const void *ac_fwd_tensor(const struct ac_fwd_tensors *ts,
					enum ac_wkind k, uint32_t layer)
{
	return k < AC_WK_LAYER_COUNT ? ts->lt[layer * AC_WK_LAYER_COUNT + k]
				     : ts->t[k];
}

struct ac_fwd_ops {
	const char *name;
	enum ac_msa_backend msa;
	enum ac_dtype act;		/* activation and weight dtype */
	/* Backend state: weights copied in, scratch sized for max_rows. */
	int (*create)(const struct ac_weights *w, uint32_t max_rows,
		      struct ac_fwd_ctx **ret, char *err, size_t errlen);
	void (*destroy)(struct ac_fwd_ctx *c);
	/* Weights as the backend holds them (same kinds as ac_weights). */
	const void *(*tensor)(struct ac_fwd_ctx *c, enum ac_wkind k,
			      uint32_t layer);
	/* Scratch buffer @i (0..AC_FWD_BUFS-1) of @elems elements. */
	void *(*buf)(struct ac_fwd_ctx *c, unsigned int i);
	/* Copy host inputs (ids, positions, batch) in; results out. */
	int (*upload)(struct ac_fwd_ctx *c, const int32_t *tokens,
		      const int32_t *pos, uint32_t rows,
		      const struct ac_msa_batch *host,
		      struct ac_msa_batch *ret_dev);
	int (*embedding)(struct ac_fwd_ctx *c, void *out, uint32_t rows);
	int (*rmsnorm)(struct ac_fwd_ctx *c, void *out, const void *x,
		       const void *w, uint32_t rows, uint32_t dim, float eps);
	int (*matmul)(struct ac_fwd_ctx *c, void *out, const void *in,
		      const void *w, uint32_t m, uint32_t n, uint32_t k);
	/*
	 * out += in * w^T, where the backend has a fused path for the shape;
	 * NULL or -EOPNOTSUPP: the pass runs matmul then residual instead.
	 */
	int (*matmul_add)(struct ac_fwd_ctx *c, void *out, const void *in,
			  const void *w, uint32_t m, uint32_t n, uint32_t k);
	int (*rope)(struct ac_fwd_ctx *c, void *q, void *k, uint32_t rows);
	/* gate and up rows are @ld elements apart (a fused gate|up GEMM). */
	int (*swiglu)(struct ac_fwd_ctx *c, void *out, const void *gate,
		      const void *up, uint32_t rows, uint32_t dim,
		      uint32_t ld);
	int (*residual)(struct ac_fwd_ctx *c, void *x, const void *y,
			size_t n);
	/* Gather rows @idx of x ([.][dim]) into out, packed. */
	int (*gather)(struct ac_fwd_ctx *c, void *out, const void *x,
		      const uint32_t *idx, uint32_t n, uint32_t dim);
	/* fp32 host copy of [n][vocab] logits; waits for the backend. */
	int (*logits_out)(struct ac_fwd_ctx *c, float *host, const void *dev,
			  uint32_t n, uint32_t vocab);
	/*
	 * Optional: the greedy token of each of the [n][vocab] logits rows,
	 * computed where they are (n ints cross to the host, not the rows);
	 * -1 for a row with no number. NULL: the pass copies the logits out
	 * and takes the argmax on the host.
	 */
	int (*argmax_out)(struct ac_fwd_ctx *c, int32_t *host, const void *dev,
			  uint32_t n, uint32_t vocab);
	/*
	 * Optional fused paths of a few-row pass (NULL, or -EOPNOTSUPP for a
	 * shape: the pass runs the plain ops instead). qkv: q, k and v of
	 * rmsnorm(x) * norm_w against wq, wk and wv lying side by side from
	 * @wqkv, RoPE on q and k. norm_matmul: out = (rmsnorm(x) * norm_w) *
	 * w^T. swiglu_matmul_add: x += (silu(gate) * up) * w^T, gate|up rows
	 * of 2 * k elements as the fused gate|up product writes them.
	 */
	int (*qkv)(struct ac_fwd_ctx *c, void *q, void *k, void *v,
		   const void *x, const void *norm_w, const void *wqkv,
		   uint32_t rows, float eps);
	int (*norm_matmul)(struct ac_fwd_ctx *c, void *out, const void *x,
			   const void *norm_w, const void *w, uint32_t rows,
			   uint32_t n, uint32_t k, float eps);
	int (*swiglu_matmul_add)(struct ac_fwd_ctx *c, void *x, const void *gu,
				 const void *w, uint32_t rows, uint32_t n,
				 uint32_t k);
	/*
	 * Optional: recordings of a pass's launches, replayed (CUDA graphs).
	 * record_begin returns 1 when it has just replayed the recording
	 * made under @key (the pass then launches nothing itself), 0 when it
	 * records the launches that follow, up to record_end, under @key,
	 * or -EOPNOTSUPP when it does neither. The key holds every host
	 * value the launches take that the backend does not own; the
	 * backend adds its own (buffer and workspace addresses). record_end
	 * keeps and runs the recording when @status is 0 and drops it
	 * otherwise; it returns @status or its own error.
	 */
	int (*record_begin)(struct ac_fwd_ctx *c, const uint64_t *key,
			    size_t nkey);
	int (*record_end)(struct ac_fwd_ctx *c, int status);
	/* MSA workspace of @bytes (grown as needed) and the stream. */
	void *(*workspace)(struct ac_fwd_ctx *c, size_t bytes);
	void *(*stream)(struct ac_fwd_ctx *c);
	/* Optional: wait for the queued work; NULL where calls return done. */
	int (*sync)(struct ac_fwd_ctx *c);
};

/* Scratch buffers of the forward pass (see forward.c for their shapes). */
enum ac_fwd_buf {
	AC_FB_X, AC_FB_H, AC_FB_Q, AC_FB_K, AC_FB_V, AC_FB_ATTN,
	AC_FB_GATE, AC_FB_UP, AC_FB_LAST, AC_FB_LOGITS, AC_FWD_BUFS,
};

/* Elements of scratch buffer @i for @rows rows of @cfg. */
size_t ac_fwd_buf_elems(const struct ac_model_config *cfg, uint32_t rows,
			unsigned int i);

extern const struct ac_fwd_ops ac_fwd_cpu_ops;
#if defined(AC_HAVE_CUDA) && AC_HAVE_CUDA
extern const struct ac_fwd_ops ac_fwd_cuda_ops;
#endif

#endif /* AC_MODEL_FORWARD_OPS_H */
