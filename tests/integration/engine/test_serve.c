/* SPDX-License-Identifier: MIT */
/*
 * Serving through a real asymcached: continuous batching with holes
 * forced through the admin interface gives every request the tokens of a
 * run with no cache; preemption under a pool too small for the batch
 * completes every request with the tokens it produces alone; engine
 * processes share blocks, survive a SIGKILLed peer and their daemon going
 * away; two models share one pool.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine_env.h"

/*
 * The process tests run on the CPU with tiny, or, with AC_TEST_DEVICE=cuda
 * (the gpu-serve test), on a CUDA pool with the shape "small" (the
 * kernels take head dims of 64 and 128, not tiny's 16).
 */
static bool on_gpu(void)
{
	const char *d = getenv("AC_TEST_DEVICE");

	return d && !strcmp(d, "cuda");
}

static const char *test_model(void)
{
	return on_gpu() ? "small" : "tiny";
}

/* The [pool] section: @bytes of blocks that hold the test model's. */
static const char *pool_cfg(const char *bytes, char *buf, size_t len)
{
	/* small in bf16: 4 x 2 x 2 x 64 x 16 x 2 B = 32 KiB a block. */
	snprintf(buf, len, "[pool]\nbackend = %s\nbytes = %s\nblock_bytes = %s\n",
		 on_gpu() ? "cuda" : "host", bytes, on_gpu() ? "32K" : "8K");
	return buf;
}

static void gpu_skip_unless_ready(void)
{
	if (!on_gpu())
		return;
	if (access("/dev/nvidiactl", F_OK))
		cr_skip_test("no CUDA device");
}

#define GEN 10		/* tokens generated a request */
#define GEN_MAX 64
#define MAXJ 16

struct job {
	int32_t prompt[400];
	uint32_t n;
	int32_t out[GEN_MAX];
	uint32_t nout;
	struct ac_gen_stats st;
};

/* A shared 96-token prefix, then each job's own tokens. */
static void make_jobs(struct job *j, uint32_t nj, uint32_t vocab,
		      uint32_t min_own, uint32_t max_own)
{
	int32_t prefix[96];

	srand(77);
	for (uint32_t i = 0; i < 96; i++)
		prefix[i] = rand() % (int)vocab;
	for (uint32_t k = 0; k < nj; k++) {
		uint32_t own = min_own + (uint32_t)rand() % (max_own - min_own + 1);

		memcpy(j[k].prompt, prefix, sizeof(prefix));
		for (uint32_t i = 0; i < own; i++)
			j[k].prompt[96 + i] = rand() % (int)vocab;
		j[k].n = 96 + own;
	}
}

/* Submit every job at once and serve them; the most that ran together. */
static uint32_t serve_gen(struct ac_runner *r, struct job *j, uint32_t nj,
			  uint32_t gen, uint32_t *preempted)
{
	struct ac_step_info info;
	struct ac_result res;
	uint32_t most = 0, got = 0;

	*preempted = 0;
	for (uint32_t k = 0; k < nj; k++)
		cr_assert_eq(ac_runner_submit(r, &(struct ac_request){
				.id = k, .prompt = j[k].prompt, .n = j[k].n,
				.max_tokens = gen }), 0);
	while (got < nj) {
		cr_assert_eq(ac_runner_step(r, &info), 0);
		if (info.running > most)
			most = info.running;
		*preempted += info.preempted;
		while (ac_runner_take(r, &res) == 0) {
			cr_assert_eq(res.status, 0, "request %lu: %s",
				     (unsigned long)res.id,
				     ac_strerror(res.status));
			cr_assert_eq(res.n, gen);
			memcpy(j[res.id].out, res.tokens, sizeof(int32_t) * gen);
			j[res.id].nout = res.n;
			j[res.id].st = res.st;
			ac_result_free(&res);
			got++;
		}
	}
	cr_assert_eq(ac_runner_live(r), 0);
	return most;
}

static uint32_t serve_all(struct ac_runner *r, struct job *j, uint32_t nj,
			  uint32_t *preempted)
{
	return serve_gen(r, j, nj, GEN, preempted);
}

static void load_tiny(struct ac_model **m)
{
	struct ac_weights *w = NULL;
	char err[256] = "";

	cr_assert_eq(ac_weights_load("tiny", AC_DTYPE_FP32, 3, &w, err,
				     sizeof(err)), 0, "%s", err);
	cr_assert_eq(ac_model_create(w, AC_FWD_CPU, 1024, m, err,
				     sizeof(err)), 0, "%s", err);
	ac_weights_free(w);
}

