/* SPDX-License-Identifier: MIT */
/*
 * engine_logits: the engine's forward pass on given token ids, greedy, with
 * no daemon (a malloc'd fp32 host pool), for the known-answer comparison
 * with Hugging Face transformers (tools/hfref/hfref.py) and the CPU speed
 * benchmark (bench/engine/cpu_bench.py).
 *
 * For each prompt of the input file (prompts.h), one prefill of the whole
 * prompt, then n_gen - 1 decode steps of one row each: n_gen tokens, each
 * the argmax of the logits before it, EOS or not (so both sides produce
 * the same number of tokens). Every forward pass is timed on its own.
 *
 * Output, one JSON object per prompt and repetition:
 *	{"name", "rep", "prompt_len", "n_gen", "tokens": [...],
 *	 "prefill_s", "step_s": [...], "tok_check", "text", "logits_row"}
 * tok_check is "same" when the engine's own chat renderer and tokenizer
 * give the input ids, "differ" (with "engine_ids") when not, "none" when
 * the line carried neither text nor messages. With --logits, the logits of
 * the first timed repetition go to that file as raw fp32 [n_gen][vocab]
 * per prompt, in input order; logits_row is the prompt's first row there.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include <asymcache/asymcache.h>

#include "gguf_vocab.h"
#include "bench_time.h"
#include "forward.h"
#include "ops.h"
#include "prompts.h"

struct el_opts {
	const char *model, *in, *out, *logits;
	uint32_t reps, warmup, block_tokens;
};

struct el_ctx {
	struct ac_model *m;
	struct ac_tokenizer *tok;
	struct ac_chat_format chat;
	struct ac_kv_pool pool;
	uint32_t *table;
	uint32_t nblocks, vocab, block_tokens;
	struct ac_batch b;
};

/* What one greedy generation of one prompt produced. */
struct el_gen {
	int32_t *tokens;	/* [n_gen] */
	float *logits;		/* [n_gen][vocab] */
	double prefill_s;
	double *step_s;		/* [n_gen - 1] */
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: engine_logits -m MODEL.gguf -i PROMPTS.jsonl [OPTIONS]\n"
"\n"
"Greedy generation of every prompt's n_gen tokens with the engine's forward\n"
"pass on the CPU (fp32, a host pool, no daemon).\n"
"\n"
"  -m, --model SRC       a .gguf file (its tokenizer checks the ids too)\n"
"  -i, --input FILE      prompts, JSON lines (ids, n_gen, text|messages)\n"
"  -o, --output FILE     results, JSON lines (default: stdout)\n"
"  -l, --logits FILE     raw fp32 logits of the first timed repetition\n"
"  -r, --reps N          timed repetitions of each prompt (1)\n"
"  -w, --warmup N        untimed repetitions before them (0)\n"
"      --block-tokens N  tokens per pool block (16)\n");
}

static int parse_u32(const char *s, uint32_t *v)
{
	char *end;
	unsigned long x;

	errno = 0;
	x = strtoul(s, &end, 10);
	if (errno || end == s || *end || x > UINT32_MAX)
		return -EINVAL;
	*v = (uint32_t)x;
	return 0;
}

