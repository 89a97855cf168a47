/* SPDX-License-Identifier: MIT */
/*
 * The CPU backend against the independent float64 reference, on random
 * layouts drawn fresh every run (the seed is printed on failure), plus the
 * planner's checks of bad input.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msa_internal.h"
#include "msa_testlib.h"

/* The SM count a CUDA plan is asked for: an H200's, or none without CUDA. */
#if defined(AC_HAVE_CUDA) && AC_HAVE_CUDA
#define CUDA_SMS	132
#else
#define CUDA_SMS	0
#endif

/* Poison: NaN in every dtype, so an unwritten element fails the check. */
static void poison(void *p, size_t bytes)
{
	memset(p, 0xff, bytes);
}

static double tol_for(enum ac_dtype dt)
{
	/* Output rounding dominates: 2^-8 relative for bf16, 2^-11 for fp16. */
	return dt == AC_DTYPE_BF16 ? 8e-3 : dt == AC_DTYPE_FP16 ? 1.5e-3 : 2e-5;
}

/* Tiles of each kind the random cases produced: all must be exercised. */
static uint32_t seen_big, seen_mid, seen_small;

/* kv_write then attention through the public API, checked against float64. */
static void run_case(const struct msa_case_opts *o, uint64_t seed,
		     const struct msa_tuning *tune, uint32_t sm_count,
		     bool want_merges)
{
	struct msa_case c;
	struct ac_msa_plan *plan = NULL;
	void *out, *ws = NULL;
	size_t ws_size;
	double err, max_abs;
	int ret;

	cr_assert_eq(msa_case_random(&c, seed, o), 0);
	ret = msa_plan_create(AC_MSA_BACKEND_CPU, &c.pool, c.num_q_heads,
			      &c.batch, sm_count, tune, &plan);
	cr_assert_eq(ret, 0, "plan: %d (seed %#llx)", ret,
		     (unsigned long long)seed);
	cr_assert_eq(ac_msa_plan_total_q(plan), c.total_q);
	seen_big += plan->n_big;
	seen_mid += plan->n_mid;
	seen_small += plan->n_small;
	if (want_merges)
		cr_assert_gt(plan->n_merge, 0, "no split was planned");
	ws_size = ac_msa_plan_workspace_size(plan);
	if (ws_size) {
		ws = aligned_alloc(256, ws_size);
		cr_assert_not_null(ws);
		poison(ws, ws_size);
	}
	cr_assert_eq(ac_msa_plan_upload(plan, ws, ws_size, NULL), 0);
	out = malloc(msa_case_q_bytes(&c) + 1);
	cr_assert_not_null(out);
	poison(out, msa_case_q_bytes(&c));

	cr_assert_eq(ac_kv_write(plan, &c.pool, &c.batch, c.layer, c.k, c.v,
				 NULL), 0);
	cr_assert_eq(msa_case_check_pool(&c, c.pool.base), 0,
		     "kv write wrong (seed %#llx)", (unsigned long long)seed);
	ret = ac_msa_run(plan, &c.pool, &c.batch, c.layer, c.scale, c.q, out,
			 ws, ws_size, NULL);
	cr_assert_eq(ret, 0);
	err = msa_case_check(&c, out, &max_abs);
	cr_assert(err >= 0.0 && err < tol_for(o->dtype),
		  "rel err %g max abs %g (dtype %d D %u T %u G %u seed %#llx)",
		  err, max_abs, o->dtype, o->head_dim, o->block_tokens,
		  o->group, (unsigned long long)seed);

	free(out);
	free(ws);
	ac_msa_plan_free(plan);
	msa_case_free(&c);
}

TestSuite(msa_cpu, .timeout = 120);

