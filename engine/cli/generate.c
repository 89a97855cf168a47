/* SPDX-License-Identifier: MIT */
/*
 * asymcache-engine generate: one prompt (or a chat from stdin) through the
 * daemon's pool, the text streamed to stdout, figures to stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct gen_cli {
	const char *model, *socket, *prompt, *salt, *model_id;
	uint64_t seed, sample_seed;
	uint32_t max_tokens, block_tokens;
	float temperature, top_p;
	enum ac_reuse reuse;
	bool chat, quiet;
	enum ac_fwd_backend device;
	struct ac_tokenizer *tok;
	struct ac_detok_stream ds;
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: asymcache-engine generate [OPTIONS]\n"
"\n"
"Generates from --prompt, or from a chat on stdin (--chat: the whole input\n"
"is the user's message), with the model's KV in asymcached's pool.\n"
"\n"
"  -m, --model SRC        a .gguf file, a Hugging Face directory, or a\n"
"                         shape name (tiny, llama3-8b: seeded weights)\n"
"  -s, --socket PATH      the daemon's socket (/run/asymcache/asymcached.sock)\n"
"  -p, --prompt TEXT      the prompt\n"
"      --chat             read a user message from stdin, ChatML-rendered\n"
"  -n, --max-tokens N     tokens to generate (64)\n"
"      --reuse MODE       msa (default), prefix or none\n"
"      --block-tokens N   tokens per pool block (16)\n"
"  -t, --temperature F    0 is greedy (default)\n"
"      --top-p F          nucleus cut (1)\n"
"      --seed N           seed of random weights (1)\n"
"      --sample-seed N    seed of sampling (1)\n"
"      --salt TEXT        cache salt: tenants apart\n"
"      --device DEV       cpu or cuda; must match the daemon's pool (cpu)\n"
"  -q, --quiet            no figures on stderr\n");
}

static int parse_args(int argc, char **argv, struct gen_cli *o)
{
	static const struct option lo[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "socket", required_argument, NULL, 's' },
		{ "prompt", required_argument, NULL, 'p' },
		{ "max-tokens", required_argument, NULL, 'n' },
		{ "temperature", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "chat", no_argument, NULL, 1 },
		{ "reuse", required_argument, NULL, 2 },
		{ "block-tokens", required_argument, NULL, 3 },
		{ "top-p", required_argument, NULL, 4 },
		{ "seed", required_argument, NULL, 5 },
		{ "sample-seed", required_argument, NULL, 6 },
		{ "salt", required_argument, NULL, 7 },
		{ "device", required_argument, NULL, 8 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "m:s:p:n:t:qh", lo, NULL)) != -1) {
		errno = 0;
		end = NULL;
		switch (c) {
		case 'm': o->model = optarg; break;
		case 's': o->socket = optarg; break;
		case 'p': o->prompt = optarg; break;
		case 'q': o->quiet = true; break;
		case 1: o->chat = true; break;
		case 7: o->salt = optarg; break;
		case 'n': o->max_tokens = strtoul(optarg, &end, 10); break;
		case 3: o->block_tokens = strtoul(optarg, &end, 10); break;
		case 5: o->seed = strtoull(optarg, &end, 10); break;
		case 6: o->sample_seed = strtoull(optarg, &end, 10); break;
		case 't': o->temperature = strtof(optarg, &end); break;
		case 4: o->top_p = strtof(optarg, &end); break;
		case 2:
			if (cli_parse_reuse(optarg, &o->reuse) < 0)
				return -EINVAL;
			break;
		case 8:
			if (cli_parse_device(optarg, &o->device) < 0)
				return -EINVAL;
			break;
		case 'h': usage(stdout); exit(EXIT_SUCCESS);
		default:
			fprintf(stderr, "Try 'asymcache-engine generate --help'.\n");
			return -EINVAL;
		}
		if (end && (*end || errno || end == optarg)) {
			fprintf(stderr, "asymcache-engine: bad number '%s' for %s\n",
				optarg, argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "asymcache-engine: unexpected argument '%s'\n",
			argv[optind]);
		return -EINVAL;
	}
	if (!o->prompt == !o->chat) {
		fprintf(stderr, "asymcache-engine: give --prompt TEXT or --chat (stdin)\n");
		return -EINVAL;
	}
	if (!o->max_tokens || !o->block_tokens ||
	    (o->block_tokens & (o->block_tokens - 1))) {
		fprintf(stderr, "asymcache-engine: --max-tokens must be >= 1 and --block-tokens a power of two\n");
		return -EINVAL;
	}
	return 0;
}

static char *read_stdin(void)
{
	size_t n = 0, cap = 4096;
	char *buf = malloc(cap), *p;
	size_t got;

	while (buf && (got = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
		n += got;
		if (n + 1 == cap) {
			p = realloc(buf, cap *= 2);
			if (!p) {
				free(buf);
				return NULL;
			}
			buf = p;
		}
	}
	if (buf)
		buf[n] = 0;
	return buf;
}

/* Tokens of the prompt: the model's tokenizer, or bytes for shapes. */
static int encode(struct gen_cli *o, const struct ac_chat_format *chat,
		  const char *text, uint32_t vocab, int32_t **ret,
		  uint32_t *ret_n)
{
	char *rendered = NULL;
	size_t len = strlen(text), n = 0;
	int32_t *ids;
	int r = 0;

	if (o->chat && o->tok) {
		struct ac_chat_msg m = { "user", text };

		r = ac_chat_render(chat, &m, 1, true, NULL, 0, &len);
		rendered = malloc(len + 1);
		if (!rendered)
			return -ENOMEM;
		r = ac_chat_render(chat, &m, 1, true, rendered, len + 1, &len);
		if (r < 0)
			goto out;
		text = rendered;
	}
	ids = malloc(sizeof(*ids) * (len + 2));
	if (!ids) {
		r = -ENOMEM;
		goto out;
	}
	if (o->tok) {
		r = ac_tokenizer_encode(o->tok, text, len,
					AC_TOK_PARSE_SPECIAL, ids, len + 2, &n);
	} else if (vocab >= 256) {
		for (n = 0; n < len; n++)
			ids[n] = (unsigned char)text[n];
	} else {
		r = -EOPNOTSUPP;
	}
	if (r < 0 || !n) {
		free(ids);
		r = r < 0 ? r : -EINVAL;
		goto out;
	}
	*ret = ids;
	*ret_n = (uint32_t)n;
out:
	free(rendered);
	return r;
}

