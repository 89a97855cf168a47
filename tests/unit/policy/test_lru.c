/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>

#include "policy.h"
#include "ptest.h"

static struct ac_policy *p;

static void setup(void)
{
	cr_assert_eq(ac_policy_create("lru", 64, &p), 0);
}

static void teardown(void)
{
	p = ac_policy_free(p);
}

/* Every test picks its victims at this time, after all its releases. */
#define NOW 1000

static int drain(uint32_t *out, uint32_t max)
{
	int n = p->ops->pick_victims(p, max, out, NOW);

	cr_assert_geq(n, 0);
	return n;
}

TestSuite(policy_lru, .init = setup, .fini = teardown);

Test(policy_lru, oldest_release_goes_first)
{
	uint32_t out[8];

	pt_put(p, 5, 0, 0, AC_BLOCK_NONE, 30);
	pt_put(p, 6, 0, 0, AC_BLOCK_NONE, 10);
	pt_put(p, 7, 0, 0, AC_BLOCK_NONE, 20);
	pt_expect_victims(p, 8, NOW, 6, 7, 5);
	cr_assert_eq(drain(out, 8), 0, "the set is empty after a drain");
}

Test(policy_lru, deepest_first_on_ties)
{
	/* A chain 0..3 released in prefix order at one instant. */
	pt_put(p, 10, 0, 0, AC_BLOCK_NONE, 5);
	pt_put(p, 11, 0, 1, 10, 5);
	pt_put(p, 12, 0, 2, 11, 5);
	pt_put(p, 13, 0, 3, 12, 5);
	/* An older block of another chain still goes before all of them. */
	pt_put(p, 20, 0, 7, AC_BLOCK_NONE, 4);
	pt_expect_victims(p, 8, NOW, 20, 13, 12, 11, 10);
}

Test(policy_lru, hit_and_release_refreshes)
{
	uint32_t out[8];

	pt_put(p, 1, 0, 0, AC_BLOCK_NONE, 1);
	pt_put(p, 2, 0, 0, AC_BLOCK_NONE, 2);
	/* The core's lookup: access, pin, later release. */
	p->ops->on_access(p, 1, 3);
	p->ops->on_pin(p, 1);
	pt_expect_victims(p, 1, NOW, 2);
	cr_assert_eq(drain(out, 8), 0, "a pinned block is never a victim");
	p->ops->on_unpin(p, 1, 9);
	pt_expect_victims(p, 8, NOW, 1);
}

Test(policy_lru, want_limits_and_partial)
{
	uint32_t out[8];

	for (uint32_t i = 0; i < 6; i++)
		pt_put(p, i, 0, 0, AC_BLOCK_NONE, 100 - i);
	pt_expect_victims(p, 2, NOW, 5, 4);
	cr_assert_eq(drain(out, 8), 4);
	cr_assert_eq(out[3], 0);
}

Test(policy_lru, removed_block_never_returned)
{
	pt_put(p, 1, 0, 0, AC_BLOCK_NONE, 1);
	pt_put(p, 2, 0, 0, AC_BLOCK_NONE, 2);
	p->ops->on_remove(p, 1);
	/* A stale unpin after removal must not resurrect it. */
	p->ops->on_unpin(p, 1, 3);
	pt_expect_victims(p, 8, NOW, 2);
}

Test(policy_lru, unpinned_insert_is_a_candidate)
{
	struct ac_policy_block b = {
		.id = 3, .pos = 0, .parent = AC_BLOCK_NONE, .pinned = false,
	};

	p->ops->on_insert(p, &b, 1);
	pt_expect_victims(p, 2, NOW, 3);
}

Test(policy_lru, bad_input_is_ignored_or_refused)
{
	struct ac_policy_block b = {
		.id = 64, .pos = 0, .parent = AC_BLOCK_NONE, .pinned = false,
	};

	pt_put(p, 1, 0, 0, AC_BLOCK_NONE, 1);
	/* Out-of-range ids change nothing. */
	p->ops->on_insert(p, &b, 1);
	p->ops->on_access(p, 9999, 2);
	p->ops->on_pin(p, 9999);
	p->ops->on_unpin(p, 9999, 2);
	p->ops->on_remove(p, UINT32_MAX);
	cr_assert_eq(p->ops->pick_victims(p, 1, NULL, 3), -EINVAL);
	pt_expect_victims(p, 2, NOW, 1);
}

Test(policy_registry, find_list_create)
{
	const struct ac_policy_ops *const *all = ac_policy_list();
	struct ac_policy *q = NULL;
	size_t n = 0;

	for (; all[n]; n++) {
		cr_assert_not_null(all[n]->name);
		cr_assert_eq(ac_policy_find(all[n]->name), all[n]);
	}
	cr_assert_geq(n, 1);
	cr_assert_not_null(ac_policy_find("lru"));
	cr_assert_null(ac_policy_find("nope"));
	cr_assert_null(ac_policy_find(NULL));
	cr_assert_eq(ac_policy_create("nope", 8, &q), -ENOENT);
	cr_assert_null(q);
	cr_assert_eq(ac_policy_create("lru", 0, &q), -EINVAL);
	cr_assert_eq(ac_policy_create("lru", AC_BLOCK_NONE, &q), -EINVAL);
	cr_assert_eq(ac_policy_create("lru", 8, NULL), -EINVAL);
	cr_assert_null(ac_policy_free(NULL));
}
