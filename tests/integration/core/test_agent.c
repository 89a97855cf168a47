/* SPDX-License-Identifier: MIT */
/*
 * Agent sessions end to end, against the real asymcached: the calibrated cost
 * model deciding eviction order, TTL retention (survival, expiry, resume,
 * quota, a killed client), and chunk scheduling shared between processes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "asymcache.pb-c.h"
#include "chunk.h"
#include "harness.h"
#include "rawproto.h"
#include "th_cost.h"
#include "th_proto.h"

#define BLOCK_BYTES	8192u
#define NBLOCKS		16u
#define POOL_BYTES	((uint64_t)NBLOCKS * BLOCK_BYTES)

static struct th_daemon D;
static char cost[96];

static void write_file(const char *path, const char *text)
{
	int r = th_write_file(path, text);

	cr_assert_eq(r, 0, "%s: %s", path, strerror(-r));
}

static void paths(void)
{
	snprintf(cost, sizeof(cost), "/tmp/ac-agent-%d.json", (int)getpid());
}

static void write_cost(double linear, double attn, double seg)
{
	int r = th_write_cost_file(cost, "itest", linear, attn, seg);

	cr_assert_eq(r, 0, "%s: %s", cost, strerror(-r));
}

/*
 * The pool the retention tests run in: each runs in pool 0 and again in
 * tenant pool 1, which start() makes the same size, so a tenant pool is
 * held to everything pool 0 is.
 */
static uint32_t P;

/*
 * Start a daemon on @conf_text (in addition to the harness's flags), with
 * the whole pool open to one session: pressure fills it from one client.
 * Pool 1 is pool 0's twin, open to this process's group.
 */
static void start(const char *conf_text)
{
	static char text[2048];
	const struct group *g = getgrgid(getegid());

	cr_assert(g, "no name for gid %u", (unsigned int)getegid());
	paths();
	snprintf(text, sizeof(text), "%s%s[pool.1]\nbytes = %llu\n"
		 "block_bytes = %u\ngroup = %s\n", TCONF_WHOLE_POOL, conf_text,
		 (unsigned long long)POOL_BYTES, BLOCK_BYTES, g->gr_name);
	tdaemon_start_config(&D, POOL_BYTES, BLOCK_BYTES, text, NULL);
}

/* A client of pool P alone, with the test namespace there. */
static void topen(struct tclient *t, const char *name)
{
	int r = tclient_open_pool(t, &D, name, P);

	cr_assert_eq(r, 0, "client of pool %u: %s", P, ac_strerror(r));
}

static void stop(void)
{
	tdaemon_stop(&D);
	unlink(cost);
}

/* Looks @n keys up and releases the hits again; returns the hit mask. */
static uint32_t hit_mask(struct tclient *t, const struct ac_key *keys,
			 uint32_t n)
{
	struct ac_segment segs[16];
	struct ac_lookup_result res = {
		.segments = segs, .max_segments = 16,
	};
	uint32_t blocks[16], hits[16], nh = 0, mask = 0;
	int r;

	res.blocks = blocks;
	r = ac_lookup(t->c, t->ns, keys, n, &res);
	cr_assert_eq(r, 0, "lookup: %s", ac_strerror(r));
	for (uint32_t i = 0; i < n; i++) {
		if (blocks[i] == AC_NO_BLOCK)
			continue;
		mask |= 1u << i;
		cr_assert(tblock_check(t, blocks[i], &keys[i]),
			  "block of position %u lost its bytes", i);
		hits[nh++] = blocks[i];
	}
	cr_assert_eq(ac_release(t->c, hits, nh, NULL), 0);
	return mask;
}

static uint32_t retained(struct tclient *t, uint32_t *ret_session)
{
	uint32_t total = 0, mine = 0;
	int r = ac_retained(t->c, &total, &mine);

	cr_assert_eq(r, 0, "stats: %s", ac_strerror(r));
	if (ret_session)
		*ret_session = mine;
	return total;
}

TestSuite(agent, .timeout = 60);

/* ---- step 1: the cost model decides eviction ------------------------- */

/*
 * An 8-block chain whose deep half (positions 4..7) is released first and
 * its shallow half 10 ms later; 4 blocks are then evicted after 300 ms.
 * Returns the mask of the positions that survived.
 */
static uint32_t survivors_under(const char *policy, double linear,
				double attn)
{
	char text[512];
	struct tclient t;
	struct ac_key keys[8];
	uint32_t chain[8], filler[12];
	int r;

	paths();
	write_cost(linear, attn, 0);
	snprintf(text, sizeof(text),
		 "[policy]\nname = %s\ncost_file = %s\n", policy, cost);
	start(text);
	cr_assert_eq(tclient_open(&t, &D, "cost"), 0);
	cr_assert_eq(tkeys(7, 8, keys), 0);
	cr_assert_eq(tpublish(&t, keys, 0, 8, chain, NULL), 0);
	cr_assert_eq(ac_release(t.c, chain + 4, 4, NULL), 0);
	usleep(10000);
	cr_assert_eq(ac_release(t.c, chain, 4, NULL), 0);
	usleep(300000);
	/* 8 free blocks, then 4 more through the policy. */
	r = ac_alloc(t.c, t.ns, 12, filler);
	cr_assert_eq(r, 0, "alloc: %s", ac_strerror(r));
	cr_assert_eq(ac_release(t.c, filler, 12, NULL), 0);
	r = (int)hit_mask(&t, keys, 8);
	tclient_close(&t);
	stop();
	return (uint32_t)r;
}

