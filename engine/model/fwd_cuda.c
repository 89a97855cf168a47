/* SPDX-License-Identifier: MIT */
/*
 * The CUDA backend of the forward pass: bf16 weights and activations on the
 * device, the CUDA ops of engine/ops (cuBLASLt GEMMs), MSA's CUDA kernels
 * on a device pool of bf16 blocks. Everything is queued on one stream; the
 * host waits only when the logits come back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "../ops/ops.h"
#include "forward.h"
#include "forward_ops.h"
#include "rope_params.h"

/* Device copies of a batch's CSR arrays, in one allocation. */
enum { DB_SEG_INDPTR, DB_SEG_SEQ, DB_SEG_POS, DB_TABLE_INDPTR, DB_BLOCKS,
       DB_CTX, DB_TOKENS, DB_POS, DB_COUNT };

/*
 * Recorded passes (CUDA graphs) kept at once: a decode loop needs one, and
 * a few more cover the split changing as the context grows, or batches
 * of a few sizes taking turns.
 */
#define REC_SLOTS	4
#define REC_KEY_MAX	48

struct rec {
	uint64_t key[REC_KEY_MAX];
	size_t nkey;
	cudaGraphExec_t exec;
	uint64_t used;			/* LRU tick; 0: empty */
};

struct ac_fwd_ctx {
	struct ac_model_config cfg;
	cudaStream_t stream;
	struct ac_gemm_cuda *gemm;
	uint16_t *base;			/* all weights, bf16 */
	struct ac_fwd_tensors ts;
	uint16_t *bufs[AC_FWD_BUFS];
	float *inv_freq;
	/*
	 * The batch arrays and inputs, each at a fixed place while it fits
	 * its capacity, so that a recorded pass finds next step's arrays
	 * where it found its own.
	 */
	int32_t *dev_i32;
	int32_t *stage;			/* their host copy, same layout */
	size_t db_cap[DB_COUNT];	/* elements, multiples of 4 */
	int32_t *dev_arr[DB_COUNT];
	void *ws;
	size_t ws_bytes;
	uint16_t *host_logits;		/* bf16 staging */
	size_t host_logits_cap;
	int32_t *dev_argmax;		/* [AC_FWD_MAX_LOGITS] greedy tokens */
	struct rec rec[REC_SLOTS];
	uint64_t tick;
	struct rec pending;		/* the key being recorded */
};

static int cu(cudaError_t e)
{
	return e == cudaSuccess ? 0 : ac_op_cuda_errno((int)e);
}

static void cuda_destroy(struct ac_fwd_ctx *c)
{
	if (!c)
		return;
	if (c->stream)
		cudaStreamSynchronize(c->stream);
	for (unsigned int i = 0; i < REC_SLOTS; i++)
		if (c->rec[i].exec)
			cudaGraphExecDestroy(c->rec[i].exec);
	for (unsigned int i = 0; i < AC_FWD_BUFS; i++)
		cudaFree(c->bufs[i]);
	cudaFree(c->base);
	cudaFree(c->inv_freq);
	cudaFree(c->dev_i32);
	cudaFree(c->dev_argmax);
	free(c->stage);
	cudaFree(c->ws);
	if (c->gemm)
		ac_gemm_cuda_destroy(c->gemm);
	if (c->stream)
		cudaStreamDestroy(c->stream);
	ac_fwd_tensors_free(&c->ts);
	free(c->host_logits);
	free(c);
}

/* @w's tensors in bf16 on the device, at the same relative offsets. */
static int upload_weights(struct ac_fwd_ctx *c, const struct ac_weights *w)
{
	size_t esz = ac_dtype_size(w->dtype), n = w->bytes / esz;
	size_t chunk = (size_t)64 << 20, off;
	uint16_t *stage;
	int r;

	r = cu(cudaMalloc((void **)&c->base, n * sizeof(uint16_t)));
	if (r < 0)
		return r;
	if (w->dtype == AC_DTYPE_BF16)
		return cu(cudaMemcpy(c->base, w->base, n * sizeof(uint16_t),
				     cudaMemcpyHostToDevice));
	/* fp32 weights: convert a chunk at a time, no full bf16 copy. */
	stage = malloc(chunk * sizeof(uint16_t));
	if (!stage)
		return -ENOMEM;
	for (off = 0; off < n && !r; off += chunk) {
		size_t k = n - off < chunk ? n - off : chunk;

		ac_op_f32_to_bf16_cpu(stage, (const float *)w->base + off, k);
		r = cu(cudaMemcpy(c->base + off, stage, k * sizeof(uint16_t),
				  cudaMemcpyHostToDevice));
	}
	free(stage);
	return r;
}

