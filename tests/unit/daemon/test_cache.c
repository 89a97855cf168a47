/* SPDX-License-Identifier: MIT */
/*
 * The block state machine: every legal transition, every illegal one, per
 * session pins, session cleanup and the protocol-level operations.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cache.h"
#include "policy.h"

static struct cache c;
static struct cache_sess s1, s2;
static uint32_t ns;

static struct ac_key key_n(uint32_t n)
{
	struct ac_key k;

	memset(&k, 0x11, sizeof(k));
	memcpy(k.b, &n, sizeof(n));
	return k;
}

static struct cache_commit_entry entry(uint32_t block, uint32_t keyn,
				       uint32_t pos)
{
	struct cache_commit_entry e;

	memset(&e, 0, sizeof(e));
	e.key = key_n(keyn);
	e.block = block;
	e.pos = pos;
	e.has_parent = pos > 0;
	if (pos > 0)
		e.parent_key = key_n(keyn - 1);
	return e;
}

static void setup(void)
{
	struct cache_layout l = {
		.model_id = "m", .kv.num_layers = 1, .kv.num_kv_heads = 1,
		.kv.head_dim = 64, .kv.dtype = AC_DTYPE_FP16, .kv.block_tokens = 16,
	};
	uint64_t bpb;

	cr_assert_eq(cache_init(&c, 8, 4096, "lru", 1), 0);
	cr_assert_eq(cache_register_ns(&c, &l, &ns, &bpb), 0);
	cr_assert_eq(bpb, 4096);
	cache_sess_init(&s1, 1);
	cache_sess_init(&s2, 2);
}

static void teardown(void)
{
	cache_sess_release_all(&c, &s1);
	cache_sess_release_all(&c, &s2);
	cr_expect_eq(c.nfree + c.ncached, c.nblocks, "blocks leaked");
	cache_fini(&c);
}

TestSuite(cache, .init = setup, .fini = teardown, .timeout = 30);

/* Commits block @id for s1 as key @keyn at pos 0 and returns it. */
static uint32_t cached_block(struct cache_sess *s, uint32_t keyn)
{
	struct cache_commit_entry e;
	uint32_t id;

	cr_assert_eq(cache_blk_alloc(&c, s, ns, &id), 0);
	e = entry(id, keyn, 0);
	cr_assert_eq(cache_blk_commit(&c, s, id, &e), 0);
	return id;
}

Test(cache, legal_transitions)
{
	struct cache_commit_entry e;
	uint32_t id, id2;

	/* FREE -> WRITING -> FREE */
	cr_assert_eq(cache_blk_alloc(&c, &s1, ns, &id), 0);
	cr_assert_eq(c.blocks[id].state, BLK_WRITING);
	cr_assert_eq(c.nwriting, 1);
	cr_assert_eq(s1.nwriting, 1);
	cr_assert_eq(cache_blk_abort(&c, &s1, id), 0);
	cr_assert_eq(c.blocks[id].state, BLK_FREE);
	cr_assert_eq(c.nfree, 8);
	/* FREE -> WRITING -> CACHED(pins 1) */
	cr_assert_eq(cache_blk_alloc(&c, &s1, ns, &id), 0);
	e = entry(id, 1, 0);
	cr_assert_eq(cache_blk_commit(&c, &s1, id, &e), 0);
	cr_assert_eq(c.blocks[id].state, BLK_CACHED);
	cr_assert_eq(c.blocks[id].pins, 1);
	cr_assert_eq(s1.npins, 1);
	cr_assert_eq(s1.nwriting, 0);
	cr_assert_eq(c.npinned, 1);
	/* CACHED pin by another session, unpin both */
	cr_assert_eq(cache_blk_pin(&c, &s2, id), 0);
	cr_assert_eq(c.blocks[id].pins, 2);
	cr_assert_eq(cache_blk_unpin(&c, &s2, id), 0);
	cr_assert_eq(cache_blk_unpin(&c, &s1, id), 0);
	cr_assert_eq(c.blocks[id].pins, 0);
	cr_assert_eq(c.npinned, 0);
	/* CACHED(0 pins) -> FREE */
	cr_assert_eq(cache_blk_evict(&c, id, false), 0);
	cr_assert_eq(c.blocks[id].state, BLK_FREE);
	cr_assert_eq(c.ncached, 0);
	/* The key is gone with it, so it may be committed again. */
	id2 = cached_block(&s1, 1);
	cr_assert_neq(id2, AC_NO_BLOCK);
}

