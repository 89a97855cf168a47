/* SPDX-License-Identifier: MIT */
/*
 * Indexed binary min-heap over block ids, shared by the policies.
 *
 * Each entry carries its own key so that sifting touches one array only;
 * where[] maps a block id to its slot, which is what makes removal and
 * re-keying of an arbitrary block O(log n). Order is (key, tie, id), all
 * ascending, so equal keys still pop in a deterministic order.
 *
 * The policies use it lazily (docs/policy.md, "Lazy heap"): an entry's key
 * may be a stale lower bound of the block's true key, and a pinned block
 * may still sit in the heap. pq_peek() lets pick_victims look at the top,
 * then drop it or re-key it at its true value before trusting it.
 *
 * Internal to policy/: not installed, prefix pq_.
 */
#ifndef AC_POLICY_PQ_H
#define AC_POLICY_PQ_H

#include <stdbool.h>
#include <stdint.h>

#define PQ_NONE UINT32_MAX

struct pq_entry {
	uint64_t key;
	uint32_t tie;
	uint32_t id;
};

struct pq {
	struct pq_entry *e;
	uint32_t *where;	/* id -> slot, PQ_NONE when absent */
	uint32_t n;
	uint32_t cap;		/* == number of ids */
	uint64_t steps;		/* sift steps taken: lets tests check O(log n) */
};

int pq_init(struct pq *q, uint32_t nids);
void pq_destroy(struct pq *q);

static inline bool pq_contains(const struct pq *q, uint32_t id)
{
	return id < q->cap && q->where[id] != PQ_NONE;
}

/* Insert, or re-key if present. */
void pq_set(struct pq *q, uint32_t id, uint64_t key, uint32_t tie);
/* Remove if present; returns whether it was. */
bool pq_remove(struct pq *q, uint32_t id);
/* The minimum, left in place; false when empty. */
static inline bool pq_peek(const struct pq *q, uint32_t *ret_id,
			   uint64_t *ret_key)
{
	if (!q->n)
		return false;
	*ret_id = q->e[0].id;
	*ret_key = q->e[0].key;
	return true;
}

/* Key of a present id. */
static inline uint64_t pq_key(const struct pq *q, uint32_t id)
{
	return q->e[q->where[id]].key;
}

/*
 * Non-negative doubles order like their IEEE-754 bit patterns read as
 * unsigned integers, so the priority policies share the integer heap.
 */
static inline uint64_t pq_key_from_double(double d)
{
	union { double d; uint64_t u; } v;

	if (!(d > 0.0))		/* also catches NaN and -0.0 */
		return 0;
	v.d = d;
	return v.u;
}

static inline double pq_key_to_double(uint64_t k)
{
	union { double d; uint64_t u; } v = { .u = k };

	return v.d;
}

#endif /* AC_POLICY_PQ_H */
