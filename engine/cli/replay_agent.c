/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "replay_agent.h"

int replay_agent_init(struct replay_agent *a, struct ac_trace *tr,
		      const char *path)
{
	struct ac_trace_error terr;
	int r;

	*a = (struct replay_agent){ .tr = tr };
	if (!tr->nprogram) {
		fprintf(stderr, "asymcache-engine: %s: --agent needs records with a \"program\" field (as asymcache-workload agent writes them); this trace has none\n",
			path);
		return -EINVAL;
	}
	r = ac_trace_link_programs(tr, &terr);
	if (r < 0) {
		fprintf(stderr, "asymcache-engine: %s: %s\n", path, terr.why);
		return r;
	}
	for (size_t i = 0; i < tr->n; i++) {
		const struct ac_trace_req *q = &tr->reqs[i];

		if (q->next != AC_TRACE_NONE && q->tool_s < 0) {
			fprintf(stderr, "asymcache-engine: %s: line %zu: tool_ms: missing, and turn %u of program %u is followed by turn %u\n",
				path, i + 1, q->turn, q->program,
				tr->reqs[q->next].turn);
			return -EINVAL;
		}
	}
	a->start = malloc(sizeof(*a->start) * (tr->n + 1));
	a->ready = malloc(sizeof(*a->ready) * (tr->n + 1));
	a->due = malloc(sizeof(*a->due) * (tr->n + 1));
	if (!a->start || !a->ready || !a->due) {
		replay_agent_free(a);
		fprintf(stderr, "asymcache-engine: %s\n", "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < tr->n; i++)
		a->start[i] = a->ready[i] = -1;
	return 0;
}

void replay_agent_free(struct replay_agent *a)
{
	free(a->start);
	free(a->ready);
	free(a->due);
	a->start = a->ready = NULL;
	a->due = NULL;
}

int replay_agent_end(struct replay_agent *a, uint32_t i, bool ok,
		     double finish_s, double *job_s, uint32_t *skipped,
		     uint32_t *nskipped)
{
	const struct ac_trace_req *q = &a->tr->reqs[i];
	uint32_t k;

	*nskipped = 0;
	if (!ok) {
		for (k = q->next; k != AC_TRACE_NONE; k = a->tr->reqs[k].next)
			skipped[(*nskipped)++] = k;
		return 0;
	}
	if (q->next == AC_TRACE_NONE) {
		*job_s = finish_s - a->start[q->session];
		return 1;
	}
	a->ready[q->next] = finish_s + q->tool_s;
	a->due[a->ndue++] = q->next;
	return 0;
}

double replay_agent_next_due(const struct replay_agent *a)
{
	double t = -1;

	for (uint32_t k = 0; k < a->ndue; k++)
		if (t < 0 || a->ready[a->due[k]] < t)
			t = a->ready[a->due[k]];
	return t;
}

int replay_agent_pop(struct replay_agent *a, double until, uint32_t *i)
{
	uint32_t best = a->ndue;

	/* The earliest first: the runner's FCFS ties go by submit order. */
	for (uint32_t k = 0; k < a->ndue; k++)
		if (a->ready[a->due[k]] <= until &&
		    (best == a->ndue ||
		     a->ready[a->due[k]] < a->ready[a->due[best]]))
			best = k;
	if (best == a->ndue)
		return 0;
	*i = a->due[best];
	a->due[best] = a->due[--a->ndue];
	return 1;
}
