/* SPDX-License-Identifier: MIT */
/*
 * Agent sessions in the daemon core: the [policy] cost_file, [scheduler] and new
 * [limits] keys, cost model reload, TTL retention bookkeeping against the
 * cache's pins, and the Schedule checks. No socket: the end-to-end side is
 * tests/integration/core/test_agent.c.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "asymcache.pb-c.h"
#include "core.h"
#include "layout.h"
#include "daemon.h"
#include "dispatch.h"
#include "dtest.h"
#include "retention.h"
#include "schedule.h"
#include "session.h"
#include "th_cost.h"

static struct daemon d;
static char conf[64], sock[64], cost[64];
static char *argv_[DT_HOST_ARGV_LEN];

static void write_cost(double linear, double attn, double seg)
{
	int r = th_write_cost_file(cost, "test-gpu", linear, attn, seg);

	cr_assert_eq(r, 0, "%s: %s", cost, strerror(-r));
}

/*
 * @text, then limits that let one session hold the whole pool: these
 * tests fill it from one session, and the quotas on blocks held have
 * their own suite (test_quotas.c).
 */
static int load(const char *text, char *err, size_t len)
{
	enum cfg_action action;
	char full[4096];

	snprintf(full, sizeof(full), "%s\n[limits]\nmax_blocks_per_session = 100%%\n"
		 "max_blocks_per_uid = 100%%\n", text);
	dt_write_file(conf, full);
	err[0] = '\0';
	return cfg_from_cmdline(&d.cfg, d.argc, d.argv, &action, err, len);
}

static void setup(void)
{
	int n;

	snprintf(conf, sizeof(conf), "/tmp/acd-agent-%d.conf", (int)getpid());
	snprintf(sock, sizeof(sock), "/tmp/acd-agent-%d.sock", (int)getpid());
	snprintf(cost, sizeof(cost), "/tmp/acd-agent-%d.json", (int)getpid());
	n = dt_host_argv(argv_, conf, sock, "--pool-bytes=256K");
	memset(&d, 0, sizeof(d));
	d.argc = n;
	d.argv = argv_;
}

static void teardown(void)
{
	unlink(conf);
	unlink(sock);
	unlink(cost);
}

TestSuite(agent, .init = setup, .fini = teardown, .timeout = 30);

