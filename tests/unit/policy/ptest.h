/* SPDX-License-Identifier: MIT */
/* Helpers shared by the policy suites. */
#ifndef AC_TEST_PTEST_H
#define AC_TEST_PTEST_H

#include <stdint.h>

#include "policy.h"

/*
 * Commit block @id into @p the way the core does, pinned by its writer,
 * then release it, both at time @t: it becomes an eviction candidate.
 */
void pt_put(struct ac_policy *p, uint32_t id, uint32_t ns, uint32_t pos,
	    uint32_t parent, uint64_t t);

#endif /* AC_TEST_PTEST_H */
