/* SPDX-License-Identifier: MIT */
/*
 * The agent view of a conversation trace: which request is the next turn
 * of which. A job is then a chain of turns, each waiting for the one
 * before it, which is how the simulator's agent mode replays the trace.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

/*
 * Hash ids can be sparse (any value up to 2^32 - 2): a map sized to the
 * ids the trace holds, not to the largest one (a table of max_hash + 1
 * entries was 16 GiB for one id near 2^32).
 */
struct id_slot {
	uint32_t id;		/* AC_TRACE_NONE: empty (never an id) */
	uint32_t last;		/* latest request holding it */
};

static struct id_slot *id_find(struct id_slot *map, size_t mask, uint32_t id)
{
	size_t h = ((uint64_t)id * 0x9e3779b97f4a7c15ull) >> 20 & mask;

	while (map[h].id != AC_TRACE_NONE && map[h].id != id)
		h = (h + 1) & mask;
	if (map[h].id == AC_TRACE_NONE) {
		map[h].id = id;
		map[h].last = AC_TRACE_NONE;
	}
	return &map[h];
}

int ac_trace_link_turns(struct ac_trace *t)
{
	size_t ids = 0, cap = 16;
	struct id_slot *map;

	for (size_t i = 0; i < t->n; i++)
		ids += t->reqs[i].nhash;
	while (cap < 2 * ids)
		cap *= 2;
	map = malloc(cap * sizeof(*map));
	if (!map)
		return -ENOMEM;
	for (size_t h = 0; h < cap; h++)
		map[h].id = AC_TRACE_NONE;
	for (size_t i = 0; i < t->n; i++) {
		struct ac_trace_req *q = &t->reqs[i];

		q->prev = q->next = AC_TRACE_NONE;
		q->session = (uint32_t)i;
		/* Longest earlier prefix first; k >= 2 skips a bare system prompt. */
		for (uint32_t k = q->nhash - 1; k >= 2 && k < q->nhash; k--) {
			uint32_t j = id_find(map, cap - 1, q->hash[k - 1])->last;
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
			id_find(map, cap - 1, q->hash[k])->last = (uint32_t)i;
	}
	free(map);
	return 0;
}

/* Program ids are sparse: a small open-addressing map to the last turn. */
struct prog_slot {
	uint32_t program;	/* AC_TRACE_NONE: empty */
	uint32_t last;		/* request index of its latest turn */
};

int ac_trace_link_programs(struct ac_trace *t, struct ac_trace_error *err)
{
	size_t cap = 16, mask;
	struct prog_slot *map;
	uint32_t *prev;
	int r = 0;

	while (cap < 2 * t->n)
		cap *= 2;
	mask = cap - 1;
	map = malloc(cap * sizeof(*map));
	prev = malloc((t->n + 1) * sizeof(*prev));
	if (!map || !prev) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < cap; i++)
		map[i].program = AC_TRACE_NONE;
	/* Check every record before changing any. */
	for (size_t i = 0; i < t->n; i++) {
		const struct ac_trace_req *q = &t->reqs[i];
		size_t h;
		uint32_t want = 0;

		prev[i] = AC_TRACE_NONE;
		if (q->program == AC_TRACE_NONE)
			continue;
		h = (q->program * 0x9e3779b1u) & mask;
		while (map[h].program != AC_TRACE_NONE &&
		       map[h].program != q->program)
			h = (h + 1) & mask;
		if (map[h].program == q->program) {
			prev[i] = map[h].last;
			want = t->reqs[map[h].last].turn + 1;
		}
		if (q->turn != want) {
			if (err) {
				/* Records are counted from 1, as lines are. */
				err->line = 0;
				snprintf(err->why, sizeof(err->why),
					 "record %zu: turn %u of program %u, want %u",
					 i + 1, q->turn, q->program, want);
			}
			r = -EINVAL;
			goto out;
		}
		map[h].program = q->program;
		map[h].last = (uint32_t)i;
	}
	for (size_t i = 0; i < t->n; i++) {
		struct ac_trace_req *q = &t->reqs[i];

		q->next = AC_TRACE_NONE;
		q->prev = prev[i];
		q->session = prev[i] == AC_TRACE_NONE ? (uint32_t)i :
			     t->reqs[prev[i]].session;
		if (prev[i] != AC_TRACE_NONE)
			t->reqs[prev[i]].next = (uint32_t)i;
	}
out:
	free(map);
	free(prev);
	return r;
}
