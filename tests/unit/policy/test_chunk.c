/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "chunk.h"

static struct ac_cost_model m;
static struct ac_chunk_pick picks[64];
static struct ac_chunk_plan plan;

static void setup(void)
{
	ac_cost_model_default(&m);
	plan = (struct ac_chunk_plan){ .picks = picks, .cap = 64 };
}

TestSuite(policy_chunk, .init = setup);

static int sched(const struct ac_chunk_config *cfg, uint32_t decodes,
		 uint64_t ctx, const struct ac_chunk_seg *segs, uint32_t n)
{
	struct ac_chunk_batch in = {
		.decode_tokens = decodes, .decode_ctx = ctx,
		.segs = segs, .nsegs = n,
	};

	return ac_chunk_schedule(cfg, &m, &in, &plan);
}

Test(policy_chunk, tpot_bound_and_largest_fit)
{
	struct ac_chunk_config cfg;
	struct ac_chunk_seg seg = { .req = 1, .owner = 1, .start = 0,
				    .len = 100000 };
	struct ac_cost_iter more = { 0 };

	ac_chunk_config_default(&cfg, AC_CHUNK_ADAPTIVE, 0.030);
	cr_assert_eq(sched(&cfg, 32, 32 * 4000, &seg, 1), 0);
	cr_assert_eq(plan.npicks, 1);
	cr_assert_leq(plan.predicted_s, 0.030);
	cr_assert_gt(plan.prefill_tokens, 206);
	/* One more token would break the target. */
	more.prefill_tokens = plan.prefill_tokens + 1;
	more.prefill_pairs = (double)more.prefill_tokens *
			     (more.prefill_tokens / 2.0);
	more.segments = 1;
	more.decode_tokens = 32;
	more.decode_ctx = 32 * 4000;
	cr_assert_gt(ac_cost_iter_s(&m, &more), 0.030);
	/* A looser target buys a bigger chunk. */
	{
		uint64_t tight = plan.prefill_tokens;

		cfg.tpot_target_s = 0.060;
		cr_assert_eq(sched(&cfg, 32, 32 * 4000, &seg, 1), 0);
		cr_assert_gt(plan.prefill_tokens, tight);
		cr_assert_leq(plan.predicted_s, 0.060);
	}
}

Test(policy_chunk, knee_floor_when_decodes_fill_the_target)
{
	struct ac_chunk_config cfg;
	struct ac_chunk_seg seg = { .req = 1, .owner = 1, .start = 0,
				    .len = 5000 };

	/* 64 decodes over 32k contexts alone take ~70 ms. */
	ac_chunk_config_default(&cfg, AC_CHUNK_ADAPTIVE, 0.020);
	cr_assert_eq(sched(&cfg, 64, 64ull * 32768, &seg, 1), 0);
	cr_assert_geq(plan.prefill_tokens, ac_cost_knee_tokens(&m) - 64,
		      "tokens below the knee are nearly free: run them");
	cr_assert_leq(plan.prefill_tokens, ac_cost_knee_tokens(&m));
}

Test(policy_chunk, no_sliver_cut_off_a_segment)
{
	struct ac_chunk_config cfg;
	struct ac_chunk_seg segs[] = {
		{ .req = 1, .owner = 1, .start = 0, .len = 300 },
		{ .req = 2, .owner = 1, .start = 0, .len = 5000 },
	};

	ac_chunk_config_default(&cfg, AC_CHUNK_ADAPTIVE, 0.020);
	cfg.min_chunk = 256;
	/* Leave room for roughly 300 + 100 tokens. */
	cfg.tpot_target_s = m.linear_s * 401 + 2 * m.segment_s + 2e-4;
	cr_assert_eq(sched(&cfg, 1, 100, segs, 2), 0);
	cr_assert_eq(plan.npicks, 1, "no 100-token sliver of request 2");
	cr_assert_eq(picks[0].req, 1);
	cr_assert_eq(picks[0].len, 300);
}

