/* SPDX-License-Identifier: MIT */
/*
 * Cost-model files for the daemon's [policy] cost_file: the llama3-8b
 * layout with coefficients a test picks, so that it controls which block
 * the cost model prefers to evict.
 */
#ifndef AC_TEST_TH_COST_H
#define AC_TEST_TH_COST_H

/*
 * Replaces @path with a version-1 cost file for GPU @gpu with the given
 * linear, attention-pair and per-segment seconds. 0 or -errno.
 */
int th_write_cost_file(const char *path, const char *gpu, double linear,
		       double attn, double seg);

#endif /* AC_TEST_TH_COST_H */
