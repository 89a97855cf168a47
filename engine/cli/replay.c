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
#include "replay_agent.h"
#include "replay_report.h"
#include "trace.h"

/* --ttl: what a turn that declares a tool call asks of the daemon. */
enum ttl_mode {
	TTL_OFF = 0,
	TTL_FIXED,		/* ttl_ms */
	TTL_AUTO,		/* the daemon picks from the declared tool time */
};

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
	bool with_tokens, quiet, stop_eos, no_graphs, agent;
	const char *chunking;
	enum ttl_mode ttl;
	uint32_t ttl_ms;
	const char *ttl_arg, *iterations;
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
"      --order O          fcfs (default), hrrn, srpt (least prompt work\n"
"                         first) or program (an agent program's turns by\n"
"                         its start): admission and fixed budgets; the\n"
"                         daemon's [scheduler] order does it for adaptive\n"
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
"      --agent            agent programs (records with \"program\", \"turn\",\n"
"                         \"tool_ms\"): a program's first turn arrives at its\n"
"                         timestamp, turn k+1 when turn k has ended and its\n"
"                         tool call (turn k's tool_ms) has run; the other\n"
"                         timestamps are not used. Tool calls take their real\n"
"                         time under --speed, which scales first turns only.\n"
"                         Each line gains program and turn, a job's last turn\n"
"                         job_ms (its end - its program's start)\n"
"      --ttl S|auto|0     with --agent: when a turn that declares a tool call\n"
"                         ends, retain its prompt's blocks in the pool for S\n"
"                         seconds, or (auto) for the TTL the daemon picks from\n"
"                         tool_expect_ms and what the program's calls took;\n"
"                         the next turn resumes them (0: no retention, default)\n"
"      --iterations FILE  one JSON line per engine iteration there: prefill\n"
"                         tokens, pairs and segments, decode tokens and\n"
"                         context, the forward pass's seconds (the device\n"
"                         waited for: a little slower)\n"
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

/* --ttl: seconds (0: off) or auto; up to a day, as the daemon's limit. */
static int parse_ttl(const char *s, struct replay_cli *o)
{
	char *end;
	double v;

	o->ttl_arg = s;
	if (!strcmp(s, "auto")) {
		o->ttl = TTL_AUTO;
		return 0;
	}
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > 86400) {
		fprintf(stderr, "asymcache-engine: --ttl takes seconds (0 to 86400; 0: no retention) or auto, not '%s'\n",
			s);
		return -EINVAL;
	}
	o->ttl_ms = (uint32_t)llround(v * 1e3);
	if (v > 0 && !o->ttl_ms)
		o->ttl_ms = 1;
	o->ttl = o->ttl_ms ? TTL_FIXED : TTL_OFF;
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
		{ "agent", no_argument, NULL, 20 },
		{ "ttl", required_argument, NULL, 21 },
		{ "iterations", required_argument, NULL, 22 },
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
		case 20: o->agent = true; break;
		case 21: r = parse_ttl(optarg, o); break;
		case 22: o->iterations = optarg; break;
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
	if (o->ttl != TTL_OFF && !o->agent) {
		fprintf(stderr, "asymcache-engine: --ttl %s needs --agent (retention is for the tool calls of agent programs)\n",
			o->ttl_arg);
		return -EINVAL;
	}
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

/* One run's state, for the steps of the loop below. */
struct replay_run {
	struct replay_cli *o;
	struct ac_trace *tr;
	struct cli_model *cm;
	struct ac_runner *run;
	struct replay_report *rp;
	struct replay_agent ag;
	uint32_t *skipped;	/* scratch: turns a failed one cancels */
	int32_t eos;
	double t0;
};

static struct replay_turn *turn_of(const struct replay_run *rr, uint32_t i,
				   double job_s, struct replay_turn *t)
{
	const struct ac_trace_req *q = &rr->tr->reqs[i];

	if (!rr->o->agent)
		return NULL;
	*t = (struct replay_turn){ .program = q->program, .turn = q->turn,
				   .job_s = job_s };
	return t;
}

/*
 * Turn @i ended (served, failed or refused) at @finish_s; with --agent
 * its program goes on or stops. The report of @res is written here.
 */
static void turn_end(struct replay_run *rr, uint32_t i, double arrival_s,
		     const struct ac_result *res, int refused,
		     const char *why, double finish_s)
{
	struct replay_turn t;
	bool ok = res && res->status == 0;
	double job_s = -1;
	uint32_t ns = 0;

	if (rr->o->agent)
		replay_agent_end(&rr->ag, i, ok, finish_s, &job_s, rr->skipped,
				 &ns);
	replay_report_add(rr->rp, i + 1, arrival_s, res, refused, why,
			  turn_of(rr, i, job_s, &t));
	for (uint32_t k = 0; k < ns; k++) {
		char text[96];

		snprintf(text, sizeof(text),
			 "not run: turn %u of program %u before it failed",
			 rr->tr->reqs[i].turn, rr->tr->reqs[i].program);
		replay_report_add(rr->rp, rr->skipped[k] + 1, -1, NULL,
				  -ECANCELED, text,
				  turn_of(rr, rr->skipped[k], -1, &t));
	}
}

