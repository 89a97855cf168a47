/* SPDX-License-Identifier: MIT */
/*
 * The simulator's own block index: a pool of nblocks blocks of the trace's
 * 512 tokens, hash id -> CACHED block, pins, a free stack. It drives the
 * policy exactly as policy.h says the core must, and checks the policy's
 * answers (a victim must be CACHED and unpinned).
 *
 * Admission is FCFS. As vLLM serves, a request takes its prompt's blocks
 * at admission and each output block when decoding reaches it; when no
 * block can be had the latest admitted request is preempted and recomputed
 * later, and prompt blocks are published as each chunk completes
 * (sim_config says how to bring back the older all-up-front model).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy-internal.h"	/* asym's ablations */
#include "retain.h"
#include "sim.h"

#define NONE UINT32_MAX

const uint32_t sim_bucket_lo[SIM_NBUCKETS] = { 0, 4096, 16384, 65536 };

static const struct {
	const char *name;
	unsigned terms;
} ablations[] = {
	{ "asym-flat", ASYM_ABLATE_POSITION },
	{ "asym-nofreq", ASYM_ABLATE_FREQUENCY },
	{ "asym-flat-nofreq", ASYM_ABLATE_POSITION | ASYM_ABLATE_FREQUENCY },
	{ "asym-aged", ASYM_AGE_FREQUENCY },
	{ "asym-classic", ASYM_CLASSIC },
	{ "asym-fixedprior", ASYM_FIXED_PRIOR },
};

bool sim_policy_known(const char *name)
{
	for (size_t i = 0; i < sizeof(ablations) / sizeof(ablations[0]); i++)
		if (!strcmp(name, ablations[i].name))
			return true;
	return ac_policy_find(name) != NULL;
}

static int policy_create(const char *name, uint32_t nblocks,
			 struct ac_policy **ret)
{
	int r;

	for (size_t i = 0; i < sizeof(ablations) / sizeof(ablations[0]); i++) {
		if (strcmp(name, ablations[i].name))
			continue;
		r = ac_policy_create("asym", nblocks, ret);
		if (r < 0)
			return r;
		r = asym_set_ablation(*ret, ablations[i].terms);
		if (r < 0)
			*ret = ac_policy_free(*ret);
		return r;
	}
	return ac_policy_create(name, nblocks, ret);
}

int sim_bucket_of(uint32_t input_tokens)
{
	int b = SIM_NBUCKETS - 1;

	while (b > 0 && input_tokens < sim_bucket_lo[b])
		b--;
	return b;
}

enum { B_FREE, B_WRITING, B_CACHED };
enum { R_FUTURE, R_WAITING, R_PREFILL, R_DECODE, R_RETAINED, R_DONE };

struct blk {
	uint32_t hash;
	uint32_t parent_hash;	/* NONE at chain index 0 */
	uint32_t pos;
	uint32_t pins;
	uint8_t state;
	double last;		/* last release or hit, for a policy replay */
};

struct seg {
	uint64_t start;
	uint32_t len;
};

struct run {
	uint8_t state;
	bool counted;		/* its reads left refs_left */
	uint32_t nbmax;		/* blocks of prompt + output */
	uint32_t nb;		/* blocks held: blocks[0..nb) */
	uint32_t full;		/* publishable prompt blocks */
	uint32_t npub;		/* full blocks published or hit, a prefix */
	uint32_t ctx;		/* tokens the prefill leaves in KV */
	uint32_t *blocks;
	uint8_t *hit;		/* per full block: reused, not computed */
	struct seg *pend;
	uint32_t npend, pend0;
	uint32_t generated;
	double arrival, first, finish;
	double ready;		/* agent mode: when the tool call returns */
	uint64_t retain_handle;	/* of the retention this turn made */
	uint8_t retain_kind;	/* RK_*: live retention of this turn */
};

struct sim {
	const struct ac_trace *t;
	const struct sim_config *cfg;
	struct sim_result *res;
	struct ac_policy *pol;
	const char *cur_policy;	/* name pol was created by */
	struct ac_policy_ns ns;
	uint32_t nblocks;
	struct blk *b;
	uint32_t *free_stack;
	uint32_t nfree;
	uint32_t nevictable;	/* CACHED, pins == 0 */
	uint32_t *by_hash;
	uint8_t *seen;		/* hash computed at least once */
	uint32_t *refs_left;	/* admissions still to come that read a hash */
	uint32_t ncached, ncached_dead;
	double dead_area, dead_t;
	struct run *run;
	uint32_t *active;	/* admitted, not done, admission order */
	uint32_t nactive;
	uint32_t *waiting;	/* FIFO of arrived requests */
	size_t wq_head, wq_tail;
	double now;
	struct ac_retain *retain;	/* hard: pinned, within the budget */
	struct ac_retain *soft;		/* soft: hints to the policy */
	struct ac_tool_stats *learned;	/* tool calls seen per program */
	uint32_t *hard_req, *soft_req;	/* retention handle -> its turn */
	uint64_t hard_blocks, budget_blocks;
	struct ac_space_price price;	/* what evictions let go */
	double paused_tokens, paused_area, paused_t;	/* paused KV over time */
	double *ttft, *tpot, *job;
	size_t nttft, ntpot, njob;
	double *bttft[SIM_NBUCKETS];	/* TTFT by prompt-length bucket */
	size_t nbttft[SIM_NBUCKETS];
	uint32_t *victims;
	struct ac_chunk_seg *csegs;
	struct ac_chunk_pick *picks;
	uint32_t cseg_cap;
};

static uint64_t ns_of(double s)
{
	return (uint64_t)llround(s * 1e9);
}

static void digest_add(uint64_t *d, double x)
{
	uint64_t v;

	memcpy(&v, &x, sizeof(v));
	*d = (*d ^ v) * 0x100000001b3ull;
}

