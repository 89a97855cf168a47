/* SPDX-License-Identifier: MIT */
/*
 * The seed of a randomised test: a fresh one each run (the clock), so
 * every run draws new inputs, and the one AC_TEST_SEED names (strtoull,
 * any base) to replay a run whose failure message printed it.
 */
#ifndef AC_TEST_TH_SEED_H
#define AC_TEST_TH_SEED_H

#include <stdint.h>

uint64_t th_test_seed(void);

#endif /* AC_TEST_TH_SEED_H */