/* Submit trace request @i arriving at @at; -errno only for the runner's own failure. */
static int submit(struct replay_run *rr, uint32_t i, double at,
		  double program_start)
{
	const struct replay_cli *o = rr->o;
	const struct ac_trace_req *q = &rr->tr->reqs[i];
	struct ac_request rq;
	uint32_t n;
	int32_t *p;
	int r;

	p = prompt_of(o, q, rr->cm->cfg->vocab, &n);
	if (!p)
		return -ENOMEM;
	rq = (struct ac_request){
		.id = i, .prompt = p, .n = n,
		.max_tokens = o->max_output && q->output > o->max_output
				? o->max_output
				: (q->output ? q->output : 1),
		.stop_ids = &rr->eos, .n_stop_ids = rr->eos >= 0,
		.arrival_s = at,
	};
	if (o->agent) {
		/* Program ids from 0 in the trace; 0 means none to the runner. */
		rq.program = q->program == AC_TRACE_NONE
			? 0 : (uint64_t)q->program + 1;
		rq.program_arrival_s = program_start;
		rq.expect_ms = q->tool_expect_s >= 0
			? (uint32_t)llround(q->tool_expect_s * 1e3) : 0;
		rq.retain_ttl_ms = o->ttl == TTL_FIXED ? o->ttl_ms : 0;
		/* As the simulator: only a declared tool call is retained for. */
		rq.retain = q->tool_s >= 0 &&
			    (o->ttl == TTL_FIXED ||
			     (o->ttl == TTL_AUTO && rq.expect_ms));
	}
	r = ac_runner_submit(rr->run, &rq);
	free(p);
	if (r == -E2BIG || r == -EINVAL) {
		char why[160];

		if (r == -E2BIG)
			snprintf(why, sizeof(why),
				 "refused: %u prompt + %u output tokens exceed the model's context of %u",
				 n, rq.max_tokens, rr->cm->cfg->max_ctx);
		else
			snprintf(why, sizeof(why),
				 "refused: a token id outside the vocabulary of %u",
				 rr->cm->cfg->vocab);
		turn_end(rr, i, at - rr->t0, NULL, r, why, at);
	} else if (r < 0) {
		fprintf(stderr, "asymcache-engine: request %u: %s\n", i,
			ac_strerror(r));
		return r;
	}
	return 0;
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
	struct ac_step_info info = { 0 };
	struct cli_model cm = { 0 };
	struct replay_run rr = { .o = &o, .tr = &tr, .cm = &cm, .rp = &rp,
				 .eos = -1 };
	struct ac_result res;
	FILE *out = stdout, *iters = NULL;
	double last_progress = 0;
	uint32_t next = 0, finished = 0;
	uint64_t iter = 0;
	char settings[640], ttl_text[48] = "";
	int r;

	if (parse_args(argc, argv, &o) < 0)
		return 2;
	r = ac_trace_load(o.trace, o.limit, &tr, &terr);
	if (r < 0) {
		fprintf(stderr, "asymcache-engine: %s: %s\n", o.trace, terr.why);
		return 1;
	}
	if (o.agent) {
		r = replay_agent_init(&rr.ag, &tr, o.trace);
		if (r < 0)
			goto out;
		rr.skipped = malloc(sizeof(*rr.skipped) * (tr.n + 1));
		if (!rr.skipped) {
			r = -ENOMEM;
			fprintf(stderr, "asymcache-engine: %s\n", strerror(ENOMEM));
			goto out;
		}
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
	if (o.iterations && !(iters = fopen(o.iterations, "we"))) {
		r = -errno;
		fprintf(stderr, "asymcache-engine: %s: %s\n", o.iterations,
			strerror(-r));
		goto out;
	}
	if (o.no_graphs)
		ac_model_set_graphs(cm.m, false);
	r = ac_runner_create(cm.m, &(struct ac_runner_opts){
			.socket = o.socket, .client_name = o.name,
			.model_id = cm.cfg->name, .salt = o.salt,
			.block_tokens = o.block_tokens, .reuse = o.reuse,
			.max_seqs = o.max_seqs, .chunk_tokens = o.chunk_tokens,
			.order = o.order, .need_daemon = true,
			.timed = iters != NULL }, &rr.run);
	if (r < 0) {
		cli_runner_error(o.socket, r);
		goto out;
	}
	r = replay_report_init(&rp, out, (uint32_t)tr.n, o.with_tokens,
			       o.agent);
	if (r < 0)
		goto out;
	if (o.stop_eos && cm.tok)
		rr.eos = ac_tokenizer_eos(cm.tok);
	if (o.agent)
		snprintf(ttl_text, sizeof(ttl_text), " agent ttl=%s",
			 o.ttl == TTL_OFF ? "0" : o.ttl_arg);
	snprintf(settings, sizeof(settings),
		 "%zu requests of %s; model %s (%s), reuse=%s chunking=%s order=%s max-seqs=%u speed=%g tokens-per-id=%u block-tokens=%u%s",
		 tr.n, o.trace, cm.cfg->name,
		 o.device == AC_FWD_CUDA ? "cuda" : "cpu", cli_reuse_name(o.reuse),
		 o.chunking, cli_order_name(o.order),
		 o.max_seqs, o.speed, o.tokens_per_id, o.block_tokens,
		 ttl_text);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	rr.t0 = rp.t0 = ac_runner_now();
	while (!stop_now && (next < tr.n || (o.agent && rr.ag.ndue) ||
			     ac_runner_live(rr.run))) {
		double now = ac_runner_now(), step_at, wake;
		uint32_t i;

		/* Submit what arrives within the next step or so. */
		while (next < tr.n) {
			const struct ac_trace_req *q = &tr.reqs[next];
			double at = o.speed > 0 ? rr.t0 + q->arrival_s / o.speed
						: rr.t0;

			if (o.agent && !replay_agent_is_first(&rr.ag, next)) {
				next++;
				continue;
			}
			if (at > now + 0.05)
				break;
			if (o.agent)
				rr.ag.start[next] = at;
			r = submit(&rr, next, at, at);
			if (r < 0)
				goto out;
			next++;
		}
		while (o.agent && replay_agent_pop(&rr.ag, now + 0.05, &i)) {
			r = submit(&rr, i, rr.ag.ready[i],
				   rr.ag.start[tr.reqs[i].session]);
			if (r < 0)
				goto out;
		}
		step_at = ac_runner_now();
		r = ac_runner_step(rr.run, &info);
		if (r < 0) {
			fprintf(stderr, "asymcache-engine: the engine failed: %s\n",
				ac_strerror(r));
			goto out;
		}
		if (iters && info.rows &&
		    (r = replay_report_iteration(iters, iter++, step_at - rr.t0,
						 &info)) < 0) {
			fprintf(stderr, "asymcache-engine: %s: %s\n",
				o.iterations, strerror(-r));
			goto out;
		}
		while (ac_runner_take(rr.run, &res) == 0) {
			i = (uint32_t)res.id;
			if (res.st.retain_error == -ERANGE) {
				fprintf(stderr, "asymcache-engine: the daemon refused --ttl %s: %s (above its limits.max_retain_ttl_ms?)\n",
					o.ttl_arg, ac_strerror(res.st.retain_error));
				stop_now = 1;
				r = -ERANGE;
			}
			turn_end(&rr, i, res.st.arrival_s - rr.t0, &res, 0,
				 NULL, res.st.finish_s);
			if (finished < o.show && res.status == 0)
				show(&cm, &res);
			ac_result_free(&res);
			finished++;
		}
		now = ac_runner_now();
		if (now - last_progress >= 1.0) {
			progress(&o, now - rr.t0, finished, (uint32_t)tr.n,
				 &info, false);
			last_progress = now;
		}
		if (info.rows)
			continue;
		/* Nothing runnable: wait for an arrival, or for room. */
		wake = 0.005;
		if (next < tr.n && o.speed > 0)
			wake = rr.t0 + tr.reqs[next].arrival_s / o.speed - now;
		if (o.agent && rr.ag.ndue &&
		    replay_agent_next_due(&rr.ag) - now < wake)
			wake = replay_agent_next_due(&rr.ag) - now;
		if (wake > 0.05)
			wake = 0.05;
		if (wake > 0)
			nanosleep(&(struct timespec){ 0, (long)(wake * 1e9) },
				  NULL);
	}
	fflush(out);
	progress(&o, ac_runner_now() - rr.t0, finished, (uint32_t)tr.n, &info,
		 true);
	if (r == -ERANGE)
		goto out;
	if (stop_now)
		fprintf(stderr, "asymcache-engine: interrupted; the summary covers the requests that finished\n");
	replay_report_summary(&rp, o.output ? stdout : stderr, settings,
			      ac_runner_now() - rr.t0);
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
				  ac_runner_now() - rr.t0);
		if (fclose(f)) {
			r = -errno;
			fprintf(stderr, "asymcache-engine: %s: %s\n", o.summary,
				strerror(-r));
		}
	}
out:
	ac_runner_free(rr.run);
	cli_model_close(&cm);
	if (o.agent)
		replay_agent_free(&rr.ag);
	free(rr.skipped);
	ac_trace_free(&tr);
	replay_report_free(&rp);
	if (iters && fclose(iters) && r == 0) {
		r = -errno;
		fprintf(stderr, "asymcache-engine: %s: %s\n", o.iterations,
			strerror(-r));
	}
	if (out != stdout)
		fclose(out);
	return r < 0 ? 1 : 0;
}