static int parse_args(int argc, char **argv, struct el_opts *o)
{
	static const struct option lo[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "input", required_argument, NULL, 'i' },
		{ "output", required_argument, NULL, 'o' },
		{ "logits", required_argument, NULL, 'l' },
		{ "reps", required_argument, NULL, 'r' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "block-tokens", required_argument, NULL, 1 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, r = 0;

	while (!r && (c = getopt_long(argc, argv, "m:i:o:l:r:w:h", lo,
				      NULL)) != -1) {
		switch (c) {
		case 'm': o->model = optarg; break;
		case 'i': o->in = optarg; break;
		case 'o': o->out = optarg; break;
		case 'l': o->logits = optarg; break;
		case 'r': r = parse_u32(optarg, &o->reps); break;
		case 'w': r = parse_u32(optarg, &o->warmup); break;
		case 1: r = parse_u32(optarg, &o->block_tokens); break;
		case 'h': usage(stdout); exit(EXIT_SUCCESS);
		default: usage(stderr); return -EINVAL;
		}
		if (r < 0)
			fprintf(stderr, "engine_logits: bad number '%s' for %s\n",
				optarg, argv[optind - 1]);
	}
	if (r < 0)
		return r;
	if (optind < argc || !o->model || !o->in) {
		usage(stderr);
		return -EINVAL;
	}
	if (!o->reps || !o->block_tokens ||
	    (o->block_tokens & (o->block_tokens - 1))) {
		fprintf(stderr, "engine_logits: --reps must be >= 1 and --block-tokens a power of two\n");
		return -EINVAL;
	}
	return 0;
}

/* One forward pass of positions [pos, pos + len), the logits of the last. */
static int forward(struct el_ctx *c, const int32_t *seq, uint32_t pos,
		   uint32_t len, float *logits)
{
	struct ac_run run = { pos, len };
	struct ac_msa_batch mb;
	struct ac_batch *b = &c->b;
	uint32_t last = len - 1;
	int r;

	ac_batch_reset(b);
	r = ac_batch_add(b, c->table, (pos + len + c->block_tokens - 1) /
			 c->block_tokens, pos + len, c->block_tokens, &run, 1);
	if (r < 0)
		return r;
	mb = (struct ac_msa_batch){
		.num_segs = b->num_segs, .num_seqs = b->num_seqs,
		.seg_indptr = b->seg_indptr, .seg_seq = b->seg_seq,
		.seg_pos = b->seg_pos, .table_indptr = b->table_indptr,
		.block_ids = b->block_ids, .ctx_len = b->ctx_len,
	};
	/* The rows are positions pos.. in order, so the tokens are seq + pos. */
	return ac_model_forward(c->m, &c->pool, &mb, seq + pos, b->row_pos,
				&last, 1, logits);
}

/*
 * Greedy generation of @p into @g. @seq has room for the prompt and n_gen
 * tokens; the pool is poisoned first so that a read of KV nobody wrote
 * shows up as NaN logits.
 */
static int generate(struct el_ctx *c, const struct el_prompt *p,
		    int32_t *seq, struct el_gen *g)
{
	uint32_t n = p->n_ids;
	double t0;
	int r;

	memset(c->pool.base, 0xff, c->pool.num_blocks * c->pool.block_bytes);
	memcpy(seq, p->ids, n * sizeof(*seq));
	t0 = bench_now_s();
	r = forward(c, seq, 0, n, g->logits);
	if (!r)
		r = ac_op_argmax_cpu(&g->tokens[0], g->logits, 1, c->vocab);
	g->prefill_s = bench_now_s() - t0;
	for (uint32_t i = 1; !r && i < p->n_gen; i++) {
		float *lg = g->logits + (size_t)i * c->vocab;

		seq[n + i - 1] = g->tokens[i - 1];
		t0 = bench_now_s();
		r = forward(c, seq, n + i - 1, 1, lg);
		if (!r)
			r = ac_op_argmax_cpu(&g->tokens[i], lg, 1, c->vocab);
		g->step_s[i - 1] = bench_now_s() - t0;
	}
	return r;
}

/*
 * The engine's own ids for the prompt's text or messages, into *@ids
 * (malloc'd); *@n is 0 when the prompt has neither.
 */
static int engine_ids(struct el_ctx *c, const struct el_prompt *p,
		      int32_t **ids, size_t *n)
{
	char *rendered = NULL;
	const char *text = p->text;
	size_t len = 0;
	int r;

	*ids = NULL;
	*n = 0;
	if (p->msgs) {
		r = ac_chat_render(&c->chat, p->msgs, p->n_msgs, true, NULL, 0,
				   &len);
		if (r < 0 && r != -ENOSPC)
			return r;
		rendered = malloc(len + 1);
		if (!rendered)
			return -ENOMEM;
		r = ac_chat_render(&c->chat, p->msgs, p->n_msgs, true,
				   rendered, len + 1, &len);
		if (r < 0)
			goto out;
		text = rendered;
	} else if (text) {
		len = strlen(text);
	} else {
		return 0;
	}
	*ids = malloc((len + 1) * sizeof(**ids));
	if (!*ids) {
		r = -ENOMEM;
		goto out;
	}
	/* Hugging Face drops bytes no token spells; so does this check. */
	r = ac_tokenizer_encode(c->tok, text, len,
				AC_TOK_PARSE_SPECIAL | AC_TOK_DROP_UNKNOWN,
				*ids, len + 1, n);
	if (r < 0) {
		free(*ids);
		*ids = NULL;
		*n = 0;
	}
out:
	free(rendered);
	return r;
}

static json_object *int_array(const int32_t *v, size_t n)
{
	json_object *a = json_object_new_array_ext((int)n);

	for (size_t i = 0; a && i < n; i++)
		json_object_array_add(a, json_object_new_int(v[i]));
	return a;
}

static json_object *text_of(struct el_ctx *c, const int32_t *ids, size_t n)
{
	size_t len = 0;
	json_object *s;
	char *buf;

	switch (ac_tokenizer_decode(c->tok, ids, n, 0, NULL, 0, &len)) {
	case 0:
		return json_object_new_string("");
	case -ENOSPC:
		break;
	default:
		return NULL;
	}
	buf = malloc(len + 1);
	if (!buf || ac_tokenizer_decode(c->tok, ids, n, 0, buf, len, &len)) {
		free(buf);
		return NULL;
	}
	s = json_object_new_string_len(buf, (int)len);
	free(buf);
	return s;
}

static int write_record(FILE *out, struct el_ctx *c,
			const struct el_prompt *p, uint32_t rep,
			const struct el_gen *g, const char *check,
			const int32_t *eids, size_t n_eids, int64_t logits_row)
{
	json_object *o = json_object_new_object(), *steps;
	int r;

	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "rep", json_object_new_int((int)rep));
	json_object_object_add(o, "prompt_len",
			       json_object_new_int((int)p->n_ids));
	json_object_object_add(o, "n_gen", json_object_new_int((int)p->n_gen));
	json_object_object_add(o, "tokens", int_array(g->tokens, p->n_gen));
	json_object_object_add(o, "prefill_s",
			       json_object_new_double(g->prefill_s));
	steps = json_object_new_array_ext((int)p->n_gen);
	for (uint32_t i = 0; steps && i + 1 < p->n_gen; i++)
		json_object_array_add(steps,
				      json_object_new_double(g->step_s[i]));
	json_object_object_add(o, "step_s", steps);
	json_object_object_add(o, "tok_check", json_object_new_string(check));
	if (!strcmp(check, "differ"))
		json_object_object_add(o, "engine_ids", int_array(eids, n_eids));
	json_object_object_add(o, "text", text_of(c, g->tokens, p->n_gen));
	json_object_object_add(o, "logits_row",
			       logits_row < 0 ? NULL :
			       json_object_new_int64(logits_row));
	r = fprintf(out, "%s\n", json_object_to_json_string_ext(o,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE))
		< 0 ? -EIO : 0;
	json_object_put(o);
	return r;
}

