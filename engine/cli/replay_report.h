/* SPDX-License-Identifier: MIT */
/* asymcache-engine replay's output: a JSON line a request, a summary table. */
#ifndef AC_ENGINE_REPLAY_REPORT_H
#define AC_ENGINE_REPLAY_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "runner.h"

/* What a line of the agent replay adds: the turn, and its job's end. */
struct replay_turn {
	uint32_t program, turn;		/* program UINT32_MAX: none */
	double job_s;			/* on its job's last turn, the job's latency; else < 0 */
};

struct replay_report {
	FILE *out;			/* JSON lines */
	bool with_tokens;		/* the generated ids in each line */
	double t0;			/* the run's start, on the runner's clock */
	uint32_t done, failed, refused;
	uint32_t skipped;		/* turns after a failed one: not run */
	bool agent;			/* jobs and retention in the summary */
	double *job;			/* ms, of the jobs whose turns all finished */
	uint32_t njob;
	uint32_t retained, declined, retain_errors, resumed, late;
	uint64_t retained_blocks;
	double *ttft, *tpot;		/* ms, of the requests that finished */
	uint32_t ntpot;
	uint64_t prompt_tokens, reused_tokens, computed_tokens;
	uint64_t output_tokens, hit_blocks, holes, preemptions, private;
	uint64_t *out_hash;		/* per trace line: its tokens' hash */
	uint32_t nlines;
};

int replay_report_init(struct replay_report *rp, FILE *out, uint32_t nreqs,
		       bool with_tokens, bool agent);
/*
 * One finished request (@res), or one refused at submit (@refused < 0,
 * @why what to tell the user; NULL: the errno's text; -ECANCELED: a turn
 * not run because one before it failed). @turn: an agent turn, or NULL.
 */
int replay_report_add(struct replay_report *rp, uint64_t trace_line,
		      double arrival_s, const struct ac_result *res,
		      int refused, const char *why,
		      const struct replay_turn *turn);
/*
 * One JSON line for iteration @n of the runner (@in), started @t_s into
 * the run: the terms of the cost model (policy/cost_model.h) and the
 * pass's time. -errno of a failed write.
 */
int replay_report_iteration(FILE *f, uint64_t n, double t_s,
			    const struct ac_step_info *in);
void replay_report_summary(const struct replay_report *rp, FILE *f,
			   const char *settings, double wall_s);
/*
 * One tab-separated line for tables that compare runs: @label, requests,
 * TTFT mean and p50, TPOT mean (ms), reused share of the prompts, holes,
 * computed prompt tokens, wall seconds and a hash of every output token in
 * trace order (equal hashes: the same text); with --agent then jobs
 * finished, and their latency's mean, p50 and p99 (ms).
 */
void replay_report_tsv(const struct replay_report *rp, FILE *f,
		       const char *label, double wall_s);
void replay_report_free(struct replay_report *rp);

#endif