Test(msa_cpu, random_layouts_all_dtypes)
{
	static const enum ac_dtype dts[] = { AC_DTYPE_FP32, AC_DTYPE_BF16,
					     AC_DTYPE_FP16 };
	static const uint32_t dims[] = { 64, 128, 32 };
	static const uint32_t groups[] = { 1, 4, 8, 3 };
	static const uint32_t tokens[] = { 16, 8, 64, 1 };
	uint64_t seed = th_test_seed();

	for (int i = 0; i < 12; i++) {
		struct msa_case_opts o = {
			/* Up to 40 rows per segment: every tile kind occurs. */
			.dtype = dts[i % 3],
			.head_dim = dims[i % 3],
			.block_tokens = tokens[i % 4],
			.num_kv_heads = 1 + i % 2,
			.group = groups[i % 4],
			.num_layers = 2,
			.num_seqs = 1 + i % 3,
			.max_ctx = 160,
			.max_segs = 5,
			.max_seg_len = 40,
			.q_gain = i % 2 ? 8.0f : 1.0f,
		};

		run_case(&o, seed + i, &msa_tuning_default, 132, false);
	}
	cr_expect_gt(seen_big, 0, "no big tile planned");
	cr_expect_gt(seen_mid, 0, "no mid tile planned");
	cr_expect_gt(seen_small, 0, "no small tile planned");
}

/* Few tiles and a tiny GPU: the planner must split contexts and merge. */
Test(msa_cpu, split_and_merge)
{
	struct msa_tuning tune = msa_tuning_default;
	uint64_t seed = th_test_seed();

	tune.min_split_keys = 64;
	for (int i = 0; i < 4; i++) {
		struct msa_case_opts o = {
			.dtype = i % 2 ? AC_DTYPE_BF16 : AC_DTYPE_FP32,
			.head_dim = 64,
			.block_tokens = 16,
			.num_kv_heads = 2,
			.group = 4,
			.num_layers = 1,
			.num_seqs = 2,
			.max_ctx = 700,
			.max_segs = 2,
			.max_seg_len = 3,
			.q_gain = 4.0f,
		};

		/* Long contexts, so a split is always worth it. */
		o.min_ctx = 400;
		run_case(&o, seed + 100 + i, &tune, 64, true);
	}
}

/*
 * Decode shape: one-token segments over long contexts, fewer tiles than a
 * (tiny, 8-SM) GPU has slots, so the planner splits them and merges.
 */
Test(msa_cpu, decode_batch_splits)
{
	struct msa_tuning tune = msa_tuning_default;
	struct msa_case_opts o = {
		.dtype = AC_DTYPE_FP32, .head_dim = 64, .block_tokens = 16,
		.num_kv_heads = 1, .group = 4, .num_layers = 1, .num_seqs = 3,
		.min_ctx = 300, .max_ctx = 600, .max_segs = 1,
		.max_seg_len = 1, .q_gain = 2.0f,
	};

	tune.min_split_keys = 64;
	run_case(&o, th_test_seed(), &tune, 8, true);
}

Test(msa_cpu, plan_reused_across_layers)
{
	struct msa_case_opts o = {
		.dtype = AC_DTYPE_BF16, .head_dim = 64, .block_tokens = 16,
		.num_kv_heads = 2, .group = 2, .num_layers = 3, .num_seqs = 2,
		.max_ctx = 120, .max_segs = 3, .max_seg_len = 20,
		.q_gain = 1.0f,
	};
	struct msa_case c;
	struct ac_msa_plan *plan;
	uint64_t seed = th_test_seed();
	void *out, *ws;
	size_t ws_size;

	cr_assert_eq(msa_case_random(&c, seed, &o), 0);
	cr_assert_eq(ac_msa_plan_create(AC_MSA_BACKEND_CPU, &c.pool,
					c.num_q_heads, &c.batch, 0, &plan), 0);
	ws_size = ac_msa_plan_workspace_size(plan);
	ws = aligned_alloc(256, ws_size);
	out = malloc(msa_case_q_bytes(&c));
	cr_assert(ws && out);
	cr_assert_eq(ac_msa_plan_upload(plan, ws, ws_size, NULL), 0);
	for (uint32_t l = 0; l < o.num_layers; l++) {
		double err;

		/* Each layer its own K/V: the reference follows c.layer. */
		c.layer = l;
		memcpy(c.pool.base, c.pool_init, c.pool_bytes);
		cr_assert_eq(ac_kv_write(plan, &c.pool, &c.batch, l, c.k, c.v,
					 NULL), 0);
		poison(out, msa_case_q_bytes(&c));
		cr_assert_eq(ac_msa_run(plan, &c.pool, &c.batch, l, c.scale,
					c.q, out, ws, ws_size, NULL), 0);
		err = msa_case_check(&c, out, NULL);
		cr_assert(err >= 0.0 && err < tol_for(o.dtype),
			  "layer %u err %g seed %#llx", l, err,
			  (unsigned long long)seed);
	}
	free(out);
	free(ws);
	ac_msa_plan_free(plan);
	msa_case_free(&c);
}

