/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "retain.h"

struct entry {
	uint64_t handle;
	uint64_t expire_ns;
	uint32_t client;
	uint32_t n;
	uint32_t *blocks;
};

struct quota {
	uint32_t client;
	uint64_t max, used;
};

/*
 * Entries are few (one per paused session), so flat arrays: expiry scans
 * them. The daemon's limits cap sessions, which caps this.
 */
struct ac_retain {
	struct entry *e;
	size_t n, cap;
	struct quota *q;
	size_t nq, qcap;
	uint64_t next_handle;
};

int ac_retain_new(struct ac_retain **ret)
{
	if (!ret)
		return -EINVAL;
	*ret = calloc(1, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	(*ret)->next_handle = 1;
	return 0;
}

struct ac_retain *ac_retain_free(struct ac_retain *r)
{
	if (!r)
		return NULL;
	for (size_t i = 0; i < r->n; i++)
		free(r->e[i].blocks);
	free(r->e);
	free(r->q);
	free(r);
	return NULL;
}

static struct quota *quota_get(struct ac_retain *r, uint32_t client,
			       bool create)
{
	for (size_t i = 0; i < r->nq; i++)
		if (r->q[i].client == client)
			return &r->q[i];
	if (!create)
		return NULL;
	if (r->nq == r->qcap) {
		size_t cap = r->qcap ? r->qcap * 2 : 16;
		struct quota *q = realloc(r->q, cap * sizeof(*q));

		if (!q)
			return NULL;
		r->q = q;
		r->qcap = cap;
	}
	r->q[r->nq] = (struct quota){ .client = client, .max = UINT64_MAX };
	return &r->q[r->nq++];
}

int ac_retain_set_quota(struct ac_retain *r, uint32_t client,
			uint64_t max_blocks)
{
	struct quota *q;

	if (!r)
		return -EINVAL;
	q = quota_get(r, client, true);
	if (!q)
		return -ENOMEM;
	q->max = max_blocks;
	return 0;
}

uint64_t ac_retain_used(const struct ac_retain *r, uint32_t client)
{
	for (size_t i = 0; r && i < r->nq; i++)
		if (r->q[i].client == client)
			return r->q[i].used;
	return 0;
}

int ac_retain_add(struct ac_retain *r, uint32_t client,
		  const uint32_t *blocks, uint32_t n, uint64_t expire_ns,
		  uint64_t *ret_handle)
{
	struct quota *q;
	struct entry *e;

	if (!r || !blocks || !n || !ret_handle)
		return -EINVAL;
	q = quota_get(r, client, true);
	if (!q)
		return -ENOMEM;
	if (q->used + n > q->max || q->used + n < q->used)
		return -EDQUOT;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;

		e = realloc(r->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		r->e = e;
		r->cap = cap;
	}
	e = &r->e[r->n];
	e->blocks = malloc(n * sizeof(*e->blocks));
	if (!e->blocks)
		return -ENOMEM;
	memcpy(e->blocks, blocks, n * sizeof(*blocks));
	e->n = n;
	e->client = client;
	e->expire_ns = expire_ns;
	e->handle = r->next_handle++;
	q->used += n;
	r->n++;
	*ret_handle = e->handle;
	return 0;
}

static void take(struct ac_retain *r, size_t i, uint32_t **ret_blocks,
		 uint32_t *ret_n)
{
	struct quota *q = quota_get(r, r->e[i].client, false);

	if (q)
		q->used -= r->e[i].n;
	*ret_blocks = r->e[i].blocks;
	*ret_n = r->e[i].n;
	r->e[i] = r->e[--r->n];
}

int ac_retain_release(struct ac_retain *r, uint64_t handle,
		      uint32_t **ret_blocks, uint32_t *ret_n)
{
	if (!r || !ret_blocks || !ret_n)
		return -EINVAL;
	for (size_t i = 0; i < r->n; i++)
		if (r->e[i].handle == handle) {
			take(r, i, ret_blocks, ret_n);
			return 0;
		}
	return -ENOENT;
}

int ac_retain_expire(struct ac_retain *r, uint64_t now_ns,
		     uint32_t **ret_blocks, uint32_t *ret_n)
{
	uint64_t h;

	return ac_retain_expire_handle(r, now_ns, ret_blocks, ret_n, &h);
}

int ac_retain_expire_handle(struct ac_retain *r, uint64_t now_ns,
			    uint32_t **ret_blocks, uint32_t *ret_n,
			    uint64_t *ret_handle)
{
	size_t best = SIZE_MAX;

	if (!r || !ret_blocks || !ret_n || !ret_handle)
		return -EINVAL;
	for (size_t i = 0; i < r->n; i++)
		if (r->e[i].expire_ns <= now_ns &&
		    (best == SIZE_MAX || r->e[i].expire_ns < r->e[best].expire_ns))
			best = i;
	if (best == SIZE_MAX)
		return 0;
	*ret_handle = r->e[best].handle;
	take(r, best, ret_blocks, ret_n);
	return 1;
}

int ac_retain_pop_latest(struct ac_retain *r, uint32_t **ret_blocks,
			 uint32_t *ret_n, uint64_t *ret_handle)
{
	size_t best = SIZE_MAX;

	if (!r || !ret_blocks || !ret_n || !ret_handle)
		return -EINVAL;
	for (size_t i = 0; i < r->n; i++)
		if (best == SIZE_MAX || r->e[i].expire_ns > r->e[best].expire_ns)
			best = i;
	if (best == SIZE_MAX)
		return 0;
	*ret_handle = r->e[best].handle;
	take(r, best, ret_blocks, ret_n);
	return 1;
}

uint64_t ac_retain_next_expiry(const struct ac_retain *r)
{
	uint64_t t = UINT64_MAX;

	for (size_t i = 0; r && i < r->n; i++)
		if (r->e[i].expire_ns < t)
			t = r->e[i].expire_ns;
	return t;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double ac_ttl_pick(const double *tool_s, size_t n, double recompute_s,
		   double hold_s_per_s, double fallback_s)
{
	double *d, best_t = 0, best_v = 0, sum = 0;

	if (!n || !tool_s)
		return fallback_s;
	if (!(recompute_s > 0))
		return 0;
	d = malloc(n * sizeof(*d));
	if (!d)
		return fallback_s;
	memcpy(d, tool_s, n * sizeof(*d));
	qsort(d, n, sizeof(*d), cmp_double);
	/*
	 * ttl = d[i]: the i + 1 shortest calls resume in time; the hold lasts
	 * their durations and the full ttl for the rest.
	 */
	for (size_t i = 0; i < n; i++) {
		double ttl = d[i], v;

		if (!(ttl >= 0) || !isfinite(ttl))
			continue;
		sum += ttl;
		v = (double)(i + 1) / n * recompute_s -
		    hold_s_per_s * (sum + ttl * (double)(n - i - 1)) / n;
		if (v > best_v) {
			best_v = v;
			best_t = ttl;
		}
	}
	free(d);
	return best_t;
}

struct tool_call {
	float expect_s;		/* <= 0: undeclared */
	float took_s;		/* < 0: never came back */
};

struct tool_ring {
	uint32_t program;
	uint32_t n, next;	/* filled, and the slot written next */
	struct tool_call *c;	/* keep entries */
};

/* Programs come and go: an open-addressing table, doubled when half full. */
struct ac_tool_stats {
	uint32_t keep, min_own;
	struct tool_ring global;
	struct tool_ring *rings;
	size_t nrings, cap;
	uint64_t calls, unused;
};

#define PROGRAM_EMPTY UINT32_MAX

int ac_tool_stats_new(uint32_t keep, uint32_t min_own,
		      struct ac_tool_stats **ret)
{
	struct ac_tool_stats *s;

	if (!ret || !keep || min_own > keep)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->keep = keep;
	s->min_own = min_own;
	s->global.c = calloc(keep * 8, sizeof(*s->global.c));
	if (!s->global.c) {
		free(s);
		return -ENOMEM;
	}
	*ret = s;
	return 0;
}

struct ac_tool_stats *ac_tool_stats_free(struct ac_tool_stats *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->cap; i++)
		free(s->rings[i].c);
	free(s->rings);
	free(s->global.c);
	free(s);
	return NULL;
}

static size_t ring_slot(const struct tool_ring *rings, size_t cap,
			uint32_t program)
{
	size_t h = (program * 0x9e3779b1u) & (cap - 1);

	while (rings[h].program != PROGRAM_EMPTY && rings[h].program != program)
		h = (h + 1) & (cap - 1);
	return h;
}

static int rings_grow(struct ac_tool_stats *s)
{
	size_t cap = s->cap ? s->cap * 2 : 64;
	struct tool_ring *n = calloc(cap, sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < cap; i++)
		n[i].program = PROGRAM_EMPTY;
	for (size_t i = 0; i < s->cap; i++)
		if (s->rings[i].program != PROGRAM_EMPTY)
			n[ring_slot(n, cap, s->rings[i].program)] = s->rings[i];
	free(s->rings);
	s->rings = n;
	s->cap = cap;
	return 0;
}

static void ring_put(struct tool_ring *g, uint32_t keep, struct tool_call c)
{
	g->c[g->next] = c;
	g->next = (g->next + 1) % keep;
	if (g->n < keep)
		g->n++;
}

int ac_tool_stats_add(struct ac_tool_stats *s, uint32_t program,
		      double expect_s, double took_s)
{
	struct tool_call c = { .expect_s = (float)expect_s,
			       .took_s = (float)(took_s < 0 ? -1 : took_s) };
	struct tool_ring *g;
	size_t h;
	int r;

	if (!s || program == PROGRAM_EMPTY || isnan(expect_s) || isnan(took_s))
		return -EINVAL;
	if (2 * (s->nrings + 1) > s->cap) {
		r = rings_grow(s);
		if (r < 0)
			return r;
	}
	h = ring_slot(s->rings, s->cap, program);
	g = &s->rings[h];
	if (g->program == PROGRAM_EMPTY) {
		g->c = calloc(s->keep, sizeof(*g->c));
		if (!g->c)
			return -ENOMEM;
		g->program = program;
		s->nrings++;
	}
	ring_put(g, s->keep, c);
	/* The global history is longer: it stands for every program. */
	ring_put(&s->global, s->keep * 8, c);
	s->calls++;
	if (took_s < 0)
		s->unused++;
	return 0;
}

size_t ac_tool_stats_predict(const struct ac_tool_stats *s, uint32_t program,
			     double expect_s, double *out, size_t cap)
{
	const struct tool_ring *g = &s->global;
	size_t n = 0;

	if (!s || !out)
		return 0;
	if (s->cap) {
		const struct tool_ring *own =
			&s->rings[ring_slot(s->rings, s->cap, program)];

		if (own->program == program && own->n >= s->min_own &&
		    own->n > 0)
			g = own;
	}
	for (uint32_t i = 0; i < g->n && n < cap; i++) {
		const struct tool_call *c = &g->c[i];

		if (c->took_s < 0)
			out[n++] = INFINITY;
		else if (expect_s > 0 && c->expect_s > 0)
			out[n++] = c->took_s / c->expect_s * expect_s;
		else
			out[n++] = c->took_s;
	}
	return n;
}

void ac_tool_stats_counts(const struct ac_tool_stats *s, uint64_t *ret_calls,
			  uint64_t *ret_unused)
{
	*ret_calls = s ? s->calls : 0;
	*ret_unused = s ? s->unused : 0;
}

double ac_retain_pick_ttl(const struct ac_tool_stats *s, uint32_t program,
			  double expect_s, double recompute_s, double bytes,
			  double price_s_per_byte_s)
{
	double d[1024];
	size_t n = ac_tool_stats_predict(s, program, expect_s, d,
					 sizeof(d) / sizeof(d[0]));

	if (!n)
		return expect_s > 0 ? 2 * expect_s : 0;
	return ac_ttl_pick(d, n, recompute_s, price_s_per_byte_s * bytes, 0);
}

void ac_space_price_init(struct ac_space_price *p, double window_s)
{
	*p = (struct ac_space_price){ .window_s = window_s > 0 ? window_s : 60 };
}

void ac_space_price_evicted(struct ac_space_price *p, double now_s,
			    double recompute_s)
{
	if (now_s > p->t) {
		p->sum *= exp(-(now_s - p->t) / p->window_s);
		p->t = now_s;
	}
	if (recompute_s > 0)
		p->sum += recompute_s;
}

double ac_space_price_get(const struct ac_space_price *p, double now_s,
			  double pool_bytes)
{
	double sum = p->sum;

	if (!(pool_bytes > 0))
		return 0;
	if (now_s > p->t)
		sum *= exp(-(now_s - p->t) / p->window_s);
	return sum / p->window_s / pool_bytes;
}