static int setup(struct el_ctx *c, const struct el_opts *o,
		 const struct el_prompts *ps)
{
	struct ac_weights *w = NULL;
	struct ac_kv_layout lay;
	uint32_t max_rows = 1, max_ctx = 1;
	char err[512] = "";
	int r;

	for (size_t i = 0; i < ps->n; i++) {
		if (ps->v[i].n_ids > max_rows)
			max_rows = ps->v[i].n_ids;
		if (ps->v[i].n_ids + ps->v[i].n_gen > max_ctx)
			max_ctx = ps->v[i].n_ids + ps->v[i].n_gen;
	}
	r = ac_weights_load(o->model, AC_DTYPE_FP32, 0, &w, err, sizeof(err));
	if (!r)
		r = ac_model_create(w, AC_FWD_CPU, max_rows, &c->m, err,
				    sizeof(err));
	ac_weights_free(w);
	if (!r)
		r = ac_tokenizer_from_gguf(o->model, &c->tok, &c->chat, err,
					    sizeof(err));
	if (r < 0) {
		fprintf(stderr, "engine_logits: %s\n", *err ? err : strerror(-r));
		return r;
	}
	c->vocab = ac_model_config(c->m)->vocab;
	c->block_tokens = o->block_tokens;
	c->nblocks = (max_ctx + o->block_tokens - 1) / o->block_tokens;
	ac_model_kv_layout(c->m, o->block_tokens, &lay);
	c->pool = (struct ac_kv_pool){ .layout = lay, .num_blocks = c->nblocks,
				       .block_bytes = ac_kv_block_bytes(&lay) };
	c->pool.base = malloc((size_t)c->nblocks * c->pool.block_bytes);
	c->table = malloc(c->nblocks * sizeof(*c->table));
	if (!c->pool.base || !c->table)
		return -ENOMEM;
	/* Blocks in reverse order: a table that is not the identity. */
	for (uint32_t i = 0; i < c->nblocks; i++)
		c->table[i] = c->nblocks - 1 - i;
	return 0;
}

static void teardown(struct el_ctx *c)
{
	ac_batch_free(&c->b);
	free(c->pool.base);
	free(c->table);
	ac_chat_format_release(&c->chat);
	ac_tokenizer_free(c->tok);
	ac_model_free(c->m);
}

