/* SPDX-License-Identifier: MIT */
/*
 * The forward pass on the CPU backend over a host pool: a prompt computed
 * in one segment, the same prompt with evicted blocks recomputed as MSA
 * holes beside cached ones, and decode steps, all give the same logits.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <asymcache/asymcache.h>

#include "forward.h"

#define T 4		/* tokens per block: small, so prompts have many */
#define NBLOCKS 64

struct fx {
	struct ac_weights *w;
	struct ac_model *m;
	struct ac_kv_pool pool;
	uint32_t vocab;
};

static void fx_init(struct fx *f, uint64_t seed)
{
	char err[256] = "";
	struct ac_kv_layout lay;

	cr_assert_eq(ac_weights_load("tiny", AC_DTYPE_FP32, seed, &f->w, err,
				     sizeof(err)), 0, "%s", err);
	cr_assert_eq(ac_model_create(f->w, AC_FWD_CPU, 128, &f->m, err,
				     sizeof(err)), 0, "%s", err);
	ac_model_kv_layout(f->m, T, &lay);
	f->pool = (struct ac_kv_pool){ .layout = lay, .num_blocks = NBLOCKS,
				       .block_bytes = ac_kv_block_bytes(&lay) };
	f->pool.base = malloc(NBLOCKS * f->pool.block_bytes);
	cr_assert_not_null(f->pool.base);
	/* NaN everywhere: a read of KV nobody wrote poisons the logits. */
	memset(f->pool.base, 0xff, NBLOCKS * f->pool.block_bytes);
	f->vocab = ac_model_config(f->m)->vocab;
}

static void fx_fini(struct fx *f)
{
	ac_model_free(f->m);
	ac_weights_free(f->w);
	free(f->pool.base);
}

/* Forward @runs of @tokens over @table; logits of every computed row. */
static void run(struct fx *f, const uint32_t *table, size_t nblocks,
		uint32_t ctx, const struct ac_run *runs, size_t nruns,
		const int32_t *tokens, float *logits)
{
	struct ac_batch b = { 0 };
	struct ac_msa_batch mb;
	int32_t tok[256];
	uint32_t rows[256];

	cr_assert_eq(ac_batch_add(&b, table, nblocks, ctx, T, runs, nruns), 0);
	for (uint32_t i = 0; i < b.num_rows; i++) {
		tok[i] = tokens[b.row_pos[i]];
		rows[i] = i;
	}
	ac_model_batch_view(&b, &mb);
	cr_assert_eq(ac_model_forward(f->m, &f->pool, &mb, tok, b.row_pos,
				      rows, b.num_rows, logits), 0);
	ac_batch_free(&b);
}

static double max_rel_diff(const float *a, const float *b, size_t n)
{
	double d = 0, s = 0;

	for (size_t i = 0; i < n; i++) {
		cr_assert(isfinite(a[i]) && isfinite(b[i]), "logit %zu", i);
		d = fmax(d, fabs((double)a[i] - b[i]));
		s = fmax(s, fabs((double)b[i]));
	}
	return d / s;
}

static int argmax(const float *x, uint32_t n)
{
	int best = 0;

	for (uint32_t i = 1; i < n; i++)
		if (x[i] > x[best])
			best = (int)i;
	return best;
}

Test(forward, holes_recomputed_match_a_full_prefill)
{
	enum { N = 22, NB = (N + T - 1) / T };
	uint32_t table[NB];
	int32_t tokens[N];
	float *full, *holes;
	struct fx f;

	fx_init(&f, 7);
	srand(42);
	for (int i = 0; i < N; i++)
		tokens[i] = rand() % (int)f.vocab;
	for (int i = 0; i < NB; i++)
		table[i] = 10 + 3 * i;	/* scattered pool blocks */
	full = malloc(sizeof(float) * N * f.vocab);
	holes = malloc(sizeof(float) * N * f.vocab);

	run(&f, table, NB, N, &(struct ac_run){ 0, N }, 1, tokens, full);

	/* Evict blocks 1 and 3: poison them, then recompute as holes. */
	memset((char *)f.pool.base + table[1] * f.pool.block_bytes, 0xff,
	       f.pool.block_bytes);
	memset((char *)f.pool.base + table[3] * f.pool.block_bytes, 0xff,
	       f.pool.block_bytes);
	const struct ac_run runs[] = { { 4, 4 }, { 12, 4 }, { 20, 2 } };
	run(&f, table, NB, N, runs, 3, tokens, holes);

	/* Rows of the holes run are positions 4-7, 12-15, 20-21. */
	for (int r = 0; r < 10; r++) {
		int p = r < 4 ? 4 + r : r < 8 ? 8 + r : 12 + r;
		double d = max_rel_diff(holes + (size_t)r * f.vocab,
					full + (size_t)p * f.vocab, f.vocab);

		cr_expect_lt(d, 1e-5, "row at position %d differs by %g", p, d);
		cr_expect_eq(argmax(holes + (size_t)r * f.vocab, f.vocab),
			     argmax(full + (size_t)p * f.vocab, f.vocab));
	}
	free(full);
	free(holes);
	fx_fini(&f);
}

