/* SPDX-License-Identifier: MIT */
/*
 * The CUDA backend against the float64 reference: random layouts drawn
 * fresh every run, outputs poisoned (NaN) before each run, every element
 * compared, the pool checked byte for byte after the KV write.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "msa_gpu_check.h"
#include "msa_internal.h"
#include "msa_testlib.h"

bool msa_gpu_present(void)
{
	int n = 0;

	return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

struct gpu_case {
	const char *name;
	struct msa_case_opts o;
	bool mma;		/* the mma.sync kernels even on Hopper (force_mma) */
	uint32_t sm_count;	/* 0: the device's */
	uint32_t min_split;	/* 0: the default */
	bool small;		/* also run under compute-sanitizer */
};

#define BF AC_DTYPE_BF16
#define FP AC_DTYPE_FP16
#define MMA true	/* the fallback kernels, forced */
#define DEF false	/* the kernels ac_msa_run() picks */

static const struct gpu_case cases[] = {
	{ "mma small-mixed bf16 D128 G4 T16", { BF, 128, 16, 2, 4, 2, 3, 1, 300, 5, 40, 1.0f }, MMA, 4, 64, true },
	{ "mma small-mixed fp16 D64 G8 T8", { FP, 64, 8, 1, 8, 1, 2, 1, 200, 6, 3, 4.0f }, MMA, 2, 64, true },
	{ "mma many-segs bf16 D128 G4 T16", { BF, 128, 16, 2, 4, 2, 3, 1, 3000, 12, 80, 1.0f }, MMA, 0, 0, false },
	{ "mma one-token fp16 D64 G8 T8", { FP, 64, 8, 2, 8, 2, 4, 1, 2000, 16, 1, 4.0f }, MMA, 0, 0, false },
	{ "mma gqa1 bf16 D64 T32", { BF, 64, 32, 4, 1, 2, 2, 1, 1500, 6, 200, 1.0f }, MMA, 0, 0, false },
	{ "mma gqa3 fp16 D128 T64", { FP, 128, 64, 2, 3, 1, 3, 1, 2500, 5, 90, 2.0f }, MMA, 0, 0, false },
	{ "mma gqa8 bf16 D128 ctx32k", { BF, 128, 16, 1, 8, 2, 1, 30000, 32768, 3, 40, 1.0f }, MMA, 0, 0, false },
	{ "mma gqa4 fp16 D128 ctx16k", { FP, 128, 16, 1, 4, 1, 2, 8000, 16384, 3, 100, 1.0f }, MMA, 0, 0, false },
	{ "mma decode bf16 D128 G4 batch32", { BF, 128, 16, 2, 4, 1, 32, 1, 4096, 1, 1, 2.0f }, MMA, 0, 0, false },
	{ "mma forced-split bf16 D64 G2", { BF, 64, 16, 2, 2, 2, 2, 2000, 4000, 4, 64, 8.0f }, MMA, 4, 64, false },
	{ "mma rows128 bf16 D64 G4 T16", { BF, 64, 16, 2, 4, 2, 3, 1, 2000, 8, 150, 1.0f }, MMA, 0, 0, false },
	{ "mma tiny-ctx bf16 D64 G8", { BF, 64, 16, 2, 8, 1, 6, 1, 40, 4, 8, 1.0f }, MMA, 0, 0, false },
	{ "mma long-segs fp16 D128 G2 T8", { FP, 128, 8, 2, 2, 2, 2, 1, 1200, 3, 300, 1.0f }, MMA, 0, 0, false },
	{ "mma gqa4 bf16 D64 T64", { BF, 64, 64, 4, 4, 1, 3, 1, 3000, 8, 50, 2.0f }, MMA, 0, 0, false },
	/* The default kernels: wgmma on Hopper, mma.sync elsewhere. */
	{ "wgmma small-mixed bf16 D128 G4", { BF, 128, 16, 2, 4, 2, 3, 1, 400, 5, 200, 1.0f }, DEF, 4, 64, true },
	{ "wgmma small-mixed fp16 D64 G2", { FP, 64, 16, 2, 2, 1, 3, 1, 500, 4, 300, 1.0f }, DEF, 4, 64, true },
	{ "wgmma many-segs bf16 D128 G4 T16", { BF, 128, 16, 2, 4, 2, 3, 1, 3000, 12, 80, 1.0f }, DEF, 0, 0, false },
	{ "wgmma long-segs fp16 D64 G8 T8", { FP, 64, 8, 1, 8, 1, 2, 1, 2000, 6, 300, 2.0f }, DEF, 0, 0, false },
	{ "wgmma gqa1 bf16 D128 T32", { BF, 128, 32, 4, 1, 2, 2, 1, 4000, 4, 600, 1.0f }, DEF, 0, 0, false },
	{ "wgmma gqa2 fp16 D128 T64", { FP, 128, 64, 2, 2, 1, 3, 1, 2500, 5, 400, 2.0f }, DEF, 0, 0, false },
	{ "wgmma bf16 D64 G4 T32", { BF, 64, 32, 2, 4, 2, 2, 1, 3000, 5, 500, 1.0f }, DEF, 0, 0, false },
	{ "wgmma long-segs bf16 D128 G4 T16", { BF, 128, 16, 2, 4, 1, 3, 1, 5000, 6, 700, 1.0f }, DEF, 0, 0, false },
	{ "wgmma gqa8 bf16 D128 ctx32k", { BF, 128, 16, 1, 8, 2, 1, 30000, 32768, 3, 300, 1.0f }, DEF, 0, 0, false },
	{ "wgmma forced-split bf16 D64 G4", { BF, 64, 16, 2, 4, 2, 2, 2000, 4000, 4, 200, 8.0f }, DEF, 4, 64, false },
	{ "wgmma short-holes bf16 D128 G4 T16", { BF, 128, 16, 2, 4, 2, 3, 1, 3000, 16, 16, 1.0f }, DEF, 0, 0, false },
	{ "wgmma short-holes fp16 D64 G8 T64", { FP, 64, 64, 2, 8, 1, 3, 1, 2500, 16, 8, 2.0f }, DEF, 0, 0, false },
	{ "wgmma short-holes bf16 D64 G2 T8 split", { BF, 64, 8, 2, 2, 2, 2, 2000, 4000, 12, 32, 1.0f }, DEF, 4, 64, true },
	{ "wgmma gqa3 fp16 D128", { FP, 128, 16, 2, 3, 1, 2, 1, 2000, 5, 150, 1.0f }, DEF, 0, 0, false },
	/* SmolLM2's shape: head dim 64, 3 query heads a KV head, 126-row tiles. */
	{ "wgmma gqa3 bf16 D64 T16", { BF, 64, 16, 3, 3, 2, 3, 1, 3000, 6, 400, 1.0f }, DEF, 0, 0, true },
	{ "wgmma gqa3 bf16 D64 T16 split", { BF, 64, 16, 3, 3, 1, 2, 2000, 4000, 8, 100, 2.0f }, DEF, 4, 64, false },
	{ "mma gqa3 bf16 D64 T16", { BF, 64, 16, 3, 3, 2, 3, 1, 3000, 6, 400, 1.0f }, MMA, 0, 0, false },
};

