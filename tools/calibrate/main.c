/* SPDX-License-Identifier: MIT */
/*
 * asymcache-calibrate: measure the cost model of one (GPU, layout) and
 * write its JSON file (policy/cost_model.h says what the numbers mean).
 *
 * Attention: the MSA kernels on one layer of the layout, over a grid of
 * chunk sizes, positions and segment counts, fitted by least squares to
 * tokens, pairs and segments; decode batches fitted to context tokens.
 * Linear work: the layout's four GEMM shapes per layer (cuBLAS bf16 on a
 * GPU; an fp32 GEMM on the host). Iteration floor: the weights streamed
 * once at the measured copy bandwidth. Everything is per layer, times the
 * layout's layers.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ac_config.h"
#include "calibrate.h"
#include "config.h"	/* engine/model: the shapes */

struct grid {
	const uint32_t *T, *P, *S, *B, *C;
	size_t nT, nP, nS, nB, nC;
};

#define N(a) (sizeof(a) / sizeof(*(a)))

static const uint32_t full_T[] = { 128, 512, 2048 }, full_P[] = { 0, 4096, 12288 };
static const uint32_t full_S[] = { 1, 4 }, full_B[] = { 16, 64 }, full_C[] = { 2048, 8192 };
static const uint32_t cpu_T[] = { 32, 128 }, cpu_P[] = { 0, 1024 };
static const uint32_t cpu_B[] = { 4, 16 }, cpu_C[] = { 512, 2048 };
static const uint32_t q_T[] = { 16, 64 }, q_P[] = { 0, 256 };
static const uint32_t q_B[] = { 2, 4 }, q_C[] = { 128, 512 };

