/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "retain.h"
#include "sim.h"
#include "wl.h"

static struct ac_trace t;
static struct ac_cost_model cost;

/*
 * Multi-turn conversations with a shared system block, turns interleaved:
 * reuse at short distance, so a small pool makes policies disagree.
 */
static void load_synthetic(void)
{
	char path[] = "/tmp/ac-sim-test-XXXXXX";
	int fd = mkstemp(path);
	FILE *f;

	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	cr_assert_not_null(f);
	for (int turn = 0; turn < 6; turn++)
		for (int c = 0; c < 60; c++) {
			int nh = 5 + 3 * turn;

			fprintf(f, "{\"timestamp\": %d, \"input_length\": %d, "
				"\"output_length\": %d, \"hash_ids\": [0",
				(turn * 60 + c) * 400, nh * 512 - 100,
				20 + (c * 7) % 60);
			for (int k = 1; k < nh; k++)
				fprintf(f, ", %d", c * 1000 + k);
			fputs("]}\n", f);
		}
	fclose(f);
	ac_trace_free(&t);
	cr_assert_eq(ac_trace_load(path, 0, &t, NULL), 0);
	unlink(path);
	cr_assert_eq(t.n, 360);
}

static void setup(void)
{
	char path[4096];
	const char *root = getenv("AC_SOURCE_ROOT");

	cr_assert_not_null(root, "run through meson test");
	snprintf(path, sizeof(path),
		 "%s/tests/unit/policy/data/conversation_head400.jsonl", root);
	cr_assert_eq(ac_trace_load(path, 0, &t, NULL), 0);
	cr_assert_eq(t.n, 400);
	ac_cost_model_default(&cost);
}

static void teardown(void)
{
	ac_trace_free(&t);
}

TestSuite(policy_sim, .init = setup, .fini = teardown, .timeout = 60);

static void small(struct sim_config *cfg)
{
	sim_config_default(cfg, &cost);
	/* A tight pool so that eviction, holes and waiting all happen. */
	cfg->pool_tokens = 200 * 512;
	cfg->time_scale = 3;
}

Test(policy_sim, deterministic_for_a_seed)
{
	struct sim_config cfg;
	struct sim_result a, b;

	small(&cfg);
	cr_assert_eq(sim_run(&t, &cfg, &a), 0);
	cr_assert_eq(sim_run(&t, &cfg, &b), 0);
	cr_assert_eq(a.requests, 400);
	cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0);
	load_synthetic();
	cr_assert_eq(sim_run(&t, &cfg, &a), 0);
	cr_assert_eq(sim_run(&t, &cfg, &b), 0);
	cr_assert_eq(a.requests, 360);
	cr_assert_gt(a.evictions, 0);
	cr_assert_gt(a.block_hits, 0);
	cr_assert_eq(a.digest, b.digest);
	cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0);
	/* A different setup is a different run. */
	cfg.policy = "lru";
	cfg.reuse = SIM_REUSE_PREFIX;
	cr_assert_eq(sim_run(&t, &cfg, &b), 0);
	cr_assert_neq(a.digest, b.digest);
}

/*
 * --sched-cost: the scheduler sizes iterations with its own model and the
 * clock prices the picks with the engine's. The same model twice is the
 * plain run; a scheduler blind to a slower engine cuts bigger pieces
 * (fewer iterations) than one that knows it, and the engine's clock runs.
 */
