/* SPDX-License-Identifier: MIT */
/*
 * The lazy heaps of lru and asym (docs/policy.md, "Lazy heap"): the lookup
 * path takes no heap steps, a pinned entry left in the heap is never
 * returned, a stale entry is re-queued at its true key, and on random
 * operation sequences every policy's victims equal a brute-force reference
 * that scans all candidates.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "policy-internal.h"
#include "pq.h"
#include "ptest.h"

static uint64_t steps_of(struct ac_policy *p)
{
	return !strcmp(p->ops->name, "asym") ? asym_heap_steps(p) :
					       lru_heap_steps(p);
}

#define CHAIN 2048u

/*
 * The daemon's 2,048-key hit: access + pin every block of a chain, then
 * release them all. None of it may move the heap.
 */
static void lookup_path(const char *name, bool one_clock)
{
	struct ac_policy *p;
	uint64_t before, t = 1;
	uint32_t out[4];

	cr_assert_eq(ac_policy_create(name, 2 * CHAIN, &p), 0);
	for (uint32_t id = 0; id < 2 * CHAIN; id++)
		pt_put(p, id, 0, id % CHAIN, id % CHAIN ? id - 1 : AC_BLOCK_NONE,
		       t++);
	for (int round = 0; round < 3; round++) {
		before = steps_of(p);
		for (uint32_t id = 0; id < CHAIN; id++) {
			p->ops->on_access(p, id, t);
			p->ops->on_pin(p, id);
		}
		t++;
		for (uint32_t id = 0; id < CHAIN; id++)
			p->ops->on_unpin(p, id, one_clock ? t : t++);
		t++;
		cr_assert_eq(steps_of(p), before,
			     "%s: the lookup path took %llu heap steps", name,
			     (unsigned long long)(steps_of(p) - before));
	}
	/* The second chain, never hit, still goes first. */
	cr_assert_eq(p->ops->pick_victims(p, 1, out, t), 1);
	cr_assert_geq(out[0], CHAIN);
	ac_policy_free(p);
}

Test(policy_lazy, lookup_path_takes_no_heap_steps)
{
	lookup_path("lru", true);
	lookup_path("lru", false);
	lookup_path("asym", true);
	lookup_path("asym", false);
}

static void pinned_never_returned(const char *name)
{
	struct ac_policy *p;
	uint32_t out[128];
	bool seen[100] = { false };
	int n;

	cr_assert_eq(ac_policy_create(name, 100, &p), 0);
	for (uint32_t id = 0; id < 100; id++)
		pt_put(p, id, 0, id % 10, AC_BLOCK_NONE, 1 + id);
	/* Pin the oldest and cheapest half: their entries sit on top. */
	for (uint32_t id = 0; id < 100; id += 2) {
		p->ops->on_access(p, id, 200);
		p->ops->on_pin(p, id);
	}
	n = p->ops->pick_victims(p, 128, out, 300);
	cr_assert_eq(n, 50, "%s: %d victims", name, n);
	for (int i = 0; i < n; i++) {
		cr_assert_eq(out[i] % 2, 1, "%s: pinned %u returned", name,
			     out[i]);
		cr_assert_not(seen[out[i]], "%s: %u twice", name, out[i]);
		seen[out[i]] = true;
	}
	cr_assert_eq(p->ops->pick_victims(p, 128, out, 300), 0);
	/* The dropped entries come back with the release. */
	for (uint32_t id = 0; id < 100; id += 2)
		p->ops->on_unpin(p, id, 400);
	n = p->ops->pick_victims(p, 128, out, 500);
	cr_assert_eq(n, 50);
	for (int i = 0; i < n; i++) {
		cr_assert_eq(out[i] % 2, 0);
		cr_assert_not(seen[out[i]]);
		seen[out[i]] = true;
	}
	/* Pinned, then removed while its entry is still queued. */
	pt_put(p, 7, 0, 0, AC_BLOCK_NONE, 600);
	pt_put(p, 8, 0, 0, AC_BLOCK_NONE, 601);
	p->ops->on_pin(p, 7);
	p->ops->on_unpin(p, 7, 602);
	p->ops->on_pin(p, 7);
	p->ops->on_remove(p, 8);
	cr_assert_eq(p->ops->pick_victims(p, 128, out, 700), 0);
	ac_policy_free(p);
}

Test(policy_lazy, pinned_block_is_never_returned)
{
	pinned_never_returned("lru");
	pinned_never_returned("asym");
	pinned_never_returned("pensieve");
}

