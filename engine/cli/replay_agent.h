/* SPDX-License-Identifier: MIT */
/*
 * asymcache-engine replay --agent: the turns of an agent program run in
 * order. A program's first turn arrives at its timestamp; turn k+1 arrives
 * when turn k has ended and its tool call (turn k's tool_ms) has run; the
 * later turns' timestamps are not used, as the simulator does
 * (bench/sim/sim.c). Tool calls last their real time whatever --speed
 * does to the arrivals, as in the simulator, where time_scale scales the
 * arrivals and not the tool calls.
 */
#ifndef AC_ENGINE_REPLAY_AGENT_H
#define AC_ENGINE_REPLAY_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "trace.h"

struct replay_agent {
	const struct ac_trace *tr;
	double *start;		/* per turn: its program's start, once known */
	double *ready;		/* per turn: when it arrives, once known */
	uint32_t *due;		/* turns whose arrival is known, not yet sent */
	uint32_t ndue;
};

/*
 * Link @tr's turns by program (ac_trace_link_programs()) and check that
 * every turn followed by another declares its tool call. Errors are
 * printed with @path and the line; -EINVAL for a trace without programs.
 */
int replay_agent_init(struct replay_agent *a, struct ac_trace *tr,
		      const char *path);
void replay_agent_free(struct replay_agent *a);

/* Whether trace request @i arrives at its timestamp (a program's first turn). */
static inline bool replay_agent_is_first(const struct replay_agent *a,
					 uint32_t i)
{
	return a->tr->reqs[i].prev == AC_TRACE_NONE;
}

/*
 * Turn @i ended at @finish_s, served (@ok) or not. Served with a turn
 * after it: that turn is due at @finish_s + tool_ms; the last turn: its
 * job's latency goes to *@job_s and 1 is returned. Not served: the turns
 * after it will not run; their indices go to @skipped (room for the
 * trace's length), their count to *@nskipped. 0 otherwise.
 */
int replay_agent_end(struct replay_agent *a, uint32_t i, bool ok,
		     double finish_s, double *job_s, uint32_t *skipped,
		     uint32_t *nskipped);

/* The earliest due turn's arrival, or -1 when none is due. */
double replay_agent_next_due(const struct replay_agent *a);

/* Pop a due turn arriving at or before @until into *@i; 0 when none. */
int replay_agent_pop(struct replay_agent *a, double until, uint32_t *i);

#endif
