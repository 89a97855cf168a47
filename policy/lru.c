/* SPDX-License-Identifier: MIT */
/*
 * lru: what vLLM's automatic prefix caching does. A block's age is the
 * time it last left use (unpin) or was hit; the oldest goes first, and
 * among blocks released together the deepest of the chain goes first, as
 * vLLM appends a finished request's blocks to its free queue tail-first so
 * that a shared prefix outlives the suffixes hanging off it.
 *
 * One heap keyed (time, ~pos), kept lazily so that the lookup path (hit,
 * pin, release) is O(1): t[] holds a block's true time and its heap entry
 * only a lower bound of it. A pin only clears LRU_CAND and leaves the entry
 * where it is; a hit or release with a later time only moves t[]. The heap
 * top is trusted only once its key equals t[]: a pinned top is dropped, a
 * stale one re-keyed to t[] and sifted down. Every other entry's key is
 * at most its true key, so a top whose key is true is the true minimum.
 * Each lazy step leaves at most one O(log n) fix-up to pick_victims, which
 * therefore stays O(log n) amortised. A time earlier than the entry's (a
 * caller whose clock is not monotonic) would break the lower bound, so it
 * re-keys at once.
 */
#include <errno.h>
#include <stdlib.h>

#include "policy-internal.h"
#include "pq.h"

#define LRU_LIVE	0x1
#define LRU_CAND	0x2	/* live and unpinned: may be picked */

struct lru {
	struct pq q;
	uint64_t *t;		/* true key: last release or hit */
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
	l->t = calloc(nblocks ? nblocks : 1, sizeof(*l->t));
	l->pos = calloc(nblocks ? nblocks : 1, sizeof(*l->pos));
	l->flags = calloc(nblocks ? nblocks : 1, sizeof(*l->flags));
	if (!l->t || !l->pos || !l->flags)
		return -ENOMEM;
	return 0;
}

static void lru_destroy(struct ac_policy *p)
{
	struct lru *l = p->priv;

	if (!l)
		return;
	pq_destroy(&l->q);
	free(l->t);
	free(l->pos);
	free(l->flags);
	free(l);
	p->priv = NULL;
}

static uint32_t lru_tie(const struct lru *l, uint32_t id)
{
	return UINT32_MAX - l->pos[id];
}

/* @id, a candidate, was used at @now_ns. O(1) unless it is not queued. */
static void lru_touch(struct lru *l, uint32_t id, uint64_t now_ns)
{
	l->t[id] = now_ns;
	if (!pq_contains(&l->q, id) || now_ns < pq_key(&l->q, id))
		pq_set(&l->q, id, now_ns, lru_tie(l, id));
}

static void lru_on_insert(struct ac_policy *p, const struct ac_policy_block *b,
			  uint64_t now_ns)
{
	struct lru *l = p->priv;

	if (b->id >= p->nblocks)
		return;
	/* An entry left from an earlier life carries the old pos as tie. */
	pq_remove(&l->q, b->id);
	l->pos[b->id] = b->pos;
	l->t[b->id] = now_ns;
	l->flags[b->id] = LRU_LIVE;
	if (!b->pinned) {
		l->flags[b->id] |= LRU_CAND;
		lru_touch(l, b->id, now_ns);
	}
}

static void lru_on_access(struct ac_policy *p, uint32_t id, uint64_t now_ns)
{
	struct lru *l = p->priv;

	/* A pinned block's age is set when it is released. */
	if (id < p->nblocks && (l->flags[id] & LRU_CAND))
		lru_touch(l, id, now_ns);
}

static void lru_on_pin(struct ac_policy *p, uint32_t id)
{
	struct lru *l = p->priv;

	/* The heap entry stays; pick_victims drops it if it surfaces. */
	if (id < p->nblocks)
		l->flags[id] &= ~LRU_CAND;
}

static void lru_on_unpin(struct ac_policy *p, uint32_t id, uint64_t now_ns)
{
	struct lru *l = p->priv;

	if (id >= p->nblocks || !(l->flags[id] & LRU_LIVE))
		return;
	l->flags[id] |= LRU_CAND;
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
	uint32_t n = 0, id;
	uint64_t key;

	if (want && !out)
		return -EINVAL;
	while (n < want && pq_peek(&l->q, &id, &key)) {
		if (!(l->flags[id] & LRU_CAND)) {
			pq_remove(&l->q, id);	/* pinned: re-queued on unpin */
			continue;
		}
		if (key != l->t[id]) {
			pq_set(&l->q, id, l->t[id], lru_tie(l, id));
			continue;
		}
		pq_remove(&l->q, id);
		l->flags[id] = 0;
		out[n++] = id;
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
	return sizeof(struct pq_entry) + sizeof(uint32_t) * 2 +
	       sizeof(uint64_t) + sizeof(uint8_t);
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
