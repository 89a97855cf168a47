/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>

#include "policy-internal.h"

static struct ac_policy *p;

static void setup(void)
{
	cr_assert_eq(ac_policy_create("asym", 64, &p), 0);
}

static void teardown(void)
{
	p = ac_policy_free(p);
}

static void commit(uint32_t id, uint32_t ns, uint32_t pos, uint32_t parent)
{
	struct ac_policy_block b = {
		.id = id, .ns_id = ns, .pos = pos, .parent = parent,
		.pinned = true,
	};

	p->ops->on_insert(p, &b, 1);
}

static void release(uint32_t id)
{
	p->ops->on_unpin(p, id, 2);
}

static uint32_t victim(void)
{
	uint32_t out = AC_BLOCK_NONE;

	cr_assert_eq(p->ops->pick_victims(p, 1, &out, 3), 1);
	return out;
}

TestSuite(policy_asym, .init = setup, .fini = teardown);

Test(policy_asym, is_the_default)
{
	cr_assert_str_eq(ac_policy_default_name(), "asym");
	cr_assert_eq(ac_policy_list()[0], ac_policy_find("asym"));
}

Test(policy_asym, later_position_costs_more)
{
	/* Two lone blocks with the same hole state, far apart in position. */
	commit(1, 0, 200, AC_BLOCK_NONE);
	commit(2, 0, 3, AC_BLOCK_NONE);
	release(1);
	release(2);
	cr_assert_gt(asym_priority(p, 1), asym_priority(p, 2));
	cr_assert_eq(victim(), 2);
	cr_assert_eq(victim(), 1);
}

Test(policy_asym, hits_raise_priority)
{
	commit(1, 0, 5, AC_BLOCK_NONE);
	commit(2, 0, 5, AC_BLOCK_NONE);
	p->ops->on_access(p, 1, 1);
	p->ops->on_access(p, 1, 1);
	release(1);
	release(2);
	cr_assert_eq(victim(), 2);
	cr_assert_eq(victim(), 1);
}

Test(policy_asym, pinned_blocks_are_never_victims)
{
	uint32_t out[4];

	commit(1, 0, 0, AC_BLOCK_NONE);
	commit(2, 0, 0, AC_BLOCK_NONE);
	release(2);
	cr_assert_eq(p->ops->pick_victims(p, 4, out, 3), 1);
	cr_assert_eq(out[0], 2);
	cr_assert_eq(p->ops->pick_victims(p, 4, out, 3), 0);
	cr_assert_lt(asym_priority(p, 1), 0, "pinned: not a candidate");
	p->ops->on_remove(p, 1);
	cr_assert_eq(p->ops->pick_victims(p, 4, out, 3), 0);
}

Test(policy_asym, chain_is_eaten_from_the_tail)
{
	/* Tail borders the prompt tail (dseg 0); the middle would split. */
	commit(0, 0, 0, AC_BLOCK_NONE);
	commit(1, 0, 1, 0);
	commit(2, 0, 2, 1);
	release(0);
	release(1);
	release(2);
	cr_assert_eq(victim(), 2);
	cr_assert_eq(victim(), 1);
	cr_assert_eq(victim(), 0);
}

Test(policy_asym, next_to_a_hole_is_cheaper_than_splitting)
{
	double split, extend;

	/* Chain X: 0-1-2, chain Y: 10-11-12; only 1 and 11 are candidates. */
	commit(0, 0, 0, AC_BLOCK_NONE);
	commit(1, 0, 1, 0);
	commit(2, 0, 2, 1);
	commit(10, 0, 0, AC_BLOCK_NONE);
	commit(11, 0, 1, 10);
	commit(12, 0, 2, 11);
	release(1);
	release(11);
	cr_assert_float_eq(asym_priority(p, 1), asym_priority(p, 11), 1e-30);
	/* Y loses its head: 11 now extends that hole instead of opening one. */
	p->ops->on_remove(p, 10);
	split = asym_priority(p, 1);
	extend = asym_priority(p, 11);
	cr_assert_lt(extend, split);
	/* Joining two holes is cheaper still. */
	p->ops->on_remove(p, 12);
	cr_assert_lt(asym_priority(p, 11), extend);
	cr_assert_eq(victim(), 11);
	cr_assert_eq(victim(), 1);
}