static double tol_for(enum ac_dtype dt)
{
	/* P and the output are rounded to 8 (bf16) or 11 (fp16) bits. */
	return dt == AC_DTYPE_BF16 ? 1.2e-2 : 2.5e-3;
}

struct dev_buf {
	void *pool, *q, *k, *v, *out, *ws;
	int32_t *arr;
};

static void dev_free(struct dev_buf *d)
{
	cudaFree(d->pool);
	cudaFree(d->q);
	cudaFree(d->k);
	cudaFree(d->v);
	cudaFree(d->out);
	cudaFree(d->ws);
	cudaFree(d->arr);
	memset(d, 0, sizeof(*d));
}

/* One index array of the batch: its host copy and its device pointer. */
struct batch_array {
	const int32_t **dst;
	const int32_t *src;
	size_t n;
};

#define BATCH_ARRAYS	6

/*
 * The index arrays of @c's batch, with @db's pointers as their device
 * destinations; returns their total element count.
 */
static size_t batch_arrays(struct ac_msa_batch *db, const struct msa_case *c,
			   struct batch_array a[BATCH_ARRAYS])
{
	size_t nsegs = c->batch.num_segs, nseqs = c->batch.num_seqs, n = 0;

	a[0] = (struct batch_array){ &db->seg_indptr, c->seg_indptr, nsegs + 1 };
	a[1] = (struct batch_array){ &db->seg_seq, c->seg_seq, nsegs };
	a[2] = (struct batch_array){ &db->seg_pos, c->seg_pos, nsegs };
	a[3] = (struct batch_array){ &db->table_indptr, c->table_indptr,
				     nseqs + 1 };
	a[4] = (struct batch_array){ &db->ctx_len, c->ctx_len, nseqs };
	a[5] = (struct batch_array){ &db->block_ids, c->block_ids,
				     c->table_len };
	for (int i = 0; i < BATCH_ARRAYS; i++)
		n += a[i].n;
	return n;
}

