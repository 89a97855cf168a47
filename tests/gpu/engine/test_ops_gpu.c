/* SPDX-License-Identifier: MIT */
/*
 * The CUDA ops against the CPU ops on the same (bf16-rounded) inputs, on
 * random data drawn fresh each run.  Bounds are those of one bf16
 * rounding of an fp32 result, plus the fp32 arithmetic's own error where
 * the two paths sum in different orders.  Every numeric test skips where
 * there is no device; the host-side shape checks run everywhere.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include <criterion/criterion.h>

#include "ops.h"
#include "ops_test.h"

#define BF16_REL 0x1.0p-8	/* one rounding to bf16, with margin */

TestSuite(ops_gpu, .timeout = 300);

static bool gpu_present(void)
{
	int n = 0;

	return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

#define NEED_GPU()						\
	do {							\
		if (!gpu_present())				\
			cr_skip_test("no CUDA device");		\
	} while (0)

#define CUDA_OK(call)							\
	do {								\
		cudaError_t e_ = (call);				\
		cr_assert_eq(e_, cudaSuccess, "%s: %s", #call,		\
			     cudaGetErrorString(e_));			\
	} while (0)

static void *dev_alloc(size_t bytes)
{
	void *p = NULL;

	CUDA_OK(cudaMalloc(&p, bytes ? bytes : 16));
	return p;
}

/* Rounds host[] to bf16 in place (the CPU reference sees what the GPU sees). */
static uint16_t *dev_bf16(float *host, size_t n)
{
	uint16_t *h = ot_alloc(n * sizeof(*h));
	uint16_t *d = dev_alloc(n * sizeof(*d));

	ac_op_f32_to_bf16_cpu(h, host, n);
	ac_op_bf16_to_f32_cpu(host, h, n);
	CUDA_OK(cudaMemcpy(d, h, n * sizeof(*h), cudaMemcpyHostToDevice));
	free(h);
	return d;
}

static void *dev_copy(const void *host, size_t bytes)
{
	void *d = dev_alloc(bytes);

	CUDA_OK(cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice));
	return d;
}

static float *host_from_bf16(const uint16_t *d, size_t n)
{
	uint16_t *h = ot_alloc(n * sizeof(*h));
	float *f = ot_alloc(n * sizeof(*f));

	CUDA_OK(cudaDeviceSynchronize());
	CUDA_OK(cudaMemcpy(h, d, n * sizeof(*h), cudaMemcpyDeviceToHost));
	ac_op_bf16_to_f32_cpu(f, h, n);
	free(h);
	return f;
}

static void expect_close(uint64_t seed, const char *what, const float *got,
			 const float *ref, size_t n, double rel, double abs_tol)
{
	for (size_t i = 0; i < n; i++)
		cr_assert_leq(fabs((double)got[i] - ref[i]),
			      rel * fabs(ref[i]) + abs_tol,
			      "%s seed %#llx at %zu: gpu %.7g cpu %.7g", what,
			      (unsigned long long)seed, i, got[i], ref[i]);
}

Test(ops_gpu, embedding)
{
	const uint32_t dims[] = { 576, 33 };
	uint64_t s, seed = ot_start(&s);

	NEED_GPU();
	for (unsigned c = 0; c < 2; c++) {
		uint32_t vocab = 1000, dim = dims[c], n = 37;
		float *table = ot_floats(&s, (size_t)vocab * dim, -1.0f, 1.0f);
		float *ref = ot_alloc((size_t)n * dim * sizeof(float));
		int32_t ids[37];
		uint16_t *dt, *dout;
		int32_t *dids;
		float *got;

		for (uint32_t t = 0; t < n; t++)
			ids[t] = (int32_t)ot_range(&s, 0, vocab - 1);
		dt = dev_bf16(table, (size_t)vocab * dim);
		cr_assert_eq(ac_op_embedding_cpu(ref, ids, n, table, vocab, dim), 0);
		/* An id out of range gives a zero row on the device. */
		ids[n - 1] = (int32_t)vocab;
		memset(ref + (size_t)(n - 1) * dim, 0, dim * sizeof(float));
		dids = dev_copy(ids, sizeof(ids));
		dout = dev_alloc((size_t)n * dim * 2);
		cr_assert_eq(ac_op_embedding_cuda(dout, dids, n, dt, vocab, dim, NULL), 0);
		got = host_from_bf16(dout, (size_t)n * dim);
		expect_close(seed, "embedding", got, ref, (size_t)n * dim, 0, 0);
		cudaFree(dt);
		cudaFree(dids);
		cudaFree(dout);
		free(table);
		free(ref);
		free(got);
	}
}