Test(policy_asym, refilled_hole_is_seen_through_on_link)
{
	double before;

	commit(0, 0, 0, AC_BLOCK_NONE);
	commit(1, 0, 1, 0);
	commit(2, 0, 2, 1);
	release(2);
	p->ops->on_remove(p, 1);
	before = asym_priority(p, 2);
	/* Pos 1 recomputed into block 5; the core links its old child. */
	commit(5, 0, 1, 0);
	cr_assert_not_null(p->ops->on_link);
	p->ops->on_link(p, 5, 2);
	cr_assert_gt(asym_priority(p, 2), before);
	/* Bad links change nothing. */
	p->ops->on_link(p, 2, 2);
	p->ops->on_link(p, 63, 2);
	p->ops->on_link(p, 0, 2);	/* pos 0 is not pos 1 */
	cr_assert_float_eq(asym_priority(p, 2), asym_priority(p, 2), 0);
}

Test(policy_asym, inflation_is_the_last_victims_priority)
{
	double pri;

	cr_assert_eq(asym_inflation(p), 0);
	commit(1, 0, 40, AC_BLOCK_NONE);
	release(1);
	pri = asym_priority(p, 1);
	cr_assert_gt(pri, 0);
	cr_assert_eq(victim(), 1);
	cr_assert_float_eq(asym_inflation(p), pri, pri * 1e-12);
	/* A cheap block used after that outranks an old expensive one. */
	commit(2, 0, 40, AC_BLOCK_NONE);
	commit(3, 0, 0, AC_BLOCK_NONE);
	p->ops->on_unpin(p, 3, 5);
	cr_assert_geq(asym_priority(p, 3), pri * (1 - 1e-6));
	release(2);
	cr_assert_gt(asym_priority(p, 3), pri);
	/* The inflation never goes down. */
	commit(4, 0, 0, AC_BLOCK_NONE);
	release(4);
	(void)victim();
	cr_assert_geq(asym_inflation(p), pri);
}

Test(policy_asym, namespaces_compare_in_seconds_per_byte)
{
	struct ac_cost_model m;
	struct ac_policy_ns small = {
		.ns_id = 7, .block_tokens = 16, .bytes_per_block = 1 << 20,
	};
	struct ac_policy_ns big = {
		.ns_id = 8, .block_tokens = 16, .bytes_per_block = 4 << 20,
	};
	struct ac_policy_ns slow;

	cr_assert_eq(p->ops->on_namespace(p, &small), 0);
	cr_assert_eq(p->ops->on_namespace(p, &big), 0);
	commit(1, 7, 3, AC_BLOCK_NONE);
	commit(2, 8, 3, AC_BLOCK_NONE);
	release(1);
	release(2);
	/* Same seconds, four times the bytes: a quarter of the priority. */
	cr_assert_float_eq(asym_priority(p, 2) * 4, asym_priority(p, 1),
			   asym_priority(p, 1) * 1e-9);
	cr_assert_eq(victim(), 2);
	/* A model ten times slower per token is worth more per byte. */
	ac_cost_model_default(&m);
	m.linear_s *= 10;
	m.attn_s *= 10;
	slow = big;
	slow.ns_id = 9;
	slow.cost = &m;
	cr_assert_eq(p->ops->on_namespace(p, &slow), 0);
	commit(3, 9, 3, AC_BLOCK_NONE);
	release(3);
	cr_assert_eq(victim(), 1);
	cr_assert_eq(victim(), 3);
}

Test(policy_asym, bad_namespace_is_refused)
{
	struct ac_policy_ns ns = { .ns_id = 1, .block_tokens = 0,
				   .bytes_per_block = 1 };

	cr_assert_eq(p->ops->on_namespace(p, &ns), -EINVAL);
	ns.block_tokens = 16;
	ns.bytes_per_block = 0;
	cr_assert_eq(p->ops->on_namespace(p, &ns), -EINVAL);
	cr_assert_eq(p->ops->on_namespace(p, NULL), -EINVAL);
	for (uint32_t i = 0; i < PNS_MAX - 1; i++) {
		ns = (struct ac_policy_ns){ .ns_id = 100 + i,
			.block_tokens = 16, .bytes_per_block = 1 };
		cr_assert_eq(p->ops->on_namespace(p, &ns), 0);
	}
	ns.ns_id = 5000;
	cr_assert_eq(p->ops->on_namespace(p, &ns), -ENOSPC);
	/* Re-announcing a known one still works when full. */
	ns.ns_id = 100;
	cr_assert_eq(p->ops->on_namespace(p, &ns), 0);
}

