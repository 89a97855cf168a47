/* SPDX-License-Identifier: MIT */
/*
 * Host backend: the kernels' CPU reference MSA, and an fp32 cache-blocked
 * GEMM standing in for the host's linear layers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calibrate.h"

double cal_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cpu_init(struct cal_ctx *c)
{
	size_t row = (size_t)c->num_q_heads * c->pool.layout.head_dim *
		     ac_dtype_size(c->pool.layout.dtype);

	c->pool.base = calloc(c->pool.num_blocks, c->pool.block_bytes);
	c->q = calloc(c->max_q, row);
	c->out = calloc(c->max_q, row);
	if (!c->pool.base || !c->q || !c->out)
		return -ENOMEM;
	/* Small non-zero values: no denormals, no early-outs on zeros. */
	memset(c->pool.base, 0x3c, c->pool.num_blocks * c->pool.block_bytes);
	memset(c->q, 0x3c, c->max_q * row);
	snprintf(c->device, sizeof(c->device), "host CPU (reference kernels)");
	return 0;
}

static void cpu_fini(struct cal_ctx *c)
{
	free(c->pool.base);
	free(c->q);
	free(c->out);
	free(c->ws);
	c->pool.base = c->q = c->out = c->ws = NULL;
}

static int cpu_attn(struct cal_ctx *c, const struct cal_attn *a, double *ret_s)
{
	const struct ac_msa_batch *b = &a->batch;
	struct ac_msa_plan *plan = NULL;
	double best = 1e30;
	size_t ws;
	int r;

	r = ac_msa_plan_create(AC_MSA_BACKEND_CPU, &c->pool, c->num_q_heads,
			       b, 0, &plan);
	if (r < 0)
		return r;
	ws = ac_msa_plan_workspace_size(plan);
	if (ws > c->ws_size) {
		free(c->ws);
		c->ws = aligned_alloc(64, (ws + 63) / 64 * 64);
		c->ws_size = c->ws ? ws : 0;
		if (!c->ws) {
			r = -ENOMEM;
			goto out;
		}
	}
	r = ac_msa_plan_upload(plan, c->ws, c->ws_size, NULL);
	if (r < 0)
		goto out;
	/* Best of n: the host is shared, the minimum is the machine's speed. */
	for (uint32_t i = 0; i < c->reps; i++) {
		double t0 = cal_now();

		r = ac_msa_run(plan, &c->pool, b, 0, 0.088f, c->q, c->out,
			       c->ws, c->ws_size, NULL);
		if (r < 0)
			goto out;
		if (cal_now() - t0 < best)
			best = cal_now() - t0;
	}
	*ret_s = best;
out:
	ac_msa_plan_free(plan);
	return r;
}

static int cpu_gemm(struct cal_ctx *c, uint32_t m, uint32_t n, uint32_t k,
		    double *ret_s)
{
	float *a = malloc((size_t)m * k * sizeof(float));
	float *b = malloc((size_t)k * n * sizeof(float));
	float *o = malloc((size_t)m * n * sizeof(float));
	double best = 1e30;
	int r = 0;

	if (!a || !b || !o) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < (size_t)m * k; i++)
		a[i] = (float)(i % 7) * 0.1f;
	for (size_t i = 0; i < (size_t)k * n; i++)
		b[i] = (float)(i % 5) * 0.1f;
	for (uint32_t rep = 0; rep < c->reps; rep++) {
		double t0 = cal_now();

		memset(o, 0, (size_t)m * n * sizeof(float));
		/* i-k-j with 64-wide k blocks: streams rows of B. */
		for (uint32_t kb = 0; kb < k; kb += 64)
			for (uint32_t i = 0; i < m; i++)
				for (uint32_t kk = kb; kk < kb + 64 && kk < k; kk++) {
					float x = a[(size_t)i * k + kk];
					const float *brow = b + (size_t)kk * n;
					float *orow = o + (size_t)i * n;

					for (uint32_t j = 0; j < n; j++)
						orow[j] += x * brow[j];
				}
		if (cal_now() - t0 < best)
			best = cal_now() - t0;
	}
	/* Keep the result alive so the loops are not optimised out. */
	if (o[(size_t)m * n - 1] < -1e30f)
		r = -EDOM;
	*ret_s = best;
out:
	free(a);
	free(b);
	free(o);
	return r;
}

static int cpu_copy_bw(struct cal_ctx *c, double *ret_bytes_s)
{
	size_t n = 256u << 20;
	char *a = malloc(n), *b = malloc(n);
	double best = 1e30;

	if (!a || !b) {
		free(a);
		free(b);
		return -ENOMEM;
	}
	memset(a, 1, n);
	memset(b, 2, n);
	for (uint32_t rep = 0; rep < 3; rep++) {
		double t0 = cal_now();

		memcpy(b, a, n);
		if (cal_now() - t0 < best)
			best = cal_now() - t0;
	}
	*ret_bytes_s = best > 0 && b[n - 1] == 1 ? 2.0 * n / best : 0;
	free(a);
	free(b);
	return *ret_bytes_s > 0 ? 0 : -EIO;
}

const struct cal_backend_ops cal_cpu_ops = {
	.name		= "cpu",
	.msa		= AC_MSA_BACKEND_CPU,
	.init		= cpu_init,
	.attn		= cpu_attn,
	.gemm		= cpu_gemm,
	.copy_bw	= cpu_copy_bw,
	.fini		= cpu_fini,
};
