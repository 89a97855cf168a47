/* SPDX-License-Identifier: MIT */
/*
 * Random MSA problems and an independent float64 reference, shared by the
 * CPU suite and the GPU check.  Everything here lives in host memory.
 */
#ifndef AC_TESTS_MSA_TESTLIB_H
#define AC_TESTS_MSA_TESTLIB_H

#include <stdint.h>

#include "asymcache/msa.h"
#include "th_seed.h"

struct msa_case_opts {
	enum ac_dtype dtype;
	uint32_t head_dim;
	uint32_t block_tokens;
	uint32_t num_kv_heads;
	uint32_t group;
	uint32_t num_layers;
	uint32_t num_seqs;	/* sequences in the call */
	uint32_t min_ctx;	/* context length drawn from min_ctx..max_ctx */
	uint32_t max_ctx;
	uint32_t max_segs;	/* segments per sequence, 1..max_segs */
	uint32_t max_seg_len;	/* longest segment */
	float q_gain;		/* larger: peakier softmax */
};

struct msa_case {
	struct msa_case_opts o;
	struct ac_kv_pool pool;		/* base is host memory */
	struct ac_msa_batch batch;	/* host arrays below */
	uint32_t num_q_heads;
	uint32_t total_q;
	uint32_t layer;
	float scale;
	uint32_t table_len;
	int32_t *seg_indptr, *seg_seq, *seg_pos;
	int32_t *table_indptr, *block_ids, *ctx_len;
	void *q, *k, *v;		/* [total_q][Hq or H][D], dtype */
	void *pool_init;		/* the pool before any write */
	size_t pool_bytes;
};

/*
 * Splitmix64: one seed (th_test_seed()'s) gives the whole case, so a
 * failure is replayable.
 */
uint64_t msa_rand_next(uint64_t *state);

int msa_case_random(struct msa_case *c, uint64_t seed,
		    const struct msa_case_opts *o);
void msa_case_free(struct msa_case *c);

/* Element count and byte size of a [total_q][heads][D] tensor. */
size_t msa_case_q_bytes(const struct msa_case *c);
size_t msa_case_kv_bytes(const struct msa_case *c);

/*
 * ||out - ref|| / ||ref|| over every element of @out against float64
 * attention computed from pool_init, with the segments' own rows taken
 * from k and v.  Returns a negative value if any element is not finite.
 */
double msa_case_check(const struct msa_case *c, const void *out,
		      double *ret_max_abs);

/* Element i of a dtype array, as double. */
double msa_elem(const void *base, size_t i, enum ac_dtype dt);

/* Count of elements of @pool that differ from pool_init, excluding none. */
int msa_case_check_pool(const struct msa_case *c, const void *pool);

#endif /* AC_TESTS_MSA_TESTLIB_H */