Test(cache, illegal_transitions)
{
	struct cache_commit_entry e;
	uint32_t w, w2, cb, f;

	cr_assert_eq(cache_blk_alloc(&c, &s1, ns, &w), 0);
	cr_assert_eq(cache_blk_alloc(&c, &s2, ns, &w2), 0);
	cb = cached_block(&s1, 5);
	f = c.free_head;
	cr_assert_eq(c.blocks[f].state, BLK_FREE);

	/* abort */
	cr_assert_eq(cache_blk_abort(&c, &s1, f), -EINVAL, "abort FREE");
	cr_assert_eq(cache_blk_abort(&c, &s1, cb), -EINVAL, "abort CACHED");
	cr_assert_eq(cache_blk_abort(&c, &s1, w2), -EPERM, "abort theirs");
	cr_assert_eq(cache_blk_abort(&c, &s1, 99), -EINVAL, "out of range");
	/* commit */
	e = entry(f, 6, 0);
	cr_assert_eq(cache_blk_commit(&c, &s1, f, &e), -EINVAL, "commit FREE");
	e = entry(cb, 6, 0);
	cr_assert_eq(cache_blk_commit(&c, &s1, cb, &e), -EINVAL,
		     "commit CACHED");
	e = entry(w2, 6, 0);
	cr_assert_eq(cache_blk_commit(&c, &s1, w2, &e), -EPERM,
		     "commit theirs");
	e = entry(w, 5, 0);
	cr_assert_eq(cache_blk_commit(&c, &s1, w, &e), -EEXIST,
		     "a key is published once");
	/* pin / unpin */
	cr_assert_eq(cache_blk_pin(&c, &s1, f), -EINVAL, "pin FREE");
	cr_assert_eq(cache_blk_pin(&c, &s1, w), -EINVAL, "pin WRITING");
	cr_assert_eq(cache_blk_unpin(&c, &s2, cb), -EPERM,
		     "unpin a pin held by another session");
	cr_assert_eq(cache_blk_unpin(&c, &s1, f), -EINVAL, "unpin FREE");
	cr_assert_eq(cache_blk_unpin(&c, &s1, w), -EINVAL, "unpin WRITING");
	/* evict */
	cr_assert_eq(cache_blk_evict(&c, cb, false), -EBUSY, "evict pinned");
	cr_assert_eq(cache_blk_evict(&c, f, false), -EINVAL, "evict FREE");
	cr_assert_eq(cache_blk_evict(&c, w, false), -EINVAL, "evict WRITING");
	/* alloc */
	cr_assert_eq(cache_blk_alloc(&c, &s1, ns + 1, &f), -ENOENT);
	/* Nothing above changed any state. */
	cr_assert_eq(c.blocks[w].state, BLK_WRITING);
	cr_assert_eq(c.blocks[w2].state, BLK_WRITING);
	cr_assert_eq(c.blocks[cb].state, BLK_CACHED);
	cr_assert_eq(c.blocks[cb].pins, 1);
	cr_assert_eq(c.nfree, 5);
	cr_assert_eq(s1.npins, 1);
	cr_assert_eq(s2.npins, 0);
}

Test(cache, alloc_fails_when_nothing_is_free)
{
	uint32_t id, i;

	for (i = 0; i < 8; i++)
		cr_assert_eq(cache_blk_alloc(&c, &s1, ns, &id), 0);
	cr_assert_eq(cache_blk_alloc(&c, &s1, ns, &id), -ENOSPC);
}

