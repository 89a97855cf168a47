/* SPDX-License-Identifier: MIT */
/*
 * asymcache-engine replay: a trace of timed requests served with
 * continuous batching on the daemon's pool. Each request's figures go out
 * as a JSON line, a progress line shows while it runs, a summary table
 * ends it. The baselines are flags of this one binary (--reuse,
 * --chunking, --order), so a comparison changes one flag at a time.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "replay_report.h"
#include "trace.h"

struct replay_cli {
	const char *model, *socket, *trace, *salt, *output, *name;
	const char *label, *summary;
	uint32_t show;
	uint64_t seed;
	uint32_t block_tokens, max_seqs, chunk_tokens, tokens_per_id;
	uint32_t limit, max_output;
	double speed;
	enum ac_reuse reuse;
	enum ac_order order;
	enum ac_fwd_backend device;
	bool with_tokens, quiet, stop_eos, no_graphs;
	const char *chunking;
};

static volatile sig_atomic_t stop_now;

static void on_signal(int sig)
{
	(void)sig;
	stop_now = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: asymcache-engine replay [OPTIONS] TRACE\n"
"\n"
"Serves the requests of TRACE (JSON lines: timestamp ms, input_length,\n"
"output_length, and hash_ids or literal \"tokens\") at their arrival times,\n"
"with continuous batching on asymcached's pool. Writes one JSON line per\n"
"request (TTFT, TPOT, tokens, hits, holes) and a summary table.\n"
"\n"
"  -m, --model SRC        a .gguf file, a Hugging Face directory, or a\n"
"                         shape name (tiny, llama3-8b: seeded weights)\n"
"  -s, --socket PATH      the daemon's socket (/run/asymcache/asymcached.sock)\n"
"      --reuse MODE       msa (default), prefix or none\n"
"      --chunking C       adaptive (the daemon's Schedule, default) or\n"
"                         fixed:N (N tokens an iteration, decodes included)\n"
"      --order O          fcfs (default) or hrrn: admission and fixed budgets\n"
"      --max-seqs N       requests running at once (64)\n"
"      --speed F          arrivals F times faster; 0: all at once (1)\n"
"      --tokens-per-id N  tokens each hash id stands for (512, the trace's);\n"
"                         lengths scale with it\n"
"      --max-output N     cap on each request's output tokens\n"
"      --limit N          the first N requests only\n"
"      --stop-eos         end a request at the model's EOS (default: at\n"
"                         output_length, as benchmarks do)\n"
"      --block-tokens N   tokens per pool block (16)\n"
"      --seed N           seed of random weights (1)\n"
"      --salt TEXT        cache salt: tenants apart\n"
"      --name NAME        client name shown by asymcachectl\n"
"      --device DEV       cpu or cuda; must match the daemon's pool (cpu)\n"
"  -o, --output FILE      the JSON lines go there (default: stdout)\n"
"      --tokens           put each request's generated ids in its line\n"
"      --show N           print the text of the first N requests to finish\n"
"      --label TEXT       name of this run in the --summary line\n"
"      --summary FILE     append one tab-separated line of figures there\n"
"      --no-graphs        launch every kernel of a decode step (no CUDA graph)\n"
"  -q, --quiet            no progress line\n");
}

static int num(const char *s, const char *opt, unsigned long long max,
	       unsigned long long *ret)
{
	char *end;

	errno = 0;
	*ret = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || *ret > max) {
		fprintf(stderr, "asymcache-engine: bad number '%s' for %s\n", s,
			opt);
		return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct replay_cli *o)
{
	static const struct option lo[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "socket", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "reuse", required_argument, NULL, 1 },
		{ "chunking", required_argument, NULL, 2 },
		{ "order", required_argument, NULL, 3 },
		{ "max-seqs", required_argument, NULL, 4 },
		{ "speed", required_argument, NULL, 5 },
		{ "tokens-per-id", required_argument, NULL, 6 },
		{ "max-output", required_argument, NULL, 7 },
		{ "limit", required_argument, NULL, 8 },
		{ "block-tokens", required_argument, NULL, 9 },
		{ "seed", required_argument, NULL, 10 },
		{ "salt", required_argument, NULL, 11 },
		{ "device", required_argument, NULL, 12 },
		{ "tokens", no_argument, NULL, 13 },
		{ "stop-eos", no_argument, NULL, 14 },
		{ "name", required_argument, NULL, 15 },
		{ "show", required_argument, NULL, 16 },
		{ "label", required_argument, NULL, 17 },
		{ "summary", required_argument, NULL, 18 },
		{ "no-graphs", no_argument, NULL, 19 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	unsigned long long v;
	char *end;
	int c, r = 0;

	while ((c = getopt_long(argc, argv, "m:s:o:qh", lo, NULL)) != -1) {
		switch (c) {
		case 'm': o->model = optarg; break;
		case 's': o->socket = optarg; break;
		case 'o': o->output = optarg; break;
		case 'q': o->quiet = true; break;
		case 1: r = cli_parse_reuse(optarg, &o->reuse); break;
		case 2:
			r = cli_parse_chunking(optarg, &o->chunk_tokens);
			o->chunking = optarg;
			break;
		case 3: r = cli_parse_order(optarg, &o->order); break;
		case 4:
			r = num(optarg, "--max-seqs", AC_FWD_MAX_LOGITS, &v);
			o->max_seqs = (uint32_t)v;
			break;
		case 5:
			errno = 0;
			o->speed = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(o->speed >= 0) ||
			    isinf(o->speed)) {
				fprintf(stderr, "asymcache-engine: --speed takes a number >= 0, not '%s'\n",
					optarg);
				r = -EINVAL;
			}
			break;
		case 6:
			r = num(optarg, "--tokens-per-id", 1u << 20, &v);
			o->tokens_per_id = (uint32_t)v;
			break;
		case 7:
			r = num(optarg, "--max-output", UINT32_MAX, &v);
			o->max_output = (uint32_t)v;
			break;
		case 8:
			r = num(optarg, "--limit", UINT32_MAX, &v);
			o->limit = (uint32_t)v;
			break;
		case 9:
			r = num(optarg, "--block-tokens", 1u << 16, &v);
			o->block_tokens = (uint32_t)v;
			break;
		case 10:
			r = num(optarg, "--seed", UINT64_MAX, &v);
			o->seed = v;
			break;
		case 11: o->salt = optarg; break;
		case 12: r = cli_parse_device(optarg, &o->device); break;
		case 13: o->with_tokens = true; break;
		case 14: o->stop_eos = true; break;
		case 15: o->name = optarg; break;
		case 16:
			r = num(optarg, "--show", UINT32_MAX, &v);
			o->show = (uint32_t)v;
			break;
		case 17: o->label = optarg; break;
		case 18: o->summary = optarg; break;
		case 19: o->no_graphs = true; break;
		case 'h': usage(stdout); exit(EXIT_SUCCESS);
		default:
			fprintf(stderr, "Try 'asymcache-engine replay --help'.\n");
			return -EINVAL;
		}
		if (r < 0)
			return r;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "asymcache-engine: replay takes one TRACE file%s\n",
			optind < argc ? ", and only one" : "");
		fprintf(stderr, "Try 'asymcache-engine replay --help'.\n");
		return -EINVAL;
	}
	o->trace = argv[optind];
	if (!o->block_tokens || (o->block_tokens & (o->block_tokens - 1)) ||
	    !o->tokens_per_id || !o->max_seqs) {
		fprintf(stderr, "asymcache-engine: --block-tokens must be a power of two, --tokens-per-id and --max-seqs >= 1\n");
		return -EINVAL;
	}
	return 0;
}

/* splitmix64: the token run of a hash id is a pure function of the id. */
static uint64_t mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * The prompt of trace request @q: its literal tokens, or one run of
 * tokens_per_id tokens per hash id (the last cut to the scaled length).
 * Ids from vocab/8 up keep clear of the special tokens a vocabulary
 * starts with.
 */