/* A failed run, after the CUDA runtime's own words when it has some. */
static void run_failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void run_failed(const char *fmt, ...)
{
	va_list ap;

#if defined(AC_HAVE_CUDA) && AC_HAVE_CUDA
	fprintf(stderr, "CUDA: %s\n", cal_cuda_last_error());
#endif
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

static void attn_free(struct cal_attn *a)
{
	free(a->idx);
	memset(a, 0, sizeof(*a));
}

/*
 * @nseqs sequences of @ctx tokens, each with @nsegs segments of @len rows
 * starting at @pos, @len apart. Every sequence has blocks of its own: a
 * shared table would let decode reads hit in L2 and flatter bandwidth.
 */
static int attn_build(struct cal_attn *a, uint32_t nseqs, uint32_t nsegs,
		      uint32_t len, uint32_t pos, uint32_t ctx, uint32_t bt)
{
	uint32_t nb = (ctx + bt - 1) / bt, ns = nseqs * nsegs, s = 0;
	int32_t *seg_indptr, *seg_seq, *seg_pos, *table_indptr, *ctx_len;
	int32_t *block_ids;

	memset(a, 0, sizeof(*a));
	a->idx_len = 3 * (size_t)ns + 1 + 2 * (size_t)nseqs + 1 +
		     (size_t)nseqs * nb;
	a->idx = calloc(a->idx_len, sizeof(int32_t));
	if (!a->idx)
		return -ENOMEM;
	seg_indptr = a->idx;
	seg_seq = seg_indptr + ns + 1;
	seg_pos = seg_seq + ns;
	table_indptr = seg_pos + ns;
	ctx_len = table_indptr + nseqs + 1;
	block_ids = ctx_len + nseqs;
	for (uint32_t q = 0; q < nseqs; q++) {
		table_indptr[q + 1] = (int32_t)((q + 1) * nb);
		ctx_len[q] = (int32_t)ctx;
		for (uint32_t b = 0; b < nb; b++)
			block_ids[q * nb + b] = (int32_t)(q * nb + b);
		for (uint32_t g = 0; g < nsegs; g++, s++) {
			seg_seq[s] = (int32_t)q;
			seg_pos[s] = (int32_t)(pos + g * 2 * len);
			seg_indptr[s + 1] = seg_indptr[s] + (int32_t)len;
		}
	}
	a->batch = (struct ac_msa_batch){
		.num_segs = ns, .num_seqs = nseqs,
		.seg_indptr = seg_indptr, .seg_seq = seg_seq,
		.seg_pos = seg_pos, .table_indptr = table_indptr,
		.block_ids = block_ids, .ctx_len = ctx_len,
	};
	return 0;
}

/* The layout of an engine shape, the engine's own preset (one owner). */
static int shape_layout(const char *shape, struct ac_cost_layout *l)
{
	struct ac_model_config mc;

	if (ac_model_config_preset(shape, &mc) < 0) {
		fprintf(stderr, "Unknown shape '%s' (", shape);
		for (size_t i = 0; ac_model_config_preset_name(i); i++)
			fprintf(stderr, "%s%s", i ? ", " : "",
				ac_model_config_preset_name(i));
		fputs(")\n", stderr);
		return -EINVAL;
	}
	l->kv.num_layers = mc.n_layers;
	l->kv.num_kv_heads = mc.n_kv_heads;
	l->kv.head_dim = mc.head_dim;
	l->hidden = mc.hidden;
	l->ffn = mc.ffn;
	l->num_q_heads = mc.n_heads;
	l->vocab = mc.vocab;
	return 0;
}

static int write_model(const char *json, const char *out_path)
{
	FILE *f;

	if (!strcmp(out_path, "-"))
		return puts(json) < 0 ? -EIO : 0;
	f = fopen(out_path, "we");
	if (!f || fputs(json, f) < 0 || fputc('\n', f) < 0) {
		int e = errno;

		if (f)
			fclose(f);
		fprintf(stderr, "Failed to write %s: %s\n", out_path, strerror(e));
		return -e;
	}
	if (fclose(f)) {
		fprintf(stderr, "Failed to write %s: %m\n", out_path);
		return -errno;
	}
	return 0;
}

static int from_iterations(const char *path, struct ac_cost_model *m,
			   const char *gpu, const char *model,
			   const char *out_path)
{
	struct cal_iter_fit fit = { 0 };
	char why[256] = "", when[32];
	time_t now = time(NULL);
	char *json = NULL;
	int r;

	r = cal_fit_iterations(path, m, &fit, why, sizeof(why));
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", path, why[0] ? why : strerror(-r));
		return r;
	}
	snprintf(m->gpu, sizeof(m->gpu), "%s", gpu ? gpu : "unknown");
	snprintf(m->model, sizeof(m->model), "%s", model);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	snprintf(m->source, sizeof(m->source),
		 "FITTED by asymcache-calibrate %s, %s, to %zu iterations of the engine "
		 "(asymcache-engine replay --iterations): iteration_s and decode_ctx_s a "
		 "line through %zu decode-only passes; linear_s, attn_s, segment_s a "
		 "non-negative least-squares fit of %zu passes with prefill; the model "
		 "reproduces the %.3f s they took with %.1f%% summed absolute error%s",
		 AC_VERSION, when, fit.iterations, fit.decode_only, fit.with_prefill,
		 fit.measured_s, 100 * fit.abs_error_s / fit.measured_s,
		 fit.knee_at_largest ? "; no pass showed a cost per token above the "
		 "floor, so linear_s puts the knee at the largest pass" : "");
	printf("%zu iterations (%zu decode-only, %zu with prefill), %.3f s; "
	       "model error %.1f%% of it\n", fit.iterations, fit.decode_only,
	       fit.with_prefill, fit.measured_s,
	       100 * fit.abs_error_s / fit.measured_s);
	printf("linear_s %.4g  attn_s %.4g  segment_s %.4g  iteration_s %.4g  "
	       "decode_ctx_s %.4g  knee %u tokens\n", m->linear_s, m->attn_s,
	       m->segment_s, m->iteration_s, m->decode_ctx_s,
	       ac_cost_knee_tokens(m));
	r = ac_cost_model_to_json(m, &json);
	if (r < 0) {
		fprintf(stderr, "Failed to serialise the model: %s\n", strerror(-r));
		return r;
	}
	r = write_model(json, out_path);
	free(json);
	return r;
}

