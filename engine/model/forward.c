/* SPDX-License-Identifier: MIT */
/*
 * The Llama forward pass, the same for every backend: embedding, then per
 * layer RMSNorm, Q/K/V projections, RoPE, K/V into the pool, MSA, output
 * projection and residual, RMSNorm, SwiGLU MLP and residual; last, the
 * final norm and the LM head on the rows whose logits are asked for.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "forward.h"
#include "forward_ops.h"
#include "ops.h"

/*
 * Passes a backend may record and replay: decode steps and small batches,
 * where launches cost as much as the work. A prefill's plan is seldom seen
 * twice, and its kernels run long enough to hide their launches.
 */
#define AC_FWD_RECORD_ROWS	64u
#define AC_FWD_RECORD_LOGITS	8u
#define AC_FWD_KEY_WORDS	(3 + AC_FWD_RECORD_LOGITS + 3 + AC_MSA_PLAN_KEY_WORDS)

/*
 * Keys of the last passes remembered, to record only a pass whose launches
 * came before: recording and instantiating a graph costs more than
 * launching its kernels once, and a pass with a prefill chunk has a row
 * count of its own almost every time (bench/engine/mixed_bench.c).
 */
#define AC_FWD_SEEN		16u

struct fwd_seen {
	uint64_t key[AC_FWD_KEY_WORDS];
	size_t nkey;
	uint64_t used;			/* LRU tick; 0: empty */
};

struct ac_model {
	const struct ac_fwd_ops *ops;
	struct ac_fwd_ctx *ctx;
	struct ac_model_config cfg;
	uint32_t max_rows;
	bool no_record;
	bool record_eager;		/* record on first sight (benchmarks) */
	enum ac_fwd_backend backend;
	uint64_t tick;
	struct fwd_seen seen[AC_FWD_SEEN];
	struct ac_model_graph_counts graphs;
};

size_t ac_fwd_buf_elems(const struct ac_model_config *c, uint32_t rows,
			unsigned int i)
{
	size_t r = rows, q = (size_t)c->n_heads * c->head_dim,
	       kv = (size_t)c->n_kv_heads * c->head_dim;
	size_t nl = rows < AC_FWD_MAX_LOGITS ? rows : AC_FWD_MAX_LOGITS;

	switch (i) {
	case AC_FB_X:
	case AC_FB_H:
		return r * c->hidden;
	case AC_FB_Q:
	case AC_FB_ATTN:
		return r * q;
	case AC_FB_K:
	case AC_FB_V:
		return r * kv;
	case AC_FB_GATE:		/* gate|up of a fused GEMM */
		return 2 * r * c->ffn;
	case AC_FB_UP:
		return r * c->ffn;
	case AC_FB_LAST:
		return nl * c->hidden;
	case AC_FB_LOGITS:
		return nl * c->vocab;
	}
	return 0;
}

int ac_fwd_tensors_bind(struct ac_fwd_tensors *ts, const struct ac_weights *w,
			const void *base, size_t esz)
{
	size_t wsz = ac_dtype_size(w->dtype);
	uint32_t layers = w->cfg.n_layers;

	ts->lt = calloc((size_t)layers * AC_WK_LAYER_COUNT, sizeof(*ts->lt));
	if (!ts->lt)
		return -ENOMEM;
	for (unsigned int k = 0; k < AC_WK_COUNT; k++)
		for (uint32_t l = 0; l < (k < AC_WK_LAYER_COUNT ? layers : 1);
		     l++) {
			size_t off = (size_t)((const char *)ac_weights_tensor(w, k, l) -
					      (const char *)w->base) / wsz;
			const void *p = (const char *)base + off * esz;

			if (k < AC_WK_LAYER_COUNT)
				ts->lt[l * AC_WK_LAYER_COUNT + k] = p;
			else
				ts->t[k] = p;
		}
	return 0;
}

void ac_fwd_tensors_free(struct ac_fwd_tensors *ts)
{
	free(ts->lt);
	ts->lt = NULL;
}

static const struct ac_fwd_ops *backend_ops(enum ac_fwd_backend b)
{
	switch (b) {
	case AC_FWD_CPU:
		return &ac_fwd_cpu_ops;
	case AC_FWD_CUDA:
#if defined(AC_HAVE_CUDA) && AC_HAVE_CUDA
		return &ac_fwd_cuda_ops;
#else
		break;
#endif
	}
	return NULL;
}

