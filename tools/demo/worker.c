/* SPDX-License-Identifier: MIT */
/*
 * One client process: its own connection and session, the requests
 * idx, idx + clients, ... of the trace, each one lookup -> alloc (holes and
 * tail) -> write KV bytes -> commit -> release, counted in the shared
 * counters and priced with the cost model.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"

#define COUNT(w, field, v) DEMO_COUNT((w)->sh, (w)->cnt, field, v)

struct worker {
	const struct demo *d;
	struct demo_shared *sh;
	struct ac_client *c;
	struct ac_pool *pool;
	uint32_t ns;
	struct ac_key_seed seed;
	struct demo_counters *cnt;
	int32_t *tokens;
	struct ac_key *keys;
	uint32_t *blocks;
	struct ac_segment *segs;
	uint32_t *pins;
	struct ac_commit_entry *ents;
	size_t npins;
};

static void note_error(struct worker *w, const char *what, int r)
{
	COUNT(w, errors, 1);
	snprintf(w->sh->errmsg, sizeof(w->sh->errmsg), "%s: %s (%s)", what,
		 ac_strerror(r), ac_client_last_error(w->c));
}

/* Fill the misses of one request: alloc in chunks, write, commit. */
static int fill_misses(struct worker *w, size_t nkeys)
{
	const struct ac_pool_info *pi = ac_pool_info(w->pool);
	void *base = ac_pool_base(w->pool);
	uint32_t alloc[DEMO_CHUNK_BLOCKS], out[DEMO_CHUNK_BLOCKS], dd;
	size_t i = 0;
	int r;

	while (i < nkeys) {
		size_t n = 0;

		while (i < nkeys && n < DEMO_CHUNK_BLOCKS) {
			if (w->blocks[i] == AC_NO_BLOCK) {
				struct ac_commit_entry *e = &w->ents[n];

				memset(e, 0, sizeof(*e));
				e->key = w->keys[i];
				e->position = i;
				if (i)
					e->parent = w->keys[i - 1];
				n++;
			}
			i++;
		}
		if (!n)
			break;
		r = ac_alloc(w->c, w->ns, n, alloc);
		if (r == -ENOSPC || r == -EDQUOT) {
			/*
			 * Everything else is pinned right now, or this worker
			 * holds its quota: skip the rest.
			 */
			COUNT(w, enospc, 1);
			return 0;
		}
		if (r < 0)
			return r;
		for (size_t k = 0; k < n; k++) {
			/* Here an engine would run MSA over the holes' queries. */
			w->ents[k].block = alloc[k];
			demo_block_write(base, pi->block_bytes, alloc[k],
					 &w->d->layout.kv, &w->ents[k].key);
		}
		r = ac_commit(w->c, w->ns, w->ents, n, out, &dd);
		if (r < 0) {
			ac_release(w->c, alloc, n, NULL);
			return r;
		}
		COUNT(w, written_blocks, n - dd);
		COUNT(w, dedups, dd);
		memcpy(&w->pins[w->npins], out, n * sizeof(uint32_t));
		w->npins += n;
	}
	return 0;
}