Test(agent, steep_attention_cost_evicts_shallow_blocks_though_newer)
{
	/*
	 * attn 1e-6 s per pair: position 4's block costs 72/8 = 9x position
	 * 0's, far more than the 310/300 idle ratio pensieve weighs it by.
	 */
	cr_assert_eq(survivors_under("pensieve", 1e-9, 1e-6), 0xf0u,
		     "positions 4..7 survive, 0..3 (newer but cheap) go");
	cr_assert_eq(survivors_under("asym", 1e-9, 1e-6), 0xf0u);
}

Test(agent, flat_cost_leaves_pensieve_to_idle_time)
{
	/* No attention term: every block costs the same, the older go. */
	cr_assert_eq(survivors_under("pensieve", 1e-5, 0), 0x0fu,
		     "the deep half was idle longer and goes first");
}

/* Runs asymcached on @conf_text and returns its wait status and output. */
static int run_daemon_expect_fail(const char *conf_text, char *out,
				  size_t outlen)
{
	const char *args[] = { "--backend", "host", "--group", "root",
			       "--pool-bytes", "1M", "--block-bytes", "8K",
			       NULL };
	struct th_daemon_opts o = { .tag = "ac-agent", .config = conf_text,
				    .args = args };
	struct th_daemon d;
	FILE *f;
	size_t n;
	int r, st;

	r = th_daemon_start(&d, &o);
	if (r == 0)
		th_daemon_stop(&d);
	f = fopen(d.log, "r");
	cr_assert_not_null(f, "%s", d.log);
	n = fread(out, 1, outlen - 1, f);
	out[n] = '\0';
	fclose(f);
	st = d.wstatus;
	th_daemon_cleanup(&d);
	cr_assert_eq(r, -ECHILD, "asymcached started on a bad config (%d): %s",
		     r, out);
	return st;
}

Test(agent, bad_cost_file_refuses_to_start_and_names_the_path)
{
	char text[512], out[4096];
	int st;

	paths();
	write_file(cost, "{\"version\": 1, \"gpu\": ");
	snprintf(text, sizeof(text), "[policy]\ncost_file = %s\n", cost);
	st = run_daemon_expect_fail(text, out, sizeof(out));
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0, "status 0x%x", st);
	cr_assert_not_null(strstr(out, cost), "no path in: %s", out);
	cr_assert_not_null(strstr(out, "cost_file"), "%s", out);

	unlink(cost);
	st = run_daemon_expect_fail(text, out, sizeof(out));
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0, "status 0x%x", st);
	cr_assert_not_null(strstr(out, cost), "no path in: %s", out);
}

/* ---- step 2: TTL retention ------------------------------------------- */

/* Chain A (4 blocks) retained for @ttl_ms, with the client's pins gone. */
static uint64_t retain_chain(struct tclient *t, struct ac_key *keys,
			     uint32_t ttl_ms)
{
	uint32_t blocks[4];
	uint64_t id = 0;
	int r;

	cr_assert_eq(tkeys(11, 4, keys), 0);
	cr_assert_eq(tpublish(t, keys, 0, 4, blocks, NULL), 0);
	r = ac_retain(t->c, t->ns, blocks, 4, ttl_ms, &id);
	cr_assert_eq(r, 0, "retain: %s", ac_strerror(r));
	cr_assert_gt(id, 0);
	cr_assert_eq(ac_release(t->c, blocks, 4, NULL), 0);
	return id;
}

/* Fill the pool's other 12 blocks with chain B, released. */
static void fill_rest(struct tclient *t)
{
	struct ac_key keys[12];
	uint32_t blocks[12];

	cr_assert_eq(tkeys(12, 12, keys), 0);
	cr_assert_eq(tpublish(t, keys, 0, 12, blocks, NULL), 0);
	cr_assert_eq(ac_release(t->c, blocks, 12, NULL), 0);
}

/* Alloc @n blocks (evicting), release them; returns ac_alloc's result. */
static int pressure(struct tclient *t, uint32_t n)
{
	uint32_t blocks[16];
	int r = ac_alloc(t->c, t->ns, n, blocks);

	if (r == 0)
		cr_assert_eq(ac_release(t->c, blocks, n, NULL), 0);
	return r;
}

/*
 * Held against eviction, given up to an Alloc that cannot be served
 * otherwise: the work that waits comes first.
 */
static void retained_blocks_survive_pressure_that_evicts_everything_else(uint32_t pool)
{
	struct tclient t;
	struct ac_key a[4];
	uint32_t mine = 0;

	P = pool;
	start("");
	topen(&t, "agent");
	retain_chain(&t, a, 5000);
	fill_rest(&t);
	cr_assert_eq(retained(&t, &mine), 4);
	cr_assert_eq(mine, 4);
	cr_assert_eq(pressure(&t, 12), 0, "the 12 unretained blocks go");
	cr_assert_eq(retained(&t, NULL), 4);
	cr_assert_eq(hit_mask(&t, a, 4), 0xfu, "chain A is whole");
	cr_assert_eq(pressure(&t, 13), 0, "an Alloc that needs them takes them");
	cr_assert_eq(retained(&t, NULL), 0, "the retention gave way");
	cr_assert_neq(hit_mask(&t, a, 4), 0xfu, "and one of its blocks went");
	tclient_close(&t);
	stop();
}

Test(agent, retained_blocks_survive_pressure_that_evicts_everything_else)
{
	retained_blocks_survive_pressure_that_evicts_everything_else(0);
}

Test(agent, retained_blocks_survive_pressure_that_evicts_everything_else_in_a_tenant_pool)
{
	retained_blocks_survive_pressure_that_evicts_everything_else(1);
}

