/* SPDX-License-Identifier: MIT */
/*
 * The serving core: continuous batching on the daemon's pool, as any engine
 * should use it. Requests are submitted with their arrival time; each
 * ac_runner_step() is one iteration, one forward pass over one MSA batch
 * holding the decode of every running request (a one-token segment each)
 * beside the prefill and hole-recompute chunks granted this iteration (by
 * the daemon's Schedule, or a fixed token budget as vLLM runs it).
 *
 * A request does Lookup (hits and holes) -> release of the hits the reuse
 * mode does not use -> Alloc for holes and tail -> chunks whose MSA batch
 * carries the holes and tail as segments -> Commit of each block as it
 * fills (dedup) -> Release when it ends. Keys are chained per block with the
 * cache salt. When the pool has no room a running request is preempted
 * (its blocks released, the request requeued and recomputed later, as vLLM
 * does), never failed. When the daemon goes away the runner keeps serving
 * from a private pool with no cache and re-attaches when it returns.
 */
#ifndef AC_ENGINE_RUNNER_H
#define AC_ENGINE_RUNNER_H

#include <stdbool.h>
#include <stdint.h>

#include <asymcache/asymcache.h>

#include "forward.h"
#include "../ops/ops.h"

struct ac_runner;

/* Which waiting request is admitted, and which prefill gets budget, first. */
enum ac_order {
	AC_ORDER_FCFS = 0,	/* arrival order, as vLLM */
	AC_ORDER_HRRN = 1,	/* highest (wait + work) / work: short first, no starvation */
	AC_ORDER_SRPT = 2,	/* least prompt work left first (may starve long ones) */
	AC_ORDER_PROGRAM = 3,	/* by the agent program's first arrival, then arrival */
};

/* Called with each generated token of request @id; non-zero stops it. */
typedef int (*ac_stream_fn)(uint64_t id, int32_t token, void *userdata);

struct ac_runner_opts {
	const char *socket;		/* the daemon's control socket */
	const char *client_name;	/* shown by asymcachectl sessions */
	const char *model_id;		/* the namespace's model id */
	const char *salt;		/* cache salt, may be NULL */
	uint32_t block_tokens;		/* tokens per pool block */
	enum ac_reuse reuse;
	uint32_t max_seqs;		/* running at once; 0: 64 */
	/*
	 * 0: the daemon's Schedule picks each iteration's chunks (adaptive);
	 * N: a budget of N tokens an iteration, decodes included (fixed).
	 */
	uint32_t chunk_tokens;
	enum ac_order order;
	/* The private pool while the daemon is away; 0: 512 MiB. */
	uint64_t private_bytes;
	/* Fail ac_runner_create() without a daemon instead of serving on. */
	bool need_daemon;
	/*
	 * Wait for the device after each forward pass, so that the step's
	 * forward_s is the pass's own time (a pass with no logits to return
	 * is otherwise still running when it returns).
	 */
	bool timed;
	ac_stream_fn on_token;
	void *userdata;
};

/* Per-request figures, for the front ends to print. */
struct ac_gen_stats {
	uint32_t prompt_tokens;
	uint32_t reused_tokens;		/* KV read from the pool */
	uint32_t hit_blocks;		/* Lookup's hits, used or not */
	uint32_t hole_runs;		/* recomputed runs before the tail */
	/*
	 * Prompt tokens run through the model, every admission's: a
	 * preempted request is recomputed. The three above are the last
	 * admission's.
	 */
	uint32_t computed_tokens;
	uint32_t generated;
	uint32_t committed;		/* blocks published */
	uint32_t deduped;		/* of those, already published by others */
	uint32_t preemptions;		/* times requeued for lack of room */
	bool private_pool;		/* served (at the end) without the cache */
	/*
	 * TTL retention of an agent turn (struct ac_request's retain): the
	 * prompt's full blocks retained as it ended (0: none), the TTL in
	 * force, whether within the daemon's budget; declined by the
	 * daemon's own choice of TTL; or the error that refused it.
	 */
	uint32_t retained;
	uint32_t retain_ttl_ms;
	bool retain_pinned, retain_declined;
	int retain_error;
	/*
	 * At admission, the retention of the program's turn before: resumed
	 * while it still held the chain (resumed), or found ended (its TTL
	 * ran out, or the daemon dropped it for room: resume_late).
	 */
	bool resumed, resume_late;
	double arrival_s;		/* on ac_runner_now()'s clock */
	double finish_s;		/* when it ended, same clock */
	double ttft_s;			/* arrival to the first generated token */
	double decode_s;		/* the other generated tokens */
};

