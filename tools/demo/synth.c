/* SPDX-License-Identifier: MIT */
/*
 * Stand-in for a missing trace: conversations of 10 turns over a shared
 * system prompt (hash id 0); turn t of a conversation extends turn t-1 by
 * two hash blocks, the structure that makes multi-turn traces cacheable.
 * Turns go round the conversations, so a conversation comes back after all
 * the others have had a turn.  There are @max / 10 conversations (at least
 * 20): the workload grows with --requests and, like the real trace, fills
 * a pool of the demo's sizes, where a fixed 200 requests would fit in it
 * and evict nothing.
 */
#include <errno.h>
#include <stdlib.h>

#include "demo.h"

/* Hash blocks of a conversation's turn @turn: the system block, 2 a turn. */
static uint32_t turn_blocks(unsigned turn)
{
	return 1 + 2 * (turn + 1);
}

int demo_synth_trace(unsigned max, struct ac_trace *ret)
{
	unsigned nconv = (max + DEMO_SYNTH_TURNS - 1) / DEMO_SYNTH_TURNS;
	struct ac_trace t = { .block_tokens = AC_TRACE_BLOCK_TOKENS };
	size_t pool_n = 0, n = 0;
	unsigned turn, conv;

	if (nconv < 20)
		nconv = 20;
	/* The same walk twice: count the ids, then fill them in. */
	for (turn = 0; turn < DEMO_SYNTH_TURNS && n < max; turn++)
		for (conv = 0; conv < nconv && n < max; conv++, n++)
			pool_n += turn_blocks(turn);
	t.reqs = calloc(n ? n : 1, sizeof(*t.reqs));
	t.hash_pool = calloc(pool_n ? pool_n : 1, sizeof(*t.hash_pool));
	if (!t.reqs || !t.hash_pool) {
		ac_trace_free(&t);
		return -ENOMEM;
	}
	pool_n = 0;
	for (turn = 0; turn < DEMO_SYNTH_TURNS && t.n < max; turn++) {
		for (conv = 0; conv < nconv && t.n < max; conv++, t.n++) {
			struct ac_trace_req *r = &t.reqs[t.n];

			r->nhash = turn_blocks(turn);
			r->hash = t.hash_pool + pool_n;
			pool_n += r->nhash;
			for (uint32_t k = 1; k < r->nhash; k++) {
				r->hash[k] = 1 + conv * 2 * DEMO_SYNTH_TURNS + k;
				if (r->hash[k] > t.max_hash)
					t.max_hash = r->hash[k];
			}
			r->input = r->nhash * AC_TRACE_BLOCK_TOKENS - 37;
			/* arrival_s, output: 0; the demo has no clock, no decode. */
			r->session = (uint32_t)t.n;
			r->prev = r->next = AC_TRACE_NONE;
		}
	}
	*ret = t;
	return 0;
}