static void retention_ends_with_the_ttl(uint32_t pool)
{
	struct tclient t;
	struct ac_key a[4];
	uint32_t rel;
	uint64_t id;

	P = pool;
	start("");
	topen(&t, "agent");
	id = retain_chain(&t, a, 200);
	cr_assert_eq(retained(&t, NULL), 4, "held before the TTL");
	usleep(350000);
	/* The expiry timer or Stats itself ended it, not an Alloc. */
	cr_assert_eq(retained(&t, NULL), 0);
	cr_assert_eq(pressure(&t, 16), 0, "evictable after the TTL");
	cr_assert_eq(hit_mask(&t, a, 4), 0);
	cr_assert_eq(ac_resume(t.c, id, &rel), -ENOENT);
	tclient_close(&t);
	stop();
}

Test(agent, retention_ends_with_the_ttl)
{
	retention_ends_with_the_ttl(0);
}

Test(agent, retention_ends_with_the_ttl_in_a_tenant_pool)
{
	retention_ends_with_the_ttl(1);
}

static void resume_makes_blocks_evictable_and_only_once(uint32_t pool)
{
	struct tclient t, other;
	struct ac_key a[4];
	uint32_t rel = 0;
	uint64_t id;

	P = pool;
	start("");
	topen(&t, "agent");
	topen(&other, "other");
	id = retain_chain(&t, a, 60000);
	cr_assert_eq(ac_resume(other.c, id, &rel), -ENOENT,
		     "another session cannot end it");
	cr_assert_eq(retained(&t, NULL), 4);
	cr_assert_eq(ac_resume(t.c, id, &rel), 0);
	cr_assert_eq(rel, 4);
	cr_assert_eq(retained(&t, NULL), 0);
	cr_assert_eq(ac_resume(t.c, id, &rel), -ENOENT);
	cr_assert_eq(pressure(&t, 16), 0);
	tclient_close(&other);
	tclient_close(&t);
	stop();
}

Test(agent, resume_makes_blocks_evictable_and_only_once)
{
	resume_makes_blocks_evictable_and_only_once(0);
}

Test(agent, resume_makes_blocks_evictable_and_only_once_in_a_tenant_pool)
{
	resume_makes_blocks_evictable_and_only_once(1);
}

/*
 * ac_retain_program(): a declared tool call lets the daemon pick the TTL
 * (twice the declaration with nothing learned yet); neither a TTL nor a
 * declaration is refused before anything is sent.
 */
Test(agent, retain_program_sends_the_declaration_and_the_program)
{
	struct ac_retain_args args = { .expect_ms = 3000, .program_id = 7 };
	struct ac_retention got = { 0 };
	struct tclient t;
	struct ac_key keys[4];
	uint32_t blocks[4], rel = 0;

	P = 0;
	start("");
	topen(&t, "agent");
	cr_assert_eq(tkeys(21, 4, keys), 0);
	cr_assert_eq(tpublish(&t, keys, 0, 4, blocks, NULL), 0);
	cr_assert_eq(ac_retain_program(t.c, t.ns, blocks, 4,
			&(struct ac_retain_args){ .program_id = 7 }, &got),
		     -ERANGE);
	cr_assert_eq(retained(&t, NULL), 0);
	cr_assert_eq(ac_retain_program(t.c, t.ns, blocks, 4, &args, &got), 0);
	cr_assert_gt(got.id, 0);
	cr_expect_eq(got.expires_in_ms, 6000);
	cr_expect(got.pinned);
	cr_assert_eq(retained(&t, NULL), 4);
	cr_assert_eq(ac_resume(t.c, got.id, &rel), 0);
	cr_expect_eq(rel, 4);
	/* A TTL of the client's own is kept as asked. */
	args.ttl_ms = 1234;
	cr_assert_eq(ac_retain_program(t.c, t.ns, blocks, 4, &args, &got), 0);
	cr_expect_eq(got.expires_in_ms, 1234);
	cr_assert_eq(ac_release(t.c, blocks, 4, NULL), 0);
	tclient_close(&t);
	stop();
}

/*
 * ac_schedule_programs(): under [scheduler] order = program the budget
 * goes to the request whose program began first, by the waits the client
 * sends, though it arrived later; without them, by arrival.
 */
Test(agent, schedule_programs_orders_by_the_program_waits_sent)
{
	struct ac_sched_segment segs[2] = {
		{ .request_id = 1, .start = 0, .len = 100000, .waited_us = 3000000 },
		{ .request_id = 2, .start = 0, .len = 100000, .waited_us = 1000000 },
	};
	const uint64_t pwait[2] = { 0, 9000000 };
	struct ac_sched_request req = { .segs = segs, .nsegs = 2 };
	struct ac_sched_chunk ch[8];
	struct ac_sched_result res = { .chunks = ch, .cap = 8 };
	struct tclient t;

	P = 0;
	start("[scheduler]\nmode = fixed\nfixed_budget_tokens = 512\norder = program\n");
	topen(&t, "sched");
	cr_assert_eq(ac_schedule_programs(t.c, &req, pwait, &res), 0);
	cr_assert_eq(res.nchunks, 1);
	cr_expect_eq(ch[0].request_id, 2, "the older program first");
	cr_expect_eq(ch[0].len, 512);
	res = (struct ac_sched_result){ .chunks = ch, .cap = 8 };
	cr_assert_eq(ac_schedule_programs(t.c, &req, NULL, &res), 0);
	cr_assert_eq(res.nchunks, 1);
	cr_expect_eq(ch[0].request_id, 1, "no program waits: by arrival");
	tclient_close(&t);
	stop();
}

