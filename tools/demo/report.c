/* SPDX-License-Identifier: MIT */
/*
 * What the parent prints: a progress line while the clients run, then the
 * per-client table, the daemon's counters and the recompute totals.
 */
#include <inttypes.h>
#include <stdio.h>

#include "demo.h"

void demo_progress(const struct demo *d, struct ac_client *mon, double t0)
{
	const struct demo_counters *c = &d->sh->total;
	struct ac_stats st = { 0 };

	if (mon)
		ac_stats(mon, &st);
	printf("[%6.2fs] req %3lu/%u | keys %7lu hit %5.1f%% | holes %5lu in %4lu runs"
	       " | tail %6lu | evictions %6lu | dedups %4lu | cached %5u pinned %4u\n",
	       demo_now_s() - t0, (unsigned long)c->requests, (unsigned)d->trace.n,
	       (unsigned long)c->prompt_blocks,
	       demo_pct(c->hit_blocks, c->prompt_blocks),
	       (unsigned long)c->hole_blocks, (unsigned long)c->hole_runs,
	       (unsigned long)c->tail_blocks, (unsigned long)st.evictions,
	       (unsigned long)c->dedups, st.cached_blocks, st.pinned_blocks);
	fflush(stdout);
}

static void row(const char *name, const struct demo_counters *c)
{
	printf("| %-7s | %5lu | %8lu | %8lu | %6.1f%% | %7lu | %5lu | %8lu | %7lu | %6lu | %6lu | %7lu |\n",
	       name, (unsigned long)c->requests, (unsigned long)c->prompt_blocks,
	       (unsigned long)c->hit_blocks, demo_pct(c->hit_blocks, c->prompt_blocks),
	       (unsigned long)c->hole_blocks, (unsigned long)c->hole_runs,
	       (unsigned long)c->tail_blocks, (unsigned long)c->written_blocks,
	       (unsigned long)c->dedups, (unsigned long)c->enospc,
	       (unsigned long)c->corrupt);
}

void demo_final_table(const struct demo *d, struct ac_client *mon,
		      double secs, struct ac_stats *ret_st)
{
	const struct demo_opts *o = &d->o;
	const struct demo_counters *t = &d->sh->total;
	struct ac_stats st = { 0 };

	printf("\n| client  | reqs  | blocks   | hits     | hit     | hole bl | runs  | tail bl  | written | dedups | ENOSPC | corrupt |\n");
	printf("|---------|-------|----------|----------|---------|---------|-------|----------|---------|--------|--------|---------|\n");
	for (unsigned i = 0; i < o->clients; i++) {
		char name[16];

		snprintf(name, sizeof(name), "demo-%u", i);
		row(name, &d->sh->per[i]);
	}
	row("total", t);
	if (mon && ac_stats(mon, &st) == 0) {
		*ret_st = st;
		printf("\ndaemon: policy %s, %u blocks (%u free, %u cached, %u pinned, %u writing),"
		       " %lu lookups, %lu commits, %lu dedups, %lu evictions\n",
		       st.policy, st.nblocks, st.free_blocks, st.cached_blocks,
		       st.pinned_blocks, st.writing_blocks,
		       (unsigned long)st.lookups, (unsigned long)st.commits,
		       (unsigned long)st.dedups, (unsigned long)st.evictions);
	}
	printf("%.2f s, %.0f requests/s; hole blocks are misses before a hit"
	       " (recomputed as MSA segments, not as a suffix)\n",
	       secs, secs > 0 ? t->requests / secs : 0.0);
	printf("recompute: MSA %" PRIu64 " tokens (est. %.3f s), prefix-only %"
	       PRIu64 " tokens (est. %.3f s); estimates from %s\n",
	       (uint64_t)(t->hole_blocks + t->tail_blocks) * o->block_tokens,
	       t->msa_ns / 1e9, (uint64_t)t->prefix_blocks * o->block_tokens,
	       t->prefix_ns / 1e9, d->cost_desc);
}