Test(policy_chunk, merges_contiguous_and_cheap_gaps)
{
	struct ac_chunk_config cfg;
	struct ac_chunk_seg segs[] = {
		{ .req = 1, .owner = 1, .start = 512, .len = 16 },
		{ .req = 1, .owner = 1, .start = 528, .len = 16 },
		{ .req = 1, .owner = 1, .start = 560, .len = 32 },
		{ .req = 1, .owner = 1, .start = 60000, .len = 64 },
	};

	ac_chunk_config_default(&cfg, AC_CHUNK_ADAPTIVE, 0.050);
	cr_assert_eq(sched(&cfg, 0, 0, segs, 4), 0);
	/* 512..592 is one run (16 cached tokens recomputed); 60000 apart. */
	cr_assert_eq(plan.npicks, 2);
	cr_assert_eq(picks[0].start, 512);
	cr_assert_eq(picks[0].len, 80);
	cr_assert_eq(plan.gap_tokens, 16);
	cr_assert_eq(picks[1].start, 60000);
	cr_assert_eq(plan.segments, 2);
	cr_assert_eq(plan.prefill_tokens, 80 + 64);
	/* Merging off: contiguous still merge, gaps do not. */
	cfg.merge = false;
	cr_assert_eq(sched(&cfg, 0, 0, segs, 4), 0);
	cr_assert_eq(plan.npicks, 3);
	cr_assert_eq(plan.gap_tokens, 0);
}

Test(policy_chunk, splits_long_segments_in_order)
{
	struct ac_chunk_config cfg;
	struct ac_chunk_seg segs[] = {
		{ .req = 1, .owner = 1, .start = 0, .len = 50000 },
		{ .req = 1, .owner = 1, .start = 90000, .len = 100 },
	};

	ac_chunk_config_default(&cfg, AC_CHUNK_ADAPTIVE, 0.05);
	cr_assert_eq(sched(&cfg, 0, 0, segs, 2), 0);
	cr_assert_eq(plan.npicks, 1, "the later hole waits for the first");
	cr_assert_eq(plan.prefill_tokens, cfg.max_budget);
	ac_chunk_config_default(&cfg, AC_CHUNK_FIXED, 0);
	cr_assert_eq(sched(&cfg, 48, 48 * 1000, segs, 2), 0);
	cr_assert_eq(plan.npicks, 1);
	cr_assert_eq(picks[0].len, 2048 - 48, "Sarathi: decodes share the budget");
}

Test(policy_chunk, fixed_is_fcfs_across_requests)
{
	struct ac_chunk_config cfg;
	struct ac_chunk_seg segs[] = {
		{ .req = 1, .owner = 1, .start = 0, .len = 1000 },
		{ .req = 2, .owner = 2, .start = 0, .len = 1000 },
		{ .req = 3, .owner = 2, .start = 0, .len = 1000 },
	};

	ac_chunk_config_default(&cfg, AC_CHUNK_FIXED, 0);
	cr_assert_eq(sched(&cfg, 0, 0, segs, 3), 0);
	cr_assert_eq(plan.npicks, 3);
	cr_assert_eq(picks[0].len, 1000);
	cr_assert_eq(picks[1].len, 1000);
	cr_assert_eq(picks[2].len, 48);
}