struct ac_request {
	uint64_t id;			/* the caller's, echoed in the result */
	const int32_t *prompt;		/* copied at submit */
	uint32_t n;
	uint32_t max_tokens;		/* >= 1 */
	const int32_t *stop_ids;	/* copied at submit */
	uint32_t n_stop_ids;
	struct ac_sampler *sampler;	/* NULL: greedy; borrowed until taken */
	double arrival_s;		/* ac_runner_now() clock; 0: at submit */
	/*
	 * An agent program's turn (program 0: none). Its first turn's arrival
	 * goes to the daemon's Schedule, whose program order serves programs
	 * by their start. With @retain, the prompt's chain is retained when
	 * the turn ends (a tool call follows): for retain_ttl_ms, or with 0
	 * for a TTL the daemon picks from @expect_ms (the declared tool time)
	 * and the program's history. The program's next turn resumes it once
	 * its own Lookup has pinned what is left of the chain.
	 */
	uint64_t program;
	double program_arrival_s;
	bool retain;
	uint32_t retain_ttl_ms, expect_ms;
};

struct ac_result {
	uint64_t id;
	int status;			/* 0, or why the request failed */
	int32_t *tokens;		/* generated tokens: free() them */
	uint32_t n;
	struct ac_gen_stats st;
};

/* What one iteration did. */
struct ac_step_info {
	uint32_t rows;			/* 0: nothing was runnable */
	uint32_t decodes;
	uint32_t prefill_tokens;
	uint32_t running, waiting;	/* after the step */
	uint32_t preempted;
	bool cached;			/* ran on the daemon's pool */
	double predicted_s;		/* the daemon's estimate; 0 without */
	/* The cost model's terms (policy/cost_model.h: struct ac_cost_iter). */
	double prefill_pairs;		/* sum over chunks of T * (p + T/2) */
	uint32_t prefill_segments;	/* prefill and hole chunks */
	uint64_t decode_ctx;		/* sum of the decodes' context lengths */
	double forward_s;		/* of the step, in the forward pass */
	double before_s, after_s;	/* blocks and chunks; commits and sampling */
};

/*
 * Connect, attach pool 0 and register the model's namespace. -errno from
 * the client library (-ENOENT/-ECONNREFUSED: no daemon, only with
 * need_daemon; -E2BIG: the pool's blocks are too small for this model and
 * block_tokens); -EMEDIUMTYPE when the pool's memory is not the model
 * backend's (a CUDA pool needs the CUDA backend, a host pool the CPU one).
 */
int ac_runner_create(struct ac_model *model, const struct ac_runner_opts *o,
		     struct ac_runner **ret);
/* Releases every block still held; unfinished requests are dropped. */
struct ac_runner *ac_runner_free(struct ac_runner *r);

/* The monotonic clock arrivals and figures are on, in seconds. */
double ac_runner_now(void);

/*
 * Queue @q. -E2BIG when prompt plus max_tokens exceed the model's context
 * (the request is refused, as an engine refuses it); -EINVAL for an empty
 * prompt, no max_tokens or a token outside the vocabulary; -EEXIST for an
 * id already queued.
 */
int ac_runner_submit(struct ac_runner *r, const struct ac_request *q);

/*
 * One iteration over the requests that have arrived. Request failures end
 * up in their results; a negative return is the runner's own failure (a
 * forward pass that failed, memory).
 */
int ac_runner_step(struct ac_runner *r, struct ac_step_info *info);

/* Requests submitted and not yet taken as finished. */
uint32_t ac_runner_live(const struct ac_runner *r);
/* Arrival time of the earliest request still waiting to arrive, or -1. */
double ac_runner_next_arrival(const struct ac_runner *r);

/* Pop one finished request; -ENOENT when none has finished. */
int ac_runner_take(struct ac_runner *r, struct ac_result *res);
void ac_result_free(struct ac_result *res);

/* Whether the runner is on the daemon's pool now. */
bool ac_runner_cached(const struct ac_runner *r);

/*
 * The full-block keys of @prompt as this runner chains them (namespace
 * seed and cache salt), and the namespace id: what a Lookup of it sends.
 * @nkeys is in/out as for ac_keys_compute(). -ENOTCONN without a daemon.
 */
int ac_runner_keys(struct ac_runner *r, const int32_t *prompt, uint32_t n,
		   struct ac_key *keys, size_t *nkeys, uint32_t *ret_ns);

/* One request, start to end: the single-request path of the front ends. */
typedef int (*ac_token_fn)(int32_t token, void *userdata);

struct ac_gen_opts {
	uint32_t max_tokens;
	const int32_t *stop_ids;	/* end of generation (EOS and such) */
	uint32_t n_stop_ids;
	struct ac_sampler *sampler;	/* NULL: greedy */
	ac_token_fn on_token;
	void *userdata;
};

/*
 * Generate from @prompt (@n tokens, 1.. and within the model's context):
 * the generated tokens go to g->on_token and into @out (room for
 * g->max_tokens), their count to *ret_n. Every pin and WRITING block of
 * the request is released before it returns, on errors too. Requests
 * submitted before are served alongside it.
 */
int ac_runner_generate(struct ac_runner *r, const int32_t *prompt,
		       uint32_t n, const struct ac_gen_opts *g, int32_t *out,
		       uint32_t *ret_n, struct ac_gen_stats *st);

#endif /* AC_ENGINE_RUNNER_H */
