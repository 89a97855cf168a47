/* SPDX-License-Identifier: MIT */
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
