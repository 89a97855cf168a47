/* SPDX-License-Identifier: MIT */
/*
 * msa_bench [--out DIR] [--quick]: times the CUDA MSA kernels on one
 * model shape (bf16, 32 query heads, 8 kv heads, head dim 128, 16-token
 * blocks) with CUDA events, median of many runs, rotating layers
 * so repeated runs do not measure the L2.  Prints a table and writes
 * msa_bench.csv and msa_segments.csv under DIR.  Every kernel variant of
 * msa_variants.h is timed beside the default plan, which is what
 * ac_msa_run() runs.
 *
 * Useful work counts 4 * D flops per (query head, visible key) pair: what a
 * causal kernel must do, not what a dense one would.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "msa_internal.h"
#include "msa_variants.h"

#define HQ 32
#define HKV 8
#define HD 128
#define TOK 16

static int iters = 30;

#define CK(x)                                                               \
	do {                                                                \
		cudaError_t e_ = (x);                                       \
		if (e_ != cudaSuccess) {                                    \
			fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, \
				#x, cudaGetErrorString(e_));                \
			exit(1);                                            \
		}                                                           \
	} while (0)

#define CKR(x)                                                              \
	do {                                                                \
		int r_ = (x);                                               \
		if (r_) {                                                   \
			fprintf(stderr, "%s:%d %s: %d\n", __FILE__, __LINE__, \
				#x, r_);                                    \
			exit(1);                                            \
		}                                                           \
	} while (0)

struct seg {
	int32_t seq, pos, len;
};

/* One benchmark problem on the device. */
struct prob {
	uint32_t nseq, nseg, layers, total_q;
	int32_t *h_indptr, *h_seq, *h_pos, *h_tind, *h_blk, *h_ctx;
	int32_t *d_arr;
	struct ac_msa_batch hb, db;
	struct ac_kv_pool pool;
	void *q, *out, *k, *v;
	double flops;		/* useful, per layer call */
	double kv_bytes;	/* K and V bytes visible, per call */
};

static uint64_t rng = 0x12345678abcdefull;

static uint16_t rand_bf16(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	/* Magnitudes 2^-3..2^0, random sign and mantissa: never zero. */
	return (uint16_t)((rng & 1) << 15 | (124 + (rng >> 1) % 4) << 7 |
			  ((rng >> 8) & 0x7f));
}

/* Random bf16 over @bytes of device memory: 64 MB drawn, then replicated. */
static void fill_dev(void *dst, size_t bytes)
{
	size_t chunk = bytes < (64u << 20) ? bytes : (64u << 20), off;
	uint16_t *h = malloc(chunk);

	for (size_t i = 0; i < chunk / 2; i++)
		h[i] = rand_bf16();
	CK(cudaMemcpy(dst, h, chunk, cudaMemcpyHostToDevice));
	for (off = chunk; off < bytes; off += chunk)
		CK(cudaMemcpy((char *)dst + off, dst,
			      bytes - off < chunk ? bytes - off : chunk,
			      cudaMemcpyDeviceToDevice));
	free(h);
}

