/* SPDX-License-Identifier: MIT */
/*
 * asym: GreedyDual-Size-Frequency over position- and hole-aware recompute
 * cost.
 *
 *   priority = L + f(hits) * cost / bytes
 *   cost     = recompute(T, p) + segment_s * dseg
 *
 * recompute() grows with the position p (attention over p earlier tokens).
 * dseg is the change in the number of query segments the eviction causes
 * for a request that reuses the chain: +1 when the block sits inside a
 * resident run (a new hole), 0 when it borders one hole or the chain's end
 * (the hole or the prompt tail grows), -1 when it joins two holes. L is the
 * inflation value, the priority of the last victim: a block not touched
 * for a while sinks below new arrivals without any aging pass. Dividing
 * by bytes makes priorities seconds of recompute saved per byte,
 * comparable across namespaces.
 *
 * f(hits) = 1 + log2(1 + hits) once a block has been reused. Before, a
 * block weighs what its namespace's unreused blocks have turned out to be
 * worth: u * f(1), where u is the share of them that were reused before
 * their eviction (counted per namespace at each eviction, halved every
 * pool's worth of outcomes), kept between 1/4 and 1 and fixed at the
 * block's insert.
 * Where most such content never returns (one-off scans, a question's tail,
 * the first read of a rarely asked document) u is low and the block keeps
 * a quarter of its credit: with full credit its recompute cost, high when
 * deep, kept it long after its request. Where it nearly always returns
 * (an agent program's first turn, a chain recomputed after an eviction,
 * which the program reads again after its tool call) u is high: with a
 * fixed quarter those blocks went first, during the very tool call that
 * the next turn waits on, and were recomputed again and again
 * (bench/results/sim_workloads.md).
 *
 * Session blocks are the exception: a block appended to a chain that the
 * same request had just read to its end (the parent was reused, is pinned
 * and has no other child) continues a conversation or an agent program.
 * Their next use is the chain's next turn, and how often the chain was
 * read before says little about whether one more turn comes (a program
 * that has run 25 turns is near its end), so their value
 * is f = 1 whatever the hits: counting them kept finished programs' heads
 * over the fresh tails of paused ones (bench/results/sim_workloads.md). A
 * session read and continued again makes its private head (up to where
 * the chain branches off a shared prefix) session blocks too. A block that
 * on_link shows to have a resident child refilled a hole, not an
 * extension: it and the rest of the refilled run take the kind of the
 * chain they fill and its hit count, at least one (refill()).
 *
 * Hole state comes from the chain links: parent from the core, children
 * from inverting it, so an eviction can re-key its neighbours.
 *
 * The heap is lazy so that the lookup path is O(1): a hit or a release
 * only raises a priority (L never falls, hits only grow), so it only marks
 * the block ASYM_DIRTY and leaves the heap entry as a lower bound; a pin
 * only clears ASYM_CAND. pick_victims drops a pinned top, and computes a
 * dirty top's priority and re-keys it if it rose, before trusting it,
 * which is exact for the same reason as in lru.c. A key that falls (a
 * neighbour left, so a hole now borders the block; a namespace's cost
 * model changed) is re-keyed at once: that happens on eviction, removal
 * and configuration, not on lookups. All fix-ups are O(log n) and each is
 * paid for by one earlier O(1) step, so pick_victims stays O(log n)
 * amortised.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "policy-internal.h"
#include "pq.h"

#define ASYM_LIVE	0x1
#define ASYM_CAND	0x2	/* live and unpinned: may be picked */
#define ASYM_DIRTY	0x4	/* key is stale: the true priority is higher */
#define ASYM_HINT	0x8	/* soft TTL: a reuse is expected (on_hint) */
#define ASYM_SESSION	0x10	/* appended to a chain just read to its end */
/* Bits 5-7: the weight of the block while unreused, (2 + level) / 8. */
#define ASYM_PRIOR_SHIFT	5
#define ASYM_PRIOR_MAX		6	/* 8/8: what a session block weighs */
#define ASYM_PRIOR_NONE		7	/* written as a session block: not counted */
#define HITS_MAX	UINT16_MAX

