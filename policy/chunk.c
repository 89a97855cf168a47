/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"

/* A request's run of query tokens after merging; gaps are cached tokens. */
struct wseg {
	uint32_t req, owner;
	double key;		/* request order within its owner */
	uint32_t idx;		/* input order, the tie-break */
	uint64_t start;
	uint64_t len;
	uint32_t gap_first, ngaps;	/* into struct sched.gaps */
};

struct gap {
	uint64_t start, len;
};

struct owner_q {
	uint32_t owner;
	uint32_t *wsegs;	/* indices, in priority order */
	uint32_t n, cur;
	uint64_t done;		/* tokens taken from wsegs[cur] */
	bool blocked;
};

struct sched {
	const struct ac_chunk_config *cfg;
	const struct ac_cost_model *m;
	const struct ac_chunk_batch *in;
	struct wseg *w;
	uint32_t nw;
	struct gap *gaps;
	uint32_t ngaps;
	struct owner_q *oq;
	uint32_t *oq_idx;
	uint32_t nowners;
	/* Accumulated work of the iteration. */
	uint64_t tokens;
	double pairs;
	uint32_t segments;
	/* Per wseg: tokens taken this iteration, and the pick holding them. */
	uint64_t *taken;
	uint32_t *pick_of;
};

void ac_chunk_config_default(struct ac_chunk_config *ret,
			     enum ac_chunk_mode mode, double tpot_target_s)
{
	*ret = (struct ac_chunk_config){
		.mode = mode,
		.tpot_target_s = tpot_target_s,
		/* vLLM's max_num_batched_tokens with chunked prefill. */
		.fixed_budget = 2048,
		.max_budget = 16384,
		.quantum = 512,
		.min_chunk = 0,
		.merge = true,
		/* Starvation-free and close to SRPT's mean TTFT (docs/policy.md). */
		.order = mode == AC_CHUNK_ADAPTIVE ? AC_CHUNK_HRRN : AC_CHUNK_FCFS,
	};
}

static const char *const order_names[AC_CHUNK_NORDERS] = {
	[AC_CHUNK_FCFS] = "fcfs",
	[AC_CHUNK_SRPT] = "srpt",
	[AC_CHUNK_HRRN] = "hrrn",
	[AC_CHUNK_PROGRAM] = "program",
};

const char *ac_chunk_order_name(enum ac_chunk_order o)
{
	return (unsigned)o < AC_CHUNK_NORDERS ? order_names[o] : NULL;
}

int ac_chunk_order_parse(const char *name, enum ac_chunk_order *ret)
{
	for (unsigned i = 0; name && i < AC_CHUNK_NORDERS; i++)
		if (!strcmp(name, order_names[i])) {
			*ret = (enum ac_chunk_order)i;
			return 0;
		}
	return -EINVAL;
}

static double predict(const struct sched *s, uint64_t tokens, double pairs,
		      uint32_t segments)
{
	struct ac_cost_iter it = {
		.prefill_tokens = tokens,
		.prefill_pairs = pairs,
		.segments = segments,
		.decode_tokens = s->in->decode_tokens,
		.decode_ctx = s->in->decode_ctx,
	};

	return ac_cost_iter_s(s->m, &it);
}