static void b_pin(struct sim *s, uint32_t id)
{
	if (s->b[id].pins++ == 0) {
		s->nevictable--;
		s->pol->ops->on_pin(s->pol, id);
	}
}

static void b_unpin(struct sim *s, uint32_t id)
{
	if (--s->b[id].pins == 0) {
		s->b[id].last = s->now;
		s->nevictable++;
		s->pol->ops->on_unpin(s->pol, id, ns_of(s->now));
	}
}

static void b_free(struct sim *s, uint32_t id)
{
	s->b[id].state = B_FREE;
	s->b[id].pins = 0;
	s->free_stack[s->nfree++] = id;
}

/* Ask the policy for @want victims; check each against the index. */
static int evict(struct sim *s, uint32_t want)
{
	int n = s->pol->ops->pick_victims(s->pol, want, s->victims,
					  ns_of(s->now));

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		uint32_t id = s->victims[i];

		if (id >= s->nblocks || s->b[id].state != B_CACHED ||
		    s->b[id].pins)
			return -EPROTO;
		s->by_hash[s->b[id].hash] = NONE;
		s->nevictable--;
		if (s->refs_left[s->b[id].hash])
			s->res->evicted_live++;
		else
			s->ncached_dead--;
		s->ncached--;
		b_free(s, id);
		s->res->evictions++;
		ac_space_price_evicted(&s->price, s->now, ac_cost_recompute_s(
			s->cfg->cost, s->t->block_tokens,
			(uint64_t)s->b[id].pos * s->t->block_tokens, 0));
	}
	return n;
}

static uint32_t alloc_block(struct sim *s)
{
	uint32_t id = s->free_stack[--s->nfree];

	s->b[id].state = B_WRITING;
	s->b[id].pins = 0;
	return id;
}

static int pend_add(struct run *r, uint64_t start, uint32_t len)
{
	if (r->npend && r->pend[r->npend - 1].start +
	    r->pend[r->npend - 1].len == start) {
		r->pend[r->npend - 1].len += len;
		return 0;
	}
	r->pend[r->npend++] = (struct seg){ .start = start, .len = len };
	return 0;
}

static uint32_t full_blocks(const struct ac_trace *t, uint32_t i)
{
	uint32_t full = t->reqs[i].input / t->block_tokens;

	return full < t->reqs[i].nhash ? full : t->reqs[i].nhash;
}

/* Request @i reads its prompt now: it no longer keeps those blocks alive. */
static void refs_drop(struct sim *s, uint32_t i)
{
	const struct ac_trace_req *q = &s->t->reqs[i];
	uint32_t full = full_blocks(s->t, i);

	if (s->run[i].counted)
		return;
	s->run[i].counted = true;
	for (uint32_t k = 0; k < full; k++)
		if (--s->refs_left[q->hash[k]] == 0 &&
		    s->by_hash[q->hash[k]] != NONE)
			s->ncached_dead++;
}

/* The dead share of the cached blocks, integrated over time. */
static void dead_tick(struct sim *s)
{
	if (s->ncached)
		s->dead_area += (double)s->ncached_dead / s->ncached *
				(s->now - s->dead_t);
	s->dead_t = s->now;
}

static void reject(struct sim *s, uint32_t i, bool context)
{
	refs_drop(s, i);
	s->run[i].state = R_DONE;
	s->res->rejected++;
	if (context)
		s->res->rejected_context++;
}

/*
 * Try to admit request @i now: 1 admitted (or rejected), 0 must wait,
 * -errno. A request preempted after its first token comes back with its
 * output so far as part of the prompt to recompute.
 */
static int admit(struct sim *s, uint32_t i)
{
	const struct ac_trace_req *q = &s->t->reqs[i];
	struct run *r = &s->run[i];
	uint32_t bt = s->t->block_tokens;
	uint64_t total = (uint64_t)q->input + q->output;
	uint32_t nbmax = (uint32_t)((total + bt - 1) / bt);
	uint32_t ctx = q->input + r->generated;
	uint32_t nb = s->cfg->reserve_output ? nbmax :
		      (uint32_t)(((uint64_t)ctx + bt - 1) / bt);
	uint32_t full = q->input / bt, hits = 0, newly_pinned = 0, need;
	bool prefix_ok = true;

	if (full > q->nhash)
		full = q->nhash;
	if (s->cfg->max_context && total > s->cfg->max_context) {
		reject(s, i, true);
		return 1;
	}
	if (nbmax > s->nblocks) {
		reject(s, i, false);
		return 1;
	}
	/* Count first, touch nothing: a request that must wait leaves no trace. */
	for (uint32_t k = 0; k < full; k++) {
		uint32_t id = s->by_hash[q->hash[k]];
		bool hit = id != NONE && (s->cfg->reuse == SIM_REUSE_MSA || prefix_ok);

		if (id == NONE)
			prefix_ok = false;
		if (hit) {
			hits++;
			if (!s->b[id].pins)
				newly_pinned++;
		}
	}
	need = nb - hits;
	if (s->nfree + s->nevictable - newly_pinned < need)
		return 0;

	r->nbmax = nbmax;
	r->nb = nb;
	r->full = full;
	r->npub = 0;
	r->ctx = ctx;
	r->blocks = malloc(nbmax * sizeof(*r->blocks));
	r->hit = calloc(full + 1, 1);
	r->pend = malloc((full + 2) * sizeof(*r->pend));
	if (!r->blocks || !r->hit || !r->pend)
		return -ENOMEM;
	prefix_ok = true;
	for (uint32_t k = 0; k < full; k++) {
		uint32_t id = s->by_hash[q->hash[k]];

		if (id == NONE)
			prefix_ok = false;
		if (id != NONE && (s->cfg->reuse == SIM_REUSE_MSA || prefix_ok)) {
			s->pol->ops->on_access(s->pol, id, ns_of(s->now));
			b_pin(s, id);
			r->blocks[k] = id;
			r->hit[k] = 1;
			s->res->saved_gpu_s += ac_cost_recompute_s(s->cfg->cost,
				bt, (uint64_t)k * bt, 0);
		} else {
			r->blocks[k] = NONE;
		}
	}
	if (s->nfree < need) {
		int n = evict(s, need - s->nfree);

		if (n < 0)
			return n;
		if (s->nfree < need)
			return -EPROTO;	/* the policy held back candidates */
	}
	for (uint32_t k = 0; k < nb; k++)
		if (k >= full || r->blocks[k] == NONE)
			r->blocks[k] = alloc_block(s);

	/* Query segments: the missed blocks, then the prompt tail. */
	r->npend = r->pend0 = 0;
	for (uint32_t k = 0; k < full; k++) {
		if (r->hit[k])
			continue;
		pend_add(r, (uint64_t)k * bt, bt);
		if (s->seen[q->hash[k]])
			s->res->recomputed_tokens += bt;
	}
	if (ctx > full * bt)
		pend_add(r, (uint64_t)full * bt, ctx - full * bt);
	/* Everything cached: the last token still runs for its logits. */
	if (!r->npend)
		pend_add(r, ctx - 1, 1);
	s->res->block_refs += full;
	s->res->block_hits += hits;
	refs_drop(s, i);
	r->state = R_PREFILL;
	s->active[s->nactive++] = i;
	return 1;
}

