/* SPDX-License-Identifier: MIT */
/*
 * The GPU linear layer on cuBLASLt: bf16 operands, fp32 accumulation and
 * scale, bf16 result.  Descriptors and the heuristic's algorithm are kept
 * per shape, since a forward pass asks for the same few shapes thousands
 * of times and the heuristic query costs more than a small GEMM.
 *
 * cuBLASLt is column-major.  Row-major out[m][n] is, read column-major,
 * the n x m matrix out^T = W * in^T, where W[n][k] read column-major is
 * the k x n matrix W^T (so op(A) = T) and in[m][k] is the k x m in^T.
 */
#include <errno.h>
#include <stdlib.h>

/* cublasLt.h declares one function without a prototype. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <cublasLt.h>
#pragma GCC diagnostic pop
#include <cuda_runtime_api.h>

#include "ops.h"

#define GEMM_PLANS		32
#define GEMM_WORKSPACE_DEFAULT	(32u << 20)
#define GEMM_ALIGN		16u

struct gemm_plan {
	bool used;
	uint32_t m, n, k;
	cublasLtMatmulDesc_t desc;
	cublasLtMatrixLayout_t a, b, c;
	cublasLtMatmulAlgo_t algo;
};

struct ac_gemm_cuda {
	cublasLtHandle_t lt;
	void *workspace;
	size_t workspace_bytes;
	unsigned next_evict;
	struct gemm_plan plans[GEMM_PLANS];
};

static int lt_errno(cublasStatus_t st)
{
	switch (st) {
	case CUBLAS_STATUS_SUCCESS:
		return 0;
	case CUBLAS_STATUS_ALLOC_FAILED:
		return -ENOMEM;
	case CUBLAS_STATUS_INVALID_VALUE:
		return -EINVAL;
	case CUBLAS_STATUS_NOT_SUPPORTED:
	case CUBLAS_STATUS_ARCH_MISMATCH:
		return -EOPNOTSUPP;
	case CUBLAS_STATUS_NOT_INITIALIZED:
		return -ENODEV;
	default:
		return -EIO;
	}
}

static void plan_release(struct gemm_plan *p)
{
	if (p->c)
		cublasLtMatrixLayoutDestroy(p->c);
	if (p->b)
		cublasLtMatrixLayoutDestroy(p->b);
	if (p->a)
		cublasLtMatrixLayoutDestroy(p->a);
	if (p->desc)
		cublasLtMatmulDescDestroy(p->desc);
	*p = (struct gemm_plan){ 0 };
}

/* A, B, C and D: every operand of the GEMM. */
static const cublasLtMatmulPreferenceAttributes_t align_attrs[4] = {
	CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
	CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
	CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
	CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
};

static int plan_build(struct ac_gemm_cuda *g, struct gemm_plan *p,
		      uint32_t m, uint32_t n, uint32_t k)
{
	cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
	cublasLtMatmulPreference_t pref = NULL;
	cublasLtMatmulHeuristicResult_t res;
	uint64_t ws = g->workspace_bytes;
	uint32_t align = GEMM_ALIGN;
	int found = 0;
	cublasStatus_t st;

	*p = (struct gemm_plan){ .m = m, .n = n, .k = k };
	st = cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
	if (st == CUBLAS_STATUS_SUCCESS)
		st = cublasLtMatmulDescSetAttribute(p->desc,
			CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta));
	if (st == CUBLAS_STATUS_SUCCESS)
		st = cublasLtMatmulDescSetAttribute(p->desc,
			CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb));
	if (st == CUBLAS_STATUS_SUCCESS)
		st = cublasLtMatrixLayoutCreate(&p->a, CUDA_R_16BF, k, n, k);
	if (st == CUBLAS_STATUS_SUCCESS)
		st = cublasLtMatrixLayoutCreate(&p->b, CUDA_R_16BF, k, m, k);
	if (st == CUBLAS_STATUS_SUCCESS)
		st = cublasLtMatrixLayoutCreate(&p->c, CUDA_R_16BF, n, m, n);
	if (st == CUBLAS_STATUS_SUCCESS)
		st = cublasLtMatmulPreferenceCreate(&pref);
	if (st == CUBLAS_STATUS_SUCCESS)
		st = cublasLtMatmulPreferenceSetAttribute(pref,
			CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
	/*
	 * The heuristic assumes 256-byte aligned pointers unless told; the
	 * launcher guarantees 16, which views into larger buffers keep.
	 */
	for (unsigned i = 0; i < 4 && st == CUBLAS_STATUS_SUCCESS; i++)
		st = cublasLtMatmulPreferenceSetAttribute(pref, align_attrs[i],
							  &align, sizeof(align));
	if (st == CUBLAS_STATUS_SUCCESS)
		st = cublasLtMatmulAlgoGetHeuristic(g->lt, p->desc, p->a, p->b,
						    p->c, p->c, pref, 1, &res,
						    &found);
	if (pref)
		cublasLtMatmulPreferenceDestroy(pref);
	if (st == CUBLAS_STATUS_SUCCESS && found < 1)
		st = CUBLAS_STATUS_NOT_SUPPORTED;
	if (st != CUBLAS_STATUS_SUCCESS) {
		plan_release(p);
		return lt_errno(st);
	}
	p->algo = res.algo;
	p->used = true;
	return 0;
}