/* Every distinct full-block key of the jobs' prompts, in one probe. */
static void probe_all(struct ac_runner *r, const struct job *j, uint32_t nj,
		      struct ac_runner_probe *p)
{
	p->nkeys = 0;
	for (uint32_t k = 0; k < nj; k++) {
		struct ac_key keys[64];
		size_t nk = 64;

		cr_assert_eq(ac_runner_keys(r, j[k].prompt, j[k].n, keys, &nk,
					    &p->ns), 0);
		for (size_t i = 0; i < nk; i++) {
			size_t x;

			for (x = 0; x < p->nkeys; x++)
				if (!memcmp(&p->keys[x], &keys[i], sizeof(keys[i])))
					break;
			if (x == p->nkeys) {
				cr_assert_lt(p->nkeys, 256);
				p->keys[p->nkeys++] = keys[i];
			}
		}
	}
}

Test(serve, continuous_batching_with_holes_is_lossless)
{
	if (on_gpu())
		cr_skip_test("on the CPU only (the CUDA run covers the processes)");
	struct ac_runner_opts ro = { .block_tokens = 16, .model_id = "tiny" };
	struct ac_runner *none, *msa, *fixed, *prefix;
	static struct job ref[MAXJ], j[MAXJ];
	struct ac_runner_probe probe;
	struct ac_model *m;
	uint32_t most, pre, holes = 0, reused = 0;
	bool keep[256];
	struct env e;

	load_tiny(&m);
	env_start(&e, "[pool]\nbackend = host\nbytes = 4M\nblock_bytes = 8K\n");
	ro.socket = e.d.sock;
	ro.reuse = AC_REUSE_NONE;
	ro.chunk_tokens = 64;
	env_runner(m, &ro, &none);
	ro.reuse = AC_REUSE_MSA;
	ro.chunk_tokens = 0;
	env_runner(m, &ro, &msa);
	ro.chunk_tokens = 48;
	env_runner(m, &ro, &fixed);
	ro.reuse = AC_REUSE_PREFIX;
	ro.order = AC_ORDER_HRRN;
	env_runner(m, &ro, &prefix);
	env_peek_register(&e, m, &ro);
	make_jobs(ref, MAXJ, 256, 40, 260);
	most = serve_all(none, ref, MAXJ, &pre);
	cr_assert_gt(most, 1, "the requests ran one at a time");
	probe_all(msa, ref, MAXJ, &probe);
	srand(5);
	for (int round = 0; round < 6; round++) {
		struct ac_runner *r = round % 3 == 0 ? msa
				    : round % 3 == 1 ? fixed : prefix;

		memcpy(j, ref, sizeof(j));
		serve_all(none, j, MAXJ, &pre);	/* everything cached again */
		for (uint32_t i = 0; i < probe.nkeys; i++)
			keep[i] = rand() % 3 != 0;
		env_keep_only(&e, &probe, keep);
		serve_all(r, j, MAXJ, &pre);
		for (uint32_t k = 0; k < MAXJ; k++) {
			cr_assert_arr_eq(j[k].out, ref[k].out, sizeof(j[k].out),
					 "round %d, request %u: tokens differ from the uncached run",
					 round, k);
			holes += j[k].st.hole_runs;
			reused += j[k].st.reused_tokens;
		}
	}
	cr_expect_gt(holes, 0, "no request recomputed a hole");
	cr_expect_gt(reused, 0, "nothing was reused");
	ac_runner_free(none);
	ac_runner_free(msa);
	ac_runner_free(fixed);
	ac_runner_free(prefix);
	env_stop(&e);
	ac_model_free(m);
}

