/* SPDX-License-Identifier: MIT */
/*
 * Passes that carry prefill beside decode rows, as a serving engine runs
 * them, on the GPU (llama3-8b shape, seeded bf16 weights, a device pool,
 * no daemon): three sequences decoding at a 3k context plus one chunk of
 * m new tokens (after --prefix cached ones), over a list of chunk sizes
 * where almost every pass has a row count of its own. Arms, each over the
 * same list in the same process, interleaved a round at a time:
 *
 *   eager   a pass of up to 64 rows recorded as a CUDA graph the first
 *           time its launches are seen (the engine before)
 *   repeat  recorded the second time (the default now): a new shape is
 *           launched directly
 *   direct  no graphs: every kernel launched by the host
 *   warm    the same pass run three times, the third timed: its graph
 *           replayed where it has one, the floor for the others
 *
 * and decode-only passes of the same three rows (graph replay and kernel
 * by kernel) for the price of the decode rows alone.
 *
 * Usage: mixed_bench [--shape NAME] [--passes N] [--rounds N]
 *                    [--prefix N] [--profile-pass M]
 * --profile-pass M runs one warm pass of an M-token chunk between
 * cudaProfilerStart/Stop (a profiler's capture range) and exits.
 */
#include <cuda_profiler_api.h>
#include <cuda_runtime_api.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <asymcache/asymcache.h>

#include "bench_time.h"
#include "forward.h"

#define T		16
#define DECODE_SEQS	3
#define DECODE_CTX	3072
#define CHUNK_MAX	8192
#define PREFIX_MAX	8192
#define PASSES_MAX	256

enum arm { ARM_EAGER, ARM_REPEAT, ARM_DIRECT, ARM_WARM, ARMS };

struct bench {
	struct ac_model *m;
	struct ac_kv_pool pool;
	const struct ac_model_config *cfg;
	int32_t *tokens;		/* [CHUNK_MAX + PREFIX_MAX] */
	uint32_t prefix;		/* cached tokens before the chunk */
	uint32_t *tables[DECODE_SEQS + 1];
	uint32_t nblocks[DECODE_SEQS + 1];
	float *logits;
};

static void die(const char *what, int r)
{
	fprintf(stderr, "mixed_bench: %s: %s\n", what, strerror(-r));
	exit(1);
}

/*
 * One pass: the decode rows of DECODE_SEQS sequences and, when @chunk, the
 * chunk sequence's next @chunk tokens after its prefix. Seconds, host wall
 * clock to the logits of every sequence's last row.
 */
static double pass(struct bench *b, uint32_t chunk)
{
	uint32_t last[DECODE_SEQS + 1], nl = 0;
	struct ac_batch bt = { 0 };
	struct ac_msa_batch mb;
	int32_t *tok;
	double t0;
	int r = 0;

	for (int s = 0; s < DECODE_SEQS && !r; s++) {
		r = ac_batch_add(&bt, b->tables[s], b->nblocks[s], DECODE_CTX, T,
				 &(struct ac_run){ DECODE_CTX - 1, 1 }, 1);
		last[nl++] = bt.num_rows - 1;
	}
	if (chunk && !r) {
		uint32_t ctx = b->prefix + chunk;

		r = ac_batch_add(&bt, b->tables[DECODE_SEQS],
				 (ctx + T - 1) / T, ctx, T,
				 &(struct ac_run){ b->prefix, chunk }, 1);
		last[nl++] = bt.num_rows - 1;
	}
	if (r)
		die("batch", r);
	tok = malloc(sizeof(*tok) * bt.num_rows);
	if (!tok)
		die("tokens", -ENOMEM);
	for (uint32_t i = 0; i < bt.num_rows; i++)
		tok[i] = b->tokens[bt.row_pos[i]];
	ac_model_batch_view(&bt, &mb);
	t0 = bench_now_s();
	r = ac_model_forward(b->m, &b->pool, &mb, tok, bt.row_pos, last, nl,
			     b->logits);
	t0 = bench_now_s() - t0;
	if (r < 0)
		die("forward", r);
	free(tok);
	ac_batch_free(&bt);
	return t0;
}

/* Chunk sizes log-uniform in [16, 8192], each drawn once (a fixed seed). */
static void chunk_list(uint32_t *m, int n)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (int i = 0; i < n; i++) {
		bool dup;

		do {
			double u;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			u = (double)(x >> 11) / (double)(1ull << 53);
			m[i] = (uint32_t)(16.0 * pow(CHUNK_MAX / 16.0, u));
			dup = false;
			for (int j = 0; j < i; j++)
				dup |= m[j] == m[i];
		} while (dup || m[i] < 16 || m[i] > CHUNK_MAX);
	}
}

/* Chunks up to 61 make passes of up to 64 rows: the ones graphs record. */
static const uint32_t bucket_hi[] = { 62, 128, 512, 2048, CHUNK_MAX + 1 };
static const char *const bucket_name[] = { "16-61", "62-127", "128-511",
					   "512-2047", "2048-8192" };