Test(policy_sim, scheduler_cost_apart_from_the_clock)
{
	struct ac_cost_model same = cost, slow = cost;
	struct sim_config cfg;
	struct sim_result a, b, blind, knows;

	small(&cfg);
	cr_assert_eq(sim_run(&t, &cfg, &a), 0);
	cfg.sched_cost = &same;
	cr_assert_eq(sim_run(&t, &cfg, &b), 0);
	cr_assert_eq(b.iterations, a.iterations);
	cr_assert_eq(b.prefill_tokens, a.prefill_tokens);
	cr_assert_float_eq(b.busy_s, a.busy_s, 1e-9 * a.busy_s);
	cr_assert_float_eq(b.ttft.mean, a.ttft.mean, 1e-9 * a.ttft.mean);
	/* An engine 1.5x slower per token, with 8 ms more per segment. */
	slow.linear_s *= 1.5;
	slow.segment_s += 0.008;
	cfg.cost = &slow;
	cfg.sched_cost = &cost;
	/* A target that binds beside this trace's decodes. */
	cfg.chunk.tpot_target_s = 0.030;
	cr_assert_eq(sim_run(&t, &cfg, &blind), 0);
	cfg.sched_cost = NULL;
	cr_assert_eq(sim_run(&t, &cfg, &knows), 0);
	cr_assert_lt(blind.iterations, knows.iterations, "%llu against %llu",
		     (unsigned long long)blind.iterations,
		     (unsigned long long)knows.iterations);
	cr_assert_gt(blind.busy_s, a.busy_s, "the clock is the engine's");
	cr_assert_gt(blind.tpot.p99, knows.tpot.p99, "%g against %g",
		     blind.tpot.p99, knows.tpot.p99);
}

/* Generated agent programs (bench/workloads), read back and linked. */
static void load_agent(uint64_t seed, double tool_scale)
{
	struct wl_agent_config ac;
	struct wl_trace w;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct ac_trace_error err;

	cr_assert_not_null(f);
	wl_agent_default(&ac);
	ac.seed = seed;
	ac.programs = 30;
	ac.turns_max = 15;
	ac.tool_scale = tool_scale;
	wl_trace_init(&w);
	cr_assert_eq(wl_agent(&ac, &w), 0);
	cr_assert_eq(wl_trace_write(&w, f), 0);
	wl_trace_free(&w);
	fclose(f);
	ac_trace_free(&t);
	f = fmemopen(buf, len, "r");
	cr_assert_eq(ac_trace_read(f, 0, &t, &err), 0, "%s", err.why);
	fclose(f);
	free(buf);
	cr_assert_eq(ac_trace_link_programs(&t, &err), 0, "%s", err.why);
}

static void agent(struct sim_config *cfg, uint64_t pool_tokens)
{
	sim_config_default(cfg, &cost);
	cfg->agent = true;
	cfg->pool_tokens = pool_tokens;
	cfg->time_scale = 4;
	ac_chunk_config_default(&cfg->chunk, AC_CHUNK_FIXED, 0);
	cfg->chunk.fixed_budget = 8192;
}

Test(policy_sim, agent_mode_is_deterministic_and_seeded)
{
	struct sim_config cfg;
	struct sim_result a, b;

	/* Conversation turns linked by prefix: tool calls drawn by seed. */
	load_synthetic();
	cr_assert_eq(ac_trace_link_turns(&t), 0);
	small(&cfg);
	cfg.agent = true;
	cfg.ttl_s = -1;
	cr_assert_eq(sim_run(&t, &cfg, &a), 0);
	cr_assert_eq(sim_run(&t, &cfg, &b), 0);
	cr_assert_eq(a.digest, b.digest);
	cr_assert_gt(a.job.mean, 0);
	cr_assert_eq(a.retain_hard + a.retain_soft, 0,
		     "no client declared a tool call: nothing is retained");
	cfg.seed = 2;
	cr_assert_eq(sim_run(&t, &cfg, &b), 0);
	cr_assert_neq(a.digest, b.digest, "the seed drives tool durations");
	/* Generated programs carry their tool calls: the seed does not. */
	load_agent(1, 1);
	agent(&cfg, 2000000);
	cfg.ttl_s = -1;
	cr_assert_eq(sim_run(&t, &cfg, &a), 0);
	cfg.seed = 2;
	cr_assert_eq(sim_run(&t, &cfg, &b), 0);
	cr_assert_eq(a.digest, b.digest);
	cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0);
}