Test(policy_asym, bad_ids_change_nothing)
{
	struct ac_policy_block b = { .id = 64, .pos = 0,
				     .parent = AC_BLOCK_NONE };
	struct ac_policy_block self = { .id = 3, .pos = 1, .parent = 3 };
	uint32_t out[2];

	p->ops->on_insert(p, &b, 1);
	p->ops->on_insert(p, &self, 1);
	p->ops->on_access(p, 1000, 1);
	p->ops->on_unpin(p, 1000, 1);
	p->ops->on_pin(p, 1000);
	p->ops->on_remove(p, 1000);
	cr_assert_eq(p->ops->pick_victims(p, 2, out, 1), 0);
	cr_assert_eq(p->ops->pick_victims(p, 2, NULL, 1), -EINVAL);
}

Test(policy_asym, ablations_switch_off_one_term_each)
{
	struct ac_policy *l;

	/* 1: deep, no hits; 2: shallow, two hits. */
	commit(1, 0, 200, AC_BLOCK_NONE);
	commit(2, 0, 3, AC_BLOCK_NONE);
	p->ops->on_access(p, 2, 1);
	p->ops->on_access(p, 2, 1);
	release(1);
	release(2);
	cr_assert_eq(asym_set_ablation(p, ASYM_ABLATE_POSITION), 0);
	cr_assert_gt(asym_priority(p, 2), asym_priority(p, 1),
		     "flat cost: only the hits tell them apart");
	cr_assert_eq(asym_set_ablation(p, ASYM_ABLATE_FREQUENCY), 0);
	cr_assert_gt(asym_priority(p, 1), asym_priority(p, 2),
		     "no frequency: only the position does");
	cr_assert_eq(asym_set_ablation(p, ASYM_ABLATE_POSITION |
					  ASYM_ABLATE_FREQUENCY), 0);
	cr_assert_float_eq(asym_priority(p, 1), asym_priority(p, 2), 1e-12);
	/* The heap follows the new keys: without frequency, shallow goes first. */
	cr_assert_eq(asym_set_ablation(p, ASYM_ABLATE_FREQUENCY), 0);
	cr_assert_eq(victim(), 2);
	cr_assert_eq(asym_set_ablation(p, 0x20), -EINVAL);
	cr_assert_eq(ac_policy_create("lru", 8, &l), 0);
	cr_assert_eq(asym_set_ablation(l, 0), -EINVAL);
	ac_policy_free(l);
}

/*
 * Outcomes for namespace @ns: @lost blocks written and evicted unreused,
 * then @reused blocks written, hit once, and evicted. Ids 40-47, so
 * nothing else may be resident meanwhile.
 */
static void fates(uint32_t ns, int lost, int reused)
{
	for (int k = 0; k < lost + reused; k++) {
		uint32_t id = 40 + (uint32_t)k % 8;

		commit(id, ns, 10, AC_BLOCK_NONE);
		if (k >= lost)
			p->ops->on_access(p, id, 1);
		release(id);
		cr_assert_eq(victim(), id);
	}
}

/* f of unreused block @id against one hit block 2 at the same position. */
static double unused_weight(uint32_t id)
{
	/* Both were last used at the current L, stored as a float. */
	double base = (float)asym_inflation(p);

	return 2 * (asym_priority(p, id) - base) /
	       (asym_priority(p, 2) - base);
}

/* Blocks 1 (unreused) and 2 (hit once) at position 40 of @ns. */
static void pair(uint32_t ns)
{
	commit(1, ns, 40, AC_BLOCK_NONE);
	commit(2, ns, 40, AC_BLOCK_NONE);
	p->ops->on_access(p, 2, 1);
	release(1);
	release(2);
}

Test(policy_asym, an_unreused_block_weighs_the_share_of_its_kind_reused)
{
	/* No outcome yet: as much as a session block. */
	pair(0);
	cr_assert_float_eq(unused_weight(1), 1, 1e-9);
	cr_assert_eq(asym_set_ablation(p, ASYM_FIXED_PRIOR), 0);
	cr_assert_float_eq(unused_weight(1), 0.25, 1e-9, "the fixed prior");
	cr_assert_eq(asym_set_ablation(p, ASYM_CLASSIC), 0);
	cr_assert_float_eq(unused_weight(1), 1, 1e-9, "classic: f(0) = 1");
	cr_assert_eq(asym_set_ablation(p, 0), 0);
	p->ops->on_remove(p, 1);
	p->ops->on_remove(p, 2);

	/* One-off content: nothing came back, a quarter. */
	fates(0, 24, 0);
	pair(0);
	cr_assert_float_eq(unused_weight(1), 0.25, 1e-9);
	cr_assert_eq(victim(), 1);
	p->ops->on_remove(p, 2);

	/*
	 * 15 of 40 came back (2u = 3/4): six eighths. The 25 lost ones
	 * above (block 1 was the 25th) still count: fewer outcomes than
	 * the pool has blocks.
	 */
	fates(0, 0, 15);
	pair(0);
	cr_assert_float_eq(unused_weight(1), 0.75, 1e-9);
	p->ops->on_remove(p, 1);
	p->ops->on_remove(p, 2);
}