static void prob_init(struct prob *p, uint32_t nseq, const int32_t *ctx,
		      const struct seg *segs, uint32_t nseg, uint32_t layers)
{
	struct ac_kv_layout lay = { layers, HKV, HD, TOK, AC_DTYPE_BF16 };
	uint32_t nblk = 0, i;
	size_t qb, kvb;

	memset(p, 0, sizeof(*p));
	p->nseq = nseq;
	p->nseg = nseg;
	p->layers = layers;
	p->h_indptr = calloc(nseg + 1, 4);
	p->h_seq = calloc(nseg, 4);
	p->h_pos = calloc(nseg, 4);
	p->h_tind = calloc(nseq + 1, 4);
	p->h_ctx = calloc(nseq, 4);
	for (i = 0; i < nseq; i++) {
		p->h_ctx[i] = ctx[i];
		p->h_tind[i + 1] = p->h_tind[i] + (ctx[i] + TOK - 1) / TOK;
		p->kv_bytes += (double)ctx[i] * HKV * HD * 2 * 2;
	}
	nblk = (uint32_t)p->h_tind[nseq];
	p->h_blk = calloc(nblk, 4);
	/* Scattered blocks, as a pool in use has them: a stride walk. */
	for (i = 0; i < nblk; i++)
		p->h_blk[i] = (int32_t)(((uint64_t)i * 7919) % nblk);
	if (nblk % 7919 == 0)
		for (i = 0; i < nblk; i++)
			p->h_blk[i] = (int32_t)i;
	for (i = 0; i < nseg; i++) {
		p->h_seq[i] = segs[i].seq;
		p->h_pos[i] = segs[i].pos;
		p->h_indptr[i + 1] = p->h_indptr[i] + segs[i].len;
		for (int32_t t = 0; t < segs[i].len; t++)
			p->flops += 4.0 * HD * HQ * (segs[i].pos + t + 1);
	}
	p->total_q = (uint32_t)p->h_indptr[nseg];
	p->hb = (struct ac_msa_batch){ nseg, nseq, p->h_indptr, p->h_seq,
				       p->h_pos, p->h_tind, p->h_blk,
				       p->h_ctx };
	CK(cudaMalloc((void **)&p->d_arr,
		      (3 * nseg + 1 + 2 * nseq + 1 + nblk) * 4));
	{
		int32_t *a = p->d_arr;

		p->db = p->hb;
#define UP(field, src, n)                                                    \
	do {                                                                 \
		CK(cudaMemcpy(a, src, (size_t)(n) * 4,                       \
			      cudaMemcpyHostToDevice));                      \
		p->db.field = a;                                             \
		a += (n);                                                    \
	} while (0)
		UP(seg_indptr, p->h_indptr, nseg + 1);
		UP(seg_seq, p->h_seq, nseg);
		UP(seg_pos, p->h_pos, nseg);
		UP(table_indptr, p->h_tind, nseq + 1);
		UP(ctx_len, p->h_ctx, nseq);
		UP(block_ids, p->h_blk, nblk);
#undef UP
	}
	p->pool.layout = lay;
	p->pool.block_bytes = ac_kv_block_bytes(&lay);
	p->pool.num_blocks = nblk;
	CK(cudaMalloc(&p->pool.base, (size_t)nblk * p->pool.block_bytes));
	fill_dev(p->pool.base, (size_t)nblk * p->pool.block_bytes);
	qb = (size_t)p->total_q * HQ * HD * 2;
	kvb = (size_t)p->total_q * HKV * HD * 2;
	CK(cudaMalloc(&p->q, qb));
	CK(cudaMalloc(&p->out, qb));
	CK(cudaMalloc(&p->k, kvb));
	CK(cudaMalloc(&p->v, kvb));
	fill_dev(p->q, qb);
	fill_dev(p->k, kvb);
	fill_dev(p->v, kvb);
}

static void prob_free(struct prob *p)
{
	cudaFree(p->d_arr);
	cudaFree(p->pool.base);
	cudaFree(p->q);
	cudaFree(p->out);
	cudaFree(p->k);
	cudaFree(p->v);
	free(p->h_indptr);
	free(p->h_seq);
	free(p->h_pos);
	free(p->h_tind);
	free(p->h_blk);
	free(p->h_ctx);
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return x < y ? -1 : x > y;
}

/* One layer's attention on big variant @big and small variant @small. */
static int run_variant(uint32_t big, uint32_t small,
		       const struct ac_msa_plan *plan, struct prob *p,
		       uint32_t layer, void *ws, size_t wsz)
{
	return msa_variant_run(big, small, plan, &p->pool, &p->db, layer,
			       0.0883883f, p->q, p->out, ws, wsz, NULL);
}

/*
 * Median milliseconds of one layer's attention on variants @big and
 * @small, planned with @tune and the variant's knobs.
 */
static double time_attn(struct prob *p, uint32_t big, uint32_t small,
			const struct msa_tuning *tune,
			struct ac_msa_plan **ret_plan)
{
	struct msa_tuning t = *tune;
	struct ac_msa_plan *plan;
	cudaEvent_t e0, e1;
	float *ms = calloc(iters, sizeof(float));
	void *ws;
	size_t wsz;
	double med;

