/* SPDX-License-Identifier: MIT */
/*
 * The serving core's lifetime: creation, the source of blocks (the
 * daemon's pool, or a private one while the daemon is away), submission,
 * results, and the single-request path built on them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runner_internal.h"

#define DEFAULT_MAX_SEQS	64u
#define DEFAULT_PRIVATE_BYTES	(512ull << 20)
#define RETRY_S			1.0	/* between attempts to re-attach */

double ac_runner_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int runner_grow(void **p, uint32_t *cap, uint32_t want, size_t elem)
{
	uint32_t c = *cap * 2;
	void *n;

	if (want <= *cap)
		return 0;
	if (c < want)
		c = want;
	n = realloc(*p, (size_t)c * elem);
	if (!n)
		return -ENOMEM;
	*p = n;
	*cap = c;
	return 0;
}

static int open_daemon(struct ac_runner *r, struct ac_kvsrc **ret)
{
	struct ac_kvsrc_daemon_opts d = {
		.socket = r->socket, .client_name = r->client_name,
		.nsl = &r->nsl,
		.backend = ac_model_backend(r->model),
	};

	if (!r->socket)
		return -ENOTCONN;
	return ac_kvsrc_daemon_open(&d, ret);
}

/* Errors no retry mends: the pool or the model is wrong for the other. */
static bool fatal_open(int e)
{
	return e == -E2BIG || e == -EMEDIUMTYPE || e == -EACCES ||
	       e == -EPROTONOSUPPORT || e == -EINVAL || e == -ENOMEM;
}

void runner_lose_daemon(struct ac_runner *r)
{
	/* The session died with the daemon: nothing to release. */
	for (uint32_t i = 0; i < r->nreqs; i++) {
		struct sreq *q = r->reqs[i];

		if (q->state != SREQ_RUNNING)
			continue;
		sreq_drop_blocks(r, q, false);
		q->state = SREQ_WAITING;
		q->requeued = true;
	}
	runner_forget_retentions(r);
	ac_kvsrc_close(r->daemon);
	r->daemon = NULL;
	r->src = NULL;
	r->retry_at = ac_runner_now() + RETRY_S;
}

void runner_try_daemon(struct ac_runner *r, double now)
{
	struct ac_kvsrc *d;

	if (r->daemon || !r->socket || now < r->retry_at)
		return;
	if (open_daemon(r, &d) < 0) {
		r->retry_at = now + RETRY_S;
		return;
	}
	/* Back on the cache: what runs privately is recomputed there. */
	for (uint32_t i = 0; i < r->nreqs; i++) {
		struct sreq *q = r->reqs[i];

		if (q->state != SREQ_RUNNING)
			continue;
		sreq_drop_blocks(r, q, true);
		q->state = SREQ_WAITING;
		q->requeued = true;
	}
	r->daemon = d;
	r->src = d;
}

int runner_source(struct ac_runner *r)
{
	uint64_t bb;
	int e;

	if (r->src)
		return 0;
	if (r->daemon) {
		r->src = r->daemon;
		return 0;
	}
	if (!r->priv) {
		bb = ac_kv_block_bytes(&r->nsl.kv);
		if (r->o.private_bytes / bb < 1)
			return -ENOMEM;
		e = ac_kvsrc_local_open(&r->nsl.kv,
					(uint32_t)(r->o.private_bytes / bb),
					ac_model_backend(r->model), &r->priv);
		if (e < 0)
			return e;
	}
	r->src = r->priv;
	return 0;
}

static char *dup_or_null(const char *s, int *e)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*e = -ENOMEM;
	return d;
}

int ac_runner_create(struct ac_model *model, const struct ac_runner_opts *o,
		     struct ac_runner **ret)
{
	const struct ac_model_config *cfg;
	struct ac_runner *r;
	int e = 0;

	if (!model || !o || !o->model_id || !ret || !o->block_tokens ||
	    (o->block_tokens & (o->block_tokens - 1)))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->model = model;
	r->o = *o;
	if (!r->o.max_seqs)
		r->o.max_seqs = DEFAULT_MAX_SEQS;
	/* Every running request may want its logits in the same pass. */
	if (r->o.max_seqs > AC_FWD_MAX_LOGITS)
		r->o.max_seqs = AC_FWD_MAX_LOGITS;
	if (r->o.max_seqs > ac_model_max_rows(model))
		r->o.max_seqs = ac_model_max_rows(model);
	if (!r->o.private_bytes)
		r->o.private_bytes = DEFAULT_PRIVATE_BYTES;
	r->socket = dup_or_null(o->socket, &e);
	r->client_name = dup_or_null(o->client_name, &e);
	r->model_id = dup_or_null(o->model_id, &e);
	r->salt = dup_or_null(o->salt, &e);
	if (e < 0)
		goto fail;
	r->o.socket = r->socket;
	r->o.client_name = r->client_name;
	r->o.model_id = r->model_id;
	r->o.salt = r->salt;
	cfg = ac_model_config(model);
	r->T = o->block_tokens;
	r->vocab = cfg->vocab;
	r->max_ctx = cfg->max_ctx;
	r->nsl.model_id = r->model_id;
	ac_model_kv_layout(model, r->T, &r->nsl.kv);
	e = ac_key_seed_init(&r->seed, &r->nsl, r->salt,
			     r->salt ? strlen(r->salt) : 0, AC_HASH_SHA256);
	if (e < 0)
		goto fail;
	e = open_daemon(r, &r->daemon);
	if (e < 0 && (o->need_daemon || fatal_open(e)))
		goto fail;
	if (e < 0)
		r->retry_at = ac_runner_now() + RETRY_S;
	r->src = r->daemon;
	*ret = r;
	return 0;
fail:
	ac_runner_free(r);
	return e;
}

