/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runner.h"

struct ac_runner {
	struct ac_model *model;
	struct ac_client *client;
	struct ac_pool *pool;
	struct ac_kv_pool kv;
	struct ac_key_seed seed;
	uint32_t ns, T, vocab;
	enum ac_reuse reuse;
	float *logits;
	/* Reused by every forward pass: a decode step allocates nothing. */
	struct ac_batch batch;
	int32_t *tok;
	uint32_t tok_cap;
};

/* The state of one request; every array is sized for prompt + output. */
struct req {
	int32_t *tokens;
	uint32_t len;
	uint32_t *table;	/* pool block of each logical block */
	uint32_t nb;		/* entries of table we hold (pin/WRITING) */
	struct ac_key *keys;	/* of the full blocks */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int ac_runner_create(struct ac_model *model, const struct ac_runner_opts *o,
		     struct ac_runner **ret)
{
	struct ac_ns_layout nsl;
	const struct ac_pool_info *pi;
	struct ac_runner *r;
	int e;

	if (!model || !o || !o->socket || !o->model_id || !ret ||
	    !o->block_tokens)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->model = model;
	r->T = o->block_tokens;
	r->reuse = o->reuse;
	r->vocab = ac_model_config(model)->vocab;
	r->logits = malloc(sizeof(float) * r->vocab);
	if (!r->logits) {
		e = -ENOMEM;
		goto fail;
	}
	nsl.model_id = o->model_id;
	ac_model_kv_layout(model, o->block_tokens, &nsl.kv);
	e = ac_connect(o->socket, o->client_name ? o->client_name
						  : "asymcache-engine",
		       &r->client);
	if (!e)
		e = ac_attach(r->client, 0, &r->pool);
	if (!e)
		e = ac_register_namespace(r->client, r->pool, &nsl, &r->ns);
	if (!e)
		e = ac_key_seed_init(&r->seed, &nsl, o->salt,
				     o->salt ? strlen(o->salt) : 0,
				     AC_HASH_SHA256);
	if (e < 0)
		goto fail;
	pi = ac_pool_info(r->pool);
	/* Host pools hold the CPU backend's fp32, CUDA pools bf16. */
	if ((pi->backend == AC_BACKEND_CUDA) != (nsl.kv.dtype == AC_DTYPE_BF16)) {
		e = -EMEDIUMTYPE;
		goto fail;
	}
	r->kv = (struct ac_kv_pool){ .base = ac_pool_base(r->pool),
				     .block_bytes = pi->block_bytes,
				     .num_blocks = pi->nblocks,
				     .layout = nsl.kv };
	*ret = r;
	return 0;
fail:
	ac_runner_free(r);
	return e;
}

struct ac_runner *ac_runner_free(struct ac_runner *r)
{
	if (r) {
		ac_disconnect(r->client);
		ac_batch_free(&r->batch);
		free(r->tok);
		free(r->logits);
		free(r);
	}
	return NULL;
}

int ac_runner_keys(struct ac_runner *r, const int32_t *prompt, uint32_t n,
		   struct ac_key *keys, size_t *nkeys, uint32_t *ret_ns)
{
	if (!r || !ret_ns)
		return -EINVAL;
	*ret_ns = r->ns;
	return ac_keys_compute(&r->seed, prompt, n, r->T, keys, nkeys);
}

/* Forward @runs over the request's table; logits of the last row. */
static int forward(struct ac_runner *r, struct req *q, uint32_t ctx,
		   const struct ac_run *runs, size_t nruns)
{
	struct ac_batch *b = &r->batch;
	struct ac_msa_batch mb;
	uint32_t last;
	int e;

	ac_batch_reset(b);
	e = ac_batch_add(b, q->table, q->nb, ctx, r->T, runs, nruns);
	if (e < 0)
		return e;
	if (b->num_rows > r->tok_cap) {
		int32_t *t = realloc(r->tok, sizeof(*t) * b->num_rows);

		if (!t)
			return -ENOMEM;
		r->tok = t;
		r->tok_cap = b->num_rows;
	}
	for (uint32_t i = 0; i < b->num_rows; i++)
		r->tok[i] = q->tokens[b->row_pos[i]];
	ac_model_batch_view(b, &mb);
	last = b->num_rows - 1;
	return ac_model_forward(r->model, &r->kv, &mb, r->tok, b->row_pos,
				&last, 1, r->logits);
}

/* Publish logical blocks @idx[0..n) (full, computed by us): dedup swaps. */
static int commit(struct ac_runner *r, struct req *q, const uint32_t *idx,
		  uint32_t n, struct ac_gen_stats *st)
{
	struct ac_commit_entry *ce;
	uint32_t *got, dedup = 0;
	int e = -ENOMEM;

	if (!n)
		return 0;
	ce = calloc(n, sizeof(*ce));
	got = calloc(n, sizeof(*got));
	if (!ce || !got)
		goto out;
	for (uint32_t i = 0; i < n; i++) {
		ce[i].key = q->keys[idx[i]];
		ce[i].block = q->table[idx[i]];
		ce[i].position = idx[i];
		if (idx[i])
			ce[i].parent = q->keys[idx[i] - 1];
	}
	e = ac_commit(r->client, r->ns, ce, n, got, &dedup);
	if (e < 0)
		goto out;
	for (uint32_t i = 0; i < n; i++)
		q->table[idx[i]] = got[i];
	st->committed += n;
	st->deduped += dedup;
out:
	free(ce);
	free(got);
	return e;
}

static int next_token(struct ac_runner *r, const struct ac_gen_opts *g,
		      int32_t *tok)
{
	if (g->sampler)
		return ac_op_sample_cpu(g->sampler, r->logits, tok);
	return ac_op_argmax_cpu(tok, r->logits, 1, r->vocab);
}

static bool is_stop(const struct ac_gen_opts *g, int32_t t)
{
	for (uint32_t i = 0; i < g->n_stop_ids; i++)
		if (g->stop_ids[i] == t)
			return true;
	return false;
}

/* The prompt: Lookup, plan, Alloc, one forward pass, Commit. */
static int prefill(struct ac_runner *r, struct req *q, uint32_t n,
		   struct ac_gen_stats *st)
{
	uint32_t nkeys = n / r->T, nblocks = (n + r->T - 1) / r->T;
	uint32_t *found = NULL, *drop = NULL, *alloc = NULL, *idx = NULL;
	struct ac_segment *segs = NULL;
	struct ac_run *runs = NULL;
	struct ac_lookup_result res = { 0 };
	struct ac_reuse_plan plan;
	size_t nk = nkeys;
	uint32_t ncommit = 0;
	int e = -ENOMEM;