struct asym_blk {
	uint64_t key;		/* priority unless DIRTY; the heap may hold less */
	uint32_t parent;	/* AC_BLOCK_NONE when the slot before is a hole */
	uint32_t child;		/* first of the children list */
	uint32_t next;		/* siblings */
	uint32_t prev;
	uint32_t nlive;		/* live entries of the children list */
	uint32_t pos;
	float base;		/* L when the block was last used */
	uint16_t hits;
	uint8_t ns;
	uint8_t flags;
};

struct asym {
	struct pq q;
	struct asym_blk *b;
	uint32_t nblocks;
	double inflation;
	struct pns_table ns;
	unsigned ablate;	/* ASYM_ABLATE_*: terms switched off */
	uint32_t since_aging;	/* evictions since hits were last halved */
	/*
	 * Per namespace slot: victims written as non-session blocks that
	 * were reused before their eviction, and those that were not. Both
	 * halve once their sum passes nblocks, so the share follows the
	 * workload.
	 */
	uint32_t reused[PNS_MAX];
	uint32_t lost[PNS_MAX];
};

/* Weight of a block never reused yet, from its prior level (header). */
#define FREQ_UNUSED	0.25

static double freq(const struct asym *a, const struct asym_blk *x,
		   uint32_t hits)
{
	if (!hits && !(a->ablate & ASYM_CLASSIC)) {
		if (a->ablate & ASYM_FIXED_PRIOR)
			return FREQ_UNUSED;
		unsigned level = x->flags >> ASYM_PRIOR_SHIFT;

		if (level > ASYM_PRIOR_MAX)	/* born a session, now none */
			level = ASYM_PRIOR_MAX;
		return (2 + level) / 8.0;
	}
	/* Sub-linear: a hot system prompt should not pin itself forever. */
	return 1.0 + log2(1.0 + hits);
}

/*
 * The prior level of a block written now in namespace slot @ns: the share
 * u of unreused blocks reused before eviction, times f(1) = 2 (what one
 * reuse will make it worth), in eighths, between 1/4 and 1. With no
 * outcome yet, 1.
 */
static uint8_t prior_level(const struct asym *a, uint8_t ns)
{
	uint64_t r = a->reused[ns], n = r + a->lost[ns];
	uint64_t eighths;

	if (!n)
		return ASYM_PRIOR_MAX;
	eighths = (16 * r + n / 2) / n;	/* 8 * 2u, rounded */
	if (eighths < 2)
		return 0;
	return eighths - 2 > ASYM_PRIOR_MAX ? ASYM_PRIOR_MAX : eighths - 2;
}

/*
 * Victim @x's fate, if it was written as a non-session block: reused (hit
 * at least once) or lost unreused. Counted at eviction, both, so the hit
 * path pays nothing and each block counts once.
 */
static void prior_count(struct asym *a, const struct asym_blk *x)
{
	uint8_t ns = x->ns;

	if ((x->flags >> ASYM_PRIOR_SHIFT) == ASYM_PRIOR_NONE)
		return;
	if (x->hits)
		a->reused[ns]++;
	else
		a->lost[ns]++;
	if ((uint64_t)a->reused[ns] + a->lost[ns] > a->nblocks) {
		a->reused[ns] >>= 1;
		a->lost[ns] >>= 1;
	}
}

static bool is_live(const struct asym *a, uint32_t id)
{
	return id < a->nblocks && (a->b[id].flags & ASYM_LIVE);
}

static double cost_of(const struct asym *a, uint32_t id)
{
	const struct asym_blk *x = &a->b[id];
	const struct pns *s = &a->ns.slot[x->ns];
	bool left_hole = x->pos > 0 && !is_live(a, x->parent);
	bool right_hole = x->nlive == 0;
	int dseg = 1 - (int)left_hole - (int)right_hole;
	double rec = pns_block_cost(s, a->ablate & ASYM_ABLATE_POSITION ?
					0 : x->pos);
	double c = rec + s->segment_s * dseg;

	/*
	 * Joining two holes may save more segment overhead than the block
	 * costs to rebuild; the overhead is an estimate, so never let the
	 * credit take more than half the block's own recompute.
	 */
	return c > rec / 2 ? c : rec / 2;
}

