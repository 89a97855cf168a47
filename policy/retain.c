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
	size_t best = SIZE_MAX;

	if (!r || !ret_blocks || !ret_n)
		return -EINVAL;
	for (size_t i = 0; i < r->n; i++)
		if (r->e[i].expire_ns <= now_ns &&
		    (best == SIZE_MAX || r->e[i].expire_ns < r->e[best].expire_ns))
			best = i;
	if (best == SIZE_MAX)
		return 0;
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
