/* SPDX-License-Identifier: MIT */
/*
 * A window of a conversation trace that keeps its reuse: whole
 * conversations sampled at random, not a slice of time. A slice of a few
 * minutes of the conversation trace hits 5-16% of its blocks even with an
 * unlimited cache, because a conversation's next turn comes minutes later;
 * the whole hour hits 37%. Taking every turn of a random set of
 * conversations (turns linked by prefix containment, as the simulator's
 * agent view does) keeps that reuse in a window small enough to replay on
 * a GPU in seconds; the replay's --speed then compresses its time to the
 * load a run wants.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>

#include "trace.h"
#include "wl.h"

int wl_conv(const struct wl_conv_config *c, FILE *f,
	    struct ac_trace_error *err)
{
	struct ac_trace t;
	uint32_t *heads = NULL, nheads = 0;
	bool *keep = NULL;
	struct wl_rng rng;
	double t0 = -1;
	int r;

	if (!c->trace || !c->conversations)
		return -EINVAL;
	r = ac_trace_load(c->trace, 0, &t, err);
	if (r < 0)
		return r;
	r = ac_trace_link_turns(&t);
	if (r < 0)
		goto out;
	heads = malloc(t.n * sizeof(*heads));
	keep = calloc(t.n, sizeof(*keep));
	if (!heads || !keep) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < t.n; i++)
		if (t.reqs[i].session == i)
			heads[nheads++] = (uint32_t)i;
	if (c->conversations > nheads) {
		r = -ERANGE;
		goto out;
	}
	/* Partial Fisher-Yates: the first k heads are a uniform sample. */
	wl_rng_seed(&rng, c->seed);
	for (uint32_t k = 0; k < c->conversations; k++) {
		uint32_t j = wl_range(&rng, k, nheads - 1), h = heads[j];

		heads[j] = heads[k];
		heads[k] = h;
		keep[h] = true;
	}
	for (size_t i = 0; i < t.n; i++) {
		const struct ac_trace_req *q = &t.reqs[i];

		if (!keep[q->session])
			continue;
		if (t0 < 0)
			t0 = q->arrival_s;
		fprintf(f, "{\"timestamp\": %.0f, \"input_length\": %" PRIu32
			", \"output_length\": %" PRIu32 ", \"hash_ids\": [",
			(q->arrival_s - t0) * 1e3, q->input, q->output);
		for (uint32_t k = 0; k < q->nhash; k++)
			fprintf(f, "%s%" PRIu32, k ? ", " : "", q->hash[k]);
		fputs("]}\n", f);
	}
	r = ferror(f) ? -EIO : 0;
out:
	free(heads);
	free(keep);
	ac_trace_free(&t);
	return r;
}