static double prio_of(const struct asym *a, uint32_t id)
{
	const struct asym_blk *x = &a->b[id];

	bool hint = x->flags & ASYM_HINT;
	double f;

	if (a->ablate & ASYM_ABLATE_FREQUENCY)
		f = 1;
	else if ((x->flags & ASYM_SESSION) && !(a->ablate & ASYM_CLASSIC))
		f = hint ? freq(a, x, 1) : 1;
	else
		f = freq(a, x, x->hits + hint);

	return x->base + f * cost_of(a, id) / a->ns.slot[x->ns].bytes;
}

static uint32_t tie_of(const struct asym *a, uint32_t id)
{
	return UINT32_MAX - a->b[id].pos;
}

/*
 * Set the true key of candidate @id. The heap only has to hear of it when
 * the entry is missing or would overstate the key; a raise waits for
 * pick_victims.
 */
static void queue(struct asym *a, uint32_t id)
{
	uint64_t key = pq_key_from_double(prio_of(a, id));

	a->b[id].key = key;
	a->b[id].flags &= ~ASYM_DIRTY;
	if (!pq_contains(&a->q, id) || key < pq_key(&a->q, id))
		pq_set(&a->q, id, key, tie_of(a, id));
}

/*
 * The priority of candidate @id only rose (a hit or a release): note it,
 * and compute it when the block reaches the top of the heap.
 */
static void lazy_raise(struct asym *a, uint32_t id)
{
	if (pq_contains(&a->q, id))
		a->b[id].flags |= ASYM_DIRTY;
	else
		queue(a, id);
}

/*
 * The key of @id may have fallen in a way no neighbour's hole explains (it
 * joined a session): re-key a candidate now; a pinned block's entry could
 * overstate it, so drop the entry (the release queues it again).
 */
static void rekey_fallen(struct asym *a, uint32_t id)
{
	if (a->b[id].flags & ASYM_CAND)
		queue(a, id);
	else
		pq_remove(&a->q, id);
}

/* Re-key a neighbour whose hole state changed, if it is a candidate. */
static void requeue(struct asym *a, uint32_t id)
{
	if (a->b[id].flags & ASYM_CAND)
		queue(a, id);
}

static void child_unlink(struct asym *a, uint32_t parent, uint32_t id)
{
	struct asym_blk *x = &a->b[id];

	if (x->prev != AC_BLOCK_NONE)
		a->b[x->prev].next = x->next;
	else
		a->b[parent].child = x->next;
	if (x->next != AC_BLOCK_NONE)
		a->b[x->next].prev = x->prev;
	x->next = x->prev = AC_BLOCK_NONE;
}

static void child_link(struct asym *a, uint32_t parent, uint32_t id)
{
	struct asym_blk *x = &a->b[id], *p = &a->b[parent];

	x->parent = parent;
	x->prev = AC_BLOCK_NONE;
	x->next = p->child;
	if (p->child != AC_BLOCK_NONE)
		a->b[p->child].prev = id;
	p->child = id;
}

/* The block leaves CACHED: neighbours now border a hole. */
static void detach(struct asym *a, uint32_t id)
{
	struct asym_blk *x = &a->b[id];
	uint32_t c, parent = x->parent;

	pq_remove(&a->q, id);
	x->flags = 0;
	if (parent != AC_BLOCK_NONE) {
		child_unlink(a, parent, id);
		if (--a->b[parent].nlive == 0)
			requeue(a, parent);
		x->parent = AC_BLOCK_NONE;
	}
	for (c = x->child; c != AC_BLOCK_NONE;) {
		uint32_t next = a->b[c].next;

		a->b[c].parent = AC_BLOCK_NONE;
		a->b[c].next = a->b[c].prev = AC_BLOCK_NONE;
		requeue(a, c);
		c = next;
	}
	x->child = AC_BLOCK_NONE;
	x->nlive = 0;
}

static int asym_init(struct ac_policy *p, uint32_t nblocks)
{
	struct asym *a;
	int r;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	p->priv = a;
	a->nblocks = nblocks;
	pns_init(&a->ns);
	r = pq_init(&a->q, nblocks);
	if (r < 0)
		return r;
	a->b = malloc((size_t)nblocks * sizeof(*a->b));
	if (!a->b)
		return -ENOMEM;
	for (uint32_t i = 0; i < nblocks; i++)
		a->b[i] = (struct asym_blk){
			.parent = AC_BLOCK_NONE, .child = AC_BLOCK_NONE,
			.next = AC_BLOCK_NONE, .prev = AC_BLOCK_NONE,
		};
	return 0;
}