static double piece_pairs(uint64_t start, uint64_t len)
{
	return (double)len * ((double)start + (double)len / 2);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Each request's segments consecutive, ascending, one owner. */
static int validate(const struct ac_chunk_batch *in)
{
	uint64_t *first;
	uint32_t nreq = 0;
	int r = 0;

	if (in->nsegs && !in->segs)
		return -EINVAL;
	first = malloc((in->nsegs + 1) * sizeof(*first));
	if (!first)
		return -ENOMEM;
	for (uint32_t i = 0; i < in->nsegs; i++) {
		const struct ac_chunk_seg *g = &in->segs[i];

		if (!g->len || g->start + g->len < g->start) {
			r = -EINVAL;
			goto out;
		}
		if (i && in->segs[i - 1].req == g->req) {
			const struct ac_chunk_seg *p = &in->segs[i - 1];

			if (p->owner != g->owner || g->start < p->start + p->len) {
				r = -EINVAL;
				goto out;
			}
			continue;
		}
		first[nreq++] = g->req;
	}
	qsort(first, nreq, sizeof(*first), cmp_u64);
	for (uint32_t i = 1; i < nreq; i++)
		if (first[i] == first[i - 1])
			r = -EINVAL;
out:
	free(first);
	return r;
}

static bool gap_is_cheap(const struct sched *s, uint64_t end, uint64_t gap)
{
	const struct ac_cost_model *m = s->m;

	if (s->cfg->mode != AC_CHUNK_ADAPTIVE || !s->cfg->merge)
		return gap == 0 && s->cfg->mode == AC_CHUNK_ADAPTIVE;
	return m->linear_s * (double)gap + m->attn_s * piece_pairs(end, gap) <
	       m->segment_s;
}

static int cmp_wseg(const void *a, const void *b)
{
	const struct wseg *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * Give every wseg its request's key and sort: a request's wsegs share the
 * key and keep their input order, so they stay consecutive and ascending.
 */
static void order_requests(struct sched *s)
{
	const struct ac_chunk_config *cfg = s->cfg;
	uint32_t i = 0;

	if (cfg->order == AC_CHUNK_FCFS)
		return;
	while (i < s->nw) {
		const struct ac_chunk_seg *g = &s->in->segs[s->w[i].idx];
		uint32_t j = i;
		double rem = 0, wait = 0, key;

		while (j < s->nw && s->w[j].req == s->w[i].req) {
			rem += ac_cost_recompute_s(s->m, (uint32_t)s->w[j].len,
						   s->w[j].start, 1);
			j++;
		}
		if (s->in->now_ns > g->arrival_ns)
			wait = (s->in->now_ns - g->arrival_ns) / 1e9;
		if (cfg->order == AC_CHUNK_SRPT)
			key = rem;
		else if (cfg->order == AC_CHUNK_HRRN)
			key = -(wait + rem) / rem;
		else	/* program FCFS; ties keep the caller's order */
			key = (double)(g->program_arrival_ns ?
				       g->program_arrival_ns : g->arrival_ns);
		for (; i < j; i++)
			s->w[i].key = key;
	}
	qsort(s->w, s->nw, sizeof(*s->w), cmp_wseg);
}

static int build(struct sched *s)
{
	const struct ac_chunk_batch *in = s->in;
	uint32_t n = in->nsegs;

	s->w = calloc(n + 1, sizeof(*s->w));
	s->gaps = calloc(n + 1, sizeof(*s->gaps));
	s->oq = calloc(n + 1, sizeof(*s->oq));
	s->oq_idx = calloc(n + 1, sizeof(*s->oq_idx));
	s->taken = calloc(n + 1, sizeof(*s->taken));
	s->pick_of = calloc(n + 1, sizeof(*s->pick_of));
	if (!s->w || !s->gaps || !s->oq || !s->oq_idx || !s->taken ||
	    !s->pick_of)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		const struct ac_chunk_seg *g = &in->segs[i];
		struct wseg *last = s->nw ? &s->w[s->nw - 1] : NULL;

		if (last && last->req == g->req &&
		    gap_is_cheap(s, last->start + last->len,
				 g->start - (last->start + last->len))) {
			uint64_t end = last->start + last->len;

			if (g->start > end) {
				s->gaps[s->ngaps++] = (struct gap){
					.start = end, .len = g->start - end };
				last->ngaps++;
			}
			last->len = g->start + g->len - last->start;
			continue;
		}
		s->w[s->nw] = (struct wseg){
			.req = g->req, .owner = g->owner, .start = g->start,
			.len = g->len, .gap_first = s->ngaps, .idx = i,
		};
		s->nw++;
	}
	order_requests(s);
	/* Owners in order of first appearance, each with its wsegs. */
	for (uint32_t i = 0; i < s->nw; i++) {
		uint32_t o;

		for (o = 0; o < s->nowners; o++)
			if (s->oq[o].owner == s->w[i].owner)
				break;
		if (o == s->nowners) {
			s->oq[o].owner = s->w[i].owner;
			s->oq[o].wsegs = s->oq_idx;	/* fixed up below */
			s->nowners++;
		}
		s->oq[o].n++;
	}
	for (uint32_t o = 0, off = 0; o < s->nowners; o++) {
		s->oq[o].wsegs = s->oq_idx + off;
		off += s->oq[o].n;
		s->oq[o].n = 0;
	}
	for (uint32_t i = 0; i < s->nw; i++)
		for (uint32_t o = 0; o < s->nowners; o++)
			if (s->oq[o].owner == s->w[i].owner) {
				s->oq[o].wsegs[s->oq[o].n++] = i;
				break;
			}
	return 0;
}

static uint64_t gap_overlap(const struct sched *s, const struct wseg *w,
			    uint64_t start, uint64_t len)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; i < w->ngaps; i++) {
		const struct gap *g = &s->gaps[w->gap_first + i];
		uint64_t a = g->start > start ? g->start : start;
		uint64_t b = g->start + g->len < start + len ?
			     g->start + g->len : start + len;

		if (b > a)
			sum += b - a;
	}
	return sum;
}

