/* SPDX-License-Identifier: MIT */
/*
 * The forward pass on the GPU, llama3-8b shape with seeded bf16 weights, on
 * a device pool and no daemon: prefill TTFT at several prompt lengths,
 * decode TPOT at batch 1, and a long prompt whose cache holds all but a
 * few holes, run three ways in the same process (MSA on the holes, prefix
 * reuse up to the first hole, no reuse). Each arm changes only which
 * positions are computed; weights, pool, kernels and shapes are shared.
 *
 * Usage: gpu_bench [--shape NAME] [--reps N] [--quick] [--decode-only N]
 *                  [--prefill-only N] [--no-graphs]
 *
 * --decode-only N times N decode steps after a 2k prompt, and
 * --prefill-only N one prefill of N tokens, between cudaProfilerStart/Stop,
 * for a profiler's capture range; --no-graphs launches every kernel of a
 * decode step itself rather than replaying the step's CUDA graph.
 *
 * Decode is timed both ways in the same run: a step replayed from its
 * graph, and the same step launched kernel by kernel (the baseline), once
 * at a fixed context, repeated, and over 64 steps of a growing context,
 * where the attention's split changes now and then and a step is
 * recorded anew.
 */
#include <cuda_profiler_api.h>
#include <cuda_runtime_api.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <asymcache/asymcache.h>

#include "bench_time.h"
#include "forward.h"

#define T 16

struct bench {
	struct ac_model *m;
	struct ac_kv_pool pool;
	const struct ac_model_config *cfg;
	int32_t *tokens;
	float *logits;
	uint32_t *table;
	uint32_t max_tokens;
	int reps;
};

/* One forward pass over @runs with context @ctx; seconds, logits of the last row. */
static double forward(struct bench *b, uint32_t ctx, const struct ac_run *runs,
		      size_t nruns)
{
	uint32_t nb = (ctx + T - 1) / T, last;
	struct ac_batch bt = { 0 };
	struct ac_msa_batch mb;
	int32_t *tok;
	double t0;
	int r;

	if (ac_batch_add(&bt, b->table, nb, ctx, T, runs, nruns) < 0) {
		fprintf(stderr, "gpu_bench: bad batch\n");
		exit(1);
	}
	tok = malloc(sizeof(*tok) * bt.num_rows);
	for (uint32_t i = 0; i < bt.num_rows; i++)
		tok[i] = b->tokens[bt.row_pos[i]];
	ac_model_batch_view(&bt, &mb);
	last = bt.num_rows - 1;
	t0 = bench_now_s();
	r = ac_model_forward(b->m, &b->pool, &mb, tok, bt.row_pos, &last, 1,
			     b->logits);
	t0 = bench_now_s() - t0;
	if (r < 0) {
		fprintf(stderr, "gpu_bench: forward: %s\n", strerror(-r));
		exit(1);
	}
	free(tok);
	ac_batch_free(&bt);
	return t0;
}

static double median_forward(struct bench *b, uint32_t ctx,
			     const struct ac_run *runs, size_t nruns)
{
	double t[16];
	int n = b->reps < 16 ? b->reps : 16;

	forward(b, ctx, runs, nruns);	/* warm: plans, cuBLASLt algorithms */
	for (int i = 0; i < n; i++)
		t[i] = forward(b, ctx, runs, nruns);
	qsort(t, n, sizeof(*t), bench_cmp_double);
	return t[n / 2];
}