static void sreq_free(struct sreq *q)
{
	if (!q)
		return;
	free(q->tokens);
	free(q->stop_ids);
	free(q->table);
	free(q->own);
	free(q->keys);
	free(q->runs);
	free(q);
}

struct ac_runner *ac_runner_free(struct ac_runner *r)
{
	if (!r)
		return NULL;
	for (uint32_t i = 0; i < r->nreqs; i++) {
		if (r->reqs[i]->state == SREQ_RUNNING && r->src)
			sreq_drop_blocks(r, r->reqs[i], true);
		sreq_free(r->reqs[i]);
	}
	for (uint32_t i = 0; i < r->ndone; i++)
		sreq_free(r->done[i]);
	free(r->reqs);
	free(r->done);
	ac_kvsrc_close(r->daemon);
	ac_kvsrc_close(r->priv);
	ac_batch_free(&r->batch);
	free(r->tok);
	free(r->logit_rows);
	free(r->logits);
	free(r->argmax);
	free(r->grants);
	free(r->found);
	free(r->drop);
	free(r->alloc);
	free(r->idx);
	free(r->segs);
	free(r->ce);
	free(r->order);
	free(r->sseg);
	free(r->spw);
	free(r->rets);
	free(r->chunks);
	free(r->socket);
	free(r->client_name);
	free(r->model_id);
	free(r->salt);
	free(r);
	return NULL;
}

bool ac_runner_cached(const struct ac_runner *r)
{
	return r && r->src && r->src->shared;
}

int ac_runner_submit(struct ac_runner *r, const struct ac_request *rq)
{
	struct sreq *q;
	uint32_t cap;

	if (!r || !rq || !rq->prompt || !rq->n || !rq->max_tokens ||
	    (rq->n_stop_ids && !rq->stop_ids))
		return -EINVAL;
	if ((uint64_t)rq->n + rq->max_tokens > r->max_ctx)
		return -E2BIG;
	for (uint32_t i = 0; i < rq->n; i++)
		if (rq->prompt[i] < 0 || (uint32_t)rq->prompt[i] >= r->vocab)
			return -EINVAL;
	for (uint32_t i = 0; i < r->nreqs; i++)
		if (r->reqs[i]->id == rq->id)
			return -EEXIST;
	for (uint32_t i = 0; i < r->ndone; i++)
		if (r->done[i]->id == rq->id)
			return -EEXIST;
	if (runner_grow((void **)&r->reqs, &r->capreqs, r->nreqs + 1,
			sizeof(*r->reqs)) < 0)
		return -ENOMEM;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	cap = rq->n + rq->max_tokens;
	q->cap = cap;
	q->capb = cap / r->T + 2;
	q->tokens = malloc(sizeof(*q->tokens) * cap);
	q->table = malloc(sizeof(*q->table) * q->capb);
	q->own = calloc(q->capb, 1);
	q->keys = malloc(sizeof(*q->keys) * q->capb);
	q->runs = malloc(sizeof(*q->runs) * q->capb);
	q->stop_ids = rq->n_stop_ids ? malloc(sizeof(int32_t) * rq->n_stop_ids)
				     : NULL;
	if (!q->tokens || !q->table || !q->own || !q->keys || !q->runs ||
	    (rq->n_stop_ids && !q->stop_ids)) {
		sreq_free(q);
		return -ENOMEM;
	}
	memcpy(q->tokens, rq->prompt, sizeof(int32_t) * rq->n);
	if (rq->n_stop_ids)
		memcpy(q->stop_ids, rq->stop_ids,
		       sizeof(int32_t) * rq->n_stop_ids);
	q->id = rq->id;
	q->n_prompt = q->len = rq->n;
	q->max_tokens = rq->max_tokens;
	q->n_stop_ids = rq->n_stop_ids;
	q->sampler = rq->sampler;
	q->arrival_s = rq->arrival_s > 0 ? rq->arrival_s : ac_runner_now();
	q->st.prompt_tokens = rq->n;
	q->st.arrival_s = q->arrival_s;
	q->program = rq->program;
	q->program_arrival_s = rq->program_arrival_s > 0 ? rq->program_arrival_s
							  : q->arrival_s;
	q->retain = rq->retain;
	q->retain_ttl_ms = rq->retain_ttl_ms;
	q->expect_ms = rq->expect_ms;
	q->state = SREQ_WAITING;
	r->reqs[r->nreqs++] = q;
	return 0;
}