int ac_model_create(const struct ac_weights *w, enum ac_fwd_backend backend,
		    uint32_t max_rows, struct ac_model **ret, char *err,
		    size_t errlen)
{
	const struct ac_fwd_ops *ops = backend_ops(backend);
	struct ac_model *m;
	int r;

	if (!w || !ret || !max_rows)
		return -EINVAL;
	if (!ops) {
		if (err)
			snprintf(err, errlen, "the %s backend is not built in",
				 backend == AC_FWD_CUDA ? "CUDA" : "requested");
		return -EOPNOTSUPP;
	}
	r = ac_model_config_check(&w->cfg, err, errlen);
	if (r < 0)
		return r;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->ops = ops;
	m->cfg = w->cfg;
	m->max_rows = max_rows;
	m->backend = backend;
	r = ops->create(w, max_rows, &m->ctx, err, errlen);
	if (r < 0) {
		free(m);
		return r;
	}
	*ret = m;
	return 0;
}

struct ac_model *ac_model_free(struct ac_model *m)
{
	if (m) {
		m->ops->destroy(m->ctx);
		free(m);
	}
	return NULL;
}

int ac_model_set_graphs(struct ac_model *m, bool on)
{
	if (!m)
		return -EINVAL;
	if (!m->ops->record_begin)
		return on ? -EOPNOTSUPP : 0;
	m->no_record = !on;
	/* Turned on again, graphs start from passes they see from now on. */
	memset(m->seen, 0, sizeof(m->seen));
	return 0;
}

void ac_model_get_graph_counts(const struct ac_model *m,
			       struct ac_model_graph_counts *c)
{
	*c = m ? m->graphs : (struct ac_model_graph_counts){ 0 };
}

void ac_model_set_graphs_eager(struct ac_model *m, bool eager)
{
	if (m)
		m->record_eager = eager;
}

int ac_model_sync(struct ac_model *m)
{
	if (!m)
		return -EINVAL;
	return m->ops->sync ? m->ops->sync(m->ctx) : 0;
}

const struct ac_model_config *ac_model_config(const struct ac_model *m)
{
	return &m->cfg;
}

enum ac_fwd_backend ac_model_backend(const struct ac_model *m)
{
	return m->backend;
}

uint32_t ac_model_max_rows(const struct ac_model *m)
{
	return m->max_rows;
}

void ac_model_kv_layout(const struct ac_model *m, uint32_t block_tokens,
			struct ac_kv_layout *ret)
{
	*ret = (struct ac_kv_layout){
		.num_layers = m->cfg.n_layers,
		.num_kv_heads = m->cfg.n_kv_heads,
		.head_dim = m->cfg.head_dim,
		.block_tokens = block_tokens,
		.dtype = m->ops->act,
	};
}

/* x += in * w^T: fused where the backend can, else through @tmp. */
static int matmul_add(struct ac_model *m, void *x, const void *in,
		      const void *w, void *tmp, uint32_t rows, uint32_t n,
		      uint32_t k)
{
	const struct ac_fwd_ops *o = m->ops;
	int r = -EOPNOTSUPP;

	if (o->matmul_add)
		r = o->matmul_add(m->ctx, x, in, w, rows, n, k);
	if (r != -EOPNOTSUPP)
		return r;
	r = o->matmul(m->ctx, tmp, in, w, rows, n, k);
	if (!r)
		r = o->residual(m->ctx, x, tmp, (size_t)rows * n);
	return r;
}

