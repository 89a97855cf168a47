/* SPDX-License-Identifier: MIT */
/*
 * --compare: one row per policy from a file of summary lines, and the
 * "best" row. Reads the file only; a line that is not a demo summary stops
 * it with file:line and the reason, before any table is printed.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"

#define MAX_POLICIES	8	/* rows of a table */

/* Names of the rows that share the best value of a column. */
static void best_of(const struct demo_summary *sm, size_t n, const double *v,
		    bool higher, char *out, size_t outsz)
{
	double best = v[0];
	size_t len = 0;

	for (size_t i = 1; i < n; i++)
		if (higher ? v[i] > best : v[i] < best)
			best = v[i];
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (v[i] != best)
			continue;
		len += snprintf(out + len, len < outsz ? outsz - len : 0,
				"%s%s", len ? "=" : "", sm[i].policy);
		if (len >= outsz)
			break;
	}
}

enum { COL_HIT, COL_MSA_TOK, COL_PREFIX_TOK, COL_MSA_S, COL_PREFIX_S,
       COL_EVICT, COL_CORRUPT, NCOLS };

int demo_compare(const char *path)
{
	static const bool higher[NCOLS] = { [COL_HIT] = true };
	struct demo_summary sm[MAX_POLICIES];
	double v[NCOLS][MAX_POLICIES];
	char best[NCOLS][64];
	char *line = NULL;
	size_t cap = 0, n = 0;
	unsigned lineno = 0;
	ssize_t len;
	FILE *f;
	int r = 0;

	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "asymcache-demo: %s: %s\n", path, strerror(errno));
		return 1;
	}
	while ((len = getline(&line, &cap, f)) > 0) {
		const char *why;

		lineno++;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!len || line[0] == '#')
			continue;
		if (n == MAX_POLICIES) {
			fprintf(stderr, "asymcache-demo: %s:%u: more than %d runs\n",
				path, lineno, MAX_POLICIES);
			r = 1;
			goto out;
		}
		if (demo_summary_parse(line, &sm[n], &why) < 0) {
			fprintf(stderr, "asymcache-demo: %s:%u: not a demo summary"
				" line (%s)\n", path, lineno, why);
			r = 1;
			goto out;
		}
		n++;
	}
	if (!n) {
		fprintf(stderr, "asymcache-demo: %s: no summary lines\n", path);
		r = 1;
		goto out;
	}

	/*
	 * Rounded to the digits printed, so that "best" names exactly the
	 * rows a reader sees as best, ties included.
	 */
	for (size_t i = 0; i < n; i++) {
		const struct demo_summary *s = &sm[i];

		v[COL_HIT][i] = round(demo_pct(s->hits, s->blocks) * 100) / 100;
		v[COL_MSA_TOK][i] = (double)(s->hole_blocks + s->tail_blocks) *
				    s->block_tokens;
		v[COL_PREFIX_TOK][i] = (double)s->prefix_blocks * s->block_tokens;
		v[COL_MSA_S][i] = round(s->msa_ns / 1e7) / 100;
		v[COL_PREFIX_S][i] = round(s->prefix_ns / 1e7) / 100;
		v[COL_EVICT][i] = s->evictions;
		v[COL_CORRUPT][i] = s->corrupt;
	}
	for (int c = 0; c < NCOLS; c++)
		best_of(sm, n, v[c], higher[c], best[c], sizeof(best[c]));

	printf("\n== policy comparison: %" PRIu64 " requests, %" PRIu64
	       " clients%s, %" PRIu64 "-token blocks, same pool, fresh daemon per policy ==\n\n",
	       sm[0].requests, sm[0].clients,
	       sm[0].lockstep ? " in lockstep" : " free-running",
	       sm[0].block_tokens);
	printf("| policy   | hit rate | hole blocks | hole runs | tail blocks |"
	       " MSA tokens | prefix-only tokens | MSA est. s | prefix-only est. s |"
	       " MSA saves | evictions | dedups | corrupt |\n");
	printf("|----------|---------:|------------:|----------:|------------:|"
	       "-----------:|-------------------:|-----------:|-------------------:|"
	       "----------:|----------:|-------:|--------:|\n");
	for (size_t i = 0; i < n; i++) {
		const struct demo_summary *s = &sm[i];

		printf("| %-8s | %7.2f%% | %11" PRIu64 " | %9" PRIu64 " | %11" PRIu64
		       " | %10.0f | %18.0f | %10.2f | %18.2f | %8.1f%% | %9" PRIu64
		       " | %6" PRIu64 " | %7" PRIu64 " |\n",
		       s->policy, v[COL_HIT][i], s->hole_blocks, s->hole_runs,
		       s->tail_blocks, v[COL_MSA_TOK][i], v[COL_PREFIX_TOK][i],
		       v[COL_MSA_S][i], v[COL_PREFIX_S][i],
		       s->prefix_ns ?
		       100.0 * (1 - (double)s->msa_ns / s->prefix_ns) : 0.0,
		       s->evictions, s->dedups, s->corrupt);
	}
	printf("| best     | %8s | %11s | %9s | %11s | %10s | %18s | %10s | %18s |"
	       " %9s | %9s | %6s | %7s |\n",
	       best[COL_HIT], "-", "-", "-", best[COL_MSA_TOK],
	       best[COL_PREFIX_TOK], best[COL_MSA_S], best[COL_PREFIX_S], "-",
	       best[COL_EVICT], "-", best[COL_CORRUPT]);

	printf("\nhit rate: blocks found in the pool / prompt blocks looked up."
	       " hole blocks/runs: misses with a hit later in the prompt (MSA"
	       " recomputes each run as one query segment); tail: misses after the"
	       " last hit. MSA tokens = holes + tail; prefix-only tokens = everything"
	       " from the first miss on (hits after it are thrown away).\n");
	printf("est. s: NOT measured on a GPU here. Seconds of Llama-3-8B prefill"
	       " that recomputing those tokens would take on one H200, summed over"
	       " all requests, from the cost model (linear + attention at each"
	       " segment's position + per-segment overhead): %s.\n", sm[0].costs);
	printf("best: highest hit rate, fewest tokens/seconds/evictions/corrupt"
	       " ('=' joins ties; '-' = no better direction). %s\n",
	       sm[0].lockstep ?
	       "Lockstep: requests reach the pool in trace order; only the"
	       " daemon's wall-clock reads (pensieve's idle times) still vary." :
	       "Free-running: the clients interleave differently on every run,"
	       " so the numbers move between runs.");
	for (size_t i = 0; i < n; i++) {
		if (sm[i].errors || sm[i].enospc)
			printf("note: %s had %" PRIu64 " errors and %" PRIu64
			       " ENOSPC skips\n", sm[i].policy, sm[i].errors,
			       sm[i].enospc);
		if (strcmp(sm[i].costs, sm[0].costs) ||
		    sm[i].requests != sm[0].requests ||
		    sm[i].block_tokens != sm[0].block_tokens ||
		    sm[i].lockstep != sm[0].lockstep ||
		    sm[i].clients != sm[0].clients)
			printf("WARNING: %s ran a different workload or cost model"
			       " than %s; its row does not compare\n",
			       sm[i].policy, sm[0].policy);
		if (sm[i].corrupt)
			r = 1;
	}
out:
	free(line);
	fclose(f);
	return r;
}