Test(policy_lazy, lru_stale_entry_requeued_at_true_time)
{
	struct ac_policy *p;

	cr_assert_eq(ac_policy_create("lru", 8, &p), 0);
	pt_put(p, 1, 0, 0, AC_BLOCK_NONE, 1);
	pt_put(p, 2, 0, 0, AC_BLOCK_NONE, 2);
	pt_put(p, 3, 0, 0, AC_BLOCK_NONE, 3);
	/* 1's entry still says 1; its true time is 10. */
	p->ops->on_access(p, 1, 10);
	/* 2 pinned and released again at 5: true time 5. */
	p->ops->on_pin(p, 2);
	p->ops->on_unpin(p, 2, 5);
	pt_expect_victims(p, 4, 20, 3, 2, 1);
	/* A clock that goes back re-keys at once instead of lying. */
	pt_put(p, 4, 0, 0, AC_BLOCK_NONE, 50);
	pt_put(p, 5, 0, 0, AC_BLOCK_NONE, 40);
	p->ops->on_access(p, 4, 30);
	pt_expect_victims(p, 1, 60, 4);
	ac_policy_free(p);
}

Test(policy_lazy, asym_stale_entry_requeued_at_true_priority)
{
	struct ac_policy *p;
	double before;

	cr_assert_eq(ac_policy_create("asym", 8, &p), 0);
	pt_put(p, 1, 0, 5, AC_BLOCK_NONE, 1);
	pt_put(p, 2, 0, 5, AC_BLOCK_NONE, 1);
	before = asym_priority(p, 1);
	cr_assert_float_eq(before, asym_priority(p, 2), 0);
	/* Hits while a candidate: 1's entry keeps the old, lower key. */
	p->ops->on_access(p, 1, 2);
	p->ops->on_access(p, 1, 2);
	cr_assert_gt(asym_priority(p, 1), before,
		     "introspection reports the true priority");
	/* Equal keys would pop 1 first (lower id); its true key is higher. */
	pt_expect_victims(p, 1, 3, 2);
	cr_assert_float_eq(asym_inflation(p), before, 0);
	pt_expect_victims(p, 1, 3, 1);
	cr_assert_gt(asym_inflation(p), before);
	ac_policy_free(p);
}

/* ---- brute-force reference ---------------------------------------- */

#define RN 96u
#define ROPS 4000

/* K_ASYM_AGED: asym with ASYM_AGE_FREQUENCY (hits halve as the pool turns). */
enum kind { K_LRU, K_ASYM, K_PV, K_ASYM_AGED };

struct ref_blk {
	bool live;
	uint32_t pins;
	uint32_t pos;
	uint32_t parent;
	uint64_t t;		/* lru, pensieve: last use */
	uint64_t seq;		/* pensieve: list order */
	uint16_t hits;		/* asym */
	float base;		/* asym */
	bool session;		/* asym: appended to a chain just read */
	uint8_t prior;		/* asym: weight while unreused, (2 + prior) / 8 */
	bool counted;		/* asym: written as a non-session block */
};

struct ref {
	enum kind kind;
	struct ref_blk b[RN];
	struct pns ns;
	double inflation;
	uint64_t seq;
	uint32_t since_aging;	/* K_ASYM_AGED: victims since the last halving */
	uint32_t reused, lost;	/* asym: fates of victims written as non-session */
};

/* asym's prior of a block written now: 2u in eighths, 1/4 to 1 (asym.c). */
static uint8_t ref_prior(const struct ref *r)
{
	uint32_t n = r->reused + r->lost, e;

	if (!n)
		return 6;
	e = (16 * r->reused + n / 2) / n;
	return e < 2 ? 0 : e - 2 > 6 ? 6 : (uint8_t)(e - 2);
}

static void ref_fate(struct ref *r, uint32_t id)
{
	if (!r->b[id].counted)
		return;
	if (r->b[id].hits)
		r->reused++;
	else
		r->lost++;
	if (r->reused + r->lost > RN) {
		r->reused >>= 1;
		r->lost >>= 1;
	}
}

static bool ref_cand(const struct ref *r, uint32_t id)
{
	return r->b[id].live && !r->b[id].pins;
}