static int32_t *prompt_of(const struct replay_cli *o,
			  const struct ac_trace_req *q, uint32_t vocab,
			  uint32_t *ret_n)
{
	uint32_t lo = vocab / 8, n;
	int32_t *p;

	if (q->tokens) {
		n = q->input;
	} else {
		n = (uint32_t)(((uint64_t)q->input * o->tokens_per_id +
				AC_TRACE_BLOCK_TOKENS - 1) / AC_TRACE_BLOCK_TOKENS);
		if (!n)
			n = 1;
	}
	p = malloc(sizeof(*p) * n);
	if (!p)
		return NULL;
	if (q->tokens) {
		memcpy(p, q->tokens, sizeof(*p) * n);
	} else {
		for (uint32_t i = 0; i < n; i++) {
			uint32_t id = i / o->tokens_per_id, k = i % o->tokens_per_id;
			uint64_t s = ((uint64_t)q->hash[id] << 24) ^ k;

			p[i] = (int32_t)(lo + mix(&s) % (vocab - lo));
		}
	}
	*ret_n = n;
	return p;
}

/* One finished request for a person: its figures and its text. */
static void show(const struct cli_model *cm, const struct ac_result *res)
{
	const struct ac_gen_stats *st = &res->st;
	char text[4096];
	size_t n = 0;

	if (!cm->tok || ac_tokenizer_decode(cm->tok, res->tokens, res->n,
					    AC_TOK_SKIP_SPECIAL, text,
					    sizeof(text) - 1, &n) < 0)
		n = 0;
	text[n] = 0;
	for (size_t i = 0; i < n; i++)
		if (text[i] == '\n' || text[i] == '\t')
			text[i] = ' ';
	fprintf(stderr, "  #%-3llu %4u prompt tokens: %4u reused (%u hit blocks, %u hole%s recomputed), %4u computed; TTFT %6.1f ms, TPOT %5.1f ms\n"
		"       \"%s\"\n",
		(unsigned long long)res->id + 1, st->prompt_tokens,
		st->reused_tokens, st->hit_blocks, st->hole_runs,
		st->hole_runs == 1 ? "" : "s", st->computed_tokens,
		st->ttft_s * 1e3,
		st->generated > 1 ? st->decode_s * 1e3 / (st->generated - 1) : 0.0,
		text);
}

