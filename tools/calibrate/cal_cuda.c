/* SPDX-License-Identifier: MIT */
/*
 * CUDA backend: the MSA kernels on a device pool, cuBLAS bf16 GEMMs of the
 * layout's shapes (cuBLAS is dlopen()ed, so the tool still runs, with the
 * GEMM rate left to the anchors, where only the driver is installed), and
 * device-to-device copies for HBM bandwidth.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "calibrate.h"

struct cuda_priv {
	cudaEvent_t ev[2];
	void *lib;
	cublasHandle_t h;
	__typeof__(cublasCreate_v2) *create;
	__typeof__(cublasDestroy_v2) *destroy;
	__typeof__(cublasGemmEx) *gemm;
	void *ga, *gb, *gc;
	size_t gsize[3];
	int gemm_status;	/* last cuBLAS failure, for the report */
};

bool cal_cuda_present(void)
{
	int n = 0;

	return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

/* The last CUDA error, for the tool's message (library code stays quiet). */
static const char *last_cuda_error = "none";

const char *cal_cuda_last_error(void)
{
	return last_cuda_error;
}

static int cuda_err(cudaError_t e)
{
	if (e == cudaSuccess)
		return 0;
	last_cuda_error = cudaGetErrorString(e);
	if (e == cudaErrorMemoryAllocation)
		return -ENOMEM;
	if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver)
		return -ENODEV;
	return -EIO;
}

static int cuda_init(struct cal_ctx *c)
{
	size_t row = (size_t)c->num_q_heads * c->pool.layout.head_dim *
		     ac_dtype_size(c->pool.layout.dtype);
	struct cudaDeviceProp prop;
	struct cuda_priv *p;
	int n = 0, r;

	if (cudaGetDeviceCount(&n) != cudaSuccess || n < 1)
		return -ENODEV;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	c->priv = p;
	r = cuda_err(cudaGetDeviceProperties(&prop, 0));
	if (r < 0)
		return r;
	snprintf(c->device, sizeof(c->device), "%.63s", prop.name);
	r = cuda_err(cudaMalloc(&c->pool.base,
				c->pool.num_blocks * c->pool.block_bytes));
	if (!r)
		r = cuda_err(cudaMalloc(&c->q, c->max_q * row));
	if (!r)
		r = cuda_err(cudaMalloc(&c->out, c->max_q * row));
	if (!r)
		r = cuda_err(cudaMemset(c->pool.base, 0x3c,
					c->pool.num_blocks * c->pool.block_bytes));
	if (!r)
		r = cuda_err(cudaMemset(c->q, 0x3c, c->max_q * row));
	if (!r)
		r = cuda_err(cudaEventCreate(&p->ev[0]));
	if (!r)
		r = cuda_err(cudaEventCreate(&p->ev[1]));
	if (r < 0)
		return r;
	p->lib = dlopen("libcublas.so.13", RTLD_NOW | RTLD_LOCAL);
	if (!p->lib)
		p->lib = dlopen("libcublas.so", RTLD_NOW | RTLD_LOCAL);
	if (p->lib) {
		p->create = (__typeof__(p->create))dlsym(p->lib, "cublasCreate_v2");
		p->destroy = (__typeof__(p->destroy))dlsym(p->lib, "cublasDestroy_v2");
		p->gemm = (__typeof__(p->gemm))dlsym(p->lib, "cublasGemmEx");
		if (!p->create || !p->destroy || !p->gemm ||
		    p->create(&p->h) != CUBLAS_STATUS_SUCCESS) {
			dlclose(p->lib);
			p->lib = NULL;
		}
	}
	return 0;
}

static void cuda_fini(struct cal_ctx *c)
{
	struct cuda_priv *p = c->priv;

	cudaFree(c->pool.base);
	cudaFree(c->q);
	cudaFree(c->out);
	cudaFree(c->ws);
	c->pool.base = c->q = c->out = c->ws = NULL;
	if (!p)
		return;
	cudaFree(p->ga);
	cudaFree(p->gb);
	cudaFree(p->gc);
	if (p->lib) {
		p->destroy(p->h);
		dlclose(p->lib);
	}
	if (p->ev[0])
		cudaEventDestroy(p->ev[0]);
	if (p->ev[1])
		cudaEventDestroy(p->ev[1]);
	free(p);
	c->priv = NULL;
}

