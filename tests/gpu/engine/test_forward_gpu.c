/* SPDX-License-Identifier: MIT */
/*
 * The forward pass on the CUDA backend (bf16, cuBLASLt, MSA's CUDA kernels
 * on a device pool) against the CPU backend (fp32) on the same seeded
 * weights, and against itself: holes recomputed beside cached blocks and
 * decode steps must give the logits of a one-segment prefill.
 */
#include <criterion/criterion.h>
#include <cuda_runtime_api.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <asymcache/asymcache.h>

#include "../ops/ops.h"
#include "forward.h"

#define T 16
#define NBLOCKS 64
#define N 200			/* prompt tokens: 13 blocks, the last partial */
#define NB ((N + T - 1) / T)

struct side {
	struct ac_model *m;
	struct ac_kv_pool pool;
	bool cuda;
};

/* head_dim 64 and GQA 3, as SmolLM2; CUDA MSA takes head_dim 64 or 128. */
static const struct ac_model_config cfg = {
	.name = "gpu-test", .arch = "llama",
	.n_layers = 3, .hidden = 384, .ffn = 768,
	.n_heads = 6, .n_kv_heads = 2, .head_dim = 64,
	.vocab = 1000, .max_ctx = 4096,
	.rms_eps = 1e-5f, .rope_theta = 10000.0f,
};