static void quota_and_bad_input_are_errors_that_retain_nothing(uint32_t pool)
{
	struct tclient t;
	struct ac_key keys[8];
	uint32_t blocks[8], dup[2], mine = 0;
	uint64_t id = 0;

	P = pool;
	start("[limits]\nmax_retained_blocks_per_session = 6\n"
	      "max_retain_ttl_ms = 2000\n");
	topen(&t, "agent");
	cr_assert_eq(tkeys(3, 8, keys), 0);
	cr_assert_eq(tpublish(&t, keys, 0, 8, blocks, NULL), 0);

	cr_assert_eq(ac_retain(t.c, t.ns, blocks, 7, 1000, &id), -EDQUOT);
	cr_assert_eq(ac_retain(t.c, t.ns, blocks, 4, 1000, &id), 0);
	cr_assert_eq(ac_retain(t.c, t.ns, blocks + 4, 3, 1000, &id), -EDQUOT,
		     "4 + 3 is past 6");
	cr_assert_neq(strstr(ac_client_last_error(t.c), "max_retained_blocks"),
		      NULL, "%s", ac_client_last_error(t.c));
	cr_assert_eq(retained(&t, &mine), 4);
	cr_assert_eq(mine, 4);

	cr_assert_eq(ac_retain(t.c, t.ns, blocks, 1, 0, &id), -ERANGE);
	cr_assert_eq(ac_retain(t.c, t.ns, blocks, 1, 2001, &id), -ERANGE,
		     "above max_retain_ttl_ms");
	cr_assert_eq(ac_retain(t.c, t.ns + 7, blocks, 1, 100, &id), -ENOENT);
	dup[0] = dup[1] = blocks[5];
	cr_assert_eq(ac_retain(t.c, t.ns, dup, 2, 100, &id), -EINVAL);
	dup[1] = NBLOCKS + 3;
	cr_assert_eq(ac_retain(t.c, t.ns, dup, 2, 100, &id), -EINVAL);
	cr_assert_eq(ac_release(t.c, blocks + 4, 4, NULL), 0);
	cr_assert_eq(ac_retain(t.c, t.ns, blocks + 4, 1, 100, &id), -EPERM,
		     "a block this session no longer pins");
	cr_assert_eq(ac_resume(t.c, 987654321, NULL), -ENOENT);
	cr_assert_eq(retained(&t, &mine), 4, "no refusal retained anything");
	cr_assert_eq(ac_release(t.c, blocks, 4, NULL), 0);
	tclient_close(&t);
	stop();
}

Test(agent, quota_and_bad_input_are_errors_that_retain_nothing)
{
	quota_and_bad_input_are_errors_that_retain_nothing(0);
}

Test(agent, quota_and_bad_input_are_errors_that_retain_nothing_in_a_tenant_pool)
{
	quota_and_bad_input_are_errors_that_retain_nothing(1);
}

static int child_retain_then_wait(void *arg, int slot)
{
	int *fds = arg;
	struct tclient t;
	struct ac_key keys[4];
	uint32_t blocks[4];
	uint64_t id;
	char c = 'r';
	int r;

	r = tclient_open_pool(&t, &D, "doomed", P);
	CHILD_CHECK(slot, r == 0, r);
	CHILD_CHECK(slot, tkeys(21, 4, keys) == 0, 0);
	r = tpublish(&t, keys, 0, 4, blocks, NULL);
	CHILD_CHECK(slot, r == 0, r);
	r = ac_retain(t.c, t.ns, blocks, 4, 60000, &id);
	CHILD_CHECK(slot, r == 0, r);
	r = ac_release(t.c, blocks, 4, NULL);
	CHILD_CHECK(slot, r == 0, r);
	CHILD_CHECK(slot, write(fds[1], &c, 1) == 1, errno);
	pause();
	return 0;
}

static void sigkilled_clients_retentions_are_released(uint32_t pool)
{
	struct tclient t;
	int fds[2], st;
	char c;
	pid_t pid;

	P = pool;
	start("");
	child_reports_init(1);
	cr_assert_eq(pipe(fds), 0);
	pid = child_spawn(child_retain_then_wait, fds, 0);
	cr_assert_eq(read(fds[0], &c, 1), 1, "child did not retain");
	topen(&t, "observer");
	cr_assert_eq(retained(&t, NULL), 4);
	kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	for (int i = 0; i < 200 && retained(&t, NULL); i++)
		usleep(10000);
	cr_assert_eq(retained(&t, NULL), 0,
		     "a dead client's 60 s retention outlived it");
	cr_assert_eq(pressure(&t, 16), 0);
	close(fds[0]);
	close(fds[1]);
	tclient_close(&t);
	stop();
}

Test(agent, sigkilled_clients_retentions_are_released)
{
	sigkilled_clients_retentions_are_released(0);
}

Test(agent, sigkilled_clients_retentions_are_released_in_a_tenant_pool)
{
	sigkilled_clients_retentions_are_released(1);
}

/*
 * One session retains in two pools: each retention counts in its own
 * pool only, its id finds it again from either pool's side, and the
 * session's end ends both.
 */