/* Attention block of layer @l, x += o(MSA(rope(q), rope(k), v)). */
static int attention(struct ac_model *m, const struct ac_msa_plan *plan,
		     const struct ac_kv_pool *pool,
		     const struct ac_msa_batch *db, uint32_t l, uint32_t rows,
		     void *ws, size_t ws_bytes)
{
	const struct ac_fwd_ops *o = m->ops;
	struct ac_fwd_ctx *c = m->ctx;
	const struct ac_model_config *cfg = &m->cfg;
	uint32_t qd = cfg->n_heads * cfg->head_dim;
	uint32_t kvd = cfg->n_kv_heads * cfg->head_dim;
	void *x = o->buf(c, AC_FB_X), *h = o->buf(c, AC_FB_H);
	void *q = o->buf(c, AC_FB_Q), *k = o->buf(c, AC_FB_K);
	void *v = o->buf(c, AC_FB_V), *att = o->buf(c, AC_FB_ATTN);
	const void *norm = o->tensor(c, AC_WK_ATTN_NORM, l);
	const char *wq = o->tensor(c, AC_WK_Q, l);
	const char *wk = o->tensor(c, AC_WK_K, l);
	const char *wv = o->tensor(c, AC_WK_V, l);
	size_t esz = ac_dtype_size(o->act);
	int r = -EOPNOTSUPP;

	/* The loaders lay wq, wk, wv side by side: one pass over all three. */
	if (o->qkv && wk == wq + (size_t)qd * cfg->hidden * esz &&
	    wv == wk + (size_t)kvd * cfg->hidden * esz)
		r = o->qkv(c, q, k, v, x, norm, wq, rows, cfg->rms_eps);
	if (r == -EOPNOTSUPP) {
		r = o->rmsnorm(c, h, x, norm, rows, cfg->hidden, cfg->rms_eps);
		if (!r)
			r = o->matmul(c, q, h, wq, rows, qd, cfg->hidden);
		if (!r)
			r = o->matmul(c, k, h, wk, rows, kvd, cfg->hidden);
		if (!r)
			r = o->matmul(c, v, h, wv, rows, kvd, cfg->hidden);
		if (!r)
			r = o->rope(c, q, k, rows);
	}
	if (!r)
		r = ac_kv_write(plan, pool, db, l, k, v, o->stream(c));
	if (!r)
		r = ac_msa_run(plan, pool, db, l,
			       1.0f / sqrtf((float)cfg->head_dim), q, att, ws,
			       ws_bytes, o->stream(c));
	if (!r)
		r = matmul_add(m, x, att, o->tensor(c, AC_WK_O, l), h, rows,
			       cfg->hidden, qd);
	return r;
}

/* MLP block of layer @l, x += down(silu(gate(h)) * up(h)). */
static int mlp(struct ac_model *m, uint32_t l, uint32_t rows)
{
	const struct ac_fwd_ops *o = m->ops;
	struct ac_fwd_ctx *c = m->ctx;
	const struct ac_model_config *cfg = &m->cfg;
	void *x = o->buf(c, AC_FB_X), *h = o->buf(c, AC_FB_H);
	void *g = o->buf(c, AC_FB_GATE), *u = o->buf(c, AC_FB_UP);
	const char *wg = o->tensor(c, AC_WK_GATE, l);
	const char *wu = o->tensor(c, AC_WK_UP, l);
	const void *norm = o->tensor(c, AC_WK_FFN_NORM, l);
	const void *wd = o->tensor(c, AC_WK_DOWN, l);
	size_t wbytes = (size_t)cfg->ffn * cfg->hidden * ac_dtype_size(o->act);
	int r = -EOPNOTSUPP;

	/*
	 * The loaders lay w_up right after w_gate: then one GEMM of twice the
	 * width makes gate|up side by side in each row, and SwiGLU reads
	 * both with a row stride, one weight pass and launch fewer. Where the
	 * backend folds the norm into that product and SwiGLU into the down
	 * projection's, the block is two launches.
	 */
	if (wu == wg + wbytes) {
		if (o->norm_matmul)
			r = o->norm_matmul(c, g, x, norm, wg, rows, 2 * cfg->ffn,
					   cfg->hidden, cfg->rms_eps);
		if (r == -EOPNOTSUPP) {
			r = o->rmsnorm(c, h, x, norm, rows, cfg->hidden,
				       cfg->rms_eps);
			if (!r)
				r = o->matmul(c, g, h, wg, rows, 2 * cfg->ffn,
					      cfg->hidden);
		}
		if (r)
			return r;
		r = -EOPNOTSUPP;
		if (o->swiglu_matmul_add)
			r = o->swiglu_matmul_add(c, x, g, wd, rows, cfg->hidden,
						 cfg->ffn);
		if (r != -EOPNOTSUPP)
			return r;
		r = o->swiglu(c, u, g, (char *)g +
				       cfg->ffn * ac_dtype_size(o->act),
			      rows, cfg->ffn, 2 * cfg->ffn);
		g = u;
	} else {
		r = o->rmsnorm(c, h, x, norm, rows, cfg->hidden, cfg->rms_eps);
		if (!r)
			r = o->matmul(c, g, h, wg, rows, cfg->ffn,
				      cfg->hidden);
		if (!r)
			r = o->matmul(c, u, h, wu, rows, cfg->ffn,
				      cfg->hidden);
		if (!r)
			r = o->swiglu(c, g, g, u, rows, cfg->ffn, cfg->ffn);
	}
	if (!r)
		r = matmul_add(m, x, g, wd, h, rows, cfg->hidden, cfg->ffn);
	return r;
}