/* Milliseconds since ev[0], once the work queued before it has run. */
static int timer_stop(struct cuda_priv *p, float *ret_ms)
{
	int r = cuda_err(cudaEventRecord(p->ev[1], NULL));

	if (!r)
		r = cuda_err(cudaEventSynchronize(p->ev[1]));
	if (!r)
		r = cuda_err(cudaEventElapsedTime(ret_ms, p->ev[0], p->ev[1]));
	return r;
}

static int to_dev(int32_t **dst, const int32_t *src, size_t n)
{
	int r = cuda_err(cudaMalloc((void **)dst, (n ? n : 1) * sizeof(*src)));

	if (!r && n)
		r = cuda_err(cudaMemcpy(*dst, src, n * sizeof(*src),
					cudaMemcpyHostToDevice));
	return r;
}

/* @p, an index array in @a->idx, at the same offset in @dev. */
static const int32_t *on_dev(const struct cal_attn *a, int32_t *dev,
			     const int32_t *p)
{
	return dev + (p - a->idx);
}

/* Mean of @reps timed runs after one warm-up; 0 or -errno. */
static int cuda_attn(struct cal_ctx *c, const struct cal_attn *a, double *ret_s)
{
	struct cuda_priv *p = c->priv;
	struct ac_msa_batch db = a->batch;
	struct ac_msa_plan *plan = NULL;
	int32_t *d = NULL;
	size_t ws;
	float ms = 0;
	int r;

	r = ac_msa_plan_create(AC_MSA_BACKEND_CUDA, &c->pool, c->num_q_heads,
			       &a->batch, 0, &plan);
	if (r < 0)
		return r;
	r = to_dev(&d, a->idx, a->idx_len);
	if (r < 0)
		goto out;
	db.seg_indptr = on_dev(a, d, db.seg_indptr);
	db.seg_seq = on_dev(a, d, db.seg_seq);
	db.seg_pos = on_dev(a, d, db.seg_pos);
	db.table_indptr = on_dev(a, d, db.table_indptr);
	db.block_ids = on_dev(a, d, db.block_ids);
	db.ctx_len = on_dev(a, d, db.ctx_len);
	ws = ac_msa_plan_workspace_size(plan);
	if (ws > c->ws_size) {
		cudaFree(c->ws);
		c->ws = NULL;
		c->ws_size = 0;
		r = cuda_err(cudaMalloc(&c->ws, ws));
		if (r < 0)
			goto out;
		c->ws_size = ws;
	}
	r = ac_msa_plan_upload(plan, c->ws, c->ws_size, NULL);
	if (!r)
		r = ac_msa_run(plan, &c->pool, &db, 0, 0.088f, c->q, c->out,
			       c->ws, c->ws_size, NULL);
	if (r < 0)
		goto out;
	r = cuda_err(cudaEventRecord(p->ev[0], NULL));
	for (uint32_t i = 0; !r && i < c->reps; i++)
		r = ac_msa_run(plan, &c->pool, &db, 0, 0.088f, c->q, c->out,
			       c->ws, c->ws_size, NULL);
	if (!r)
		r = timer_stop(p, &ms);
	/* Faults of these runs surface here, not in a later measurement. */
	if (!r)
		r = cuda_err(cudaDeviceSynchronize());
	if (!r)
		*ret_s = ms / 1e3 / c->reps;
out:
	cudaFree(d);
	ac_msa_plan_free(plan);
	return r;
}

/*
 * Random bf16 in [-1, 1): constant or zero operands let the tensor cores
 * run faster than on real weights (about 894 vs 788 TFLOP/s on an H200).
 */