Test(agent, retentions_of_one_session_in_two_pools_stay_apart)
{
	struct tclient t, t1, o0, o1;
	struct ac_key a[4];
	struct ac_pool *p1;
	uint32_t b1[2], ns1, mine = 0, rel = 0;
	uint64_t id0, id1 = 0;
	int r;

	start("");
	P = 0;
	topen(&t, "both");
	topen(&o0, "observer-0");
	P = 1;
	topen(&o1, "observer-1");
	/* Pool 0 through t's first pool, pool 1 through a second attach. */
	id0 = retain_chain(&t, a, 60000);
	cr_assert_eq(ac_attach(t.c, 1, &p1), 0);
	cr_assert_eq(ac_register_namespace(t.c, p1, &tlayout, &ns1), 0);
	cr_assert_eq(tkeys(31, 2, a), 0);
	t1 = (struct tclient){ .c = t.c, .pool = p1, .ns = ns1 };
	r = tpublish(&t1, a, 0, 2, b1, NULL);
	cr_assert_eq(r, 0, "publish in pool 1: %s", ac_strerror(r));
	r = ac_retain(t.c, ns1, b1, 2, 60000, &id1);
	cr_assert_eq(r, 0, "retain in pool 1: %s", ac_strerror(r));
	cr_assert_neq(id1, id0);
	cr_assert_eq(ac_release_pool(t.c, p1, b1, 2, NULL), 0);
	cr_expect_eq(retained(&o0, NULL), 4, "pool 0 counts its own only");
	cr_expect_eq(retained(&o1, &mine), 2, "pool 1 counts its own only");
	cr_expect_eq(mine, 0, "o1 retained nothing");
	cr_expect_eq(retained(&t, &mine), 4);
	cr_expect_eq(mine, 4, "t's share in its first pool");
	/* Resume finds each by its id alone. */
	cr_assert_eq(ac_resume(o1.c, id1, &rel), -ENOENT, "not o1's");
	cr_assert_eq(ac_resume(t.c, id1, &rel), 0);
	cr_expect_eq(rel, 2);
	cr_expect_eq(retained(&o1, NULL), 0);
	cr_expect_eq(retained(&o0, NULL), 4, "pool 0's retention is untouched");
	cr_assert_eq(ac_retain(t.c, ns1, b1, 1, 60000, &id1), -EPERM,
		     "released: not pinned any more");
	/* Pinned again by a lookup, retained again, then the session ends. */
	{
		struct ac_segment segs[2];
		struct ac_lookup_result res = { .segments = segs, .max_segments = 2 };

		res.blocks = b1;
		cr_assert_eq(ac_lookup(t.c, ns1, a, 2, &res), 0);
		cr_assert_eq(res.hits, 2);
	}
	cr_assert_eq(ac_retain(t.c, ns1, b1, 2, 60000, &id1), 0);
	cr_expect_eq(retained(&o1, NULL), 2);
	tclient_close(&t);
	for (int i = 0; i < 200 && (retained(&o0, NULL) || retained(&o1, NULL)); i++)
		usleep(10000);
	cr_expect_eq(retained(&o0, NULL), 0, "pool 0's retention outlived its session");
	cr_expect_eq(retained(&o1, NULL), 0, "pool 1's retention outlived its session");
	tclient_close(&o0);
	tclient_close(&o1);
	stop();
}

Test(agent, pick_ttl_follows_the_tool_durations)
{
	const double tools[] = { 0.5, 0.6, 0.7, 30.0 };
	double bad = -1;
	uint32_t ms = 0;

	/* Costly chain, cheap hold: wait for the slow tool too. */
	cr_assert_eq(ac_pick_ttl(tools, 4, 10.0, 0.001, 1000, &ms), 0);
	cr_assert_eq(ms, 30000);
	/* A hold that costs more than the outlier is worth: stop at 0.7 s. */
	cr_assert_eq(ac_pick_ttl(tools, 4, 1.0, 0.1, 1000, &ms), 0);
	cr_assert_eq(ms, 700);
	cr_assert_eq(ac_pick_ttl(NULL, 0, 1.0, 0.1, 1234, &ms), 0);
	cr_assert_eq(ms, 1234, "no observations: the fallback");
	cr_assert_eq(ac_pick_ttl(&bad, 1, 1.0, 0.1, 1000, &ms), -EINVAL);
	cr_assert_eq(ac_pick_ttl(tools, 4, -1.0, 0.1, 1000, &ms), -EINVAL);
}

/* ---- step 3: chunk scheduling ---------------------------------------- */

static int schedule_one(struct ac_client *c, uint32_t decodes, uint32_t len,
			uint32_t tpot_us, struct ac_sched_result *res,
			struct ac_sched_chunk *chunks)
{
	struct ac_sched_segment seg = {
		.request_id = 1, .start = 0, .len = len, .waited_us = 1000,
	};
	struct ac_sched_request req = {
		.decode_tokens = decodes, .decode_ctx = (uint64_t)decodes * 4096,
		.segs = &seg, .nsegs = 1, .tpot_target_us = tpot_us,
	};

	memset(res, 0, sizeof(*res));
	res->chunks = chunks;
	res->cap = 8;
	return ac_schedule(c, &req, res);
}

Test(agent, adaptive_schedule_fits_the_tpot_target)
{
	struct tclient t;
	struct ac_sched_result res;
	struct ac_sched_chunk ch[8];
	uint64_t small;
	int r;

	start("[scheduler]\ntpot_target_us = 40000\n");
	cr_assert_eq(tclient_open(&t, &D, "sched"), 0);
	r = schedule_one(t.c, 32, 100000, 0, &res, ch);
	cr_assert_eq(r, 0, "%s", ac_strerror(r));
	cr_assert(!res.fixed);
	cr_assert_eq(res.sharers, 1);
	cr_assert_gt(res.prefill_tokens, 0);
	cr_assert_leq(res.predicted_s, 0.040 + 1e-9, "predicted %g s",
		      res.predicted_s);
	cr_assert_eq(res.nchunks, 1);
	cr_assert_eq(ch[0].start, 0);
	cr_assert_eq(ch[0].len, res.prefill_tokens);
	small = res.prefill_tokens;
	r = schedule_one(t.c, 32, 100000, 100000, &res, ch);
	cr_assert_eq(r, 0);
	cr_assert_gt(res.prefill_tokens, small, "a looser target takes more");
	cr_assert_leq(res.predicted_s, 0.100 + 1e-9);
	tclient_close(&t);
	stop();
}