/* Publish the full blocks [npub, @upto), computed by now, parents first. */
static void publish(struct sim *s, uint32_t i, uint32_t upto)
{
	const struct ac_trace_req *q = &s->t->reqs[i];
	struct run *r = &s->run[i];

	for (uint32_t k = r->npub; k < upto; k++) {
		uint32_t id = r->blocks[k], h = q->hash[k], dup;
		struct ac_policy_block pb = {
			.id = id, .ns_id = s->ns.ns_id, .pos = k,
			.parent = k ? r->blocks[k - 1] : AC_BLOCK_NONE,
			.pinned = true,
		};

		s->seen[h] = 1;
		if (r->hit[k])
			continue;
		dup = s->by_hash[h];
		if (dup != NONE) {
			/* Published meanwhile (or skipped by prefix-only): dedup. */
			b_free(s, id);
			s->pol->ops->on_access(s->pol, dup, ns_of(s->now));
			b_pin(s, dup);
			r->blocks[k] = dup;
			r->hit[k] = 1;
			continue;
		}
		if (k && s->b[pb.parent].state != B_CACHED)
			pb.parent = AC_BLOCK_NONE;
		s->b[id].state = B_CACHED;
		s->b[id].hash = h;
		s->b[id].pos = k;
		s->b[id].parent_hash = k ? q->hash[k - 1] : NONE;
		s->b[id].pins = 1;
		s->by_hash[h] = id;
		s->ncached++;
		if (!s->refs_left[h])
			s->ncached_dead++;
		s->pol->ops->on_insert(s->pol, &pb, ns_of(s->now));
		/* A refilled hole: tell the policy its resident child. */
		if (k + 1 < r->full && r->hit[k + 1] && s->pol->ops->on_link)
			s->pol->ops->on_link(s->pol, id, r->blocks[k + 1]);
	}
	if (upto > r->npub)
		r->npub = upto;
}

/*
 * Let go of every block @r holds: cached ones (hits and published) are
 * unpinned and stay for others, the rest (unpublished, output) are freed.
 */
static void release_blocks(struct sim *s, struct run *r)
{
	for (uint32_t k = 0; k < r->nb; k++) {
		uint32_t id = r->blocks[k];

		if (s->b[id].state == B_CACHED)
			b_unpin(s, id);
		else
			b_free(s, id);
	}
	free(r->blocks);
	free(r->hit);
	free(r->pend);
	r->blocks = NULL;
	r->hit = NULL;
	r->pend = NULL;
	r->nb = 0;
}

/* Recompute preemption (vLLM's default): back to the head of the queue. */
static void preempt(struct sim *s, uint32_t i)
{
	release_blocks(s, &s->run[i]);
	s->run[i].state = R_WAITING;
	s->waiting[--s->wq_head] = i;
	s->res->preemptions++;
}

static int retain_drop_one(struct sim *s);

/*
 * Give every decode the block its next token's KV goes to, evicting, then
 * dropping pinned retentions (as the daemon's Alloc does), then preempting
 * the latest admitted request, when the pool is full.
 */
static int grow_decodes(struct sim *s)
{
	uint32_t bt = s->t->block_tokens, keep = 0;

	for (uint32_t a = 0; a < s->nactive; a++) {
		uint32_t i = s->active[a];
		struct run *r = &s->run[i];
		uint32_t k;

		if (r->state != R_DECODE)
			continue;
		k = (s->t->reqs[i].input + r->generated - 1) / bt;
		if (k < r->nb)
			continue;
		while (!s->nfree && r->state == R_DECODE) {
			uint32_t v = s->nactive;
			int n;

			if (s->nevictable) {
				n = evict(s, 1);
				if (n < 0)
					return n;
				if (!n)
					return -EPROTO;
				continue;
			}
			n = retain_drop_one(s);
			if (n < 0)
				return n;
			if (n > 0)
				continue;
			while (v-- > 0)
				if (s->run[s->active[v]].state == R_PREFILL ||
				    s->run[s->active[v]].state == R_DECODE)
					break;
			preempt(s, s->active[v]);
		}
		if (r->state == R_DECODE)
			r->blocks[r->nb++] = alloc_block(s);
	}
	for (uint32_t a = 0; a < s->nactive; a++)
		if (s->run[s->active[a]].state != R_WAITING)
			s->active[keep++] = s->active[a];
	s->nactive = keep;
	return 0;
}