Test(policy_chunk, fair_share_between_owners)
{
	struct ac_chunk_config cfg;
	struct ac_chunk_seg segs[6];
	uint64_t by_owner[3] = { 0 };

	/* Owner 1 queued five big prompts first; owner 2 one. */
	for (uint32_t i = 0; i < 5; i++)
		segs[i] = (struct ac_chunk_seg){ .req = i, .owner = 1,
						 .start = 0, .len = 10000 };
	segs[5] = (struct ac_chunk_seg){ .req = 9, .owner = 2, .start = 0,
					 .len = 10000 };
	ac_chunk_config_default(&cfg, AC_CHUNK_ADAPTIVE, 0.060);
	cr_assert_eq(sched(&cfg, 16, 16 * 2000, segs, 6), 0);
	for (uint32_t i = 0; i < plan.npicks; i++)
		by_owner[picks[i].owner] += picks[i].len;
	cr_assert_gt(by_owner[2], 0);
	cr_assert_leq(by_owner[1] > by_owner[2] ? by_owner[1] - by_owner[2] :
		      by_owner[2] - by_owner[1], cfg.quantum,
		      "shares differ by at most one quantum: %lu vs %lu",
		      by_owner[1], by_owner[2]);
	/* FCFS fixed chunking would have starved owner 2. */
	ac_chunk_config_default(&cfg, AC_CHUNK_FIXED, 0);
	cr_assert_eq(sched(&cfg, 16, 16 * 2000, segs, 6), 0);
	cr_assert_eq(picks[plan.npicks - 1].owner, 1);
}

Test(policy_chunk, bad_batches_are_refused)
{
	struct ac_chunk_config cfg;
	struct ac_chunk_seg zero[] = { { .req = 1, .len = 0 } };
	struct ac_chunk_seg overlap[] = {
		{ .req = 1, .start = 0, .len = 10 },
		{ .req = 1, .start = 5, .len = 10 },
	};
	struct ac_chunk_seg split[] = {
		{ .req = 1, .start = 0, .len = 10 },
		{ .req = 2, .start = 0, .len = 10 },
		{ .req = 1, .start = 50, .len = 10 },
	};
	struct ac_chunk_seg owners[] = {
		{ .req = 1, .owner = 1, .start = 0, .len = 10 },
		{ .req = 1, .owner = 2, .start = 20, .len = 10 },
	};
	struct ac_chunk_seg many[70];

	ac_chunk_config_default(&cfg, AC_CHUNK_ADAPTIVE, 0.05);
	cr_assert_eq(sched(&cfg, 0, 0, zero, 1), -EINVAL);
	cr_assert_eq(sched(&cfg, 0, 0, overlap, 2), -EINVAL);
	cr_assert_eq(sched(&cfg, 0, 0, split, 3), -EINVAL);
	cr_assert_eq(sched(&cfg, 0, 0, owners, 2), -EINVAL);
	cr_assert_eq(sched(&cfg, 0, 0, NULL, 2), -EINVAL);
	for (uint32_t i = 0; i < 70; i++)
		many[i] = (struct ac_chunk_seg){ .req = i, .len = 10 };
	cr_assert_eq(sched(&cfg, 0, 0, many, 70), -ENOSPC);
	cr_assert_eq(plan.npicks, 0);
	cfg.mode = 7;
	cr_assert_eq(sched(&cfg, 0, 0, many, 1), -EINVAL);
	ac_chunk_config_default(&cfg, AC_CHUNK_FIXED, 0);
	cfg.fixed_budget = 0;
	cr_assert_eq(sched(&cfg, 0, 0, many, 1), -EINVAL);
	/* Nothing pending is not an error. */
	ac_chunk_config_default(&cfg, AC_CHUNK_ADAPTIVE, 0.05);
	cr_assert_eq(sched(&cfg, 4, 400, NULL, 0), 0);
	cr_assert_eq(plan.npicks, 0);
	cr_assert_gt(plan.predicted_s, 0);
}

