/* SPDX-License-Identifier: MIT */
/*
 * The O(log n) bound: drive 10^6 blocks through each heap policy and count
 * the heap's sift steps per operation.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "policy-internal.h"

#define N 1000000u
#define CHAIN 64u

static uint64_t steps_of(struct ac_policy *p)
{
	return !strcmp(p->ops->name, "asym") ? asym_heap_steps(p) :
					       lru_heap_steps(p);
}

static void drive(const char *name)
{
	struct ac_policy *p;
	uint32_t *out = malloc(1024 * sizeof(*out));
	uint64_t ops = 0, before, t = 1;
	unsigned seed = 7;
	double bound;

	cr_assert_eq(ac_policy_create(name, N, &p), 0);
	for (uint32_t id = 0; id < N; id++) {
		struct ac_policy_block b = {
			.id = id, .pos = id % CHAIN,
			.parent = id % CHAIN ? id - 1 : AC_BLOCK_NONE,
			.pinned = true,
		};

		p->ops->on_insert(p, &b, t);
		p->ops->on_unpin(p, id, t++);
		ops += 2;
	}
	before = steps_of(p);
	/* Hits (access, pin, unpin) and evictions with re-inserts. */
	for (uint32_t i = 0; i < N; i++) {
		uint32_t id = (uint32_t)rand_r(&seed) % N;

		if (i % 4 == 3) {
			int n = p->ops->pick_victims(p, 1, out, t);

			cr_assert_eq(n, 1);
			struct ac_policy_block b = {
				.id = out[0], .pos = out[0] % CHAIN,
				.parent = AC_BLOCK_NONE, .pinned = false,
			};
			p->ops->on_insert(p, &b, t++);
			ops += 2;
			continue;
		}
		p->ops->on_access(p, id, t);
		p->ops->on_pin(p, id);
		p->ops->on_unpin(p, id, t++);
		ops += 3;
	}
	bound = 4.0 * log2(N);
	cr_assert_leq((double)(steps_of(p) - before) / (3.0 * N), bound,
		      "%s: %.2f steps per op", name,
		      (double)(steps_of(p) - before) / (3.0 * N));
	cr_assert_gt(steps_of(p), 0);
	free(out);
	ac_policy_free(p);
}

Test(policy_scale, lru_log_n, .timeout = 120)
{
	drive("lru");
}

Test(policy_scale, asym_log_n, .timeout = 120)
{
	drive("asym");
}

Test(policy_scale, metadata_under_64_bytes)
{
	cr_assert_lt(lru_bytes_per_block(), 64);
	cr_assert_lt(asym_bytes_per_block(), 64);
	cr_assert_lt(pensieve_bytes_per_block(), 64);
}