Test(serve, preemption_completes_every_request_as_alone)
{
	if (on_gpu())
		cr_skip_test("on the CPU only (the CUDA run covers the processes)");
	struct ac_runner_opts ro = { .block_tokens = 16, .model_id = "tiny" };
	static struct job ref[12], j[12];
	struct ac_runner *alone, *batch;
	struct ac_model *m;
	struct ac_stats st;
	uint32_t pre;
	struct env e;

	load_tiny(&m);
	/*
	 * 64 blocks of 16 tokens: a few of these requests at once, each
	 * growing by 4 blocks as it decodes.
	 */
	env_start(&e, "[pool]\nbackend = host\nbytes = 512K\nblock_bytes = 8K\n");
	ro.socket = e.d.sock;
	ro.reuse = AC_REUSE_NONE;
	ro.max_seqs = 1;
	env_runner(m, &ro, &alone);
	ro.reuse = AC_REUSE_MSA;
	ro.max_seqs = 12;
	env_runner(m, &ro, &batch);
	make_jobs(ref, 12, 256, 100, 220);
	serve_gen(alone, ref, 12, GEN_MAX, &pre);
	cr_assert_eq(pre, 0);
	memcpy(j, ref, sizeof(j));
	serve_gen(batch, j, 12, GEN_MAX, &pre);
	cr_expect_gt(pre, 0, "the pool was never full");
	for (uint32_t k = 0; k < 12; k++)
		cr_assert_arr_eq(j[k].out, ref[k].out, sizeof(j[k].out),
				 "request %u: tokens differ from its run alone",
				 k);
	ac_runner_free(alone);
	ac_runner_free(batch);
	cr_assert_eq(ac_stats(e.peek, &st), 0);
	cr_expect_eq(st.writing_blocks, 0);
	cr_expect_eq(st.pinned_blocks, 0);
	env_stop(&e);
	ac_model_free(m);
}

/* ---- engine processes ---------------------------------------------- */


struct line {
	int32_t tokens[64];
	uint32_t ntok, hit_blocks, reused, holes;
	bool cached, ok;
};

static void engine_path(char *buf, size_t len)
{
	const char *root = getenv("AC_BUILD_ROOT");

	cr_assert_not_null(root, "AC_BUILD_ROOT is not set");
	snprintf(buf, len, "%s/engine/cli/asymcache-engine", root);
}

/* asymcache-engine replay ARGS... > @out; its pid. */
static pid_t engine_start(const char *dir, const char *tag,
			  const char *const *args)
{
	char path[512], log[600];
	char *argv[40];
	int n = 0;
	pid_t pid;

	engine_path(path, sizeof(path));
	snprintf(log, sizeof(log), "%s/%s.log", dir, tag);
	argv[n++] = path;
	argv[n++] = "replay";
	/* An -m in @args comes later and wins. */
	argv[n++] = "-m";
	argv[n++] = (char *)test_model();
	argv[n++] = "--device";
	argv[n++] = on_gpu() ? "cuda" : "cpu";
	for (int i = 0; args[i]; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(fd, STDERR_FILENO);
		dup2(fd, STDOUT_FILENO);
		execv(path, argv);
		_exit(127);
	}
	return pid;
}

static int engine_wait(pid_t pid, const char *dir, const char *tag)
{
	int ws;
	char log[600];

	cr_assert_eq(waitpid(pid, &ws, 0), pid);
	if (!WIFEXITED(ws) || WEXITSTATUS(ws)) {
		snprintf(log, sizeof(log), "%s/%s.log", dir, tag);
		th_dump_file(log, stderr);
	}
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* The JSON lines of a replay, by trace line (1-based). */
static uint32_t read_lines(const char *path, struct line *l, uint32_t max)
{
	FILE *f = fopen(path, "r");
	char buf[16384];
	uint32_t n = 0;

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	memset(l, 0, sizeof(*l) * max);
	while (fgets(buf, sizeof(buf), f)) {
		struct json_object *o = json_tokener_parse(buf), *v, *t;
		int64_t at;

		cr_assert_not_null(o, "%s: not JSON: %s", path, buf);
		cr_assert(json_object_object_get_ex(o, "line", &v));
		at = json_object_get_int64(v) - 1;
		cr_assert(at >= 0 && at < max);
		l[at].ok = !json_object_object_get_ex(o, "error", NULL);
		if (json_object_object_get_ex(o, "tokens", &t)) {
			l[at].ntok = (uint32_t)json_object_array_length(t);
			for (uint32_t i = 0; i < l[at].ntok && i < 64; i++)
				l[at].tokens[i] = json_object_get_int(
					json_object_array_get_idx(t, i));
		}
		if (json_object_object_get_ex(o, "hit_blocks", &v))
			l[at].hit_blocks = json_object_get_int(v);
		if (json_object_object_get_ex(o, "reused_tokens", &v))
			l[at].reused = json_object_get_int(v);
		if (json_object_object_get_ex(o, "holes", &v))
			l[at].holes = json_object_get_int(v);
		if (json_object_object_get_ex(o, "cached", &v))
			l[at].cached = json_object_get_boolean(v);
		json_object_put(o);
		n++;
	}
	fclose(f);
	return n;
}

/*
 * @n requests over @span_ms: a shared 3-id prefix, 1-3 own ids each;
 * @out_len tokens out.
 */
static void write_trace(const char *path, uint32_t n, uint32_t span_ms,
			uint32_t out_len)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	srand(11);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t own = 1 + rand() % 3, ids = 3 + own;

		fprintf(f, "{\"timestamp\": %u, \"input_length\": %u, \"output_length\": %u, \"hash_ids\": [0, 1, 2",
			i * span_ms / n, ids * 512 - rand() % 200, out_len);
		for (uint32_t k = 0; k < own; k++)
			fprintf(f, ", %u", 100 + i * 3 + k);
		fprintf(f, "]}\n");
	}
	fclose(f);
}

