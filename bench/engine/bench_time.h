/* SPDX-License-Identifier: MIT */
/* The clock and the median every engine benchmark times with. */
#ifndef AC_BENCH_TIME_H
#define AC_BENCH_TIME_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of @v (sorted in place); 0 for none. */
static inline double bench_median(double *v, uint32_t n)
{
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return n ? v[n / 2] : 0;
}

#endif
