/* SPDX-License-Identifier: MIT */
/* asymcache-engine replay's output: a JSON line a request, a summary table. */
#ifndef AC_ENGINE_REPLAY_REPORT_H
#define AC_ENGINE_REPLAY_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "runner.h"

struct replay_report {
	FILE *out;			/* JSON lines */
	bool with_tokens;		/* the generated ids in each line */
	uint32_t done, failed, refused;
	double *ttft, *tpot;		/* ms, of the requests that finished */
	uint32_t ntpot;
	uint64_t prompt_tokens, reused_tokens, computed_tokens;
	uint64_t output_tokens, hit_blocks, holes, preemptions, private;
	uint64_t *out_hash;		/* per trace line: its tokens' hash */
	uint32_t nlines;
};

int replay_report_init(struct replay_report *rp, FILE *out, uint32_t nreqs,
		       bool with_tokens);
/*
 * One finished request (@res), or one refused at submit (@refused < 0,
 * @why what to tell the user; NULL: the errno's text).
 */
int replay_report_add(struct replay_report *rp, uint64_t trace_line,
		      double arrival_s, const struct ac_result *res,
		      int refused, const char *why);
void replay_report_summary(const struct replay_report *rp, FILE *f,
			   const char *settings, double wall_s);
/*
 * One tab-separated line for tables that compare runs: @label, requests,
 * TTFT mean and p50, TPOT mean (ms), reused share of the prompts, holes,
 * computed prompt tokens, wall seconds and a hash of every output token in
 * trace order (equal hashes: the same text).
 */
void replay_report_tsv(const struct replay_report *rp, FILE *f,
		       const char *label, double wall_s);
void replay_report_free(struct replay_report *rp);

#endif