static int cuda_create(const struct ac_weights *w, uint32_t max_rows,
		       struct ac_fwd_ctx **ret, char *err, size_t errlen)
{
	struct ac_rope_params rp;
	struct ac_fwd_ctx *c;
	float *freq = NULL;
	int device_count = 0, r;

	if (w->dtype != AC_DTYPE_FP32 && w->dtype != AC_DTYPE_BF16)
		return -EOPNOTSUPP;
	if (cudaGetDeviceCount(&device_count) != cudaSuccess ||
	    device_count < 1) {
		if (err)
			snprintf(err, errlen, "no CUDA device");
		return -ENODEV;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cfg = w->cfg;
	freq = malloc(w->cfg.head_dim / 2 * sizeof(float));
	r = -ENOMEM;
	if (!freq)
		goto fail;
	r = cu(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
	if (!r)
		r = ac_gemm_cuda_create(&c->gemm, 0);
	if (!r)
		r = upload_weights(c, w);
	if (r < 0) {
		if (err)
			snprintf(err, errlen, "%s: cannot put the weights on the GPU: %s",
				 w->cfg.name, strerror(-r));
		goto fail;
	}
	r = ac_fwd_tensors_bind(&c->ts, w, c->base, sizeof(uint16_t));
	for (unsigned int i = 0; i < AC_FWD_BUFS && !r; i++)
		r = cu(cudaMalloc((void **)&c->bufs[i],
				  ac_fwd_buf_elems(&w->cfg, max_rows, i) *
					  sizeof(uint16_t)));
	ac_model_rope_params(&w->cfg, &rp);
	if (!r)
		r = ac_rope_inv_freq(freq, w->cfg.head_dim, &rp);
	if (!r)
		r = cu(cudaMalloc((void **)&c->inv_freq,
				  w->cfg.head_dim / 2 * sizeof(float)));
	if (!r)
		r = cu(cudaMemcpy(c->inv_freq, freq,
				  w->cfg.head_dim / 2 * sizeof(float),
				  cudaMemcpyHostToDevice));
	if (r < 0)
		goto fail;
	free(freq);
	*ret = c;
	return 0;
fail:
	free(freq);
	cuda_destroy(c);
	return r;
}

static const void *cuda_tensor(struct ac_fwd_ctx *c, enum ac_wkind k,
			       uint32_t layer)
{
	return ac_fwd_tensor(&c->ts, k, layer);
}

static void *cuda_buf(struct ac_fwd_ctx *c, unsigned int i)
{
	return c->bufs[i];
}

static int cuda_upload(struct ac_fwd_ctx *c, const int32_t *tokens,
		       const int32_t *pos, uint32_t rows,
		       const struct ac_msa_batch *h, struct ac_msa_batch *d)
{
	size_t nblocks = h->table_indptr[h->num_seqs];
	size_t len[DB_COUNT] = {
		[DB_SEG_INDPTR] = h->num_segs + 1, [DB_SEG_SEQ] = h->num_segs,
		[DB_SEG_POS] = h->num_segs,
		[DB_TABLE_INDPTR] = h->num_seqs + 1, [DB_BLOCKS] = nblocks,
		[DB_CTX] = h->num_seqs, [DB_TOKENS] = rows, [DB_POS] = rows,
	};
	const int32_t *src[DB_COUNT] = {
		h->seg_indptr, h->seg_seq, h->seg_pos, h->table_indptr,
		h->block_ids, h->ctx_len, tokens, pos,
	};
	size_t total = 0, off = 0, used = 0;
	bool grow = !c->dev_i32;
	int r;

	for (int i = 0; i < DB_COUNT; i++)
		grow |= len[i] > c->db_cap[i];
	if (grow) {
		size_t cap[DB_COUNT];
		int32_t *st;

		/* Headroom, so a growing context seldom moves the arrays. */
		for (int i = 0; i < DB_COUNT; i++) {
			cap[i] = len[i] + len[i] / 2 + 16;
			if (cap[i] < c->db_cap[i])
				cap[i] = c->db_cap[i];
			cap[i] = (cap[i] + 3) & ~(size_t)3;	/* 16 bytes */
			total += cap[i];
		}
		st = realloc(c->stage, total * 4);
		if (!st)
			return -ENOMEM;
		c->stage = st;
		memset(st, 0, total * 4);
		cudaStreamSynchronize(c->stream);
		cudaFree(c->dev_i32);
		c->dev_i32 = NULL;
		memset(c->db_cap, 0, sizeof(c->db_cap));
		r = cu(cudaMalloc((void **)&c->dev_i32, total * 4));
		if (r < 0)
			return r;
		memcpy(c->db_cap, cap, sizeof(cap));
	}
	for (int i = 0; i < DB_COUNT; i++) {
		memcpy(c->stage + off, src[i], len[i] * 4);
		c->dev_arr[i] = c->dev_i32 + off;
		used = off + len[i];
		off += c->db_cap[i];
	}
	/* The stage is reused next call: wait for the copy to leave it. */
	r = cu(cudaMemcpyAsync(c->dev_i32, c->stage, used * 4,
			       cudaMemcpyHostToDevice, c->stream));
	if (!r)
		r = cu(cudaStreamSynchronize(c->stream));
	*d = *h;
	d->seg_indptr = c->dev_arr[DB_SEG_INDPTR];
	d->seg_seq = c->dev_arr[DB_SEG_SEQ];
	d->seg_pos = c->dev_arr[DB_SEG_POS];
	d->table_indptr = c->dev_arr[DB_TABLE_INDPTR];
	d->block_ids = c->dev_arr[DB_BLOCKS];
	d->ctx_len = c->dev_arr[DB_CTX];
	return r;
}

static int cuda_embedding(struct ac_fwd_ctx *c, void *out, uint32_t rows)
{
	return ac_op_embedding_cuda(out, c->dev_arr[DB_TOKENS], rows,
				    ac_fwd_tensor(&c->ts, AC_WK_TOK_EMBD, 0),
				    c->cfg.vocab,
				    c->cfg.hidden, c->stream);
}

static int cuda_rmsnorm(struct ac_fwd_ctx *c, void *out, const void *x,
			const void *w, uint32_t rows, uint32_t dim, float eps)
{
	return ac_op_rmsnorm_cuda(out, x, w, rows, dim, eps, c->stream);
}

/* A few rows (decode) stream the weights through the GEMV kernel. */
static int cuda_matmul(struct ac_fwd_ctx *c, void *out, const void *in,
		       const void *w, uint32_t m, uint32_t n, uint32_t k)
{
	int r = -EINVAL;

	if (m <= AC_GEMV_MAX_ROWS)
		r = ac_op_gemv_cuda(out, in, w, m, n, k, false, c->stream);
	if (r == -EINVAL)
		r = ac_op_matmul_cuda(c->gemm, out, in, w, m, n, k,
				      c->stream);
	return r;
}

static int cuda_matmul_add(struct ac_fwd_ctx *c, void *out, const void *in,
			   const void *w, uint32_t m, uint32_t n, uint32_t k)
{
	int r = -EINVAL;

	if (m <= AC_GEMV_MAX_ROWS)
		r = ac_op_gemv_cuda(out, in, w, m, n, k, true, c->stream);
	if (r == -EINVAL)
		r = ac_op_matmul_add_cuda(c->gemm, out, in, w, m, n, k,
					  c->stream);
	return r == -EINVAL ? -EOPNOTSUPP : r;
}

static int cuda_qkv(struct ac_fwd_ctx *c, void *q, void *k, void *v,
		    const void *x, const void *norm_w, const void *wqkv,
		    uint32_t rows, float eps)
{
	const struct ac_model_config *g = &c->cfg;
	uint32_t qd = g->n_heads * g->head_dim, kvd = g->n_kv_heads * g->head_dim;
	struct ac_gemv_args a = {
		.out = { q, k, v }, .cols = { qd, kvd, kvd },
		.in = x, .w = wqkv, .m = rows, .n = qd + 2 * kvd,
		.k = g->hidden, .pro = AC_GEMV_PRO_RMSNORM, .norm_w = norm_w,
		.eps = eps, .rope_cols = qd + kvd, .head_dim = g->head_dim,
		.pos = c->dev_arr[DB_POS], .inv_freq = c->inv_freq,
	};
	int r;

	if (rows > AC_GEMV_MAX_ROWS)
		return -EOPNOTSUPP;
	r = ac_op_gemv_ex_cuda(&a, c->stream);
	return r == -EINVAL ? -EOPNOTSUPP : r;
}

static int cuda_norm_matmul(struct ac_fwd_ctx *c, void *out, const void *x,
			    const void *norm_w, const void *w, uint32_t rows,
			    uint32_t n, uint32_t k, float eps)
{
	struct ac_gemv_args a = {
		.out = { out }, .cols = { n }, .in = x, .w = w, .m = rows,
		.n = n, .k = k, .pro = AC_GEMV_PRO_RMSNORM, .norm_w = norm_w,
		.eps = eps,
	};
	int r;

	if (rows > AC_GEMV_MAX_ROWS)
		return -EOPNOTSUPP;
	r = ac_op_gemv_ex_cuda(&a, c->stream);
	return r == -EINVAL ? -EOPNOTSUPP : r;
}

static int cuda_swiglu_matmul_add(struct ac_fwd_ctx *c, void *x,
				  const void *gu, const void *w, uint32_t rows,
				  uint32_t n, uint32_t k)
{
	struct ac_gemv_args a = {
		.out = { x }, .cols = { n }, .in = gu, .w = w, .m = rows,
		.n = n, .k = k, .accumulate = true, .pro = AC_GEMV_PRO_SWIGLU,
	};
	int r;

	if (rows > AC_GEMV_MAX_ROWS)
		return -EOPNOTSUPP;
	r = ac_op_gemv_ex_cuda(&a, c->stream);
	return r == -EINVAL ? -EOPNOTSUPP : r;
}

/* The backend's own part of a recording's key: where its arrays are. */
static size_t own_key(const struct ac_fwd_ctx *c, uint64_t *key)
{
	size_t n = 0;

	key[n++] = (uintptr_t)c->dev_i32;
	for (int i = 0; i < DB_COUNT; i++)
		key[n++] = c->db_cap[i];
	key[n++] = (uintptr_t)c->ws;
	return n;
}

static int cuda_record_begin(struct ac_fwd_ctx *c, const uint64_t *key,
			     size_t nkey)
{
	struct rec *p = &c->pending;
	int r;

	if (nkey + DB_COUNT + 2 > REC_KEY_MAX)
		return -EOPNOTSUPP;
	memcpy(p->key, key, nkey * sizeof(*key));
	p->nkey = nkey + own_key(c, p->key + nkey);
	for (unsigned int i = 0; i < REC_SLOTS; i++) {
		struct rec *s = &c->rec[i];

		if (!s->used || s->nkey != p->nkey ||
		    memcmp(s->key, p->key, p->nkey * sizeof(*p->key)))
			continue;
		s->used = ++c->tick;
		r = cu(cudaGraphLaunch(s->exec, c->stream));
		return r ? r : 1;
	}
	/* Only this thread's calls must keep off the stream meanwhile. */
	return cu(cudaStreamBeginCapture(c->stream,
					 cudaStreamCaptureModeThreadLocal));
}

static int cuda_record_end(struct ac_fwd_ctx *c, int status)
{
	struct rec *s = &c->rec[0];
	cudaGraph_t graph = NULL;
	int r;

	r = cu(cudaStreamEndCapture(c->stream, &graph));
	if (status || r) {
		if (graph)
			cudaGraphDestroy(graph);
		return status ? status : r;
	}
	for (unsigned int i = 1; i < REC_SLOTS; i++)
		if (c->rec[i].used < s->used)
			s = &c->rec[i];
	/* Updating an executable graph in place is cheaper than a new one. */
	if (s->exec) {
		cudaGraphExecUpdateResultInfo info;

		if (cudaGraphExecUpdate(s->exec, graph, &info) != cudaSuccess) {
			cudaGetLastError();
			cudaGraphExecDestroy(s->exec);
			s->exec = NULL;
		}
	}
	if (!s->exec)
		r = cu(cudaGraphInstantiate(&s->exec, graph, 0));
	cudaGraphDestroy(graph);
	if (r) {
		s->exec = NULL;
		s->used = 0;
		return r;
	}
	memcpy(s->key, c->pending.key, c->pending.nkey * sizeof(*s->key));
	s->nkey = c->pending.nkey;
	s->used = ++c->tick;
	return cu(cudaGraphLaunch(s->exec, c->stream));
}

static int cuda_rope(struct ac_fwd_ctx *c, void *q, void *k, uint32_t rows)
{
	const struct ac_model_config *g = &c->cfg;

	return ac_op_rope_cuda(q, g->n_heads * g->head_dim, k,
			       g->n_kv_heads * g->head_dim,
			       c->dev_arr[DB_POS], rows, g->n_heads,
			       g->n_kv_heads, g->head_dim, c->inv_freq,
			       c->stream);
}

static int cuda_swiglu(struct ac_fwd_ctx *c, void *out, const void *gate,
		       const void *up, uint32_t rows, uint32_t dim, uint32_t ld)
{
	return ac_op_swiglu_cuda(out, gate, up, rows, dim, ld, c->stream);
}

static int cuda_residual(struct ac_fwd_ctx *c, void *x, const void *y,
			 size_t n)
{
	return ac_op_residual_cuda(x, y, n, c->stream);
}

static int cuda_gather(struct ac_fwd_ctx *c, void *out, const void *x,
		       const uint32_t *idx, uint32_t n, uint32_t dim)
{
	int r = 0;

	for (uint32_t i = 0; i < n && !r; i++)
		r = cu(cudaMemcpyAsync((uint16_t *)out + (size_t)i * dim,
				       (const uint16_t *)x +
					       (size_t)idx[i] * dim,
				       dim * sizeof(uint16_t),
				       cudaMemcpyDeviceToDevice, c->stream));
	return r;
}

static int cuda_logits_out(struct ac_fwd_ctx *c, float *host,
			   const void *dev, uint32_t n, uint32_t vocab)
{
	size_t k = (size_t)n * vocab;
	int r;

	if (k > c->host_logits_cap) {
		uint16_t *p = realloc(c->host_logits, k * sizeof(*p));

		if (!p)
			return -ENOMEM;
		c->host_logits = p;
		c->host_logits_cap = k;
	}
	r = cu(cudaMemcpyAsync(c->host_logits, dev, k * sizeof(uint16_t),
			       cudaMemcpyDeviceToHost, c->stream));
	if (!r)
		r = cu(cudaStreamSynchronize(c->stream));
	if (!r)
		ac_op_bf16_to_f32_cpu(host, c->host_logits, k);
	return r;
}

static int cuda_argmax_out(struct ac_fwd_ctx *c, int32_t *host,
			   const void *dev, uint32_t n, uint32_t vocab)
{
	int r = 0;

	if (n > AC_FWD_MAX_LOGITS)
		return -E2BIG;
	if (!c->dev_argmax)
		r = cu(cudaMalloc((void **)&c->dev_argmax,
				  AC_FWD_MAX_LOGITS * sizeof(int32_t)));
	if (!r)
		r = ac_op_argmax_cuda(c->dev_argmax, dev, n, vocab, c->stream);
	if (!r)
		r = cu(cudaMemcpyAsync(host, c->dev_argmax, n * sizeof(int32_t),
				       cudaMemcpyDeviceToHost, c->stream));
	if (!r)
		r = cu(cudaStreamSynchronize(c->stream));
	return r;
}

static void *cuda_workspace(struct ac_fwd_ctx *c, size_t bytes)
{
	if (c->ws && bytes <= c->ws_bytes)
		return c->ws;
	cudaStreamSynchronize(c->stream);
	cudaFree(c->ws);
	c->ws = NULL;
	c->ws_bytes = 0;
	/* Headroom: a decode's plan grows a little with its context. */
	bytes = (bytes + bytes / 4 + 65535) & ~(size_t)65535;
	if (cudaMalloc(&c->ws, bytes) != cudaSuccess)
		return NULL;
	c->ws_bytes = bytes;
	return c->ws;
}

static void *cuda_stream(struct ac_fwd_ctx *c)
{
	return c->stream;
}

static int cuda_sync(struct ac_fwd_ctx *c)
{
	return cu(cudaStreamSynchronize(c->stream));
}

const struct ac_fwd_ops ac_fwd_cuda_ops = {
	.name = "cuda",
	.msa = AC_MSA_BACKEND_CUDA,
	.act = AC_DTYPE_BF16,
	.create = cuda_create,
	.destroy = cuda_destroy,
	.tensor = cuda_tensor,
	.buf = cuda_buf,
	.upload = cuda_upload,
	.embedding = cuda_embedding,
	.rmsnorm = cuda_rmsnorm,
	.matmul = cuda_matmul,
	.matmul_add = cuda_matmul_add,
	.rope = cuda_rope,
	.swiglu = cuda_swiglu,
	.residual = cuda_residual,
	.qkv = cuda_qkv,
	.norm_matmul = cuda_norm_matmul,
	.swiglu_matmul_add = cuda_swiglu_matmul_add,
	.record_begin = cuda_record_begin,
	.record_end = cuda_record_end,
	.gather = cuda_gather,
	.logits_out = cuda_logits_out,
	.argmax_out = cuda_argmax_out,
	.workspace = cuda_workspace,
	.stream = cuda_stream,
	.sync = cuda_sync,
};