static void finish(struct sim *s, uint32_t i)
{
	struct run *r = &s->run[i];
	const struct ac_trace_req *q = &s->t->reqs[i];

	r->finish = s->now;
	release_blocks(s, r);
	if (q->output > 1)
		s->tpot[s->ntpot++] = (r->finish - r->first) / (q->output - 1);
	digest_add(&s->res->digest, r->finish);
	r->state = R_DONE;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void stats(double *v, size_t n, struct sim_stats *ret)
{
	double sum = 0;

	*ret = (struct sim_stats){ 0 };
	if (!n)
		return;
	qsort(v, n, sizeof(*v), cmp_double);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	ret->mean = sum / n;
	ret->p50 = v[(n - 1) / 2];
	ret->p99 = v[(size_t)((n - 1) * 0.99)];
}

static int cmp_replay(const void *x, const void *y, void *arg)
{
	const struct blk *a = &((const struct blk *)arg)[*(const uint32_t *)x];
	const struct blk *b = &((const struct blk *)arg)[*(const uint32_t *)y];

	if (a->last != b->last)
		return a->last < b->last ? -1 : 1;
	if (a->pos != b->pos)
		return a->pos < b->pos ? -1 : 1;
	return *(const uint32_t *)x < *(const uint32_t *)y ? -1 : 1;
}

/*
 * Replace the policy by a fresh one fed from the index, as policy.h asks
 * of the core: namespaces, then every CACHED block in order of last use,
 * stamped with that time.
 */
static int switch_policy(struct sim *s, const char *name)
{
	struct ac_policy *np;
	uint32_t *order, n = 0;
	int r;

	r = policy_create(name, s->nblocks, &np);
	if (r < 0)
		return r;
	if (np->ops->on_namespace) {
		r = np->ops->on_namespace(np, &s->ns);
		if (r < 0)
			goto fail;
	}
	order = malloc(s->nblocks * sizeof(*order));
	if (!order) {
		r = -ENOMEM;
		goto fail;
	}
	for (uint32_t id = 0; id < s->nblocks; id++)
		if (s->b[id].state == B_CACHED)
			order[n++] = id;
	qsort_r(order, n, sizeof(*order), cmp_replay, s->b);
	for (uint32_t i = 0; i < n; i++) {
		const struct blk *x = &s->b[order[i]];
		struct ac_policy_block pb = {
			.id = order[i], .ns_id = s->ns.ns_id, .pos = x->pos,
			.parent = x->parent_hash == NONE ? AC_BLOCK_NONE :
				  s->by_hash[x->parent_hash],
			.pinned = x->pins > 0,
		};

		np->ops->on_insert(np, &pb, ns_of(x->pins ? s->now : x->last));
	}
	free(order);
	ac_policy_free(s->pol);
	s->pol = np;
	return 0;
fail:
	ac_policy_free(np);
	return r;
}

void sim_config_default(struct sim_config *ret,
			const struct ac_cost_model *cost)
{
	*ret = (struct sim_config){
		.policy = "asym",
		.reuse = SIM_REUSE_MSA,
		.cost = cost,
		.pool_tokens = 900000,
		.time_scale = 1.0,
		.max_running = 256,
		/* Llama-3.1-8B's 128k (the cost model's shape). */
		.max_context = 131072,
		.seed = 1,
		.ttl_s = 0,
		.tool_median_s = 5,
		.retain_budget = AC_RETAIN_BUDGET_PERCENT / 100.0,
		.retain_soft = true,
		.drop_latest = true,
	};
	ac_chunk_config_default(&ret->chunk, AC_CHUNK_ADAPTIVE,
				AC_CHUNK_TPOT_TARGET_US / 1e6);
}

/* splitmix64: a seed gives the same tool durations on every machine. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/*
 * The tool call after turn @prev: the trace's when it has one, else
 * lognormal, sigma 1, around the configured median.
 */
static double tool_duration(const struct sim_config *cfg,
			    const struct ac_trace *t, uint32_t prev, uint32_t i)
{
	double u1 = ((mix(cfg->seed * 2654435761u + i) >> 11) + 1) * 0x1p-53;
	double u2 = ((mix(cfg->seed * 40503u + i + 7) >> 11) + 1) * 0x1p-53;
	double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);

	if (t->reqs[prev].tool_s >= 0)
		return t->reqs[prev].tool_s;
	return cfg->tool_median_s * exp(z);
}

/* Continuations of agent jobs, min-heap on ready time. */
struct ready_q {
	struct { double t; uint32_t req; } *h;
	size_t n;
};

static void rq_push(struct ready_q *q, double t, uint32_t req)
{
	size_t i = q->n++;

	while (i) {
		size_t p = (i - 1) / 2;

		if (q->h[p].t < t || (q->h[p].t == t && q->h[p].req < req))
			break;
		q->h[i] = q->h[p];
		i = p;
	}
	q->h[i].t = t;
	q->h[i].req = req;
}

static void rq_pop(struct ready_q *q)
{
	size_t i = 0;
	double t = q->h[--q->n].t;
	uint32_t req = q->h[q->n].req;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= q->n)
			break;
		if (c + 1 < q->n && (q->h[c + 1].t < q->h[c].t ||
		    (q->h[c + 1].t == q->h[c].t && q->h[c + 1].req < q->h[c].req)))
			c++;
		if (q->h[c].t > t || (q->h[c].t == t && q->h[c].req > req))
			break;
		q->h[i] = q->h[c];
		i = c;
	}
	if (q->n) {
		q->h[i].t = t;
		q->h[i].req = req;
	}
}

static void unpin_all(struct sim *s, uint32_t *blocks, uint32_t n)
{
	for (uint32_t k = 0; k < n; k++)
		b_unpin(s, blocks[k]);
	free(blocks);
}

static double tool_duration(const struct sim_config *cfg,
			    const struct ac_trace *t, uint32_t prev, uint32_t i);

/* Kinds of retention: pinned within the budget, or a hint to the policy. */
enum { RK_NONE, RK_HARD, RK_SOFT };

static uint32_t program_of(const struct ac_trace_req *q)
{
	return q->program != NONE ? q->program : q->session;
}

