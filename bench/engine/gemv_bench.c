/* SPDX-License-Identifier: MIT */
/*
 * The decode GEMVs of one llama3-8b step on their own: each product of a
 * layer (q|k|v with RMSNorm and RoPE, o with the residual, gate|up with
 * RMSNorm, down with SwiGLU and the residual) over 32 layers of distinct
 * seeded weights, and the LM head, for every unroll and k-split the kernel
 * takes, each timed as a CUDA graph of its launches (no launch gaps, as
 * the engine replays a step). Against the device-to-device copy rate of
 * the same run: the bandwidth the weights could stream at.
 *
 * Usage: gemv_bench [--rows M] [--reps N]
 */
#include <cuda_runtime_api.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

#define LAYERS 32
#define HID 4096u
#define FFN 14336u
#define QD 4096u
#define KVD 1024u
#define VOCAB 128256u
#define HEAD_DIM 128u

#define CHECK(call)							\
	do {								\
		cudaError_t e_ = (call);				\
		if (e_ != cudaSuccess) {				\
			fprintf(stderr, "gemv_bench: %s: %s\n", #call,	\
				cudaGetErrorString(e_));		\
			exit(1);					\
		}							\
	} while (0)

enum shape { S_QKV, S_O, S_GU, S_DOWN, S_HEAD, S_COUNT };

static const struct {
	const char *name;
	uint32_t n, k, layers;
} shapes[S_COUNT] = {
	[S_QKV] = { "q|k|v + rmsnorm + rope", QD + 2 * KVD, HID, LAYERS },
	[S_O] = { "o + residual", HID, QD, LAYERS },
	[S_GU] = { "gate|up + rmsnorm", 2 * FFN, HID, LAYERS },
	[S_DOWN] = { "down + swiglu + residual", HID, FFN, LAYERS },
	[S_HEAD] = { "lm head + rmsnorm", VOCAB, HID, 1 },
};

struct bufs {
	uint16_t *w[S_COUNT];		/* [layers][n][k] */
	uint16_t *x, *gu, *norm, *q, *k, *v, *res, *logits;
	int32_t *pos;
	float *inv;
	uint32_t m;
};

/* Seeded bf16 values: no timing on zeros. */
static void fill(uint16_t *dev, size_t n, uint64_t seed)
{
	size_t chunk = (size_t)32 << 20;
	uint16_t *h = malloc(chunk * 2);

	/* Random sign and mantissa, magnitudes 2^-7 .. 2^-3. */
	for (size_t i = 0; i < chunk; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		h[i] = (uint16_t)(0x3c00u + ((seed >> 40) & 0x1ffu)) |
		       (uint16_t)(((seed >> 52) & 1u) << 15);
	}
	for (size_t off = 0; off < n; off += chunk)
		CHECK(cudaMemcpy(dev + off, h,
				 2 * (n - off < chunk ? n - off : chunk),
				 cudaMemcpyHostToDevice));
	free(h);
}