#define CK(x)                                                  \
	do {                                                   \
		cudaError_t e_ = (x);                          \
		if (e_ != cudaSuccess) {                       \
			fprintf(log, "  %s: %s\n", #x,         \
				cudaGetErrorString(e_));       \
			ret = -EIO;                            \
			goto out;                              \
		}                                              \
	} while (0)

/* 0 pass, 1 fail, negative errno on a setup error. */
static int run_one(FILE *log, const struct gpu_case *gc, uint64_t seed)
{
	struct msa_tuning tune = msa_tuning_default;
	struct msa_case c;
	struct dev_buf d = { 0 };
	struct ac_msa_plan *plan = NULL;
	struct ac_kv_pool dpool;
	struct ac_msa_batch db;
	void *host_out = NULL, *host_pool = NULL;
	struct batch_array arrs[BATCH_ARRAYS];
	size_t qb, kvb, narr, ws, i;
	int32_t *a;
	double err = -1.0, max_abs = 0.0;
	int ret, bad_pool = -1;
	bool hopper = false;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = msa_case_random(&c, seed, &gc->o);
	if (ret)
		return ret;
	tune.force_mma = gc->mma;
	if (gc->min_split)
		tune.min_split_keys = gc->min_split;
	qb = msa_case_q_bytes(&c);
	kvb = msa_case_kv_bytes(&c);
	db = c.batch;
	narr = batch_arrays(&db, &c, arrs);

	CK(cudaMalloc(&d.pool, c.pool_bytes));
	CK(cudaMalloc(&d.q, qb + 16));
	CK(cudaMalloc(&d.k, kvb + 16));
	CK(cudaMalloc(&d.v, kvb + 16));
	CK(cudaMalloc(&d.out, qb + 16));
	CK(cudaMalloc((void **)&d.arr, (narr + 1) * 4));
	CK(cudaMemcpy(d.pool, c.pool_init, c.pool_bytes,
		      cudaMemcpyHostToDevice));
	CK(cudaMemcpy(d.q, c.q, qb, cudaMemcpyHostToDevice));
	CK(cudaMemcpy(d.k, c.k, kvb, cudaMemcpyHostToDevice));
	CK(cudaMemcpy(d.v, c.v, kvb, cudaMemcpyHostToDevice));
	/* 0xff bytes are NaN in bf16 and fp16: unwritten output fails. */
	CK(cudaMemset(d.out, 0xff, qb + 16));

	a = d.arr;
	for (i = 0; i < BATCH_ARRAYS; i++) {
		*arrs[i].dst = a;
		CK(cudaMemcpy(a, arrs[i].src, arrs[i].n * 4,
			      cudaMemcpyHostToDevice));
		a += arrs[i].n;
	}
	dpool = c.pool;
	dpool.base = d.pool;

	ret = msa_plan_create(AC_MSA_BACKEND_CUDA, &c.pool, c.num_q_heads,
			      &c.batch, gc->sm_count, &tune, &plan);
	if (ret) {
		fprintf(log, "  plan: %d\n", ret);
		goto out;
	}
	ws = ac_msa_plan_workspace_size(plan);
	CK(cudaMalloc(&d.ws, ws ? ws : 16));
	CK(cudaMemset(d.ws, 0xff, ws ? ws : 16));
	hopper = msa_cuda_use_hopper(plan, &dpool, d.q);
	/*
	 * A forced mma.sync case never takes the wgmma kernel.  On an H200
	 * the device scripts set AC_EXPECT_WGMMA=1: every other case must
	 * then have taken it, a group that does not divide 128 too, so a
	 * silent fallback cannot pass for a wgmma result.
	 */
	if ((gc->mma && hopper) ||
	    (!gc->mma && getenv("AC_EXPECT_WGMMA") && !hopper)) {
		fprintf(log, "  wgmma kernel %s, expected otherwise\n",
			hopper ? "taken" : "not taken");
		ret = 1;
		goto out;
	}
	ret = ac_msa_plan_upload(plan, d.ws, ws, NULL);
	if (!ret)
		ret = ac_kv_write(plan, &dpool, &db, c.layer, d.k, d.v, NULL);
	if (!ret)
		ret = ac_msa_run(plan, &dpool, &db, c.layer, c.scale, d.q,
				 d.out, d.ws, ws, NULL);
	if (ret) {
		fprintf(log, "  call: %d\n", ret);
		goto out;
	}
	CK(cudaDeviceSynchronize());

	host_out = malloc(qb);
	host_pool = malloc(c.pool_bytes);
	if (!host_out || !host_pool) {
		ret = -ENOMEM;
		goto out;
	}
	CK(cudaMemcpy(host_out, d.out, qb, cudaMemcpyDeviceToHost));
	CK(cudaMemcpy(host_pool, d.pool, c.pool_bytes,
		      cudaMemcpyDeviceToHost));
	bad_pool = msa_case_check_pool(&c, host_pool);
	err = msa_case_check(&c, host_out, &max_abs);
	ret = (bad_pool == 0 && err >= 0.0 && err < tol_for(gc->o.dtype)) ?
		      0 : 1;
out:
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(log,
		"%-4s %-38s %-8s seed=%#018llx segs=%u seqs=%u rows=%u big=%u mid=%u small=%u merge=%u "
		"relerr=%.3e maxabs=%.3e pool_bad=%d (%.1fs)\n",
		ret == 0 ? "PASS" : "FAIL", gc->name,
		hopper ? "wgmma" : "mma.sync",
		(unsigned long long)seed,
		c.batch.num_segs, c.batch.num_seqs, c.total_q,
		plan ? plan->n_big : 0, plan ? plan->n_mid : 0, plan ? plan->n_small : 0,
		plan ? plan->n_merge : 0, err, max_abs, bad_pool,
		(double)(t1.tv_sec - t0.tv_sec) +
			(t1.tv_nsec - t0.tv_nsec) * 1e-9);
	fflush(log);
	free(host_out);
	free(host_pool);
	ac_msa_plan_free(plan);
	dev_free(&d);
	msa_case_free(&c);
	return ret;
}

int msa_gpu_check_all(FILE *log, bool small, uint64_t seed)
{
	/* AC_MSA_CASES=text runs only the cases whose name contains it. */
	const char *only = getenv("AC_MSA_CASES");
	int failed = 0;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret;

		if (small && !cases[i].small)
			continue;
		if (only && !strstr(cases[i].name, only))
			continue;
		ret = run_one(log, &cases[i], seed + i * 0x1000193ull);
		if (ret < 0)
			return ret;
		failed += ret;
	}
	return failed;
}