static void usage(void)
{
	fputs("usage: asymcache-calibrate --out FILE [options]\n"
	      "  --backend cpu|cuda    (default: cuda when a device is present)\n"
	      "  --gpu NAME --model NAME   names written to the file\n"
	      "  --layers N --hidden N --ffn N --q-heads N --kv-heads N\n"
	      "  --head-dim N --block-tokens N --vocab N   layout (Llama-3-8B)\n"
	      "  --quick               small grid (tests, smoke runs)\n"
	      "  --reps N              timed runs per sample (3)\n"
	      "  --no-gemm             GPU: keep the anchor GEMM rate\n"
	      "  --shape NAME          layout of an engine shape (tiny, small, llama3-8b)\n"
	      "  --from-iterations FILE   fit the model to an engine's own passes\n"
	      "                        (asymcache-engine replay --iterations) instead\n"
	      "                        of timing the kernels\n", stderr);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "backend", required_argument, NULL, 'b' },
		{ "gpu", required_argument, NULL, 'g' },
		{ "model", required_argument, NULL, 'm' },
		{ "layers", required_argument, NULL, 'L' },
		{ "hidden", required_argument, NULL, 'H' },
		{ "ffn", required_argument, NULL, 'F' },
		{ "q-heads", required_argument, NULL, 'Q' },
		{ "kv-heads", required_argument, NULL, 'K' },
		{ "head-dim", required_argument, NULL, 'D' },
		{ "block-tokens", required_argument, NULL, 'T' },
		{ "vocab", required_argument, NULL, 'V' },
		{ "quick", no_argument, NULL, 'q' },
		{ "reps", required_argument, NULL, 'r' },
		{ "no-gemm", no_argument, NULL, 'G' },
		{ "shape", required_argument, NULL, 'S' },
		{ "from-iterations", required_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cal_backend_ops *ops = &cal_cpu_ops;
	const char *out_path = NULL, *gpu = NULL, *model = "llama-3-8b";
	const char *iter_path = NULL;
	struct ac_cost_sample *smp = NULL;
	struct ac_cost_model m;
	struct cal_ctx c = { .reps = 3 };
	struct grid g;
	double *dec_x = NULL, *dec_y = NULL, gemm_rate = 0, bw = 0, a_tok = 0;
	double lin_gemm = 0;
	bool quick = false, gemm_measured = false, no_gemm = false;
	size_t ns = 0, nd = 0, cap;
	uint32_t max_ctx = 0;
	char *json = NULL, when[32];
	time_t now = time(NULL);
	int ch, r;

	ac_cost_layout_llama3_8b(&c.layout);
#if defined(AC_HAVE_CUDA) && AC_HAVE_CUDA
	if (cal_cuda_present())
		ops = &cal_cuda_ops;
#endif
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'o': out_path = optarg; break;
		case 'b':
			if (!strcmp(optarg, "cpu")) {
				ops = &cal_cpu_ops;
#if defined(AC_HAVE_CUDA) && AC_HAVE_CUDA
			} else if (!strcmp(optarg, "cuda")) {
				ops = &cal_cuda_ops;
#endif
			} else {
				fprintf(stderr, "Unknown or unbuilt backend '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'g': gpu = optarg; break;
		case 'm': model = optarg; break;
		case 'L': c.layout.kv.num_layers = (uint32_t)atoi(optarg); break;
		case 'H': c.layout.hidden = (uint32_t)atoi(optarg); break;
		case 'F': c.layout.ffn = (uint32_t)atoi(optarg); break;
		case 'Q': c.layout.num_q_heads = (uint32_t)atoi(optarg); break;
		case 'K': c.layout.kv.num_kv_heads = (uint32_t)atoi(optarg); break;
		case 'D': c.layout.kv.head_dim = (uint32_t)atoi(optarg); break;
		case 'T': c.layout.kv.block_tokens = (uint32_t)atoi(optarg); break;
		case 'V': c.layout.vocab = (uint32_t)atoi(optarg); break;
		case 'q': quick = true; break;
		case 'r': c.reps = (uint32_t)atoi(optarg); break;
		case 'G': no_gemm = true; break;
		case 'I': iter_path = optarg; break;
		case 'S':
			if (shape_layout(optarg, &c.layout) < 0)
				return 2;
			model = optarg;
			break;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	if (!out_path || !c.reps || c.reps > 1000) {
		usage();
		return 2;
	}
	/* The derivation validates the layout; it also fills the names. */
	{
		struct ac_cost_anchors an;

		ac_cost_anchors_h200(&an);
		r = ac_cost_model_derive(&an, &c.layout, &m);
		if (r < 0) {
			fprintf(stderr, "Invalid layout: %s\n", strerror(-r));
			return 2;
		}
	}
	if (iter_path)
		return from_iterations(iter_path, &m, gpu, model, out_path) < 0;
	if (quick)
		g = (struct grid){ q_T, q_P, full_S, q_B, q_C, N(q_T), N(q_P),
				   N(full_S), N(q_B), N(q_C) };
	else if (ops == &cal_cpu_ops)
		g = (struct grid){ cpu_T, cpu_P, full_S, cpu_B, cpu_C, N(cpu_T),
				   N(cpu_P), N(full_S), N(cpu_B), N(cpu_C) };
	else
		g = (struct grid){ full_T, full_P, full_S, full_B, full_C,
				   N(full_T), N(full_P), N(full_S), N(full_B),
				   N(full_C) };
	for (size_t i = 0; i < g.nT; i++)
		for (size_t j = 0; j < g.nP; j++) {
			uint32_t end = g.P[j] + 2 * g.T[i];

			if (end > max_ctx)
				max_ctx = end;
		}
	for (size_t i = 0; i < g.nC; i++)
		if (g.C[i] > max_ctx)
			max_ctx = g.C[i];
	c.max_q = 2 * g.T[g.nT - 1];
	for (size_t i = 0; i < g.nB; i++)
		if (g.B[i] > c.max_q)
			c.max_q = g.B[i];
	c.num_q_heads = c.layout.num_q_heads;
	c.pool.layout = (struct ac_kv_layout){
		.num_layers = 1, .num_kv_heads = c.layout.kv.num_kv_heads,
		.head_dim = c.layout.kv.head_dim,
		.block_tokens = c.layout.kv.block_tokens,
		.dtype = c.layout.kv.dtype,
	};
	c.pool.block_bytes = ac_kv_block_bytes(&c.pool.layout);
	c.pool.num_blocks = (max_ctx + c.layout.kv.block_tokens - 1) /
			    c.layout.kv.block_tokens + 1;
	for (size_t i = 0; i < g.nB; i++)
		for (size_t j = 0; j < g.nC; j++) {
			uint32_t need = g.B[i] * ((g.C[j] + c.layout.kv.block_tokens - 1) /
						  c.layout.kv.block_tokens);

			if (need > c.pool.num_blocks)
				c.pool.num_blocks = need;
		}
	r = ops->init(&c);
	if (r < 0) {
		fprintf(stderr, "Failed to set up the %s backend: %s\n", ops->name,
			strerror(-r));
		goto out;
	}
	fprintf(stderr, "calibrating on %s (%s backend), %u layers timed as one\n",
		gpu ? gpu : c.device, ops->name, c.layout.kv.num_layers);

	cap = g.nT * g.nP * g.nS + 1;
	smp = calloc(cap, sizeof(*smp));
	dec_x = calloc(g.nB * g.nC + 1, sizeof(double));
	dec_y = calloc(g.nB * g.nC + 1, sizeof(double));
	if (!smp || !dec_x || !dec_y) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < g.nT; i++)
		for (size_t j = 0; j < g.nP; j++)
			for (size_t k = 0; k < g.nS; k++) {
				uint32_t S = g.S[k], len = g.T[i] / S;
				struct cal_attn a;
				double t, pairs = 0;

				r = attn_build(&a, 1, S, len, g.P[j],
					       g.P[j] + 2 * len * S, c.layout.kv.block_tokens);
				if (r < 0)
					goto out;
				r = ops->attn(&c, &a, &t);
				for (uint32_t s = 0; s < S; s++)
					pairs += (double)len * (a.batch.seg_pos[s] + len / 2.0);
				attn_free(&a);
				if (r < 0) {
					run_failed("Attention run (T=%u S=%u pos=%u) failed: %s\n",
						len * S, S, g.P[j], strerror(-r));
					goto out;
				}
				smp[ns++] = (struct ac_cost_sample){
					.tokens = (double)len * S, .pairs = pairs,
					.segments = S,
					.seconds = t * c.layout.kv.num_layers,
				};
				fprintf(stderr, "  attention T=%u S=%u pos=%u: %.6g s/layer\n",
					len * S, S, g.P[j], t);
			}
	r = ac_cost_fit(smp, ns, &a_tok, &m.attn_s, &m.segment_s);
	if (r < 0) {
		fprintf(stderr, "The attention timings do not fit the model\n");
		goto out;
	}
	for (size_t i = 0; i < g.nB; i++)
		for (size_t j = 0; j < g.nC; j++) {
			struct cal_attn a;
			double t;

			r = attn_build(&a, g.B[i], 1, 1, g.C[j] - 1, g.C[j],
				       c.layout.kv.block_tokens);
			if (r < 0)
				goto out;
			r = ops->attn(&c, &a, &t);
			attn_free(&a);
			if (r < 0) {
				run_failed("Decode run (batch %u, context %u) failed: %s\n",
					g.B[i], g.C[j], strerror(-r));
				goto out;
			}
			dec_x[nd] = (double)g.B[i] * g.C[j];
			dec_y[nd++] = t * c.layout.kv.num_layers;
		}
	{
		/* Slope of time over context tokens, with an intercept. */
		double slope, mx, my;

		cal_line_fit(dec_x, dec_y, nd, &slope, &mx, &my);
		m.decode_ctx_s = slope > 0 ? slope : my / mx;
	}

	/* Linear layers. */
	if (ops == &cal_cpu_ops) {
		double t;
		uint32_t n = quick ? 128 : 256;

		r = ops->gemm(&c, n, n, n, &t);
		if (r < 0) {
			fprintf(stderr, "GEMM run failed: %s\n", strerror(-r));
			goto out;
		}
		gemm_rate = 2.0 * n * n * n / t;
		lin_gemm = 2.0 * ac_cost_layer_params(&c.layout) * c.layout.kv.num_layers /
			   gemm_rate;
		gemm_measured = true;
	} else {
		const struct ac_cost_layout *l = &c.layout;
		uint32_t qd = l->num_q_heads * l->kv.head_dim;
		uint32_t kvd = l->kv.num_kv_heads * l->kv.head_dim;
		static const uint32_t Ts[] = { 1024, 4096, 8192 };
		double x[3], y[3];

		r = no_gemm ? -ENOSYS : 0;
		for (size_t i = 0; i < 3 && !r; i++) {
			double t1, t2, t3, t4;

			r = ops->gemm(&c, Ts[i], qd + 2 * kvd, l->hidden, &t1);
			if (!r)
				r = ops->gemm(&c, Ts[i], l->hidden, qd, &t2);
			if (!r)
				r = ops->gemm(&c, Ts[i], 2 * l->ffn, l->hidden, &t3);
			if (!r)
				r = ops->gemm(&c, Ts[i], l->hidden, l->ffn, &t4);
			x[i] = Ts[i];
			y[i] = (t1 + t2 + t3 + t4) * l->kv.num_layers;
		}
		if (r < 0 && r != -ENOSYS)
			run_failed("GEMM run failed: %s\n", strerror(-r));
		if (r == -ENOSYS) {
			/* No cuBLAS: keep the anchor's GEMM rate, say so below. */
#if defined(AC_HAVE_CUDA) && AC_HAVE_CUDA
			fprintf(stderr, "cuBLAS unavailable (status %d): GEMM rate "
				"left at the anchor\n", cal_cuda_gemm_status(&c));
#endif
			gemm_rate = 760e12;
			lin_gemm = 2.0 * ac_cost_layer_params(l) * l->kv.num_layers / gemm_rate;
			r = 0;
		} else if (r < 0) {
			goto out;
		} else {
			double mx, my;

			cal_line_fit(x, y, 3, &lin_gemm, &mx, &my);
			gemm_rate = 2.0 * ac_cost_layer_params(l) * l->kv.num_layers / lin_gemm;
			gemm_measured = true;
		}
	}
	r = ops->copy_bw(&c, &bw);
	if (r < 0) {
		fprintf(stderr, "Copy bandwidth run failed: %s\n", strerror(-r));
		goto out;
	}
	m.linear_s = lin_gemm + a_tok;
	m.iteration_s = (ac_cost_layer_params(&c.layout) * c.layout.kv.num_layers +
			 2.0 * c.layout.vocab * c.layout.hidden) *
			ac_dtype_size(c.layout.kv.dtype) / bw;
	snprintf(m.gpu, sizeof(m.gpu), "%s", gpu ? gpu : c.device);
	snprintf(m.model, sizeof(m.model), "%s", model);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	snprintf(m.source, sizeof(m.source),
		 "MEASURED by asymcache-calibrate %s on %s (%s backend), %s: "
		 "attention = %zu MSA runs of one layer x %u layers, least-squares "
		 "fit (per-token term %.3g s folded into linear_s); decode = %zu "
		 "batches, slope over context tokens; linear_s = %s (%.3g FLOP/s); "
		 "iteration_s = weights at %.3g B/s (copy, read+write)",
		 AC_VERSION, m.gpu, ops->name, when, ns, c.layout.kv.num_layers,
		 a_tok, nd, ops == &cal_cpu_ops ?
		 "the layer's parameters at the rate of one square fp32 GEMM" :
		 gemm_measured ? "the 4 GEMM shapes of a layer, cuBLAS bf16, slope over 1k-8k tokens" :
		 "NOT measured (no cuBLAS): anchor GEMM rate", gemm_rate, bw);

	printf("%-28s %12s %12s %8s\n", "sample", "measured s", "model s", "err");
	for (size_t i = 0; i < ns; i++) {
		double pred = a_tok * smp[i].tokens +
			      m.attn_s * smp[i].pairs + m.segment_s * smp[i].segments;

		printf("T=%-6.0f S=%-2.0f pairs=%-9.3g %12.6f %12.6f %7.1f%%\n",
		       smp[i].tokens, smp[i].segments, smp[i].pairs,
		       smp[i].seconds, pred,
		       100 * (pred - smp[i].seconds) / smp[i].seconds);
	}
	printf("linear_s %.4g  attn_s %.4g  segment_s %.4g  iteration_s %.4g  "
	       "decode_ctx_s %.4g  knee %u tokens\n", m.linear_s, m.attn_s,
	       m.segment_s, m.iteration_s, m.decode_ctx_s,
	       ac_cost_knee_tokens(&m));
	r = ac_cost_model_to_json(&m, &json);
	if (r < 0) {
		fprintf(stderr, "Failed to serialise the model: %s\n", strerror(-r));
		goto out;
	}
	r = write_model(json, out_path);
	if (r < 0)
		goto out;
	r = 0;
out:
	free(json);
	free(smp);
	free(dec_x);
	free(dec_y);
	ops->fini(&c);
	return r < 0 ? 1 : 0;
}
