/* SPDX-License-Identifier: MIT */
/* The serving core's state, shared by its files; not installed. */
#ifndef AC_ENGINE_RUNNER_INTERNAL_H
#define AC_ENGINE_RUNNER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "kvsrc.h"
#include "runner.h"

enum sreq_state {
	SREQ_WAITING,		/* arrived or not; holds no block */
	SREQ_RUNNING,		/* admitted: holds its table */
	SREQ_DONE,		/* result ready to be taken */
};

/*
 * One request. tokens[] holds the prompt and what was generated; len is
 * how many of them the sequence has, the last one possibly not computed
 * yet. runs[run_i..nruns) (from run_off into runs[run_i]) are the
 * positions still to compute, ascending: everything before them is in the
 * pool. own[b]: table[b] is a WRITING block of ours, to commit once full.
 */
struct sreq {
	uint64_t id;
	enum sreq_state state;
	int status;
	int32_t *tokens;
	uint32_t n_prompt, len, cap, max_tokens;
	int32_t *stop_ids;
	uint32_t n_stop_ids;
	struct ac_sampler *sampler;
	uint32_t *table;
	uint8_t *own;
	struct ac_key *keys;
	uint32_t capb, nb, nkeys, next_commit;
	struct ac_run *runs;
	uint32_t nruns, run_i, run_off;
	bool prefilled;		/* the prompt is done: runs are decodes */
	bool requeued;		/* preempted: admitted before newer ones */
	uint64_t admit_seq;	/* the newest admission is preempted first */
	double arrival_s, first_s, done_s;
	uint64_t program;	/* agent turns: see struct ac_request */
	double program_arrival_s;
	bool retain;
	uint32_t retain_ttl_ms, expect_ms;
	struct ac_gen_stats st;
	/* This iteration: granted runs in the runner's scratch, rows. */
	uint32_t g_first, g_n, g_rows;
	uint64_t g_upto;	/* the scheduler's grant: positions below it */
	int32_t logit_row;	/* -1: no token sampled this iteration */
	uint32_t logit_k;	/* its logits' index in the pass's output */
};

struct ac_runner {
	struct ac_model *model;
	struct ac_runner_opts o;
	char *socket, *client_name, *model_id, *salt;
	struct ac_ns_layout nsl;
	struct ac_key_seed seed;
	uint32_t T, vocab, max_ctx;
	struct ac_kvsrc *src;		/* the one every running request uses */
	struct ac_kvsrc *daemon;	/* NULL while the daemon is away */
	struct ac_kvsrc *priv;		/* opened the first time it is needed */
	double retry_at;		/* next attempt to re-attach */
	uint64_t admit_seq;
	struct sreq **reqs;		/* waiting and running, in submit order */
	uint32_t nreqs, capreqs;
	struct sreq **done;
	uint32_t ndone, capdone;
	/* Scratch reused by every iteration: a decode step allocates nothing. */
	struct ac_batch batch;
	int32_t *tok;
	uint32_t *logit_rows;
	float *logits;
	int32_t *argmax;	/* greedy token of each logit row */
	bool need_logits;	/* this pass: a row samples with a sampler */
	uint32_t cap_rows, cap_logits;
	struct ac_run *grants;
	uint32_t gn, cap_grants;
	uint32_t *found, *drop, *alloc, *idx;
	struct ac_segment *segs;
	struct ac_commit_entry *ce;
	uint32_t cap_blocks;
	struct sreq **order;	/* prefilling requests in the runner's order */
	uint32_t cap_order;
	struct ac_sched_segment *sseg;
	struct ac_sched_chunk *chunks;
	uint32_t cap_sched, cap_chunks;
	uint64_t *spw;		/* the segments' program waits, for Schedule */
	uint32_t cap_spw;
	/* Retentions made by finished turns, until their program's next one. */
	struct { uint64_t program, id; } *rets;
	uint32_t nrets, cap_rets;
	double tok_per_s;	/* measured rate, for HRRN's work estimate */
	bool hold_admission;	/* a preemption since the last finish */
};

/* Tokens generated so far: all that follow the prompt in tokens[]. */
static inline uint32_t sreq_ngen(const struct sreq *q)
{
	return q->len - q->n_prompt;
}

/* admit.c: a request's blocks. */
int sreq_admit(struct ac_runner *r, struct sreq *q);
void sreq_drop_blocks(struct ac_runner *r, struct sreq *q, bool release);
void sreq_preempt(struct ac_runner *r, struct sreq *q);
int sreq_commit_ready(struct ac_runner *r, struct sreq *q);
void sreq_finish(struct ac_runner *r, struct sreq *q, int status);
uint32_t sreq_pending(const struct sreq *q);
/* retain.c: an agent turn's chain kept over its tool call. */
void sreq_retain(struct ac_runner *r, struct sreq *q);
void sreq_resume(struct ac_runner *r, struct sreq *q);
void runner_forget_retentions(struct ac_runner *r);

/* runner.c: the source, and scratch that grows. */
void runner_lose_daemon(struct ac_runner *r);
void runner_try_daemon(struct ac_runner *r, double now);
int runner_source(struct ac_runner *r);
int runner_grow(void **p, uint32_t *cap, uint32_t want, size_t elem);

#endif /* AC_ENGINE_RUNNER_INTERNAL_H */
