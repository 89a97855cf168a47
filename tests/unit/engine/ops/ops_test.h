/* SPDX-License-Identifier: MIT */
/*
 * Random inputs for the ops suites.  Every test draws a fresh seed (the
 * clock) and prints it in its failure messages; AC_TEST_SEED replays one.
 */
#ifndef AC_TESTS_ENGINE_OPS_TEST_H
#define AC_TESTS_ENGINE_OPS_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "th_seed.h"

/* xorshift64*: independent of the engine's own generator on purpose. */
static inline uint64_t ot_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static inline void ot_init(uint64_t *s, uint64_t seed)
{
	*s = seed ? seed : 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 4; i++)
		ot_next(s);
}

/* A fresh seed (th_test_seed), returned, with @s started from it. */
static inline uint64_t ot_start(uint64_t *s)
{
	uint64_t seed = th_test_seed();

	ot_init(s, seed);
	return seed;
}

/* Uniform in [lo, hi). */
static inline float ot_uniform(uint64_t *s, float lo, float hi)
{
	double u = (double)(ot_next(s) >> 11) * 0x1.0p-53;

	return (float)(lo + (hi - lo) * u);
}

/* Uniform integer in [lo, hi]. */
static inline uint32_t ot_range(uint64_t *s, uint32_t lo, uint32_t hi)
{
	return lo + (uint32_t)(ot_next(s) % ((uint64_t)hi - lo + 1));
}

static inline void ot_fill(uint64_t *s, float *x, size_t n, float lo, float hi)
{
	for (size_t i = 0; i < n; i++)
		x[i] = ot_uniform(s, lo, hi);
}

/* Allocation that the tests treat as infallible (abort on failure). */
static inline void *ot_alloc(size_t bytes)
{
	void *p = malloc(bytes ? bytes : 1);

	if (!p)
		abort();
	return p;
}

/* @n floats uniform in [lo, hi), in memory of their own. */
static inline float *ot_floats(uint64_t *s, size_t n, float lo, float hi)
{
	float *x = ot_alloc(n * sizeof(float));

	ot_fill(s, x, n, lo, hi);
	return x;
}

#endif /* AC_TESTS_ENGINE_OPS_TEST_H */