static bool have_device(void)
{
	int n = 0;

	return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

static void side_init(struct side *s, const struct ac_weights *w, bool cuda)
{
	char err[256] = "";
	struct ac_kv_layout lay;
	size_t bytes;

	s->cuda = cuda;
	cr_assert_eq(ac_model_create(w, cuda ? AC_FWD_CUDA : AC_FWD_CPU, 512,
				     &s->m, err, sizeof(err)), 0, "%s", err);
	ac_model_kv_layout(s->m, T, &lay);
	bytes = NBLOCKS * ac_kv_block_bytes(&lay);
	s->pool = (struct ac_kv_pool){ .layout = lay, .num_blocks = NBLOCKS,
				       .block_bytes = ac_kv_block_bytes(&lay) };
	/* NaN everywhere: a read of KV nobody wrote poisons the logits. */
	if (cuda) {
		cr_assert_eq(cudaMalloc(&s->pool.base, bytes), cudaSuccess);
		cr_assert_eq(cudaMemset(s->pool.base, 0xff, bytes), cudaSuccess);
	} else {
		s->pool.base = malloc(bytes);
		cr_assert_not_null(s->pool.base);
		memset(s->pool.base, 0xff, bytes);
	}
}

static void side_fini(struct side *s)
{
	ac_model_free(s->m);
	if (s->cuda)
		cudaFree(s->pool.base);
	else
		free(s->pool.base);
}

static void evict(struct side *s, uint32_t block)
{
	char *p = (char *)s->pool.base + (size_t)block * s->pool.block_bytes;

	if (s->cuda)
		cr_assert_eq(cudaMemset(p, 0xff, s->pool.block_bytes),
			     cudaSuccess);
	else
		memset(p, 0xff, s->pool.block_bytes);
}

/* Forward @runs; logits of every computed row into @logits. */
static void run(struct side *s, const uint32_t *table, uint32_t ctx,
		const struct ac_run *runs, size_t nruns, const int32_t *tokens,
		float *logits, uint32_t *ret_rows)
{
	struct ac_batch b = { 0 };
	struct ac_msa_batch mb;
	int32_t tok[N];
	uint32_t rows[N];

	cr_assert_eq(ac_batch_add(&b, table, NB, ctx, T, runs, nruns), 0);
	for (uint32_t i = 0; i < b.num_rows; i++) {
		tok[i] = tokens[b.row_pos[i]];
		rows[i] = i;
	}
	ac_model_batch_view(&b, &mb);
	/* The logits buffer holds 256 rows at most: ask for the last ones. */
	uint32_t n = b.num_rows < 256 ? b.num_rows : 256;
	cr_assert_eq(ac_model_forward(s->m, &s->pool, &mb, tok, b.row_pos,
				      rows + (b.num_rows - n), n, logits), 0);
	*ret_rows = n;
	ac_batch_free(&b);
}

/* ||a - b|| / ||b|| over @n values, every value finite. */
static double rel_l2(const float *a, const float *b, size_t n)
{
	double d = 0, s = 0;

	for (size_t i = 0; i < n; i++) {
		cr_assert(isfinite(a[i]) && isfinite(b[i]), "value %zu", i);
		d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
		s += (double)b[i] * b[i];
	}
	return sqrt(d / s);
}

static struct ac_weights *weights(void)
{
	char err[256] = "";
	struct ac_weights *w;

	cr_assert_eq(ac_weights_random(&cfg, 99, AC_DTYPE_FP32, &w, err,
				       sizeof(err)), 0, "%s", err);
	return w;
}

Test(forward_gpu, cuda_matches_cpu_and_holes_match_a_full_prefill)
{
	uint32_t table[NB], nr;
	int32_t tokens[N];
	float *cpu, *gpu, *holes;
	struct side c, g;
	struct ac_weights *w;
	size_t V = cfg.vocab;

	if (!have_device())
		cr_skip_test("no CUDA device");
	w = weights();
	side_init(&c, w, false);
	side_init(&g, w, true);
	srand(5);
	for (int i = 0; i < N; i++)
		tokens[i] = rand() % (int)V;
	for (int i = 0; i < NB; i++)
		table[i] = 3 + 4 * i;
	cpu = malloc(sizeof(float) * N * V);
	gpu = malloc(sizeof(float) * N * V);
	holes = malloc(sizeof(float) * N * V);

	run(&c, table, N, &(struct ac_run){ 0, N }, 1, tokens, cpu, &nr);
	run(&g, table, N, &(struct ac_run){ 0, N }, 1, tokens, gpu, &nr);
	cr_assert_eq(nr, N);
	/* bf16 weights and activations against fp32: within bf16 bounds. */
	double e = rel_l2(gpu, cpu, (size_t)N * V);
	cr_log_info("cuda vs cpu: relative L2 %.3e over %u rows", e, nr);
	cr_expect_lt(e, 3e-2);

	/* Blocks 2, 3 and 7 evicted, recomputed as two holes + the tail. */
	evict(&g, table[2]);
	evict(&g, table[3]);
	evict(&g, table[7]);
	const struct ac_run runs[] = { { 32, 32 }, { 112, 16 }, { 192, 8 } };
	run(&g, table, N, runs, 3, tokens, holes, &nr);
	cr_assert_eq(nr, 56);
	/*
	 * Recomputed rows match the prefill's to bf16 noise (measured on the
	 * H200: exactly, 0.0); a hole that read evicted (NaN) or stale
	 * blocks, or raced its own K/V writes, would be off by far more.
	 */
	double worst = 0;

	for (uint32_t r = 0; r < nr; r++) {
		uint32_t p = r < 32 ? 32 + r : r < 48 ? 80 + r : 144 + r;
		double d = rel_l2(holes + r * V, gpu + (size_t)p * V, V);
		double dc = rel_l2(holes + r * V, cpu + (size_t)p * V, V);

		worst = d > worst ? d : worst;
		cr_expect_lt(d, 1e-2, "row at position %u: %.3e", p, d);
		cr_expect_lt(dc, 3e-2, "row at position %u against the CPU: %.3e",
			     p, dc);
	}
	cr_log_info("holes vs prefill: relative L2 up to %.3e", worst);
	free(cpu);
	free(gpu);
	free(holes);
	side_fini(&c);
	side_fini(&g);
	ac_weights_free(w);
}

Test(forward_gpu, decode_steps_match_the_prefill_rows)
{
	uint32_t table[NB], t2[NB], nr;
	int32_t tokens[N];
	float *full, *step, *scratch;
	struct side g;
	struct ac_weights *w;
	size_t V = cfg.vocab;

	if (!have_device())
		cr_skip_test("no CUDA device");
	w = weights();
	side_init(&g, w, true);
	for (int i = 0; i < N; i++)
		tokens[i] = (i * 131 + 7) % (int)V;
	for (int i = 0; i < NB; i++) {
		table[i] = i;
		t2[i] = 32 + i;
	}
	full = malloc(sizeof(float) * N * V);
	step = malloc(sizeof(float) * V);
	scratch = malloc(sizeof(float) * N * V);
	run(&g, table, N, &(struct ac_run){ 0, N }, 1, tokens, full, &nr);
	run(&g, t2, 190, &(struct ac_run){ 0, 190 }, 1, tokens, scratch, &nr);
	for (uint32_t p = 190; p < N; p++) {
		run(&g, t2, p + 1, &(struct ac_run){ p, 1 }, 1, tokens, step,
		    &nr);
		double d = rel_l2(step, full + (size_t)p * V, V);

		/*
		 * A one-row GEMM rounds its bf16 outputs (and so the K/V it
		 * writes) differently from a 200-row one: bf16 bounds, the
		 * same as the CUDA-against-CPU check (measured on the H200:
		 * 1.0e-2 to 1.25e-2).
		 */
		cr_expect_lt(d, 3e-2, "position %u: %.3e", p, d);
	}
	free(full);
	free(step);
	free(scratch);
	side_fini(&g);
	ac_weights_free(w);
}

/* The few-row GEMV against the CPU GEMM, plain and accumulating. */
Test(forward_gpu, gemv_matches_the_cpu_matmul)
{
	const uint32_t n = 1000, k = 4104;
	uint16_t *hw, *hx, *hout, *dw, *dx, *dout;
	float *w, *x, *ref;

	if (!have_device())
		cr_skip_test("no CUDA device");
	w = malloc(sizeof(float) * n * k);
	x = malloc(sizeof(float) * 4 * k);
	ref = malloc(sizeof(float) * 4 * n);
	hw = malloc(2 * (size_t)n * k);
	hx = malloc(2 * 4 * k);
	hout = malloc(2 * 4 * n);
	srand(77);
	for (size_t i = 0; i < (size_t)n * k; i++)
		w[i] = ac_bf16_to_f32(ac_f32_to_bf16((rand() / (float)RAND_MAX - 0.5f) / 32));
	for (size_t i = 0; i < 4 * k; i++)
		x[i] = ac_bf16_to_f32(ac_f32_to_bf16(rand() / (float)RAND_MAX - 0.5f));
	ac_op_f32_to_bf16_cpu(hw, w, (size_t)n * k);
	ac_op_f32_to_bf16_cpu(hx, x, 4 * k);
	cr_assert_eq(cudaMalloc((void **)&dw, 2 * (size_t)n * k), cudaSuccess);
	cr_assert_eq(cudaMalloc((void **)&dx, 2 * 4 * k), cudaSuccess);
	cr_assert_eq(cudaMalloc((void **)&dout, 2 * 4 * n), cudaSuccess);
	cudaMemcpy(dw, hw, 2 * (size_t)n * k, cudaMemcpyHostToDevice);
	cudaMemcpy(dx, hx, 2 * 4 * k, cudaMemcpyHostToDevice);
	for (uint32_t m = 1; m <= AC_GEMV_MAX_ROWS; m++) {
		float *got = malloc(sizeof(float) * m * n);

		cr_assert_eq(ac_op_matmul_cpu(ref, x, w, m, n, k), 0);
		cudaMemset(dout, 0xff, 2 * 4 * n);
		cr_assert_eq(ac_op_gemv_cuda(dout, dx, dw, m, n, k, false, NULL), 0);
		cudaMemcpy(hout, dout, 2 * m * n, cudaMemcpyDeviceToHost);
		ac_op_bf16_to_f32_cpu(got, hout, (size_t)m * n);
		cr_expect_lt(rel_l2(got, ref, (size_t)m * n), 8e-3, "m=%u", m);
		/* Accumulating onto what is there: twice the product. */
		cr_assert_eq(ac_op_gemv_cuda(dout, dx, dw, m, n, k, true, NULL), 0);
		cudaMemcpy(hout, dout, 2 * m * n, cudaMemcpyDeviceToHost);
		ac_op_bf16_to_f32_cpu(got, hout, (size_t)m * n);
		for (size_t i = 0; i < (size_t)m * n; i++)
			ref[i] *= 2;
		cr_expect_lt(rel_l2(got, ref, (size_t)m * n), 8e-3, "m=%u +=", m);
		free(got);
	}
	cr_expect_eq(ac_op_gemv_cuda(dout, dx, dw, 5, n, k, false, NULL), -EINVAL);
	cr_expect_eq(ac_op_gemv_cuda(dout, dx, dw, 1, n, k - 4, false, NULL), -EINVAL);
	cudaFree(dw);
	cudaFree(dx);
	cudaFree(dout);
	free(w);
	free(x);
	free(ref);
	free(hw);
	free(hx);
	free(hout);
}

static uint16_t *to_dev(const float *x, size_t n)
{
	uint16_t *h = malloc(2 * n), *d = NULL;

	ac_op_f32_to_bf16_cpu(h, x, n);
	cr_assert_eq(cudaMalloc((void **)&d, 2 * n), cudaSuccess);
	cr_assert_eq(cudaMemcpy(d, h, 2 * n, cudaMemcpyHostToDevice),
		     cudaSuccess);
	free(h);
	return d;
}

static void from_dev(float *x, const uint16_t *d, size_t n)
{
	uint16_t *h = malloc(2 * n);

	cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
	cr_assert_eq(cudaMemcpy(h, d, 2 * n, cudaMemcpyDeviceToHost),
		     cudaSuccess);
	ac_op_bf16_to_f32_cpu(x, h, n);
	free(h);
}

/* Random values already on the bf16 grid, so both sides see the same. */
static float *bf16_floats(size_t n, float scale)
{
	float *x = malloc(sizeof(float) * n);

	for (size_t i = 0; i < n; i++)
		x[i] = ac_bf16_to_f32(ac_f32_to_bf16(
			(rand() / (float)RAND_MAX - 0.5f) * scale));
	return x;
}

/* x rounded to bf16 in place, as the GPU holds an intermediate. */
static void round_bf16(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = ac_bf16_to_f32(ac_f32_to_bf16(x[i]));
}

/*
 * The fused decode GEMVs against the CPU ops they replace: RMSNorm, the
 * q|k|v product scattered over three outputs, RoPE on q and k (SmolLM2's
 * shape: head dim 64, 9 and 3 heads, k = 576, which no unroll divides);
 * and SwiGLU of gate|up rows into the down product, added to the residual.
 * Every unroll and k-split the kernel takes, every row count.
 */
Test(forward_gpu, fused_gemvs_match_the_cpu_ops)
{
	const uint32_t D = 64, nh = 9, nkv = 3, hid = 576, ffn = 1536;
	const uint32_t qd = nh * D, kvd = nkv * D, n = qd + 2 * kvd;
	const uint32_t unrolls[] = { 1, 2, 4 }, splits[] = { 1, 2, 4, 8 };
	struct ac_rope_params rp = { .theta = 10000.0 };
	int32_t pos[4] = { 0, 17, 2049, 100000 };
	float inv[32], *ref, *h, *got, *acc;
	float *x, *nw, *w, *gu, *wd, *res;
	uint16_t *dx, *dnw, *dw, *dgu, *dwd, *dres, *dq, *dk, *dv;
	float *dinv;
	int32_t *dpos;

	if (!have_device())
		cr_skip_test("no CUDA device");
	srand(4242);
	x = bf16_floats(4 * hid, 4.0f);
	nw = bf16_floats(hid, 1.0f);
	for (uint32_t i = 0; i < hid; i++)
		nw[i] += 1.0f;
	w = bf16_floats((size_t)n * hid, 0.1f);
	gu = bf16_floats(4 * 2 * ffn, 6.0f);
	wd = bf16_floats((size_t)hid * ffn, 0.05f);
	res = bf16_floats(4 * hid, 2.0f);
	cr_assert_eq(ac_rope_inv_freq(inv, D, &rp), 0);
	dx = to_dev(x, 4 * hid);
	dnw = to_dev(nw, hid);
	dw = to_dev(w, (size_t)n * hid);
	dgu = to_dev(gu, 4 * 2 * ffn);
	dwd = to_dev(wd, (size_t)hid * ffn);
	dres = to_dev(res, 4 * hid);
	cr_assert_eq(cudaMalloc((void **)&dq, 2 * 4 * qd), cudaSuccess);
	cr_assert_eq(cudaMalloc((void **)&dk, 2 * 4 * kvd), cudaSuccess);
	cr_assert_eq(cudaMalloc((void **)&dv, 2 * 4 * kvd), cudaSuccess);
	cr_assert_eq(cudaMalloc((void **)&dinv, sizeof(inv)), cudaSuccess);
	cr_assert_eq(cudaMalloc((void **)&dpos, sizeof(pos)), cudaSuccess);
	cudaMemcpy(dinv, inv, sizeof(inv), cudaMemcpyHostToDevice);
	cudaMemcpy(dpos, pos, sizeof(pos), cudaMemcpyHostToDevice);
	ref = malloc(sizeof(float) * 4 * n);
	h = malloc(sizeof(float) * 4 * ffn);
	got = malloc(sizeof(float) * 4 * n);
	acc = malloc(sizeof(float) * 4 * hid);

	for (uint32_t m = 1; m <= AC_GEMV_MAX_ROWS; m++) {
		float *qr = malloc(sizeof(float) * m * qd);
		float *kr = malloc(sizeof(float) * m * kvd);
		float *vr = malloc(sizeof(float) * m * kvd);

		/* q|k|v: norm (rounded to bf16, as the kernel holds it), product, RoPE. */
		cr_assert_eq(ac_op_rmsnorm_cpu(h, x, nw, m, hid, 1e-5f), 0);
		round_bf16(h, (size_t)m * hid);
		cr_assert_eq(ac_op_matmul_cpu(ref, h, w, m, n, hid), 0);
		for (uint32_t r = 0; r < m; r++) {
			memcpy(qr + r * qd, ref + (size_t)r * n, 4 * qd);
			memcpy(kr + r * kvd, ref + (size_t)r * n + qd, 4 * kvd);
			memcpy(vr + r * kvd, ref + (size_t)r * n + qd + kvd,
			       4 * kvd);
		}
		cr_assert_eq(ac_op_rope_cpu(qr, qd, kr, kvd, pos, m, nh, nkv, D,
					    inv), 0);
		for (size_t u = 0; u < 3; u++)
			for (size_t sp = 0; sp < 4; sp++) {
				struct ac_gemv_args a = {
					.out = { dq, dk, dv },
					.cols = { qd, kvd, kvd }, .in = dx,
					.w = dw, .m = m, .n = n, .k = hid,
					.pro = AC_GEMV_PRO_RMSNORM,
					.norm_w = dnw, .eps = 1e-5f,
					.rope_cols = qd + kvd, .head_dim = D,
					.pos = dpos, .inv_freq = dinv,
					.unroll = unrolls[u],
					.ksplit = splits[sp],
				};

				cudaMemset(dq, 0xff, 2 * 4 * qd);
				cudaMemset(dk, 0xff, 2 * 4 * kvd);
				cudaMemset(dv, 0xff, 2 * 4 * kvd);
				cr_assert_eq(ac_op_gemv_ex_cuda(&a, NULL), 0);
				from_dev(got, dq, (size_t)m * qd);
				cr_expect_lt(rel_l2(got, qr, (size_t)m * qd), 8e-3,
					     "q m=%u unroll %u split %u", m,
					     unrolls[u], splits[sp]);
				from_dev(got, dk, (size_t)m * kvd);
				cr_expect_lt(rel_l2(got, kr, (size_t)m * kvd), 8e-3,
					     "k m=%u unroll %u split %u", m,
					     unrolls[u], splits[sp]);
				from_dev(got, dv, (size_t)m * kvd);
				cr_expect_lt(rel_l2(got, vr, (size_t)m * kvd), 8e-3,
					     "v m=%u unroll %u split %u", m,
					     unrolls[u], splits[sp]);
			}

		/* x += (silu(gate) * up) * wd^T. */
		cr_assert_eq(ac_op_swiglu_cpu(h, gu, gu + ffn, m, ffn, 2 * ffn), 0);
		round_bf16(h, (size_t)m * ffn);
		cr_assert_eq(ac_op_matmul_cpu(acc, h, wd, m, hid, ffn), 0);
		for (size_t i = 0; i < (size_t)m * hid; i++)
			acc[i] += res[i];
		for (size_t u = 0; u < 3; u++) {
			struct ac_gemv_args a = {
				.out = { dres }, .cols = { hid }, .in = dgu,
				.w = dwd, .m = m, .n = hid, .k = ffn,
				.accumulate = true, .pro = AC_GEMV_PRO_SWIGLU,
				.unroll = unrolls[u],
			};
			uint16_t *hr = malloc(2 * (size_t)m * hid);

			ac_op_f32_to_bf16_cpu(hr, res, (size_t)m * hid);
			cudaMemcpy(dres, hr, 2 * (size_t)m * hid,
				   cudaMemcpyHostToDevice);
			free(hr);
			cr_assert_eq(ac_op_gemv_ex_cuda(&a, NULL), 0);
			from_dev(got, dres, (size_t)m * hid);
			cr_expect_lt(rel_l2(got, acc, (size_t)m * hid), 8e-3,
				     "swiglu m=%u unroll %u", m, unrolls[u]);
		}
		free(qr);
		free(kr);
		free(vr);
	}
	/* What the kernel does not take is refused, not run. */
	{
		struct ac_gemv_args a = {
			.out = { dq }, .cols = { qd }, .in = dx, .w = dw,
			.m = 1, .n = qd, .k = hid, .rope_cols = 100,
			.head_dim = D, .pos = dpos, .inv_freq = dinv,
		};

		cr_expect_eq(ac_op_gemv_ex_cuda(&a, NULL), -EINVAL);
		a.rope_cols = 0;
		a.cols[0] = qd - 1;
		cr_expect_eq(ac_op_gemv_ex_cuda(&a, NULL), -EINVAL);
		a.cols[0] = qd;
		a.ksplit = 3;
		cr_expect_eq(ac_op_gemv_ex_cuda(&a, NULL), -EINVAL);
		a.ksplit = 0;
		a.pro = AC_GEMV_PRO_RMSNORM;
		cr_expect_eq(ac_op_gemv_ex_cuda(&a, NULL), -EINVAL);
	}
	cudaFree(dx);
	cudaFree(dnw);
	cudaFree(dw);
	cudaFree(dgu);
	cudaFree(dwd);
	cudaFree(dres);
	cudaFree(dq);
	cudaFree(dk);
	cudaFree(dv);
	cudaFree(dinv);
	cudaFree(dpos);
	free(x);
	free(nw);
	free(w);
	free(gu);
	free(wd);
	free(res);
	free(ref);
	free(h);
	free(got);
	free(acc);
}

/*
 * Decode steps replayed from CUDA graphs give the very logits of the same
 * steps launched one kernel at a time: a step's launches are recorded the
 * second time they are seen (a pass of a new shape is launched directly)
 * and replayed on the next steps of the same plan, whose positions,
 * context and block table differ only in device memory. The eager
 * setting records on first sight and must agree too.
 */
Test(forward_gpu, graph_replays_match_direct_launches)
{
	uint32_t table[NB], nr;
	int32_t tokens[N];
	float *direct, *graph, *scratch;
	struct side g;
	struct ac_weights *w;
	size_t V = cfg.vocab;

	if (!have_device())
		cr_skip_test("no CUDA device");
	w = weights();
	side_init(&g, w, true);
	for (int i = 0; i < N; i++)
		tokens[i] = (i * 71 + 3) % (int)V;
	for (int i = 0; i < NB; i++)
		table[i] = 40 - 2 * i;
	direct = malloc(sizeof(float) * V);
	graph = malloc(sizeof(float) * V);
	scratch = malloc(sizeof(float) * N * V);
	run(&g, table, 180, &(struct ac_run){ 0, 180 }, 1, tokens, scratch,
	    &nr);
	for (uint32_t p = 180; p < N; p++) {
		ac_model_set_graphs_eager(g.m, p % 2);
		cr_assert_eq(ac_model_set_graphs(g.m, false), 0);
		run(&g, table, p + 1, &(struct ac_run){ p, 1 }, 1, tokens,
		    direct, &nr);
		cr_assert_eq(ac_model_set_graphs(g.m, true), 0);
		/* Launched or recorded, recorded or replayed, replayed. */
		for (int k = 0; k < 3; k++) {
			run(&g, table, p + 1, &(struct ac_run){ p, 1 }, 1,
			    tokens, graph, &nr);
			cr_assert_eq(memcmp(direct, graph, sizeof(float) * V), 0,
				     "position %u, run %d", p, k);
		}
	}
	free(direct);
	free(graph);
	free(scratch);
	side_fini(&g);
	ac_weights_free(w);
}

/*
 * A pass of a shape not seen before is launched directly, recorded when
 * the shape comes back and replayed after; eager graphs record at once.
 * Passes of more rows than graphs take always run directly.
 */
Test(forward_gpu, graphs_record_a_shape_when_it_comes_back)
{
	struct ac_model_graph_counts c0, c;
	uint32_t table[NB], nr;
	int32_t tokens[N];
	float *logits;
	struct side g;
	struct ac_weights *w;
	/* Eager takes a 2-row pass: the 1-row one is recorded already. */
	const struct {
		bool eager;
		uint32_t rows;
		uint64_t direct, recorded, replayed;
	} want[] = {
		{ false, 1, 1, 0, 0 }, { false, 1, 1, 1, 0 },
		{ false, 1, 1, 1, 1 }, { true, 2, 0, 1, 0 },
		{ true, 2, 0, 1, 1 },
	};

	if (!have_device())
		cr_skip_test("no CUDA device");
	w = weights();
	side_init(&g, w, true);
	for (int i = 0; i < N; i++)
		tokens[i] = (i * 71 + 3) % (int)cfg.vocab;
	for (int i = 0; i < NB; i++)
		table[i] = 40 - 2 * i;
	logits = malloc(sizeof(float) * N * cfg.vocab);
	ac_model_get_graph_counts(g.m, &c0);
	run(&g, table, 180, &(struct ac_run){ 0, 180 }, 1, tokens, logits,
	    &nr);
	ac_model_get_graph_counts(g.m, &c);
	cr_assert_eq(c.direct, c0.direct + 1, "a 180-row pass runs directly");
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (i == 0 || want[i].eager != want[i - 1].eager) {
			ac_model_set_graphs_eager(g.m, want[i].eager);
			cr_assert_eq(ac_model_set_graphs(g.m, true), 0);
			ac_model_get_graph_counts(g.m, &c0);
		}
		run(&g, table, 180 + want[i].rows,
		    &(struct ac_run){ 180, want[i].rows }, 1, tokens, logits,
		    &nr);
		ac_model_get_graph_counts(g.m, &c);
		cr_assert(c.direct - c0.direct == want[i].direct &&
			  c.recorded - c0.recorded == want[i].recorded &&
			  c.replayed - c0.replayed == want[i].replayed,
			  "step %u (eager %d): direct %llu recorded %llu replayed %llu",
			  i, want[i].eager,
			  (unsigned long long)(c.direct - c0.direct),
			  (unsigned long long)(c.recorded - c0.recorded),
			  (unsigned long long)(c.replayed - c0.replayed));
	}
	free(logits);
	side_fini(&g);
	ac_weights_free(w);
}