Test(policy_sim, retention_is_declared_learned_and_budgeted)
{
	struct sim_config cfg;
	struct sim_result none, r;
	uint64_t declared = 0;

	load_agent(3, 0.3);
	for (size_t i = 0; i < t.n; i++)
		declared += t.reqs[i].tool_s >= 0;
	agent(&cfg, 300000);
	cr_assert_float_eq(cfg.retain_budget, AC_RETAIN_BUDGET_PERCENT / 100.0,
			   1e-12, "the daemon's default budget");
	cr_assert(cfg.drop_latest, "the daemon's drop rule");
	cr_assert_eq(sim_run(&t, &cfg, &none), 0);
	cr_assert_gt(none.paused_kv_mean_tokens, 0);
	cfg.ttl_s = -1;
	/* A quarter of the pool, for pins and then hints to show. */
	cfg.retain_budget = 0.25;
	cr_assert_eq(sim_run(&t, &cfg, &r), 0);
	cr_assert_eq(r.requests, t.n);
	cr_assert_gt(r.retain_hard, 0);
	cr_assert_gt(r.retained_hits, 0);
	cr_assert_leq(r.retain_hard + r.retain_soft, declared,
		      "only declared tool calls are retained");
	cr_assert_eq(r.retained_hits + r.retain_expired + r.retain_dropped,
		     r.retain_hard + r.retain_soft, "every retention ended once");
	cr_assert_leq(r.retain_budget_peak, 300000 / 512 / 4,
		      "pins stay within a quarter of the pool");
	cr_assert_gt(r.hold_block_s, 0);
	/* asym takes hints beyond the budget; lru has none to take. */
	cr_assert_gt(r.retain_soft, 0);
	cfg.policy = "lru";
	cr_assert_eq(sim_run(&t, &cfg, &r), 0);
	cr_assert_eq(r.retain_soft, 0);
	/* The whole pool pinnable (the default): nothing is ever soft. */
	cfg.policy = "asym";
	cfg.retain_budget = 1;
	cr_assert_eq(sim_run(&t, &cfg, &r), 0);
	cr_assert_gt(r.retain_hard, 0);
	cr_assert_eq(r.retain_soft, 0);
	/* No budget and no hints: exactly no retention. */
	cfg.policy = "asym";
	cfg.retain_budget = 0;
	cfg.retain_soft = false;
	cr_assert_eq(sim_run(&t, &cfg, &r), 0);
	cr_assert_eq(r.retain_hard + r.retain_soft, 0);
	cr_assert_eq(r.digest, none.digest);
	cfg.retain_budget = 1.5;
	cr_assert_eq(sim_run(&t, &cfg, &r), -EINVAL);
}

Test(policy_sim, pinned_chains_give_way_to_the_queue)
{
	struct sim_config cfg;
	struct sim_result r;

	/* Hour-long TTLs, the whole pool pinnable: admission must not stall. */
	load_agent(4, 1);
	agent(&cfg, 120000);
	cfg.ttl_s = 3600;
	cfg.retain_budget = 1;
	cfg.retain_soft = false;
	cr_assert_eq(sim_run(&t, &cfg, &r), 0);
	cr_assert_eq(r.requests, t.n, "every turn of every program ran");
	cr_assert_gt(r.retain_dropped, 0);
	cr_assert_eq(r.retain_expired, 0);
}

Test(policy_sim, program_fcfs_serves_older_programs_first)
{
	struct sim_config cfg;
	struct sim_result fcfs, prog;

	/* Four running at most: a queue forms, and its order decides. */
	load_agent(5, 0.1);
	agent(&cfg, 400000);
	cfg.time_scale = 0.2;
	cfg.max_running = 4;
	cr_assert_eq(sim_run(&t, &cfg, &fcfs), 0);
	cfg.chunk.order = AC_CHUNK_PROGRAM;
	cr_assert_eq(sim_run(&t, &cfg, &prog), 0);
	cr_assert_eq(prog.requests, t.n);
	/* A started program's next turn goes before new programs' first. */
	cr_assert_lt(prog.job.mean, 0.9 * fcfs.job.mean,
		     "mean job %.1f vs %.1f s", prog.job.mean, fcfs.job.mean);
}

