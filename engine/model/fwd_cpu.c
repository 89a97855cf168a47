/* SPDX-License-Identifier: MIT */
/*
 * The CPU backend of the forward pass: fp32 weights and activations in
 * host memory, the ops of engine/ops (OpenBLAS GEMMs), MSA's CPU reference
 * on a host pool of fp32 blocks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/ops.h"
#include "forward_ops.h"
#include "rope_params.h"

struct ac_fwd_ctx {
	struct ac_model_config cfg;
	float *base;			/* all weights, fp32 */
	struct ac_fwd_tensors ts;
	float *bufs[AC_FWD_BUFS];
	float *inv_freq;
	const int32_t *tokens, *pos;
	void *ws;
	size_t ws_bytes;
};

static void cpu_destroy(struct ac_fwd_ctx *c)
{
	if (!c)
		return;
	for (unsigned int i = 0; i < AC_FWD_BUFS; i++)
		free(c->bufs[i]);
	free(c->base);
	ac_fwd_tensors_free(&c->ts);
	free(c->inv_freq);
	free(c->ws);
	free(c);
}

static int cpu_create(const struct ac_weights *w, uint32_t max_rows,
		      struct ac_fwd_ctx **ret, char *err, size_t errlen)
{
	size_t n = w->bytes / ac_dtype_size(w->dtype);
	struct ac_rope_params rp;
	struct ac_fwd_ctx *c;
	int r = -ENOMEM;

	if (w->dtype != AC_DTYPE_FP32 && w->dtype != AC_DTYPE_BF16)
		return -EOPNOTSUPP;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cfg = w->cfg;
	c->base = malloc(n * sizeof(float));
	c->inv_freq = malloc(w->cfg.head_dim / 2 * sizeof(float));
	if (!c->base || !c->inv_freq)
		goto fail;
	if (w->dtype == AC_DTYPE_FP32)
		memcpy(c->base, w->base, n * sizeof(float));
	else
		ac_op_bf16_to_f32_cpu(c->base, w->base, n);
	if (ac_fwd_tensors_bind(&c->ts, w, c->base, sizeof(float)) < 0)
		goto fail;
	for (unsigned int i = 0; i < AC_FWD_BUFS; i++) {
		c->bufs[i] = malloc(ac_fwd_buf_elems(&w->cfg, max_rows, i) *
				    sizeof(float));
		if (!c->bufs[i])
			goto fail;
	}
	ac_model_rope_params(&w->cfg, &rp);
	r = ac_rope_inv_freq(c->inv_freq, w->cfg.head_dim, &rp);
	if (r < 0) {
		if (err)
			snprintf(err, errlen, "%s: bad RoPE parameters",
				 w->cfg.name);
		goto fail;
	}
	*ret = c;
	return 0;
fail:
	cpu_destroy(c);
	return r;
}

static const void *cpu_tensor(struct ac_fwd_ctx *c, enum ac_wkind k,
			      uint32_t layer)
{
	return ac_fwd_tensor(&c->ts, k, layer);
}

static void *cpu_buf(struct ac_fwd_ctx *c, unsigned int i)
{
	return c->bufs[i];
}

static int cpu_upload(struct ac_fwd_ctx *c, const int32_t *tokens,
		      const int32_t *pos, uint32_t rows,
		      const struct ac_msa_batch *host,
		      struct ac_msa_batch *ret_dev)
{
	c->tokens = tokens;
	c->pos = pos;
	*ret_dev = *host;
	return 0;
}

static int cpu_embedding(struct ac_fwd_ctx *c, void *out, uint32_t rows)
{
	return ac_op_embedding_cpu(out, c->tokens, rows,
				   ac_fwd_tensor(&c->ts, AC_WK_TOK_EMBD, 0),
				   c->cfg.vocab, c->cfg.hidden);
}

static int cpu_rmsnorm(struct ac_fwd_ctx *c, void *out, const void *x,
		       const void *w, uint32_t rows, uint32_t dim, float eps)
{
	return ac_op_rmsnorm_cpu(out, x, w, rows, dim, eps);
}

static int cpu_matmul(struct ac_fwd_ctx *c, void *out, const void *in,
		      const void *w, uint32_t m, uint32_t n, uint32_t k)
{
	return ac_op_matmul_cpu(out, in, w, m, n, k);
}

static int cpu_rope(struct ac_fwd_ctx *c, void *q, void *k, uint32_t rows)
{
	const struct ac_model_config *g = &c->cfg;

	return ac_op_rope_cpu(q, g->n_heads * g->head_dim, k,
			      g->n_kv_heads * g->head_dim, c->pos, rows,
			      g->n_heads, g->n_kv_heads, g->head_dim,
			      c->inv_freq);
}

static int cpu_swiglu(struct ac_fwd_ctx *c, void *out, const void *gate,
		      const void *up, uint32_t rows, uint32_t dim, uint32_t ld)
{
	return ac_op_swiglu_cpu(out, gate, up, rows, dim, ld);
}

static int cpu_residual(struct ac_fwd_ctx *c, void *x, const void *y,
			size_t n)
{
	ac_op_residual_cpu(x, y, n);
	return 0;
}

static int cpu_gather(struct ac_fwd_ctx *c, void *out, const void *x,
		      const uint32_t *idx, uint32_t n, uint32_t dim)
{
	for (uint32_t i = 0; i < n; i++)
		memcpy((float *)out + (size_t)i * dim,
		       (const float *)x + (size_t)idx[i] * dim,
		       dim * sizeof(float));
	return 0;
}

static int cpu_logits_out(struct ac_fwd_ctx *c, float *host, const void *dev,
			  uint32_t n, uint32_t vocab)
{
	memcpy(host, dev, (size_t)n * vocab * sizeof(float));
	return 0;
}

static void *cpu_workspace(struct ac_fwd_ctx *c, size_t bytes)
{
	void *p;

	if (bytes <= c->ws_bytes && c->ws)
		return c->ws;
	/* The plan wants 16-byte alignment; malloc gives it on x86-64. */
	p = realloc(c->ws, bytes ? bytes : 16);
	if (!p)
		return NULL;
	c->ws = p;
	c->ws_bytes = bytes;
	return p;
}

static void *cpu_stream(struct ac_fwd_ctx *c)
{
	return NULL;
}

const struct ac_fwd_ops ac_fwd_cpu_ops = {
	.name = "cpu",
	.msa = AC_MSA_BACKEND_CPU,
	.act = AC_DTYPE_FP32,
	.create = cpu_create,
	.destroy = cpu_destroy,
	.tensor = cpu_tensor,
	.buf = cpu_buf,
	.upload = cpu_upload,
	.embedding = cpu_embedding,
	.rmsnorm = cpu_rmsnorm,
	.matmul = cpu_matmul,
	.rope = cpu_rope,
	.swiglu = cpu_swiglu,
	.residual = cpu_residual,
	.gather = cpu_gather,
	.logits_out = cpu_logits_out,
	.workspace = cpu_workspace,
	.stream = cpu_stream,
};
