/* SPDX-License-Identifier: MIT */
/*
 * Criterion face of the GPU check: skipped, not failed, where there is no
 * device (CI).  AC_TEST_SEED replays a failing layout.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <time.h>

#include "msa_gpu_check.h"

TestSuite(msa_gpu, .timeout = 600);

static uint64_t seed_now(void)
{
	const char *env = getenv("AC_TEST_SEED");
	struct timespec ts;

	if (env)
		return strtoull(env, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
}

Test(msa_gpu, random_layouts_against_float64)
{
	int ret;

	if (!msa_gpu_present())
		cr_skip_test("no CUDA device");
	ret = msa_gpu_check_all(stderr, false, seed_now());
	cr_assert_geq(ret, 0, "setup failed: %d", ret);
	cr_assert_eq(ret, 0, "%d case(s) failed, see the log above", ret);
}