#define BUCKETS (sizeof(bucket_hi) / sizeof(bucket_hi[0]))

static unsigned bucket_of(uint32_t m)
{
	unsigned i = 0;

	while (m >= bucket_hi[i])
		i++;
	return i;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "shape", required_argument, NULL, 's' },
		{ "passes", required_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "prefix", required_argument, NULL, 'x' },
		{ "profile-pass", required_argument, NULL, 'p' },
		{ 0 },
	};
	const char *shape = "llama3-8b";
	uint32_t chunks[PASSES_MAX], total_blocks = 0;
	int passes = 96, rounds = 3, profile = 0, prefix = 0, c, r;
	double sum[ARMS][BUCKETS] = { { 0 } }, dec[2] = { 0 };
	unsigned cnt[BUCKETS] = { 0 };
	uint64_t gc[ARMS][3] = { { 0 } };	/* direct, recorded, replayed */
	struct ac_weights *w = NULL;
	struct ac_kv_layout lay;
	struct bench b = { 0 };
	char err[256] = "";

	while ((c = getopt_long(argc, argv, "s:n:r:x:p:", lo, NULL)) != -1) {
		switch (c) {
		case 's': shape = optarg; break;
		case 'n': passes = atoi(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		case 'x': prefix = atoi(optarg); break;
		case 'p': profile = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: mixed_bench [--shape NAME] [--passes N] [--rounds N] [--prefix N] [--profile-pass M]\n");
			return 2;
		}
	}
	if (passes < 1 || passes > PASSES_MAX || rounds < 1 ||
	    profile < 0 || profile > CHUNK_MAX || prefix < 0 ||
	    prefix > PREFIX_MAX || prefix % T) {
		fprintf(stderr, "mixed_bench: --passes 1-%d, --rounds >= 1, --prefix 0-%d in steps of %d, --profile-pass 0-%d\n",
			PASSES_MAX, PREFIX_MAX, T, CHUNK_MAX);
		return 2;
	}
	b.prefix = (uint32_t)prefix;
	r = ac_weights_load(shape, AC_DTYPE_BF16, 1, &w, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "mixed_bench: %s\n", err);
		return 1;
	}
	r = ac_model_create(w, AC_FWD_CUDA, CHUNK_MAX + PREFIX_MAX, &b.m, err,
			    sizeof(err));
	if (r < 0) {
		fprintf(stderr, "mixed_bench: %s\n", *err ? err : strerror(-r));
		return 1;
	}
	ac_weights_free(w);
	b.cfg = ac_model_config(b.m);
	ac_model_kv_layout(b.m, T, &lay);
	for (int s = 0; s <= DECODE_SEQS; s++) {
		b.nblocks[s] = (s < DECODE_SEQS ? DECODE_CTX
					       : CHUNK_MAX + PREFIX_MAX) / T;
		total_blocks += b.nblocks[s];
	}
	b.pool = (struct ac_kv_pool){ .layout = lay,
				      .block_bytes = ac_kv_block_bytes(&lay),
				      .num_blocks = total_blocks };
	if (cudaMalloc(&b.pool.base, (size_t)total_blocks * b.pool.block_bytes) !=
	    cudaSuccess) {
		fprintf(stderr, "mixed_bench: no room for the pool\n");
		return 1;
	}
	cudaMemset(b.pool.base, 0, (size_t)total_blocks * b.pool.block_bytes);
	/* Each sequence's blocks scattered over the pool, as a shared pool gives them. */
	for (uint32_t s = 0, next = 0; s <= DECODE_SEQS; s++) {
		b.tables[s] = malloc(sizeof(uint32_t) * b.nblocks[s]);
		for (uint32_t i = 0; i < b.nblocks[s]; i++, next++)
			b.tables[s][i] = (next * 7919u) % total_blocks;
	}
	b.tokens = malloc(sizeof(int32_t) * (CHUNK_MAX + PREFIX_MAX));
	b.logits = malloc(sizeof(float) * (DECODE_SEQS + 1) * b.cfg->vocab);
	srand(1);
	for (uint32_t i = 0; i < CHUNK_MAX + PREFIX_MAX; i++)
		b.tokens[i] = rand() % (int)b.cfg->vocab;
	/* The decode sequences' contexts and the chunk's prefix, computed once. */
	for (int s = 0; s <= DECODE_SEQS; s++) {
		uint32_t n = s < DECODE_SEQS ? DECODE_CTX : b.prefix;
		struct ac_batch bt = { 0 };
		struct ac_msa_batch mb;
		uint32_t lr = n - 1;

		if (!n)
			continue;
		r = ac_batch_add(&bt, b.tables[s], (n + T - 1) / T, n, T,
				 &(struct ac_run){ 0, n }, 1);
		if (r)
			die("batch", r);
		ac_model_batch_view(&bt, &mb);
		r = ac_model_forward(b.m, &b.pool, &mb, b.tokens, bt.row_pos,
				     &lr, 1, b.logits);
		if (r < 0)
			die("forward", r);
		ac_batch_free(&bt);
	}

	if (profile) {
		pass(&b, profile);
		cudaProfilerStart();
		printf("mixed pass, 3 decode rows + %d-token chunk after %d cached: %.3f ms\n",
		       profile, prefix, 1e3 * pass(&b, profile));
		cudaProfilerStop();
		return 0;
	}

	chunk_list(chunks, passes);
	for (int i = 0; i < passes; i++)
		cnt[bucket_of(chunks[i])]++;
	fprintf(stderr, "mixed_bench: %d passes x %d rounds x %d arms\n",
		passes, rounds, ARMS);
	/* Rounds alternate the arms; the first round warms and is not kept. */
	for (int round = 0; round <= rounds; round++) {
		for (int a = 0; a < ARMS; a++) {
			struct ac_model_graph_counts c0, c1;

			ac_model_set_graphs_eager(b.m, a == ARM_EAGER);
			ac_model_set_graphs(b.m, a != ARM_DIRECT);
			ac_model_get_graph_counts(b.m, &c0);
			for (int i = 0; i < passes; i++) {
				double dt;

				if (a == ARM_WARM) {
					pass(&b, chunks[i]);
					pass(&b, chunks[i]);
				}
				dt = pass(&b, chunks[i]);
				if (round)
					sum[a][bucket_of(chunks[i])] += dt;
			}
			ac_model_get_graph_counts(b.m, &c1);
			gc[a][0] += c1.direct - c0.direct;
			gc[a][1] += c1.recorded - c0.recorded;
			gc[a][2] += c1.replayed - c0.replayed;
		}
		fprintf(stderr, "mixed_bench: round %d of %d\n", round, rounds);
	}
	ac_model_set_graphs_eager(b.m, false);
	for (int g = 0; g < 2; g++) {
		double s = 0;

		ac_model_set_graphs(b.m, g == 0);
		pass(&b, 0);
		for (int i = 0; i < 64; i++)
			s += pass(&b, 0);
		dec[g] = s / 64;
	}
	ac_model_set_graphs(b.m, true);

	printf("# mixed_bench: shape %s, %d decode rows at context %d + one chunk of 16-%d new tokens after %u cached (log-uniform, %d distinct sizes), mean of %d rounds after a warm-up round, ms a pass\n",
	       shape, DECODE_SEQS, DECODE_CTX, CHUNK_MAX, b.prefix, passes,
	       rounds);
	printf("| chunk tokens | passes | eager graphs (before) | graphs on repeat (now) | no graphs | warm (floor) | before - now |\n|---|---|---|---|---|---|---|\n");
	for (unsigned k = 0; k <= BUCKETS; k++) {
		double n = 0, v[ARMS] = { 0 };

		for (unsigned j = 0; j < BUCKETS; j++) {
			if (k < BUCKETS && j != k)
				continue;
			n += (double)cnt[j] * rounds;
			for (int a = 0; a < ARMS; a++)
				v[a] += sum[a][j];
		}
		if (!n)
			continue;
		for (int a = 0; a < ARMS; a++)
			v[a] *= 1e3 / n;
		printf("| %s | %.0f | %.2f | %.2f | %.2f | %.2f | %+.2f |\n",
		       k < BUCKETS ? bucket_name[k] : "all", n / rounds,
		       v[ARM_EAGER], v[ARM_REPEAT], v[ARM_DIRECT], v[ARM_WARM],
		       v[ARM_EAGER] - v[ARM_REPEAT]);
	}
	printf("\npasses launched directly / recorded / replayed, all rounds: eager %llu/%llu/%llu, on repeat %llu/%llu/%llu, no graphs %llu/%llu/%llu, warm %llu/%llu/%llu\n",
	       (unsigned long long)gc[0][0], (unsigned long long)gc[0][1],
	       (unsigned long long)gc[0][2], (unsigned long long)gc[1][0],
	       (unsigned long long)gc[1][1], (unsigned long long)gc[1][2],
	       (unsigned long long)gc[2][0], (unsigned long long)gc[2][1],
	       (unsigned long long)gc[2][2], (unsigned long long)gc[3][0],
	       (unsigned long long)gc[3][1], (unsigned long long)gc[3][2]);
	printf("\ndecode rows alone (%d at context %d): %.2f ms replayed from a CUDA graph, %.2f ms kernel by kernel\n",
	       DECODE_SEQS, DECODE_CTX, 1e3 * dec[0], 1e3 * dec[1]);
	cudaFree(b.pool.base);
	ac_model_free(b.m);
	for (int s = 0; s <= DECODE_SEQS; s++)
		free(b.tables[s]);
	free(b.tokens);
	free(b.logits);
	return 0;
}