static double ref_asym_prio(const struct ref *r, uint32_t id)
{
	const struct ref_blk *x = &r->b[id];
	bool left = x->pos > 0 && (x->parent == AC_BLOCK_NONE ||
				   !r->b[x->parent].live);
	bool right = true;
	double rec, c, f;

	for (uint32_t j = 0; j < RN; j++)
		if (r->b[j].live && r->b[j].parent == id)
			right = false;
	rec = pns_block_cost(&r->ns, x->pos);
	c = rec + r->ns.segment_s * (1 - (int)left - (int)right);
	if (!(c > rec / 2))
		c = rec / 2;
	if (x->session)
		f = 1;
	else
		f = x->hits ? 1.0 + log2(1.0 + x->hits) : (2 + x->prior) / 8.0;
	return x->base + f * c / r->ns.bytes;
}

/*
 * A block committed under @par continues a session when @par was read
 * (or is a session block), is pinned and has no other live child.
 */
static bool ref_extends(const struct ref *r, uint32_t par, uint32_t id)
{
	if (!r->b[par].live || !r->b[par].pins ||
	    !(r->b[par].hits || r->b[par].session))
		return false;
	for (uint32_t j = 0; j < RN; j++)
		if (j != id && r->b[j].live && r->b[j].parent == par)
			return false;
	return true;
}

static uint32_t ref_children(const struct ref *r, uint32_t id)
{
	uint32_t n = 0;

	for (uint32_t j = 0; j < RN; j++)
		n += r->b[j].live && r->b[j].parent == id;
	return n;
}

/* A session read and continued again: its private head joins it. */
static void ref_session_up(struct ref *r, uint32_t id)
{
	for (;;) {
		uint32_t up = r->b[id].parent;

		r->b[id].session = true;
		if (r->b[id].pos == 0 || up == AC_BLOCK_NONE ||
		    !r->b[up].live || ref_children(r, up) != 1)
			return;
		id = up;
	}
}

static float ref_cpb(const struct ref *r, uint32_t id)
{
	return (float)(pns_block_cost(&r->ns, r->b[id].pos) / r->ns.bytes);
}

/* pensieve.c's classes, 2^(1/8) apart. */
static int ref_class(double cpb)
{
	double l;

	if (!(cpb > 0))
		return 0;
	l = floor(log2(cpb) * 8) + 400;
	return l < 0 ? 0 : l > 255 ? 255 : (int)l;
}

/* Whether candidate @a goes before candidate @b. */
static bool ref_before(const struct ref *r, uint32_t a, uint32_t b)
{
	uint64_t ka, kb;

	if (r->kind == K_LRU) {
		ka = r->b[a].t;
		kb = r->b[b].t;
	} else {
		ka = pq_key_from_double(ref_asym_prio(r, a));
		kb = pq_key_from_double(ref_asym_prio(r, b));
	}
	if (ka != kb)
		return ka < kb;
	if (r->b[a].pos != r->b[b].pos)
		return r->b[a].pos > r->b[b].pos;
	return a < b;
}

static uint32_t ref_pv_victim(const struct ref *r, uint64_t now)
{
	uint32_t best = AC_BLOCK_NONE;
	double best_v = 0;

	/* Scan the classes in order; each one's head is its first queued. */
	for (int c = 0; c < 256; c++) {
		uint32_t h = AC_BLOCK_NONE;
		uint64_t idle;
		double v;

		for (uint32_t j = 0; j < RN; j++)
			if (ref_cand(r, j) && ref_class(ref_cpb(r, j)) == c &&
			    (h == AC_BLOCK_NONE || r->b[j].seq < r->b[h].seq))
				h = j;
		if (h == AC_BLOCK_NONE)
			continue;
		idle = now > r->b[h].t ? now - r->b[h].t : 0;
		v = ref_cpb(r, h) / ((double)idle + 1);
		if (best == AC_BLOCK_NONE || v < best_v ||
		    (v == best_v && r->b[h].pos < r->b[best].pos)) {
			best = h;
			best_v = v;
		}
	}
	return best;
}

static uint32_t ref_victim(const struct ref *r, uint64_t now)
{
	uint32_t best = AC_BLOCK_NONE;

	if (r->kind == K_PV)
		return ref_pv_victim(r, now);
	for (uint32_t j = 0; j < RN; j++)
		if (ref_cand(r, j) &&
		    (best == AC_BLOCK_NONE || ref_before(r, j, best)))
			best = j;
	return best;
}

static void ref_kill(struct ref *r, uint32_t id)
{
	r->b[id].live = false;
	for (uint32_t j = 0; j < RN; j++)
		if (r->b[j].parent == id)
			r->b[j].parent = AC_BLOCK_NONE;
}