Test(ops_gpu, rmsnorm)
{
	const uint32_t dims[] = { 576, 4096, 100, 8 };
	uint64_t s, seed = ot_start(&s);

	NEED_GPU();
	for (unsigned c = 0; c < 4; c++) {
		uint32_t rows = ot_range(&s, 1, 40), dim = dims[c];
		size_t n = (size_t)rows * dim;
		float *x = ot_floats(&s, n, -3.0f, 3.0f);
		float *w = ot_floats(&s, dim, 0.5f, 1.5f);
		float *ref = ot_alloc(n * sizeof(float));
		uint16_t *dx, *dw, *dout;
		float *got;

		dx = dev_bf16(x, n);
		dw = dev_bf16(w, dim);
		dout = dev_alloc(n * 2);
		cr_assert_eq(ac_op_rmsnorm_cpu(ref, x, w, rows, dim, 1e-5f), 0);
		cr_assert_eq(ac_op_rmsnorm_cuda(dout, dx, dw, rows, dim, 1e-5f, NULL), 0);
		got = host_from_bf16(dout, n);
		expect_close(seed, "rmsnorm", got, ref, n, BF16_REL + 1e-5, 1e-6);
		/* In place. */
		cr_assert_eq(ac_op_rmsnorm_cuda(dx, dx, dw, rows, dim, 1e-5f, NULL), 0);
		free(got);
		got = host_from_bf16(dx, n);
		expect_close(seed, "rmsnorm in place", got, ref, n,
			     BF16_REL + 1e-5, 1e-6);
		cudaFree(dx);
		cudaFree(dw);
		cudaFree(dout);
		free(x);
		free(w);
		free(ref);
		free(got);
	}
}

Test(ops_gpu, rope)
{
	uint64_t s, seed = ot_start(&s);
	struct ac_rope_params p = {
		.theta = 500000.0, .llama3 = true, .factor = 8.0,
		.low_freq_factor = 1.0, .high_freq_factor = 4.0,
		.original_max_position = 8192.0,
	};

	NEED_GPU();
	for (int c = 0; c < 3; c++) {
		uint32_t d = c == 0 ? 64 : c == 1 ? 128 : 6;
		uint32_t hq = c == 0 ? 9 : 8, hk = c == 0 ? 3 : 2;
		/* Case 1 reads q and k out of one fused qkv row. */
		uint32_t ld = (hq + 2 * hk) * d;
		uint32_t ld_q = c == 1 ? ld : hq * d, ld_k = c == 1 ? ld : hk * d;
		uint32_t n = ot_range(&s, 1, 50);
		size_t nq = (size_t)n * ld_q, nk = (size_t)n * ld_k;
		float *q = ot_floats(&s, nq, -2.0f, 2.0f);
		float *k = ot_floats(&s, nk, -2.0f, 2.0f);
		float *q0 = ot_alloc(nq * sizeof(float));
		float *k0 = ot_alloc(nk * sizeof(float));
		float inv[AC_ROPE_HEAD_DIM_MAX / 2];
		int32_t *pos = ot_alloc(n * sizeof(int32_t));
		uint16_t *dq, *dk;
		float *dinv, *gq, *gk;
		int32_t *dpos;

		p.llama3 = c != 2;
		cr_assert_eq(ac_rope_inv_freq(inv, d, &p), 0);
		for (uint32_t t = 0; t < n; t++)
			pos[t] = (int32_t)ot_range(&s, 0, 20000);
		dq = dev_bf16(q, nq);
		dk = dev_bf16(k, nk);
		memcpy(q0, q, nq * sizeof(float));
		memcpy(k0, k, nk * sizeof(float));
		dinv = dev_copy(inv, d / 2 * sizeof(float));
		dpos = dev_copy(pos, n * sizeof(int32_t));
		cr_assert_eq(ac_op_rope_cpu(q, ld_q, k, ld_k, pos, n, hq, hk, d, inv), 0);
		cr_assert_eq(ac_op_rope_cuda(dq, ld_q, dk, ld_k, dpos, n, hq, hk, d,
					     dinv, NULL), 0);
		gq = host_from_bf16(dq, nq);
		gk = host_from_bf16(dk, nk);
		/* Same fp32 angle both sides; sincosf vs libm is ~1e-7. */
		for (size_t i = 0; i < nq; i++)
			cr_assert_leq(fabsf(gq[i] - q[i]),
				      BF16_REL * fabsf(q[i]) + 1e-5f * (fabsf(q0[i]) + 2.0f),
				      "rope q seed %#llx at %zu", (unsigned long long)seed, i);
		for (size_t i = 0; i < nk; i++)
			cr_assert_leq(fabsf(gk[i] - k[i]),
				      BF16_REL * fabsf(k[i]) + 1e-5f * (fabsf(k0[i]) + 2.0f),
				      "rope k seed %#llx at %zu", (unsigned long long)seed, i);
		cudaFree(dq);
		cudaFree(dk);
		cudaFree(dinv);
		cudaFree(dpos);
		free(q);
		free(k);
		free(q0);
		free(k0);
		free(pos);
		free(gq);
		free(gk);
	}
}

