/* SPDX-License-Identifier: MIT */
/*
 * asymcache-engine replay --agent through a real asymcached (tiny on the
 * CPU): a program's turns run in order, each after the one before has
 * ended and its tool call has run; a job's latency is reported; --ttl
 * keeps a paused chain through pressure that evicts it without, moves the
 * daemon's retention counters and changes no token; --iterations lines add
 * up to the run's totals; bad input is refused clearly.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine_env.h"

#define NLINES	16
#define NFILL	8

/*
 * Program 0's tool call, which the fillers must run in: longer under
 * valgrind (make valgrind), where they take seconds.
 */
static unsigned tool0_ms(void)
{
	const char *v = getenv("AC_VALGRIND");

	return v && !strcmp(v, "1") ? 15000 : 1500;
}

static bool under_valgrind(void)
{
	return tool0_ms() > 1500;
}

/* One JSON line of a replay. */
struct tline {
	bool seen, ok;
	int program, turn;		/* -1: none */
	double arrival_ms, finish_ms, ttft_ms, job_ms;	/* job_ms -1: none */
	int hit_blocks, retained, computed, output;
	bool resumed, declined, cached;
	bool resume_seen;		/* a "resumed" field, true or false */
	int32_t tokens[8];
	uint32_t ntok;
};

/* asymcache-engine replay -m tiny -q ARGS..., output to DIR/TAG.log. */
static pid_t replay_start(const char *dir, const char *tag,
			  const char *const *args)
{
	const char *root = getenv("AC_BUILD_ROOT");
	char path[512], file[600];
	char *argv[32];
	int n = 0;
	pid_t pid;

	cr_assert_not_null(root, "AC_BUILD_ROOT is not set");
	snprintf(path, sizeof(path), "%s/engine/cli/asymcache-engine", root);
	snprintf(file, sizeof(file), "%s/%s.log", dir, tag);
	argv[n++] = path;
	argv[n++] = "replay";
	argv[n++] = "-m";
	argv[n++] = "tiny";
	argv[n++] = "-q";
	for (int i = 0; args[i]; i++) {
		cr_assert_lt(n, 30, "too many arguments");
		argv[n++] = (char *)args[i];
	}
	argv[n] = NULL;
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(fd, STDERR_FILENO);
		dup2(fd, STDOUT_FILENO);
		execv(path, argv);
		_exit(127);
	}
	return pid;
}

/* Its exit status, its output in @log. */
static int replay_wait(pid_t pid, const char *dir, const char *tag,
		       char *log, size_t len)
{
	char file[600];
	size_t got;
	FILE *f;
	int ws;

	cr_assert_eq(waitpid(pid, &ws, 0), pid);
	snprintf(file, sizeof(file), "%s/%s.log", dir, tag);
	f = fopen(file, "r");
	cr_assert_not_null(f);
	got = fread(log, 1, len - 1, f);
	log[got] = 0;
	fclose(f);
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static int replay(const char *dir, const char *tag, const char *const *args,
		  char *log, size_t len)
{
	return replay_wait(replay_start(dir, tag, args), dir, tag, log, len);
}

static int get_int(struct json_object *o, const char *k, int dflt)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int(v)
						   : dflt;
}

static double get_double(struct json_object *o, const char *k, double dflt)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_double(v)
						   : dflt;
}