static void asym_destroy(struct ac_policy *p)
{
	struct asym *a = p->priv;

	if (!a)
		return;
	pq_destroy(&a->q);
	free(a->b);
	free(a);
	p->priv = NULL;
}

static int asym_on_namespace(struct ac_policy *p, const struct ac_policy_ns *ns)
{
	struct asym *a = p->priv;
	uint8_t slot = ns ? pns_slot(&a->ns, ns->ns_id) : 0;
	struct pns old = a->ns.slot[slot];
	int r;

	r = pns_set(&a->ns, ns);
	if (r < 0)
		return r;
	/* New (slot 0 is the fallback, never set), or announced again as is. */
	if (!slot || !memcmp(&old, &a->ns.slot[slot], sizeof(old)))
		return 0;
	/*
	 * A changed cost model may lower priorities, which the lazy heap
	 * must hear of at once; it also puts every block of the namespace
	 * on the new model together. O(n log n), on configuration only.
	 */
	for (uint32_t id = 0; id < a->nblocks; id++)
		if (a->b[id].ns == slot && (a->b[id].flags & ASYM_CAND))
			queue(a, id);
	return 0;
}

/*
 * Session tip @id was read and continued a second time: the chain is a
 * conversation, and so is its private head, the blocks above its first
 * extension up to where it branches off a shared prefix (an agent
 * program's task under the system prompt). They become session blocks;
 * their keys fall, so candidates are re-keyed and pinned blocks lose
 * their heap entry (the release queues them again). O(chain), once a turn,
 * as the turn's own hits are.
 */
static void session_up(struct asym *a, uint32_t id)
{
	for (;;) {
		struct asym_blk *x = &a->b[id];
		uint32_t up = x->parent;

		if (!(x->flags & ASYM_SESSION)) {
			x->flags |= ASYM_SESSION;
			rekey_fallen(a, id);
		}
		if (x->pos == 0 || !is_live(a, up) || a->b[up].nlive != 1)
			return;
		id = up;
	}
}

static void asym_on_insert(struct ac_policy *p, const struct ac_policy_block *b,
			   uint64_t now_ns)
{
	struct asym *a = p->priv;
	struct asym_blk *x;
	uint32_t c;

	if (b->id >= a->nblocks || b->parent == b->id)
		return;
	if (is_live(a, b->id))
		detach(a, b->id);	/* a re-commit replaces the old entry */
	x = &a->b[b->id];
	x->ns = pns_slot(&a->ns, b->ns_id);
	/* Not yet a candidate: the requeues below must skip it. */
	x->flags = ASYM_LIVE | prior_level(a, x->ns) << ASYM_PRIOR_SHIFT;
	x->pos = b->pos;
	x->hits = 0;
	x->base = (float)a->inflation;
	/*
	 * Children linked before this block arrived (a replay out of order)
	 * are already counted in nlive; they stop bordering a hole now.
	 */
	for (c = x->child; c != AC_BLOCK_NONE; c = a->b[c].next)
		requeue(a, c);
	if (b->parent < a->nblocks && b->pos > 0) {
		const struct asym_blk *par = &a->b[b->parent];

		if (!(a->ablate & ASYM_CLASSIC) && (par->flags & ASYM_LIVE) &&
		    !(par->flags & ASYM_CAND) && par->nlive == 0 &&
		    (par->hits || (par->flags & ASYM_SESSION))) {
			x->flags |= ASYM_SESSION |
				    ASYM_PRIOR_NONE << ASYM_PRIOR_SHIFT;
			/* A session read and continued again: a conversation. */
			if (par->hits && (par->flags & ASYM_SESSION))
				session_up(a, b->parent);
		}
		child_link(a, b->parent, b->id);
		if (a->b[b->parent].nlive++ == 0)
			requeue(a, b->parent);
	}
	if (b->pinned) {
		pq_remove(&a->q, b->id);
	} else {
		x->flags |= ASYM_CAND;
		queue(a, b->id);
	}
}