Test(ops_gpu, swiglu)
{
	uint64_t s, seed = ot_start(&s);

	NEED_GPU();
	for (int c = 0; c < 3; c++) {
		uint32_t rows = ot_range(&s, 1, 33), dim = c == 2 ? 77 : 1536;
		uint32_t ld = c == 1 ? 2 * dim : dim;
		size_t nin = (size_t)rows * ld, nout = (size_t)rows * dim;
		float *g = ot_floats(&s, nin, -8.0f, 8.0f);
		float *u = ot_floats(&s, nin, -2.0f, 2.0f);
		float *ref = ot_alloc(nout * sizeof(float));
		uint16_t *dg, *du, *dout;
		float *got;

		dg = dev_bf16(g, nin);
		du = dev_bf16(u, nin);
		dout = dev_alloc(nout * 2);
		/* Case 1: up sits dim elements into the gate's row. */
		cr_assert_eq(ac_op_swiglu_cpu(ref, g, c == 1 ? g + dim : u, rows,
					      dim, ld), 0);
		cr_assert_eq(ac_op_swiglu_cuda(dout, dg, c == 1 ? dg + dim : du,
					       rows, dim, ld, NULL), 0);
		got = host_from_bf16(dout, nout);
		expect_close(seed, "swiglu", got, ref, nout, BF16_REL + 1e-6, 1e-6);
		cudaFree(dg);
		cudaFree(du);
		cudaFree(dout);
		free(g);
		free(u);
		free(ref);
		free(got);
	}
}

Test(ops_gpu, residual_exact)
{
	uint64_t s, seed = ot_start(&s);

	NEED_GPU();
	/* Aligned and 8-wide, then an odd length off alignment. */
	for (int c = 0; c < 2; c++) {
		size_t n = c ? 1001 : 576 * 9, off = c;
		float *x = ot_floats(&s, n + 1, -10.0f, 10.0f);
		float *y = ot_floats(&s, n + 1, -1.0f, 1.0f);
		uint16_t *dx, *dy, *want = ot_alloc(n * 2), *have = ot_alloc(n * 2);

		dx = dev_bf16(x, n + 1);
		dy = dev_bf16(y, n + 1);
		ac_op_residual_cpu(x + off, y + off, n);
		ac_op_f32_to_bf16_cpu(want, x + off, n);
		cr_assert_eq(ac_op_residual_cuda(dx + off, dy + off, n, NULL), 0);
		CUDA_OK(cudaDeviceSynchronize());
		CUDA_OK(cudaMemcpy(have, dx + off, n * 2, cudaMemcpyDeviceToHost));
		/* fp32 sum, one rounding to bf16: the same bits both ways. */
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(have[i], want[i], "seed %#llx at %zu",
				     (unsigned long long)seed, i);
		cudaFree(dx);
		cudaFree(dy);
		free(x);
		free(y);
		free(want);
		free(have);
	}
}