/*
 * The same greedy tokens. On the GPU, bf16 rounds differently for other
 * work shapes (rows a pass, positions computed) and a seeded model's
 * near-flat logits flip at near-ties (bench/results/serve_h200.md): there
 * every request must complete and nearly all first tokens agree.
 */
static void same_tokens(const struct line *a, const struct line *b,
			uint32_t n, const char *what)
{
	uint32_t first = 0, whole = 0;

	for (uint32_t i = 0; i < n; i++) {
		cr_assert(a[i].ok && b[i].ok, "%s: request %u failed", what, i);
		cr_assert_eq(a[i].ntok, b[i].ntok, "%s: request %u", what, i);
		if (!on_gpu())
			cr_assert_arr_eq(a[i].tokens, b[i].tokens,
					 sizeof(int32_t) * a[i].ntok,
					 "%s: request %u: tokens differ", what, i);
		first += a[i].tokens[0] == b[i].tokens[0];
		whole += !memcmp(a[i].tokens, b[i].tokens,
				 sizeof(int32_t) * a[i].ntok);
	}
	cr_log_info("%s: %u/%u outputs identical, %u/%u first tokens", what,
		    whole, n, first, n);
	cr_assert_geq(first * 10, n * 8, "%s: %u/%u first tokens agree", what,
		      first, n);
}

#define NREQ 24

Test(serve, processes_share_blocks_and_survive_a_killed_peer)
{
	static struct line ref[NREQ], got[NREQ];
	char trace[300], out[4][300], cfg[128];
	/* No bus: the GPU machine may have no dbus-daemon. */
	struct th_daemon_opts o = { .tag = "ac-engine", .config = cfg };
	struct ac_client *peek;
	struct ac_stats st;
	struct {
		struct th_daemon d;
	} e = { 0 };
	pid_t a, b;

	gpu_skip_unless_ready();
	pool_cfg(on_gpu() ? "32M" : "8M", cfg, sizeof(cfg));
	cr_assert_eq(th_daemon_start(&e.d, &o), 0, "asymcached did not start");
	cr_assert_eq(ac_connect(e.d.sock, "test-peek", &peek), 0);
	snprintf(trace, sizeof(trace), "%s/trace.jsonl", e.d.dir);
	write_trace(trace, NREQ, 3000, 16);
	for (int i = 0; i < 4; i++)
		snprintf(out[i], sizeof(out[i]), "%s/out%d.jsonl", e.d.dir, i);

	/* The first process computes everything and publishes it. */
	a = engine_start(e.d.dir, "first", (const char *const[]){
		"-s", e.d.sock, "--tokens-per-id", "32", "--speed", "0",
		"--reuse", "none", "--tokens", "-q", "-o", out[0], trace, NULL });
	cr_assert_eq(engine_wait(a, e.d.dir, "first"), 0);
	cr_assert_eq(read_lines(out[0], ref, NREQ), NREQ);
	/* A second process finds its blocks: same tokens, most of them hits. */
	b = engine_start(e.d.dir, "second", (const char *const[]){
		"-s", e.d.sock, "--tokens-per-id", "32", "--speed", "0",
		"--tokens", "-q", "-o", out[1], trace, NULL });
	cr_assert_eq(engine_wait(b, e.d.dir, "second"), 0);
	cr_assert_eq(read_lines(out[1], got, NREQ), NREQ);
	same_tokens(ref, got, NREQ, "second process");
	for (uint32_t i = 0; i < NREQ; i++)
		cr_assert_geq(got[i].reused, 3 * 32 - 16,
			      "request %u reused %u tokens", i, got[i].reused);

	/* Two at once, arrivals over 3 s; one is SIGKILLed a second in. */
	a = engine_start(e.d.dir, "victim", (const char *const[]){
		"-s", e.d.sock, "--tokens-per-id", "32", "--reuse", "none",
		"--tokens", "-q", "-o", out[2], trace, NULL });
	b = engine_start(e.d.dir, "survivor", (const char *const[]){
		"-s", e.d.sock, "--tokens-per-id", "32", "--reuse", "none",
		"--chunking", "fixed:64", "--tokens", "-q", "-o", out[3],
		trace, NULL });
	usleep(1000 * 1000);
	cr_assert_eq(kill(a, SIGKILL), 0);
	cr_assert_eq(engine_wait(a, e.d.dir, "victim"), 128 + SIGKILL);
	cr_assert_eq(engine_wait(b, e.d.dir, "survivor"), 0);
	cr_assert_eq(read_lines(out[3], got, NREQ), NREQ);
	same_tokens(ref, got, NREQ, "survivor");
	/* Nothing of the dead process is left pinned or half-written. */
	cr_assert_eq(ac_stats(peek, &st), 0);
	cr_expect_eq(st.writing_blocks, 0, "%u WRITING blocks left",
		     st.writing_blocks);
	cr_expect_eq(st.pinned_blocks, 0, "%u pinned blocks left",
		     st.pinned_blocks);
	ac_disconnect(peek);
	cr_expect_eq(th_daemon_stop(&e.d), 0, "asymcached exit status");
	th_daemon_cleanup(&e.d);
}

