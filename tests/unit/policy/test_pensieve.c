/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>

#include "policy.h"
#include "ptest.h"

static struct ac_policy *p;

static void setup(void)
{
	struct ac_policy_ns ns = {
		.ns_id = 1, .block_tokens = 512, .bytes_per_block = 64 << 20,
	};

	cr_assert_eq(ac_policy_create("pensieve", 32, &p), 0);
	cr_assert_eq(p->ops->on_namespace(p, &ns), 0);
}

static void teardown(void)
{
	p = ac_policy_free(p);
}

TestSuite(policy_pensieve, .init = setup, .fini = teardown);

Test(policy_pensieve, leading_blocks_go_first)
{
	/* Released tail first, as a finishing request would. */
	pt_put(p, 4, 1, 60, 3, 100);
	pt_put(p, 3, 1, 40, 2, 100);
	pt_put(p, 2, 1, 20, 1, 100);
	pt_put(p, 1, 1, 0, AC_BLOCK_NONE, 100);
	pt_expect_victims(p, 8, 200, 1, 2, 3, 4);
}

Test(policy_pensieve, long_idle_beats_position)
{
	uint32_t out[2];

	pt_put(p, 1, 1, 60, AC_BLOCK_NONE, 0);
	pt_put(p, 2, 1, 0, AC_BLOCK_NONE, 999999999);
	cr_assert_eq(p->ops->pick_victims(p, 1, out, 1000000000), 1);
	cr_assert_eq(out[0], 1, "an expensive block idle for 1 s goes first");
}

Test(policy_pensieve, same_class_is_lru)
{
	pt_put(p, 2, 1, 10, AC_BLOCK_NONE, 10);
	pt_put(p, 3, 1, 10, AC_BLOCK_NONE, 20);
	pt_put(p, 1, 1, 10, AC_BLOCK_NONE, 30);
	/* A hit moves 2 to the young end of its class. */
	p->ops->on_access(p, 2, 35);
	pt_expect_victims(p, 3, 40, 3, 1, 2);
}

Test(policy_pensieve, pins_and_removal)
{
	pt_put(p, 1, 1, 0, AC_BLOCK_NONE, 1);
	pt_put(p, 2, 1, 0, AC_BLOCK_NONE, 2);
	pt_put(p, 3, 1, 0, AC_BLOCK_NONE, 3);
	p->ops->on_access(p, 1, 4);
	p->ops->on_pin(p, 1);
	p->ops->on_remove(p, 2);
	pt_expect_victims(p, 4, 5, 3);
	p->ops->on_unpin(p, 1, 6);
	p->ops->on_unpin(p, 2, 6);	/* removed: stays gone */
	pt_expect_victims(p, 4, 7, 1);
}