Test(ops_gpu, matmul)
{
	const uint32_t shapes[][3] = {
		{ 1, 576, 576 }, { 1, 1536, 576 }, { 7, 576, 1536 },
		{ 128, 2048, 576 }, { 5, 24, 40 }, { 300, 49152, 64 },
	};
	struct ac_gemm_cuda *g;
	uint64_t s, seed = ot_start(&s);

	NEED_GPU();
	cr_assert_eq(ac_gemm_cuda_create(&g, 0), 0);
	for (unsigned c = 0; c < sizeof(shapes) / sizeof(shapes[0]); c++) {
		uint32_t m = shapes[c][0], n = shapes[c][1], k = shapes[c][2];
		float *in = ot_floats(&s, (size_t)m * k, -1.0f, 1.0f);
		float *w = ot_floats(&s, (size_t)n * k, -0.1f, 0.1f);
		float *ref = ot_alloc((size_t)m * n * sizeof(float));
		float *mag = ot_alloc((size_t)m * n * sizeof(float));
		uint16_t *din, *dw, *dout;
		float *got;

		din = dev_bf16(in, (size_t)m * k);
		dw = dev_bf16(w, (size_t)n * k);
		dout = dev_alloc((size_t)m * n * 2);
		cr_assert_eq(ac_op_matmul_cpu(ref, in, w, m, n, k), 0);
		for (size_t i = 0; i < (size_t)m * k; i++)
			in[i] = fabsf(in[i]);
		for (size_t i = 0; i < (size_t)n * k; i++)
			w[i] = fabsf(w[i]);
		/* sum |in||w| bounds what reordering the sum can change. */
		cr_assert_eq(ac_op_matmul_cpu(mag, in, w, m, n, k), 0);
		/* Twice: the second call takes the cached plan. */
		for (int rep = 0; rep < 2; rep++) {
			CUDA_OK(cudaMemset(dout, 0xff, (size_t)m * n * 2));
			cr_assert_eq(ac_op_matmul_cuda(g, dout, din, dw, m, n, k, NULL), 0);
			got = host_from_bf16(dout, (size_t)m * n);
			for (size_t i = 0; i < (size_t)m * n; i++)
				cr_assert_leq(fabsf(got[i] - ref[i]),
					      BF16_REL * fabsf(ref[i]) + 1e-5f * mag[i],
					      "matmul %ux%ux%u seed %#llx at %zu: %.6g vs %.6g",
					      m, n, k, (unsigned long long)seed, i,
					      got[i], ref[i]);
			free(got);
		}
		/* Accumulating (beta 1): the product added to the one there. */
		cr_assert_eq(ac_op_matmul_add_cuda(g, dout, din, dw, m, n, k, NULL), 0);
		got = host_from_bf16(dout, (size_t)m * n);
		for (size_t i = 0; i < (size_t)m * n; i++)
			cr_assert_leq(fabsf(got[i] - 2 * ref[i]),
				      3 * BF16_REL * fabsf(ref[i]) + 2e-5f * mag[i],
				      "matmul_add %ux%ux%u seed %#llx at %zu: %.6g vs %.6g",
				      m, n, k, (unsigned long long)seed, i,
				      got[i], 2 * ref[i]);
		free(got);
		cudaFree(din);
		cudaFree(dw);
		cudaFree(dout);
		free(in);
		free(w);
		free(ref);
		free(mag);
	}
	ac_gemm_cuda_destroy(g);
}

