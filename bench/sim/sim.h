/* SPDX-License-Identifier: MIT */
/*
 * Trace-driven simulator: continuous batching with chunked prefill and
 * decode, the real policies and chunk scheduler, the cost model as clock.
 */
#ifndef AC_SIM_H
#define AC_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "chunk.h"
#include "cost_model.h"
#include "trace.h"	/* workload/: the Mooncake trace reader */

enum sim_reuse {
	SIM_REUSE_MSA,		/* holes recomputed, hits after them kept */
	SIM_REUSE_PREFIX,	/* everything after the first miss recomputed */
};

struct sim_config {
	const char *policy;
	enum sim_reuse reuse;
	struct ac_chunk_config chunk;
	const struct ac_cost_model *cost;	/* the clock */
	/*
	 * The model the chunk scheduler sizes iterations with, as a daemon
	 * whose cost file differs from its engine (NULL: cost). The clock
	 * stays cost: each iteration takes what cost says its picks take.
	 */
	const struct ac_cost_model *sched_cost;
	uint64_t pool_tokens;
	double time_scale;	/* arrival = trace timestamp * time_scale */
	uint32_t max_running;	/* vLLM max_num_seqs */
	/*
	 * As an engine serves (vLLM): a request whose prompt plus output is
	 * over max_context tokens is rejected (0: no limit); output blocks are
	 * allocated as decoding reaches them, and when none can be had the
	 * latest admitted request is preempted (its blocks released, its
	 * prompt and output so far recomputed on readmission); prompt blocks
	 * are published as each chunk completes. reserve_output and
	 * publish_at_end bring back the older model: every block reserved at
	 * admission, blocks published when the whole prefill ends.
	 */
	uint32_t max_context;
	bool reserve_output;
	bool publish_at_end;
	uint64_t seed;
	/* Switch to this policy (replaying the index) every N iterations. */
	const char *switch_to;
	uint64_t switch_every;
	/*
	 * Agent mode: turns of a job wait for the previous turn plus a tool
	 * call (the trace's tool_ms, else lognormal around tool_median_s).
	 * A turn whose client declared a tool call (tool_ms in the trace) may
	 * have its chain retained: for ttl_s seconds, or (ttl_s < 0) for the
	 * TTL that ac_retain_pick_ttl() picks from the tool calls learned so
	 * far and the price of space (ac_space_price: the recompute value of
	 * what the policy evicted lately, per byte and second). Retentions pin their blocks while the
	 * pinned total stays within retain_budget of the pool and become
	 * hints to the policy (soft TTL) beyond it when retain_soft; pinned
	 * ones give way when they keep the head of the queue from admission
	 * or a running request from its next block.
	 */
	bool agent;
	double ttl_s;		/* < 0: pick per turn; 0: no retention */
	/*
	 * A ceiling, not a policy: retain a turn's chain for exactly its
	 * coming tool call when another turn follows (the trace's future).
	 */
	bool ttl_oracle;
	/*
	 * A blocked queue head frees the pinned retention that expires last
	 * (the chain wanted last; the default, as the daemon does) or, when
	 * false, the one that expires first.
	 */
	bool drop_latest;
	double tool_median_s;
	double retain_budget;	/* share of the pool pinned at most (1) */
	bool retain_soft;
	bool progress;
};

struct sim_stats {
	double mean, p50, p99;
};

/* TTFT is also reported by prompt length: [lo[b], lo[b + 1]) tokens. */
#define SIM_NBUCKETS 4
extern const uint32_t sim_bucket_lo[SIM_NBUCKETS];	/* 0, 4k, 16k, 64k */
int sim_bucket_of(uint32_t input_tokens);

struct sim_result {
	uint64_t requests, rejected;
	uint64_t rejected_context;	/* of rejected: over max_context */
	uint64_t preemptions;
	uint64_t block_refs, block_hits;
	uint64_t prefill_tokens, recomputed_tokens, gap_tokens;
	uint64_t iterations, evictions;
	double busy_s, makespan_s;
	struct sim_stats ttft, tpot, job;
	struct sim_stats ttft_bucket[SIM_NBUCKETS];
	uint64_t bucket_n[SIM_NBUCKETS];
	/*
	 * GPU time of prefill: what the iterations spent beyond their decodes,
	 * and what the hits saved: each hit block's recompute at its position
	 * (the quantity asym's priority ranks blocks by).
	 */
	double prefill_gpu_s, saved_gpu_s;
	uint64_t retained_hits, retain_expired;
	uint64_t retain_hard, retain_soft, retain_dropped, retain_budget_peak;
	double hold_block_s;		/* pinned blocks x seconds held */
	double paused_kv_mean_tokens;	/* chains paused on tool calls */
	/*
	 * Diagnostics from the trace's future, for reading a policy's
	 * choices, never an input to it: victims that a later request of the
	 * trace still asks for, and the time-mean share of the cached blocks
	 * that none does (dead weight the policy keeps).
	 */
	uint64_t evicted_live;
	double dead_share;
	/* Digest of every request's timings: equal runs, equal digest. */
	uint64_t digest;
};

/*
 * A policy of the registry, or an ablation of asym: asym-flat (no position
 * term), asym-nofreq (no frequency term), asym-flat-nofreq; and three
 * variants: asym-aged (hit counts decay), asym-classic (asym before its
 * session blocks and the weight of unused blocks) and asym-fixedprior
 * (unused blocks weigh a fixed 1/4, not the learned share;
 * policy-internal.h).
 */
bool sim_policy_known(const char *name);

void sim_config_default(struct sim_config *ret,
			const struct ac_cost_model *cost);
/* 0, or -errno (-EPROTO: a policy broke its contract). */
int sim_run(const struct ac_trace *t, const struct sim_config *cfg,
	    struct sim_result *ret);

/*
 * Load set by capacity, not by busy share (load.c): the time scale at which
 * the mean job latency of an agent trace, served as @cfg says (its pool,
 * policy and order; retention off), is SIM_CAPACITY_KNEE above its value
 * at light load (arrivals spread until doubling the scale moves it less
 * than 0.5%). A run at time scale capacity.scale / F offers F of that
 * capacity. -EINVAL when @cfg is not in agent mode, -ENODATA when no job
 * finishes, -ERANGE when no scale in [1e-6, 2^30] brackets the knee.
 */
#define SIM_CAPACITY_KNEE 0.10

struct sim_capacity {
	double light_scale, light_job_s;	/* light load and its job mean */
	double scale, job_s;			/* the capacity and its job mean */
};

int sim_fit_capacity(const struct ac_trace *t, const struct sim_config *cfg,
		     struct sim_capacity *ret);

#endif