static void read_tlines(const char *path, struct tline *l)
{
	FILE *f = fopen(path, "r");
	char buf[8192];

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	memset(l, 0, sizeof(*l) * NLINES);
	while (fgets(buf, sizeof(buf), f)) {
		struct json_object *o = json_tokener_parse(buf), *t;
		int at;

		cr_assert_not_null(o, "%s: not JSON: %s", path, buf);
		at = get_int(o, "line", 0) - 1;
		cr_assert(at >= 0 && at < NLINES, "%s", buf);
		l[at].seen = true;
		l[at].ok = !json_object_object_get_ex(o, "error", NULL);
		l[at].program = get_int(o, "program", -1);
		l[at].turn = get_int(o, "turn", -1);
		l[at].arrival_ms = get_double(o, "arrival_ms", -1);
		l[at].finish_ms = get_double(o, "finish_ms", -1);
		l[at].ttft_ms = get_double(o, "ttft_ms", -1);
		l[at].job_ms = get_double(o, "job_ms", -1);
		l[at].hit_blocks = get_int(o, "hit_blocks", 0);
		l[at].retained = get_int(o, "retained_blocks", 0);
		l[at].computed = get_int(o, "computed_tokens", 0);
		l[at].output = get_int(o, "output_tokens", 0);
		l[at].resume_seen = json_object_object_get_ex(o, "resumed", &t);
		l[at].resumed = l[at].resume_seen && json_object_get_boolean(t);
		l[at].cached = json_object_object_get_ex(o, "cached", &t) &&
			       json_object_get_boolean(t);
		l[at].declined = json_object_object_get_ex(o, "retain_declined",
							   NULL);
		if (json_object_object_get_ex(o, "tokens", &t)) {
			l[at].ntok = (uint32_t)json_object_array_length(t);
			for (uint32_t i = 0; i < l[at].ntok && i < 8; i++)
				l[at].tokens[i] = json_object_get_int(
					json_object_array_get_idx(t, i));
		}
		json_object_put(o);
	}
	fclose(f);
}

static void put_ids(FILE *f, uint32_t first, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		fprintf(f, "%s%u", i ? ", " : "", first + i);
}

/*
 * Program 0: 8 blocks, a tool call of tool0_ms(), then 12 blocks whose first
 * 8 are the chain. Fillers of 10 blocks of their own arrive in the tool
 * call: under a pool of 64 blocks they evict the paused chain (lru) unless
 * it is retained. Program 1: three turns of 3, 5 and 7 blocks with short
 * tool calls, its chains beside program 0's within the retention budget
 * of 16 blocks. Every
 * turn's timestamp is its program's start: the later ones must be ignored.
 * One id is one 16-token block (--tokens-per-id 16).
 */
static void write_agent_trace(const char *path)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fprintf(f, "{\"timestamp\": 0, \"input_length\": 4096, \"output_length\": 4, \"program\": 0, \"turn\": 0, \"tool_ms\": %u, \"tool_expect_ms\": 1000, \"hash_ids\": [",
		tool0_ms());
	put_ids(f, 0, 8);
	fprintf(f, "]}\n{\"timestamp\": 0, \"input_length\": 6144, \"output_length\": 4, \"program\": 0, \"turn\": 1, \"hash_ids\": [");
	put_ids(f, 0, 12);
	fprintf(f, "]}\n");
	for (uint32_t j = 0; j < NFILL; j++) {
		fprintf(f, "{\"timestamp\": %u, \"input_length\": 5120, \"output_length\": 2, \"hash_ids\": [",
			20 + 40 * j);
		put_ids(f, 100 + 10 * j, 10);
		fprintf(f, "]}\n");
	}
	for (uint32_t k = 0; k < 3; k++) {
		fprintf(f, "{\"timestamp\": 600, \"input_length\": %u, \"output_length\": 3, \"program\": 1, \"turn\": %u, ",
			(3 + 2 * k) * 512, k);
		if (k < 2)
			fprintf(f, "\"tool_ms\": %u, \"tool_expect_ms\": 150, ",
				k ? 100 : 250);
		fprintf(f, "\"hash_ids\": [");
		put_ids(f, 500, 3 + 2 * k);
		fprintf(f, "]}\n");
	}
	fclose(f);
}

/* A tool call after each trace line, as written above; -1: none. */
static double tool_after(uint32_t line)
{
	if (line == 1)
		return tool0_ms();
	if (line == 3 + NFILL)
		return 250;
	if (line == 4 + NFILL)
		return 100;
	return -1;
}