Test(cache, pins_are_counted_per_session)
{
	uint32_t id = cached_block(&s1, 1);

	cr_assert_eq(cache_blk_pin(&c, &s1, id), 0);
	cr_assert_eq(cache_blk_pin(&c, &s1, id), 0);
	cr_assert_eq(cache_blk_pin(&c, &s2, id), 0);
	cr_assert_eq(pinmap_get(&s1.pins, id), 3);
	cr_assert_eq(pinmap_get(&s2.pins, id), 1);
	cr_assert_eq(c.blocks[id].pins, 4);
	cr_assert_eq(s1.npins, 3);
	cr_assert_eq(cache_blk_unpin(&c, &s1, id), 0);
	cr_assert_eq(cache_blk_unpin(&c, &s1, id), 0);
	cr_assert_eq(cache_blk_unpin(&c, &s1, id), 0);
	cr_assert_eq(cache_blk_unpin(&c, &s1, id), -EPERM,
		     "s1 has no pin left");
	cr_assert_eq(c.blocks[id].pins, 1);
	cr_assert_eq(c.npinned, 1);
	cr_assert_eq(cache_blk_unpin(&c, &s2, id), 0);
	cr_assert_eq(c.npinned, 0);
}

Test(cache, session_release_all_reclaims)
{
	struct ac_key k = key_n(1);
	uint32_t id, w, got, hits;

	id = cached_block(&s1, 1);
	cr_assert_eq(cache_blk_pin(&c, &s1, id), 0);
	cr_assert_eq(cache_blk_alloc(&c, &s1, ns, &w), 0);
	cr_assert_eq(cache_lookup(&c, &s2, ns, &k, 1, &got, &hits), 0);
	cr_assert_eq(hits, 1);
	cache_sess_release_all(&c, &s1);
	cr_assert_eq(s1.npins, 0);
	cr_assert_eq(s1.nwriting, 0);
	cr_assert_eq(c.blocks[w].state, BLK_FREE, "WRITING went back to FREE");
	cr_assert_eq(c.blocks[id].state, BLK_CACHED);
	cr_assert_eq(c.blocks[id].pins, 1, "s2's pin is kept");
	cache_sess_release_all(&c, &s2);
	cr_assert_eq(c.blocks[id].pins, 0);
	cr_assert_eq(c.npinned, 0);
	cr_assert_eq(c.nwriting, 0);
	cr_assert_eq(c.nfree, 7);
}

Test(cache, lookup_pins_hits_and_respects_the_limit)
{
	struct ac_key keys[3] = { key_n(1), key_n(2), key_n(3) };
	uint32_t got[3], hits;

	cached_block(&s1, 1);
	cached_block(&s1, 3);
	cr_assert_eq(cache_lookup(&c, &s2, ns, keys, 3, got, &hits), 0);
	cr_assert_eq(hits, 2);
	cr_assert_eq(got[1], AC_NO_BLOCK);
	cr_assert_eq(s2.npins, 2);
	cache_set_limits(&c, 3, 8);
	cr_assert_eq(cache_lookup(&c, &s2, ns, keys, 3, got, &hits), -EDQUOT);
	cr_assert_eq(s2.npins, 2, "a refused lookup pinned something");
	cr_assert_eq(cache_lookup(&c, &s2, ns + 7, keys, 3, got, &hits),
		     -ENOENT);
	cr_assert_eq(c.ctr.lookups, 1);
	cr_assert_eq(c.ctr.lookup_hits, 2);
}

Test(cache, alloc_evicts_through_the_policy_all_or_nothing)
{
	uint32_t ids[8], got[8], pinned, i;

	for (i = 0; i < 8; i++)
		ids[i] = cached_block(&s1, 10 + i);
	/* Unpin all but ids[0]. */
	for (i = 1; i < 8; i++)
		cr_assert_eq(cache_blk_unpin(&c, &s1, ids[i]), 0);
	pinned = ids[0];
	cr_assert_eq(cache_alloc(&c, &s2, ns, 8, got), -ENOSPC);
	cr_assert_eq(c.ncached, 8, "a refused alloc evicted");
	cr_assert_eq(c.ctr.evictions, 0);
	cache_set_limits(&c, 100, 2);
	cr_assert_eq(cache_alloc(&c, &s2, ns, 3, got), -EDQUOT);
	cache_set_limits(&c, 100, 100);
	cr_assert_eq(cache_alloc(&c, &s2, ns, 7, got), 0);
	for (i = 0; i < 7; i++) {
		cr_assert_neq(got[i], pinned);
		cr_assert_eq(c.blocks[got[i]].state, BLK_WRITING);
	}
	cr_assert_eq(c.ctr.evictions, 7);
	cr_assert_eq(c.ncached, 1);
	cr_assert_eq(cache_alloc(&c, &s2, ns, 0, got), -EINVAL);
}

