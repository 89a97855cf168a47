/* SPDX-License-Identifier: MIT */
/* ac_reuse_plan/ac_reuse_fill and ac_batch: a Lookup's runs to MSA work. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

#include "asymcache/asymcache.h"

#define NO AC_NO_BLOCK

struct fix {
	uint32_t table[64], drop[64];
	struct ac_run runs[64];
	struct ac_reuse_plan plan;
};

static void fix_init(struct fix *f)
{
	f->plan = (struct ac_reuse_plan){ .table = f->table, .runs = f->runs,
					  .max_runs = 64, .drop = f->drop };
}

static int plan(struct fix *f, uint32_t *blocks, size_t nkeys,
		uint32_t ntokens, uint32_t T, enum ac_reuse mode)
{
	struct ac_lookup_result res = { .blocks = blocks };

	fix_init(f);
	return ac_reuse_plan(&res, nkeys, ntokens, T, mode, &f->plan);
}

#define EXPECT_RUNS(f, ...)						\
	do {								\
		const struct ac_run want[] = { __VA_ARGS__ };		\
		size_t n = sizeof(want) / sizeof(want[0]);		\
		cr_assert_eq((f)->plan.nruns, n, "runs %zu != %zu",	\
			     (f)->plan.nruns, n);			\
		for (size_t i = 0; i < n; i++) {			\
			cr_expect_eq((f)->runs[i].pos, want[i].pos);	\
			cr_expect_eq((f)->runs[i].len, want[i].len);	\
		}							\
	} while (0)

/* The first entries of the @type array @arr are the arguments. */
#define EXPECT_ARR(type, arr, ...)					\
	do {								\
		const type want[] = { __VA_ARGS__ };			\
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) \
			cr_expect_eq((arr)[i], want[i], #arr "[%zu]", i); \
	} while (0)

/* Five keys, hit and miss in turn, of 22 tokens in 4-token blocks. */
static void plan_holes(struct fix *f, enum ac_reuse mode)
{
	static uint32_t blocks[] = { 10, NO, 12, NO, 14 };

	cr_assert_eq(plan(f, blocks, 5, 22, 4, mode), 0);
}

/*
 * The same five keys, hit and miss in turn, under each mode: msa recomputes
 * the holes and the tail, prefix stops at the first miss, none drops every
 * hit. Every figure of the plan is checked against the table.
 */
Test(reuse, each_mode_on_holes)
{
	static const struct {
		enum ac_reuse mode;
		struct ac_run runs[3];
		size_t nruns, nalloc, ndrop;
		uint32_t table[6], drop[3], reused;
	} cases[] = {
		{ AC_REUSE_MSA, { { 4, 4 }, { 12, 4 }, { 20, 2 } }, 3, 3, 0,
		  { 10, NO, 12, NO, 14, NO }, { 0 }, 12 },
		{ AC_REUSE_PREFIX, { { 4, 18 } }, 1, 5, 2,
		  { 10, NO, NO, NO, NO, NO }, { 12, 14 }, 4 },
		{ AC_REUSE_NONE, { { 0, 22 } }, 1, 6, 3,
		  { NO, NO, NO, NO, NO, NO }, { 10, 12, 14 }, 0 },
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct fix f;

		plan_holes(&f, cases[c].mode);
		cr_expect_eq(f.plan.nblocks, 6, "case %zu", c);
		cr_assert_eq(f.plan.nruns, cases[c].nruns, "case %zu", c);
		for (size_t r = 0; r < cases[c].nruns; r++) {
			cr_expect_eq(f.runs[r].pos, cases[c].runs[r].pos,
				     "case %zu run %zu", c, r);
			cr_expect_eq(f.runs[r].len, cases[c].runs[r].len,
				     "case %zu run %zu", c, r);
		}
		for (size_t b = 0; b < 6; b++)
			cr_expect_eq(f.table[b], cases[c].table[b],
				     "case %zu table[%zu]", c, b);
		cr_expect_eq(f.plan.nalloc, cases[c].nalloc, "case %zu", c);
		cr_assert_eq(f.plan.ndrop, cases[c].ndrop, "case %zu", c);
		for (size_t d = 0; d < cases[c].ndrop; d++)
			cr_expect_eq(f.drop[d], cases[c].drop[d],
				     "case %zu drop[%zu]", c, d);
		cr_expect_eq(f.plan.reused_tokens, cases[c].reused,
			     "case %zu", c);
	}
}