/* End retention @h of kind @kind made by turn @req: unpin or unhint. */
static void retain_end(struct sim *s, int kind, uint32_t req, uint32_t *blocks,
		       uint32_t n)
{
	const struct ac_trace_req *q = &s->t->reqs[req];

	if (kind == RK_HARD) {
		s->hard_blocks -= n;
		s->res->hold_block_s += n * (s->now - s->run[req].finish);
		unpin_all(s, blocks, n);
		return;
	}
	/* A hinted block may have been evicted and its id reused since. */
	for (uint32_t k = 0; k < n; k++)
		if (s->b[blocks[k]].state == B_CACHED &&
		    s->b[blocks[k]].hash == q->hash[k] &&
		    s->pol->ops->on_hint)
			s->pol->ops->on_hint(s->pol, blocks[k], false,
					     ns_of(s->now));
	free(blocks);
}

/*
 * Turn @i has finished and its client has declared a tool call: decide
 * whether and how to keep its chain. Only a declaration counts (a trace's
 * tool_ms, whose tool_expect_ms is what the client says it expects);
 * whether another turn will follow is not known here.
 */
static int retain_decide(struct sim *s, uint32_t i)
{
	const struct ac_trace_req *q = &s->t->reqs[i];
	const struct sim_config *cfg = s->cfg;
	struct run *r = &s->run[i];
	uint32_t bt = s->t->block_tokens;
	uint64_t h;
	double ttl = cfg->ttl_s;
	bool hard;
	int ret;

	if (!cfg->agent || !(ttl || cfg->ttl_oracle) || q->tool_s < 0 ||
	    !r->full)
		return 0;
	if (cfg->ttl_oracle) {
		if (q->next == NONE)
			return 0;
		/* Until the next turn is admitted, however long it queues. */
		ttl = tool_duration(cfg, s->t, i, q->next) + 3600;
	} else if (ttl < 0) {
		double rec = ac_cost_recompute_s(cfg->cost, r->full * bt, 0, 1);

		ttl = ac_retain_pick_ttl(s->learned, program_of(q),
					 q->tool_expect_s, rec,
					 (double)r->full * s->ns.bytes_per_block,
					 ac_space_price_get(&s->price, s->now,
						(double)s->nblocks *
						s->ns.bytes_per_block));
		if (!(ttl > 0))
			return 0;
	}
	hard = s->hard_blocks + r->full <= s->budget_blocks;
	if (!hard && !(cfg->retain_soft && s->pol->ops->on_hint))
		return 0;
	ret = ac_retain_add(hard ? s->retain : s->soft, program_of(q),
			    r->blocks, r->full, ns_of(s->now + ttl), &h);
	if (ret < 0)
		return ret;
	if (hard) {
		/* The retention now owns one pin on each block of the chain. */
		for (uint32_t k = 0; k < r->full; k++)
			s->b[r->blocks[k]].pins++;
		s->hard_blocks += r->full;
		if (s->hard_blocks > s->res->retain_budget_peak)
			s->res->retain_budget_peak = s->hard_blocks;
		s->res->retain_hard++;
		s->hard_req[h] = i;
	} else {
		for (uint32_t k = 0; k < r->full; k++)
			s->pol->ops->on_hint(s->pol, r->blocks[k], true,
					     ns_of(s->now));
		s->res->retain_soft++;
		s->soft_req[h] = i;
	}
	r->retain_kind = hard ? RK_HARD : RK_SOFT;
	r->retain_handle = h;
	return 1;
}

/* Finish a turn; an agent job's next one waits for its tool call. */
static int finish_turn(struct sim *s, uint32_t i, struct ready_q *rq)
{
	const struct ac_trace_req *q = &s->t->reqs[i];
	int r;

	s->run[i].finish = s->now;
	r = retain_decide(s, i);
	if (r < 0)
		return r;
	finish(s, i);
	if (s->cfg->agent && q->next != NONE) {
		double d = tool_duration(s->cfg, s->t, i, q->next);

		s->run[q->next].ready = s->now + d;
		rq_push(rq, s->now + d, q->next);
		s->paused_area += s->paused_tokens * (s->now - s->paused_t);
		s->paused_t = s->now;
		s->paused_tokens += s->run[i].full * s->t->block_tokens;
	}
	return 0;
}

/* Retentions whose TTL ran out: the chain was not asked for in time. */
static int retain_expire(struct sim *s)
{
	uint32_t *blocks, nb;
	uint64_t h;
	int r;

	while ((r = ac_retain_expire_handle(s->retain, ns_of(s->now), &blocks,
					    &nb, &h)) > 0) {
		s->res->retain_expired++;
		s->run[s->hard_req[h]].retain_kind = RK_NONE;
		retain_end(s, RK_HARD, s->hard_req[h], blocks, nb);
	}
	if (r < 0)
		return r;
	while ((r = ac_retain_expire_handle(s->soft, ns_of(s->now), &blocks,
					    &nb, &h)) > 0) {
		s->res->retain_expired++;
		s->run[s->soft_req[h]].retain_kind = RK_NONE;
		retain_end(s, RK_SOFT, s->soft_req[h], blocks, nb);
	}
	return r;
}

/* The continuation of turn @prev was admitted: its retention has served. */
static void retain_resume(struct sim *s, uint32_t prev)
{
	struct run *p = &s->run[prev];
	uint32_t *blocks, nb;

	if (p->retain_kind == RK_NONE)
		return;
	if (ac_retain_release(p->retain_kind == RK_HARD ? s->retain : s->soft,
			      p->retain_handle, &blocks, &nb) == 0) {
		s->res->retained_hits++;
		retain_end(s, p->retain_kind, prev, blocks, nb);
	}
	p->retain_kind = RK_NONE;
}

/*
 * The head of the queue cannot be admitted: free the hard retention that
 * runs out last (drop_latest, the default) or first. 1 when one was
 * dropped, 0 when none is left.
 */