Test(serve, engine_serves_on_while_its_daemon_is_away)
{
	static struct line ref[NREQ], got[NREQ];
	char trace[300], out[2][300], sock[300], pool[128];
	struct th_daemon d1 = { 0 }, d2 = { 0 };
	struct th_daemon_opts o1 = { .tag = "ac-engine", .config = pool };
	struct th_daemon_opts o2 = { .tag = "ac-engine", .config = pool };
	uint32_t away = 0, back = 0;
	pid_t a;

	gpu_skip_unless_ready();
	pool_cfg(on_gpu() ? "32M" : "8M", pool, sizeof(pool));
	cr_assert_eq(th_daemon_start(&d1, &o1), 0, "asymcached did not start");
	snprintf(trace, sizeof(trace), "%s/trace.jsonl", d1.dir);
	snprintf(sock, sizeof(sock), "%s", d1.sock);
	/* Slower engines (valgrind) get a longer window, or none arrives late. */
	write_trace(trace, NREQ, 8000 * env_time_mult(), 16);
	for (int i = 0; i < 2; i++)
		snprintf(out[i], sizeof(out[i]), "%s/out%d.jsonl", d1.dir, i);
	a = engine_start(d1.dir, "ref", (const char *const[]){
		"-s", sock, "--tokens-per-id", "32", "--speed", "0",
		"--reuse", "none", "--tokens", "-q", "-o", out[0], trace, NULL });
	cr_assert_eq(engine_wait(a, d1.dir, "ref"), 0);
	cr_assert_eq(read_lines(out[0], ref, NREQ), NREQ);

	/*
	 * Arrivals over 8 s; the daemon dies at 1.5 s (both times
	 * env_time_mult()) and comes back once a request was served without
	 * it (waiting for that, not for a time, keeps the test true on a
	 * busy machine).
	 */
	a = engine_start(d1.dir, "orphan", (const char *const[]){
		"-s", sock, "--tokens-per-id", "32", "--tokens", "-q",
		"-o", out[1], trace, NULL });
	usleep(1500 * 1000 * env_time_mult());
	cr_assert_eq(kill(d1.pid, SIGKILL), 0);
	cr_assert_eq(th_daemon_stop(&d1), 128 + SIGKILL);
	cr_assert(env_wait_for_text(out[1], "\"cached\":false", 60000),
		  "no request was served without the daemon");
	o2.args = (const char *const[]){ "--socket", sock, NULL };
	unlink(sock);
	cr_assert_eq(th_daemon_start(&d2, &o2), 0,
		     "the second daemon did not start");
	cr_assert_eq(engine_wait(a, d1.dir, "orphan"), 0);
	cr_assert_eq(read_lines(out[1], got, NREQ), NREQ);
	same_tokens(ref, got, NREQ, "across the daemon's absence");
	for (uint32_t i = 0; i < NREQ; i++) {
		away += !got[i].cached;
		back += got[i].cached && i && !got[i - 1].cached;
	}
	cr_expect_gt(away, 0, "no request was served without the cache");
	cr_expect_gt(back, 0, "no request after one without the daemon was on it again");
	cr_expect_eq(th_daemon_stop(&d2), 0, "asymcached exit status");
	th_daemon_cleanup(&d2);
	th_daemon_cleanup(&d1);
}