	CKR(msa_variant_tuning(big, &t));
	CKR(msa_plan_create(AC_MSA_BACKEND_CUDA, &p->pool, HQ, &p->hb, 0,
			    &t, &plan));
	wsz = ac_msa_plan_workspace_size(plan);
	CK(cudaMalloc(&ws, wsz ? wsz : 16));
	CKR(ac_msa_plan_upload(plan, ws, wsz, NULL));
	for (uint32_t l = 0; l < p->layers; l++)
		CKR(ac_kv_write(plan, &p->pool, &p->db, l, p->k, p->v, NULL));
	CK(cudaEventCreate(&e0));
	CK(cudaEventCreate(&e1));
	for (int i = 0; i < 3; i++)
		CKR(run_variant(big, small, plan, p, i % p->layers, ws, wsz));
	for (int i = 0; i < iters; i++) {
		CK(cudaEventRecord(e0, NULL));
		CKR(run_variant(big, small, plan, p, i % p->layers, ws, wsz));
		CK(cudaEventRecord(e1, NULL));
		CK(cudaEventSynchronize(e1));
		CK(cudaEventElapsedTime(&ms[i], e0, e1));
	}
	/* Last run on layer 0, so variants can be compared output to output. */
	CKR(run_variant(big, small, plan, p, 0, ws, wsz));
	CK(cudaDeviceSynchronize());
	qsort(ms, iters, sizeof(float), cmp_float);
	med = ms[iters / 2];
	CK(cudaEventDestroy(e0));
	CK(cudaEventDestroy(e1));
	CK(cudaFree(ws));
	free(ms);
	if (ret_plan)
		*ret_plan = plan;
	else
		ac_msa_plan_free(plan);
	return med;
}

static double time_kv_write(struct prob *p)
{
	struct ac_msa_plan *plan;
	cudaEvent_t e0, e1;
	float *ms = calloc(iters, sizeof(float));
	double med;

	CKR(ac_msa_plan_create(AC_MSA_BACKEND_CUDA, &p->pool, HQ, &p->hb, 0,
			       &plan));
	CK(cudaEventCreate(&e0));
	CK(cudaEventCreate(&e1));
	CKR(ac_kv_write(plan, &p->pool, &p->db, 0, p->k, p->v, NULL));
	for (int i = 0; i < iters; i++) {
		CK(cudaEventRecord(e0, NULL));
		CKR(ac_kv_write(plan, &p->pool, &p->db, i % p->layers, p->k,
				p->v, NULL));
		CK(cudaEventRecord(e1, NULL));
		CK(cudaEventSynchronize(e1));
		CK(cudaEventElapsedTime(&ms[i], e0, e1));
	}
	qsort(ms, iters, sizeof(float), cmp_float);
	med = ms[iters / 2];
	cudaEventDestroy(e0);
	cudaEventDestroy(e1);
	free(ms);
	ac_msa_plan_free(plan);
	return med;
}

static float bf16f(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;

	memcpy(&f, &u, 4);
	return f;
}

/* ||a - b|| / ||b|| of two bf16 device tensors; NaN anywhere gives NaN. */
static double rel_diff(const void *a, const void *b, size_t n)
{
	uint16_t *ha = malloc(n * 2), *hb = malloc(n * 2);
	double num = 0, den = 0;

	CK(cudaMemcpy(ha, a, n * 2, cudaMemcpyDeviceToHost));
	CK(cudaMemcpy(hb, b, n * 2, cudaMemcpyDeviceToHost));
	for (size_t i = 0; i < n; i++) {
		double x = bf16f(ha[i]), y = bf16f(hb[i]);

		num += (x - y) * (x - y);
		den += y * y;
	}
	free(ha);
	free(hb);
	return sqrt(num / den);
}

static FILE *csv;

static void report(const char *scen, const char *var, double ms,
		   const struct prob *p, const struct ac_msa_plan *plan)
{
	double tf = p->flops / (ms * 1e-3) / 1e12;
	double tb = p->kv_bytes / (ms * 1e-3) / 1e12;

	printf("%-28s %-22s %9.3f ms %8.1f TFLOP/s %6.2f TB/s  ctas=%u+%u+%u merges=%u\n",
	       scen, var, ms, tf, tb, plan ? plan->n_big : 0,
	       plan ? plan->n_mid : 0,
	       plan ? plan->n_small : 0, plan ? plan->n_merge : 0);
	fprintf(csv, "%s,%s,%.4f,%.2f,%.3f,%.0f,%.0f\n", scen, var, ms, tf, tb,
		p->flops, p->kv_bytes);
	fflush(stdout);
	fflush(csv);
}

