/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>

#include "ptest.h"

void pt_put(struct ac_policy *p, uint32_t id, uint32_t ns, uint32_t pos,
	    uint32_t parent, uint64_t t)
{
	struct ac_policy_block b = {
		.id = id, .ns_id = ns, .pos = pos, .parent = parent,
		.pinned = true,
	};

	p->ops->on_insert(p, &b, t);
	p->ops->on_unpin(p, id, t);
}

void pt_expect_victims_n(struct ac_policy *p, uint32_t want, uint64_t now,
			 const uint32_t *order, uint32_t n)
{
	uint32_t out[64];

	cr_assert_leq(want, 64);
	cr_assert_eq(p->ops->pick_victims(p, want, out, now), (int)n);
	for (uint32_t i = 0; i < n; i++)
		cr_assert_eq(out[i], order[i], "victim %u is %u, not %u", i,
			     out[i], order[i]);
}