/* A small fixed batch that bad-input tests mutate one field at a time. */
struct fixture {
	struct msa_case c;
	struct ac_msa_plan *plan;
};

static void fixture_init(struct fixture *f)
{
	struct msa_case_opts o = {
		.dtype = AC_DTYPE_FP32, .head_dim = 32, .block_tokens = 8,
		.num_kv_heads = 2, .group = 2, .num_layers = 2, .num_seqs = 2,
		.max_ctx = 40, .max_segs = 3, .max_seg_len = 6, .q_gain = 1.0f,
	};

	cr_assert_eq(msa_case_random(&f->c, 42, &o), 0);
	cr_assert_gt(f->c.batch.num_segs, 0);
	f->plan = NULL;
}

static int plan_of(struct fixture *f)
{
	int ret = ac_msa_plan_create(AC_MSA_BACKEND_CPU, &f->c.pool,
				     f->c.num_q_heads, &f->c.batch, 0,
				     &f->plan);

	if (ret)
		cr_assert_null(f->plan, "a failed plan returned a pointer");
	ac_msa_plan_free(f->plan);
	f->plan = NULL;
	return ret;
}

/* Sets @at to @bad, expects the plan refused for @why, then restores it. */
static void expect_refused(struct fixture *f, int32_t *at, int32_t bad,
			   const char *why)
{
	int32_t save = *at;

	*at = bad;
	cr_expect_eq(plan_of(f), -EINVAL, "%s", why);
	*at = save;
}

Test(msa_cpu, rejects_bad_batches)
{
	struct fixture f;
	struct msa_case *c = &f.c;

	fixture_init(&f);
	f.plan = (void *)0;
	cr_assert_eq(plan_of(&f), 0);

	expect_refused(&f, &c->seg_seq[0], (int32_t)c->batch.num_seqs,
		       "segment of a missing sequence");
	expect_refused(&f, &c->seg_seq[0], -1, "negative sequence");
	expect_refused(&f, &c->seg_pos[0], c->ctx_len[c->seg_seq[0]],
		       "segment past its context");
	expect_refused(&f, &c->seg_pos[0], -1, "negative position");
	expect_refused(&f, &c->block_ids[0], (int32_t)c->pool.num_blocks,
		       "block id past the pool");
	expect_refused(&f, &c->block_ids[0], -3, "negative block id");
	expect_refused(&f, &c->seg_indptr[1], -1, "decreasing indptr");
	expect_refused(&f, &c->table_indptr[1], 0,
		       "table shorter than context");

	/* Two segments over one position: kv write would race. */
	for (uint32_t s = 1; s < c->batch.num_segs; s++) {
		if (c->seg_seq[s] == c->seg_seq[0]) {
			expect_refused(&f, &c->seg_pos[s], c->seg_pos[0],
				       "overlap");
			break;
		}
	}

	/* The batch is still good after all that. */
	cr_assert_eq(plan_of(&f), 0);
	msa_case_free(&f.c);
}