Test(policy_chunk, request_order)
{
	struct ac_chunk_config cfg;
	struct ac_chunk_seg segs[] = {
		{ .req = 1, .owner = 1, .start = 0, .len = 60000,
		  .arrival_ns = 0 },
		{ .req = 2, .owner = 1, .start = 0, .len = 800,
		  .arrival_ns = 9000000000ull },
	};
	struct ac_chunk_batch in = {
		.decode_tokens = 8, .decode_ctx = 8000, .segs = segs,
		.nsegs = 2, .now_ns = 10000000000ull,
	};

	ac_chunk_config_default(&cfg, AC_CHUNK_ADAPTIVE, 0.020);
	cr_assert_eq(cfg.order, AC_CHUNK_HRRN);
	cfg.order = AC_CHUNK_FCFS;
	cr_assert_eq(ac_chunk_schedule(&cfg, &m, &in, &plan), 0);
	cr_assert_eq(picks[0].req, 1);
	cfg.order = AC_CHUNK_SRPT;
	cr_assert_eq(ac_chunk_schedule(&cfg, &m, &in, &plan), 0);
	cr_assert_eq(picks[0].req, 2, "least work left first");
	cr_assert_eq(picks[0].len, 800);
	/* HRRN: the short one, 1 s old, outranks a 10 s old long prompt... */
	cfg.order = AC_CHUNK_HRRN;
	cr_assert_eq(ac_chunk_schedule(&cfg, &m, &in, &plan), 0);
	cr_assert_eq(picks[0].req, 2);
	/* ...until the long one has waited long enough: no starvation. */
	in.now_ns = 9000000000ull + 1000000ull;
	segs[0].arrival_ns = 0;
	segs[1].arrival_ns = in.now_ns;
	in.now_ns += 600ull * 1000000000ull;
	segs[1].arrival_ns = in.now_ns - 1;
	cr_assert_eq(ac_chunk_schedule(&cfg, &m, &in, &plan), 0);
	cr_assert_eq(picks[0].req, 1);
	cfg.order = 9;
	cr_assert_eq(ac_chunk_schedule(&cfg, &m, &in, &plan), -EINVAL);
}

Test(policy_chunk, order_is_independent_of_chunking)
{
	struct ac_chunk_config cfg;
	struct ac_chunk_seg segs[] = {
		{ .req = 1, .owner = 1, .start = 0, .len = 6000,
		  .arrival_ns = 1000, .program_arrival_ns = 900 },
		{ .req = 2, .owner = 1, .start = 0, .len = 700,
		  .arrival_ns = 2000, .program_arrival_ns = 100 },
		{ .req = 3, .owner = 1, .start = 0, .len = 300,
		  .arrival_ns = 3000 },
	};
	struct ac_chunk_batch in = {
		.segs = segs, .nsegs = 3, .now_ns = 4000,
	};

	/* Fixed chunking stays FCFS unless told otherwise. */
	ac_chunk_config_default(&cfg, AC_CHUNK_FIXED, 0);
	cr_assert_eq(cfg.order, AC_CHUNK_FCFS);
	cr_assert_eq(ac_chunk_schedule(&cfg, &m, &in, &plan), 0);
	cr_assert_eq(picks[0].req, 1);
	cr_assert_eq(picks[0].len, 2048, "the budget cuts the first prompt");
	cr_assert_eq(plan.npicks, 1);
	/* SRPT under the same 2,048-token budget: shortest first. */
	cfg.order = AC_CHUNK_SRPT;
	cr_assert_eq(ac_chunk_schedule(&cfg, &m, &in, &plan), 0);
	cr_assert_eq(plan.npicks, 3);
	cr_assert_eq(picks[0].req, 3);
	cr_assert_eq(picks[1].req, 2);
	cr_assert_eq(picks[2].req, 1);
	cr_assert_eq(picks[2].len, 2048 - 300 - 700);
	/* Program FCFS: the job that began first (req 2's), then by arrival. */
	cfg.order = AC_CHUNK_PROGRAM;
	cr_assert_eq(ac_chunk_schedule(&cfg, &m, &in, &plan), 0);
	cr_assert_eq(picks[0].req, 2);
	cr_assert_eq(picks[1].req, 1);
	cr_assert_eq(picks[1].len, 2048 - 700);
	/* The adaptive chunker takes the same order. */
	ac_chunk_config_default(&cfg, AC_CHUNK_ADAPTIVE, 0.05);
	cfg.order = AC_CHUNK_PROGRAM;
	cr_assert_eq(ac_chunk_schedule(&cfg, &m, &in, &plan), 0);
	cr_assert_eq(picks[0].req, 2);
	cfg.order = AC_CHUNK_FCFS;
	cr_assert_eq(ac_chunk_schedule(&cfg, &m, &in, &plan), 0);
	cr_assert_eq(picks[0].req, 1);
}

