/* SPDX-License-Identifier: MIT */
/*
 * lru: what vLLM's automatic prefix caching does. A block's age is the
 * time it last left use (unpin) or was hit; the oldest goes first, and
 * among blocks released together the deepest of the chain goes first, as
 * vLLM appends a finished request's blocks to its free queue tail-first so
 * that a shared prefix outlives the suffixes hanging off it.
 *
 * One heap keyed (time, ~pos): every operation is O(log n).
 */
#include <errno.h>
#include <stdlib.h>

#include "policy-internal.h"
#include "pq.h"

#define LRU_LIVE	0x1

struct lru {
	struct pq q;
	uint32_t *pos;
	uint8_t *flags;
};

static int lru_init(struct ac_policy *p, uint32_t nblocks)
{
	struct lru *l;
	int r;

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	p->priv = l;
	r = pq_init(&l->q, nblocks);
	if (r < 0)
		return r;
	l->pos = calloc(nblocks ? nblocks : 1, sizeof(*l->pos));
	l->flags = calloc(nblocks ? nblocks : 1, sizeof(*l->flags));
	if (!l->pos || !l->flags)
		return -ENOMEM;
	return 0;
}

static void lru_destroy(struct ac_policy *p)
{
	struct lru *l = p->priv;

	if (!l)
		return;
	pq_destroy(&l->q);
	free(l->pos);
	free(l->flags);
	free(l);
	p->priv = NULL;
}

static void lru_touch(struct lru *l, uint32_t id, uint64_t now_ns)
{
	pq_set(&l->q, id, now_ns, UINT32_MAX - l->pos[id]);
}

static void lru_on_insert(struct ac_policy *p, const struct ac_policy_block *b,
			  uint64_t now_ns)
{
	struct lru *l = p->priv;

	if (b->id >= p->nblocks)
		return;
	l->flags[b->id] = LRU_LIVE;
	l->pos[b->id] = b->pos;
	if (b->pinned)
		pq_remove(&l->q, b->id);
	else
		lru_touch(l, b->id, now_ns);
}

static void lru_on_access(struct ac_policy *p, uint32_t id, uint64_t now_ns)
{
	struct lru *l = p->priv;

	/* A pinned block has no place in the heap until it is released. */
	if (pq_contains(&l->q, id))
		lru_touch(l, id, now_ns);
}

static void lru_on_pin(struct ac_policy *p, uint32_t id)
{
	struct lru *l = p->priv;

	pq_remove(&l->q, id);
}

static void lru_on_unpin(struct ac_policy *p, uint32_t id, uint64_t now_ns)
{
	struct lru *l = p->priv;

	if (id < p->nblocks && (l->flags[id] & LRU_LIVE))
		lru_touch(l, id, now_ns);
}

static void lru_on_remove(struct ac_policy *p, uint32_t id)
{
	struct lru *l = p->priv;

	if (id >= p->nblocks)
		return;
	pq_remove(&l->q, id);
	l->flags[id] = 0;
}

static int lru_pick_victims(struct ac_policy *p, uint32_t want, uint32_t *out,
			    uint64_t now_ns)
{
	struct lru *l = p->priv;
	uint32_t n = 0;

	if (want && !out)
		return -EINVAL;
	while (n < want && pq_pop(&l->q, &out[n], NULL)) {
		l->flags[out[n]] = 0;
		n++;
	}
	return (int)n;
}

uint64_t lru_heap_steps(const struct ac_policy *p)
{
	const struct lru *l = p->priv;

	return l->q.steps;
}

size_t lru_bytes_per_block(void)
{
	return sizeof(struct pq_entry) + sizeof(uint32_t) * 2 + sizeof(uint8_t);
}

const struct ac_policy_ops ac_policy_lru = {
	.name		= "lru",
	.description	= "least recently used, deepest block first on ties (vLLM APC)",
	.init		= lru_init,
	.on_insert	= lru_on_insert,
	.on_access	= lru_on_access,
	.on_pin		= lru_on_pin,
	.on_unpin	= lru_on_unpin,
	.on_remove	= lru_on_remove,
	.pick_victims	= lru_pick_victims,
	.destroy	= lru_destroy,
};