/*
 * No target in the file or the call: the daemon's default (chunk.h) bounds
 * the iteration, and a backlog fills it to near that bound.
 */
Test(agent, adaptive_schedule_defaults_to_the_scheduler_target)
{
	struct tclient t;
	struct ac_sched_result res;
	struct ac_sched_chunk ch[8];
	int r;

	start("");
	cr_assert_eq(tclient_open(&t, &D, "sched"), 0);
	r = schedule_one(t.c, 32, 100000, 0, &res, ch);
	cr_assert_eq(r, 0, "%s", ac_strerror(r));
	cr_assert_leq(res.predicted_s, AC_CHUNK_TPOT_TARGET_US / 1e6 + 1e-9,
		      "predicted %g s", res.predicted_s);
	cr_assert_gt(res.predicted_s, 0.8 * AC_CHUNK_TPOT_TARGET_US / 1e6,
		     "predicted %g s", res.predicted_s);
	tclient_close(&t);
	stop();
}

Test(agent, fixed_schedule_returns_the_fixed_budget)
{
	struct tclient t;
	struct ac_sched_result res;
	struct ac_sched_chunk ch[8];

	start("[scheduler]\nmode = fixed\nfixed_budget_tokens = 512\n");
	cr_assert_eq(tclient_open(&t, &D, "sched"), 0);
	cr_assert_eq(schedule_one(t.c, 64, 100000, 0, &res, ch), 0);
	cr_assert(res.fixed);
	cr_assert_eq(res.prefill_tokens, 512 - 64);
	tclient_close(&t);
	stop();
}

/*
 * Two processes take turns (a pipe token passes between them); each asks
 * for ROUNDS iterations of a backlog far larger than one iteration.
 */
#define ROUNDS 6
struct fair {
	int to[2][2];		/* to[i]: pipe that wakes child i */
	uint64_t *got;		/* shared: [child][round] prefill tokens */
};

static int child_fair(void *arg, int slot)
{
	struct fair *f = arg;
	struct tclient t;
	struct ac_sched_result res;
	struct ac_sched_chunk ch[8];
	char c = 't';
	int r;

	r = tclient_open(&t, &D, slot ? "fair-b" : "fair-a");
	CHILD_CHECK(slot, r == 0, r);
	for (int i = 0; i < ROUNDS; i++) {
		CHILD_CHECK(slot, read(f->to[slot][0], &c, 1) == 1, errno);
		r = schedule_one(t.c, 16, 1000000, 0, &res, ch);
		CHILD_CHECK(slot, r == 0, r);
		f->got[slot * ROUNDS + i] = res.prefill_tokens;
		CHILD_CHECK(slot, res.predicted_s <=
			    AC_CHUNK_TPOT_TARGET_US / 1e6 + 1e-9, 0);
		CHILD_CHECK(slot, write(f->to[!slot][1], &c, 1) == 1, errno);
	}
	/* A closed session stops sharing: stay until the other is done. */
	if (slot == 0)
		CHILD_CHECK(slot, read(f->to[0][0], &c, 1) == 1, errno);
	tclient_close(&t);
	return 0;
}