Test(serve, two_models_share_one_pool)
{
	if (on_gpu())
		cr_skip_test("on the CPU only (the CUDA run covers the processes)");
	static struct line l[NREQ];
	char model[512], trace[300], out[4][300];
	const char *root = getenv("AC_SOURCE_ROOT");
	struct env e;
	pid_t a, b;

	snprintf(model, sizeof(model), "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf",
		 root ? root : ".");
	if (access(model, R_OK) != 0)
		cr_skip_test("%s is not there (scripts/fetch-model.sh fetches it)",
			     model);
	if (getenv("AC_VALGRIND") && !strcmp(getenv("AC_VALGRIND"), "1"))
		cr_skip_test("too slow under valgrind (make valgrind)");
	/* SmolLM2's 720 KiB blocks; tiny's 8 KiB fit in them too. */
	env_start(&e, "[pool]\nbackend = host\nbytes = 96M\nblock_bytes = 720K\n");
	snprintf(trace, sizeof(trace), "%s/trace.jsonl", e.d.dir);
	write_trace(trace, 6, 0, 4);
	for (int i = 0; i < 4; i++)
		snprintf(out[i], sizeof(out[i]), "%s/out%d.jsonl", e.d.dir, i);
	for (int run = 0; run < 2; run++) {
		a = engine_start(e.d.dir, "smollm2", (const char *const[]){
			"-s", e.d.sock, "-m", model, "--tokens-per-id", "16",
			"--speed", "0", "-q", "-o", out[run * 2], trace, NULL });
		b = engine_start(e.d.dir, "tiny", (const char *const[]){
			"-s", e.d.sock, "-m", "tiny", "--tokens-per-id", "16",
			"--speed", "0", "-q", "-o", out[run * 2 + 1], trace,
			NULL });
		cr_assert_eq(engine_wait(a, e.d.dir, "smollm2"), 0);
		cr_assert_eq(engine_wait(b, e.d.dir, "tiny"), 0);
	}
	/* The second round of each model hits its own first round's blocks. */
	for (int k = 2; k < 4; k++) {
		cr_assert_eq(read_lines(out[k], l, 6), 6);
		for (uint32_t i = 0; i < 6; i++)
			cr_assert_geq(l[i].reused, 3 * 16, "%s request %u",
				      k == 2 ? "SmolLM2" : "tiny", i);
	}
	env_stop(&e);
}

/* Runs asymcache-engine ARGS...; its exit status, its output in @log. */
static int engine_run(const char *dir, const char *tag, const char *cmd,
		      const char *const *args, char *log, size_t len)
{
	char path[512], file[600];
	char *argv[24];
	FILE *f;
	size_t n;
	int i, ws;
	pid_t pid;

	engine_path(path, sizeof(path));
	argv[0] = path;
	argv[1] = (char *)cmd;
	for (i = 0; args[i]; i++) {
		cr_assert_lt(i + 2, 23, "too many arguments");
		argv[i + 2] = (char *)args[i];
	}
	argv[i + 2] = NULL;
	snprintf(file, sizeof(file), "%s/%s.log", dir, tag);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(fd, STDERR_FILENO);
		dup2(fd, STDOUT_FILENO);
		execv(path, argv);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &ws, 0), pid);
	f = fopen(file, "r");
	cr_assert_not_null(f);
	n = fread(log, 1, len - 1, f);
	log[n] = 0;
	fclose(f);
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