/* All repetitions of prompt @p; logits of the first timed one to @lf. */
static int run_prompt(struct el_ctx *c, const struct el_opts *o,
		      const struct el_prompt *p, FILE *out, FILE *lf,
		      int64_t *logits_row)
{
	struct el_gen g = { 0 };
	int32_t *seq, *eids = NULL;
	size_t n_eids = 0;
	const char *check = "none";
	int r;

	for (uint32_t i = 0; i < p->n_ids; i++)
		if ((uint32_t)p->ids[i] >= c->vocab) {
			fprintf(stderr, "engine_logits: %s: prompt '%s' id %d at %u is outside the vocabulary (%u)\n",
				o->in, p->name, p->ids[i], i, c->vocab);
			return -ERANGE;
		}
	r = engine_ids(c, p, &eids, &n_eids);
	if (r < 0) {
		fprintf(stderr, "engine_logits: prompt '%s': the engine's tokenizer failed: %s\n",
			p->name, strerror(-r));
		return r;
	}
	if (eids)
		check = n_eids == p->n_ids &&
			!memcmp(eids, p->ids, n_eids * sizeof(*eids)) ?
			"same" : "differ";
	seq = malloc((p->n_ids + p->n_gen) * sizeof(*seq));
	g.tokens = malloc(p->n_gen * sizeof(*g.tokens));
	g.logits = malloc((size_t)p->n_gen * c->vocab * sizeof(*g.logits));
	g.step_s = malloc(p->n_gen * sizeof(*g.step_s));
	if (!seq || !g.tokens || !g.logits || !g.step_s) {
		r = -ENOMEM;
		goto out;
	}
	for (uint32_t rep = 0; rep < o->warmup + o->reps; rep++) {
		int64_t row = -1;

		r = generate(c, p, seq, &g);
		if (r < 0) {
			fprintf(stderr, "engine_logits: prompt '%s': forward pass failed: %s\n",
				p->name, strerror(-r));
			goto out;
		}
		if (rep < o->warmup)
			continue;
		if (lf && rep == o->warmup) {
			size_t nf = (size_t)p->n_gen * c->vocab;

			if (fwrite(g.logits, sizeof(float), nf, lf) != nf) {
				fprintf(stderr, "engine_logits: %s: write failed\n",
					o->logits);
				r = -EIO;
				goto out;
			}
			row = *logits_row;
			*logits_row += p->n_gen;
		}
		r = write_record(out, c, p, rep - o->warmup, &g, check, eids,
				 n_eids, row);
		if (r < 0) {
			fprintf(stderr, "engine_logits: %s: write failed\n",
				o->out ? o->out : "stdout");
			goto out;
		}
		fflush(out);
	}
out:
	free(seq);
	free(eids);
	free(g.tokens);
	free(g.logits);
	free(g.step_s);
	return r;
}

int main(int argc, char **argv)
{
	struct el_opts o = { .reps = 1, .block_tokens = 16 };
	struct el_prompts ps = { 0 };
	struct el_ctx c = { 0 };
	FILE *out = stdout, *lf = NULL;
	int64_t logits_row = 0;
	char err[512] = "";
	int r;

	if (parse_args(argc, argv, &o) < 0)
		return 2;
	r = el_prompts_read(o.in, &ps, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "engine_logits: %s\n", err);
		return 1;
	}
	r = setup(&c, &o, &ps);
	if (r < 0)
		goto out;
	if (o.out && !(out = fopen(o.out, "w"))) {
		r = -errno;
		fprintf(stderr, "engine_logits: %s: %s\n", o.out, strerror(-r));
		out = stdout;
		goto out;
	}
	if (o.logits && !(lf = fopen(o.logits, "wb"))) {
		r = -errno;
		fprintf(stderr, "engine_logits: %s: %s\n", o.logits,
			strerror(-r));
		goto out;
	}
	for (size_t i = 0; !r && i < ps.n; i++)
		r = run_prompt(&c, &o, &ps.v[i], out, lf, &logits_row);
	if (lf && fclose(lf) && !r) {
		fprintf(stderr, "engine_logits: %s: write failed\n", o.logits);
		r = -EIO;
	}
	lf = NULL;
out:
	if (lf)
		fclose(lf);
	if (out != stdout && fclose(out) && !r) {
		fprintf(stderr, "engine_logits: %s: write failed\n", o.out);
		r = -EIO;
	}
	teardown(&c);
	el_prompts_free(&ps);
	return r < 0 ? 1 : 0;
}
