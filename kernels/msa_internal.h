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
 * Tile rows.  Big tiles (128 rows) serve segments of more than 64 rows, mid
 * tiles (64 rows) segments of 17..64 rows, so that short segments do not
 * run half-empty 128-row tiles, and small tiles (16 rows, one warp) decode
 * and the shortest segments.  The CUDA backend runs big and mid tiles on
 * the Hopper wgmma kernel (msa_hopper.cuh) where msa_cuda_use_hopper()
 * allows, and on the mma.sync kernel (msa_attn.cuh) everywhere else; small
 * tiles always run on the mma.sync kernel.
 */
#define MSA_BIG_ROWS		128
#define MSA_MID_ROWS		64
#define MSA_SMALL_ROWS		16
#define MSA_KV_TILE		64	/* split boundaries are multiples */

/*
 * Thread blocks per multiprocessor the split aims for.  Not the occupancy
 * limit: about four one-warp blocks per SM already saturate HBM, and
 * splitting further only adds merges.  Measured on the H200: with 2,
 * decode of 8 x 32k ran in one wave of 256 chunks at 2.76 TB/s; with 4,
 * 512 chunks read 4.16 TB/s, level with cuDNN, and prefill did not move
 * (bench/results/msa_decode.md).
 */
#define MSA_SPLIT_BLOCKS_PER_SM	4

/*
 * Knobs of the planner; ac_msa_plan_create() uses msa_tuning_default.  The
 * tests and the benchmark (bench/msa) turn them.
 */
struct msa_tuning {
	uint32_t min_split_keys;	/* no split shorter than this */
	uint32_t waves;		/* thread blocks aimed for: waves * SMs * blocks/SM */
	uint32_t no_split;	/* 1: never split the context */
	/*
	 * 1: the mma.sync kernels even where the wgmma kernel could run, so
	 * the fallback is checked and timed on Hopper too.
	 */
	uint32_t force_mma;
	/*
	 * 0 or MSA_BIG_ROWS; MSA_MID_ROWS plans 64-row big tiles and no mid
	 * tiles, for kernels of 64-row tiles outside the library (bench/msa).
	 * ac_msa_run() still runs such a plan correctly, on the mma.sync
	 * 128-row kernel.
	 */
	uint32_t big_rows;
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
	uint32_t big_rows;	/* MSA_BIG_ROWS, or MSA_MID_ROWS (struct msa_tuning) */
	uint32_t force_mma;

	/* Work lists, in launch order: longest first, so the tail is short. */
	struct msa_work *big;
	uint32_t n_big;
	struct msa_work *mid;
	uint32_t n_mid;
	struct msa_work *small;
	uint32_t n_small;
	struct msa_merge *merge;
	uint32_t n_merge;
	uint32_t merge_rows;	/* the most rows one merge item covers */
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
/* Whether ac_msa_run() on these arguments takes the wgmma kernel. */
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