static int fill_random_bf16(void *dst, size_t bytes)
{
	size_t n = bytes / 2;
	uint16_t *h = malloc(n * sizeof(*h));
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int r;

	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		union { float f; uint32_t u; } v;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v.f = (float)((double)(x >> 11) * 0x1p-53 * 2 - 1);
		h[i] = (uint16_t)(v.u >> 16);
	}
	r = cuda_err(cudaMemcpy(dst, h, n * sizeof(*h), cudaMemcpyHostToDevice));
	free(h);
	return r;
}

static int cuda_gemm(struct cal_ctx *c, uint32_t m, uint32_t n, uint32_t k,
		     double *ret_s)
{
	struct cuda_priv *p = c->priv;
	size_t sz[3] = { (size_t)m * k * 2, (size_t)k * n * 2, (size_t)m * n * 2 };
	void **buf[3] = { &p->ga, &p->gb, &p->gc };
	float alpha = 1, beta = 0, ms = 0;
	int r = 0;

	if (!p->lib)
		return -ENOSYS;
	/* A fault left by an earlier kernel must not be blamed on cuBLAS. */
	r = cuda_err(cudaDeviceSynchronize());
	if (r < 0)
		return r;
	/* Each operand sized on its own: shapes differ from call to call. */
	for (int i = 0; i < 3; i++) {
		if (sz[i] <= p->gsize[i])
			continue;
		cudaFree(*buf[i]);
		*buf[i] = NULL;
		p->gsize[i] = 0;
		r = cuda_err(cudaMalloc(buf[i], sz[i]));
		if (r < 0)
			return r;
		r = fill_random_bf16(*buf[i], sz[i]);
		if (r < 0)
			return r;
		p->gsize[i] = sz[i];
	}
	/* Column-major: C^T[n][m] = B^T A^T, the same work. */
	for (uint32_t i = 0; i <= c->reps; i++) {
		cublasStatus_t st;

		if (i == 1)
			cudaEventRecord(p->ev[0], NULL);
		st = p->gemm(p->h, CUBLAS_OP_N, CUBLAS_OP_N, (int)n, (int)m, (int)k,
			     &alpha, p->gb, CUDA_R_16BF, (int)n, p->ga, CUDA_R_16BF,
			     (int)k, &beta, p->gc, CUDA_R_16BF, (int)n,
			     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
		if (st != CUBLAS_STATUS_SUCCESS) {
			/* Reported to the caller as "not measured". */
			p->gemm_status = (int)st;
			return -ENOSYS;
		}
	}
	r = timer_stop(p, &ms);
	if (!r)
		*ret_s = ms / 1e3 / c->reps;
	return r;
}

static int cuda_copy_bw(struct cal_ctx *c, double *ret_bytes_s)
{
	struct cuda_priv *p = c->priv;
	size_t n = 1ull << 31;
	void *a = NULL, *b = NULL;
	float ms = 0;
	int r;

	r = cuda_err(cudaMalloc(&a, n));
	if (!r)
		r = cuda_err(cudaMalloc(&b, n));
	if (!r)
		r = cuda_err(cudaMemcpy(b, a, n, cudaMemcpyDeviceToDevice));
	if (!r)
		r = cuda_err(cudaEventRecord(p->ev[0], NULL));
	for (int i = 0; !r && i < 5; i++)
		r = cuda_err(cudaMemcpyAsync(b, a, n, cudaMemcpyDeviceToDevice,
					     NULL));
	if (!r)
		r = timer_stop(p, &ms);
	if (!r)
		*ret_bytes_s = 2.0 * n * 5 / (ms / 1e3);
	cudaFree(a);
	cudaFree(b);
	return r;
}

int cal_cuda_gemm_status(const struct cal_ctx *c)
{
	const struct cuda_priv *p = c->priv;

	return p ? p->gemm_status : 0;
}

const struct cal_backend_ops cal_cuda_ops = {
	.name		= "cuda",
	.msa		= AC_MSA_BACKEND_CUDA,
	.init		= cuda_init,
	.attn		= cuda_attn,
	.gemm		= cuda_gemm,
	.copy_bw	= cuda_copy_bw,
	.fini		= cuda_fini,
};
