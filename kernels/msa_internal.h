/* SPDX-License-Identifier: MIT */
/*
 * What the plan, the backends and the kernels share.  Included from C and
 * from CUDA, so plain C structs of fixed-size fields only.
 */
#ifndef AC_KERNELS_MSA_INTERNAL_H
#define AC_KERNELS_MSA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asymcache/msa.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One thread block's work: the query rows of @ntok consecutive tokens of one
 * segment, times the G query heads that share kv head @kv_head, against keys
 * [kv_begin, kv_end) of sequence @seq.  Row r of the tile is token r / G,
 * query head kv_head * G + r % G: packing the group into the rows is what
 * lets one K/V tile in shared memory serve every head of the group.
 * @part_row < 0 writes the final output; otherwise the tile's normalised
 * partial output and log-sum-exp go to partial rows part_row.. and a merge
 * item combines the splits.
 */
struct msa_work {
	int32_t q_row0;		/* first Q row (token) of the tile */
	int32_t pos0;		/* its absolute position */
	int32_t seq;
	int32_t ntok;
	int32_t kv_head;
	int32_t kv_begin;
	int32_t kv_end;
	int32_t part_row;
};

/* Splits i = 0..nsplit-1 of one tile live at part_row0 + i * ntok * G. */
struct msa_merge {
	int32_t q_row0;
	int32_t ntok;
	int32_t kv_head;
	int32_t part_row0;
	int32_t nsplit;
	int32_t pad[3];
};

/*
 * Kernel variants (docs/kernels.md and bench/results/msa_notes.md say what
 * each measured).  Big tiles serve segments of more than 16 rows:
 *   1: 64 rows (4 warps x 16), 64-key tiles, 2 stages
 *   2: 128 rows (4 warps x 32), 64-key tiles, 2 stages
 *   3: 64 rows, 64-key tiles, 3 stages
 *   4: 128 rows, 32-key tiles, 3 stages
 *   5: 128 rows (8 warps x 16), 64-key tiles, 2 stages
 *   6: Hopper (sm_90a) wgmma + bulk tensor copies, 128 rows, 128-key
 *      tiles, 2 stages (msa_hopper.cuh); where the device, the build or
 *      the shape rules it out (msa_cuda_use_hopper()), variant 2 runs
 *      the same work list instead
 *   7: 6 with the softmax of one key tile overlapping PV of the previous
 *      one on the tensor cores (same fallback)
 *   8: 7 with a three-stage ring (227 KB of shared memory at D = 128)
 *   9: 6 with exp2 as one MUFU.EX2 (denormal probabilities flush to 0)
 *  10: 8 with that exp2
 *  11: 10 with the two consumer warpgroups taking turns at the tensor
 *      cores (ping-pong)
 *  12: 10, and the 64-row mid tiles on a one-warpgroup wgmma kernel
 *      (64-key tiles, two blocks per SM) instead of variant 1
 * With a 128-row variant, segments of at most 64 rows go to "mid" tiles of
 * variant 1 instead, so short segments do not run half-empty tiles.
 * Small tiles (one warp, 16 rows) serve decode and short segments:
 *   1: 64-key tiles, 2 stages
 *   2: 32-key tiles, 3 stages
 *   3: 32-key tiles, 2 stages
 */
#define MSA_BIG_VARIANTS	12
#define MSA_SMALL_VARIANTS	3
#define MSA_SMALL_ROWS		16
#define MSA_KV_TILE		64	/* split boundaries are multiples */

static inline uint32_t msa_big_rows(uint32_t variant)
{
	return variant == 2 || variant >= 4 ? 128 : 64;
}

/*
 * Thread blocks per multiprocessor the split aims for.  Not the occupancy
 * limit: about four one-warp blocks per SM already saturate HBM (4.5 TB/s
 * on H200, bench/results/msa_notes.md run 4), and splitting further only
 * adds merges; two big blocks per SM is the occupancy of the big kernels.
 */