Test(forward, decode_steps_match_the_prefill_rows)
{
	enum { N = 13, NB = (N + T - 1) / T };
	uint32_t table[NB] = { 5, 1, 9, 2 };
	int32_t tokens[N];
	float *full, *step;
	struct fx f;

	fx_init(&f, 11);
	for (int i = 0; i < N; i++)
		tokens[i] = (i * 37 + 5) % (int)f.vocab;
	full = malloc(sizeof(float) * N * f.vocab);
	step = malloc(sizeof(float) * f.vocab);
	run(&f, table, NB, N, &(struct ac_run){ 0, N }, 1, tokens, full);

	/* Prefill 9 tokens into a fresh table, then decode 4 one by one. */
	uint32_t t2[NB] = { 30, 31, 32, 33 };
	run(&f, t2, NB, 9, &(struct ac_run){ 0, 9 }, 1, tokens, full + 0);
	run(&f, table, NB, N, &(struct ac_run){ 0, N }, 1, tokens, full);
	for (uint32_t p = 9; p < N; p++) {
		run(&f, t2, NB, p + 1, &(struct ac_run){ p, 1 }, 1, tokens, step);
		cr_expect_lt(max_rel_diff(step, full + (size_t)p * f.vocab,
					  f.vocab), 1e-5, "position %u", p);
	}
	free(full);
	free(step);
	fx_fini(&f);
}

Test(forward, bad_input_is_refused)
{
	uint32_t table[2] = { 0, 1 }, row = 0;
	int32_t tokens[8] = { 1, 2, 3, 4, 5, 6, 7, 300 }, pos[8];
	struct ac_batch b = { 0 };
	struct ac_msa_batch mb;
	float *logits;
	struct fx f;

	fx_init(&f, 3);
	logits = malloc(sizeof(float) * f.vocab);
	cr_assert_eq(ac_batch_add(&b, table, 2, 8, T,
				  &(struct ac_run){ 0, 8 }, 1), 0);
	memcpy(pos, b.row_pos, sizeof(pos));
	ac_model_batch_view(&b, &mb);
	/* Token 300 is outside the tiny vocabulary (256). */
	cr_expect_eq(ac_model_forward(f.m, &f.pool, &mb, tokens, pos, &row, 1,
				      logits), -ERANGE);
	tokens[7] = 8;
	row = 8;
	cr_expect_eq(ac_model_forward(f.m, &f.pool, &mb, tokens, pos, &row, 1,
				      logits), -EINVAL);
	row = 7;
	f.pool.layout.dtype = AC_DTYPE_BF16;
	cr_expect_eq(ac_model_forward(f.m, &f.pool, &mb, tokens, pos, &row, 1,
				      logits), -EINVAL);
	f.pool.layout.dtype = AC_DTYPE_FP32;
	cr_expect_eq(ac_model_forward(f.m, &f.pool, &mb, tokens, pos, &row, 1,
				      logits), 0);
	ac_batch_free(&b);
	free(logits);
	fx_fini(&f);
}

/* forward_ex: greedy tokens with the logits, and instead of them. */
Test(forward, greedy_tokens_with_or_without_the_logits)
{
	static const uint32_t table[4] = { 3, 7, 1, 12 };
	struct fx f;
	struct ac_batch b = { 0 };
	struct ac_msa_batch mb;
	int32_t tokens[16], tok[16], g1[16], g2[16];
	uint32_t rows[16];
	float *logits;

	fx_init(&f, 11);
	logits = malloc(sizeof(float) * 16 * f.vocab);
	cr_assert_not_null(logits);
	for (uint32_t i = 0; i < 16; i++)
		tokens[i] = (int32_t)((i * 37 + 5) % f.vocab);
	cr_assert_eq(ac_batch_add(&b, table, 4, 16, T,
				  &(struct ac_run){ 0, 16 }, 1), 0);
	for (uint32_t i = 0; i < b.num_rows; i++) {
		tok[i] = tokens[b.row_pos[i]];
		rows[i] = i;
	}
	ac_model_batch_view(&b, &mb);
	cr_assert_eq(ac_model_forward_ex(f.m, &f.pool, &mb, tok, b.row_pos,
					 rows, 16, logits, g1), 0);
	for (uint32_t i = 0; i < 16; i++)
		cr_expect_eq(g1[i], argmax(logits + (size_t)i * f.vocab, f.vocab),
			     "row %u", i);
	cr_assert_eq(ac_model_forward_ex(f.m, &f.pool, &mb, tok, b.row_pos,
					 rows, 16, NULL, g2), 0);
	cr_expect_arr_eq(g1, g2, sizeof(g1));
	cr_expect_eq(ac_model_forward_ex(f.m, &f.pool, &mb, tok, b.row_pos,
					 rows, 16, NULL, NULL), -EINVAL);
	cr_expect_eq(ac_model_forward(f.m, &f.pool, &mb, tok, b.row_pos, rows,
				      16, NULL), -EINVAL);
	ac_batch_free(&b);
	free(logits);
	fx_fini(&f);
}
