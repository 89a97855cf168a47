/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the trace reader (workload/trace.c): Mooncake
 * JSON lines with the optional agent fields and literal token prompts, as
 * asymcache-sim, the demo and asymcache-engine replay read them. A
 * refused file must name its line; the requests of an accepted one must
 * hold what the reader promises (ids within max_hash, one id per block).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct ac_trace *t)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct ac_trace_req *q = &t->reqs[i];

		for (uint32_t k = 0; k < q->nhash; k++)
			if (q->hash[k] > t->max_hash)
				abort();
		if (q->tokens && q->input &&
		    q->nhash != (q->input + t->block_tokens - 1) / t->block_tokens)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ac_trace_error err = { 0 };
	struct ac_trace t;
	FILE *f;
	int r;

	if (!size)
		return 0;
	f = fmemopen((void *)data, size, "r");
	if (!f)
		abort();
	r = ac_trace_read(f, 0, &t, &err);
	fclose(f);
	if (r < 0) {
		if (r == -EINVAL && !err.why[0])
			abort();
		return 0;
	}
	check(&t);
	if (ac_trace_link_turns(&t) == 0)
		(void)ac_trace_link_programs(&t, &err);
	ac_trace_free(&t);
	return 0;
}