/*
 * @last, the end of a refilled hole, now links to the resident @next. The
 * hole was the same content as the chain it fills, evicted between two
 * reads of it (the read that found the hole is a reuse): the refilled run,
 * @last and the blocks above it that this read wrote (not reused yet, up
 * to the resident block the hole began after), takes the chain's kind (a
 * session block inside a session) and its hit count, at least one.
 * Written as new, they had lost the popularity the chain kept: a
 * document's shallow blocks went first, came back with no hits and went
 * first again. Keys may fall or rise: each is re-keyed now (@last by the
 * caller). O(hole), as writing the hole was.
 */
static void refill(struct asym *a, uint32_t last, const struct asym_blk *next)
{
	uint16_t hits = next->hits > a->b[last].hits ? next->hits :
						       a->b[last].hits;
	uint8_t kind = next->flags & ASYM_SESSION;
	uint32_t id = last;

	if (!hits)
		hits = 1;
	for (;;) {
		struct asym_blk *x = &a->b[id];
		uint32_t up = x->parent;

		x->flags = (x->flags & ~ASYM_SESSION) | kind;
		x->hits = hits;
		if (id != last)
			rekey_fallen(a, id);
		if (x->pos == 0 || !is_live(a, up) || a->b[up].hits)
			return;
		id = up;
	}
}

static void asym_on_link(struct ac_policy *p, uint32_t parent, uint32_t child)
{
	struct asym *a = p->priv;
	struct asym_blk *x;

	if (!is_live(a, child) || !is_live(a, parent) || parent == child)
		return;
	x = &a->b[child];
	if (x->parent == parent || x->pos == 0 || a->b[parent].pos + 1 != x->pos)
		return;
	if (x->parent != AC_BLOCK_NONE) {
		child_unlink(a, x->parent, child);
		if (--a->b[x->parent].nlive == 0)
			requeue(a, x->parent);
	}
	child_link(a, parent, child);
	a->b[parent].nlive++;
	if (!(a->ablate & ASYM_CLASSIC))
		refill(a, parent, x);
	rekey_fallen(a, parent);
	requeue(a, child);
}

static void asym_on_access(struct ac_policy *p, uint32_t id, uint64_t now_ns)
{
	struct asym *a = p->priv;

	if (!is_live(a, id))
		return;
	if (a->b[id].hits < HITS_MAX)
		a->b[id].hits++;
	a->b[id].base = (float)a->inflation;
	if (a->b[id].flags & ASYM_CAND)
		lazy_raise(a, id);
}

static void asym_on_pin(struct ac_policy *p, uint32_t id)
{
	struct asym *a = p->priv;

	/* The heap entry stays; pick_victims drops it if it surfaces. */
	if (id < a->nblocks)
		a->b[id].flags &= ~ASYM_CAND;
}

static void asym_on_unpin(struct ac_policy *p, uint32_t id, uint64_t now_ns)
{
	struct asym *a = p->priv;

	if (!is_live(a, id))
		return;
	/* Release is the last use: restart from the current inflation. */
	a->b[id].base = (float)a->inflation;
	a->b[id].flags |= ASYM_CAND;
	lazy_raise(a, id);
}

static void asym_on_hint(struct ac_policy *p, uint32_t id, bool on,
			 uint64_t now_ns)
{
	struct asym *a = p->priv;
	struct asym_blk *x;

	(void)now_ns;
	if (!is_live(a, id))
		return;
	x = &a->b[id];
	if (on == !!(x->flags & ASYM_HINT))
		return;
	if (on) {
		/* The expected reuse: one hit more, valued from now. */
		x->flags |= ASYM_HINT;
		x->base = (float)a->inflation;
		if (x->flags & ASYM_CAND)
			lazy_raise(a, id);
		return;
	}
	/* The hit did not come: the key falls, so re-key at once. */
	x->flags &= ~ASYM_HINT;
	if (x->flags & ASYM_CAND)
		queue(a, id);
}

static void asym_on_remove(struct ac_policy *p, uint32_t id)
{
	struct asym *a = p->priv;

	if (is_live(a, id))
		detach(a, id);
}