Test(policy_sim, switching_policy_under_load)
{
	static const char *const names[] = { "lru", "pensieve", "asym" };
	struct sim_config cfg;
	struct sim_result base, sw;

	load_synthetic();
	for (size_t i = 0; i < 3; i++) {
		small(&cfg);
		cfg.policy = names[i];
		cr_assert_eq(sim_run(&t, &cfg, &base), 0);
		/*
		 * Every 7 iterations the policy is rebuilt from the index; the
		 * sim fails with -EPROTO if a victim is pinned or not CACHED.
		 */
		cfg.switch_to = names[(i + 1) % 3];
		cfg.switch_every = 7;
		cr_assert_eq(sim_run(&t, &cfg, &sw), 0, "%s", names[i]);
		cr_assert_eq(sw.requests, base.requests);
		cr_assert_gt(sw.evictions, 0);
		/* Replaying into the same policy: recency carries over. */
		cfg.switch_to = names[i];
		cr_assert_eq(sim_run(&t, &cfg, &sw), 0);
		if (strcmp(names[i], "asym"))
			cr_assert_eq(sw.block_hits, base.block_hits, "%s",
				     names[i]);
	}
}

Test(policy_sim, msa_keeps_hits_prefix_only_drops)
{
	struct sim_config cfg;
	struct sim_result msa, pre;

	/* Pensieve evicts leading blocks: holes that only MSA reuses across. */
	load_synthetic();
	small(&cfg);
	cfg.policy = "pensieve";
	cr_assert_eq(sim_run(&t, &cfg, &msa), 0);
	cfg.reuse = SIM_REUSE_PREFIX;
	cr_assert_eq(sim_run(&t, &cfg, &pre), 0);
	cr_assert_gt(msa.block_hits, pre.block_hits);
	cr_assert_lt(msa.prefill_tokens, pre.prefill_tokens);
}

Test(policy_sim, bad_config_is_refused)
{
	struct sim_config cfg;
	struct sim_result r;

	small(&cfg);
	cfg.pool_tokens = 100;
	cr_assert_eq(sim_run(&t, &cfg, &r), -EINVAL);
	small(&cfg);
	cfg.policy = "nope";
	cr_assert_eq(sim_run(&t, &cfg, &r), -ENOENT);
	small(&cfg);
	cfg.cost = NULL;
	cr_assert_eq(sim_run(&t, &cfg, &r), -EINVAL);
	cr_assert_eq(ac_trace_load("/nonexistent", 0, &t, NULL), -ENOENT);
}

Test(policy_sim, order_is_its_own_axis)
{
	struct sim_config cfg;
	struct sim_result fcfs, srpt, hrrn;

	/* The same fixed chunking and cache, three orders. */
	small(&cfg);
	cfg.policy = "lru";
	cfg.reuse = SIM_REUSE_PREFIX;
	ac_chunk_config_default(&cfg.chunk, AC_CHUNK_FIXED, 0);
	cr_assert_eq(cfg.chunk.order, AC_CHUNK_FCFS);
	cr_assert_eq(sim_run(&t, &cfg, &fcfs), 0);
	cfg.chunk.order = AC_CHUNK_SRPT;
	cr_assert_eq(sim_run(&t, &cfg, &srpt), 0);
	cfg.chunk.order = AC_CHUNK_HRRN;
	cr_assert_eq(sim_run(&t, &cfg, &hrrn), 0);
	cr_assert_eq(srpt.requests, fcfs.requests);
	cr_assert_lt(srpt.ttft.mean, fcfs.ttft.mean,
		     "SRPT %.3f s vs FCFS %.3f s", srpt.ttft.mean,
		     fcfs.ttft.mean);
	cr_assert_lt(hrrn.ttft.mean, fcfs.ttft.mean);
	cr_assert_neq(srpt.digest, hrrn.digest);
}