static void poison(struct bench *b, uint32_t block)
{
	cudaMemset((char *)b->pool.base + (size_t)block * b->pool.block_bytes,
		   0xff, b->pool.block_bytes);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "shape", required_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ "quick", no_argument, NULL, 'q' },
		{ "decode-only", required_argument, NULL, 'd' },
		{ "prefill-only", required_argument, NULL, 'p' },
		{ "no-graphs", no_argument, NULL, 'g' },
		{ 0 },
	};
	const char *shape = "llama3-8b";
	uint32_t prompts[] = { 2048, 8192, 16384 }, long_ctx = 16384;
	struct ac_weights *w = NULL;
	struct ac_kv_layout lay;
	struct bench b = { .reps = 5 };
	char err[256] = "";
	bool quick = false, graphs = true;
	int decode_only = 0, prefill_only = 0;
	double t0;
	int c, r;

	while ((c = getopt_long(argc, argv, "s:r:q", lo, NULL)) != -1) {
		switch (c) {
		case 's': shape = optarg; break;
		case 'r': b.reps = atoi(optarg); break;
		case 'q': quick = true; break;
		case 'd': decode_only = atoi(optarg); break;
		case 'p': prefill_only = atoi(optarg); break;
		case 'g': graphs = false; break;
		default:
			fprintf(stderr, "usage: gpu_bench [--shape NAME] [--reps N] [--quick] [--decode-only N] [--prefill-only N] [--no-graphs]\n");
			return 2;
		}
	}
	if (quick) {
		prompts[1] = prompts[2] = 2048;
		long_ctx = 4096;
	}
	b.max_tokens = long_ctx + 64;
	t0 = bench_now_s();
	r = ac_weights_load(shape, AC_DTYPE_BF16, 1, &w, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "gpu_bench: %s\n", err);
		return 1;
	}
	fprintf(stderr, "gpu_bench: %s weights in %.1f s\n", shape, bench_now_s() - t0);
	r = ac_model_create(w, AC_FWD_CUDA, long_ctx, &b.m, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "gpu_bench: %s\n", *err ? err : strerror(-r));
		return 1;
	}
	b.cfg = ac_model_config(b.m);
	ac_model_set_graphs(b.m, graphs);
	ac_weights_free(w);
	ac_model_kv_layout(b.m, T, &lay);
	b.pool = (struct ac_kv_pool){ .layout = lay,
				      .block_bytes = ac_kv_block_bytes(&lay),
				      .num_blocks = b.max_tokens / T + 1 };
	if (cudaMalloc(&b.pool.base, (size_t)b.pool.num_blocks *
					     b.pool.block_bytes) != cudaSuccess) {
		fprintf(stderr, "gpu_bench: no room for the pool\n");
		return 1;
	}
	cudaMemset(b.pool.base, 0xff,
		   (size_t)b.pool.num_blocks * b.pool.block_bytes);
	b.tokens = malloc(sizeof(int32_t) * b.max_tokens);
	b.table = malloc(sizeof(uint32_t) * b.pool.num_blocks);
	b.logits = malloc(sizeof(float) * b.cfg->vocab);
	srand(1);
	for (uint32_t i = 0; i < b.max_tokens; i++)
		b.tokens[i] = rand() % (int)b.cfg->vocab;
	/* Scattered blocks, as a shared pool hands them out. */
	for (uint32_t i = 0; i < b.pool.num_blocks; i++)
		b.table[i] = (i * 7919u) % b.pool.num_blocks;

	if (prefill_only > 0 && (uint32_t)prefill_only <= long_ctx) {
		uint32_t n = (uint32_t)prefill_only;

		forward(&b, n, &(struct ac_run){ 0, n }, 1);
		cudaProfilerStart();
		printf("prefill of %u tokens: %.3f ms\n", n,
		       1e3 * forward(&b, n, &(struct ac_run){ 0, n }, 1));
		cudaProfilerStop();
		return 0;
	}
	if (decode_only > 0) {
		forward(&b, 2048, &(struct ac_run){ 0, 2048 }, 1);
		forward(&b, 2049, &(struct ac_run){ 2048, 1 }, 1);
		cudaProfilerStart();
		for (int i = 0; i < decode_only; i++)
			printf("decode step %d at context %u: %.3f ms\n", i,
			       2050 + i, 1e3 * forward(&b, 2050 + i,
				       &(struct ac_run){ 2049 + i, 1 }, 1));
		cudaProfilerStop();
		return 0;
	}
	printf("# gpu_bench: shape %s (%u layers, hidden %u, %u/%u heads, head dim %u, vocab %u), bf16, block %u tokens, median of %d\n",
	       shape, b.cfg->n_layers, b.cfg->hidden, b.cfg->n_heads,
	       b.cfg->n_kv_heads, b.cfg->head_dim, b.cfg->vocab, T, b.reps);
	printf("| measurement | tokens computed | context | ms |\n|---|---|---|---|\n");
	for (size_t i = 0; i < 3; i++) {
		uint32_t n = prompts[i];

		if (i && prompts[i] == prompts[i - 1])
			continue;
		printf("| prefill (TTFT, one segment) | %u | %u | %.2f |\n", n, n,
		       1e3 * median_forward(&b, n, &(struct ac_run){ 0, n }, 1));
	}
	/* Decode at batch 1 after a 2k prompt: one row, context 2049. */
	forward(&b, 2048, &(struct ac_run){ 0, 2048 }, 1);
	for (int g = 1; g >= 0; g--) {
		const char *how = g ? "CUDA graph" : "kernel by kernel";
		double sum = 0, t;

		ac_model_set_graphs(b.m, g);
		t = median_forward(&b, 2049, &(struct ac_run){ 2048, 1 }, 1);
		printf("| decode step (TPOT, batch 1), %s | 1 | %u | %.2f |\n",
		       how, 2049, 1e3 * t);
		for (uint32_t i = 0; i < 64; i++)
			sum += forward(&b, 2049 + i,
				       &(struct ac_run){ 2048 + i, 1 }, 1);
		printf("| 64 decode steps (TPOT, batch 1, mean), %s | 1 | 2049..2112 | %.2f |\n",
		       how, 1e3 * sum / 64);
	}
	ac_model_set_graphs(b.m, graphs);

	/* The long prompt cached whole, then 4 holes of 512 evicted. */
	{
		uint32_t n = long_ctx, hb = 512 / T, first = n / 8;
		struct ac_run holes[5];
		double msa, prefix, none;

		forward(&b, n, &(struct ac_run){ 0, n }, 1);
		for (int h = 0; h < 4; h++) {
			uint32_t start = first + h * (n / 5);

			start -= start % T;
			holes[h] = (struct ac_run){ start, 512 };
			for (uint32_t k = 0; k < hb; k++)
				poison(&b, b.table[start / T + k]);
		}
		/* The last block is recomputed: its last token's logits. */
		holes[4] = (struct ac_run){ n - T, T };
		msa = median_forward(&b, n, holes, 5);
		prefix = median_forward(&b, n, &(struct ac_run){
					holes[0].pos, n - holes[0].pos }, 1);
		none = median_forward(&b, n, &(struct ac_run){ 0, n }, 1);
		printf("| %uk prompt, 4 holes of 512: MSA on holes + last block | %u | %u | %.2f |\n",
		       n / 1024, 4 * 512 + T, n, 1e3 * msa);
		printf("| %uk prompt, 4 holes of 512: prefix reuse to the first hole | %u | %u | %.2f |\n",
		       n / 1024, n - holes[0].pos, n, 1e3 * prefix);
		printf("| %uk prompt: no reuse | %u | %u | %.2f |\n", n / 1024, n,
		       n, 1e3 * none);
		printf("\nMSA TTFT is %.2fx lower than prefix reuse and %.2fx lower than no reuse.\n",
		       prefix / msa, none / msa);
	}
	cudaFree(b.pool.base);
	ac_model_free(b.m);
	free(b.tokens);
	free(b.table);
	free(b.logits);
	return 0;
}
