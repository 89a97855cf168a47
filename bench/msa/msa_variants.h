/* SPDX-License-Identifier: MIT */
/*
 * Kernel variants for msa_bench: every configuration the MSA kernels were
 * measured in (bench/results/msa_notes.md numbers them), selectable by
 * number, on top of the library's plan.  The library itself runs only big
 * variant 12 and small variant 3 (ac_msa_run()); the others are compiled
 * into the benchmark alone (msa_variants.cu, variants/).
 *
 * Big tiles:
 *   1: mma.sync, 64 rows (4 warps x 16), 64-key tiles, 2 stages
 *   2: mma.sync, 128 rows (4 warps x 32), 64-key tiles, 2 stages
 *   3: 1 with 3 stages
 *   4: 2 with 32-key tiles and 3 stages
 *   5: mma.sync, 128 rows (8 warps x 16), 64-key tiles, 2 stages
 *   6: wgmma + bulk tensor copies, 128 rows, 128-key tiles, 2 stages
 *   7: 6 with the softmax of one key tile overlapping PV of the previous
 *   8: 7 with a three-stage ring
 *   9: 6 with exp2 as one MUFU.EX2 (denormal probabilities flush to 0)
 *  10: 8 with that exp2
 *  11: 10 with the two consumer warpgroups taking turns (ping-pong)
 *  12: 10, and the 64-row mid tiles on a one-warpgroup wgmma kernel
 * With a 128-row variant, segments of at most 64 rows go to mid tiles, run
 * by variant 1's kernel except in variant 12.  Where the wgmma kernel
 * cannot run (msa_cuda_use_hopper()), variants 6-12 run variant 2.
 * Small tiles (one warp, 16 rows): 1: 64-key tiles, 2 stages; 2: 32-key
 * tiles, 3 stages; 3: 32-key tiles, 2 stages.
 */
#ifndef AC_BENCH_MSA_VARIANTS_H
#define AC_BENCH_MSA_VARIANTS_H

#include <stddef.h>
#include <stdint.h>

#include "msa_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MSA_BENCH_BIG_VARIANTS		12
#define MSA_BENCH_SMALL_VARIANTS	3
/* What ac_msa_run() runs. */
#define MSA_BENCH_BIG_DEFAULT		12
#define MSA_BENCH_SMALL_DEFAULT		3

/*
 * The planner knobs of big variant @big (tile rows, mma.sync only) on top
 * of @tune, for msa_plan_create().  -EINVAL for an unknown variant.
 */
int msa_variant_tuning(uint32_t big, struct msa_tuning *tune);

/*
 * ac_msa_run() on the kernels of variants @big and @small, for a CUDA plan
 * made with msa_variant_tuning(@big).  The variants outside the library
 * are built for bf16 with head dim 128 (the benchmark's shape) only:
 * -EOPNOTSUPP for other shapes.
 */
int msa_variant_run(uint32_t big, uint32_t small,
		    const struct ac_msa_plan *plan,
		    const struct ac_kv_pool *pool,
		    const struct ac_msa_batch *batch, uint32_t layer,
		    float scale, const void *q, void *out, void *workspace,
		    size_t workspace_size, void *stream);

#ifdef __cplusplus
}
#endif

#endif /* AC_BENCH_MSA_VARIANTS_H */