Test(agent, two_processes_asking_alternately_share_the_budget)
{
	struct tclient t;
	struct ac_sched_result res;
	struct ac_sched_chunk ch[8];
	struct fair f;
	uint64_t alone;
	pid_t a, b;
	char c = 't';

	start("");
	cr_assert_eq(tclient_open(&t, &D, "alone"), 0);
	cr_assert_eq(schedule_one(t.c, 16, 1000000, 0, &res, ch), 0);
	alone = res.prefill_tokens;
	tclient_close(&t);
	/* The lone session's last call must age out of the 1 s window. */
	usleep(1100000);

	f.got = mmap(NULL, 2 * ROUNDS * sizeof(*f.got), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(f.got, MAP_FAILED);
	cr_assert_eq(pipe(f.to[0]), 0);
	cr_assert_eq(pipe(f.to[1]), 0);
	child_reports_init(2);
	a = child_spawn(child_fair, &f, 0);
	b = child_spawn(child_fair, &f, 1);
	cr_assert_eq(write(f.to[0][1], &c, 1), 1);
	child_wait_ok(a, 0);
	child_wait_ok(b, 1);
	/* Round 0 of child 0 ran alone; from then on both are active. */
	for (int i = 1; i < ROUNDS; i++) {
		uint64_t x = f.got[i], y = f.got[ROUNDS + i];

		cr_assert_eq(x, y, "round %d: %llu vs %llu tokens", i,
			     (unsigned long long)x, (unsigned long long)y);
		cr_assert_leq(x, alone / 2, "round %d: %llu of %llu", i,
			      (unsigned long long)x, (unsigned long long)alone);
		cr_assert_geq(x, alone / 2 - 1, "round %d: %llu of %llu", i,
			      (unsigned long long)x, (unsigned long long)alone);
	}
	cr_assert_eq(f.got[0], alone, "alone at first");
	munmap(f.got, 2 * ROUNDS * sizeof(*f.got));
	for (int i = 0; i < 2; i++) {
		close(f.to[i][0]);
		close(f.to[i][1]);
	}
	stop();
}

/* Raw Schedule requests: checks the library would stop never reach it. */
static void expect_sched_error(int fd, Asymcache__V1__PendingSegment **p,
			       size_t n, uint32_t tpot, int code,
			       const char *what)
{
	Asymcache__V1__Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Schedule sc = ASYMCACHE__V1__SCHEDULE__INIT;
	Asymcache__V1__Response *resp;

	sc.decode_tokens = 8;
	sc.segments = p;
	sc.n_segments = n;
	sc.tpot_target_us = tpot;
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_SCHEDULE;
	req.schedule = &sc;
	resp = traw_call(fd, &req);
	cr_assert_not_null(resp);
	cr_assert_eq(resp->body_case, ASYMCACHE__V1__RESPONSE__BODY_ERROR,
		     "%s: accepted", what);
	cr_expect_eq(resp->error->code, code, "%s: code %d (%s)", what,
		     resp->error->code, resp->error->message);
	asymcache__v1__response__free_unpacked(resp, NULL);
}

Test(agent, bad_schedules_are_errors)
{
	Asymcache__V1__PendingSegment s[5], *p[5];
	struct tclient t;
	struct ac_sched_result res;
	struct ac_sched_chunk ch[8];
	int fd;

	start("[limits]\nmax_schedule_segments = 4\n");
	fd = traw_hello(D.sock);
	for (int i = 0; i < 5; i++) {
		asymcache__v1__pending_segment__init(&s[i]);
		s[i].request_id = (uint32_t)i + 1;
		s[i].start = 0;
		s[i].len = 100;
		p[i] = &s[i];
	}
	expect_sched_error(fd, p, 5, 0, E2BIG, "too many segments");
	expect_sched_error(fd, p, 0, 0, EINVAL, "no segments");
	s[1].len = 0;
	expect_sched_error(fd, p, 2, 0, EINVAL, "zero length");
	s[1].len = 100;
	s[1].request_id = 1;
	s[1].start = 50;
	expect_sched_error(fd, p, 2, 0, EINVAL, "overlapping");
	s[1].start = 200;
	s[2].request_id = 1;
	s[2].start = 400;
	s[1].request_id = 2;
	expect_sched_error(fd, p, 3, 0, EINVAL, "request split across the list");
	expect_sched_error(fd, p, 1, 999, ERANGE, "tpot below 1 ms");
	s[0].start = 1ULL << 32;
	expect_sched_error(fd, p, 1, 0, ERANGE, "position past 2^32");
	close(fd);

	/* The session that sent them is fine, and so is the daemon. */
	cr_assert_eq(tclient_open(&t, &D, "after"), 0);
	cr_assert_eq(schedule_one(t.c, 8, 1000, 0, &res, ch), 0);
	cr_assert_eq(res.prefill_tokens, 1000);
	tclient_close(&t);
	stop();
}

/* ---- declared tool calls over the socket (Retain with ttl_ms 0) ------ */

/* One request on the raw session; asserts the reply's kind. */
static Asymcache__V1__Response *raw_ok(int fd, Asymcache__V1__Request *req,
				       int want)
{
	Asymcache__V1__Response *resp = traw_call(fd, req);

	cr_assert_not_null(resp);
	cr_assert_eq(resp->body_case, want, "reply %d: %s", resp->body_case,
		     resp->body_case == ASYMCACHE__V1__RESPONSE__BODY_ERROR ?
		     resp->error->message : "");
	return resp;
}

/*
 * A raw session that attached, registered the test layout and committed
 * a chain of @n blocks it still pins; returns the fd, the namespace and
 * the block ids. (libasymcache has no call for a declared Retain yet.)
 */
static int raw_chain(uint32_t n, uint8_t tag, uint32_t *ret_ns,
		     uint32_t *blocks)
{
	Asymcache__V1__Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Attach at = ASYMCACHE__V1__ATTACH__INIT;
	Asymcache__V1__RegisterNamespace rn =
		ASYMCACHE__V1__REGISTER_NAMESPACE__INIT;
	Asymcache__V1__NamespaceLayout nl;
	Asymcache__V1__Alloc al = ASYMCACHE__V1__ALLOC__INIT;
	Asymcache__V1__Commit cm = ASYMCACHE__V1__COMMIT__INIT;
	Asymcache__V1__CommitEntry ce[8], *pce[8];
	Asymcache__V1__Response *resp;
	uint8_t keys[8][16];
	int fd = traw_hello(D.sock);

	cr_assert_leq(n, 8);
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_ATTACH;
	req.attach = &at;
	asymcache__v1__response__free_unpacked(
		raw_ok(fd, &req, ASYMCACHE__V1__RESPONSE__BODY_ATTACH), NULL);
	th_proto_layout(&nl, tlayout.model_id, tlayout.kv.num_layers,
			tlayout.kv.num_kv_heads, tlayout.kv.head_dim,
			ASYMCACHE__V1__DTYPE__DTYPE_FP32, tlayout.kv.block_tokens);
	rn.layout = &nl;
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_REGISTER_NAMESPACE;
	req.register_namespace = &rn;
	resp = raw_ok(fd, &req, ASYMCACHE__V1__RESPONSE__BODY_REGISTER_NAMESPACE);
	*ret_ns = resp->register_namespace->ns_id;
	asymcache__v1__response__free_unpacked(resp, NULL);
	al.ns_id = *ret_ns;
	al.count = n;
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_ALLOC;
	req.alloc = &al;
	resp = raw_ok(fd, &req, ASYMCACHE__V1__RESPONSE__BODY_ALLOC);
	cr_assert_eq(resp->alloc->n_blocks, n);
	memcpy(blocks, resp->alloc->blocks, n * sizeof(*blocks));
	asymcache__v1__response__free_unpacked(resp, NULL);
	for (uint32_t i = 0; i < n; i++) {
		memset(keys[i], tag, 16);
		keys[i][0] = (uint8_t)i;
		th_proto_entry(&ce[i], keys[i], blocks[i], i,
			       i ? keys[i - 1] : NULL);
		pce[i] = &ce[i];
	}
	cm.ns_id = *ret_ns;
	cm.n_entries = n;
	cm.entries = pce;
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_COMMIT;
	req.commit = &cm;
	resp = raw_ok(fd, &req, ASYMCACHE__V1__RESPONSE__BODY_COMMIT);
	/* Commit may dedup into other ids: the chain is what it says. */
	memcpy(blocks, resp->commit->blocks, n * sizeof(*blocks));
	asymcache__v1__response__free_unpacked(resp, NULL);
	return fd;
}

static Asymcache__V1__RetainReply raw_retain(int fd, uint32_t ns,
					     uint32_t *blocks, uint32_t n,
					     uint32_t ttl_ms, uint32_t expect_ms)
{
	Asymcache__V1__Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Retain rt = ASYMCACHE__V1__RETAIN__INIT;
	Asymcache__V1__Response *resp;
	Asymcache__V1__RetainReply rr;

	rt.ns_id = ns;
	rt.blocks = blocks;
	rt.n_blocks = n;
	rt.ttl_ms = ttl_ms;
	rt.expect_ms = expect_ms;
	rt.program_id = 42;
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_RETAIN;
	req.retain = &rt;
	resp = raw_ok(fd, &req, ASYMCACHE__V1__RESPONSE__BODY_RETAIN);
	rr = *resp->retain;
	asymcache__v1__response__free_unpacked(resp, NULL);
	return rr;
}

static void raw_resume(int fd, uint64_t id)
{
	Asymcache__V1__Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Resume rs = ASYMCACHE__V1__RESUME__INIT;

	rs.retention_id = id;
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_RESUME;
	req.resume = &rs;
	asymcache__v1__response__free_unpacked(
		raw_ok(fd, &req, ASYMCACHE__V1__RESPONSE__BODY_RESUME), NULL);
}

Test(agent, declared_tool_calls_are_learned_budgeted_and_counted)
{
	Asymcache__V1__Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Stats st = ASYMCACHE__V1__STATS__INIT;
	Asymcache__V1__Response *resp;
	Asymcache__V1__RetainReply rr;
	uint32_t ns, a[4], b[4];
	int fd, fd2;

	/* A quarter of the pool (all of it by default), to show soft ones. */
	start("[limits]\nretain_budget_percent = 25\n");
	fd = raw_chain(4, 0x61, &ns, a);
	/* No TTL and no declaration: nothing to go by. */
	{
		Asymcache__V1__Retain rt = ASYMCACHE__V1__RETAIN__INIT;

		rt.ns_id = ns;
		rt.blocks = a;
		rt.n_blocks = 4;
		req.body_case = ASYMCACHE__V1__REQUEST__BODY_RETAIN;
		req.retain = &rt;
		resp = raw_ok(fd, &req, ASYMCACHE__V1__RESPONSE__BODY_ERROR);
		cr_expect_eq(resp->error->code, ERANGE);
		asymcache__v1__response__free_unpacked(resp, NULL);
	}
	/* Nothing learned: twice the 3 s declared, pinned (4 of a 4 budget). */
	rr = raw_retain(fd, ns, a, 4, 0, 3000);
	cr_assert_gt(rr.retention_id, 0);
	cr_expect_eq(rr.expires_in_ms, 6000);
	cr_expect(rr.pinned);
	/* Program 42's calls take 30 ms, then 5: the TTL follows them. */
	for (int i = 0; i < 4; i++) {
		usleep(i ? 5000 : 30000);
		raw_resume(fd, rr.retention_id);
		rr = raw_retain(fd, ns, a, 4, 0, 3000);
		cr_assert_gt(rr.retention_id, 0);
	}
	cr_expect_lt(rr.expires_in_ms, 1000, "learned: %llu ms",
		     (unsigned long long)rr.expires_in_ms);
	cr_expect_geq(rr.expires_in_ms, 30);
	/* Another session's chain does not fit the budget: soft under asym. */
	fd2 = raw_chain(4, 0x62, &ns, b);
	rr = raw_retain(fd2, ns, b, 4, 60000, 0);
	cr_assert_gt(rr.retention_id, 0);
	cr_expect(!rr.pinned, "over the budget: soft");
	cr_expect_eq(rr.expires_in_ms, 60000);

	req.body_case = ASYMCACHE__V1__REQUEST__BODY_STATS;
	req.stats = &st;
	resp = raw_ok(fd2, &req, ASYMCACHE__V1__RESPONSE__BODY_STATS);
	cr_expect_eq(resp->stats->retain_budget_blocks, NBLOCKS / 4);
	cr_expect_eq(resp->stats->retained_blocks, 4, "the first, pinned");
	cr_expect_eq(resp->stats->retained_soft_blocks, 4);
	cr_expect_eq(resp->stats->session_retained, 4);
	cr_expect_eq(resp->stats->retain_resumed, 4);
	cr_expect_eq(resp->stats->retain_declined, 0);
	cr_expect_gt(resp->stats->retain_hold_ms, 40);
	asymcache__v1__response__free_unpacked(resp, NULL);
	/* Both sessions go: so do their retentions, pinned and soft. */
	close(fd);
	close(fd2);
	fd = traw_hello(D.sock);
	for (int i = 0; i < 200; i++) {
		bool gone;

		resp = raw_ok(fd, &req, ASYMCACHE__V1__RESPONSE__BODY_STATS);
		gone = !resp->stats->retained_blocks &&
		       !resp->stats->retained_soft_blocks;
		asymcache__v1__response__free_unpacked(resp, NULL);
		if (gone)
			break;
		usleep(10000);
	}
	resp = raw_ok(fd, &req, ASYMCACHE__V1__RESPONSE__BODY_STATS);
	cr_expect_eq(resp->stats->retained_blocks, 0);
	cr_expect_eq(resp->stats->retained_soft_blocks, 0);
	asymcache__v1__response__free_unpacked(resp, NULL);
	close(fd);
	stop();
}