Test(cache, commit_validates_everything_first)
{
	struct cache_commit_entry e[3];
	uint32_t a, b, other, out[3], ded;

	cr_assert_eq(cache_blk_alloc(&c, &s1, ns, &a), 0);
	cr_assert_eq(cache_blk_alloc(&c, &s1, ns, &b), 0);
	cr_assert_eq(cache_blk_alloc(&c, &s2, ns, &other), 0);
	e[0] = entry(a, 1, 0);
	e[1] = entry(b, 2, 1);
	e[2] = entry(other, 3, 2);
	cr_assert_eq(cache_commit(&c, &s1, ns, e, 3, out, &ded), -EPERM);
	e[2] = entry(a, 3, 2);
	cr_assert_eq(cache_commit(&c, &s1, ns, e, 3, out, &ded), -EINVAL,
		     "same block twice");
	e[1].has_parent = false;
	cr_assert_eq(cache_commit(&c, &s1, ns, e, 2, out, &ded), -EINVAL,
		     "pos 1 without a parent");
	e[1] = entry(b, 2, 1);
	cr_assert_eq(cache_commit(&c, &s1, ns + 1, e, 2, out, &ded), -ENOENT);
	cr_assert_eq(c.ncached, 0);
	cr_assert_eq(s1.nwriting, 2);
	for (uint32_t i = 0; i < c.nblocks; i++)
		cr_assert_eq(c.mark[i], 0, "scratch marks left behind");
	cr_assert_eq(cache_commit(&c, &s1, ns, e, 2, out, &ded), 0);
	cr_assert_eq(out[0], a);
	cr_assert_eq(out[1], b);
	cr_assert_eq(ded, 0);
	cr_assert_eq(s1.npins, 2);
}

Test(cache, commit_dedups_against_published_keys)
{
	struct cache_commit_entry e[2];
	uint32_t a, b, mine, out[2], ded;

	a = cached_block(&s1, 1);
	cr_assert_eq(cache_blk_alloc(&c, &s2, ns, &mine), 0);
	cr_assert_eq(cache_blk_alloc(&c, &s2, ns, &b), 0);
	e[0] = entry(mine, 1, 0);
	e[1] = entry(b, 2, 1);
	cr_assert_eq(cache_commit(&c, &s2, ns, e, 2, out, &ded), 0);
	cr_assert_eq(out[0], a);
	cr_assert_eq(out[1], b);
	cr_assert_eq(ded, 1);
	cr_assert_eq(c.blocks[mine].state, BLK_FREE);
	cr_assert_eq(c.blocks[a].pins, 2);
	cr_assert_eq(pinmap_get(&s2.pins, a), 1);
	cr_assert_eq(c.ctr.dedups, 1);
}

Test(cache, release_counts_duplicates_and_changes_nothing_on_error)
{
	uint32_t a, w, ids[3], rel;

	a = cached_block(&s1, 1);
	cr_assert_eq(cache_blk_alloc(&c, &s1, ns, &w), 0);
	ids[0] = a;
	ids[1] = a;
	cr_assert_eq(cache_release(&c, &s1, ids, 2, &rel), -EPERM,
		     "one pin cannot be released twice");
	ids[1] = w;
	ids[2] = w;
	cr_assert_eq(cache_release(&c, &s1, ids, 3, &rel), -EINVAL,
		     "a WRITING block aborted twice");
	ids[2] = 1000;
	cr_assert_eq(cache_release(&c, &s1, ids, 3, &rel), -EINVAL);
	cr_assert_eq(c.blocks[a].pins, 1);
	cr_assert_eq(c.blocks[w].state, BLK_WRITING);
	for (uint32_t i = 0; i < c.nblocks; i++)
		cr_assert_eq(c.mark[i], 0, "scratch marks left behind");
	cr_assert_eq(cache_release(&c, &s1, ids, 2, &rel), 0);
	cr_assert_eq(rel, 2);
	cr_assert_eq(c.blocks[a].pins, 0);
	cr_assert_eq(c.blocks[w].state, BLK_FREE);
	cr_assert_eq(cache_release(&c, &s2, &a, 1, &rel), -EPERM);
}