/*
 * Every big-tile variant on @p, named with " wgmma" where the Hopper kernel
 * ran; with @ref, each output is compared with variant 1's.
 */
static void bench_big_variants(const char *scen, struct prob *p, void *ref)
{
	size_t n = (size_t)p->total_q * HQ * HD;

	for (uint32_t v = 1; v <= MSA_BENCH_BIG_VARIANTS; v++) {
		struct ac_msa_plan *plan;
		char name[32];
		double ms;

		ms = time_attn(p, v, MSA_BENCH_SMALL_DEFAULT, &msa_tuning_default,
			       &plan);
		snprintf(name, sizeof(name), "big v%u%s", v,
			 msa_cuda_use_hopper(plan, &p->pool, p->q) ? " wgmma" : "");
		report(scen, name, ms, p, plan);
		ac_msa_plan_free(plan);
		if (!ref)
			continue;
		if (v == 1)
			CK(cudaMemcpy(ref, p->out, n * 2,
				      cudaMemcpyDeviceToDevice));
		else
			printf("  v%u vs v1 rel diff %.2e\n", v,
			       rel_diff(p->out, ref, n));
	}
}

static void bench_multiseg(void)
{
	/* Four holes of 512 and a 2,048-token tail over a 16k context. */
	static const struct seg segs[] = {
		{ 0, 1024, 512 }, { 0, 4096, 512 }, { 0, 8192, 512 },
		{ 0, 11264, 512 }, { 0, 14336, 2048 },
	};
	int32_t ctx = 16384;
	struct prob p;
	void *ref;

	prob_init(&p, 1, &ctx, segs, 5, 4);
	CK(cudaMalloc(&ref, (size_t)p.total_q * HQ * HD * 2));
	bench_big_variants("multiseg_4x512+2048@16k", &p, ref);
	printf("  kv_write of %u tokens: %.3f ms\n", p.total_q,
	       time_kv_write(&p));
	CK(cudaFree(ref));
	prob_free(&p);
}

static void bench_causal16k(void)
{
	struct seg s = { 0, 0, 16384 };
	int32_t ctx = 16384;
	struct prob p;

	prob_init(&p, 1, &ctx, &s, 1, 2);
	bench_big_variants("causal_prefill_16k", &p, NULL);
	prob_free(&p);
}

static void bench_decode(uint32_t batch, int32_t ctxlen)
{
	struct seg *segs = calloc(batch, sizeof(*segs));
	int32_t *ctx = calloc(batch, 4);
	struct msa_tuning nosplit = msa_tuning_default;
	struct ac_msa_plan *plan;
	struct prob p;
	char name[64];
	void *ref;
	size_t n;
	double ms;

	for (uint32_t i = 0; i < batch; i++) {
		ctx[i] = ctxlen;
		segs[i] = (struct seg){ (int32_t)i, ctxlen - 1, 1 };
	}
	prob_init(&p, batch, ctx, segs, batch, 1);
	n = (size_t)p.total_q * HQ * HD;
	CK(cudaMalloc(&ref, n * 2));
	snprintf(name, sizeof(name), "decode_b%u_ctx%d", batch, ctxlen);
	nosplit.no_split = 1;
	ms = time_attn(&p, MSA_BENCH_BIG_DEFAULT, MSA_BENCH_SMALL_DEFAULT,
		       &nosplit, &plan);
	report(name, "default, no split", ms, &p, plan);
	ac_msa_plan_free(plan);
	CK(cudaMemcpy(ref, p.out, n * 2, cudaMemcpyDeviceToDevice));
	for (uint32_t v = 1; v <= MSA_BENCH_SMALL_VARIANTS; v++) {
		char var[32];

		ms = time_attn(&p, MSA_BENCH_BIG_DEFAULT, v, &msa_tuning_default,
			       &plan);
		snprintf(var, sizeof(var), "small v%u split", v);
		report(name, var, ms, &p, plan);
		ac_msa_plan_free(plan);
		printf("  v%u split vs no split rel diff %.2e\n", v,
		       rel_diff(p.out, ref, n));
	}
	CK(cudaFree(ref));
	prob_free(&p);
	free(segs);
	free(ctx);
}