Test(msa_cpu, rejects_bad_shapes)
{
	struct fixture f;
	struct ac_kv_pool pool;

	fixture_init(&f);
	pool = f.c.pool;

	f.c.pool.layout.block_tokens = 12;
	cr_expect_eq(plan_of(&f), -EINVAL, "block_tokens not a power of 2");
	f.c.pool = pool;
	f.c.pool.block_bytes = ac_kv_block_bytes(&pool.layout) - 1;
	cr_expect_eq(plan_of(&f), -EINVAL, "layout larger than a block");
	f.c.pool = pool;
	f.c.pool.layout.dtype = (enum ac_dtype)7;
	cr_expect_eq(plan_of(&f), -EINVAL, "unknown dtype");
	f.c.pool = pool;
	f.c.pool.layout.head_dim = 512;
	f.c.pool.block_bytes = ac_kv_block_bytes(&f.c.pool.layout);
	cr_expect_eq(plan_of(&f), -EOPNOTSUPP, "head dim 512");
	f.c.pool = pool;

	f.c.num_q_heads = pool.layout.num_kv_heads * 9;
	cr_expect_eq(plan_of(&f), -EINVAL, "GQA ratio 9");
	f.c.num_q_heads = pool.layout.num_kv_heads * 2 + 1;
	cr_expect_eq(plan_of(&f), -EINVAL, "heads not a multiple");
	f.c.num_q_heads = pool.layout.num_kv_heads * 2;

	/*
	 * No CUDA plan where CUDA is not built; where it is, fp32 and head
	 * dim 32 are CPU-only.
	 */
	{
		struct ac_msa_plan *p = NULL;

		cr_expect_eq(ac_msa_plan_create(AC_MSA_BACKEND_CUDA, &pool,
						f.c.num_q_heads, &f.c.batch,
						CUDA_SMS, &p), -EOPNOTSUPP);
		cr_expect_null(p);
	}
	msa_case_free(&f.c);
}

/* A refused call leaves the output and the pool exactly as they were. */
Test(msa_cpu, bad_call_loses_nothing)
{
	struct fixture f;
	struct ac_msa_plan *plan;
	struct ac_kv_pool pool;
	struct ac_msa_batch batch;
	unsigned char *out, *copy;
	size_t qb, ws_size;
	void *ws;

	fixture_init(&f);
	cr_assert_eq(ac_msa_plan_create(AC_MSA_BACKEND_CPU, &f.c.pool,
					f.c.num_q_heads, &f.c.batch, 0, &plan),
		     0);
	ws_size = ac_msa_plan_workspace_size(plan);
	ws = aligned_alloc(256, ws_size);
	qb = msa_case_q_bytes(&f.c);
	out = malloc(qb);
	copy = malloc(qb);
	cr_assert(ws && out && copy);
	for (size_t i = 0; i < qb; i++)
		out[i] = (unsigned char)(i * 7);
	memcpy(copy, out, qb);
	cr_assert_eq(ac_msa_plan_upload(plan, ws, ws_size, NULL), 0);
	cr_expect_eq(ac_msa_plan_upload(plan, ws, ws_size - 1, NULL), -EINVAL);

	pool = f.c.pool;
	batch = f.c.batch;
	cr_expect_eq(ac_msa_run(plan, &pool, &batch, 2, f.c.scale, f.c.q, out,
				ws, ws_size, NULL), -EINVAL, "layer 2 of 2");
	cr_expect_eq(ac_kv_write(plan, &pool, &batch, 2, f.c.k, f.c.v, NULL),
		     -EINVAL);
	cr_expect_eq(ac_msa_run(plan, &pool, &batch, 0, 0.0f, f.c.q, out, ws,
				ws_size, NULL), -EINVAL, "zero scale");
	cr_expect_eq(ac_msa_run(plan, &pool, &batch, 0, f.c.scale, f.c.q, out,
				ws, ws_size - 1, NULL), -EINVAL, "small ws");
	cr_expect_eq(ac_msa_run(plan, &pool, &batch, 0, f.c.scale, out, out,
				ws, ws_size, NULL), -EINVAL, "in place");
	pool.layout.head_dim *= 2;
	cr_expect_eq(ac_msa_run(plan, &pool, &batch, 0, f.c.scale, f.c.q, out,
				ws, ws_size, NULL), -EINVAL, "other layout");
	pool = f.c.pool;
	batch.num_segs++;
	cr_expect_eq(ac_msa_run(plan, &pool, &batch, 0, f.c.scale, f.c.q, out,
				ws, ws_size, NULL), -EINVAL, "other batch");
	cr_expect_eq(ac_kv_write(plan, &pool, &batch, 0, f.c.k, f.c.v, NULL),
		     -EINVAL);
	batch = f.c.batch;
	cr_expect_eq(ac_kv_write(plan, &pool, &batch, 0, NULL, f.c.v, NULL),
		     -EINVAL);
	cr_expect_eq(ac_msa_run(NULL, &pool, &batch, 0, f.c.scale, f.c.q, out,
				ws, ws_size, NULL), -EINVAL);

	cr_expect_eq(memcmp(out, copy, qb), 0, "output touched");
	cr_expect_eq(memcmp(f.c.pool.base, f.c.pool_init, f.c.pool_bytes), 0,
		     "pool touched");
	free(out);
	free(copy);
	free(ws);
	ac_msa_plan_free(plan);
	msa_case_free(&f.c);
}