Test(cache, switching_policy_keeps_index_and_pins)
{
	struct ac_key k[4] = { key_n(1), key_n(2), key_n(3), key_n(4) };
	uint32_t ids[4], got[4], hits, ev, i;
	const struct ac_policy_ops *const *all = ac_policy_list();

	for (i = 0; i < 4; i++)
		ids[i] = cached_block(&s1, i + 1);
	for (i = 1; i < 4; i++)
		cr_assert_eq(cache_blk_unpin(&c, &s1, ids[i]), 0);
	/* Every built-in policy, then back to lru. */
	for (i = 0; all[i]; i++)
		cr_assert_eq(cache_set_policy(&c, all[i]->name), 0);
	cr_assert_eq(cache_set_policy(&c, "lru"), 0);
	cr_assert_str_eq(cache_policy_name(&c), "lru");
	cr_assert_eq(cache_set_policy(&c, "no-such-policy"), -ENOENT);
	cr_assert_str_eq(cache_policy_name(&c), "lru");
	cr_assert_eq(cache_lookup(&c, &s2, ns, k, 4, got, &hits), 0);
	cr_assert_eq(hits, 4, "the index survived the switch");
	cr_assert_arr_eq(got, ids, sizeof(ids));
	cache_sess_release_all(&c, &s2);
	/* The new policy knows exactly the 3 unpinned blocks. */
	cr_assert_eq(cache_evict(&c, 8, &ev), 0);
	cr_assert_eq(ev, 3);
	cr_assert_eq(c.blocks[ids[0]].state, BLK_CACHED, "pinned evicted");
}