/*
 * ASYM_AGE_FREQUENCY: every half pool of evictions, every hit count
 * halves (as LFU caches decay their counters), so a chain that was hit
 * often and then no more, such as a finished agent program's context,
 * loses its frequency credit within a few turnovers of the pool. Keys
 * fall, so every candidate is re-keyed at once: O(n log n) per n/2
 * evictions.
 */
static void age(struct asym *a)
{
	a->since_aging = 0;
	for (uint32_t id = 0; id < a->nblocks; id++) {
		if (!(a->b[id].flags & ASYM_LIVE) || !a->b[id].hits)
			continue;
		a->b[id].hits >>= 1;
		if (a->b[id].flags & ASYM_CAND)
			queue(a, id);
		else	/* pinned: its entry may now overstate; unpin re-queues */
			pq_remove(&a->q, id);
	}
}

static int asym_pick_victims(struct ac_policy *p, uint32_t want, uint32_t *out,
			     uint64_t now_ns)
{
	struct asym *a = p->priv;
	uint32_t n = 0, id;
	uint64_t key;

	if (want && !out)
		return -EINVAL;
	while (n < want && pq_peek(&a->q, &id, &key)) {
		double pri;

		if (!(a->b[id].flags & ASYM_CAND)) {
			pq_remove(&a->q, id);	/* pinned: re-queued on unpin */
			continue;
		}
		if (a->b[id].flags & ASYM_DIRTY) {
			a->b[id].key = pq_key_from_double(prio_of(a, id));
			a->b[id].flags &= ~ASYM_DIRTY;
		}
		if (key != a->b[id].key) {
			pq_set(&a->q, id, a->b[id].key, tie_of(a, id));
			continue;
		}
		pri = pq_key_to_double(key);
		if (pri > a->inflation)
			a->inflation = pri;
		prior_count(a, &a->b[id]);
		detach(a, id);
		out[n++] = id;
		if ((a->ablate & ASYM_AGE_FREQUENCY) &&
		    ++a->since_aging >= a->nblocks / 2 + 1)
			age(a);
	}
	return (int)n;
}

int asym_set_ablation(struct ac_policy *p, unsigned terms)
{
	struct asym *a = p->priv;

	if (p->ops != &ac_policy_asym ||
	    terms & ~(ASYM_ABLATE_POSITION | ASYM_ABLATE_FREQUENCY |
		      ASYM_AGE_FREQUENCY | ASYM_CLASSIC | ASYM_FIXED_PRIOR))
		return -EINVAL;
	a->ablate = terms;
	/* Keys fall as well as rise: re-key every candidate at once. */
	for (uint32_t id = 0; id < a->nblocks; id++)
		if (a->b[id].flags & ASYM_CAND)
			queue(a, id);
	return 0;
}

double asym_inflation(const struct ac_policy *p)
{
	const struct asym *a = p->priv;

	return a->inflation;
}

double asym_priority(const struct ac_policy *p, uint32_t id)
{
	const struct asym *a = p->priv;

	if (id >= a->nblocks || !(a->b[id].flags & ASYM_CAND))
		return -1;
	if (a->b[id].flags & ASYM_DIRTY)
		return pq_key_to_double(pq_key_from_double(prio_of(a, id)));
	return pq_key_to_double(a->b[id].key);
}

uint64_t asym_heap_steps(const struct ac_policy *p)
{
	const struct asym *a = p->priv;

	return a->q.steps;
}

size_t asym_bytes_per_block(void)
{
	return sizeof(struct asym_blk) + sizeof(struct pq_entry) +
	       sizeof(uint32_t);
}

const struct ac_policy_ops ac_policy_asym = {
	.name		= "asym",
	.description	= "GDSF over position- and hole-aware recompute cost per byte (default)",
	.init		= asym_init,
	.on_namespace	= asym_on_namespace,
	.on_insert	= asym_on_insert,
	.on_access	= asym_on_access,
	.on_pin		= asym_on_pin,
	.on_unpin	= asym_on_unpin,
	.on_remove	= asym_on_remove,
	.pick_victims	= asym_pick_victims,
	.destroy	= asym_destroy,
	.on_link	= asym_on_link,
	.on_hint	= asym_on_hint,
};