Test(policy_chunk, order_names)
{
	enum ac_chunk_order o;

	for (int i = 0; i < AC_CHUNK_NORDERS; i++) {
		const char *name = ac_chunk_order_name(i);

		cr_assert_not_null(name);
		cr_assert_eq(ac_chunk_order_parse(name, &o), 0);
		cr_assert_eq(o, i);
	}
	cr_assert_str_eq(ac_chunk_order_name(AC_CHUNK_HRRN), "hrrn");
	cr_assert_null(ac_chunk_order_name(AC_CHUNK_NORDERS));
	o = AC_CHUNK_SRPT;
	cr_assert_eq(ac_chunk_order_parse("lifo", &o), -EINVAL);
	cr_assert_eq(ac_chunk_order_parse(NULL, &o), -EINVAL);
	cr_assert_eq(o, AC_CHUNK_SRPT, "a refused name changes nothing");
}

/*
 * The engine measured on an H200 (tests/unit/policy/data): a pass with any
 * prefill costs ~8 ms more than its tokens. A conversation turn of 3,412
 * tokens beside 5 decodes, the first turn of the end-to-end window, is one
 * pass of ~91 ms there: a 100 ms target lets it run whole, where the
 * default 50 ms cuts it in two and pays that overhead (and the decodes)
 * twice (docs/policy.md, "Why adaptive lost").
 */
Test(policy_chunk, a_100ms_target_keeps_a_turn_whole_on_the_engine)
{
	const char *root = getenv("AC_SOURCE_ROOT");
	struct ac_chunk_seg seg = { .req = 1, .owner = 1, .start = 0,
				    .len = 3412 };
	struct ac_chunk_config cfg;
	char path[4096];

	cr_assert_not_null(root, "run through meson test");
	snprintf(path, sizeof(path),
		 "%s/tests/unit/policy/data/h200-llama3-8b-engine.json", root);
	cr_assert_eq(ac_cost_model_load(path, &m), 0);
	ac_chunk_config_default(&cfg, AC_CHUNK_ADAPTIVE,
				AC_CHUNK_TPOT_TARGET_US / 1e6);
	cr_assert_eq(sched(&cfg, 5, 5 * 3500, &seg, 1), 0);
	cr_assert_lt(plan.prefill_tokens, 3412, "the default target cut nothing");
	cr_assert_leq(plan.predicted_s, AC_CHUNK_TPOT_TARGET_US / 1e6);
	ac_chunk_config_default(&cfg, AC_CHUNK_ADAPTIVE, 0.100);
	cr_assert_eq(sched(&cfg, 5, 5 * 3500, &seg, 1), 0);
	cr_assert_eq(plan.npicks, 1);
	cr_assert_eq(plan.prefill_tokens, 3412, "cut to %llu tokens",
		     (unsigned long long)plan.prefill_tokens);
	/* The pairs the prediction priced, for a caller to price again. */
	cr_assert_float_eq(plan.prefill_pairs, 3412 * (3412 / 2.0), 1e-6);
	cr_assert_leq(plan.predicted_s, 0.100);
	/* The bound still holds: a longer prompt is cut at the target. */
	seg.len = 20000;
	cr_assert_eq(sched(&cfg, 5, 5 * 3500, &seg, 1), 0);
	cr_assert_lt(plan.prefill_tokens, 20000);
	cr_assert_gt(plan.prefill_tokens, 3412);
	cr_assert_leq(plan.predicted_s, 0.100);
}
