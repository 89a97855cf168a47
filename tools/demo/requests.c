/* SPDX-License-Identifier: MIT */
/*
 * The requests the clients replay: the first --requests of the trace, or,
 * when the trace file cannot be opened, the synthetic stand-in, with a line
 * that says so. A trace that opens but does not parse stops the demo: its
 * numbers would be wrong without a word.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "demo.h"

int demo_requests_load(struct demo *d)
{
	const struct demo_opts *o = &d->o;
	struct ac_trace_error err;
	FILE *f = fopen(o->trace, "re");
	int r;

	if (!f) {
		printf("trace %s: %s; using a generated synthetic workload"
		       " (conversations of %d turns)\n", o->trace,
		       strerror(errno), DEMO_SYNTH_TURNS);
		r = demo_synth_trace(o->requests, &d->trace);
		if (r < 0)
			fprintf(stderr, "asymcache-demo: synthetic workload: %s\n",
				strerror(-r));
		return r;
	}
	r = ac_trace_read(f, o->requests, &d->trace, &err);
	fclose(f);
	if (r < 0) {
		fprintf(stderr, "asymcache-demo: trace %s: %s\n", o->trace,
			err.why);
		return r;
	}
	printf("trace %s: first %zu requests\n", o->trace, d->trace.n);
	return 0;
}
