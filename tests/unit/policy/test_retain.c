/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "retain.h"

static struct ac_retain *r;

static void setup(void)
{
	cr_assert_eq(ac_retain_new(&r), 0);
}

static void teardown(void)
{
	r = ac_retain_free(r);
}

TestSuite(policy_retain, .init = setup, .fini = teardown);

Test(policy_retain, release_and_expiry)
{
	uint32_t a[] = { 1, 2, 3 }, b[] = { 7 }, *out, n;
	uint64_t ha, hb;

	cr_assert_eq(ac_retain_add(r, 10, a, 3, 5000, &ha), 0);
	cr_assert_eq(ac_retain_add(r, 11, b, 1, 3000, &hb), 0);
	cr_assert_neq(ha, hb);
	cr_assert_eq(ac_retain_used(r, 10), 3);
	cr_assert_eq(ac_retain_next_expiry(r), 3000);
	cr_assert_eq(ac_retain_expire(r, 2999, &out, &n), 0);
	cr_assert_eq(ac_retain_expire(r, 9999, &out, &n), 1);
	cr_assert_eq(n, 1, "earliest expiry first");
	cr_assert_eq(out[0], 7);
	free(out);
	/* Expired: the client's resume finds nothing to release. */
	cr_assert_eq(ac_retain_release(r, hb, &out, &n), -ENOENT);
	cr_assert_eq(ac_retain_release(r, ha, &out, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(out[2], 3);
	free(out);
	cr_assert_eq(ac_retain_used(r, 10), 0);
	cr_assert_eq(ac_retain_next_expiry(r), UINT64_MAX);
	cr_assert_eq(ac_retain_release(r, ha, &out, &n), -ENOENT,
		     "a handle is released once");
}

Test(policy_retain, quota_is_enforced_per_client)
{
	uint32_t blocks[8] = { 0 }, *out, n;
	uint64_t h1, h2;

	cr_assert_eq(ac_retain_set_quota(r, 1, 10), 0);
	cr_assert_eq(ac_retain_add(r, 1, blocks, 8, 100, &h1), 0);
	cr_assert_eq(ac_retain_add(r, 1, blocks, 3, 100, &h2), -EDQUOT);
	cr_assert_eq(ac_retain_used(r, 1), 8, "a refused add leaves nothing");
	cr_assert_eq(ac_retain_add(r, 2, blocks, 8, 100, &h2), 0,
		     "other clients have their own quota");
	cr_assert_eq(ac_retain_release(r, h1, &out, &n), 0);
	free(out);
	cr_assert_eq(ac_retain_add(r, 1, blocks, 3, 100, &h2), 0);
}

Test(policy_retain, bad_input)
{
	uint32_t b[1] = { 0 }, *out, n;
	uint64_t h;

	cr_assert_eq(ac_retain_add(r, 1, NULL, 1, 1, &h), -EINVAL);
	cr_assert_eq(ac_retain_add(r, 1, b, 0, 1, &h), -EINVAL);
	cr_assert_eq(ac_retain_add(NULL, 1, b, 1, 1, &h), -EINVAL);
	cr_assert_eq(ac_retain_release(r, 1, NULL, &n), -EINVAL);
	cr_assert_eq(ac_retain_expire(r, 1, &out, NULL), -EINVAL);
	cr_assert_eq(ac_retain_new(NULL), -EINVAL);
	cr_assert_null(ac_retain_free(NULL));
}

Test(policy_retain, ttl_pick)
{
	double tools[] = { 4, 1, 2, 3, 100 };

	/* Cheap to hold: wait for all but the 100 s outlier. */
	cr_assert_float_eq(ac_ttl_pick(tools, 5, 10.0, 0.2, 7), 4, 1e-12);
	/* Holding costs more than rebuilding: do not retain. */
	cr_assert_float_eq(ac_ttl_pick(tools, 5, 0.1, 1.0, 7), 0, 0);
	/* Free to hold: cover every observed call. */
	cr_assert_float_eq(ac_ttl_pick(tools, 5, 1.0, 0, 7), 100, 0);
	/* No history yet: the caller's fallback. */
	cr_assert_float_eq(ac_ttl_pick(NULL, 0, 1.0, 0.1, 7), 7, 0);
	cr_assert_float_eq(ac_ttl_pick(tools, 5, 0, 0.1, 7), 0, 0);
}

Test(policy_retain, tool_stats_learn_per_program)
{
	struct ac_tool_stats *st;
	double d[64];
	uint64_t calls, unused;
	size_t n;

	cr_assert_eq(ac_tool_stats_new(8, 3, &st), 0);
	cr_assert_eq(ac_tool_stats_predict(st, 1, 10, d, 64), 0,
		     "nothing learned yet");
	/* With no history, a declared call gets twice its declaration. */
	cr_assert_float_eq(ac_retain_pick_ttl(st, 1, 10, 5, 1e6, 0), 20, 1e-9);
	cr_assert_float_eq(ac_retain_pick_ttl(st, 1, -1, 5, 1e6, 0), 0, 1e-9);
	/* Program 1's calls take half of what it declares. */
	cr_assert_eq(ac_tool_stats_add(st, 1, 10, 5), 0);
	cr_assert_eq(ac_tool_stats_add(st, 1, 4, 2), 0);
	/* Too few of its own: the global history (with program 2's) rules. */
	cr_assert_eq(ac_tool_stats_add(st, 2, 10, 30), 0);
	n = ac_tool_stats_predict(st, 1, 20, d, 64);
	cr_assert_eq(n, 3);
	cr_assert_eq(ac_tool_stats_add(st, 1, 8, 4), 0);
	n = ac_tool_stats_predict(st, 1, 20, d, 64);
	cr_assert_eq(n, 3, "now its own three");
	for (size_t i = 0; i < n; i++)
		cr_assert_float_eq(d[i], 10, 1e-5, "scaled to the declaration");
	/* Undeclared calls predict their absolute durations. */
	n = ac_tool_stats_predict(st, 1, -1, d, 64);
	cr_assert_float_eq(d[0], 5, 1e-5);
	/* A call that never came back is an infinite one. */
	cr_assert_eq(ac_tool_stats_add(st, 3, 10, -1), 0);
	n = ac_tool_stats_predict(st, 3, 10, d, 64);
	cr_assert_eq(n, 5, "program 3 has one call: the global history");
	cr_assert(isinf(d[4]));
	ac_tool_stats_counts(st, &calls, &unused);
	cr_assert_eq(calls, 5);
	cr_assert_eq(unused, 1);
	/* The ring keeps the last 8 of a program. */
	for (int i = 0; i < 20; i++)
		cr_assert_eq(ac_tool_stats_add(st, 1, 1, 100 + i), 0);
	n = ac_tool_stats_predict(st, 1, 1, d, 64);
	cr_assert_eq(n, 8);
	for (size_t i = 0; i < n; i++)
		cr_assert_geq(d[i], 112);
	cr_assert_eq(ac_tool_stats_add(st, UINT32_MAX, 1, 1), -EINVAL);
	cr_assert_eq(ac_tool_stats_add(st, 1, NAN, 1), -EINVAL);
	ac_tool_stats_free(st);
	cr_assert_eq(ac_tool_stats_new(0, 0, &st), -EINVAL);
	cr_assert_eq(ac_tool_stats_new(4, 5, &st), -EINVAL);
}

Test(policy_retain, pick_ttl_prices_the_space)
{
	struct ac_tool_stats *st;

	cr_assert_eq(ac_tool_stats_new(16, 1, &st), 0);
	/* Nine quick calls and one that takes 100 times as long. */
	for (int i = 0; i < 9; i++)
		cr_assert_eq(ac_tool_stats_add(st, 7, 10, 1), 0);
	cr_assert_eq(ac_tool_stats_add(st, 7, 10, 100), 0);
	/* Free space: wait even for the slow one. */
	cr_assert_float_eq(ac_retain_pick_ttl(st, 7, 10, 2, 1e6, 0), 100, 1e-4);
	/* Space worth 0.1 s/s for this chain: hold for the quick ones only. */
	cr_assert_float_eq(ac_retain_pick_ttl(st, 7, 10, 2, 1e6, 1e-7), 1, 1e-5);
	/* Space dearer than the rebuild it saves: no retention. */
	cr_assert_float_eq(ac_retain_pick_ttl(st, 7, 10, 2, 1e6, 2e-6), 0, 1e-9);
	ac_tool_stats_free(st);
}

Test(policy_retain, expire_names_the_handle)
{
	uint32_t a[] = { 4 }, *out, n;
	uint64_t h1, h2, h;

	cr_assert_eq(ac_retain_add(r, 1, a, 1, 50, &h1), 0);
	cr_assert_eq(ac_retain_add(r, 1, a, 1, 40, &h2), 0);
	cr_assert_eq(ac_retain_expire_handle(r, 45, &out, &n, &h), 1);
	cr_assert_eq(h, h2);
	free(out);
	cr_assert_eq(ac_retain_expire_handle(r, 45, &out, &n, &h), 0);
	cr_assert_eq(ac_retain_expire_handle(r, UINT64_MAX, &out, &n, &h), 1);
	cr_assert_eq(h, h1);
	free(out);
}

Test(policy_retain, space_price_follows_evictions)
{
	struct ac_space_price p;

	ac_space_price_init(&p, 10);
	cr_assert_float_eq(ac_space_price_get(&p, 5, 1000), 0, 1e-15,
			   "nothing evicted: space is free");
	ac_space_price_evicted(&p, 100, 2);
	ac_space_price_evicted(&p, 100, 3);
	/* 5 s of recompute let go, over a 10 s window, on 1000 bytes. */
	cr_assert_float_eq(ac_space_price_get(&p, 100, 1000), 5e-4, 1e-12);
	/* It decays: one window later, by e. */
	cr_assert_float_eq(ac_space_price_get(&p, 110, 1000), 5e-4 / M_E, 1e-12);
	ac_space_price_evicted(&p, 110, 1);
	cr_assert_float_eq(ac_space_price_get(&p, 110, 1000),
			   (5 / M_E + 1) / 10 / 1000, 1e-12);
	/* An earlier clock does not undo the decay. */
	ac_space_price_evicted(&p, 105, 0);
	cr_assert_float_eq(ac_space_price_get(&p, 110, 1000),
			   (5 / M_E + 1) / 10 / 1000, 1e-12);
	cr_assert_float_eq(ac_space_price_get(&p, 110, 0), 0, 1e-15);
}

Test(policy_retain, pop_latest_takes_the_last_to_expire)
{
	uint32_t a[] = { 1 }, *out, n;
	uint64_t h1, h2, h3, h;

	cr_assert_eq(ac_retain_pop_latest(r, &out, &n, &h), 0, "nothing held");
	cr_assert_eq(ac_retain_add(r, 1, a, 1, 50, &h1), 0);
	cr_assert_eq(ac_retain_add(r, 1, a, 1, 90, &h2), 0);
	cr_assert_eq(ac_retain_add(r, 2, a, 1, 70, &h3), 0);
	cr_assert_eq(ac_retain_pop_latest(r, &out, &n, &h), 1);
	cr_assert_eq(h, h2, "not yet due, but wanted last");
	free(out);
	cr_assert_eq(ac_retain_pop_latest(r, &out, &n, &h), 1);
	cr_assert_eq(h, h3);
	free(out);
	cr_assert_eq(ac_retain_used(r, 1), 1);
	cr_assert_eq(ac_retain_used(r, 2), 0);
	cr_assert_eq(ac_retain_pop_latest(r, NULL, &n, &h), -EINVAL);
	cr_assert_eq(ac_retain_pop_latest(NULL, &out, &n, &h), -EINVAL);
}
