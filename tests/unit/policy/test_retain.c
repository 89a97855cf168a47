/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
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
