/* SPDX-License-Identifier: MIT */
/*
 * The agent view of a conversation trace: which request is the next turn
 * of which. A job is then a chain of turns, each waiting for the one
 * before it, which is how the simulator's agent mode replays the trace.
 */
#include <errno.h>
#include <stdlib.h>

#include "trace.h"

int ac_trace_link_turns(struct ac_trace *t)
{
	uint32_t *last = malloc(((size_t)t->max_hash + 1) * sizeof(*last));

	if (!last)
		return -ENOMEM;
	for (size_t h = 0; h <= t->max_hash; h++)
		last[h] = AC_TRACE_NONE;
	for (size_t i = 0; i < t->n; i++) {
		struct ac_trace_req *q = &t->reqs[i];

		q->prev = q->next = AC_TRACE_NONE;
		q->session = (uint32_t)i;
		/* Longest earlier prefix first; k >= 2 skips a bare system prompt. */
		for (uint32_t k = q->nhash - 1; k >= 2 && k < q->nhash; k--) {
			uint32_t j = last[q->hash[k - 1]];
			struct ac_trace_req *p;

			if (j == AC_TRACE_NONE)
				continue;
			p = &t->reqs[j];
			if (k + 1 >= p->nhash && p->next == AC_TRACE_NONE) {
				p->next = (uint32_t)i;
				q->prev = j;
				q->session = p->session;
			}
			break;
		}
		for (uint32_t k = 0; k < q->nhash; k++)
			last[q->hash[k]] = (uint32_t)i;
	}
	free(last);
	return 0;
}