/* Load the trace made of @lines (JSON objects, one a line). */
static void load_lines(const char *const *lines, size_t n)
{
	char path[] = "/tmp/ac-sim-test-XXXXXX";
	int fd = mkstemp(path);
	FILE *f;

	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	cr_assert_not_null(f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s\n", lines[i]);
	fclose(f);
	ac_trace_free(&t);
	cr_assert_eq(ac_trace_load(path, 0, &t, NULL), 0);
	unlink(path);
}

/* A @nb-block prompt at @ts ms whose first @shared ids are 0.. (else 1000+). */
static char *prompt_line(int ts, int nb, int shared, int out)
{
	char *buf = malloc(16 * nb + 128);
	int n = sprintf(buf, "{\"timestamp\": %d, \"input_length\": %d, "
			"\"output_length\": %d, \"hash_ids\": [", ts, nb * 512, out);

	for (int k = 0; k < nb; k++)
		n += sprintf(buf + n, "%s%d", k ? ", " : "",
			     k < shared ? k : 1000 * (ts + 1) + k);
	strcpy(buf + n, "]}");
	return buf;
}

Test(policy_sim, blocks_are_published_per_chunk)
{
	struct sim_config cfg;
	struct sim_result chunk, end;
	char *lines[2];

	/* B arrives while A's 32k prompt is half computed, sharing it. */
	lines[0] = prompt_line(0, 64, 64, 4);
	lines[1] = prompt_line(400, 64, 64, 4);
	load_lines((const char *const *)lines, 2);
	free(lines[0]);
	free(lines[1]);
	sim_config_default(&cfg, &cost);
	ac_chunk_config_default(&cfg.chunk, AC_CHUNK_FIXED, 0);
	cr_assert_eq(sim_run(&t, &cfg, &chunk), 0);
	cfg.publish_at_end = true;
	cr_assert_eq(sim_run(&t, &cfg, &end), 0);
	cr_assert_eq(end.block_hits, 0, "nothing was published at B's lookup");
	cr_assert_gt(chunk.block_hits, 10, "A's finished chunks: %llu hits",
		     (unsigned long long)chunk.block_hits);
	cr_assert_lt(chunk.block_hits, 64);
	cr_assert_lt(chunk.prefill_tokens, end.prefill_tokens);
	cr_assert_gt(chunk.saved_gpu_s, 0);
	cr_assert_eq(end.saved_gpu_s, 0);
}

Test(policy_sim, max_context_rejects_like_an_engine)
{
	struct sim_config cfg;
	struct sim_result r;
	uint64_t over = 0;

	small(&cfg);
	cfg.pool_tokens = 2000 * 512;
	cfg.max_context = 16384;
	for (size_t i = 0; i < t.n; i++)
		over += (uint64_t)t.reqs[i].input + t.reqs[i].output > 16384;
	cr_assert_gt(over, 0);
	cr_assert_eq(sim_run(&t, &cfg, &r), 0);
	cr_assert_eq(r.rejected_context, over);
	cr_assert_eq(r.rejected, over);
	cr_assert_eq(r.requests, t.n);
	cr_assert_eq(r.bucket_n[0] + r.bucket_n[1] + r.bucket_n[2] +
		     r.bucket_n[3], t.n - over, "one TTFT per served request");
	cr_assert_eq(r.bucket_n[3], 0, "nothing of 64k and over was served");
	cfg.max_context = 0;
	cr_assert_eq(sim_run(&t, &cfg, &r), 0);
	cr_assert_eq(r.rejected, 0);
}

Test(policy_sim, output_blocks_on_demand_preempt)
{
	struct sim_config cfg;
	struct sim_result lazy, eager;

	char *lines[20];

	/* 20 prompts of 2 blocks at once, each to grow 4 more: 120 > 24. */
	for (int i = 0; i < 20; i++)
		lines[i] = prompt_line(i, 2, 0, 2000);
	load_lines((const char *const *)lines, 20);
	for (int i = 0; i < 20; i++)
		free(lines[i]);
	sim_config_default(&cfg, &cost);
	cfg.pool_tokens = 24 * 512;
	cr_assert_eq(sim_run(&t, &cfg, &lazy), 0);
	cfg.reserve_output = true;
	cr_assert_eq(sim_run(&t, &cfg, &eager), 0);
	cr_assert_gt(lazy.preemptions, 0);
	cr_assert_eq(eager.preemptions, 0);
	cr_assert_eq(lazy.requests, t.n, "every request finished");
	cr_assert_eq(eager.requests, t.n);
	cr_assert_eq(lazy.rejected + eager.rejected, 0);
	/* Admitting by prompt alone starts more requests at once. */
	cr_assert_lt(lazy.ttft.mean, eager.ttft.mean);
}

Test(policy_sim, victims_still_wanted_are_counted)
{
	struct sim_config cfg;
	struct sim_result r;
	char *lines[4];

	/* A, B and C of 4 blocks each in a pool of 8, then A again. */
	lines[0] = prompt_line(0, 4, 4, 1);
	lines[1] = prompt_line(1000, 4, 0, 1);
	lines[2] = prompt_line(2000, 4, 0, 1);
	lines[3] = prompt_line(3000, 4, 4, 1);
	load_lines((const char *const *)lines, 4);
	sim_config_default(&cfg, &cost);
	cfg.policy = "lru";
	cfg.pool_tokens = 8 * 512;
	cr_assert_eq(sim_run(&t, &cfg, &r), 0);
	/* C evicts A, still wanted by the last request; A evicts B, dead. */
	cr_assert_eq(r.evictions, 8);
	cr_assert_eq(r.evicted_live, 4);
	cr_assert_gt(r.dead_share, 0.3, "B's blocks are dead once cached");
	cr_assert_lt(r.dead_share, 1);
	/* Without the last request nothing evicted is wanted again. */
	load_lines((const char *const *)lines, 3);
	for (int i = 0; i < 4; i++)
		free(lines[i]);
	cr_assert_eq(sim_run(&t, &cfg, &r), 0);
	cr_assert_eq(r.evictions, 4);
	cr_assert_eq(r.evicted_live, 0);
	cr_assert_float_eq(r.dead_share, 1, 1e-9, "nothing is read twice");
}

Test(policy_sim, the_oracle_holds_each_chain_until_its_next_turn)
{
	struct sim_config cfg;
	struct sim_result r, last;

	/* A pool that holds everything: every held chain is resumed. */
	load_agent(3, 0.3);
	agent(&cfg, 20000000);
	cfg.ttl_oracle = true;
	cfg.retain_budget = 1;
	cfg.retain_soft = false;
	cr_assert_eq(sim_run(&t, &cfg, &r), 0);
	cr_assert_gt(r.retain_hard, 0);
	cr_assert_eq(r.retained_hits, r.retain_hard, "none expired or dropped");
	/* Tight: pins give way, the one wanted first or (default) last. */
	agent(&cfg, 150000);
	cfg.ttl_oracle = true;
	cfg.retain_budget = 1;
	cfg.retain_soft = false;
	cfg.drop_latest = false;
	cr_assert_eq(sim_run(&t, &cfg, &r), 0);
	cfg.drop_latest = true;
	cr_assert_eq(sim_run(&t, &cfg, &last), 0);
	cr_assert_eq(r.requests, t.n);
	cr_assert_eq(last.requests, t.n);
	cr_assert_gt(r.retain_dropped, 0);
	cr_assert_neq(r.digest, last.digest, "the drop order matters");
	cr_assert_eq(last.retained_hits + last.retain_expired +
		     last.retain_dropped, last.retain_hard);
}

Test(policy_sim, pinned_chains_give_way_to_a_growing_decode)
{
	static const char *const lines[] = {
		/* A's first turn, then a 100 s tool call: 4 blocks held. */
		"{\"timestamp\": 0, \"input_length\": 2048, \"output_length\": 1, "
		"\"hash_ids\": [0, 1, 2, 3], \"program\": 0, \"turn\": 0, "
		"\"tool_ms\": 100000, \"tool_expect_ms\": 100000}",
		/* B decodes 2,048 tokens: 6 blocks where 4 are free. */
		"{\"timestamp\": 1000, \"input_length\": 1024, \"output_length\": 2048, "
		"\"hash_ids\": [10, 11], \"program\": 1, \"turn\": 0}",
		"{\"timestamp\": 100000, \"input_length\": 2560, \"output_length\": 1, "
		"\"hash_ids\": [0, 1, 2, 3, 4], \"program\": 0, \"turn\": 1}",
	};
	struct ac_trace_error err;
	struct sim_config cfg;
	struct sim_result r;

	load_lines(lines, 3);
	cr_assert_eq(ac_trace_link_programs(&t, &err), 0, "%s", err.why);
	agent(&cfg, 8 * 512);
	cfg.time_scale = 1;
	cfg.ttl_s = 3600;
	cfg.retain_budget = 1;
	cfg.retain_soft = false;
	cr_assert_eq(sim_run(&t, &cfg, &r), 0);
	cr_assert_eq(r.requests, 3);
	cr_assert_eq(r.retain_hard, 1);
	cr_assert_eq(r.retain_dropped, 1, "A's chain gave way");
	cr_assert_eq(r.preemptions, 0, "B was never preempted for it");
}

Test(policy_sim, the_chain_wanted_last_gives_way)
{
	static const char *const lines[] = {
		/* A pauses 10 s and says 10 s: its TTL is 20 s. */
		"{\"timestamp\": 0, \"input_length\": 2048, \"output_length\": 1, "
		"\"hash_ids\": [0, 1, 2, 3], \"program\": 0, \"turn\": 0, "
		"\"tool_ms\": 10000, \"tool_expect_ms\": 10000}",
		/* B says 50 s (TTL 100 s) and takes 500: wanted last. */
		"{\"timestamp\": 1, \"input_length\": 2048, \"output_length\": 1, "
		"\"hash_ids\": [10, 11, 12, 13], \"program\": 1, \"turn\": 0, "
		"\"tool_ms\": 500000, \"tool_expect_ms\": 50000}",
		/* C needs 4 blocks where 2 are free: one chain must go. */
		"{\"timestamp\": 5000, \"input_length\": 2048, \"output_length\": 1, "
		"\"hash_ids\": [20, 21, 22, 23], \"program\": 2, \"turn\": 0}",
		"{\"timestamp\": 10000, \"input_length\": 2560, \"output_length\": 1, "
		"\"hash_ids\": [0, 1, 2, 3, 4], \"program\": 0, \"turn\": 1}",
		"{\"timestamp\": 500000, \"input_length\": 2560, \"output_length\": 1, "
		"\"hash_ids\": [10, 11, 12, 13, 14], \"program\": 1, \"turn\": 1}",
	};
	struct ac_trace_error err;
	struct sim_config cfg;
	struct sim_result r, first;

	load_lines(lines, 5);
	cr_assert_eq(ac_trace_link_programs(&t, &err), 0, "%s", err.why);
	agent(&cfg, 10 * 512);
	cfg.time_scale = 1;
	cfg.ttl_s = -1;
	cr_assert_eq(sim_run(&t, &cfg, &r), 0);
	cr_assert_eq(r.requests, 5);
	cr_assert_eq(r.retain_hard, 2);
	cr_assert_eq(r.retain_dropped, 1);
	cr_assert_eq(r.retained_hits, 1, "A came back to its chain");
	cr_assert_eq(r.retain_expired, 0);
	/* The old rule gave up A's chain, and B's ran out unused. */
	cfg.drop_latest = false;
	cr_assert_eq(sim_run(&t, &cfg, &first), 0);
	cr_assert_eq(first.retain_dropped, 1);
	cr_assert_eq(first.retained_hits, 0);
	cr_assert_eq(first.retain_expired, 1);
}

Test(policy_sim, capacity_is_where_jobs_slow_down)
{
	struct sim_config cfg;
	struct sim_capacity cap;
	struct sim_result r;

	/* 30 programs of 1-60 s tools never fill the GPU: -ERANGE. */
	load_agent(1, 1);
	agent(&cfg, 1000000000);
	cr_assert_eq(sim_fit_capacity(&t, &cfg, &cap), -ERANGE);
	/* With 0.1-6 s tools they do, when they start close enough. */
	load_agent(1, 0.1);
	agent(&cfg, 1000000000);
	cr_assert_eq(sim_fit_capacity(&t, &cfg, &cap), 0);
	cr_assert_gt(cap.light_job_s, 0);
	cr_assert_lt(cap.scale, cap.light_scale);
	cr_assert_leq(cap.job_s, (1 + SIM_CAPACITY_KNEE) * cap.light_job_s);
	/* What it found is what a run at that scale gives. */
	cfg.time_scale = cap.scale;
	cr_assert_eq(sim_run(&t, &cfg, &r), 0);
	cr_assert_float_eq(r.job.mean, cap.job_s, 1e-9);
	/* Twice the load: past the knee; a quarter: near light load. */
	cfg.time_scale = cap.scale / 2;
	cr_assert_eq(sim_run(&t, &cfg, &r), 0);
	cr_assert_gt(r.job.mean, (1 + SIM_CAPACITY_KNEE) * cap.light_job_s,
		     "%g s at twice the capacity, light %g s", r.job.mean,
		     cap.light_job_s);
	cfg.time_scale = cap.scale * 4;
	cr_assert_eq(sim_run(&t, &cfg, &r), 0);
	cr_assert_lt(r.job.mean, (1 + SIM_CAPACITY_KNEE / 2) * cap.light_job_s);
	/* Retention is not part of the capacity. */
	cfg.ttl_s = -1;
	{
		struct sim_capacity c2;

		cr_assert_eq(sim_fit_capacity(&t, &cfg, &c2), 0);
		cr_assert_float_eq(c2.scale, cap.scale, 1e-12);
	}
	/* Job latency is what it reads: no agent mode, no capacity. */
	cfg.agent = false;
	cr_assert_eq(sim_fit_capacity(&t, &cfg, &cap), -EINVAL);
}

/* asymcache-sim's --target-load: the binary, as the runners call it. */
static int sim_cli(const char *args, char *out, size_t cap)
{
	char cmd[8192];
	const char *b = getenv("AC_BUILD_ROOT");
	FILE *p;
	size_t n;
	int st;

	cr_assert_not_null(b, "run through meson test");
	snprintf(cmd, sizeof(cmd), "%s/bench/sim/asymcache-sim %s 2>&1", b,
		 args);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	n = fread(out, 1, cap - 1, p);
	out[n] = 0;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(policy_sim, target_load_sets_the_scale_by_capacity)
{
	static const char *const bad[] = { "0", "1.5", "-0.5", "x", "0.5x", "" };
	struct wl_agent_config ac;
	struct wl_trace w;
	char path[] = "/tmp/ac-sim-load-XXXXXX", args[512], out[16384];
	int fd = mkstemp(path);
	FILE *f;
	double scale, capacity;
	const char *line;

	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	wl_agent_default(&ac);
	ac.programs = 30;
	ac.turns_max = 15;
	ac.tool_scale = 0.1;
	wl_trace_init(&w);
	cr_assert_eq(wl_agent(&ac, &w), 0);
	cr_assert_eq(wl_trace_write(&w, f), 0);
	wl_trace_free(&w);
	fclose(f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(args, sizeof(args), "--trace %s --agent --target-load '%s'",
			 path, bad[i]);
		cr_expect_eq(sim_cli(args, out, sizeof(out)), 2, "'%s'", bad[i]);
		cr_expect_not_null(strstr(out, "--target-load"), "'%s': %s",
				   bad[i], out);
	}
	snprintf(args, sizeof(args), "--trace %s --target-load 0.5", path);
	cr_expect_eq(sim_cli(args, out, sizeof(out)), 2);
	cr_expect_not_null(strstr(out, "needs --agent"), "%s", out);
	snprintf(args, sizeof(args),
		 "--trace %s --agent --target-load 0.5 --target-busy 0.5", path);
	cr_expect_eq(sim_cli(args, out, sizeof(out)), 2);
	cr_expect_not_null(strstr(out, "not both"), "%s", out);
	/* Half the capacity: twice the capacity's time scale. */
	snprintf(args, sizeof(args),
		 "--trace %s --agent --quiet --setup lru:prefix:fixed8192 "
		 "--pool 1000000000 --ref-pool 1000000000 --target-load 0.5",
		 path);
	cr_assert_eq(sim_cli(args, out, sizeof(out)), 0, "%s", out);
	line = strstr(out, "# time scale ");
	cr_assert_not_null(line, "%s", out);
	cr_assert_eq(sscanf(line, "# time scale %lf", &scale), 1, "%s", line);
	line = strstr(line, "(capacity: time scale ");
	cr_assert_not_null(line, "%s", out);
	cr_assert_eq(sscanf(line, "(capacity: time scale %lf", &capacity), 1);
	cr_assert(fabs(scale - 2 * capacity) < 1e-3 * scale, "%g vs %g", scale,
		  capacity);
	cr_expect_not_null(strstr(out, "offered 50% of capacity"), "%s", out);
	unlink(path);
}