static int emit(struct sched *s, struct ac_chunk_plan *plan, uint32_t wi,
		uint64_t len)
{
	struct wseg *w = &s->w[wi];
	uint64_t start = w->start + s->taken[wi];

	/* Pieces of one run taken in several turns are one segment. */
	if (s->taken[wi]) {
		plan->picks[s->pick_of[wi]].len += (uint32_t)len;
	} else {
		if (plan->npicks == plan->cap)
			return -ENOSPC;
		s->pick_of[wi] = plan->npicks;
		plan->picks[plan->npicks++] = (struct ac_chunk_pick){
			.req = w->req, .owner = w->owner, .start = start,
			.len = (uint32_t)len,
		};
		s->segments++;
	}
	plan->gap_tokens += gap_overlap(s, w, start, len);
	s->tokens += len;
	s->pairs += piece_pairs(start, len);
	s->taken[wi] += len;
	return 0;
}

static int run_fixed(struct sched *s, struct ac_chunk_plan *plan)
{
	uint64_t budget = s->cfg->fixed_budget > s->in->decode_tokens ?
			  s->cfg->fixed_budget - s->in->decode_tokens : 0;

	for (uint32_t i = 0; i < s->nw && s->tokens < budget; i++) {
		uint64_t len = s->w[i].len;
		int r;

		if (len > budget - s->tokens)
			len = budget - s->tokens;
		r = emit(s, plan, i, len);
		if (r < 0)
			return r;
		if (len < s->w[i].len)
			break;	/* a request's later segments wait for this one */
	}
	return 0;
}

/* Largest L <= want that keeps the iteration under @limit. */
static uint64_t fit(const struct sched *s, uint64_t start, uint64_t want,
		    bool new_seg, double limit)
{
	uint64_t lo = 0, hi = want;
	uint32_t segs = s->segments + (new_seg ? 1 : 0);

	if (predict(s, s->tokens + want, s->pairs + piece_pairs(start, want),
		    segs) <= limit)
		return want;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo + 1) / 2;

		if (predict(s, s->tokens + mid,
			    s->pairs + piece_pairs(start, mid), segs) <= limit)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