/* The logits of rows @logit_rows, left in the backend's buffer. */
static int head(struct ac_model *m, const uint32_t *logit_rows, uint32_t n)
{
	const struct ac_fwd_ops *o = m->ops;
	struct ac_fwd_ctx *c = m->ctx;
	const struct ac_model_config *cfg = &m->cfg;
	void *last = o->buf(c, AC_FB_LAST), *out = o->buf(c, AC_FB_LOGITS);
	const void *norm = o->tensor(c, AC_WK_OUTPUT_NORM, 0);
	const void *w = o->tensor(c, AC_WK_OUTPUT, 0);
	int r;

	r = o->gather(c, last, o->buf(c, AC_FB_X), logit_rows, n,
		      cfg->hidden);
	if (r)
		return r;
	r = -EOPNOTSUPP;
	if (o->norm_matmul)
		r = o->norm_matmul(c, out, last, norm, w, n, cfg->vocab,
				   cfg->hidden, cfg->rms_eps);
	if (r != -EOPNOTSUPP)
		return r;
	r = o->rmsnorm(c, last, last, norm, n, cfg->hidden, cfg->rms_eps);
	if (!r)
		r = o->matmul(c, out, last, w, n, cfg->vocab, cfg->hidden);
	return r;
}

/*
 * The key of a pass's launches for record_begin: what they take from the
 * host besides the backend's own buffers. 0 when the pass is not one to
 * record.
 */
static size_t record_key(const struct ac_model *m,
			 const struct ac_kv_pool *pool,
			 const struct ac_msa_plan *plan, uint32_t rows,
			 const uint32_t *logit_rows, uint32_t n_logits,
			 uint64_t key[AC_FWD_KEY_WORDS])
{
	size_t n = 0;

	if (m->no_record || !m->ops->record_begin ||
	    rows > AC_FWD_RECORD_ROWS || n_logits > AC_FWD_RECORD_LOGITS)
		return 0;
	key[n++] = rows;
	key[n++] = n_logits;
	key[n++] = m->cfg.n_layers;
	for (uint32_t i = 0; i < AC_FWD_RECORD_LOGITS; i++)
		key[n++] = i < n_logits ? logit_rows[i] : UINT64_MAX;
	key[n++] = (uintptr_t)pool->base;
	key[n++] = pool->block_bytes;
	key[n++] = pool->num_blocks;
	ac_msa_plan_launch_key(plan, key + n);
	return n + AC_MSA_PLAN_KEY_WORDS;
}

/* Whether a pass of @key ran lately; remembered either way. */
static bool key_seen(struct ac_model *m, const uint64_t *key, size_t nkey)
{
	struct fwd_seen *old = &m->seen[0];

	for (unsigned int i = 0; i < AC_FWD_SEEN; i++) {
		struct fwd_seen *e = &m->seen[i];

		if (e->used && e->nkey == nkey &&
		    !memcmp(e->key, key, nkey * sizeof(*key))) {
			e->used = ++m->tick;
			return true;
		}
		if (e->used < old->used)
			old = e;
	}
	memcpy(old->key, key, nkey * sizeof(*key));
	old->nkey = nkey;
	old->used = ++m->tick;
	return false;
}

/* Every launch of the pass, from the embedding to the logits. */
static int launch_pass(struct ac_model *m, const struct ac_msa_plan *plan,
		       const struct ac_kv_pool *pool,
		       const struct ac_msa_batch *db, uint32_t rows, void *ws,
		       size_t ws_bytes, const uint32_t *logit_rows,
		       uint32_t n_logits)
{
	const struct ac_fwd_ops *o = m->ops;
	int r;

	r = o->embedding(m->ctx, o->buf(m->ctx, AC_FB_X), rows);
	for (uint32_t l = 0; !r && l < m->cfg.n_layers; l++) {
		r = attention(m, plan, pool, db, l, rows, ws, ws_bytes);
		if (!r)
			r = mlp(m, l, rows);
	}
	if (!r && n_logits)
		r = head(m, logit_rows, n_logits);
	return r;
}