/* A candidate joins at @now: the policy's lru touch or list append. */
static void ref_use(struct ref *r, uint32_t id, uint64_t now)
{
	r->b[id].t = now;
	r->b[id].seq = ++r->seq;
}

static uint32_t pick_live(unsigned *seed, const struct ref *r, bool unpinned,
			  bool pinned)
{
	uint32_t start = (uint32_t)rand_r(seed) % RN;

	for (uint32_t k = 0; k < RN; k++) {
		uint32_t j = (start + k) % RN;

		if (!r->b[j].live)
			continue;
		if ((unpinned && !r->b[j].pins) || (pinned && r->b[j].pins))
			return j;
	}
	return AC_BLOCK_NONE;
}

static void against_reference(const char *name, enum kind kind,
			      unsigned seed)
{
	struct ac_policy *p;
	struct pns_table tab;
	struct ref *r = calloc(1, sizeof(*r));
	uint64_t now = 1000;
	uint32_t out[4];
	int picks = 0, victims = 0, aged = 0;

	cr_assert_not_null(r);
	cr_assert_eq(ac_policy_create(name, RN, &p), 0);
	if (kind == K_ASYM_AGED)
		cr_assert_eq(asym_set_ablation(p, ASYM_AGE_FREQUENCY), 0);
	pns_init(&tab);
	r->kind = kind;
	r->ns = tab.slot[0];
	for (uint32_t j = 0; j < RN; j++)
		r->b[j].parent = AC_BLOCK_NONE;

	for (int op = 0; op < ROPS; op++) {
		int what = rand_r(&seed) % 100;
		uint32_t id;

		/* Ties are common: the daemon stamps many events alike. */
		now += (uint64_t)(rand_r(&seed) % 3);
		/* lru must also survive a clock that steps back. */
		if (kind == K_LRU && rand_r(&seed) % 50 == 0)
			now -= (uint64_t)(rand_r(&seed) % 5);

		if (what < 25) {	/* commit a block */
			struct ac_policy_block b = { .parent = AC_BLOCK_NONE };
			uint32_t par = pick_live(&seed, r, true, true);
			bool session;

			id = (uint32_t)rand_r(&seed) % RN;
			if (r->b[id].live)
				continue;
			b.id = id;
			if (par != AC_BLOCK_NONE && rand_r(&seed) % 3) {
				b.parent = par;
				b.pos = r->b[par].pos + 1;
			} else {
				b.pos = (uint32_t)rand_r(&seed) % 40;
			}
			b.pinned = rand_r(&seed) % 5 != 0;
			p->ops->on_insert(p, &b, now);
			session = b.parent != AC_BLOCK_NONE &&
				  ref_extends(r, b.parent, id);
			if (session && r->b[b.parent].session &&
			    r->b[b.parent].hits)
				ref_session_up(r, b.parent);
			r->b[id] = (struct ref_blk){
				.live = true, .pins = b.pinned, .pos = b.pos,
				.parent = b.pos ? b.parent : AC_BLOCK_NONE,
				.base = (float)r->inflation,
				.session = session,
				.prior = ref_prior(r),
				.counted = !session,
			};
			if (!b.pinned)
				ref_use(r, id, now);
		} else if (what < 50) {	/* a lookup hit */
			id = pick_live(&seed, r, true, true);
			if (id == AC_BLOCK_NONE)
				continue;
			p->ops->on_access(p, id, now);
			if (ref_cand(r, id))
				ref_use(r, id, now);
			else
				r->b[id].t = now;	/* pensieve keeps it */
			if (r->b[id].hits < UINT16_MAX)
				r->b[id].hits++;
			r->b[id].base = (float)r->inflation;
			if (r->b[id].pins++ == 0)
				p->ops->on_pin(p, id);
		} else if (what < 75) {	/* a release */
			id = pick_live(&seed, r, false, true);
			if (id == AC_BLOCK_NONE)
				continue;
			if (--r->b[id].pins == 0) {
				p->ops->on_unpin(p, id, now);
				r->b[id].base = (float)r->inflation;
				ref_use(r, id, now);
			}
		} else if (what < 80) {	/* flush of one block */
			id = pick_live(&seed, r, true, false);
			if (id == AC_BLOCK_NONE)
				continue;
			p->ops->on_remove(p, id);
			ref_kill(r, id);
		} else {		/* evict */
			uint32_t want = 1 + (uint32_t)rand_r(&seed) % 3;
			int n = p->ops->pick_victims(p, want, out, now);

			cr_assert_geq(n, 0);
			picks++;
			for (uint32_t k = 0; k < want; k++) {
				uint32_t exp = ref_victim(r, now);

				if (exp == AC_BLOCK_NONE) {
					cr_assert_eq((uint32_t)n, k,
						     "%s op %d: %d victims, reference %u",
						     name, op, n, k);
					break;
				}
				cr_assert_lt(k, (uint32_t)n,
					     "%s op %d: short pick", name, op);
				cr_assert_eq(out[k], exp,
					     "%s op %d victim %u: got %u, reference %u",
					     name, op, k, out[k], exp);
				if (kind == K_ASYM || kind == K_ASYM_AGED) {
					double pri = ref_asym_prio(r, exp);

					if (pri > r->inflation)
						r->inflation = pri;
					ref_fate(r, exp);
				}
				ref_kill(r, exp);
				victims++;
				if (kind == K_ASYM_AGED &&
				    ++r->since_aging >= RN / 2 + 1) {
					r->since_aging = 0;
					for (uint32_t j = 0; j < RN; j++)
						if (r->b[j].live)
							r->b[j].hits >>= 1;
					aged++;
				}
			}
		}
		/* asym's introspection reports the true priority, always. */
		if ((kind == K_ASYM || kind == K_ASYM_AGED) && op % 16 == 0)
			for (uint32_t j = 0; j < RN; j++)
				cr_assert_float_eq(asym_priority(p, j),
						   ref_cand(r, j) ?
						   ref_asym_prio(r, j) : -1, 0,
						   "op %d block %u", op, j);
	}
	cr_assert_gt(picks, ROPS / 10);
	cr_assert_gt(victims, ROPS / 20, "%s: only %d victims", name, victims);
	if (kind == K_ASYM_AGED)
		cr_assert_gt(aged, 3, "the counts were halved %d times", aged);
	ac_policy_free(p);
	free(r);
}

