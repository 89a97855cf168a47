/* SPDX-License-Identifier: MIT */
/* The Mooncake trace format of /work/shared/traces (one JSON object a line). */
#ifndef AC_SIM_TRACE_H
#define AC_SIM_TRACE_H

#include <stddef.h>
#include <stdint.h>

struct sim_req {
	double arrival_s;	/* trace timestamp, unscaled */
	uint32_t input;		/* prompt tokens */
	uint32_t output;	/* generated tokens */
	uint32_t nhash;
	uint32_t *hash;		/* one id per 512-token block of the prompt */
	uint32_t session;	/* agent mode: first request of its job */
	uint32_t prev;		/* turn this one continues, or UINT32_MAX */
	uint32_t next;		/* first turn continuing this one */
};

struct sim_trace {
	struct sim_req *reqs;
	size_t n;
	uint32_t *hash_pool;
	uint32_t max_hash;
	uint32_t block_tokens;	/* tokens per hash id */
};

/* Load at most @limit requests (0: all). -errno; line numbers not kept. */
int sim_trace_load(const char *path, size_t limit, struct sim_trace *ret);
void sim_trace_free(struct sim_trace *t);
/*
 * Agent view of a conversation trace: request i continues request j when
 * i's prompt holds all of j's full blocks (hash ids name whole prefixes, so
 * one id compares a prefix). Each turn has at most one continuation.
 */
int sim_trace_link_turns(struct sim_trace *t);

#endif