static int run_adaptive(struct sched *s, struct ac_chunk_plan *plan)
{
	const struct ac_chunk_config *cfg = s->cfg;
	uint32_t knee = ac_cost_knee_tokens(s->m);
	uint32_t min_chunk = cfg->min_chunk ? cfg->min_chunk : knee;
	uint32_t quantum = cfg->quantum > min_chunk ? cfg->quantum : min_chunk;
	double limit = INFINITY;
	bool progress = true;

	/*
	 * With decodes in the batch the TPOT target bounds the iteration,
	 * but never below the time of the knee: those tokens are free.
	 */
	if (s->in->decode_tokens && cfg->tpot_target_s > 0) {
		double floor_s = predict(s, knee, 0, 0);

		if (s->nowners) {
			const struct owner_q *o = &s->oq[s->in->turn % s->nowners];
			const struct wseg *w = &s->w[o->wsegs[0]];
			uint64_t k = w->len < knee ? w->len : knee;

			floor_s = predict(s, k, piece_pairs(w->start, k), 1);
		}
		limit = fmax(cfg->tpot_target_s, floor_s);
	}
	while (progress && s->tokens < cfg->max_budget) {
		progress = false;
		for (uint32_t k = 0; k < s->nowners; k++) {
			struct owner_q *o = &s->oq[(s->in->turn + k) % s->nowners];
			uint32_t wi;
			uint64_t left, want, len, start;
			bool new_seg;
			int r;

			if (o->blocked || o->cur == o->n ||
			    s->tokens >= cfg->max_budget)
				continue;
			wi = o->wsegs[o->cur];
			left = s->w[wi].len - s->taken[wi];
			want = left < quantum ? left : quantum;
			if (want > cfg->max_budget - s->tokens)
				want = cfg->max_budget - s->tokens;
			start = s->w[wi].start + s->taken[wi];
			new_seg = s->taken[wi] == 0;
			len = fit(s, start, want, new_seg, limit);
			/* Do not cut a sliver off a segment: it wastes a tile. */
			if (len < want && len < min_chunk && len < left)
				len = 0;
			if (!len) {
				o->blocked = true;
				continue;
			}
			r = emit(s, plan, wi, len);
			if (r < 0)
				return r;
			progress = true;
			if (s->taken[wi] == s->w[wi].len)
				o->cur++;
			if (len < want)
				o->blocked = true;
		}
	}
	return 0;
}

int ac_chunk_schedule(const struct ac_chunk_config *cfg,
		      const struct ac_cost_model *m,
		      const struct ac_chunk_batch *in,
		      struct ac_chunk_plan *plan)
{
	struct sched s = { .cfg = cfg, .m = m, .in = in };
	int r;

	if (!cfg || !m || !in || !plan || (plan->cap && !plan->picks))
		return -EINVAL;
	if (cfg->mode != AC_CHUNK_ADAPTIVE && cfg->mode != AC_CHUNK_FIXED)
		return -EINVAL;
	if ((unsigned)cfg->order >= AC_CHUNK_NORDERS)
		return -EINVAL;
	if (cfg->mode == AC_CHUNK_FIXED && !cfg->fixed_budget)
		return -EINVAL;
	if (cfg->mode == AC_CHUNK_ADAPTIVE &&
	    (!cfg->max_budget || !(cfg->tpot_target_s >= 0)))
		return -EINVAL;
	if (!(m->linear_s > 0))
		return -EINVAL;
	r = validate(in);
	if (r < 0)
		return r;
	plan->npicks = 0;
	plan->prefill_tokens = plan->gap_tokens = 0;
	plan->segments = 0;
	plan->prefill_pairs = 0;
	r = build(&s);
	if (r < 0)
		goto out;
	r = cfg->mode == AC_CHUNK_FIXED ? run_fixed(&s, plan) :
					  run_adaptive(&s, plan);
	if (r < 0) {
		plan->npicks = 0;
		goto out;
	}
	plan->prefill_tokens = s.tokens;
	plan->segments = s.segments;
	plan->prefill_pairs = s.pairs;
	plan->predicted_s = predict(&s, s.tokens, s.pairs, s.segments);
out:
	free(s.w);
	free(s.gaps);
	free(s.oq);
	free(s.oq_idx);
	free(s.taken);
	free(s.pick_of);
	return r;
}