/* Turn order, tool waits and job latencies of a run's lines. */
static void check_jobs(const struct tline *l, const char *log)
{
	uint32_t nlines = 4 + NFILL + 1;

	for (uint32_t i = 0; i < nlines; i++) {
		cr_assert(l[i].seen && l[i].ok, "line %u missing or failed\n%s",
			  i + 1, log);
		cr_expect(l[i].finish_ms >= l[i].arrival_ms + l[i].ttft_ms - 0.01);
		if (tool_after(i + 1) < 0)
			continue;
		/* Turn k+1 arrives when turn k ended and its tool ran. */
		cr_expect(fabs(l[i + 1].arrival_ms -
			       (l[i].finish_ms + tool_after(i + 1))) < 0.01,
			  "line %u arrived at %.3f ms; line %u ended at %.3f ms, tool %.0f ms",
			  i + 2, l[i + 1].arrival_ms, i + 1, l[i].finish_ms,
			  tool_after(i + 1));
		cr_expect_eq(l[i + 1].turn, l[i].turn + 1);
		cr_expect_eq(l[i + 1].program, l[i].program);
		cr_expect_lt(l[i].job_ms, 0, "a job's middle turn has no job_ms");
	}
	/* Program 0 started at 0, program 1 at 600 ms (--speed 1). */
	cr_expect(fabs(l[1].job_ms - l[1].finish_ms) < 0.01,
		  "job 0: %.3f ms, ended at %.3f", l[1].job_ms, l[1].finish_ms);
	cr_expect(fabs(l[nlines - 1].job_ms - (l[nlines - 1].finish_ms - 600)) < 0.01);
	cr_expect_geq(l[1].job_ms, tool0_ms());
	cr_expect_geq(l[nlines - 1].job_ms, 350);
	/* A record of no program is a job of one turn. */
	cr_expect_eq(l[2].program, -1);
	cr_expect(fabs(l[2].job_ms - (l[2].finish_ms - l[2].arrival_ms)) < 0.01);
	cr_expect(strstr(log, "jobs        10 finished"), "%s", log);
	cr_expect(strstr(log, "job ms"), "%s", log);
}