Test(policy_lazy, lru_matches_brute_force)
{
	for (unsigned s = 1; s <= 8; s++)
		against_reference("lru", K_LRU, s);
}

Test(policy_lazy, asym_matches_brute_force)
{
	for (unsigned s = 1; s <= 8; s++)
		against_reference("asym", K_ASYM, s);
}

Test(policy_lazy, asym_with_aged_frequency_matches_brute_force)
{
	for (unsigned s = 1; s <= 8; s++)
		against_reference("asym", K_ASYM_AGED, s);
}

Test(policy_lazy, pensieve_matches_brute_force)
{
	for (unsigned s = 1; s <= 8; s++)
		against_reference("pensieve", K_PV, s);
}

Test(policy_lazy, asym_cost_model_change_rekeys_at_once)
{
	struct ac_policy *p;
	struct ac_cost_model m;
	struct ac_policy_ns ns = {
		.ns_id = 7, .block_tokens = 16, .bytes_per_block = 1 << 20,
	};
	uint32_t out[2];
	double before;

	cr_assert_eq(ac_policy_create("asym", 8, &p), 0);
	cr_assert_eq(p->ops->on_namespace(p, &ns), 0);
	ns.ns_id = 8;
	cr_assert_eq(p->ops->on_namespace(p, &ns), 0);
	{
		struct ac_policy_block a = { .id = 1, .ns_id = 7, .pos = 30,
			.parent = AC_BLOCK_NONE, .pinned = true };
		struct ac_policy_block b = { .id = 2, .ns_id = 8, .pos = 3,
			.parent = AC_BLOCK_NONE, .pinned = true };

		p->ops->on_insert(p, &a, 1);
		p->ops->on_insert(p, &b, 1);
	}
	p->ops->on_unpin(p, 1, 2);
	p->ops->on_unpin(p, 2, 2);
	before = asym_priority(p, 1);
	cr_assert_gt(before, asym_priority(p, 2));
	/* Namespace 7 turns out a thousand times cheaper to recompute. */
	ac_cost_model_default(&m);
	m.linear_s /= 1000;
	m.attn_s /= 1000;
	m.segment_s /= 1000;
	ns.ns_id = 7;
	ns.cost = &m;
	cr_assert_eq(p->ops->on_namespace(p, &ns), 0);
	cr_assert_lt(asym_priority(p, 1), asym_priority(p, 2));
	cr_assert_eq(p->ops->pick_victims(p, 2, out, 3), 2);
	cr_assert_eq(out[0], 1, "the lowered key must not wait in the heap");
	cr_assert_eq(out[1], 2);
	ac_policy_free(p);
}
