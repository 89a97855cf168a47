/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <time.h>

#include "th_seed.h"

uint64_t th_test_seed(void)
{
	const char *env = getenv("AC_TEST_SEED");
	struct timespec ts;

	if (env)
		return strtoull(env, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
}