static void progress(const struct replay_cli *o, double t, uint32_t done,
		     uint32_t total, const struct ac_step_info *in, bool end)
{
	bool tty = isatty(STDERR_FILENO);

	if (o->quiet)
		return;
	fprintf(stderr, "%s[%7.1f s] %u/%u done, %u running, %u waiting, %s%s",
		tty ? "\r" : "", t, done, total, in->running, in->waiting,
		in->cached ? "on the cache" : "WITHOUT the cache (daemon away)",
		tty && !end ? "\033[K" : "\n");
	if (tty && end)
		fputc('\n', stderr);
}

int cli_replay_main(int argc, char **argv)
{
	struct replay_cli o = {
		.model = "tiny", .socket = "/run/asymcache/asymcached.sock",
		.seed = 1, .block_tokens = 16, .max_seqs = 64,
		.tokens_per_id = AC_TRACE_BLOCK_TOKENS, .speed = 1.0,
		.reuse = AC_REUSE_MSA, .order = AC_ORDER_FCFS,
		.chunking = "adaptive",
	};
	struct ac_trace tr = { 0 };
	struct ac_trace_error terr;
	struct replay_report rp = { 0 };
	struct ac_runner *run = NULL;
	struct ac_step_info info = { 0 };
	struct cli_model cm = { 0 };
	struct ac_result res;
	FILE *out = stdout;
	double t0, last_progress = 0;
	uint32_t next = 0, finished = 0;
	int32_t eos = -1;
	char settings[512];
	int r;

	if (parse_args(argc, argv, &o) < 0)
		return 2;
	r = ac_trace_load(o.trace, o.limit, &tr, &terr);
	if (r < 0) {
		fprintf(stderr, "asymcache-engine: %s: %s\n", o.trace, terr.why);
		return 1;
	}
	r = cli_model_open(o.model, o.seed, o.device, 8192, &cm);
	if (r < 0)
		goto out;
	if (o.output && !(out = fopen(o.output, "we"))) {
		r = -errno;
		fprintf(stderr, "asymcache-engine: %s: %s\n", o.output,
			strerror(-r));
		out = stdout;
		goto out;
	}
	if (o.no_graphs)
		ac_model_set_graphs(cm.m, false);
	r = ac_runner_create(cm.m, &(struct ac_runner_opts){
			.socket = o.socket, .client_name = o.name,
			.model_id = cm.cfg->name, .salt = o.salt,
			.block_tokens = o.block_tokens, .reuse = o.reuse,
			.max_seqs = o.max_seqs, .chunk_tokens = o.chunk_tokens,
			.order = o.order, .need_daemon = true }, &run);
	if (r < 0) {
		cli_runner_error(o.socket, r);
		goto out;
	}
	r = replay_report_init(&rp, out, (uint32_t)tr.n, o.with_tokens);
	if (r < 0)
		goto out;
	if (o.stop_eos && cm.tok)
		eos = ac_tokenizer_eos(cm.tok);
	snprintf(settings, sizeof(settings),
		 "%zu requests of %s; model %s (%s), reuse=%s chunking=%s order=%s max-seqs=%u speed=%g tokens-per-id=%u block-tokens=%u",
		 tr.n, o.trace, cm.cfg->name,
		 o.device == AC_FWD_CUDA ? "cuda" : "cpu", cli_reuse_name(o.reuse),
		 o.chunking, o.order == AC_ORDER_HRRN ? "hrrn" : "fcfs",
		 o.max_seqs, o.speed, o.tokens_per_id, o.block_tokens);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	t0 = ac_runner_now();
	while (!stop_now && (next < tr.n || ac_runner_live(run))) {
		double now = ac_runner_now();

		/* Submit what arrives within the next step or so. */
		while (next < tr.n) {
			const struct ac_trace_req *q = &tr.reqs[next];
			double at = o.speed > 0 ? t0 + q->arrival_s / o.speed : t0;
			struct ac_request rq;
			uint32_t n;
			int32_t *p;

			if (at > now + 0.05)
				break;
			p = prompt_of(&o, q, cm.cfg->vocab, &n);
			if (!p) {
				r = -ENOMEM;
				goto out;
			}
			rq = (struct ac_request){
				.id = next, .prompt = p, .n = n,
				.max_tokens = o.max_output && q->output > o.max_output
						? o.max_output
						: (q->output ? q->output : 1),
				.stop_ids = &eos, .n_stop_ids = eos >= 0,
				.arrival_s = at,
			};
			r = ac_runner_submit(run, &rq);
			free(p);
			if (r == -E2BIG || r == -EINVAL) {
				char why[160];

				if (r == -E2BIG)
					snprintf(why, sizeof(why),
						 "refused: %u prompt + %u output tokens exceed the model's context of %u",
						 n, rq.max_tokens, cm.cfg->max_ctx);
				else
					snprintf(why, sizeof(why),
						 "refused: a token id outside the vocabulary of %u",
						 cm.cfg->vocab);
				replay_report_add(&rp, next + 1, at - t0, NULL, r, why);
			} else if (r < 0) {
				fprintf(stderr, "asymcache-engine: request %u: %s\n",
					next, ac_strerror(r));
				goto out;
			}
			next++;
		}
		r = ac_runner_step(run, &info);
		if (r < 0) {
			fprintf(stderr, "asymcache-engine: the engine failed: %s\n",
				ac_strerror(r));
			goto out;
		}
		while (ac_runner_take(run, &res) == 0) {
			replay_report_add(&rp, res.id + 1, res.st.arrival_s - t0,
					  &res, 0, NULL);
			if (finished < o.show && res.status == 0)
				show(&cm, &res);
			ac_result_free(&res);
			finished++;
		}
		now = ac_runner_now();
		if (now - last_progress >= 1.0) {
			progress(&o, now - t0, finished, (uint32_t)tr.n, &info,
				 false);
			last_progress = now;
		}
		if (!info.rows) {
			/* Nothing runnable: wait for an arrival, or for room. */
			double wake = next < tr.n && o.speed > 0
				? t0 + tr.reqs[next].arrival_s / o.speed - now
				: 0.005;

			if (wake > 0.05)
				wake = 0.05;
			if (wake > 0)
				nanosleep(&(struct timespec){ 0,
					(long)(wake * 1e9) }, NULL);
		}
	}
	fflush(out);
	progress(&o, ac_runner_now() - t0, finished, (uint32_t)tr.n, &info,
		 true);
	if (stop_now)
		fprintf(stderr, "asymcache-engine: interrupted; the summary covers the requests that finished\n");
	replay_report_summary(&rp, o.output ? stdout : stderr, settings,
			      ac_runner_now() - t0);
	r = 0;
	if (o.summary) {
		FILE *f = fopen(o.summary, "ae");

		if (!f) {
			r = -errno;
			fprintf(stderr, "asymcache-engine: %s: %s\n", o.summary,
				strerror(-r));
			goto out;
		}
		replay_report_tsv(&rp, f, o.label ? o.label : o.trace,
				  ac_runner_now() - t0);
		if (fclose(f)) {
			r = -errno;
			fprintf(stderr, "asymcache-engine: %s: %s\n", o.summary,
				strerror(-r));
		}
	}
out:
	ac_runner_free(run);
	cli_model_close(&cm);
	ac_trace_free(&tr);
	replay_report_free(&rp);
	if (out != stdout)
		fclose(out);
	return r < 0 ? 1 : 0;
}