Test(agent, new_keys_have_defaults_and_ranges)
{
	char err[CFG_ERR_MAX];
	struct ac_cost_model def;

	cr_assert_eq(load("", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(d.cfg.sched.mode, CFG_SCHED_ADAPTIVE);
	cr_assert_eq(d.cfg.sched.tpot_target_us, 50000);
	cr_assert_eq(d.cfg.sched.fixed_budget_tokens, 2048);
	cr_assert_eq(d.cfg.limits.max_retained_blocks_per_session, 65536);
	cr_assert_eq(d.cfg.limits.max_retain_ttl_ms, 600000);
	cr_assert_eq(d.cfg.limits.retain_budget_percent, 100,
		     "all of the pool: pins give way to any Alloc");
	cr_assert_eq(d.cfg.limits.max_schedule_segments, 1024);
	if (access(CFG_DEFAULT_COST_FILE, F_OK) < 0) {
		ac_cost_model_default(&def);
		cr_assert_str_eq(d.cfg.cost_from, "built-in");
		cr_assert_eq(d.cfg.cost.linear_s, def.linear_s);
	} else {
		cr_assert_str_eq(d.cfg.cost_from, CFG_DEFAULT_COST_FILE);
	}

	cr_assert_eq(load("[scheduler]\nmode = fixed\nfixed_budget_tokens = 512\n"
			  "tpot_target_us = 20000\n", err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(d.cfg.sched.mode, CFG_SCHED_FIXED);
	cr_assert_eq(d.cfg.sched.fixed_budget_tokens, 512);
	cr_assert_eq(d.cfg.sched.tpot_target_us, 20000);

	cr_assert_eq(d.cfg.sched.order, -1, "unset: the mode's order");
	cr_assert_eq(load("[scheduler]\norder = srpt\n", err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(d.cfg.sched.order, AC_CHUNK_SRPT);
	cr_assert_eq(load("[scheduler]\norder = lifo\n", err, sizeof(err)),
		     -EINVAL);
	cr_assert_not_null(strstr(err, "[scheduler] order: 'lifo'"), "%s", err);
	cr_assert_eq(load("[scheduler]\norder = program\n", err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(d.cfg.sched.order, AC_CHUNK_PROGRAM);
	cr_assert_eq(load("[scheduler]\nmode = greedy\n", err, sizeof(err)),
		     -EINVAL);
	cr_assert_not_null(strstr(err, ":2: [scheduler] mode: 'greedy'"), "%s",
			   err);
	cr_assert_eq(load("[scheduler]\ntpot_target_us = 999\n", err,
			  sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "out of range"), "%s", err);
	cr_assert_eq(load("[limits]\nmax_retain_ttl_ms = 0\n", err,
			  sizeof(err)), -EINVAL);
	cr_assert_eq(load("[limits]\nretain_budget_percent = 101\n", err,
			  sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "retain_budget_percent"), "%s", err);
	cr_assert_eq(load("[limits]\nretain_budget_percent = 0\n", err,
			  sizeof(err)), 0, "%s", err);
	cr_assert_eq(d.cfg.limits.retain_budget_percent, 0);
	cr_assert_eq(load("[limits]\nmax_schedule_segments = 70000\n", err,
			  sizeof(err)), -EINVAL);
	cr_assert_eq(load("[policy]\ncost_file = relative.json\n", err,
			  sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "not an absolute path"), "%s", err);
	/* Empty, as the shipped file shows it: the default model. */
	cr_assert_eq(load("[policy]\ncost_file =\n", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(load("[daemon]\nsocket =\n", err, sizeof(err)), -EINVAL);
}

Test(agent, cost_file_loads_and_a_bad_one_names_its_path)
{
	char err[CFG_ERR_MAX], text[256];

	write_cost(2e-5, 5e-8, 0);
	snprintf(text, sizeof(text), "[policy]\ncost_file = %s\n", cost);
	cr_assert_eq(load(text, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(d.cfg.cost_from, cost);
	cr_assert_float_eq(d.cfg.cost.attn_s, 5e-8, 1e-20);
	cr_assert_str_eq(d.cfg.cost.gpu, "test-gpu");

	/* A second per token is a unit error: the parser refuses it. */
	write_cost(2.0, 5e-8, 0);
	cr_assert_eq(load(text, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, cost), "path missing: %s", err);
	cr_assert_not_null(strstr(err, "[policy] cost_file"), "%s", err);

	dt_write_file(cost, "{ not json");
	cr_assert_eq(load(text, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, cost), "%s", err);

	unlink(cost);
	cr_assert_eq(load(text, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "No such file"), "%s", err);
}

Test(agent, reload_swaps_the_cost_model_or_changes_nothing)
{
	char err[CFG_ERR_MAX], text[256];

	write_cost(2e-5, 5e-8, 0);
	snprintf(text, sizeof(text),
		 "[policy]\nname = asym\ncost_file = %s\n[daemon]\nlog_level = crit\n",
		 cost);
	cr_assert_eq(load(text, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(daemon_core_init(&d), 0);
	cr_assert_eq(d.pools[0].cache.cost, &d.cfg.cost);
	dt_register_ns(&d.pools[0].cache, "agent-model");

	write_cost(3e-5, 1e-9, 1e-4);
	cr_assert_eq(daemon_reload_config(&d, err, sizeof(err)), 0, "%s", err);
	cr_assert_float_eq(d.cfg.cost.linear_s, 3e-5, 1e-20);
	cr_assert_eq(d.pools[0].cache.cost, &d.cfg.cost);

	dt_write_file(cost, "[]");
	cr_assert_eq(daemon_reload_config(&d, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, cost), "%s", err);
	cr_assert_float_eq(d.cfg.cost.linear_s, 3e-5, 1e-20,
			   "a refused reload changed the model");
	daemon_core_fini(&d);
}

/* Commits @n blocks for @s, pinned by it; ids in @ids. */
static void commit_n(struct session *s, uint32_t ns, uint32_t n,
		     uint32_t *ids, uint8_t tag)
{
	struct cache_commit_entry e[16];
	uint32_t out[16], ded;

	cr_assert_eq(cache_alloc(&d.pools[0].cache, &s->cs, ns, n, ids), 0);
	for (uint32_t i = 0; i < n; i++) {
		memset(&e[i], 0, sizeof(e[i]));
		memset(e[i].key.b, tag, 16);
		e[i].key.b[0] = (uint8_t)i;
		e[i].block = ids[i];
		e[i].pos = i;
		e[i].has_parent = i > 0;
		if (i) {
			memset(e[i].parent_key.b, tag, 16);
			e[i].parent_key.b[0] = (uint8_t)(i - 1);
		}
	}
	cr_assert_eq(cache_commit(&d.pools[0].cache, &s->cs, ns, e, n, out, &ded), 0);
}

/* Retain with a TTL the client chose; 0 or -errno, the handle. */
static int retain(struct session *s, uint32_t ns, const uint32_t *ids,
		  uint32_t n, uint32_t ttl_ms, uint64_t *ret_handle)
{
	struct daemon_retain_req q = {
		.ns = ns, .ids = ids, .n = n, .ttl_ms = ttl_ms,
	};
	struct daemon_retain_got got;
	bool budget;
	int r = daemon_retain(&d, s, &q, &got, &budget);

	*ret_handle = got.handle;
	return r;
}

Test(agent, retention_pins_survive_release_and_end_every_way)
{
	char err[CFG_ERR_MAX];
	struct session *s, *o;
	uint32_t ns, ids[4], other[2], rel, dup[2];
	uint64_t h1, h2, h3;

	cr_assert_eq(load("[limits]\nmax_retained_blocks_per_session = 6\n"
			  "max_retain_ttl_ms = 1000\nretain_budget_percent = 100\n"
			  "[daemon]\nlog_level = crit\n",
			  err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(daemon_core_init(&d), 0);
	s = session_new(&d, -1, 1, 0, 0);
	o = session_new(&d, -1, 2, 0, 0);
	ns = dt_register_ns(&d.pools[0].cache, "agent-model");
	commit_n(s, ns, 4, ids, 0xa0);
	commit_n(o, ns, 2, other, 0xb0);

	/* Refusals change nothing. */
	cr_assert_eq(retain(s, ns, ids, 4, 0, &h1), -ERANGE);
	cr_assert_eq(retain(s, ns, ids, 4, 1001, &h1), -ERANGE);
	cr_assert_eq(retain(s, ns, other, 2, 100, &h1), -EPERM);
	cr_assert_eq(retain(s, ns + 1, ids, 2, 100, &h1), -EINVAL);
	dup[0] = dup[1] = ids[0];
	cr_assert_eq(retain(s, ns, dup, 2, 100, &h1), -EINVAL);
	dup[1] = 9999;
	cr_assert_eq(retain(s, ns, dup, 2, 100, &h1), -EINVAL);
	cr_assert_eq(d.pools[0].retained_blocks, 0);
	cr_assert_eq(d.pools[0].cache.npinned, 6);

	cr_assert_eq(retain(s, ns, ids, 4, 1000, &h1), 0);
	cr_assert_eq(retain(s, ns, ids, 3, 1000, &h2), -EDQUOT,
		     "4 + 3 is over the quota of 6");
	cr_assert_eq(daemon_session_retained(&d, s, 0), 4);
	cr_assert_eq(retain(s, ns, ids + 2, 2, 1, &h2), 0);
	cr_assert_eq(daemon_session_retained(&d, s, 0), 6);
	cr_assert_eq(cache_release(&d.pools[0].cache, &s->cs, ids, 4, &rel), 0);
	cr_assert_eq(d.pools[0].cache.npinned, 6, "retained blocks stay pinned");
	cr_assert_eq(daemon_resume(&d, o, h1, &rel), -ENOENT,
		     "another session's retention");

	/*
	 * h2 expires after 1 ms; any call above may already have ended it
	 * (valgrind is slow), so check the state, not who expired it.
	 */
	usleep(5000);
	daemon_retain_expire(&d, cache_clock_monotonic());
	cr_assert_eq(d.pools[0].retained_blocks, 4);
	cr_assert_eq(daemon_resume(&d, s, h2, &rel), -ENOENT);
	cr_assert_eq(daemon_session_retained(&d, s, 0), 4);
	cr_assert_eq(daemon_resume(&d, s, h1, &rel), 0);
	cr_assert_eq(rel, 4);
	cr_assert_eq(d.pools[0].retained_blocks, 0);
	cr_assert_eq(d.pools[0].cache.npinned, 2, "only o's pins are left");

	/* Session close releases retentions. */
	cr_assert_eq(retain(o, ns, other, 2, 1000, &h3), 0);
	cr_assert_eq(d.pools[0].retained_blocks, 2);
	session_free(o);
	cr_assert_eq(d.pools[0].retained_blocks, 0);
	cr_assert_eq(d.pools[0].cache.npinned, 0);
	session_free(s);
	daemon_core_fini(&d);
}

/* Retain as a client that declares its call and leaves the TTL to us. */
static int retain_declared(struct session *s, uint32_t ns, const uint32_t *ids,
			   uint32_t n, uint32_t expect_ms, uint64_t program,
			   struct daemon_retain_got *got)
{
	struct daemon_retain_req q = {
		.ns = ns, .ids = ids, .n = n, .expect_ms = expect_ms,
		.program = program,
	};
	bool budget;

	return daemon_retain(&d, s, &q, got, &budget);
}

Test(agent, retention_budget_pins_then_hints)
{
	char err[CFG_ERR_MAX];
	struct daemon_retain_stats st;
	struct daemon_retain_got got;
	struct session *s;
	uint32_t ns, a[4], b[4], c[4], rel, ev;
	uint64_t ha, hb;
	bool budget;
	struct daemon_retain_req q;

	/* 16 blocks, a budget of 25%: 4 blocks may be pinned. */
	cr_assert_eq(load("[limits]\nretain_budget_percent = 25\n"
			  "[daemon]\nlog_level = crit\n", err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(daemon_core_init(&d), 0);
	s = session_new(&d, -1, 1, 0, 0);
	ns = dt_register_ns(&d.pools[0].cache, "agent-model");
	commit_n(s, ns, 4, a, 0xa0);
	commit_n(s, ns, 4, b, 0xb0);
	commit_n(s, ns, 4, c, 0xc0);
	q = (struct daemon_retain_req){ .ns = ns, .ids = a, .n = 4,
					.ttl_ms = 5000 };
	cr_assert_eq(daemon_retain(&d, s, &q, &got, &budget), 0);
	cr_assert(got.pinned);
	ha = got.handle;
	q.ids = b;
	cr_assert_eq(daemon_retain(&d, s, &q, &got, &budget), 0);
	cr_assert(!got.pinned, "over the budget: a soft retention");
	cr_assert_eq(got.ttl_ms, 5000);
	hb = got.handle;
	cr_assert(hb & RETAIN_SOFT);
	daemon_retain_stats(&d.pools[0], &st);
	cr_assert_eq(st.budget_blocks, 4);
	cr_assert_eq(st.pinned_blocks, 4);
	cr_assert_eq(st.soft_blocks, 4);
	cr_assert_eq(daemon_session_retained(&d, s, 0), 8);
	/* The client lets go: a's are pinned still, b's and c's are not... */
	cr_assert_eq(cache_release(&d.pools[0].cache, &s->cs, a, 4, &rel), 0);
	cr_assert_eq(cache_release(&d.pools[0].cache, &s->cs, b, 4, &rel), 0);
	cr_assert_eq(cache_release(&d.pools[0].cache, &s->cs, c, 4, &rel), 0);
	cr_assert_eq(d.pools[0].cache.npinned, 4);
	/* ...and asym evicts the hinted chain after the plain one. */
	cr_assert_eq(cache_evict(&d.pools[0].cache, 4, &ev), 0);
	cr_assert_eq(ev, 4);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(d.pools[0].cache.blocks[c[i]].state, BLK_FREE);
		cr_assert_eq(d.pools[0].cache.blocks[b[i]].state, BLK_CACHED);
	}
	/* Resume ends either kind and counts it. */
	cr_assert_eq(daemon_resume(&d, s, hb, &rel), 0);
	cr_assert_eq(rel, 4);
	cr_assert_eq(daemon_resume(&d, s, ha, &rel), 0);
	daemon_retain_stats(&d.pools[0], &st);
	cr_assert_eq(st.resumed, 2);
	cr_assert_eq(st.pinned_blocks + st.soft_blocks, 0);
	session_free(s);

	/* A policy without hints answers EDQUOT past the budget. */
	cr_assert_eq(cache_set_policy(&d.pools[0].cache, "lru"), 0);
	s = session_new(&d, -1, 2, 0, 0);
	commit_n(s, ns, 4, a, 0xd0);
	commit_n(s, ns, 2, b, 0xe0);
	q = (struct daemon_retain_req){ .ns = ns, .ids = a, .n = 4,
					.ttl_ms = 5000 };
	cr_assert_eq(daemon_retain(&d, s, &q, &got, &budget), 0);
	q.ids = b;
	q.n = 2;
	cr_assert_eq(daemon_retain(&d, s, &q, &got, &budget), -EDQUOT);
	cr_assert(budget);
	session_free(s);
	daemon_core_fini(&d);
}

/* A clock the test moves: a loaded machine cannot stretch a tool call. */
static uint64_t fake_ns;

static uint64_t fake_now(void)
{
	return fake_ns;
}

Test(agent, retention_ttl_is_learned_per_program)
{
	char err[CFG_ERR_MAX];
	struct daemon_retain_stats st;
	struct daemon_retain_got got;
	struct session *s, *t;
	uint32_t ns, a[2], tb[1], rel;

	cr_assert_eq(load("[limits]\nretain_budget_percent = 100\n"
			  "[daemon]\nlog_level = crit\n", err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(daemon_core_init(&d), 0);
	fake_ns = cache_clock_monotonic();
	for (uint32_t i = 0; i < d.npools; i++)
		d.pools[i].cache.now_ns = fake_now;
	s = session_new(&d, -1, 1, 0, 0);
	ns = dt_register_ns(&d.pools[0].cache, "agent-model");
	commit_n(s, ns, 2, a, 0xa0);
	/* Neither a TTL nor a declaration: nothing to go by. */
	cr_assert_eq(retain_declared(s, ns, a, 2, 0, 5, &got), -ERANGE);
	/* Nothing learned yet: twice what the client expects. */
	cr_assert_eq(retain_declared(s, ns, a, 2, 3000, 5, &got), 0);
	cr_assert_eq(got.ttl_ms, 6000);
	/*
	 * Program 5's calls come back in 20 ms, then 5 ms, though 3 s were
	 * declared: each TTL is the longest seen, so each comes back in time.
	 */
	for (int i = 0; i < 4; i++) {
		fake_ns += (i ? 5 : 20) * 1000000ULL;
		cr_assert_eq(daemon_resume(&d, s, got.handle, &rel), 0,
			     "call %d, TTL %u ms", i, got.ttl_ms);
		cr_assert_eq(retain_declared(s, ns, a, 2, 3000, 5, &got), 0);
	}
	cr_assert_lt(got.ttl_ms, 1000, "learned: %u ms", got.ttl_ms);
	cr_assert_geq(got.ttl_ms, 20);
	cr_assert_eq(daemon_resume(&d, s, got.handle, &rel), 0);
	/* Another program still goes by the declaration... */
	cr_assert_eq(retain_declared(s, ns, a, 2, 3000, 6, &got), 0);
	cr_assert_lt(got.ttl_ms, 1000, "all programs' calls stand in for it");
	cr_assert_eq(daemon_resume(&d, s, got.handle, &rel), 0);
	/* ...and one whose calls never came back is declined. */
	for (int i = 0; i < 4; i++) {
		t = session_new(&d, -1, 10 + i, 0, 0);
		commit_n(t, ns, 1, tb, (uint8_t)(0x10 + i));
		cr_assert_eq(retain_declared(t, ns, tb, 1, 50, 7, &got), 0);
		session_free(t);
	}
	cr_assert_eq(retain_declared(s, ns, a, 2, 50, 7, &got), 0);
	cr_assert_eq(got.handle, 0, "not worth holding");
	daemon_retain_stats(&d.pools[0], &st);
	cr_assert_eq(st.declined, 1);
	cr_assert_eq(st.resumed, 6);
	cr_assert_gt(st.hold_ms, 30);
	session_free(s);
	daemon_core_fini(&d);
}

Test(agent, schedule_checks_and_fixed_budget)
{
	char err[CFG_ERR_MAX];
	struct ac_chunk_seg segs[4] = {
		{ .req = 1, .start = 0, .len = 100 },
		{ .req = 1, .start = 50, .len = 100 },
	};
	struct ac_chunk_pick picks[8];
	struct ac_chunk_plan plan = { .picks = picks, .cap = 8 };
	struct daemon_sched_in in = {
		.decode_tokens = 16, .segs = segs, .nsegs = 2,
		.now_ns = cache_clock_monotonic(),
	};
	struct session *s;
	const char *why;
	uint32_t sharers;

	cr_assert_eq(load("[scheduler]\nmode = fixed\nfixed_budget_tokens = 256\n"
			  "[limits]\nmax_schedule_segments = 3\n"
			  "[daemon]\nlog_level = crit\n", err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(daemon_core_init(&d), 0);
	s = session_new(&d, -1, 1, 0, 0);

	cr_assert_eq(daemon_sched_check(&d, &in, &why), -EINVAL);
	cr_assert_not_null(strstr(why, "overlap"), "%s", why);
	segs[1].start = 100;
	segs[1].len = 1000;
	segs[2] = (struct ac_chunk_seg){ .req = 2, .start = 0, .len = 10 };
	segs[3] = (struct ac_chunk_seg){ .req = 1, .start = 300, .len = 10 };
	in.nsegs = 4;
	cr_assert_eq(daemon_sched_check(&d, &in, &why), -E2BIG);
	d.cfg.limits.max_schedule_segments = 4;
	cr_assert_eq(daemon_sched_check(&d, &in, &why), -EINVAL);
	cr_assert_not_null(strstr(why, "consecutive"), "%s", why);
	in.nsegs = 3;
	segs[2].len = 0;
	cr_assert_eq(daemon_sched_check(&d, &in, &why), -EINVAL);
	segs[2].len = 10;
	segs[2].start = SCHED_MAX_POS;
	cr_assert_eq(daemon_sched_check(&d, &in, &why), -ERANGE);
	segs[2].start = 0;
	in.tpot_us = 5;
	cr_assert_eq(daemon_sched_check(&d, &in, &why), -ERANGE);
	in.tpot_us = 0;
	cr_assert_eq(daemon_sched_check(&d, &in, &why), 0);

	cr_assert_eq(daemon_schedule(&d, s, &in, &plan, &sharers), 0);
	cr_assert_eq(sharers, 1);
	cr_assert_eq(plan.prefill_tokens, 256 - 16,
		     "fixed: the budget less the decodes");
	cr_assert_eq(picks[0].req, 1, "fixed mode's default order: FCFS");
	/* The order is a setting of its own: SRPT under the same budget. */
	d.cfg.sched.order = AC_CHUNK_SRPT;
	cr_assert_eq(daemon_schedule(&d, s, &in, &plan, &sharers), 0);
	cr_assert_eq(picks[0].req, 2, "the shortest request first");
	cr_assert_eq(picks[0].len, 10);
	cr_assert_eq(plan.prefill_tokens, 256 - 16);
	session_free(s);
	daemon_core_fini(&d);
}

/* ---- random Retain/Resume/Schedule/Release through dispatch_packet ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

/* Packs @req, runs it, returns the reply's body case (error: its code). */
static int run(struct session *s, Asymcache__V1__Request *req, int *ret_code,
	       uint64_t *ret_handle)
{
	static uint8_t pkt[65536];
	Asymcache__V1__Response *resp;
	size_t len = asymcache__v1__request__get_packed_size(req);
	int body;

	cr_assert_leq(len, sizeof(pkt));
	asymcache__v1__request__pack(req, pkt);
	cr_assert_eq(dispatch_packet(&d, s, pkt, len, false), 0);
	resp = asymcache__v1__response__unpack(NULL, s->slen, s->sbuf);
	cr_assert_not_null(resp);
	body = resp->body_case;
	*ret_code = body == ASYMCACHE__V1__RESPONSE__BODY_ERROR ?
		    resp->error->code : 0;
	if (body == ASYMCACHE__V1__RESPONSE__BODY_RETAIN && ret_handle)
		*ret_handle = resp->retain->retention_id;
	asymcache__v1__response__free_unpacked(resp, NULL);
	return body;
}

/* Pins over all blocks must equal the sessions' pins plus retained ones. */
static void check_invariants(struct session **ss, int n)
{
	uint64_t pins = 0, want = d.pools[0].retain_cs.npins;
	uint32_t pinned = 0, ret = 0;
	struct daemon_retain_stats rs;

	for (uint32_t i = 0; i < d.pools[0].cache.nblocks; i++) {
		const struct blk *b = &d.pools[0].cache.blocks[i];

		if (b->state != BLK_CACHED)
			continue;
		pins += b->pins;
		pinned += b->pins > 0;
	}
	for (int i = 0; i < n; i++) {
		want += ss[i]->cs.npins;
		ret += daemon_session_retained(&d, ss[i], 0);
	}
	cr_assert_eq(pins, want, "block pins %llu, holders %llu",
		     (unsigned long long)pins, (unsigned long long)want);
	cr_assert_eq(pinned, d.pools[0].cache.npinned);
	daemon_retain_stats(&d.pools[0], &rs);
	cr_assert_eq(d.pools[0].retain_cs.npins, d.pools[0].retained_blocks);
	cr_assert_leq(d.pools[0].retained_blocks, rs.budget_blocks);
	cr_assert_eq(ret, d.pools[0].retained_blocks + rs.soft_blocks,
		     "per-session sum %u vs %u pinned + %u soft", ret,
		     d.pools[0].retained_blocks, rs.soft_blocks);
}

static struct session *open_session(void)
{
	Asymcache__V1__Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Hello h = ASYMCACHE__V1__HELLO__INIT;
	struct session *s = session_new(&d, -1, 1, 0, 0);
	int code;

	cr_assert_not_null(s);
	h.protocol_version = 1;
	h.client_name = ac_proto_text("rand");
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_HELLO;
	req.hello = &h;
	cr_assert_eq(run(s, &req, &code, NULL),
		     ASYMCACHE__V1__RESPONSE__BODY_HELLO);
	/* Attach needs a pool fd dance; the core check is what matters. */
	s->attached = true;
	return s;
}

/*
 * Up to 16 of the blocks @s pins: a random half of them, or with @held
 * those it still holds a pin count on.
 */
static uint32_t pinned_blocks(struct session *s, uint32_t *blocks, bool held)
{
	struct pinmap_slot *ps;
	uint32_t n = 0;

	pinmap_foreach(&s->cs.pins, ps)
		if (ps->block != UINT32_MAX && n < 16 &&
		    (held ? ps->count != 0 : rnd(2) != 0))
			blocks[n++] = ps->block;
	return n;
}

Test(agent, random_requests_keep_pins_and_quotas_consistent)
{
	char err[CFG_ERR_MAX];
	struct session *ss[3];
	uint64_t handles[64] = { 0 };
	uint32_t ns, ids[16], nh = 0, ok_resume = 0, ok_sched = 0, bad = 0;
	int code;

	cr_assert_eq(load("[limits]\nmax_retained_blocks_per_session = 10\n"
			  "max_retain_ttl_ms = 50\nmax_schedule_segments = 8\n"
			  "[daemon]\nlog_level = crit\n", err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(daemon_core_init(&d), 0);
	ns = dt_register_ns(&d.pools[0].cache, "agent-model");
	for (int i = 0; i < 3; i++)
		ss[i] = open_session();

	for (int step = 0; step < 4000; step++) {
		struct session *s = ss[rnd(3)];
		Asymcache__V1__Request req = ASYMCACHE__V1__REQUEST__INIT;
		uint32_t op = rnd(100), n, blocks[16];
		uint64_t h = 0;

		if (op < 25) {
			/* Commit a few fresh blocks (pinned by s). */
			n = 1 + rnd(4);
			if (d.pools[0].cache.nfree + d.pools[0].cache.ncached - d.pools[0].cache.npinned < n ||
			    cache_alloc(&d.pools[0].cache, &s->cs, ns, n, ids) < 0)
				continue;
			struct cache_commit_entry e[4];
			uint32_t out[4], ded;

			for (uint32_t i = 0; i < n; i++) {
				memset(&e[i], 0, sizeof(e[i]));
				memcpy(e[i].key.b, &step, sizeof(step));
				e[i].key.b[8] = (uint8_t)i;
				e[i].block = ids[i];
			}
			cr_assert_eq(cache_commit(&d.pools[0].cache, &s->cs, ns, e, n,
						  out, &ded), 0);
		} else if (op < 45) {
			/* Retain some of s's pinned blocks (or junk). */
			Asymcache__V1__Retain rt = ASYMCACHE__V1__RETAIN__INIT;

			n = pinned_blocks(s, blocks, false);
			if (rnd(10) == 0 && n)
				blocks[rnd(n)] = rnd(d.pools[0].cache.nblocks + 5);
			rt.ns_id = rnd(20) ? ns : ns + 1;
			rt.n_blocks = n;
			rt.blocks = blocks;
			rt.ttl_ms = rnd(60);
			/* Some leave the TTL to the daemon (0 with no figure: ERANGE). */
			rt.expect_ms = rnd(3) ? 0 : rnd(100);
			rt.program_id = rnd(3);
			req.body_case = ASYMCACHE__V1__REQUEST__BODY_RETAIN;
			req.retain = &rt;
			if (run(s, &req, &code, &h) ==
			    ASYMCACHE__V1__RESPONSE__BODY_RETAIN)
				handles[nh++ % 64] = h;
			else
				bad += code > 0;
		} else if (op < 60) {
			Asymcache__V1__Resume rs = ASYMCACHE__V1__RESUME__INIT;

			/* The newest handle is the likeliest still live. */
			rs.retention_id = rnd(2) && nh ? handles[(nh - 1) % 64] :
					  rnd(8) ? handles[rnd(64)] : rnd(1000);
			req.body_case = ASYMCACHE__V1__REQUEST__BODY_RESUME;
			req.resume = &rs;
			ok_resume += run(s, &req, &code, NULL) ==
				     ASYMCACHE__V1__RESPONSE__BODY_RESUME;
		} else if (op < 80) {
			/* Release everything s pins, through the protocol. */
			Asymcache__V1__Release rl = ASYMCACHE__V1__RELEASE__INIT;

			n = pinned_blocks(s, blocks, true);
			if (!n)
				continue;
			rl.n_blocks = n;
			rl.blocks = blocks;
			req.body_case = ASYMCACHE__V1__REQUEST__BODY_RELEASE;
			req.release = &rl;
			cr_assert_eq(run(s, &req, &code, NULL),
				     ASYMCACHE__V1__RESPONSE__BODY_RELEASE,
				     "code %d", code);
		} else if (op < 95) {
			Asymcache__V1__Schedule sc = ASYMCACHE__V1__SCHEDULE__INIT;
			Asymcache__V1__PendingSegment sg[10], *sp[10];

			n = rnd(11);
			for (uint32_t i = 0; i < n; i++) {
				asymcache__v1__pending_segment__init(&sg[i]);
				sg[i].request_id = i / 2;
				sg[i].start = (i % 2) * 3000 + rnd(2000);
				sg[i].len = rnd(20) ? 1 + rnd(900) : 0;
				sg[i].waited_us = rnd(100000);
				sp[i] = &sg[i];
			}
			sc.decode_tokens = rnd(5000);
			sc.decode_ctx = (uint64_t)sc.decode_tokens * rnd(8192);
			sc.segments = sp;
			sc.n_segments = n;
			sc.tpot_target_us = rnd(4) ? 0 : rnd(200000);
			req.body_case = ASYMCACHE__V1__REQUEST__BODY_SCHEDULE;
			req.schedule = &sc;
			ok_sched += run(s, &req, &code, NULL) ==
				    ASYMCACHE__V1__RESPONSE__BODY_SCHEDULE;
		} else if (op < 97) {
			/* The session goes away; a fresh one takes its place. */
			for (int i = 0; i < 3; i++)
				if (ss[i] == s) {
					session_free(s);
					ss[i] = open_session();
				}
		} else {
			usleep(2000);
			daemon_retain_expire(&d, cache_clock_monotonic());
		}
		check_invariants(ss, 3);
	}
	/* The mix must have exercised both outcomes of each request. */
	cr_assert_gt(nh, 50, "%u retentions", nh);
	cr_assert_gt(bad, 50, "%u refused retentions", bad);
	cr_assert_gt(ok_resume, 20, "%u resumes", ok_resume);
	cr_assert_gt(ok_sched, 50, "%u schedules", ok_sched);
	for (int i = 0; i < 3; i++)
		session_free(ss[i]);
	cr_assert_eq(d.pools[0].retained_blocks, 0);
	cr_assert_eq(d.pools[0].cache.npinned, 0);
	daemon_core_fini(&d);
}

Test(agent, pinned_retentions_give_way_to_alloc)
{
	char err[CFG_ERR_MAX];
	Asymcache__V1__Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Alloc al = ASYMCACHE__V1__ALLOC__INIT;
	Asymcache__V1__Stats sq = ASYMCACHE__V1__STATS__INIT;
	struct daemon_retain_stats st;
	struct session *s, *o;
	uint32_t ns, a[12], rel;
	uint64_t h;
	int code;

	cr_assert_eq(load("[limits]\nretain_budget_percent = 100\n"
			  "[daemon]\nlog_level = crit\n", err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(daemon_core_init(&d), 0);
	s = session_new(&d, -1, 1, 0, 0);
	ns = dt_register_ns(&d.pools[0].cache, "agent-model");
	commit_n(s, ns, 12, a, 0xa0);
	cr_assert_eq(retain(s, ns, a, 6, 60000, &h), 0);
	cr_assert_eq(retain(s, ns, a + 6, 6, 50000, &h), 0);
	cr_assert_eq(cache_release(&d.pools[0].cache, &s->cs, a, 12, &rel), 0);
	cr_assert_eq(d.pools[0].cache.npinned, 12);
	/* 4 free, 0 evictable: an Alloc of 8 needs a retention's blocks. */
	o = open_session();
	al.ns_id = ns;
	al.count = 8;
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_ALLOC;
	req.alloc = &al;
	cr_assert_eq(run(o, &req, &code, NULL), ASYMCACHE__V1__RESPONSE__BODY_ALLOC,
		     "code %d", code);
	daemon_retain_stats(&d.pools[0], &st);
	cr_assert_eq(st.dropped, 1, "one retention (the later to end) did");
	cr_assert_eq(st.pinned_blocks, 6);
	/* The chain wanted sooner stays, still pinned; the other was taken. */
	for (int i = 6; i < 12; i++)
		cr_assert(d.pools[0].cache.blocks[a[i]].state == BLK_CACHED &&
			  d.pools[0].cache.blocks[a[i]].pins == 1,
			  "block %d of the sooner-expiring chain", i);
	{
		int left = 0;

		for (int i = 0; i < 6; i++)
			left += d.pools[0].cache.blocks[a[i]].state == BLK_CACHED;
		cr_assert_eq(left, 2, "4 of the later-expiring chain's 6 went "
			     "to the Alloc of 8 (4 were free)");
	}
	/* Stats carries it all. */
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_STATS;
	req.stats = &sq;
	{
		static uint8_t pkt[256];
		Asymcache__V1__Response *resp;
		size_t len = asymcache__v1__request__get_packed_size(&req);

		asymcache__v1__request__pack(&req, pkt);
		cr_assert_eq(dispatch_packet(&d, o, pkt, len, false), 0);
		resp = asymcache__v1__response__unpack(NULL, o->slen, o->sbuf);
		cr_assert_not_null(resp);
		cr_assert_eq(resp->body_case, ASYMCACHE__V1__RESPONSE__BODY_STATS);
		cr_assert_eq(resp->stats->retain_budget_blocks, 16);
		cr_assert_eq(resp->stats->retained_blocks, 6);
		cr_assert_eq(resp->stats->retained_soft_blocks, 0);
		cr_assert_eq(resp->stats->retain_dropped, 1);
		cr_assert_eq(resp->stats->retain_resumed, 0);
		cr_assert_eq(resp->stats->retain_expired_unused, 0);
		cr_assert_eq(resp->stats->retain_declined, 0);
		asymcache__v1__response__free_unpacked(resp, NULL);
	}
	session_free(o);
	session_free(s);
	daemon_core_fini(&d);
}

/* Program FCFS over the wire: each segment says when its program began. */
Test(agent, program_order_reads_program_waited_us)
{
	char err[CFG_ERR_MAX];
	Asymcache__V1__Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Schedule sc = ASYMCACHE__V1__SCHEDULE__INIT;
	Asymcache__V1__PendingSegment sg[2], *sp[2];
	Asymcache__V1__Response *resp;
	static uint8_t pkt[4096];
	struct session *s;
	size_t len;

	cr_assert_eq(load("[scheduler]\nmode = fixed\nfixed_budget_tokens = 1000\n"
			  "order = program\n[daemon]\nlog_level = crit\n", err,
			  sizeof(err)), 0, "%s", err);
	cr_assert_eq(daemon_core_init(&d), 0);
	s = open_session();
	for (int i = 0; i < 2; i++) {
		asymcache__v1__pending_segment__init(&sg[i]);
		sg[i].request_id = (uint32_t)i + 1;
		sg[i].len = 800;
		sp[i] = &sg[i];
	}
	/* Request 1 arrived first, but request 2's program began earlier. */
	sg[0].waited_us = 5000;
	sg[1].waited_us = 1000;
	sg[1].program_waited_us = 90000000;
	sc.segments = sp;
	sc.n_segments = 2;
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_SCHEDULE;
	req.schedule = &sc;
	len = asymcache__v1__request__get_packed_size(&req);
	asymcache__v1__request__pack(&req, pkt);
	cr_assert_eq(dispatch_packet(&d, s, pkt, len, false), 0);
	resp = asymcache__v1__response__unpack(NULL, s->slen, s->sbuf);
	cr_assert_not_null(resp);
	cr_assert_eq(resp->body_case, ASYMCACHE__V1__RESPONSE__BODY_SCHEDULE);
	cr_assert_geq(resp->schedule->n_chunks, 1);
	cr_expect_eq(resp->schedule->chunks[0]->request_id, 2);
	cr_expect_eq(resp->schedule->chunks[0]->len, 800);
	asymcache__v1__response__free_unpacked(resp, NULL);
	/* Without it, program FCFS is FCFS by the requests' own arrival. */
	sg[1].program_waited_us = 0;
	len = asymcache__v1__request__pack(&req, pkt);
	cr_assert_eq(dispatch_packet(&d, s, pkt, len, false), 0);
	resp = asymcache__v1__response__unpack(NULL, s->slen, s->sbuf);
	cr_assert_not_null(resp);
	cr_expect_eq(resp->schedule->chunks[0]->request_id, 1);
	asymcache__v1__response__free_unpacked(resp, NULL);
	session_free(s);
	daemon_core_fini(&d);
}