static int run_request(struct worker *w, const struct ac_trace_req *rq)
{
	const struct demo *d = w->d;
	const struct ac_pool_info *pi = ac_pool_info(w->pool);
	struct ac_lookup_result res = { 0 };
	size_t ntok = rq->input, nkeys = DEMO_MAX_KEYS, last_hit = 0;
	size_t first_miss;
	uint32_t bt = d->layout.kv.block_tokens;
	double msa_s = 0, prefix_s = 0;
	bool any_hit = false;
	int r;

	if (ntok > d->o.max_tokens)
		ntok = d->o.max_tokens;
	if (ntok > (size_t)rq->nhash * AC_TRACE_BLOCK_TOKENS)
		ntok = (size_t)rq->nhash * AC_TRACE_BLOCK_TOKENS;
	for (uint32_t h = 0; h * AC_TRACE_BLOCK_TOKENS < ntok; h++)
		demo_hash_tokens(rq->hash[h],
				 w->tokens + h * AC_TRACE_BLOCK_TOKENS);
	r = ac_keys_compute(&w->seed, w->tokens, ntok, bt, w->keys, &nkeys);
	if (r < 0)
		return r;
	COUNT(w, requests, 1);
	if (nkeys == 0)
		return 0;
	COUNT(w, prompt_blocks, nkeys);

	res.blocks = w->blocks;
	res.segments = w->segs;
	res.max_segments = nkeys;
	r = ac_lookup(w->c, w->ns, w->keys, nkeys, &res);
	if (r == -EDQUOT) {
		/* Its hits would take this worker past its quota: skip it. */
		COUNT(w, enospc, 1);
		return 0;
	}
	if (r < 0)
		return r;
	w->npins = 0;
	first_miss = nkeys;
	for (size_t i = 0; i < nkeys; i++) {
		if (w->blocks[i] == AC_NO_BLOCK) {
			if (first_miss == nkeys)
				first_miss = i;
			continue;
		}
		w->pins[w->npins++] = w->blocks[i];
		any_hit = true;
		last_hit = i;
		if (!demo_block_ok(ac_pool_base(w->pool), pi->block_bytes,
				   w->blocks[i], &d->layout.kv, &w->keys[i]))
			COUNT(w, corrupt, 1);
	}
	COUNT(w, hit_blocks, res.hits);
	/*
	 * Price both ways of refilling this prompt with the same model: MSA
	 * runs every miss segment as a query segment at its own position
	 * (one segment_s each); prefix-only reuse must recompute everything
	 * from the first miss on as one segment, hits after it included.
	 */
	for (size_t s = 0; s < res.nsegments; s++) {
		const struct ac_segment *g = &res.segments[s];

		if (g->hit)
			continue;
		msa_s += ac_cost_recompute_s(&d->cost, g->len * bt,
					     (uint64_t)g->start * bt, 1);
		if (any_hit && g->start < last_hit) {
			COUNT(w, hole_blocks, g->len);
			COUNT(w, hole_runs, 1);
		} else {
			COUNT(w, tail_blocks, g->len);
		}
	}
	if (first_miss < nkeys)
		prefix_s = ac_cost_recompute_s(&d->cost, (nkeys - first_miss) * bt,
					       (uint64_t)first_miss * bt, 1);
	COUNT(w, prefix_blocks, nkeys - first_miss);
	COUNT(w, msa_ns, llround(msa_s * 1e9));
	COUNT(w, prefix_ns, llround(prefix_s * 1e9));

	r = fill_misses(w, nkeys);
	/* Prefill done and decode would follow; then the pins go. */
	if (w->npins) {
		int r2 = ac_release(w->c, w->pins, w->npins, NULL);

		if (r == 0)
			r = r2;
	}
	return r;
}

int demo_worker_main(const struct demo *d, unsigned idx)
{
	const struct demo_opts *o = &d->o;
	struct worker w = { .d = d, .sh = d->sh, .cnt = &d->sh->per[idx] };
	size_t maxk = o->max_tokens / d->layout.kv.block_tokens + 1;
	char name[32];
	int r;

	snprintf(name, sizeof(name), "demo-%u", idx);
	r = ac_connect(o->socket, name, &w.c);
	if (r < 0) {
		snprintf(w.sh->errmsg, sizeof(w.sh->errmsg), "connect %s: %s",
			 o->socket, ac_strerror(r));
		COUNT(&w, errors, 1);
		return 1;
	}
	r = ac_attach(w.c, 0, &w.pool);
	if (r == 0)
		r = ac_register_namespace(w.c, w.pool, &d->layout, &w.ns);
	if (r == 0)
		r = ac_key_seed_init(&w.seed, &d->layout, NULL, 0,
				     AC_HASH_SHA256);
	if (r < 0) {
		note_error(&w, "attach/register", r);
		ac_disconnect(w.c);
		return 1;
	}
	w.tokens = malloc((o->max_tokens + AC_TRACE_BLOCK_TOKENS) * sizeof(int32_t));
	w.keys = malloc(maxk * sizeof(*w.keys));
	w.blocks = malloc(maxk * sizeof(*w.blocks));
	w.segs = malloc(maxk * sizeof(*w.segs));
	w.pins = malloc(2 * maxk * sizeof(*w.pins));
	w.ents = malloc(DEMO_CHUNK_BLOCKS * sizeof(*w.ents));
	if (!w.tokens || !w.keys || !w.blocks || !w.segs || !w.pins || !w.ents) {
		r = -ENOMEM;
		note_error(&w, "malloc", r);
		goto out;
	}
	for (size_t i = idx; i < d->trace.n; i += o->clients) {
		if (o->lockstep && demo_turn_wait(w.sh, i) < 0)
			break;	/* someone else failed and said why */
		r = run_request(&w, &d->trace.reqs[i]);
		if (r < 0) {
			note_error(&w, "request", r);
			break;
		}
		if (o->lockstep)
			demo_turn_set(w.sh, i + 1);
	}
out:
	free(w.tokens);
	free(w.keys);
	free(w.blocks);
	free(w.segs);
	free(w.pins);
	free(w.ents);
	ac_disconnect(w.c);
	return r < 0 ? 1 : 0;
}