Test(serve, front_ends_refuse_bad_input_clearly)
{
	if (on_gpu())
		cr_skip_test("on the CPU only (the CUDA run covers the processes)");
	char bad[300], big[300], out[300], chats[300], log[8192];
	struct line l[2];
	struct env e;

	env_start(&e, "[pool]\nbackend = host\nbytes = 2M\nblock_bytes = 8K\n");
	snprintf(bad, sizeof(bad), "%s/bad.jsonl", e.d.dir);
	snprintf(big, sizeof(big), "%s/big.jsonl", e.d.dir);
	snprintf(out, sizeof(out), "%s/out.jsonl", e.d.dir);
	snprintf(chats, sizeof(chats), "%s/chats.jsonl", e.d.dir);
	write_file(bad, "{\"timestamp\": 0, \"input_length\": 3, \"output_length\": 1, \"tokens\": [1, 2, 3]}\n"
			"{\"timestamp\": 1, \"input_length\": 3, \"output_length\": 1, \"tokens\": [1, \"x\", 3]}\n");
	/* tiny's context is 1,024: the second request does not fit. */
	write_file(big, "{\"timestamp\": 0, \"output_length\": 2, \"tokens\": [1, 2, 3]}\n"
			"{\"timestamp\": 0, \"output_length\": 1000, \"tokens\": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]}\n");

	cr_assert_eq(engine_run(e.d.dir, "bad", "replay", (const char *const[]){
		"-s", e.d.sock, bad, NULL }, log, sizeof(log)), 1);
	cr_expect(strstr(log, "bad.jsonl: line 2: tokens[1]: not an integer"), "%s", log);
	cr_assert_eq(engine_run(e.d.dir, "flag", "replay", (const char *const[]){
		"--chunking", "fixed:0", bad, NULL }, log, sizeof(log)), 2);
	cr_expect(strstr(log, "--chunking takes adaptive or fixed:N"), "%s", log);
	cr_assert_eq(engine_run(e.d.dir, "two", "replay", (const char *const[]){
		bad, big, NULL }, log, sizeof(log)), 2);
	cr_expect(strstr(log, "replay takes one TRACE file"), "%s", log);
	cr_assert_eq(engine_run(e.d.dir, "nodaemon", "replay", (const char *const[]){
		"-s", "/nonexistent/s.sock", big, NULL }, log, sizeof(log)), 1);
	cr_expect(strstr(log, "/nonexistent/s.sock: "), "%s", log);

	/* Over the context: refused with a reason, the rest is served. */
	cr_assert_eq(engine_run(e.d.dir, "big", "replay", (const char *const[]){
		"-s", e.d.sock, "-q", "--tokens", "-o", out, big, NULL }, log,
		sizeof(log)), 0, "%s", log);
	cr_assert_eq(read_lines(out, l, 2), 2);
	cr_expect(l[0].ok && l[0].ntok == 2);
	cr_expect(!l[1].ok, "the request over the context was served");
	cr_expect(strstr(log, "1 finished, 0 failed, 1 refused"), "%s", log);
	{
		FILE *f = fopen(out, "r");
		char line[4096] = "";

		cr_assert_not_null(f);
		while (fgets(line, sizeof(line), f) && !strstr(line, "\"line\":2"))
			;
		fclose(f);
		cr_expect(strstr(line, "refused: 25 prompt + 1000 output tokens exceed the model's context of 1024"),
			  "%s", line);
	}

	/* tokenize needs a tokenizer, and names the bad line and field. */
	write_file(chats, "{\"timestamp\": 0, \"user\": \"hi\", \"output_length\": 4}\n"
			  "{\"timestamp\": 5, \"output_length\": 4}\n");
	cr_assert_eq(engine_run(e.d.dir, "tok", "tokenize", (const char *const[]){
		"-m", "tiny", chats, NULL }, log, sizeof(log)), 1);
	cr_expect(strstr(log, "tiny has no tokenizer"), "%s", log);
	snprintf(out, sizeof(out), "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf",
		 getenv("AC_SOURCE_ROOT") ? getenv("AC_SOURCE_ROOT") : ".");
	if (access(out, R_OK) == 0) {
		snprintf(big, sizeof(big), "%s/trace-out.jsonl", e.d.dir);
		cr_assert_eq(engine_run(e.d.dir, "tok2", "tokenize",
			(const char *const[]){ "-m", out, chats, big, NULL },
			log, sizeof(log)), 1);
		cr_expect(strstr(log, "chats.jsonl: line 2: user: missing"),
			  "%s", log);
		/* The good line before it was written, with its tokens. */
		FILE *f = fopen(big, "r");

		cr_assert_not_null(f);
		cr_assert_not_null(fgets(log, sizeof(log), f));
		cr_expect(strstr(log, "\"input_length\"") &&
			  strstr(log, "\"tokens\":[1,"), "%s", log);
		fclose(f);
	}
	env_stop(&e);
}

