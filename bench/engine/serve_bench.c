/* SPDX-License-Identifier: MIT */
/*
 * Decode throughput of the serving core on the daemon's pool: BATCH
 * requests of CTX prompt tokens each, all decoding together, and the time
 * of one iteration (the TPOT every request sees). In the same run and on
 * the same pool, the baseline: the bare forward pass over the same batch
 * shape (one decode row per sequence, no Lookup, no Alloc, no Commit, no
 * scheduling), which is what the serving layer adds to. Both against the
 * memory-streaming limit: weights and the batch's KV read once a step.
 *
 * Usage: serve_bench --socket PATH [--model SRC] [--device cpu|cuda]
 *                    [--batch N] [--ctx N] [--steps N] [--block-tokens N]
 *                    [--chunking adaptive|fixed:N] [--rate TB/s]
 * The daemon must run with a pool of the device's kind that holds
 * 2 * BATCH * (CTX + STEPS) tokens.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <asymcache/asymcache.h>

#include "bench_time.h"
#include "runner.h"

struct opts {
	const char *socket, *model;
	enum ac_fwd_backend device;
	uint32_t batch, ctx, steps, T, chunk;
	double rate_tbs;
};

/* Bytes a decode step must read: every weight once, the batch's KV once. */
static double stream_bytes(const struct ac_model_config *c, uint32_t batch,
			   uint32_t ctx, size_t elem)
{
	double q = (double)c->n_heads * c->head_dim,
	       kv = (double)c->n_kv_heads * c->head_dim;
	double layer = c->hidden * (q + 2 * kv) + q * c->hidden +
		       3.0 * c->hidden * c->ffn + 2.0 * c->hidden;
	double w = c->n_layers * layer + (double)c->vocab * c->hidden + c->hidden;

	return w * elem + (double)batch * ctx * c->n_layers * 2 * kv * elem;
}

/* The serving core: BATCH requests, all decoding; ms per iteration. */
static int serve_arm(struct ac_model *m, const struct opts *o, double *ret_ms,
		     double *ret_fwd_ms, uint32_t *ret_decodes)
{
	const struct ac_model_config *c = ac_model_config(m);
	struct ac_runner_opts ro = {
		.socket = o->socket, .client_name = "serve_bench",
		.model_id = c->name, .block_tokens = o->T,
		.reuse = AC_REUSE_MSA, .max_seqs = o->batch,
		.chunk_tokens = o->chunk, .need_daemon = true,
	};
	struct ac_runner *r = NULL;
	struct ac_step_info info;
	struct ac_result res;
	double *ms = calloc(o->steps, sizeof(double));
	double *fwd = calloc(o->steps, sizeof(double));
	double *pre = calloc(o->steps, sizeof(double));
	double *post = calloc(o->steps, sizeof(double));
	int32_t *p = malloc(sizeof(int32_t) * o->ctx);
	uint32_t warm = 0, n = 0, min_dec = UINT32_MAX;
	int e;

	if (!ms || !fwd || !pre || !post || !p) {
		e = -ENOMEM;
		goto out;
	}
	e = ac_runner_create(m, &ro, &r);
	if (e < 0) {
		fprintf(stderr, "serve_bench: %s: %s\n", o->socket, ac_strerror(e));
		goto out;
	}
	srand(7);
	for (uint32_t b = 0; b < o->batch; b++) {
		/* Distinct prompts: nothing is shared, every block is computed. */
		for (uint32_t i = 0; i < o->ctx; i++)
			p[i] = (int32_t)(rand() % (int)c->vocab);
		e = ac_runner_submit(r, &(struct ac_request){
			.id = b, .prompt = p, .n = o->ctx,
			.max_tokens = o->steps + o->batch + 16 });
		if (e < 0)
			goto out;
	}
	/* Until every request decodes; then a few steps to warm up. */
	while (n < o->steps) {
		double t0 = bench_now_s();

		e = ac_runner_step(r, &info);
		if (e < 0)
			goto out;
		if (!ac_runner_live(r) || (!info.rows && !info.waiting &&
					   info.running < o->batch)) {
			fprintf(stderr, "serve_bench: the %u requests never decoded together (the pool, or the daemon's per-session quota, holds fewer)\n",
				o->batch);
			e = -ENOSPC;
			goto out;
		}
		if (info.decodes == o->batch && !info.prefill_tokens) {
			if (warm++ < 3)
				continue;
			fwd[n] = info.forward_s * 1e3;
			pre[n] = info.before_s * 1e3;
			post[n] = info.after_s * 1e3;
			ms[n++] = (bench_now_s() - t0) * 1e3;
			if (info.decodes < min_dec)
				min_dec = info.decodes;
		} else if (warm) {
			fprintf(stderr, "serve_bench: a step left the steady batch (%u decodes, %u prefill tokens)\n",
				info.decodes, info.prefill_tokens);
			e = -EPROTO;
			goto out;
		}
	}
	*ret_ms = bench_median(ms, n);
	*ret_fwd_ms = bench_median(fwd, n);
	fprintf(stderr, "serve_bench: a step's median parts: %.3f ms before the pass (blocks, chunks), %.3f in it, %.3f after (commits, sampling)\n",
		bench_median(pre, n), *ret_fwd_ms, bench_median(post, n));
	*ret_decodes = min_dec;
	while (ac_runner_live(r)) {
		if (ac_runner_take(r, &res) == 0) {
			ac_result_free(&res);
			continue;
		}
		e = ac_runner_step(r, &info);
		if (e < 0)
			goto out;
	}
out:
	ac_runner_free(r);
	free(ms);
	free(fwd);
	free(pre);
	free(post);
	free(p);
	return e;
}