/*
 * Fixed work: 4,096 query tokens cut into n = 4096 / L segments of L, gaps
 * of L between them, centred so that the mean position stays 12,288 - L/2:
 * the useful work is 4096 * 12288 * 4 * D * HQ flops (to within L/2 rows)
 * for every L, and only the number of segments changes.
 */
static void bench_segments(FILE *seg_csv)
{
	static const int lens[] = { 16, 32, 64, 128, 256, 512, 1024, 2048,
				    4096 };
	int32_t ctx = 16384;

	fprintf(seg_csv, "seg_len,num_segs,ms,useful_tflops,useful_gflop\n");
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		int L = lens[i], n = 4096 / L;
		struct seg *segs = calloc(n, sizeof(*segs));
		struct ac_msa_plan *plan;
		struct prob p;
		char name[64];
		double ms;

		for (int s = 0; s < n; s++)
			segs[s] = (struct seg){ 0, 12288 - L / 2 + (2 * s - n + 1) * L, L };
		prob_init(&p, 1, &ctx, segs, (uint32_t)n, 4);
		ms = time_attn(&p, MSA_BENCH_BIG_DEFAULT, MSA_BENCH_SMALL_DEFAULT,
			       &msa_tuning_default, &plan);
		snprintf(name, sizeof(name), "segments_%dx%d", n, L);
		report(name, msa_cuda_use_hopper(plan, &p.pool, p.q) ?
			     "default plan, wgmma" : "default plan", ms, &p, plan);
		fprintf(seg_csv, "%d,%d,%.4f,%.2f,%.3f\n", L, n, ms,
			p.flops / (ms * 1e-3) / 1e12, p.flops / 1e9);
		fflush(seg_csv);
		ac_msa_plan_free(plan);
		prob_free(&p);
		free(segs);
	}
}

static void bench_copy(void)
{
	size_t bytes = (size_t)2 << 30;
	void *a, *b;
	cudaEvent_t e0, e1;
	float ms[10];

	CK(cudaMalloc(&a, bytes));
	CK(cudaMalloc(&b, bytes));
	CK(cudaMemset(a, 1, bytes));
	CK(cudaEventCreate(&e0));
	CK(cudaEventCreate(&e1));
	for (int i = 0; i < 10; i++) {
		CK(cudaEventRecord(e0, NULL));
		CK(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));
		CK(cudaEventRecord(e1, NULL));
		CK(cudaEventSynchronize(e1));
		CK(cudaEventElapsedTime(&ms[i], e0, e1));
	}
	qsort(ms, 10, sizeof(float), cmp_float);
	printf("%-28s %-22s %9.3f ms %17s %6.2f TB/s (read+write)\n",
	       "hbm_copy_2GiB", "cudaMemcpy D2D", ms[5], "",
	       2.0 * bytes / (ms[5] * 1e-3) / 1e12);
	fprintf(csv, "hbm_copy_2GiB,cudaMemcpy,%.4f,0,%.3f,0,%.0f\n", ms[5],
		2.0 * bytes / (ms[5] * 1e-3) / 1e12, 2.0 * bytes);
	cudaEventDestroy(e0);
	cudaEventDestroy(e1);
	cudaFree(a);
	cudaFree(b);
}

int main(int argc, char **argv)
{
	const char *dir = ".";
	char path[512];
	struct cudaDeviceProp prop;
	FILE *seg_csv;
	bool quick = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--out") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--quick"))
			quick = true;
	}
	if (quick)
		iters = 5;
	CK(cudaGetDeviceProperties(&prop, 0));
	printf("device: %s, %d SMs, %.0f MB L2\n", prop.name,
	       prop.multiProcessorCount, prop.l2CacheSize / 1e6);
	snprintf(path, sizeof(path), "%s/msa_bench.csv", dir);
	csv = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/msa_segments.csv", dir);
	seg_csv = fopen(path, "w");
	if (!csv || !seg_csv) {
		perror("csv");
		return 1;
	}
	fprintf(csv, "scenario,variant,ms,useful_tflops,kv_tbps,useful_flop,kv_bytes\n");
	bench_copy();
	bench_multiseg();
	bench_decode(64, 8192);
	/* Batches too small to fill the GPU: what the split is for. */
	bench_decode(8, 32768);
	bench_decode(1, 2048);
	bench_causal16k();
	if (!quick)
		bench_segments(seg_csv);
	fclose(csv);
	fclose(seg_csv);
	return 0;
}
