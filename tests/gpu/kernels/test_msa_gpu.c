/* SPDX-License-Identifier: MIT */
/*
 * Criterion face of the GPU check: skipped, not failed, where there is no
 * device (CI).  AC_TEST_SEED replays a failing layout.
 */
#include <criterion/criterion.h>

#include "msa_gpu_check.h"
#include "msa_testlib.h"

TestSuite(msa_gpu, .timeout = 600);

Test(msa_gpu, random_layouts_against_float64)
{
	int ret;

	if (!msa_gpu_present())
		cr_skip_test("no CUDA device");
	ret = msa_gpu_check_all(stderr, false, th_test_seed());
	cr_assert_geq(ret, 0, "setup failed: %d", ret);
	cr_assert_eq(ret, 0, "%d case(s) failed, see the log above", ret);
}