/* The plan for (m, n, k): cached, else built in a free or evicted slot. */
static int plan_get(struct ac_gemm_cuda *g, uint32_t m, uint32_t n,
		    uint32_t k, struct gemm_plan **out)
{
	struct gemm_plan *slot = NULL;
	int ret;

	for (unsigned i = 0; i < GEMM_PLANS; i++) {
		struct gemm_plan *p = &g->plans[i];

		if (p->used && p->m == m && p->n == n && p->k == k) {
			*out = p;
			return 0;
		}
		if (!p->used && !slot)
			slot = p;
	}
	if (!slot) {
		slot = &g->plans[g->next_evict];
		g->next_evict = (g->next_evict + 1) % GEMM_PLANS;
		plan_release(slot);
	}
	ret = plan_build(g, slot, m, n, k);
	if (ret)
		return ret;
	*out = slot;
	return 0;
}

int ac_gemm_cuda_create(struct ac_gemm_cuda **out, size_t workspace_bytes)
{
	struct ac_gemm_cuda *g;
	cudaError_t cerr;
	int ret;

	if (!out)
		return -EINVAL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->workspace_bytes = workspace_bytes ? workspace_bytes :
					       GEMM_WORKSPACE_DEFAULT;
	ret = lt_errno(cublasLtCreate(&g->lt));
	if (ret)
		goto err_free;
	cerr = cudaMalloc(&g->workspace, g->workspace_bytes);
	if (cerr != cudaSuccess) {
		ret = ac_op_cuda_errno(cerr);
		goto err_lt;
	}
	*out = g;
	return 0;

err_lt:
	cublasLtDestroy(g->lt);
err_free:
	free(g);
	return ret;
}

void ac_gemm_cuda_destroy(struct ac_gemm_cuda *g)
{
	if (!g)
		return;
	for (unsigned i = 0; i < GEMM_PLANS; i++)
		plan_release(&g->plans[i]);
	cudaFree(g->workspace);
	cublasLtDestroy(g->lt);
	free(g);
}

static bool aligned(const void *p)
{
	return ((uintptr_t)p & (GEMM_ALIGN - 1)) == 0;
}

static int matmul(struct ac_gemm_cuda *g, uint16_t *out, const uint16_t *in,
		  const uint16_t *w, uint32_t m, uint32_t n, uint32_t k,
		  float beta, void *stream)
{
	const float alpha = 1.0f;
	struct gemm_plan *p;
	cublasStatus_t st;
	int ret;

	if (!g || m > INT32_MAX || n > INT32_MAX || k > INT32_MAX)
		return -EINVAL;
	if (!m || !n)
		return 0;
	if (!out || !aligned(out))
		return -EINVAL;
	if (!k)
		return beta != 0.0f ? 0 : ac_op_cuda_errno(cudaMemsetAsync(out, 0,
			(size_t)m * n * sizeof(*out), (cudaStream_t)stream));
	if (!in || !w || !aligned(in) || !aligned(w))
		return -EINVAL;
	ret = plan_get(g, m, n, k, &p);
	if (ret)
		return ret;
	/* C and D are both out: with beta 1 the epilogue adds what is there. */
	st = cublasLtMatmul(g->lt, p->desc, &alpha, w, p->a, in, p->b, &beta,
			    out, p->c, out, p->c, &p->algo, g->workspace,
			    g->workspace_bytes, (cudaStream_t)stream);
	return lt_errno(st);
}

int ac_op_matmul_cuda(struct ac_gemm_cuda *g, uint16_t *out,
		      const uint16_t *in, const uint16_t *w, uint32_t m,
		      uint32_t n, uint32_t k, void *stream)
{
	return matmul(g, out, in, w, m, n, k, 0.0f, stream);
}

int ac_op_matmul_add_cuda(struct ac_gemm_cuda *g, uint16_t *out,
			  const uint16_t *in, const uint16_t *w, uint32_t m,
			  uint32_t n, uint32_t k, void *stream)
{
	return matmul(g, out, in, w, m, n, k, 1.0f, stream);
}