static int retain_drop_one(struct sim *s)
{
	uint32_t *blocks, nb;
	uint64_t h;
	int r = s->cfg->drop_latest ?
		ac_retain_pop_latest(s->retain, &blocks, &nb, &h) :
		ac_retain_expire_handle(s->retain, UINT64_MAX, &blocks, &nb, &h);

	if (r <= 0)
		return r;
	s->res->retain_dropped++;
	s->run[s->hard_req[h]].retain_kind = RK_NONE;
	retain_end(s, RK_HARD, s->hard_req[h], blocks, nb);
	return 1;
}

/* Queue an arrival: FCFS, or by its program's start under program FCFS. */
static void wq_push(struct sim *s, uint32_t i)
{
	size_t k = s->wq_tail++;

	if (s->cfg->chunk.order == AC_CHUNK_PROGRAM) {
		double key = s->run[s->t->reqs[i].session].arrival;

		while (k > s->wq_head &&
		       s->run[s->t->reqs[s->waiting[k - 1]].session].arrival > key) {
			s->waiting[k] = s->waiting[k - 1];
			k--;
		}
	}
	s->waiting[k] = i;
}

static int sim_setup(struct sim *s, const struct ac_trace *t,
		     const struct sim_config *cfg, struct sim_result *res)
{
	uint32_t bt = t->block_tokens;
	int r;

	memset(res, 0, sizeof(*res));
	res->digest = 0xcbf29ce484222325ull;
	s->t = t;
	s->cfg = cfg;
	s->res = res;
	if (!cfg->cost || !cfg->policy || !bt || cfg->time_scale < 0 ||
	    !(cfg->retain_budget >= 0 && cfg->retain_budget <= 1) ||
	    !cfg->max_running)
		return -EINVAL;
	if (cfg->pool_tokens / bt < 1 || cfg->pool_tokens / bt >= NONE)
		return -EINVAL;
	s->nblocks = (uint32_t)(cfg->pool_tokens / bt);
	s->ns = (struct ac_policy_ns){
		.ns_id = 1, .block_tokens = bt,
		.bytes_per_block = bt * ac_kv_token_bytes(&cfg->cost->layout.kv),
		.cost = cfg->cost,
	};
	r = policy_create(cfg->policy, s->nblocks, &s->pol);
	s->cur_policy = cfg->policy;
	if (r < 0)
		return r;
	if (s->pol->ops->on_namespace) {
		r = s->pol->ops->on_namespace(s->pol, &s->ns);
		if (r < 0)
			return r;
	}
	r = ac_retain_new(&s->retain);
	if (r == 0)
		r = ac_retain_new(&s->soft);
	if (r == 0)
		r = ac_tool_stats_new(32, 4, &s->learned);
	if (r < 0)
		return r;
	s->budget_blocks = (uint64_t)(cfg->retain_budget * s->nblocks);
	ac_space_price_init(&s->price, 60);
	s->hard_req = malloc((t->n + 2) * sizeof(*s->hard_req));
	s->soft_req = malloc((t->n + 2) * sizeof(*s->soft_req));
	if (!s->hard_req || !s->soft_req)
		return -ENOMEM;
	s->b = calloc(s->nblocks, sizeof(*s->b));
	s->free_stack = malloc(s->nblocks * sizeof(*s->free_stack));
	s->victims = malloc(s->nblocks * sizeof(*s->victims));
	s->by_hash = malloc(((size_t)t->max_hash + 1) * sizeof(*s->by_hash));
	s->seen = calloc((size_t)t->max_hash + 1, 1);
	s->refs_left = calloc((size_t)t->max_hash + 1, sizeof(*s->refs_left));
	s->run = calloc(t->n, sizeof(*s->run));
	s->active = malloc(t->n * sizeof(*s->active));
	s->waiting = malloc(t->n * sizeof(*s->waiting));
	s->ttft = malloc(t->n * sizeof(double));
	s->tpot = malloc(t->n * sizeof(double));
	s->job = malloc(t->n * sizeof(double));
	if (!s->b || !s->free_stack || !s->victims || !s->by_hash ||
	    !s->seen || !s->refs_left || !s->run || !s->active || !s->waiting || !s->ttft ||
	    !s->tpot || !s->job)
		return -ENOMEM;
	for (int b = 0; b < SIM_NBUCKETS; b++) {
		s->bttft[b] = malloc(t->n * sizeof(double));
		if (!s->bttft[b])
			return -ENOMEM;
	}
	for (size_t h = 0; h <= t->max_hash; h++)
		s->by_hash[h] = NONE;
	for (uint32_t i = 0; i < t->n; i++)
		for (uint32_t k = 0; k < full_blocks(t, i); k++)
			s->refs_left[t->reqs[i].hash[k]]++;
	/* Pop order 0, 1, 2...: deterministic block ids. */
	for (uint32_t i = 0; i < s->nblocks; i++)
		s->free_stack[i] = s->nblocks - 1 - i;
	s->nfree = s->nblocks;
	return 0;
}

static void sim_teardown(struct sim *s)
{
	if (s->run)
		for (size_t i = 0; i < s->t->n; i++) {
			free(s->run[i].blocks);
			free(s->run[i].hit);
			free(s->run[i].pend);
		}
	ac_policy_free(s->pol);
	ac_retain_free(s->retain);
	ac_retain_free(s->soft);
	ac_tool_stats_free(s->learned);
	free(s->hard_req);
	free(s->soft_req);
	free(s->b);
	free(s->free_stack);
	free(s->victims);
	free(s->by_hash);
	free(s->seen);
	free(s->refs_left);
	free(s->run);
	free(s->active);
	free(s->waiting);
	free(s->ttft);
	free(s->tpot);
	free(s->job);
	for (int b = 0; b < SIM_NBUCKETS; b++)
		free(s->bttft[b]);
	free(s->csegs);
	free(s->picks);
}