static int print_token(int32_t t, void *userdata)
{
	struct gen_cli *o = userdata;
	char buf[512];
	size_t n = 0;

	if (!o->tok) {
		printf("%d ", t);
	} else if (ac_detok_stream_push(&o->ds, o->tok, t, buf, sizeof(buf),
					&n) == 0) {
		fwrite(buf, 1, n, stdout);
	}
	fflush(stdout);
	return 0;
}

int cli_generate_main(int argc, char **argv)
{
	struct gen_cli o = {
		.model = "tiny", .socket = "/run/asymcache/asymcached.sock",
		.seed = 1, .sample_seed = 1, .max_tokens = 64,
		.block_tokens = 16, .top_p = 1.0f, .reuse = AC_REUSE_MSA,
	};
	struct cli_model cm;
	struct ac_runner_opts ro;
	struct ac_gen_stats st;
	struct ac_gen_opts g = { 0 };
	struct ac_sampler sampler = { 0 };
	struct ac_runner *run = NULL;
	int32_t *prompt = NULL, *out = NULL, eos;
	char *input = NULL, tail[8];
	uint32_t n, ngen = 0;
	size_t nt;
	int r;

	r = parse_args(argc, argv, &o);
	if (r < 0)
		return 2;
	r = cli_model_open(o.model, o.seed, o.device, 8192, &cm);
	if (r < 0)
		return 1;
	o.tok = cm.tok;
	input = o.chat ? read_stdin() : NULL;
	r = encode(&o, &cm.chat, o.chat ? (input ? input : "") : o.prompt,
		   cm.cfg->vocab, &prompt, &n);
	if (r < 0) {
		fprintf(stderr, "asymcache-engine: cannot tokenize the prompt: %s\n",
			strerror(-r));
		goto out;
	}
	ro = (struct ac_runner_opts){ .socket = o.socket,
				      .model_id = cm.cfg->name,
				      .salt = o.salt,
				      .block_tokens = o.block_tokens,
				      .reuse = o.reuse,
				      .need_daemon = true };
	r = ac_runner_create(cm.m, &ro, &run);
	if (r < 0) {
		cli_runner_error(o.socket, r);
		goto out;
	}
	if (o.temperature > 0) {
		r = ac_sampler_init(&sampler, cm.cfg->vocab, o.temperature,
				    o.top_p, o.sample_seed);
		if (r < 0) {
			fprintf(stderr, "asymcache-engine: bad --temperature or --top-p\n");
			goto out;
		}
		g.sampler = &sampler;
	}
	out = malloc(sizeof(*out) * o.max_tokens);
	if (!out) {
		r = -ENOMEM;
		goto out;
	}
	eos = o.tok ? ac_tokenizer_eos(o.tok) : -1;
	g.max_tokens = o.max_tokens;
	g.stop_ids = &eos;
	g.n_stop_ids = eos >= 0;
	g.on_token = print_token;
	g.userdata = &o;
	ac_detok_stream_init(&o.ds, AC_TOK_SKIP_SPECIAL);
	r = ac_runner_generate(run, prompt, n, &g, out, &ngen, &st);
	if (o.tok && ac_detok_stream_flush(&o.ds, tail, sizeof(tail), &nt) == 0)
		fwrite(tail, 1, nt, stdout);
	printf("\n");
	fflush(stdout);
	if (r < 0) {
		fprintf(stderr, "asymcache-engine: generation failed: %s\n",
			ac_strerror(r));
		goto out;
	}
	if (!o.quiet)
		fprintf(stderr,
			"prompt %u tokens: %u reused from the pool (%u hit blocks), %u computed in %u hole run(s) + tail; "
			"%u generated; TTFT %.1f ms, TPOT %.1f ms; %u blocks committed (%u deduplicated)\n",
			st.prompt_tokens, st.reused_tokens, st.hit_blocks,
			st.computed_tokens, st.hole_runs, st.generated,
			st.ttft_s * 1e3,
			st.generated > 1 ? st.decode_s * 1e3 / (st.generated - 1) : 0.0,
			st.committed, st.deduped);
out:
	ac_runner_free(run);
	ac_sampler_free(&sampler);
	cli_model_close(&cm);
	free(prompt);
	free(out);
	free(input);
	return r < 0 ? 1 : 0;
}
