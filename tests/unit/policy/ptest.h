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

/*
 * pick_victims(@want, @now) on @p must return exactly the @n blocks of
 * @order, in that order.
 */
void pt_expect_victims_n(struct ac_policy *p, uint32_t want, uint64_t now,
			 const uint32_t *order, uint32_t n);
#define PT_IDS(...) ((const uint32_t[]){ __VA_ARGS__ })
#define pt_expect_victims(p, want, now, ...)				\
	pt_expect_victims_n((p), (want), (now), PT_IDS(__VA_ARGS__),	\
			    sizeof(PT_IDS(__VA_ARGS__)) / sizeof(uint32_t))

#endif /* AC_TEST_PTEST_H */
