/* SPDX-License-Identifier: MIT */
#ifndef AC_TESTS_MSA_GPU_CHECK_H
#define AC_TESTS_MSA_GPU_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* True when cudaGetDeviceCount succeeds with at least one device. */
bool msa_gpu_present(void);

/*
 * Runs every GPU case (or the small ones, for compute-sanitizer) on fresh
 * random layouts derived from @seed, logging one line per case to @log.
 * Returns the number of failed cases, or a negative errno.
 */
int msa_gpu_check_all(FILE *log, bool small, uint64_t seed);

#endif /* AC_TESTS_MSA_GPU_CHECK_H */