Test(ops_gpu, argmax_and_log_softmax)
{
	const uint32_t rows = 4, vocab = 49152;
	uint64_t s, seed = ot_start(&s);
	size_t n = (size_t)rows * vocab;
	int32_t want[4], have[4], *dtok;
	float *l, *ref, *got, *dout;
	uint16_t *dl;

	NEED_GPU();
	l = ot_floats(&s, n, -30.0f, 30.0f);
	ref = ot_alloc(n * sizeof(float));
	got = ot_alloc(n * sizeof(float));
	/* Row 3: a planted tie, the lower index must win. */
	l[3 * (size_t)vocab + 40000] = 64.0f;
	l[3 * (size_t)vocab + 1234] = 64.0f;
	dl = dev_bf16(l, n);
	dtok = dev_alloc(sizeof(have));
	dout = dev_alloc(n * sizeof(float));
	cr_assert_eq(ac_op_argmax_cpu(want, l, rows, vocab), 0);
	cr_assert_eq(want[3], 1234);
	cr_assert_eq(ac_op_argmax_cuda(dtok, dl, rows, vocab, NULL), 0);
	CUDA_OK(cudaDeviceSynchronize());
	CUDA_OK(cudaMemcpy(have, dtok, sizeof(have), cudaMemcpyDeviceToHost));
	for (uint32_t r = 0; r < rows; r++)
		cr_assert_eq(have[r], want[r], "argmax row %u seed %#llx", r,
			     (unsigned long long)seed);

	cr_assert_eq(ac_op_log_softmax_cpu(ref, l, rows, vocab), 0);
	cr_assert_eq(ac_op_log_softmax_cuda(dout, dl, rows, vocab, NULL), 0);
	CUDA_OK(cudaDeviceSynchronize());
	CUDA_OK(cudaMemcpy(got, dout, n * sizeof(float), cudaMemcpyDeviceToHost));
	/* fp32 out, no bf16 rounding: only the sum's order and expf differ. */
	expect_close(seed, "log_softmax", got, ref, n, 1e-5, 2e-5);
	cudaFree(dl);
	cudaFree(dtok);
	cudaFree(dout);
	free(l);
	free(ref);
	free(got);
}

/* These fail in the launcher's own checks, so they run with no device. */
Test(ops_gpu, launchers_reject_bad_shapes)
{
	uint16_t *p = (uint16_t *)(uintptr_t)0x1000;
	int32_t *ip = (int32_t *)(uintptr_t)0x1000;
	float *fp = (float *)(uintptr_t)0x1000;

	cr_assert_eq(ac_op_embedding_cuda(p, ip, 4, p, 10, 0, NULL), -EINVAL);
	cr_assert_eq(ac_op_embedding_cuda(p, NULL, 4, p, 10, 8, NULL), -EINVAL);
	cr_assert_eq(ac_op_rmsnorm_cuda(p, p, p, 4, 0, 1e-5f, NULL), -EINVAL);
	cr_assert_eq(ac_op_rmsnorm_cuda(p, p, p, 4, 8, -1.0f, NULL), -EINVAL);
	cr_assert_eq(ac_op_rope_cuda(p, 64, p, 64, ip, 1, 1, 1, 63, fp, NULL), -EINVAL);
	cr_assert_eq(ac_op_rope_cuda(p, 63, p, 64, ip, 1, 1, 1, 64, fp, NULL), -EINVAL);
	cr_assert_eq(ac_op_rope_cuda(p, 64, p, 64, ip, 1, 1, 1,
				     2 * AC_ROPE_HEAD_DIM_MAX, fp, NULL), -EINVAL);
	cr_assert_eq(ac_op_swiglu_cuda(p, p, p, 2, 8, 7, NULL), -EINVAL);
	cr_assert_eq(ac_op_residual_cuda(NULL, p, 8, NULL), -EINVAL);
	cr_assert_eq(ac_op_argmax_cuda(ip, p, 1, 0, NULL), -EINVAL);
	cr_assert_eq(ac_op_log_softmax_cuda(NULL, p, 1, 8, NULL), -EINVAL);
	cr_assert_eq(ac_op_matmul_cuda(NULL, p, p, p, 1, 1, 8, NULL), -EINVAL);
	/* Empty work is a no-op that touches nothing. */
	cr_assert_eq(ac_op_rmsnorm_cuda(NULL, NULL, NULL, 0, 8, 1e-5f, NULL), 0);
	cr_assert_eq(ac_op_residual_cuda(NULL, NULL, 0, NULL), 0);
}
