/* SPDX-License-Identifier: MIT */
/*
 * What /metrics shows beyond the cache's own counters: counts per
 * namespace in blocks and in tokens (prefix_cache_queries/hits, as vLLM
 * names them), holes, recomputed tokens, a hit ratio over a sliding
 * window, and histograms of control-path latency and of the tokens each
 * lookup leaves to recompute. The daemon keeps them from start to stop,
 * with or without the HTTP endpoint: ListNamespaces carries the window to
 * asymcachectl. Every call takes a NULL @m (no daemon core) as nothing.
 *
 * Threading: the event-loop thread only, like the rest of the daemon.
 */
#ifndef AC_DAEMON_METRICS_H
#define AC_DAEMON_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct daemon;
struct metrics;

/* The hit-ratio window: METRICS_WINDOW_SLOTS slots of METRICS_SLOT_S seconds. */
#define METRICS_SLOT_S		10
#define METRICS_WINDOW_SLOTS	30

int metrics_new(struct metrics **ret);
void metrics_free(struct metrics *m);

/*
 * The clock the hit-ratio window reads, in whole seconds (CLOCK_MONOTONIC
 * by default); tests set their own to see the window move.
 */
void metrics_set_clock(struct metrics *m, uint64_t (*clock_s)(void));

/* CLOCK_MONOTONIC in ns, for timing a request. */
uint64_t metrics_now_ns(void);
/* One control request of protocol body case @body_case took @ns. */
void metrics_request(struct metrics *m, int body_case, uint64_t ns);
/*
 * A lookup in namespace @ns_id of @blocks keys, @hits found, @holes runs
 * of misses followed by a hit; @block_tokens tokens a block.
 */
void metrics_lookup(struct metrics *m, uint32_t ns_id, uint32_t blocks, uint32_t hits,
		    uint32_t holes, uint32_t block_tokens);

/*
 * Tokens looked up and found in the last METRICS_WINDOW_SLOTS *
 * METRICS_SLOT_S seconds: of namespace @ns_id, or of all (0), ended
 * namespaces included.
 */
void metrics_window(const struct metrics *m, uint32_t ns_id, uint64_t *ret_queries,
		    uint64_t *ret_hits);

/*
 * Writes every family to @out: the Prometheus text format 0.0.4, or
 * OpenMetrics 1.0.0 when @openmetrics. 0 or -errno.
 */
int metrics_render(struct metrics *m, struct daemon *d, bool openmetrics, FILE *out);

#endif /* AC_DAEMON_METRICS_H */