	found = malloc(sizeof(*found) * (nkeys + 1));
	segs = malloc(sizeof(*segs) * (nkeys + 1));
	drop = malloc(sizeof(*drop) * (nkeys + 1));
	alloc = malloc(sizeof(*alloc) * nblocks);
	idx = malloc(sizeof(*idx) * nblocks);
	runs = malloc(sizeof(*runs) * nblocks);
	if (!found || !segs || !drop || !alloc || !idx || !runs)
		goto out;
	e = ac_keys_compute(&r->seed, q->tokens, n, r->T, q->keys, &nk);
	if (e < 0)
		goto out;
	res = (struct ac_lookup_result){ .blocks = found, .segments = segs,
					 .max_segments = nkeys + 1 };
	if (nkeys) {
		e = ac_lookup(r->client, r->ns, q->keys, nkeys, &res);
		if (e < 0)
			goto out;
	}
	st->hit_blocks = res.hits;
	plan = (struct ac_reuse_plan){ .table = q->table, .runs = runs,
				       .max_runs = nblocks, .drop = drop };
	e = ac_reuse_plan(&res, nkeys, n, r->T, r->reuse, &plan);
	if (e < 0) {
		/* Nothing is in the table yet: hand every hit back. */
		uint32_t nh = 0;

		for (uint32_t i = 0; i < nkeys; i++)
			if (found[i] != AC_NO_BLOCK)
				drop[nh++] = found[i];
		ac_release(r->client, drop, nh, NULL);
		goto out;
	}
	/* From here the table's non-empty entries are ours to release. */
	for (uint32_t i = 0; i < plan.nblocks; i++)
		if (q->table[i] == AC_NO_BLOCK)
			idx[ncommit++] = i;
	q->nb = (uint32_t)plan.nblocks;
	if (plan.ndrop) {
		e = ac_release(r->client, drop, plan.ndrop, NULL);
		if (e < 0)
			goto out;
	}
	e = ac_alloc(r->client, r->ns, (uint32_t)plan.nalloc, alloc);
	if (e < 0) {
		/* Keep the release at the end from touching empty slots. */
		for (uint32_t i = 0; i < ncommit; i++)
			q->table[idx[i]] = AC_NO_BLOCK;
		goto out;
	}
	e = ac_reuse_fill(&plan, alloc, plan.nalloc);
	if (e < 0)
		goto out;
	st->reused_tokens = plan.reused_tokens;
	st->hole_runs = (uint32_t)plan.nruns - 1;
	st->computed_tokens = n - plan.reused_tokens;
	e = forward(r, q, n, runs, plan.nruns);
	if (e < 0)
		goto out;
	/* The partial tail block stays WRITING: it has no key yet. */
	if (ncommit && idx[ncommit - 1] >= nkeys)
		ncommit--;
	e = commit(r, q, idx, ncommit, st);
out:
	free(found);
	free(segs);
	free(drop);
	free(alloc);
	free(idx);
	free(runs);
	return e;
}

/* Append token @t at position q->len and run it; commit a filled block. */
static int decode_step(struct ac_runner *r, struct req *q, int32_t t,
		       struct ac_gen_stats *st)
{
	struct ac_key_seed chain = r->seed;
	uint32_t p = q->len, blk;
	size_t nk = 1;
	int e;