/*
 * The same batch on the same pool, the forward pass alone: BATCH sequences
 * of CTX tokens whose blocks hold whatever the pool holds (a decode reads
 * them the same way), one decode row each, the context growing by one a
 * step as in the serving arm. The batch arrays are rebuilt every step, as
 * any engine's would be.
 */
static int bare_arm(struct ac_model *m, const struct opts *o, double *ret_ms)
{
	const struct ac_model_config *c = ac_model_config(m);
	struct ac_ns_layout nsl = { .model_id = c->name };
	uint32_t nb = (o->ctx + o->steps + 3 + o->T) / o->T, ns;
	uint32_t *blocks = NULL, *logit_rows = NULL;
	struct ac_client *cl = NULL;
	struct ac_pool *pool;
	struct ac_batch b = { 0 };
	struct ac_msa_batch mb;
	struct ac_kv_pool kv;
	int32_t *tok = NULL;
	float *logits = NULL;
	double *ms = calloc(o->steps, sizeof(double));
	int e;

	ac_model_kv_layout(m, o->T, &nsl.kv);
	e = ac_connect(o->socket, "serve_bench-bare", &cl);
	if (!e)
		e = ac_attach(cl, 0, &pool);
	if (!e)
		e = ac_register_namespace(cl, pool, &nsl, &ns);
	if (e < 0)
		goto out;
	blocks = malloc(sizeof(*blocks) * nb * o->batch);
	tok = calloc(o->batch, sizeof(*tok));
	logit_rows = malloc(sizeof(*logit_rows) * o->batch);
	logits = malloc(sizeof(float) * c->vocab * o->batch);
	if (!blocks || !tok || !logit_rows || !logits || !ms) {
		e = -ENOMEM;
		goto out;
	}
	e = ac_alloc(cl, ns, nb * o->batch, blocks);
	if (e < 0)
		goto out;
	for (uint32_t s = 0; s < o->batch; s++)
		logit_rows[s] = s;
	kv = (struct ac_kv_pool){ .base = ac_pool_base(pool),
				  .block_bytes = ac_pool_info(pool)->block_bytes,
				  .num_blocks = ac_pool_info(pool)->nblocks,
				  .layout = nsl.kv };
	for (uint32_t i = 0; i < o->steps + 3; i++) {
		double t0 = bench_now_s();
		uint32_t pos = o->ctx + i;

		ac_batch_reset(&b);
		for (uint32_t s = 0; s < o->batch && !e; s++)
			e = ac_batch_add(&b, blocks + (size_t)s * nb,
					 (pos + o->T) / o->T, pos + 1, o->T,
					 &(struct ac_run){ pos, 1 }, 1);
		if (e < 0)
			goto out;
		ac_model_batch_view(&b, &mb);
		e = ac_model_forward(m, &kv, &mb, tok, b.row_pos, logit_rows,
				     o->batch, logits);
		if (e < 0)
			goto out;
		if (i >= 3)
			ms[i - 3] = (bench_now_s() - t0) * 1e3;
	}
	*ret_ms = bench_median(ms, o->steps);
out:
	if (e < 0)
		fprintf(stderr, "serve_bench: bare forward: %s\n", ac_strerror(e));
	ac_disconnect(cl);
	ac_batch_free(&b);
	free(blocks);
	free(tok);
	free(logit_rows);
	free(logits);
	free(ms);
	return e;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "model", required_argument, NULL, 'm' },
		{ "device", required_argument, NULL, 'd' },
		{ "batch", required_argument, NULL, 'b' },
		{ "ctx", required_argument, NULL, 'c' },
		{ "steps", required_argument, NULL, 'n' },
		{ "block-tokens", required_argument, NULL, 'T' },
		{ "chunking", required_argument, NULL, 'k' },
		{ "rate", required_argument, NULL, 'r' },
		{ 0 },
	};
	struct opts o = { .model = "llama3-8b", .device = AC_FWD_CUDA,
			  .batch = 32, .ctx = 2048, .steps = 32, .T = 16,
			  .rate_tbs = 4.25 };
	struct ac_weights *w = NULL;
	struct ac_model *m = NULL;
	double serve_ms = 0, serve_fwd_ms = 0, bare_ms = 0, limit_ms;
	uint32_t decodes = 0;
	char err[512] = "";
	int c, e;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': o.socket = optarg; break;
		case 'm': o.model = optarg; break;
		case 'd': o.device = strcmp(optarg, "cpu") ? AC_FWD_CUDA : AC_FWD_CPU; break;
		case 'b': o.batch = (uint32_t)atoi(optarg); break;
		case 'c': o.ctx = (uint32_t)atoi(optarg); break;
		case 'n': o.steps = (uint32_t)atoi(optarg); break;
		case 'T': o.T = (uint32_t)atoi(optarg); break;
		case 'k':
			o.chunk = strncmp(optarg, "fixed:", 6) ? 0
				: (uint32_t)atoi(optarg + 6);
			break;
		case 'r': o.rate_tbs = atof(optarg); break;
		default:
			fprintf(stderr, "usage: serve_bench --socket PATH [--model SRC] [--device cpu|cuda] [--batch N] [--ctx N] [--steps N] [--block-tokens N] [--chunking adaptive|fixed:N] [--rate TB/s]\n");
			return 2;
		}
	}
	if (!o.socket || !o.batch || !o.ctx || !o.steps || !o.T ||
	    o.batch > AC_FWD_MAX_LOGITS) {
		fprintf(stderr, "serve_bench: --socket is required; --batch 1..%u, --ctx, --steps, --block-tokens >= 1\n",
			AC_FWD_MAX_LOGITS);
		return 2;
	}
	e = ac_weights_load(o.model, o.device == AC_FWD_CUDA ? AC_DTYPE_BF16
							   : AC_DTYPE_FP32,
			    1, &w, err, sizeof(err));
	if (!e)
		e = ac_model_create(w, o.device, o.ctx > 8192 ? o.ctx : 8192, &m,
				    err, sizeof(err));
	if (e < 0) {
		fprintf(stderr, "serve_bench: %s\n", *err ? err : strerror(-e));
		return 1;
	}
	limit_ms = stream_bytes(&w->cfg, o.batch, o.ctx,
				o.device == AC_FWD_CUDA ? 2 : 4) /
		   (o.rate_tbs * 1e12) * 1e3;
	e = serve_arm(m, &o, &serve_ms, &serve_fwd_ms, &decodes);
	if (!e)
		e = bare_arm(m, &o, &bare_ms);
	if (e < 0)
		goto out;
	printf("# serve_bench: %s (%s), batch %u x %u-token context, %u-token blocks, %s chunks, median of %u steps\n",
	       w->cfg.name, o.device == AC_FWD_CUDA ? "cuda, bf16" : "cpu, fp32",
	       o.batch, o.ctx, o.T, o.chunk ? "fixed" : "adaptive", o.steps);
	printf("| arm | batch | context | ms per step (TPOT) | tokens/s | x streaming limit |\n");
	printf("|---|---|---|---|---|---|\n");
	printf("| serving core (runner on the daemon's pool) | %u | %u | %.2f | %.0f | %.2f |\n",
	       decodes, o.ctx, serve_ms, o.batch * 1e3 / serve_ms, serve_ms / limit_ms);
	printf("| of which in the forward pass | %u | %u | %.2f | | %.2f |\n",
	       decodes, o.ctx, serve_fwd_ms, serve_fwd_ms / limit_ms);
	printf("| forward pass alone, same pool and shape | %u | %u | %.2f | %.0f | %.2f |\n",
	       o.batch, o.ctx, bare_ms, o.batch * 1e3 / bare_ms, bare_ms / limit_ms);
	printf("| streaming limit (weights + KV once at %.2f TB/s) | %u | %u | %.2f | %.0f | 1.00 |\n",
	       o.rate_tbs, o.batch, o.ctx, limit_ms, o.batch * 1e3 / limit_ms);
out:
	ac_model_free(m);
	ac_weights_free(w);
	return e < 0 ? 1 : 0;
}