Test(reuse, a_full_hit_still_computes_the_last_block)
{
	uint32_t blocks[] = { 7, 8 };
	struct fix f;

	cr_assert_eq(plan(&f, blocks, 2, 8, 4, AC_REUSE_MSA), 0);
	EXPECT_RUNS(&f, { 4, 4 });
	EXPECT_ARR(uint32_t, f.table, 7, NO);
	cr_assert_eq(f.plan.ndrop, 1);
	cr_expect_eq(f.drop[0], 8);
	/* A one-token prompt has no key and one run. */
	cr_assert_eq(plan(&f, NULL, 0, 1, 4, AC_REUSE_MSA), 0);
	EXPECT_RUNS(&f, { 0, 1 });
}

Test(reuse, bad_arguments)
{
	uint32_t blocks[] = { NO, 1, NO, 2, NO, 3 };
	struct ac_lookup_result res = { .blocks = blocks };
	struct fix f;

	cr_expect_eq(plan(&f, blocks, 5, 22, 4, (enum ac_reuse)7), -EINVAL);
	cr_expect_eq(plan(&f, blocks, 4, 22, 4, AC_REUSE_MSA), -EINVAL);
	cr_expect_eq(plan(&f, blocks, 5, 22, 0, AC_REUSE_MSA), -EINVAL);
	cr_expect_eq(plan(&f, blocks, 0, 0, 4, AC_REUSE_MSA), -EINVAL);
	fix_init(&f);
	f.plan.max_runs = 2;
	cr_expect_eq(ac_reuse_plan(&res, 6, 26, 4, AC_REUSE_MSA, &f.plan),
		     -ENOBUFS);
	cr_expect_eq(ac_reuse_plan(NULL, 6, 26, 4, AC_REUSE_MSA, &f.plan),
		     -EINVAL);
}

Test(reuse, fill_puts_allocations_in_order)
{
	uint32_t blocks[] = { 10, NO, 12, NO, 14 }, alloc[] = { 20, 21, 22 };
	struct fix f;

	cr_assert_eq(plan(&f, blocks, 5, 22, 4, AC_REUSE_MSA), 0);
	cr_expect_eq(ac_reuse_fill(&f.plan, alloc, 2), -EINVAL);
	cr_assert_eq(ac_reuse_fill(&f.plan, alloc, 3), 0);
	cr_expect_eq(f.table[1], 20);
	cr_expect_eq(f.table[3], 21);
	cr_expect_eq(f.table[5], 22);
	cr_expect_eq(f.table[4], 14);
}

/* Random hit patterns: runs and reused blocks tile the prompt exactly. */
Test(reuse, runs_and_hits_tile_the_prompt)
{
	uint32_t blocks[64], seen[64 * 8];
	struct fix f;

	srand(1234);
	for (int iter = 0; iter < 2000; iter++) {
		uint32_t T = 1u << (rand() % 4), ntok = 1 + rand() % (63 * T);
		size_t nkeys = ntok / T, nb = (ntok + T - 1) / T, hits = 0;
		enum ac_reuse mode = (enum ac_reuse)(rand() % 3);

		for (size_t i = 0; i < nkeys; i++) {
			blocks[i] = rand() % 3 ? (uint32_t)(100 + i) : NO;
			hits += blocks[i] != NO;
		}
		cr_assert_eq(plan(&f, blocks, nkeys, ntok, T, mode), 0);
		cr_assert_eq(f.plan.nblocks, nb);
		memset(seen, 0, sizeof(seen));
		for (size_t i = 0; i < nb; i++)
			if (f.table[i] != NO)
				for (uint32_t t = 0; t < T; t++)
					seen[i * T + t]++;
		for (size_t r = 0; r < f.plan.nruns; r++)
			for (uint32_t t = 0; t < f.runs[r].len; t++)
				seen[f.runs[r].pos + t]++;
		for (uint32_t p = 0; p < ntok; p++)
			cr_assert_eq(seen[p], 1, "position %u covered %u times",
				     p, seen[p]);
		cr_assert(f.runs[f.plan.nruns - 1].pos +
			  f.runs[f.plan.nruns - 1].len == ntok);
		cr_assert_eq(f.plan.ndrop + (nb - f.plan.nalloc), hits,
			     "every hit is either reused or dropped");
	}
}