/*
 * SmolLM2 through the replay front end: a run with no cache, then random
 * blocks of every prompt evicted (the rest kept) and a run with MSA on the
 * holes; every request's greedy tokens must be the same.
 */
Test(serve, smollm2_replay_with_holes_is_lossless)
{
	static struct line ref[4], got[4];
	char model[512], trace[300], out[2][300], log[8192];
	const char *root = getenv("AC_SOURCE_ROOT");
	struct ac_runner_opts ro = { .block_tokens = 16 };
	struct ac_runner_probe probe;
	struct ac_runner *keys;
	struct ac_weights *w = NULL;
	struct ac_model *m = NULL;
	static struct job j[4];
	uint32_t holes = 0;
	char err[256] = "";
	bool keep[256];
	struct env e;
	FILE *f;

	if (on_gpu())
		cr_skip_test("on the CPU only (the CUDA run covers the processes)");
	snprintf(model, sizeof(model), "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf",
		 root ? root : ".");
	if (access(model, R_OK) != 0)
		cr_skip_test("%s is not there (scripts/fetch-model.sh fetches it)",
			     model);
	if (getenv("AC_VALGRIND") && !strcmp(getenv("AC_VALGRIND"), "1"))
		cr_skip_test("too slow under valgrind (make valgrind)");
	env_start(&e, "[pool]\nbackend = host\nbytes = 128M\nblock_bytes = 720K\n");
	cr_assert_eq(ac_weights_load(model, AC_DTYPE_FP32, 1, &w, err,
				     sizeof(err)), 0, "%s", err);
	cr_assert_eq(ac_model_create(w, AC_FWD_CPU, 512, &m, err, sizeof(err)),
		     0, "%s", err);
	/* Ids clear of the special tokens a vocabulary starts with. */
	make_jobs(j, 4, w->cfg.vocab - 1000, 60, 100);
	snprintf(trace, sizeof(trace), "%s/trace.jsonl", e.d.dir);
	f = fopen(trace, "w");
	cr_assert_not_null(f);
	for (uint32_t k = 0; k < 4; k++) {
		fprintf(f, "{\"timestamp\": 0, \"output_length\": 8, \"tokens\": [");
		for (uint32_t i = 0; i < j[k].n; i++) {
			j[k].prompt[i] += 1000;
			fprintf(f, "%s%d", i ? ", " : "", j[k].prompt[i]);
		}
		fprintf(f, "]}\n");
	}
	fclose(f);
	for (int i = 0; i < 2; i++)
		snprintf(out[i], sizeof(out[i]), "%s/out%d.jsonl", e.d.dir, i);
	cr_assert_eq(engine_run(e.d.dir, "none", "replay", (const char *const[]){
		"-s", e.d.sock, "-m", model, "--reuse", "none", "--tokens",
		"-q", "-o", out[0], trace, NULL }, log, sizeof(log)), 0, "%s", log);
	cr_assert_eq(read_lines(out[0], ref, 4), 4);
	/* Keys as the engine chains them, to pick what stays cached. */
	ro.socket = e.d.sock;
	ro.model_id = w->cfg.name;
	env_runner(m, &ro, &keys);
	env_peek_register(&e, m, &ro);
	probe_all(keys, j, 4, &probe);
	srand(9);
	for (uint32_t i = 0; i < probe.nkeys; i++)
		keep[i] = rand() % 3 != 0;
	env_keep_only(&e, &probe, keep);
	cr_assert_eq(engine_run(e.d.dir, "msa", "replay", (const char *const[]){
		"-s", e.d.sock, "-m", model, "--tokens", "-q", "-o", out[1],
		trace, NULL }, log, sizeof(log)), 0, "%s", log);
	cr_assert_eq(read_lines(out[1], got, 4), 4);
	same_tokens(ref, got, 4, "SmolLM2 with holes");
	for (uint32_t k = 0; k < 4; k++)
		holes += got[k].holes;
	cr_expect_gt(holes, 0, "no request recomputed a hole");
	ac_runner_free(keys);
	env_stop(&e);
	ac_model_free(m);
	ac_weights_free(w);
}
