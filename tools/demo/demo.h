/* SPDX-License-Identifier: MIT */
/*
 * asymcache-demo: N client processes share one pool and replay the first
 * requests of a multi-turn trace (Mooncake conversation_trace.jsonl): each
 * hash id becomes a deterministic run of 512 token ids, prompts are keyed
 * in 16-token blocks, and every request does lookup -> alloc (holes and
 * tail) -> write KV bytes -> commit -> release. No model runs: the "KV" of
 * a block is a pattern derived from its key, which lets every hit be
 * checked byte for byte, so the demo also shows that nothing is lost.
 *
 * What the files of tools/demo share; each .c file has one job.
 */
#ifndef AC_DEMO_H
#define AC_DEMO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "asymcache/asymcache.h"
#include "cost_model.h"
#include "trace.h"

#define DEMO_MAX_CLIENTS	64
#define DEMO_CHUNK_BLOCKS	256	/* blocks allocated per alloc call */
#define DEMO_MAX_KEYS		8192	/* daemon's default max_keys_per_lookup */
#define DEMO_COST_DESC		256

#ifndef AC_DEMO_COSTS
#define AC_DEMO_COSTS "policy/costs/h200-llama-3-8b-measured.json"
#endif
#define AC_DEMO_TRACE "data/traces/conversation_trace.jsonl"

struct demo_opts {
	const char *socket;
	const char *trace;
	const char *costs;
	const char *summary;
	const char *compare;	/* --compare FILE: print its table, no run */
	unsigned clients;
	unsigned requests;
	unsigned max_tokens;
	unsigned block_tokens;
	double interval;
	bool lockstep;
};

/* Counters shared by all client processes (MAP_SHARED). */
struct demo_counters {
	_Atomic uint64_t requests;
	_Atomic uint64_t prompt_blocks;
	_Atomic uint64_t hit_blocks;
	_Atomic uint64_t hole_blocks;		/* misses before the last hit */
	_Atomic uint64_t hole_runs;
	_Atomic uint64_t tail_blocks;		/* misses after the last hit */
	_Atomic uint64_t prefix_blocks;		/* first miss to the end */
	_Atomic uint64_t msa_ns;		/* est. recompute of holes + tail */
	_Atomic uint64_t prefix_ns;		/* est. recompute from first miss */
	_Atomic uint64_t written_blocks;
	_Atomic uint64_t dedups;
	_Atomic uint64_t enospc;
	_Atomic uint64_t corrupt;
	_Atomic uint64_t errors;
};

struct demo_shared {
	struct demo_counters total;
	struct demo_counters per[DEMO_MAX_CLIENTS];
	char errmsg[256];
	/*
	 * --lockstep: the index of the request whose turn it is, a futex
	 * shared by the processes; abort releases the waiters when a client
	 * dies, so one failure cannot hang the others.
	 */
	_Atomic uint32_t turn;
	_Atomic uint32_t abort;
};

/* One run; set up before fork(), so every client sees the same. */
struct demo {
	struct demo_opts o;
	struct ac_ns_layout layout;
	struct ac_cost_model cost;	/* prices every client's misses */
	char cost_desc[DEMO_COST_DESC];
	struct ac_trace trace;		/* the requests, read or generated */
	struct demo_shared *sh;
};

static inline double demo_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline double demo_pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * a / b : 0.0;
}

/* Add @v to one counter of a client and to the total. */
static inline void demo_count(struct demo_shared *sh,
			      struct demo_counters *per, size_t off, uint64_t v)
{
	atomic_fetch_add((_Atomic uint64_t *)((char *)&sh->total + off), v);
	atomic_fetch_add((_Atomic uint64_t *)((char *)per + off), v);
}

#define DEMO_COUNT(sh, per, field, v) \
	demo_count(sh, per, offsetof(struct demo_counters, field), (v))

/* options.c: 0 to run, 1 after --help, -EINVAL after saying why. */
int demo_parse_opts(int argc, char **argv, struct demo_opts *o);

/* requests.c: the trace's first requests, or the stand-in without one. */
int demo_requests_load(struct demo *d);
/* synth.c: conversations of DEMO_SYNTH_TURNS turns, @max requests. */
#define DEMO_SYNTH_TURNS	10
int demo_synth_trace(unsigned max, struct ac_trace *ret);

/* pattern.c: the stand-ins for tokens and KV bytes. */
void demo_hash_tokens(uint32_t id, int32_t *out);
void demo_block_write(void *base, uint32_t block_bytes, uint32_t block,
		      const struct ac_kv_layout *kv, const struct ac_key *k);
bool demo_block_ok(const void *base, uint32_t block_bytes, uint32_t block,
		   const struct ac_kv_layout *kv, const struct ac_key *k);

/* lockstep.c: the turn that orders the clients under --lockstep. */
void demo_turn_set(struct demo_shared *sh, uint32_t next);
void demo_turn_abort(struct demo_shared *sh);
int demo_turn_wait(struct demo_shared *sh, uint32_t i);

/* worker.c: one client process; its exit status. */
int demo_worker_main(const struct demo *d, unsigned idx);

/* run.c: fork the clients, watch them, report; the exit status. */
int demo_run(struct demo *d);

/* report.c: what the parent prints while and after the clients run. */
void demo_progress(const struct demo *d, struct ac_client *mon, double t0);
void demo_final_table(const struct demo *d, struct ac_client *mon,
		      double secs, struct ac_stats *ret_st);

/* summary.c: the one-line summary of a run, written and read back. */
struct demo_summary {
	char policy[32];
	uint64_t requests, clients, lockstep, block_tokens, blocks, hits,
		 hole_blocks, hole_runs, tail_blocks, prefix_blocks, msa_ns,
		 prefix_ns, evictions, dedups, corrupt, enospc, errors, ms;
	char costs[DEMO_COST_DESC];
};

int demo_parse_u64(const char *s, uint64_t *ret);
int demo_summary_write(const struct demo *d, const struct ac_stats *st,
		       double secs);
int demo_summary_parse(char *line, struct demo_summary *ret,
		       const char **why);

/* compare.c: the policy table of a summary file; the exit status. */
int demo_compare(const char *path);

#endif