Test(policy_asym, the_share_is_per_namespace_and_follows_the_workload)
{
	struct ac_policy_ns a = { .ns_id = 7, .block_tokens = 16,
				  .bytes_per_block = 1 << 20 };
	struct ac_policy_ns b = a;

	b.ns_id = 8;
	cr_assert_eq(p->ops->on_namespace(p, &a), 0);
	cr_assert_eq(p->ops->on_namespace(p, &b), 0);
	/* 7 writes one-off content, 8 content that always comes back. */
	fates(7, 48, 0);
	fates(8, 0, 48);
	pair(7);
	cr_assert_float_eq(unused_weight(1), 0.25, 1e-9);
	p->ops->on_remove(p, 1);
	p->ops->on_remove(p, 2);
	pair(8);
	cr_assert_float_eq(unused_weight(1), 1, 1e-9);
	/*
	 * A block keeps the weight it was written with (keys must not fall
	 * behind the lazy heap's back), however the share moves after.
	 */
	p->ops->on_pin(p, 1);
	p->ops->on_pin(p, 2);
	fates(8, 100, 0);
	release(1);
	release(2);
	cr_assert_float_eq(unused_weight(1), 1, 1e-9);
	p->ops->on_remove(p, 1);
	p->ops->on_remove(p, 2);
	pair(8);
	cr_assert_float_eq(unused_weight(1), 0.25, 1e-9,
			   "48 reused, then 100 lost: old outcomes halve away");
	p->ops->on_remove(p, 1);
	p->ops->on_remove(p, 2);
	/* Every pool's worth of outcomes halves the counts: 7 recovers. */
	fates(7, 0, 150);
	pair(7);
	cr_assert_float_eq(unused_weight(1), 1, 1e-9);
}

/*
 * 1 -> 2 is a turn that read block 1 and appended block 2 (a session);
 * 3 -> 4 appended under a parent nobody read. Both children are then hit
 * three times: only 4's hits count.
 */
static void two_chains(void)
{
	commit(1, 0, 0, AC_BLOCK_NONE);
	p->ops->on_access(p, 1, 1);
	commit(2, 0, 1, 1);
	commit(3, 0, 0, AC_BLOCK_NONE);
	commit(4, 0, 1, 3);
	for (int k = 0; k < 3; k++) {
		p->ops->on_access(p, 2, 1);
		p->ops->on_access(p, 4, 1);
	}
	for (uint32_t id = 1; id <= 4; id++)
		release(id);
}

Test(policy_asym, session_blocks_do_not_count_their_hits)
{
	two_chains();
	cr_assert_float_eq(asym_priority(p, 4) / asym_priority(p, 2), 3, 1e-9,
			   "f(3) = 3 against a session block's 1");
	/* Children resident below both: 2 refilled a hole after all. */
	commit(5, 0, 2, AC_BLOCK_NONE);
	commit(6, 0, 2, AC_BLOCK_NONE);
	p->ops->on_link(p, 2, 5);
	p->ops->on_link(p, 4, 6);
	cr_assert_float_eq(asym_priority(p, 2), asym_priority(p, 4), 1e-12);
}

Test(policy_asym, a_session_needs_a_pinned_parent_read_to_its_end)
{
	/* 7 appended under 1 while 1 has a child (2) already: a branch. */
	two_chains();
	p->ops->on_pin(p, 1);
	commit(7, 0, 1, 1);
	/* 8 under 3, which nobody holds now. */
	commit(8, 0, 1, 3);
	p->ops->on_access(p, 7, 1);
	p->ops->on_access(p, 8, 1);
	release(7);
	release(8);
	cr_assert_float_eq(asym_priority(p, 7), asym_priority(p, 8), 1e-12);
	cr_assert_float_eq(asym_priority(p, 7) / asym_priority(p, 2), 2, 1e-9,
			   "f(1) = 2 against the session block's 1");
}