#define MSA_SPLIT_BLOCKS_PER_SM	2

/* Knobs the benchmark turns; ac_msa_plan_create() uses msa_tuning_default. */
struct msa_tuning {
	uint32_t big_variant;	/* 1..MSA_BIG_VARIANTS */
	uint32_t small_variant;	/* 1..MSA_SMALL_VARIANTS */
	uint32_t min_split_keys;	/* no split shorter than this */
	uint32_t waves;		/* thread blocks aimed for: waves * SMs * blocks/SM */
	uint32_t no_split;	/* 1: never split the context */
};

extern const struct msa_tuning msa_tuning_default;

struct msa_backend_ops;

struct ac_msa_plan {
	const struct msa_backend_ops *ops;
	struct ac_kv_layout layout;
	uint32_t num_q_heads;
	uint32_t group;		/* G = num_q_heads / num_kv_heads */
	uint32_t num_segs;
	uint32_t num_seqs;
	uint32_t total_q;
	uint32_t big_rows;
	uint32_t big_variant;
	uint32_t small_variant;

	/* Work lists, in launch order: longest first, so the tail is short. */
	struct msa_work *big;
	uint32_t n_big;
	struct msa_work *mid;
	uint32_t n_mid;
	struct msa_work *small;
	uint32_t n_small;
	struct msa_merge *merge;
	uint32_t n_merge;
	uint32_t n_part_rows;

	/* Byte offsets inside the workspace. */
	size_t off_big;
	size_t off_mid;
	size_t off_small;
	size_t off_merge;
	size_t off_part_o;
	size_t off_part_lse;
	size_t ws_size;
};

struct msa_backend_ops {
	const char *name;
	int (*upload)(const struct ac_msa_plan *plan, void *ws, void *stream);
	int (*run)(const struct ac_msa_plan *plan,
		   const struct ac_kv_pool *pool,
		   const struct ac_msa_batch *batch, uint32_t layer,
		   float scale, const void *q, void *out, void *ws,
		   void *stream);
	int (*kv_write)(const struct ac_msa_plan *plan,
			const struct ac_kv_pool *pool,
			const struct ac_msa_batch *batch, uint32_t layer,
			const void *k, const void *v, void *stream);
	int (*sm_count)(uint32_t *ret_count);
};

extern const struct msa_backend_ops msa_cpu_ops;
#if defined(AC_HAVE_CUDA) && AC_HAVE_CUDA
extern const struct msa_backend_ops msa_cuda_ops;
#endif

/*
 * The CUDA backend's functions, defined in msa_cuda.cu and gathered into
 * msa_cuda_ops by msa_cuda_ops.c: declared once here so the two sides
 * cannot drift apart.
 */
int msa_cuda_upload(const struct ac_msa_plan *p, void *ws, void *stream);
int msa_cuda_run(const struct ac_msa_plan *p, const struct ac_kv_pool *pool,
		 const struct ac_msa_batch *b, uint32_t layer, float scale,
		 const void *q, void *out, void *ws, void *stream);
int msa_cuda_kv_write(const struct ac_msa_plan *p,
		      const struct ac_kv_pool *pool,
		      const struct ac_msa_batch *b, uint32_t layer,
		      const void *k, const void *v, void *stream);
int msa_cuda_sm_count(uint32_t *ret_count);
/* Whether ac_msa_run() on these arguments takes the Hopper kernel. */
bool msa_cuda_use_hopper(const struct ac_msa_plan *p,
			 const struct ac_kv_pool *pool, const void *q);

int msa_plan_create(enum ac_msa_backend backend,
		    const struct ac_kv_pool *pool, uint32_t num_q_heads,
		    const struct ac_msa_batch *batch, uint32_t sm_count,
		    const struct msa_tuning *tune,
		    struct ac_msa_plan **ret_plan);

#ifdef __cplusplus
}
#endif

#endif /* AC_KERNELS_MSA_INTERNAL_H */