Test(agent_replay, turns_wait_for_tools_and_retention_keeps_the_chain)
{
	char trace[300], out[300], iters[300], log[16384];
	struct tline none[NLINES], ttl[NLINES], aut[NLINES];
	uint64_t prefill = 0, decode = 0, computed = 0, gen = 0;
	uint32_t nlines = 4 + NFILL + 1, total, mine;
	struct ac_stats st;
	struct env e;
	FILE *f;

	/* 64 blocks of tiny; the retention budget is a quarter: 16. */
	env_start(&e, "[pool]\nbackend = host\nbytes = 512K\nblock_bytes = 8K\n");
	snprintf(trace, sizeof(trace), "%s/agent.jsonl", e.d.dir);
	snprintf(iters, sizeof(iters), "%s/iters.jsonl", e.d.dir);
	write_agent_trace(trace);

	/* Each run its own salt: none finds another's blocks. */
	snprintf(out, sizeof(out), "%s/none.jsonl", e.d.dir);
	cr_assert_eq(replay(e.d.dir, "none", (const char *const[]){
		"-s", e.d.sock, "--tokens-per-id", "16", "--agent",
		"--salt", "none", "--tokens", "-o", out, trace, NULL },
		log, sizeof(log)), 0, "%s", log);
	read_tlines(out, none);
	check_jobs(none, log);
	cr_expect_lt(none[1].hit_blocks, 8,
		     "the fillers evicted the paused chain (lru)");
	cr_expect_eq(env_bus_u64(&e, "RetainResumed"), 0);

	snprintf(out, sizeof(out), "%s/ttl.jsonl", e.d.dir);
	cr_assert_eq(replay(e.d.dir, "ttl", (const char *const[]){
		"-s", e.d.sock, "--tokens-per-id", "16", "--agent",
		"--ttl", "60", "--iterations", iters, "--salt", "ttl",
		"--tokens", "-o", out, trace, NULL }, log, sizeof(log)), 0,
		"%s", log);
	read_tlines(out, ttl);
	check_jobs(ttl, log);
	cr_expect_eq(ttl[0].retained, 8, "the prompt's 8 blocks retained");
	cr_expect(ttl[1].resumed);
	cr_expect_eq(ttl[1].hit_blocks, 8, "the retained chain was hit");
	cr_expect_gt(ttl[1].hit_blocks, none[1].hit_blocks);
	cr_expect(ttl[3 + NFILL].resumed && ttl[4 + NFILL].resumed);
	cr_expect_eq(env_bus_u64(&e, "RetainResumed"), 3);
	cr_expect(strstr(log, "3 turns retained"), "%s", log);
	cr_expect(strstr(log, "3 resumed in time"), "%s", log);
	/* Lossless: the same greedy tokens, retained or recomputed. */
	for (uint32_t i = 0; i < nlines; i++) {
		cr_expect_eq(ttl[i].ntok, none[i].ntok, "line %u", i + 1);
		cr_expect_arr_eq(ttl[i].tokens, none[i].tokens,
				 sizeof(int32_t) * ttl[i].ntok, "line %u", i + 1);
	}
	/* The iterations add up to what the requests report. */
	for (uint32_t i = 0; i < nlines; i++) {
		computed += (uint64_t)ttl[i].computed;
		gen += (uint64_t)ttl[i].output - 1;
	}
	f = fopen(iters, "r");
	cr_assert_not_null(f);
	while (fgets(log, sizeof(log), f)) {
		struct json_object *o = json_tokener_parse(log);

		cr_assert_not_null(o, "not JSON: %s", log);
		prefill += (uint64_t)get_int(o, "prefill_tokens", -1);
		decode += (uint64_t)get_int(o, "decode_tokens", -1);
		cr_expect_gt(get_double(o, "forward_s", 0), 0, "%s", log);
		cr_expect_eq(get_int(o, "rows", -1),
			     get_int(o, "prefill_tokens", -1) +
			     get_int(o, "decode_tokens", -1), "%s", log);
		if (get_int(o, "prefill_tokens", 0))
			cr_expect(get_int(o, "segments", 0) >= 1 &&
				  get_double(o, "prefill_pairs", 0) > 0, "%s", log);
		if (get_int(o, "decode_tokens", 0))
			cr_expect_geq(get_int(o, "decode_ctx", 0),
				      get_int(o, "decode_tokens", 0), "%s", log);
		json_object_put(o);
	}
	fclose(f);
	cr_expect_eq(prefill, computed);
	cr_expect_eq(decode, gen);

	/* auto: the daemon picks each TTL, or declines; nothing else. */
	snprintf(out, sizeof(out), "%s/auto.jsonl", e.d.dir);
	cr_assert_eq(replay(e.d.dir, "auto", (const char *const[]){
		"-s", e.d.sock, "--tokens-per-id", "16", "--agent",
		"--ttl", "auto", "--salt", "auto", "--tokens", "-o", out,
		trace, NULL }, log, sizeof(log)), 0, "%s", log);
	read_tlines(out, aut);
	check_jobs(aut, log);
	for (uint32_t i = 0; i < nlines; i++) {
		if (tool_after(i + 1) >= 0)
			cr_expect(aut[i].retained || aut[i].declined,
				  "line %u: retained or declined", i + 1);
		cr_expect_arr_eq(aut[i].tokens, none[i].tokens,
				 sizeof(int32_t) * aut[i].ntok, "line %u", i + 1);
	}

	/* Every engine has gone: nothing pinned, nothing retained. */
	cr_assert_eq(ac_stats(e.peek, &st), 0);
	cr_expect_eq(st.pinned_blocks, 0);
	cr_expect_eq(st.writing_blocks, 0);
	cr_assert_eq(ac_retained(e.peek, &total, &mine), 0);
	cr_expect_eq(total, 0);
	env_stop(&e);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

Test(agent_replay, bad_input_is_refused_clearly)
{
	char plain[300], notool[300], agent[300], log[8192];
	struct env e;

	env_start(&e, "[pool]\nbackend = host\nbytes = 512K\nblock_bytes = 8K\n");
	snprintf(plain, sizeof(plain), "%s/plain.jsonl", e.d.dir);
	snprintf(notool, sizeof(notool), "%s/notool.jsonl", e.d.dir);
	snprintf(agent, sizeof(agent), "%s/agent.jsonl", e.d.dir);
	write_text(plain, "{\"timestamp\": 0, \"output_length\": 2, \"tokens\": [1, 2, 3]}\n");
	write_text(notool, "{\"timestamp\": 0, \"output_length\": 2, \"program\": 4, \"turn\": 0, \"tokens\": [1, 2, 3]}\n"
			   "{\"timestamp\": 0, \"output_length\": 2, \"program\": 4, \"turn\": 1, \"tokens\": [1, 2, 3, 4]}\n");
	write_text(agent, "{\"timestamp\": 0, \"output_length\": 2, \"program\": 4, \"turn\": 0, \"tool_ms\": 10, \"tokens\": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]}\n"
			  "{\"timestamp\": 0, \"output_length\": 2, \"program\": 4, \"turn\": 1, \"tokens\": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]}\n");

	cr_expect_eq(replay(e.d.dir, "garbage", (const char *const[]){
		"-s", e.d.sock, "--agent", "--ttl", "soon", agent, NULL },
		log, sizeof(log)), 2);
	cr_expect(strstr(log, "--ttl takes seconds (0 to 86400; 0: no retention) or auto, not 'soon'"),
		  "%s", log);
	cr_expect_eq(replay(e.d.dir, "neg", (const char *const[]){
		"-s", e.d.sock, "--agent", "--ttl", "-1", agent, NULL },
		log, sizeof(log)), 2);
	cr_expect(strstr(log, "not '-1'"), "%s", log);
	cr_expect_eq(replay(e.d.dir, "noagent", (const char *const[]){
		"-s", e.d.sock, "--ttl", "5", agent, NULL }, log,
		sizeof(log)), 2);
	cr_expect(strstr(log, "--ttl 5 needs --agent"), "%s", log);
	cr_expect_eq(replay(e.d.dir, "plain", (const char *const[]){
		"-s", e.d.sock, "--agent", plain, NULL }, log, sizeof(log)), 1);
	cr_expect(strstr(log, "plain.jsonl: --agent needs records with a \"program\" field"),
		  "%s", log);
	cr_expect_eq(replay(e.d.dir, "notool", (const char *const[]){
		"-s", e.d.sock, "--agent", notool, NULL }, log, sizeof(log)), 1);
	cr_expect(strstr(log, "notool.jsonl: line 1: tool_ms: missing, and turn 0 of program 4 is followed by turn 1"),
		  "%s", log);
	/* Above the daemon's limits.max_retain_ttl_ms (600 s by default). */
	cr_expect_eq(replay(e.d.dir, "long", (const char *const[]){
		"-s", e.d.sock, "--agent", "--ttl", "700", agent, NULL },
		log, sizeof(log)), 1);
	cr_expect(strstr(log, "the daemon refused --ttl 700"), "%s", log);
	/* --ttl 0 is no retention; the file is read as before. */
	cr_expect_eq(replay(e.d.dir, "zero", (const char *const[]){
		"-s", e.d.sock, "--agent", "--ttl", "0", agent, NULL },
		log, sizeof(log)), 0, "%s", log);
	cr_expect(strstr(log, "0 turns retained"), "%s", log);
	env_stop(&e);
}

/*
 * The daemon is SIGKILLed while a turn's chain is retained: the next
 * turn is served without the cache and resumes nothing (the retention
 * died with the session); after a new daemon comes up, the turn after
 * it is served on the pool again, resuming nothing stale, and the engine
 * leaves nothing pinned there.
 */
Test(agent_replay, a_retention_dies_with_its_daemon)
{
	char pool[] = "[pool]\nbackend = host\nbytes = 512K\nblock_bytes = 8K\n";
	struct th_daemon d1 = { 0 }, d2 = { 0 };
	struct th_daemon_opts o1 = { .tag = "ac-engine", .config = pool };
	struct th_daemon_opts o2 = { .tag = "ac-engine", .config = pool };
	char trace[300], out[300], sock[300], log[16384];
	struct ac_client *peek;
	struct tline l[NLINES];
	struct ac_stats st;
	uint32_t total;
	pid_t a;
	FILE *f;

	cr_assert_eq(th_daemon_start(&d1, &o1), 0, "asymcached did not start");
	snprintf(trace, sizeof(trace), "%s/agent.jsonl", d1.dir);
	snprintf(out, sizeof(out), "%s/out.jsonl", d1.dir);
	snprintf(sock, sizeof(sock), "%s", d1.sock);
	f = fopen(trace, "w");
	cr_assert_not_null(f);
	for (uint32_t k = 0; k < 3; k++) {
		fprintf(f, "{\"timestamp\": 0, \"input_length\": %u, \"output_length\": 3, \"program\": 9, \"turn\": %u, ",
			(4 + 2 * k) * 512, k);
		if (k < 2)
			fprintf(f, "\"tool_ms\": %u, \"tool_expect_ms\": 500, ",
				k ? (under_valgrind() ? 15000 : 3000) : 1000);
		fprintf(f, "\"hash_ids\": [");
		put_ids(f, 40, 4 + 2 * k);
		fprintf(f, "]}\n");
	}
	fclose(f);
	a = replay_start(d1.dir, "orphan", (const char *const[]){
		"-s", sock, "--tokens-per-id", "16", "--agent", "--ttl", "30",
		"-o", out, trace, NULL });
	cr_assert(env_wait_for_text(out, "\"retained_blocks\":4", 60000),
		  "turn 0 was not retained");
	cr_assert_eq(kill(d1.pid, SIGKILL), 0);
	cr_assert_eq(th_daemon_stop(&d1), 128 + SIGKILL);
	cr_assert(env_wait_for_text(out, "\"cached\":false", 60000),
		  "turn 1 was not served without the daemon");
	o2.args = (const char *const[]){ "--socket", sock, NULL };
	unlink(sock);
	cr_assert_eq(th_daemon_start(&d2, &o2), 0,
		     "the second daemon did not start");
	cr_assert_eq(replay_wait(a, d1.dir, "orphan", log, sizeof(log)), 0,
		     "%s", log);
	read_tlines(out, l);
	for (uint32_t i = 0; i < 3; i++)
		cr_assert(l[i].seen && l[i].ok, "turn %u\n%s", i, log);
	cr_expect(l[0].cached && l[0].retained == 4);
	cr_expect(!l[1].cached && !l[1].resume_seen && !l[1].retained,
		  "turn 1: no daemon, nothing to resume or retain");
	cr_expect(l[2].cached, "turn 2 is on the new daemon's pool");
	cr_expect(!l[2].resume_seen, "nothing stale resumed");
	cr_expect_gt(l[2].job_ms, 4000);
	cr_assert_eq(ac_connect(sock, "test-peek", &peek), 0);
	cr_assert_eq(ac_stats(peek, &st), 0);
	cr_expect_eq(st.pinned_blocks, 0);
	cr_assert_eq(ac_retained(peek, &total, NULL), 0);
	cr_expect_eq(total, 0);
	ac_disconnect(peek);
	cr_expect_eq(th_daemon_stop(&d2), 0, "asymcached exit status");
	th_daemon_cleanup(&d2);
	th_daemon_cleanup(&d1);
}

static void write_line(FILE *f, unsigned ts, unsigned first, unsigned n,
		       const char *extra)
{
	fprintf(f, "{\"timestamp\": %u, \"input_length\": %u, \"output_length\": 8, %s\"hash_ids\": [",
		ts, n * 512, extra);
	put_ids(f, first, n);
	fputs("]}\n", f);
}

/*
 * --order, one request running at a time: srpt serves the shortest prompt
 * first where fcfs keeps the file's order; under program order a
 * program's second turn goes before a later program's first turn that
 * arrived before it, where fcfs takes the earlier arrival.
 */
Test(agent_replay, orders_srpt_and_program)
{
	static const char *const orders[] = { "fcfs", "srpt", "program" };
	char three[300], agent[300], out[300], log[16384];
	struct tline l[NLINES];
	struct env e;
	FILE *f;

	env_start(&e, "[pool]\nbackend = host\nbytes = 4M\nblock_bytes = 8K\n");
	snprintf(three, sizeof(three), "%s/three.jsonl", e.d.dir);
	f = fopen(three, "w");
	cr_assert_not_null(f);
	write_line(f, 0, 100, 24, "");
	write_line(f, 0, 200, 4, "");
	write_line(f, 0, 300, 12, "");
	fclose(f);
	snprintf(agent, sizeof(agent), "%s/programs.jsonl", e.d.dir);
	f = fopen(agent, "w");
	cr_assert_not_null(f);
	write_line(f, 0, 400, 40, "\"program\": 0, \"turn\": 0, \"tool_ms\": 0, ");
	write_line(f, 0, 400, 44, "\"program\": 0, \"turn\": 1, ");
	write_line(f, 1, 500, 20, "\"program\": 1, \"turn\": 0, ");
	write_line(f, 2, 600, 4, "\"program\": 2, \"turn\": 0, ");
	fclose(f);
	for (int i = 0; i < 2; i++) {
		snprintf(out, sizeof(out), "%s/%s.jsonl", e.d.dir, orders[i]);
		cr_assert_eq(replay(e.d.dir, orders[i], (const char *const[]){
			"-s", e.d.sock, "--tokens-per-id", "16", "--max-seqs", "1",
			"--chunking", "fixed:4096", "--order", orders[i],
			"--salt", orders[i], "-o", out, three, NULL },
			log, sizeof(log)), 0, "%s", log);
		read_tlines(out, l);
		cr_assert(l[0].ok && l[1].ok && l[2].ok, "%s", log);
		if (i == 0)
			cr_expect(l[0].finish_ms < l[1].finish_ms &&
				  l[1].finish_ms < l[2].finish_ms,
				  "fcfs: %.1f %.1f %.1f", l[0].finish_ms,
				  l[1].finish_ms, l[2].finish_ms);
		else
			cr_expect(l[1].finish_ms < l[2].finish_ms &&
				  l[2].finish_ms < l[0].finish_ms,
				  "srpt: %.1f %.1f %.1f", l[0].finish_ms,
				  l[1].finish_ms, l[2].finish_ms);
	}
	for (int i = 0; i < 3; i += 2) {
		snprintf(out, sizeof(out), "%s/agent-%s.jsonl", e.d.dir, orders[i]);
		cr_assert_eq(replay(e.d.dir, orders[i], (const char *const[]){
			"-s", e.d.sock, "--tokens-per-id", "16", "--max-seqs", "1",
			"--chunking", "fixed:4096", "--order", orders[i], "--agent",
			"--salt", orders[i], "-o", out, agent, NULL },
			log, sizeof(log)), 0, "%s", log);
		read_tlines(out, l);
		cr_assert(l[0].ok && l[1].ok && l[2].ok && l[3].ok, "%s", log);
		/* Both later programs were waiting when turn 0 ended. */
		cr_assert_gt(l[0].finish_ms, 2.0, "turn 0 ended before the others came");
		if (i == 0)
			cr_expect_lt(l[2].finish_ms, l[1].finish_ms,
				     "fcfs: program 1 (arrived at 1 ms) before program 0's turn 1");
		else
			cr_expect_lt(l[1].finish_ms, l[2].finish_ms,
				     "program: program 0's turn 1 before program 1");
	}
	cr_assert_eq(replay(e.d.dir, "bad", (const char *const[]){
		"-s", e.d.sock, "--order", "lifo", three, NULL },
		log, sizeof(log)), 2);
	cr_expect(strstr(log, "--order takes fcfs, hrrn, srpt or program, not 'lifo'"),
		  "%s", log);
	env_stop(&e);
}