	q->tokens[q->len++] = t;
	if (p % r->T == 0) {
		e = ac_alloc(r->client, r->ns, 1, &q->table[q->nb]);
		if (e < 0)
			return e;
		q->nb++;
	}
	e = forward(r, q, q->len, &(struct ac_run){ p, 1 }, 1);
	if (e < 0 || q->len % r->T)
		return e;
	/* Only the block that filled: its key chains from the one before. */
	blk = q->len / r->T - 1;
	if (blk)
		chain.seed = q->keys[blk - 1];
	e = ac_keys_compute(&chain, q->tokens + (size_t)blk * r->T, r->T, r->T,
			    &q->keys[blk], &nk);
	if (e < 0)
		return e;
	return commit(r, q, &blk, 1, st);
}

int ac_runner_generate(struct ac_runner *r, const int32_t *prompt,
		       uint32_t n, const struct ac_gen_opts *g, int32_t *out,
		       uint32_t *ret_n, struct ac_gen_stats *st)
{
	const struct ac_model_config *cfg;
	uint32_t cap, capb, ngen = 0;
	struct req q = { 0 };
	double t0 = now_s(), t1 = t0;
	int32_t tok;
	int e = -ENOMEM;

	if (!r || !prompt || !n || !g || !out || !ret_n || !st)
		return -EINVAL;
	cfg = ac_model_config(r->model);
	memset(st, 0, sizeof(*st));
	st->prompt_tokens = n;
	cap = n + g->max_tokens;
	if (cap > cfg->max_ctx)
		return -E2BIG;
	capb = cap / r->T + 2;
	q.tokens = malloc(sizeof(*q.tokens) * cap);
	q.table = malloc(sizeof(*q.table) * capb);
	q.keys = malloc(sizeof(*q.keys) * capb);
	if (!q.tokens || !q.table || !q.keys)
		goto out;
	memcpy(q.tokens, prompt, sizeof(*prompt) * n);
	q.len = n;
	e = prefill(r, &q, n, st);
	while (!e && ngen < g->max_tokens) {
		e = next_token(r, g, &tok);
		if (e < 0)
			break;
		out[ngen++] = tok;
		if (ngen == 1)
			t1 = now_s();
		if ((g->on_token && g->on_token(tok, g->userdata)) ||
		    is_stop(g, tok) || ngen == g->max_tokens)
			break;
		e = decode_step(r, &q, tok, st);
	}
	st->generated = ngen;
	st->ttft_s = t1 - t0;
	st->decode_s = ngen > 1 ? now_s() - t1 : 0;
	*ret_n = ngen;
out:
	if (q.nb) {
		/* Drop empty slots (a failed Alloc) before the release. */
		uint32_t k = 0;

		for (uint32_t i = 0; i < q.nb; i++)
			if (q.table[i] != AC_NO_BLOCK)
				q.table[k++] = q.table[i];
		int re = ac_release(r->client, q.table, k, NULL);

		if (!e)
			e = re;
	}
	free(q.tokens);
	free(q.table);
	free(q.keys);
	return e;
}