static void consume(struct run *r, uint64_t start, uint32_t len)
{
	uint64_t end = start + len;

	while (r->pend0 < r->npend && r->pend[r->pend0].start < end) {
		struct seg *g = &r->pend[r->pend0];

		if (g->start + g->len <= end) {
			r->pend0++;
		} else {
			g->len -= (uint32_t)(end - g->start);
			g->start = end;
		}
	}
}

static int build_batch(struct sim *s, struct ac_chunk_batch *in)
{
	uint32_t n = 0;

	*in = (struct ac_chunk_batch){ 0 };
	for (uint32_t a = 0; a < s->nactive; a++) {
		struct run *r = &s->run[s->active[a]];

		if (r->state == R_DECODE) {
			in->decode_tokens++;
			in->decode_ctx += s->t->reqs[s->active[a]].input +
					  r->generated;
		} else if (r->state == R_PREFILL) {
			n += r->npend - r->pend0;
		}
	}
	if (n + 1 > s->cseg_cap) {
		uint32_t cap = (n + 1) * 2;

		free(s->csegs);
		free(s->picks);
		s->csegs = malloc(cap * sizeof(*s->csegs));
		s->picks = malloc(cap * sizeof(*s->picks));
		if (!s->csegs || !s->picks)
			return -ENOMEM;
		s->cseg_cap = cap;
	}
	n = 0;
	for (uint32_t a = 0; a < s->nactive; a++) {
		struct run *r = &s->run[s->active[a]];

		if (r->state != R_PREFILL)
			continue;
		for (uint32_t k = r->pend0; k < r->npend; k++)
			s->csegs[n++] = (struct ac_chunk_seg){
				.req = s->active[a], .owner = 0,
				.start = r->pend[k].start, .len = r->pend[k].len,
				.arrival_ns = ns_of(r->arrival),
				.program_arrival_ns = ns_of(s->run[
					s->t->reqs[s->active[a]].session].arrival),
			};
	}
	in->segs = s->csegs;
	in->nsegs = n;
	return 0;
}

int sim_run(const struct ac_trace *t, const struct sim_config *cfg,
	    struct sim_result *res)
{
	struct sim s = { 0 };
	struct ready_q rq = { 0 };
	size_t next_root = 0, done = 0, last_pct = 0;
	double first_arrival = -1;
	int r;

	r = sim_setup(&s, t, cfg, res);
	if (r < 0)
		goto out;
	rq.h = malloc(t->n * sizeof(*rq.h));
	if (!rq.h) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		struct ac_chunk_batch in;
		struct ac_chunk_plan plan = { .picks = NULL };
		uint32_t keep;
		double took;

		dead_tick(&s);
		/* Arrivals: trace roots, then agent continuations. */
		while (next_root < t->n) {
			const struct ac_trace_req *q = &t->reqs[next_root];
			double at = q->arrival_s * cfg->time_scale;

			if (cfg->agent && q->prev != NONE) {
				next_root++;
				continue;
			}
			if (at > s.now)
				break;
			s.run[next_root].arrival = at;
			s.run[next_root].state = R_WAITING;
			wq_push(&s, (uint32_t)next_root++);
		}
		while (rq.n && rq.h[0].t <= s.now) {
			uint32_t i = rq.h[0].req;

			const struct ac_trace_req *pq = &t->reqs[t->reqs[i].prev];
			struct run *pr = &s.run[t->reqs[i].prev];

			rq_pop(&rq);
			/* The tool returned: learn how long it took. */
			if (pq->tool_s >= 0) {
				r = ac_tool_stats_add(s.learned, program_of(pq),
						      pq->tool_expect_s,
						      s.run[i].ready - pr->finish);
				if (r < 0)
					goto out;
			}
			s.paused_area += s.paused_tokens * (s.now - s.paused_t);
			s.paused_t = s.now;
			s.paused_tokens -= pr->full * t->block_tokens;
			s.run[i].arrival = s.run[i].ready;
			s.run[i].state = R_WAITING;
			wq_push(&s, i);
		}
		if (first_arrival < 0 && s.wq_tail)
			first_arrival = s.run[s.waiting[0]].arrival;
		r = retain_expire(&s);
		if (r < 0)
			goto out;

		while (s.wq_head < s.wq_tail && s.nactive < cfg->max_running) {
			uint32_t i = s.waiting[s.wq_head];

			r = admit(&s, i);
			/* Blocked by retained chains: they give way. */
			while (r == 0 && (r = retain_drop_one(&s)) > 0)
				r = admit(&s, i);
			if (r < 0)
				goto out;
			if (!r)
				break;
			s.wq_head++;
			if (s.run[i].state == R_DONE) {
				done++;	/* rejected: larger than the pool */
				continue;
			}
			/* Resumed: its own pins hold the chain, drop the TTL's. */
			if (t->reqs[i].prev != NONE)
				retain_resume(&s, t->reqs[i].prev);
		}