static int launch(struct bufs *b, enum shape s, uint32_t l, uint32_t unroll,
		  uint32_t ksplit, cudaStream_t st)
{
	struct ac_gemv_args a = {
		.w = b->w[s] + (size_t)l * shapes[s].n * shapes[s].k,
		.m = b->m, .n = shapes[s].n, .k = shapes[s].k,
		.unroll = unroll, .ksplit = ksplit, .eps = 1e-5f,
	};

	switch (s) {
	case S_QKV:
		a.out[0] = b->q, a.out[1] = b->k, a.out[2] = b->v;
		a.cols[0] = QD, a.cols[1] = KVD, a.cols[2] = KVD;
		a.in = b->x;
		a.pro = AC_GEMV_PRO_RMSNORM;
		a.norm_w = b->norm;
		a.rope_cols = QD + KVD;
		a.head_dim = HEAD_DIM;
		a.pos = b->pos;
		a.inv_freq = b->inv;
		break;
	case S_O:
		a.out[0] = b->res, a.cols[0] = HID;
		a.in = b->q;
		a.accumulate = true;
		break;
	case S_GU:
		a.out[0] = b->gu, a.cols[0] = 2 * FFN;
		a.in = b->x;
		a.pro = AC_GEMV_PRO_RMSNORM;
		a.norm_w = b->norm;
		break;
	case S_DOWN:
		a.out[0] = b->res, a.cols[0] = HID;
		a.in = b->gu;
		a.pro = AC_GEMV_PRO_SWIGLU;
		a.accumulate = true;
		break;
	default:
		a.out[0] = b->logits, a.cols[0] = VOCAB;
		a.in = b->x;
		a.pro = AC_GEMV_PRO_RMSNORM;
		a.norm_w = b->norm;
		break;
	}
	return ac_op_gemv_ex_cuda(&a, st);
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

/*
 * Median microseconds of one replay of a graph holding @shape's launches
 * over every layer (or the whole step for S_COUNT), -1 if a launch refuses
 * the configuration.
 */
static float time_graph(struct bufs *b, int shape, uint32_t unroll,
			uint32_t ksplit, int reps, cudaStream_t st)
{
	cudaGraph_t g;
	cudaGraphExec_t ge;
	cudaEvent_t e0, e1;
	float t[64], ms;
	int r = 0;

	CHECK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
	for (int s = 0; s < S_COUNT; s++) {
		if (shape != S_COUNT && s != shape)
			continue;
		for (uint32_t l = 0; l < shapes[s].layers && !r; l++)
			r = launch(b, s, l, unroll, ksplit, st);
	}
	CHECK(cudaStreamEndCapture(st, &g));
	if (r) {
		cudaGraphDestroy(g);
		return -1;
	}
	CHECK(cudaGraphInstantiate(&ge, g, 0));
	CHECK(cudaEventCreate(&e0));
	CHECK(cudaEventCreate(&e1));
	CHECK(cudaGraphLaunch(ge, st));		/* warm */
	if (reps > 64)
		reps = 64;
	for (int i = 0; i < reps; i++) {
		CHECK(cudaEventRecord(e0, st));
		CHECK(cudaGraphLaunch(ge, st));
		CHECK(cudaEventRecord(e1, st));
		CHECK(cudaEventSynchronize(e1));
		CHECK(cudaEventElapsedTime(&ms, e0, e1));
		t[i] = ms * 1e3f;
	}
	qsort(t, reps, sizeof(*t), cmp_float);
	cudaEventDestroy(e0);
	cudaEventDestroy(e1);
	cudaGraphExecDestroy(ge);
	cudaGraphDestroy(g);
	return t[reps / 2];
}

static uint16_t *dev_bf16(size_t n, uint64_t seed)
{
	uint16_t *p;

	CHECK(cudaMalloc((void **)&p, n * 2));
	fill(p, n, seed);
	return p;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rows", required_argument, NULL, 'm' },
		{ "reps", required_argument, NULL, 'r' },
		{ 0 },
	};
	const uint32_t unrolls[] = { 1, 2, 4 }, splits[] = { 0, 1, 2, 4, 8 };
	struct ac_rope_params rp = { .theta = 500000.0, .llama3 = true,
				     .factor = 8, .low_freq_factor = 1,
				     .high_freq_factor = 4,
				     .original_max_position = 8192 };
	struct bufs b = { .m = 1 };
	int reps = 20, c;
	float inv[HEAD_DIM / 2], best_step = 1e30f, copy_us;
	int32_t pos[AC_GEMV_MAX_ROWS] = { 2048, 2049, 2050, 2051 };
	cudaStream_t st;
	cudaEvent_t e0, e1;
	double wbytes = 0;
	void *c0, *c1;
	size_t cbytes = (size_t)2 << 30;

	while ((c = getopt_long(argc, argv, "m:r:", lo, NULL)) != -1) {
		switch (c) {
		case 'm': b.m = (uint32_t)atoi(optarg); break;
		case 'r': reps = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: gemv_bench [--rows M] [--reps N]\n");
			return 2;
		}
	}
	if (!b.m || b.m > AC_GEMV_MAX_ROWS)
		return 2;
	CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
	for (int s = 0; s < S_COUNT; s++) {
		size_t n = (size_t)shapes[s].layers * shapes[s].n * shapes[s].k;

		b.w[s] = dev_bf16(n, 1000 + s);
		wbytes += 2.0 * n;
	}
	b.x = dev_bf16(AC_GEMV_MAX_ROWS * HID, 7);
	b.gu = dev_bf16(AC_GEMV_MAX_ROWS * 2 * FFN, 8);
	b.norm = dev_bf16(HID, 9);
	b.q = dev_bf16(AC_GEMV_MAX_ROWS * QD, 10);
	b.k = dev_bf16(AC_GEMV_MAX_ROWS * KVD, 11);
	b.v = dev_bf16(AC_GEMV_MAX_ROWS * KVD, 12);
	b.res = dev_bf16(AC_GEMV_MAX_ROWS * HID, 13);
	b.logits = dev_bf16(AC_GEMV_MAX_ROWS * VOCAB, 14);
	ac_rope_inv_freq(inv, HEAD_DIM, &rp);
	CHECK(cudaMalloc((void **)&b.inv, sizeof(inv)));
	CHECK(cudaMalloc((void **)&b.pos, sizeof(pos)));
	CHECK(cudaMemcpy(b.inv, inv, sizeof(inv), cudaMemcpyHostToDevice));
	CHECK(cudaMemcpy(b.pos, pos, sizeof(pos), cudaMemcpyHostToDevice));

	/* The ceiling: a 2 GiB device-to-device copy, read + write bytes. */
	CHECK(cudaMalloc(&c0, cbytes));
	CHECK(cudaMalloc(&c1, cbytes));
	CHECK(cudaMemset(c0, 0x5a, cbytes));
	CHECK(cudaEventCreate(&e0));
	CHECK(cudaEventCreate(&e1));
	{
		float t[10], ms;

		for (int i = 0; i < 11; i++) {
			CHECK(cudaEventRecord(e0, st));
			CHECK(cudaMemcpyAsync(c1, c0, cbytes,
					      cudaMemcpyDeviceToDevice, st));
			CHECK(cudaEventRecord(e1, st));
			CHECK(cudaEventSynchronize(e1));
			CHECK(cudaEventElapsedTime(&ms, e0, e1));
			if (i)
				t[i - 1] = ms * 1e3f;
		}
		qsort(t, 10, sizeof(*t), cmp_float);
		copy_us = t[5];
	}
	cudaFree(c0);
	cudaFree(c1);
	printf("# gemv_bench: rows %u, median of %d graph replays; device-to-device copy %.2f TB/s (2 GiB, read + write)\n",
	       b.m, reps, 2.0 * cbytes / copy_us / 1e6);
	printf("| product | n | k | unroll | k-split (0: auto) | us a launch | TB/s |\n|---|---|---|---|---|---|---|\n");
	for (int s = 0; s < S_COUNT; s++) {
		double bytes = 2.0 * shapes[s].n * shapes[s].k;

		for (size_t u = 0; u < 3; u++)
			for (size_t k = 0; k < 5; k++) {
				float us = time_graph(&b, s, unrolls[u], splits[k],
						      reps, st);

				if (us < 0)
					continue;
				us /= shapes[s].layers;
				printf("| %s | %u | %u | %u | %u | %.2f | %.2f |\n",
				       shapes[s].name, shapes[s].n, shapes[s].k,
				       unrolls[u], splits[k], us, bytes / us / 1e6);
			}
	}
	printf("\n| whole step's GEMVs (%.2f GB) | unroll | k-split | ms | TB/s |\n|---|---|---|---|---|\n",
	       wbytes / 1e9);
	for (size_t u = 0; u < 3; u++) {
		float us = time_graph(&b, S_COUNT, unrolls[u], 0, reps, st);

		if (us < best_step)
			best_step = us;
		printf("| %u layers + head | %u | auto | %.3f | %.2f |\n", LAYERS,
		       unrolls[u], us / 1e3, wbytes / us / 1e6);
	}
	{
		float us = time_graph(&b, S_COUNT, 0, 0, reps, st);

		printf("| %u layers + head | auto | auto | %.3f | %.2f |\n",
		       LAYERS, us / 1e3, wbytes / us / 1e6);
	}
	CHECK(cudaDeviceSynchronize());
	return 0;
}