uint32_t ac_runner_live(const struct ac_runner *r)
{
	return r ? r->nreqs + r->ndone : 0;
}

double ac_runner_next_arrival(const struct ac_runner *r)
{
	double t = -1;

	for (uint32_t i = 0; r && i < r->nreqs; i++)
		if (r->reqs[i]->state == SREQ_WAITING &&
		    (t < 0 || r->reqs[i]->arrival_s < t))
			t = r->reqs[i]->arrival_s;
	return t;
}

/* Hand @q over as a result and free it. */
static int take_at(struct ac_runner *r, uint32_t i, struct ac_result *res)
{
	struct sreq *q = r->done[i];
	uint32_t ngen = sreq_ngen(q);

	*res = (struct ac_result){ .id = q->id, .status = q->status,
				   .n = ngen, .st = q->st };
	res->tokens = malloc(sizeof(int32_t) * (ngen ? ngen : 1));
	if (!res->tokens)
		return -ENOMEM;
	memcpy(res->tokens, q->tokens + q->n_prompt,
	       sizeof(int32_t) * ngen);
	res->st.generated = ngen;
	res->st.ttft_s = ngen ? q->first_s - q->arrival_s : 0;
	res->st.decode_s = ngen > 1 ? q->done_s - q->first_s : 0;
	res->st.finish_s = q->done_s;
	memmove(r->done + i, r->done + i + 1,
		sizeof(*r->done) * (r->ndone - i - 1));
	r->ndone--;
	sreq_free(q);
	return 0;
}

int ac_runner_take(struct ac_runner *r, struct ac_result *res)
{
	if (!r || !res)
		return -EINVAL;
	if (!r->ndone)
		return -ENOENT;
	return take_at(r, 0, res);
}

void ac_result_free(struct ac_result *res)
{
	if (res) {
		free(res->tokens);
		res->tokens = NULL;
	}
}

int ac_runner_keys(struct ac_runner *r, const int32_t *prompt, uint32_t n,
		   struct ac_key *keys, size_t *nkeys, uint32_t *ret_ns)
{
	if (!r || !ret_ns)
		return -EINVAL;
	if (!r->daemon)
		return -ENOTCONN;
	*ret_ns = r->daemon->ns;
	return ac_keys_compute(&r->seed, prompt, n, r->T, keys, nkeys);
}

/* The single-request path: one id, its tokens to the caller's callback. */
struct gen_tap {
	uint64_t id;
	const struct ac_gen_opts *g;
	ac_stream_fn prev;
	void *prev_ud;
};

static int gen_tap(uint64_t id, int32_t token, void *ud)
{
	struct gen_tap *t = ud;

	if (id != t->id)
		return t->prev ? t->prev(id, token, t->prev_ud) : 0;
	return t->g->on_token ? t->g->on_token(token, t->g->userdata) : 0;
}

int ac_runner_generate(struct ac_runner *r, const int32_t *prompt,
		       uint32_t n, const struct ac_gen_opts *g, int32_t *out,
		       uint32_t *ret_n, struct ac_gen_stats *st)
{
	struct gen_tap tap;
	struct ac_request rq;
	struct ac_result res;
	struct ac_step_info info;
	int e;

	if (!r || !prompt || !n || !g || !out || !ret_n || !st)
		return -EINVAL;
	tap = (struct gen_tap){ .id = UINT64_MAX - r->admit_seq, .g = g,
				.prev = r->o.on_token,
				.prev_ud = r->o.userdata };
	rq = (struct ac_request){ .id = tap.id, .prompt = prompt, .n = n,
				  .max_tokens = g->max_tokens,
				  .stop_ids = g->stop_ids,
				  .n_stop_ids = g->n_stop_ids,
				  .sampler = g->sampler };
	e = ac_runner_submit(r, &rq);
	if (e < 0)
		return e;
	r->o.on_token = gen_tap;
	r->o.userdata = &tap;
	for (;;) {
		uint32_t i;

		for (i = 0; i < r->ndone && r->done[i]->id != tap.id; i++)
			;
		if (i < r->ndone) {
			e = take_at(r, i, &res);
			break;
		}
		e = ac_runner_step(r, &info);
		if (e < 0)
			break;
	}
	r->o.on_token = tap.prev;
	r->o.userdata = tap.prev_ud;
	if (e < 0)
		return e;
	memcpy(out, res.tokens, sizeof(int32_t) * res.n);
	*ret_n = res.n;
	*st = res.st;
	e = res.status;
	ac_result_free(&res);
	return e;
}