		r = grow_decodes(&s);
		if (r < 0)
			goto out;
		r = build_batch(&s, &in);
		if (r < 0)
			goto out;
		if (!in.decode_tokens && !in.nsegs) {
			double next = INFINITY;
			uint64_t exp = ac_retain_next_expiry(s.retain);

			if (ac_retain_next_expiry(s.soft) < exp)
				exp = ac_retain_next_expiry(s.soft);

			while (next_root < t->n && cfg->agent &&
			       t->reqs[next_root].prev != NONE)
				next_root++;
			if (next_root < t->n)
				next = t->reqs[next_root].arrival_s * cfg->time_scale;
			if (rq.n && rq.h[0].t < next)
				next = rq.h[0].t;
			if (exp != UINT64_MAX && exp / 1e9 < next)
				next = exp / 1e9;
			if (next == INFINITY) {
				if (s.wq_head < s.wq_tail)
					r = -EDEADLK;
				break;
			}
			if (next > s.now)
				s.now = next;
			else if (exp != UINT64_MAX)
				s.now = exp / 1e9 + 1e-9;
			continue;
		}
		plan.picks = s.picks;
		plan.cap = s.cseg_cap;
		in.turn = (uint32_t)res->iterations;
		in.now_ns = ns_of(s.now);
		r = ac_chunk_schedule(&cfg->chunk, cfg->sched_cost ?
				      cfg->sched_cost : cfg->cost, &in, &plan);
		if (r < 0)
			goto out;
		took = plan.predicted_s;
		if (cfg->sched_cost) {
			struct ac_cost_iter it = {
				.prefill_tokens = plan.prefill_tokens,
				.prefill_pairs = plan.prefill_pairs,
				.segments = plan.segments,
				.decode_tokens = in.decode_tokens,
				.decode_ctx = in.decode_ctx,
			};

			took = ac_cost_iter_s(cfg->cost, &it);
		}
		if (!(took > 0)) {
			r = -EPROTO;
			goto out;
		}
		s.now += took;
		res->busy_s += took;
		if (plan.prefill_tokens) {
			struct ac_cost_iter dec = {
				.decode_tokens = in.decode_tokens,
				.decode_ctx = in.decode_ctx,
			};

			res->prefill_gpu_s += took -
				(in.decode_tokens ? ac_cost_iter_s(cfg->cost, &dec) : 0);
		}
		res->iterations++;
		res->prefill_tokens += plan.prefill_tokens;
		res->gap_tokens += plan.gap_tokens;
		res->recomputed_tokens += plan.gap_tokens;
		for (uint32_t k = 0; k < plan.npicks; k++)
			consume(&s.run[plan.picks[k].req], plan.picks[k].start,
				plan.picks[k].len);
		/* Blocks whose every position is computed are published now. */
		for (uint32_t a = 0; a < s.nactive && !cfg->publish_at_end; a++) {
			struct run *ru = &s.run[s.active[a]];
			uint64_t upto;

			if (ru->state != R_PREFILL)
				continue;
			upto = ru->pend0 < ru->npend ? ru->pend[ru->pend0].start :
						       ru->ctx;
			upto /= t->block_tokens;
			publish(&s, s.active[a],
				upto < ru->full ? (uint32_t)upto : ru->full);
		}

		/* Decodes of this iteration first, then prefills that ended. */
		for (uint32_t a = 0; a < s.nactive; a++) {
			uint32_t i = s.active[a];
			struct run *ru = &s.run[i];

			if (ru->state != R_DECODE)
				continue;
			if (++ru->generated >= t->reqs[i].output) {
				r = finish_turn(&s, i, &rq);
				if (r < 0)
					goto out;
				done++;
			}
		}
		for (uint32_t a = 0; a < s.nactive; a++) {
			uint32_t i = s.active[a];
			struct run *ru = &s.run[i];

			if (ru->state != R_PREFILL || ru->pend0 < ru->npend)
				continue;
			publish(&s, i, ru->full);
			ru->state = R_DECODE;
			if (ru->generated) {
				/* Recomputed after a preemption: one more token. */
				ru->generated++;
			} else {
				int b = sim_bucket_of(t->reqs[i].input);

				ru->first = s.now;
				s.ttft[s.nttft++] = ru->first - ru->arrival;
				s.bttft[b][s.nbttft[b]++] = ru->first - ru->arrival;
				digest_add(&res->digest, ru->first);
				ru->generated = 1;
			}
			if (ru->generated >= t->reqs[i].output) {
				r = finish_turn(&s, i, &rq);
				if (r < 0)
					goto out;
				done++;
			}
		}
		keep = 0;
		for (uint32_t a = 0; a < s.nactive; a++)
			if (s.run[s.active[a]].state != R_DONE)
				s.active[keep++] = s.active[a];
		s.nactive = keep;

		if (cfg->switch_every && cfg->switch_to &&
		    res->iterations % cfg->switch_every == 0) {
			/* Alternate, so every switch is a real change. */
			const char *to = !strcmp(s.cur_policy, cfg->switch_to) ?
					 cfg->policy : cfg->switch_to;

			r = switch_policy(&s, to);
			if (r < 0)
				goto out;
			s.cur_policy = to;
		}
		if (cfg->progress && done * 20 / t->n > last_pct) {
			last_pct = done * 20 / t->n;
			fprintf(stderr, "  %s pool=%llu: %zu/%zu requests, t=%.0f s\n",
				cfg->policy, (unsigned long long)cfg->pool_tokens,
				done, t->n, s.now);
		}
	}
	if (r < 0)
		goto out;
	r = 0;
	res->requests = done;
	res->makespan_s = first_arrival >= 0 ? s.now - first_arrival : 0;
	s.paused_area += s.paused_tokens * (s.now - s.paused_t);
	dead_tick(&s);
	if (res->makespan_s > 0)
		res->dead_share = s.dead_area / (s.now - first_arrival);
	if (res->makespan_s > 0)
		res->paused_kv_mean_tokens = s.paused_area /
					     (s.now - first_arrival);
	stats(s.ttft, s.nttft, &res->ttft);
	for (int b = 0; b < SIM_NBUCKETS; b++) {
		res->bucket_n[b] = s.nbttft[b];
		stats(s.bttft[b], s.nbttft[b], &res->ttft_bucket[b]);
	}
	stats(s.tpot, s.ntpot, &res->tpot);
	if (cfg->agent) {
		for (size_t i = 0; i < t->n; i++) {
			size_t last = i;

			if (t->reqs[i].prev != NONE || s.run[i].state != R_DONE ||
			    !s.run[i].first)
				continue;
			while (t->reqs[last].next != NONE &&
			       s.run[t->reqs[last].next].first)
				last = t->reqs[last].next;
			s.job[s.njob++] = s.run[last].finish - s.run[i].arrival;
		}
		stats(s.job, s.njob, &res->job);
	}
out:
	free(rq.h);

	sim_teardown(&s);
	return r;
}
