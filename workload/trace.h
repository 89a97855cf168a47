/* SPDX-License-Identifier: MIT */
/*
 * The Mooncake trace format (data/traces/README.md): one JSON object a
 * line with timestamp (ms), input_length, output_length and hash_ids, one
 * id per 512-token block of the prompt, and the optional fields of the
 * generated workloads (bench/workloads): namespace, program, turn, tool_ms
 * and tool_expect_ms. A record may instead (or as well) carry its prompt as
 * literal token ids in "tokens"; without hash_ids its ids are then derived
 * from the tokens, equal prefixes getting equal ids. The simulator
 * (bench/sim), the demo (tools/demo) and the engine's replay read it
 * through this one parser, so all see the same
 * requests and refuse the same bad lines.
 */
#ifndef AC_TRACE_H
#define AC_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define AC_TRACE_BLOCK_TOKENS	512	/* tokens named by one hash id */
#define AC_TRACE_NONE		UINT32_MAX	/* no linked turn */

struct ac_trace_req {
	double arrival_s;	/* timestamp / 1000, unscaled */
	uint32_t input;		/* prompt tokens */
	uint32_t output;	/* generated tokens */
	uint32_t nhash;		/* ceil(input / block_tokens) */
	uint32_t *hash;		/* into ac_trace.hash_pool */
	int32_t *tokens;	/* input tokens, into token_pool; or NULL */
	/*
	 * The agent view, filled by ac_trace_link_turns(); until then every
	 * request is a job of its own: session = its index, no prev, no next.
	 */
	uint32_t session;	/* index of the job's first turn */
	uint32_t prev;		/* turn this one continues, or AC_TRACE_NONE */
	uint32_t next;		/* first turn continuing this one */
	/* Optional fields; absent: 0, AC_TRACE_NONE, < 0. */
	uint32_t ns;		/* "namespace": tenant, 0 when absent */
	uint32_t program;	/* "program": agent job id, or AC_TRACE_NONE */
	uint32_t turn;		/* "turn": index within the program */
	double tool_s;		/* "tool_ms": tool call after this turn */
	double tool_expect_s;	/* "tool_expect_ms": what the client declares */
};

struct ac_trace {
	struct ac_trace_req *reqs;	/* in arrival order */
	size_t n;
	uint32_t *hash_pool;		/* every request's ids, one allocation */
	int32_t *token_pool;		/* every literal prompt, one allocation */
	uint32_t max_hash;
	uint32_t block_tokens;		/* AC_TRACE_BLOCK_TOKENS */
	size_t nprogram;		/* requests with a "program" */
};

/* Why a read failed, for the caller to print after the file's name. */
struct ac_trace_error {
	size_t line;		/* 1-based line refused; 0: not one line's fault */
	char why[160];		/* "line 7: hash_ids[2]: not an integer" */
};

/*
 * Read at most @limit requests (0: all) from @f. -EINVAL names the line
 * and the field of the first bad record (blank lines are skipped, nothing
 * else is); -ENODATA: no request; -ENOMEM; a read error's -errno. @err may
 * be NULL. On failure *@ret is untouched and nothing is held.
 */
int ac_trace_read(FILE *f, size_t limit, struct ac_trace *ret,
		  struct ac_trace_error *err);
/* ac_trace_read() of the file at @path; an fopen() failure is its -errno. */
int ac_trace_load(const char *path, size_t limit, struct ac_trace *ret,
		  struct ac_trace_error *err);
void ac_trace_free(struct ac_trace *t);

/*
 * Agent view of a conversation trace: request i continues request j when
 * i's prompt holds all of j's full blocks (hash ids name whole prefixes, so
 * one id compares a prefix). Each turn has at most one continuation.
 */
int ac_trace_link_turns(struct ac_trace *t);

/*
 * Agent view of a trace whose records name their program: a program's
 * records, in file order, are its turns, each continuing the one before.
 * Records without a program are jobs of one turn. -EINVAL (naming the
 * record in @err, which may be NULL) when a program's turns are not
 * numbered 0, 1, 2... in file order; nothing is changed then.
 */
int ac_trace_link_programs(struct ac_trace *t, struct ac_trace_error *err);

#endif