Test(batch, two_sequences_make_one_csr_batch)
{
	uint32_t t1[] = { 5, 6, 7 }, t2[] = { 9 };
	struct ac_run r1[] = { { 4, 4 }, { 8, 2 } }, r2[] = { { 3, 1 } };
	struct ac_batch b = { 0 };

	cr_assert_eq(ac_batch_add(&b, t1, 3, 10, 4, r1, 2), 0);
	cr_assert_eq(ac_batch_add(&b, t2, 1, 4, 4, r2, 1), 0);
	cr_expect_eq(b.num_segs, 3);
	cr_expect_eq(b.num_seqs, 2);
	cr_expect_eq(b.num_rows, 7);
	/* Every entry of every array, as struct ac_msa_batch reads them. */
	EXPECT_ARR(int32_t, b.seg_indptr, 0, 4, 6, 7);
	EXPECT_ARR(int32_t, b.seg_seq, 0, 0, 1);
	EXPECT_ARR(int32_t, b.seg_pos, 4, 8, 3);
	EXPECT_ARR(int32_t, b.table_indptr, 0, 3, 4);
	EXPECT_ARR(int32_t, b.block_ids, 5, 6, 7, 9);
	EXPECT_ARR(int32_t, b.ctx_len, 10, 4);
	EXPECT_ARR(int32_t, b.row_pos, 4, 5, 6, 7, 8, 9, 3);

	/* Overlapping, unordered or out-of-context runs change nothing. */
	struct ac_run bad1[] = { { 0, 4 }, { 2, 2 } }, bad2[] = { { 8, 4 } };
	cr_expect_eq(ac_batch_add(&b, t1, 3, 10, 4, bad1, 2), -EINVAL);
	cr_expect_eq(ac_batch_add(&b, t1, 3, 10, 4, bad2, 1), -EINVAL);
	cr_expect_eq(ac_batch_add(&b, t1, 3, 13, 4, r1, 2), -EINVAL);
	cr_expect_eq(b.num_segs, 3);
	cr_expect_eq(b.num_rows, 7);

	ac_batch_reset(&b);
	cr_expect_eq(b.num_segs, 0);
	cr_assert_eq(ac_batch_add(&b, t2, 1, 4, 4, r2, 1), 0);
	cr_expect_eq(b.seg_indptr[1], 1);
	ac_batch_free(&b);
	ac_batch_free(&b);
}

Test(batch, grows_past_its_first_capacity)
{
	uint32_t table[40];
	struct ac_run runs[40];
	struct ac_batch b = { 0 };

	for (int i = 0; i < 40; i++) {
		table[i] = 1000 + i;
		runs[i] = (struct ac_run){ (uint32_t)i * 2, 1 };
	}
	for (int s = 0; s < 50; s++)
		cr_assert_eq(ac_batch_add(&b, table, 40, 80, 2, runs, 40), 0);
	cr_expect_eq(b.num_segs, 2000);
	cr_expect_eq(b.num_rows, 2000);
	cr_expect_eq(b.table_indptr[50], 2000);
	cr_expect_eq(b.block_ids[1999], 1039);
	cr_expect_eq(b.seg_indptr[2000], 2000);
	ac_batch_free(&b);
}