/* The greedy tokens of the pass's logit rows, where the logits are. */
static int argmax_out(struct ac_model *m, const float *logits,
		      uint32_t n_logits, int32_t *argmax)
{
	const struct ac_fwd_ops *o = m->ops;
	uint32_t vocab = m->cfg.vocab;
	float *tmp = NULL;
	int r;

	if (o->argmax_out) {
		r = o->argmax_out(m->ctx, argmax, o->buf(m->ctx, AC_FB_LOGITS),
				  n_logits, vocab);
		for (uint32_t i = 0; !r && i < n_logits; i++)
			if (argmax[i] < 0)
				r = -EINVAL;
		return r;
	}
	if (!logits) {
		tmp = malloc(sizeof(float) * n_logits * vocab);
		if (!tmp)
			return -ENOMEM;
		r = o->logits_out(m->ctx, tmp, o->buf(m->ctx, AC_FB_LOGITS),
				  n_logits, vocab);
		logits = tmp;
		if (r < 0)
			goto out;
	}
	r = ac_op_argmax_cpu(argmax, logits, n_logits, vocab);
out:
	free(tmp);
	return r;
}

int ac_model_forward(struct ac_model *m, const struct ac_kv_pool *pool,
		     const struct ac_msa_batch *batch, const int32_t *tokens,
		     const int32_t *pos, const uint32_t *logit_rows,
		     uint32_t n_logits, float *logits)
{
	if (n_logits && !logits)
		return -EINVAL;
	return ac_model_forward_ex(m, pool, batch, tokens, pos, logit_rows,
				   n_logits, logits, NULL);
}

int ac_model_forward_ex(struct ac_model *m, const struct ac_kv_pool *pool,
			const struct ac_msa_batch *batch,
			const int32_t *tokens, const int32_t *pos,
			const uint32_t *logit_rows, uint32_t n_logits,
			float *logits, int32_t *argmax)
{
	const struct ac_fwd_ops *o;
	struct ac_msa_plan *plan = NULL;
	struct ac_msa_batch db;
	uint64_t key[AC_FWD_KEY_WORDS];
	uint32_t rows;
	size_t ws_bytes, nkey;
	void *ws;
	int r, rec = -EOPNOTSUPP;

	if (!m || !pool || !batch || !tokens || !pos ||
	    (n_logits && (!logit_rows || (!logits && !argmax))))
		return -EINVAL;
	o = m->ops;
	if (pool->layout.dtype != o->act ||
	    pool->layout.num_layers != m->cfg.n_layers ||
	    pool->layout.num_kv_heads != m->cfg.n_kv_heads ||
	    pool->layout.head_dim != m->cfg.head_dim)
		return -EINVAL;
	rows = batch->num_segs ? (uint32_t)batch->seg_indptr[batch->num_segs]
			       : 0;
	if (!rows)
		return -EINVAL;
	if (rows > m->max_rows || n_logits > AC_FWD_MAX_LOGITS ||
	    n_logits > rows)
		return -E2BIG;
	for (uint32_t i = 0; i < n_logits; i++)
		if (logit_rows[i] >= rows)
			return -EINVAL;
	for (uint32_t i = 0; i < rows; i++)
		if (tokens[i] < 0 || (uint32_t)tokens[i] >= m->cfg.vocab)
			return -ERANGE;

	r = ac_msa_plan_create(o->msa, pool, m->cfg.n_heads, batch, 0, &plan);
	if (r < 0)
		return r;
	ws_bytes = ac_msa_plan_workspace_size(plan);
	ws = o->workspace(m->ctx, ws_bytes);
	if (!ws) {
		r = -ENOMEM;
		goto out;
	}
	r = ac_msa_plan_upload(plan, ws, ws_bytes, o->stream(m->ctx));
	if (!r)
		r = o->upload(m->ctx, tokens, pos, rows, batch, &db);
	nkey = record_key(m, pool, plan, rows, logit_rows, n_logits, key);
	if (nkey && !key_seen(m, key, nkey) && !m->record_eager)
		nkey = 0;
	if (!r && nkey) {
		rec = o->record_begin(m->ctx, key, nkey);
		if (rec < 0 && rec != -EOPNOTSUPP)
			r = rec;
	}
	if (!r && rec != 1) {
		r = launch_pass(m, plan, pool, &db, rows, ws, ws_bytes,
				logit_rows, n_logits);
		if (rec == 0)
			r = o->record_end(m->ctx, r);
	}
	if (!r && (!nkey || rec < 0))
		m->graphs.direct++;
	else if (!r && rec == 1)
		m->graphs.replayed++;
	else if (!r)
		m->graphs.recorded++;
	if (!r && n_logits && logits)
		r = o->logits_out(m->ctx, logits, o->buf(m->ctx, AC_FB_LOGITS),
				  n_logits, m->cfg.vocab);
	if (!r && n_logits && argmax)
		r = argmax_out(m, logits, n_logits, argmax);
out:
	ac_msa_plan_free(plan);
	return r;
}
