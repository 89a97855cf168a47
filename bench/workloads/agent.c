/* SPDX-License-Identifier: MIT */
/*
 * Agent programs (the workload TTL retention is for): each turn calls a
 * tool and waits for it, seconds to a minute, then sends the whole context
 * again with the model's call and the tool's result appended. The tool
 * durations are drawn here, into the trace, so every replay of one file
 * sees the same ones; the client's declared expectation is the median of
 * the tool kind it calls, which a client knows and the daemon does not.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "wl.h"

const double wl_tool_median_s[WL_TOOL_KINDS] = { 1, 3, 8, 15, 30, 60 };

void wl_agent_default(struct wl_agent_config *c)
{
	*c = (struct wl_agent_config){
		.seed = 1,
		.programs = 200,
		.rate = 0.5,
		.turns_min = 10,
		.turns_max = 30,
		.agent_kinds = 4,
		.sys_tokens = 4096,
		.task_min = 200,
		.task_max = 2000,
		.result_min = 200,
		.result_max = 4000,
		.out_min = 50,
		.out_max = 400,
		.tool_scale = 1.0,
		.tool_sigma = 0.6,
	};
}

int wl_agent(const struct wl_agent_config *c, struct wl_trace *t)
{
	struct wl_span *sp;
	struct wl_rng rng;
	double start = 0;
	int r = 0;

	if (!c->programs || !(c->rate > 0) || !c->turns_min ||
	    c->turns_max < c->turns_min || c->turns_max > 1000 ||
	    !c->agent_kinds || !c->sys_tokens || !c->task_min ||
	    c->task_max < c->task_min || !c->result_min ||
	    c->result_max < c->result_min || c->out_max < c->out_min ||
	    !(c->tool_scale > 0) || !(c->tool_sigma >= 0))
		return -EINVAL;
	sp = malloc((2 + 2 * (size_t)c->turns_max) * sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	wl_rng_seed(&rng, c->seed);
	for (uint32_t p = 0; p < c->programs && r == 0; p++) {
		uint32_t kind = wl_range(&rng, 0, c->agent_kinds - 1);
		uint32_t turns = wl_range(&rng, c->turns_min, c->turns_max);
		double at;
		uint32_t n = 0;

		start += wl_exp(&rng, 1 / c->rate);
		at = start;
		sp[n++] = (struct wl_span){ wl_content(0, WL_SYS, kind, 0),
					    c->sys_tokens };
		sp[n++] = (struct wl_span){ wl_content(0, WL_TASK, p, 0),
			wl_range(&rng, c->task_min, c->task_max) };
		for (uint32_t k = 0; k < turns && r == 0; k++) {
			uint32_t out = wl_range(&rng, c->out_min, c->out_max);
			struct wl_rec q = {
				.ts_ms = (uint64_t)llround(at * 1000),
				.output = out, .program = p, .turn = k,
				.tool_ms = -1, .tool_expect_ms = -1,
			};

			if (k + 1 < turns) {
				uint32_t tool = wl_range(&rng, 0, WL_TOOL_KINDS - 1);
				double med = wl_tool_median_s[tool] * c->tool_scale;
				double d = wl_lognormal(&rng, med, c->tool_sigma);

				q.tool_ms = llround(d * 1000);
				q.tool_expect_ms = llround(med * 1000);
				/* Open loop: the service time is the replay's. */
				at += d;
			}
			r = wl_trace_add(t, sp, n, &q);
			sp[n++] = (struct wl_span){
				wl_content(0, WL_OUTPUT, p, k), out };
			sp[n++] = (struct wl_span){
				wl_content(0, WL_RESULT, p, k),
				wl_loguniform(&rng, c->result_min, c->result_max) };
		}
	}
	free(sp);
	return r;
}