Test(msa_cpu, empty_batch)
{
	struct fixture f;
	struct ac_msa_plan *plan;
	int32_t zero = 0;
	struct ac_msa_batch b = { .num_segs = 0, .seg_indptr = &zero };

	fixture_init(&f);
	cr_assert_eq(ac_msa_plan_create(AC_MSA_BACKEND_CPU, &f.c.pool,
					f.c.num_q_heads, &b, 0, &plan), 0);
	cr_expect_eq(ac_msa_plan_total_q(plan), 0);
	cr_expect_eq(ac_msa_run(plan, &f.c.pool, &b, 0, 1.0f, NULL, NULL, NULL,
				0, NULL), 0);
	ac_msa_plan_free(plan);
	cr_expect_null(ac_msa_plan_free(NULL));
	msa_case_free(&f.c);
}

/*
 * The launch key is what a recorded pass depends on: decode steps whose
 * plans launch the same grids share it, though their contexts differ, and
 * any change of work counts or workspace layout changes it.
 */
Test(msa_cpu, launch_key_follows_the_launches)
{
	static float base[64 * 2 * 2 * 16 * 8];
	struct ac_kv_pool pool = {
		.base = base, .num_blocks = 64,
		.layout = { .num_layers = 2, .num_kv_heads = 2, .head_dim = 8,
			    .block_tokens = 16, .dtype = AC_DTYPE_FP32 },
	};
	int32_t seg_indptr[3] = { 0, 1, 2 }, seg_seq[2] = { 0, 1 };
	int32_t seg_pos[2], table_indptr[3] = { 0, 32, 64 };
	int32_t block_ids[64], ctx_len[2];
	struct ac_msa_batch b = {
		.num_segs = 1, .num_seqs = 1, .seg_indptr = seg_indptr,
		.seg_seq = seg_seq, .seg_pos = seg_pos,
		.table_indptr = table_indptr, .block_ids = block_ids,
		.ctx_len = ctx_len,
	};
	uint64_t key[3][AC_MSA_PLAN_KEY_WORDS], none[AC_MSA_PLAN_KEY_WORDS];
	const uint32_t ctx[3] = { 300, 301, 300 };
	struct msa_tuning tune = msa_tuning_default;

	pool.block_bytes = ac_kv_block_bytes(&pool.layout);
	for (int i = 0; i < 64; i++)
		block_ids[i] = 63 - i;
	tune.min_split_keys = 64;
	for (int c = 0; c < 3; c++) {
		struct ac_msa_plan *plan = NULL;

		/* The third call is a batch of two such decodes. */
		b.num_segs = b.num_seqs = c == 2 ? 2 : 1;
		ctx_len[0] = ctx_len[1] = (int32_t)ctx[c];
		seg_pos[0] = seg_pos[1] = (int32_t)ctx[c] - 1;
		cr_assert_eq(msa_plan_create(AC_MSA_BACKEND_CPU, &pool, 4, &b,
					     8, &tune, &plan), 0);
		ac_msa_plan_launch_key(plan, key[c]);
		ac_msa_plan_free(plan);
	}
	cr_expect_eq(memcmp(key[0], key[1], sizeof(key[0])), 0,
		     "decode at 300 and 301 keys differ");
	cr_expect_neq(memcmp(key[0], key[2], sizeof(key[0])), 0,
		      "one and two sequences share a key");
	memset(none, 0xa5, sizeof(none));
	ac_msa_plan_launch_key(NULL, none);
	for (int i = 0; i < AC_MSA_PLAN_KEY_WORDS; i++)
		cr_expect_eq(none[i], 0);
}
