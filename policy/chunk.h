/* SPDX-License-Identifier: MIT */
/*
 * Chunk scheduler: per engine iteration, which prefill/recompute tokens to
 * run next to the decodes already batched.
 *
 * Input segments are the pending query ranges of every request (holes and
 * prompt tails), the caller's priority order (FCFS), a request's segments
 * consecutive and ascending in position. A request's segments are served
 * strictly in order: a segment attends over every earlier position, so an
 * earlier hole must be written first.
 *
 * adaptive: the largest work whose predicted iteration time fits the TPOT
 *           target, never less than the knee (below it prefill tokens ride
 *           on the weight stream for free); round-robin between owners
 *           (processes sharing the GPU) in quanta; contiguous segments and
 *           ones split by a gap cheaper to recompute than a segment's
 *           overhead are merged; no piece shorter than min_chunk is cut off
 *           a segment.
 * fixed:    Sarathi-Serve: a token budget per iteration shared with the
 *           decodes, requests in the configured order (FCFS by default, as
 *           vLLM), segments cut where the budget ends.
 */
#ifndef AC_CHUNK_H
#define AC_CHUNK_H

#include <stdbool.h>
#include <stdint.h>

#include "cost_model.h"

enum ac_chunk_mode {
	AC_CHUNK_ADAPTIVE,
	AC_CHUNK_FIXED,
};

/*
 * Which request's segments are served first, in either mode: the order is
 * an axis of its own, so a comparison can hold it constant while the
 * chunking or the cache changes (vLLM and Sarathi-Serve run FCFS, the
 * default of fixed mode). FCFS: the caller's order. SRPT: least predicted
 * work left first, which minimises mean TTFT but can starve a long prompt
 * under load. HRRN: highest (wait + work) / work first, SRPT-like for
 * fresh requests but every request's ratio grows until it is served.
 * PROGRAM: FCFS by the arrival of the request's program (its first turn,
 * seg.program_arrival_ns), as Continuum schedules agent jobs: a job that
 * started earlier finishes earlier instead of interleaving with later ones.
 */
enum ac_chunk_order {
	AC_CHUNK_FCFS,
	AC_CHUNK_SRPT,
	AC_CHUNK_HRRN,
	AC_CHUNK_PROGRAM,
	AC_CHUNK_NORDERS,
};

/*
 * The default TPOT target (a bound on one iteration that carries decodes):
 * the daemon's [scheduler] tpot_target_us and the simulator's --tpot. The
 * engine measured on an H200 pays ~8 ms for a pass with any prefill beyond
 * its tokens' work, so at 50 ms adaptive lost TTFT to fixed 8,192-token
 * chunks there; the simulator says 100 ms wins it back on those windows
 * but gives up TPOT on a saturated GPU and moves the policy comparisons.
 * The default stays until an engine run decides (docs/policy.md, "Why
 * adaptive lost").
 */
#define AC_CHUNK_TPOT_TARGET_US 50000u

struct ac_chunk_config {
	enum ac_chunk_mode mode;
	enum ac_chunk_order order;
	double tpot_target_s;	/* adaptive: bound on one iteration */
	uint32_t fixed_budget;	/* fixed: tokens per iteration incl. decodes */
	uint32_t max_budget;	/* adaptive: cap on prefill tokens */
	uint32_t quantum;	/* adaptive: round-robin share per turn */
	uint32_t min_chunk;	/* adaptive: shortest cut piece; 0 = knee */
	bool merge;		/* adaptive: merge across cheap gaps */
};

struct ac_chunk_seg {
	uint32_t req;
	uint32_t owner;
	uint64_t start;		/* absolute position of its first token */
	uint32_t len;
	uint64_t arrival_ns;	/* of the request, for HRRN */
	uint64_t program_arrival_ns;	/* of its program; 0: arrival_ns */
};

struct ac_chunk_batch {
	uint32_t decode_tokens;
	uint64_t decode_ctx;	/* sum of the decodes' context lengths */
	const struct ac_chunk_seg *segs;
	uint32_t nsegs;
	uint32_t turn;		/* owner the round-robin starts at (rotate it) */
	uint64_t now_ns;	/* for HRRN's waiting times */
};

/* Run positions [start, start + len) of @req: cached gap tokens included. */
struct ac_chunk_pick {
	uint32_t req;
	uint32_t owner;
	uint64_t start;
	uint32_t len;
};

struct ac_chunk_plan {
	struct ac_chunk_pick *picks;	/* caller's array */
	uint32_t cap;
	uint32_t npicks;
	uint64_t prefill_tokens;	/* sum of pick lengths */
	uint64_t gap_tokens;		/* cached tokens recomputed by merges */
	uint32_t segments;		/* query segments the kernel sees */
	double prefill_pairs;		/* query-key pairs of the picks */
	double predicted_s;		/* iteration time from the cost model */
};

void ac_chunk_config_default(struct ac_chunk_config *ret,
			     enum ac_chunk_mode mode, double tpot_target_s);

/* "fcfs", "srpt", "hrrn", "program"; NULL for a value out of range. */
const char *ac_chunk_order_name(enum ac_chunk_order o);
/* The order named @name (as above): 0, or -EINVAL for an unknown name. */
int ac_chunk_order_parse(const char *name, enum ac_chunk_order *ret);

/*
 * Fill @plan (picks, counts, prediction). 0, or -EINVAL on a bad config or
 * batch (segments out of order, overlapping, zero-length, or a request
 * split across the list), -ENOSPC when plan->cap is too small, -ENOMEM.
 */
int ac_chunk_schedule(const struct ac_chunk_config *cfg,
		      const struct ac_cost_model *m,
		      const struct ac_chunk_batch *in,
		      struct ac_chunk_plan *plan);

#endif /* AC_CHUNK_H */