Test(cache, flush_namespace_frees_unpinned_only)
{
	uint32_t a, b, n;

	a = cached_block(&s1, 1);
	b = cached_block(&s1, 2);
	cr_assert_eq(cache_blk_unpin(&c, &s1, b), 0);
	cr_assert_eq(cache_flush_ns(&c, ns, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(c.blocks[a].state, BLK_CACHED);
	cr_assert_eq(c.blocks[b].state, BLK_FREE);
	cr_assert_eq(cache_flush_ns(&c, ns + 1, &n), -ENOENT);
	/* The policy forgot b: evicting everything cannot name it again. */
	cr_assert_eq(cache_blk_unpin(&c, &s1, a), 0);
	cr_assert_eq(cache_evict(&c, 8, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(c.ctr.policy_errors, 0);
}

Test(cache, register_namespace_checks_layouts)
{
	struct cache_layout l = {
		.model_id = "m", .kv.num_layers = 1, .kv.num_kv_heads = 1,
		.kv.head_dim = 64, .kv.dtype = AC_DTYPE_FP16, .kv.block_tokens = 16,
	};
	uint64_t bpb;
	uint32_t id;

	cr_assert_eq(cache_register_ns(&c, &l, &id, &bpb), 0);
	cr_assert_eq(id, ns, "identical layouts share one namespace");
	l.kv.block_tokens = 32;
	cr_assert_eq(cache_register_ns(&c, &l, &id, &bpb), -E2BIG);
	l.kv.block_tokens = 12;
	cr_assert_eq(cache_register_ns(&c, &l, &id, &bpb), -EINVAL);
	l.kv.block_tokens = 8;
	l.kv.dtype = 0;
	cr_assert_eq(cache_register_ns(&c, &l, &id, &bpb), -EINVAL);
	l.kv.dtype = AC_DTYPE_FP32;
	cr_assert_eq(cache_register_ns(&c, &l, &id, &bpb), 0);
	cr_assert_neq(id, ns);
	cr_assert_eq(bpb, 4096);
	l.kv.num_layers = 0;
	cr_assert_eq(cache_register_ns(&c, &l, &id, &bpb), -ERANGE);
}

/* A policy that names a pinned block: the core must refuse it. */
static int bad_pick(struct ac_policy *p, uint32_t want, uint32_t *out,
		    uint64_t now)
{
	out[0] = 0;	/* block 0 is pinned in the test below */
	return 1;
}

Test(cache, a_policy_naming_a_pinned_block_is_ignored)
{
	struct ac_policy_ops ops = *c.policy->ops;
	const struct ac_policy_ops *saved = c.policy->ops;
	uint32_t a, b, got[8], i;

	a = cached_block(&s1, 1);
	b = cached_block(&s1, 2);
	cr_assert_eq(a, 0);
	cr_assert_eq(cache_blk_unpin(&c, &s1, b), 0);
	for (i = 0; i < 6; i++)
		cr_assert_eq(cache_blk_alloc(&c, &s1, ns, &got[i]), 0);
	cr_assert_eq(c.nfree, 0);
	ops.pick_victims = bad_pick;
	c.policy->ops = &ops;
	cr_assert_eq(cache_alloc(&c, &s2, ns, 1, got), -ENOSPC);
	c.policy->ops = saved;
	cr_assert_eq(c.blocks[a].state, BLK_CACHED, "a pinned block was freed");
	cr_assert_eq(c.blocks[a].pins, 1);
	cr_assert_geq(c.ctr.policy_errors, 1);
	cr_assert_eq(c.ctr.evictions, 0);
	/* With the real policy the unpinned block is the victim. */
	cr_assert_eq(cache_alloc(&c, &s2, ns, 1, got), 0);
	cr_assert_eq(got[0], b);
}

/* on_link reports a refilled hole; a self-parented key is never linked. */
static int links;
static uint32_t link_parent, link_child;

static void count_link(struct ac_policy *p, uint32_t parent, uint32_t child)
{
	links++;
	link_parent = parent;
	link_child = child;
}

Test(cache, refilled_hole_is_reported_with_on_link)
{
	struct ac_policy_ops ops = *c.policy->ops;
	const struct ac_policy_ops *saved = c.policy->ops;
	struct cache_commit_entry e;
	uint32_t parent, child, self, n;

	ops.on_link = count_link;
	c.policy->ops = &ops;
	/* The child (key 2, parent key 1) arrives while 1 is not resident. */
	cr_assert_eq(cache_blk_alloc(&c, &s1, ns, &child), 0);
	e = entry(child, 2, 1);
	cr_assert_eq(cache_blk_commit(&c, &s1, child, &e), 0);
	cr_assert_eq(links, 0);
	parent = cached_block(&s1, 1);
	cr_assert_eq(links, 1, "filling the hole must call on_link");
	cr_assert_eq(link_parent, parent);
	cr_assert_eq(link_child, child);
	/* Evict the parent and bring it back: linked again. */
	cr_assert_eq(cache_blk_unpin(&c, &s1, parent), 0);
	cr_assert_eq(cache_blk_evict(&c, parent, false), 0);
	parent = cached_block(&s1, 1);
	cr_assert_eq(links, 2);
	/* After the child is gone, its parent's return links nothing. */
	cr_assert_eq(cache_blk_unpin(&c, &s1, child), 0);
	cr_assert_eq(cache_blk_evict(&c, child, false), 0);
	cr_assert_eq(cache_blk_unpin(&c, &s1, parent), 0);
	cr_assert_eq(cache_blk_evict(&c, parent, false), 0);
	parent = cached_block(&s1, 1);
	cr_assert_eq(links, 2);
	/* A key that names itself as parent is never its own child. */
	cr_assert_eq(cache_blk_alloc(&c, &s1, ns, &self), 0);
	e = entry(self, 9, 3);
	e.parent_key = e.key;
	cr_assert_eq(cache_blk_commit(&c, &s1, self, &e), 0);
	cr_assert_eq(links, 2);
	c.policy->ops = saved;
	(void)n;
}

/*
 * Gives @s @count pins on CACHED block @id, as if it had pinned it that
 * often: 2^31 real pins take minutes, and the state is what counts.
 */
static void hold_pins(struct cache_sess *s, uint32_t id, uint32_t count)
{
	struct pinmap_slot *ps;

	cr_assert_eq(cache_blk_pin(&c, s, id), 0);
	pinmap_foreach(&s->pins, ps)
		if (ps->block == id)
			ps->count = count;
	s->npins += count - 1;
	c.blocks[id].pins += count - 1;
}

/*
 * max_pins_per_session = 2^31-1 is a documented setting: three sessions at
 * that limit plus one more pin took a 32-bit block count through zero, an
 * Unpin then told the policy the block was free, and Alloc handed a block
 * still pinned to another session for writing.
 */
Test(cache, block_pin_count_does_not_wrap)
{
	static struct cache_sess s3, s4;
	uint32_t x = cached_block(&s1, 1), got[8], i;

	cache_sess_init(&s3, 3);
	cache_sess_init(&s4, 4);
	cache_set_limits(&c, INT32_MAX, 8);
	hold_pins(&s2, x, INT32_MAX);
	hold_pins(&s3, x, INT32_MAX);
	/* 1 + 2 * (2^31 - 1) = 2^32 - 1 pins; two more cross 2^32. */
	cr_assert_eq(cache_blk_pin(&c, &s4, x), 0);
	cr_assert_eq(cache_blk_pin(&c, &s4, x), 0);
	cr_assert_eq(cache_blk_unpin(&c, &s4, x), 0);
	/* Every other block cached and unpinned: Alloc must take those. */
	for (i = 2; i <= 8; i++)
		cache_blk_unpin(&c, &s1, cached_block(&s1, i));
	cr_assert_eq(cache_alloc(&c, &s4, ns, 8, got), -ENOSPC,
		     "a pinned block was offered for eviction");
	cr_assert_eq(c.blocks[x].state, BLK_CACHED);
	cr_assert_eq(cache_alloc(&c, &s4, ns, 7, got), 0);
	for (i = 0; i < 7; i++)
		cr_assert_neq(got[i], x);
	cr_assert_eq(c.blocks[x].pins, (uint64_t)UINT32_MAX + 1);
	cr_assert_eq(c.npinned, 1);
	cache_sess_release_all(&c, &s4);
	cache_sess_release_all(&c, &s3);
	cache_sess_release_all(&c, &s2);
	cr_assert_eq(c.blocks[x].pins, 1);
	pinmap_fini(&s3.pins);
	pinmap_fini(&s4.pins);
}

/*
 * The daemon allowed 1,024 namespaces and asym and pensieve 255: under lru
 * a pool could hold more than a switch to asym could take. One limit now.
 */
Test(cache, namespace_limit_is_the_policies)
{
	struct cache_layout l = {
		.kv.num_layers = 1, .kv.num_kv_heads = 1, .kv.head_dim = 64,
		.kv.dtype = AC_DTYPE_FP16, .kv.block_tokens = 16,
	};
	uint64_t bpb;
	uint32_t id, i;

	/* setup() registered one; fill the table. */
	for (i = 1; i < AC_POLICY_MAX_NAMESPACES; i++) {
		snprintf(l.model_id, sizeof(l.model_id), "model-%u", i);
		cr_assert_eq(cache_register_ns(&c, &l, &id, &bpb), 0,
			     "namespace %u", i + 1);
	}
	snprintf(l.model_id, sizeof(l.model_id), "one-too-many");
	cr_assert_eq(cache_register_ns(&c, &l, &id, &bpb), -ENOSPC);
	/* The same layout again is no new namespace. */
	snprintf(l.model_id, sizeof(l.model_id), "model-7");
	cr_assert_eq(cache_register_ns(&c, &l, &id, &bpb), 0);
	cr_assert_eq(cache_set_policy(&c, "asym"), 0,
		     "a full table must fit the asym policy");
	cr_assert_eq(cache_set_policy(&c, "pensieve"), 0);
}