Test(policy_asym, a_hint_is_a_soft_ttl)
{
	uint32_t out[2];

	commit(1, 0, 40, AC_BLOCK_NONE);
	commit(2, 0, 40, AC_BLOCK_NONE);
	release(1);
	release(2);
	cr_assert_float_eq(asym_priority(p, 1), asym_priority(p, 2), 1e-12);
	/* Block 1's client paused on a tool call and will come back. */
	p->ops->on_hint(p, 1, true, 3);
	cr_assert_gt(asym_priority(p, 1), asym_priority(p, 2));
	{
		double once = asym_priority(p, 1);

		p->ops->on_hint(p, 1, true, 3);	/* twice is once */
		cr_assert_float_eq(asym_priority(p, 1), once, 1e-12);
	}
	/* Soft: still a candidate, the last to go. */
	cr_assert_eq(p->ops->pick_victims(p, 2, out, 4), 2);
	cr_assert_eq(out[0], 2);
	cr_assert_eq(out[1], 1);
	/* The hint ends: the value falls back at once. */
	commit(3, 0, 40, AC_BLOCK_NONE);
	commit(4, 0, 40, AC_BLOCK_NONE);
	release(3);
	release(4);
	p->ops->on_hint(p, 4, true, 5);
	p->ops->on_hint(p, 4, false, 6);
	cr_assert_float_eq(asym_priority(p, 3), asym_priority(p, 4), 1e-12);
	/* Pinned while hinted: no candidate, and the hint is kept. */
	p->ops->on_pin(p, 3);
	p->ops->on_hint(p, 3, true, 7);
	cr_assert_lt(asym_priority(p, 3), 0);
	p->ops->on_unpin(p, 3, 8);
	cr_assert_gt(asym_priority(p, 3), asym_priority(p, 4));
	cr_assert_eq(victim(), 4);
}

Test(policy_asym, a_conversation_takes_its_private_head_along)
{
	double b1, b2;

	/* 1: a shared prefix, read; 9 and 2 two branches under it. */
	commit(1, 0, 0, AC_BLOCK_NONE);
	p->ops->on_access(p, 1, 1);
	commit(9, 0, 1, 1);
	commit(2, 0, 1, 1);
	/* Turn 1 reads 2 and appends 3: 3 is a session block, 2 is not. */
	p->ops->on_access(p, 2, 1);
	commit(3, 0, 2, 2);
	/* Turn 2 reads 2 and 3 and appends 4: a conversation. */
	p->ops->on_access(p, 2, 1);
	p->ops->on_access(p, 3, 1);
	commit(4, 0, 3, 3);
	for (uint32_t id = 1; id <= 4; id++)
		release(id);
	release(9);
	/* Against the classic weights, 2 (two hits) lost f(2), 1 kept f(1). */
	b2 = asym_priority(p, 2);
	b1 = asym_priority(p, 1);
	cr_assert_eq(asym_set_ablation(p, ASYM_CLASSIC), 0);
	cr_assert_float_eq(asym_priority(p, 2) / b2, 1 + log2(3), 1e-9);
	cr_assert_float_eq(asym_priority(p, 1) / b1, 1, 1e-9,
			   "the shared prefix branches: not a session");
}

/*
 * Chain 0-5 read four times; 1-3 flushed, so a fifth read finds a hole,
 * writes 1-3 again and links 3 to the resident 4. The refilled run is the
 * chain's content: all of it takes the chain's hit count, not only the
 * block before 4 (which used to get one hit, and the others none).
 */
Test(policy_asym, a_refilled_hole_takes_the_hits_of_the_chain_it_fills)
{
	for (uint32_t id = 0; id < 6; id++)
		commit(id, 0, id, id ? id - 1 : AC_BLOCK_NONE);
	for (int k = 0; k < 4; k++)
		for (uint32_t id = 0; id < 6; id++)
			p->ops->on_access(p, id, 1);
	for (uint32_t id = 0; id < 6; id++)
		release(id);
	for (uint32_t id = 1; id <= 3; id++)
		p->ops->on_remove(p, id);
	/* The fifth read: 0, 4 and 5 are hits, pinned while it runs. */
	for (uint32_t id = 0; id < 6; id += id == 0 ? 4 : 1) {
		p->ops->on_access(p, id, 1);
		p->ops->on_pin(p, id);
	}
	for (uint32_t id = 1; id <= 3; id++)
		commit(id, 0, id, id - 1);
	p->ops->on_link(p, 3, 4);
	for (uint32_t id = 0; id < 6; id++)
		release(id);
	/*
	 * Flat cost: 0-4 sit inside one resident run (a new hole each, if
	 * evicted) and share a base, so only the weight can tell them apart.
	 */
	cr_assert_eq(asym_set_ablation(p, ASYM_ABLATE_POSITION), 0);
	for (uint32_t id = 1; id <= 3; id++)
		cr_assert_float_eq(asym_priority(p, id), asym_priority(p, 4),
				   1e-12, "refilled block %u", id);
	cr_assert_float_eq(asym_priority(p, 0), asym_priority(p, 4), 1e-12);
}