/* The device's argmax of a pass's logit rows is the host's of its logits. */
Test(forward_gpu, greedy_tokens_on_the_device_match_the_logits)
{
	struct ac_weights *w;
	struct side s;
	uint32_t table[NB], rows[64];
	struct ac_batch b = { 0 };
	struct ac_msa_batch mb;
	int32_t tokens[N], tok[N], dev_g[64], host_g[64];
	float *logits;

	if (!have_device())
		cr_skip_test("no CUDA device");
	w = weights();
	side_init(&s, w, true);
	for (uint32_t i = 0; i < NB; i++)
		table[i] = i;
	for (uint32_t i = 0; i < N; i++)
		tokens[i] = (int32_t)((i * 131 + 7) % cfg.vocab);
	logits = malloc(sizeof(float) * 64 * cfg.vocab);
	cr_assert_not_null(logits);
	cr_assert_eq(ac_batch_add(&b, table, NB, 64, T,
				  &(struct ac_run){ 0, 64 }, 1), 0);
	for (uint32_t i = 0; i < b.num_rows; i++) {
		tok[i] = tokens[b.row_pos[i]];
		rows[i] = i;
	}
	ac_model_batch_view(&b, &mb);
	cr_assert_eq(ac_model_forward_ex(s.m, &s.pool, &mb, tok, b.row_pos,
					 rows, 64, logits, dev_g), 0);
	cr_assert_eq(ac_op_argmax_cpu(host_g, logits, 64, cfg.vocab), 0);
	cr_expect_arr_eq(dev_g, host_g, sizeof(dev_g));
	/* Without the logits: the same tokens, nothing copied but them. */
	cr_assert_eq(ac_model_forward_ex(s.m, &s.pool, &mb, tok, b.row_pos,
					 rows, 64, NULL, dev_g), 0);
	cr_expect_arr_eq(dev_g, host_g, sizeof(dev_g));
	ac_batch_free(&b);
	free(logits);
	side_fini(&s);
	ac_weights_free(w);
}
