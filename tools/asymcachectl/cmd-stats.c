/* SPDX-License-Identifier: MIT */
/*
 * Counters for people, for scripts (--json) and for node_exporter's
 * textfile collector (--prometheus). The Prometheus text follows the
 * exposition format 0.0.4: HELP and TYPE once per family, before its
 * samples; no timestamps, the collector stamps the file's read time.
 */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const char stats_usage[] =
	"stats [--pool P] [--json | --prometheus]\n\n"
	"Show lookups, hits, evictions, commits, blocks by state, and TTL\n"
	"retention: blocks held pinned (against the budget) and soft, and how\n"
	"retentions ended (resumed, expired unused, dropped for an allocation),\n"
	"how many were declined, and the mean time one was held; the hit rate\n"
	"since start and of the last 300 s.\n"
	"  --pool P      pool P's blocks, counters and retention (0, [pool], by\n"
	"                default; N for [pool.N]); sessions, uptime and the 300 s\n"
	"                hit rate are the daemon's\n"
	"  --prometheus  Prometheus text exposition format, for node_exporter's\n"
	"                textfile collector: every pool, labelled pool=\"N\"; when\n"
	"                the daemon is unreachable it still prints asymcache_up 0\n"
	"                (and exits with status 3).\n";

static void prom_family(const char *name, const char *type, const char *help)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values escape backslash, double quote and newline, nothing else. */
static void prom_label_value(const char *v)
{
	putchar('"');
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			printf("\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", stdout);
		else
			putchar(*v);
	}
	putchar('"');
}

static void prom_u64(const char *name, const char *type, const char *help, uint64_t v)
{
	prom_family(name, type, help);
	printf("%s %" PRIu64 "\n", name, v);
}

enum prom_kind { PROM_U32, PROM_U64 };

#define SNAP(field)	offsetof(struct ctl_snapshot, field)

/*
 * The families that are one sample of a snapshot field: pool[] once per
 * pool, labelled pool="N" as /metrics labels them, daemon[] once.
 */
struct prom_metric {
	const char *name, *type, *help;
	size_t off;
	enum prom_kind kind;
};

static const struct prom_metric pool_metrics[] = {
	{ "asymcache_pool_blocks", "gauge", "Blocks in each pool.", SNAP(nblocks), PROM_U32 },
	{ "asymcache_pinned_blocks", "gauge",
	  "Cached blocks pinned by at least one session.", SNAP(pinned_blocks), PROM_U32 },
	{ "asymcache_retained_blocks", "gauge",
	  "Cached blocks held by TTL retentions (a subset of the pinned).",
	  SNAP(retained_blocks), PROM_U32 },
	{ "asymcache_namespaces", "gauge", "Registered namespaces.", SNAP(namespaces), PROM_U32 },
	{ "asymcache_lookups_total", "counter", "Lookup requests.", SNAP(lookups), PROM_U64 },
	{ "asymcache_lookup_keys_total", "counter", "Block keys looked up.",
	  SNAP(lookup_keys), PROM_U64 },
	{ "asymcache_lookup_hits_total", "counter", "Block keys found cached.",
	  SNAP(lookup_hits), PROM_U64 },
	{ "asymcache_evictions_total", "counter",
	  "Blocks evicted by the policy (allocation or admin evict).", SNAP(evictions), PROM_U64 },
	{ "asymcache_flushed_blocks_total", "counter",
	  "Blocks freed by namespace flushes.", SNAP(flushed), PROM_U64 },
	{ "asymcache_commits_total", "counter", "Blocks committed.", SNAP(commits), PROM_U64 },
	{ "asymcache_dedups_total", "counter",
	  "Commits answered with an existing block.", SNAP(dedups), PROM_U64 },
	{ "asymcache_recomputed_tokens_total", "counter",
	  "Estimated tokens clients had to recompute after lookup misses.",
	  SNAP(recomputed_tokens), PROM_U64 },
	{ "asymcache_retain_budget_blocks", "gauge",
	  "Blocks that TTL retentions may hold pinned (beyond it they are soft).",
	  SNAP(retain_budget_blocks), PROM_U32 },
	{ "asymcache_retained_soft_blocks", "gauge",
	  "Cached blocks under soft TTL retention (hints to the policy, not pinned).",
	  SNAP(retained_soft_blocks), PROM_U32 },
	{ "asymcache_retentions_declined_total", "counter",
	  "Retentions the daemon judged not worth the space.",
	  SNAP(retain_declined), PROM_U64 },
};

static const struct prom_metric daemon_metrics[] = {
	{ "asymcache_sessions", "gauge", "Attached client sessions.", SNAP(sessions), PROM_U32 },
	{ "asymcache_prefix_cache_window_queries", "gauge",
	  "Tokens looked up in the last 300 s, all namespaces.", SNAP(window_query_tokens),
	  PROM_U64 },
	{ "asymcache_prefix_cache_window_hits", "gauge",
	  "Tokens found cached in the last 300 s, all namespaces.", SNAP(window_hit_tokens),
	  PROM_U64 },
};

/* Mean time a retention was held, or "-" before any ended. */
static char *fmt_hold(char buf[static CTL_FMT_MAX], const struct ctl_snapshot *s)
{
	uint64_t ended = s->retain_resumed + s->retain_expired_unused + s->retain_dropped;

	if (!ended) {
		snprintf(buf, CTL_FMT_MAX, "-");
		return buf;
	}
	return fmt_duration(buf, s->retain_hold_ms * 1000 / ended);
}

static uint64_t metric_value(const struct prom_metric *m, const struct ctl_snapshot *s)
{
	const char *field = (const char *)s + m->off;
	uint64_t u64 = 0;
	uint32_t u32;

	switch (m->kind) {
	case PROM_U32:
		memcpy(&u32, field, sizeof(u32));
		u64 = u32;
		break;
	case PROM_U64:
		memcpy(&u64, field, sizeof(u64));
		break;
	}
	return u64;
}

/* HELP and TYPE, then one sample per pool (@snap[i] is pool @ids[i]'s). */
static void print_pools(const struct ctl_snapshot *snap, const uint32_t *ids, size_t n)
{
	/* As /metrics has them: pinned and evictable are subsets of cached. */
	static const char *const states[] = { "free", "writing", "cached", "pinned",
					      "evictable" };
	size_t i, k;

	for (k = 0; k < sizeof(pool_metrics) / sizeof(*pool_metrics); k++) {
		const struct prom_metric *m = &pool_metrics[k];

		prom_family(m->name, m->type, m->help);
		for (i = 0; i < n; i++)
			printf("%s{pool=\"%" PRIu32 "\"} %" PRIu64 "\n", m->name, ids[i],
			       metric_value(m, &snap[i]));
	}
	prom_family("asymcache_blocks", "gauge",
		    "Blocks of each pool by state; pinned and evictable are subsets of cached.");
	for (i = 0; i < n; i++) {
		const uint32_t counts[] = { snap[i].free_blocks, snap[i].writing_blocks,
					    snap[i].cached_blocks, snap[i].pinned_blocks,
					    snap[i].cached_blocks - snap[i].pinned_blocks };

		for (k = 0; k < sizeof(states) / sizeof(*states); k++)
			printf("asymcache_blocks{pool=\"%" PRIu32 "\",state=\"%s\"} %" PRIu32 "\n",
			       ids[i], states[k], counts[k]);
	}
	prom_family("asymcache_retentions_ended_total", "counter",
		    "TTL retentions ended, by how.");
	for (i = 0; i < n; i++) {
		const struct ctl_snapshot *s = &snap[i];

		printf("asymcache_retentions_ended_total{pool=\"%" PRIu32 "\",outcome=\"resumed\"} "
		       "%" PRIu64 "\n", ids[i], s->retain_resumed);
		printf("asymcache_retentions_ended_total{pool=\"%" PRIu32 "\","
		       "outcome=\"expired_unused\"} %" PRIu64 "\n", ids[i], s->retain_expired_unused);
		printf("asymcache_retentions_ended_total{pool=\"%" PRIu32 "\",outcome=\"dropped\"} "
		       "%" PRIu64 "\n", ids[i], s->retain_dropped);
	}
	prom_family("asymcache_retain_hold_seconds_total", "counter",
		    "Seconds TTL retentions were held, summed over them.");
	for (i = 0; i < n; i++)
		printf("asymcache_retain_hold_seconds_total{pool=\"%" PRIu32 "\"} %.3f\n", ids[i],
		       snap[i].retain_hold_ms / 1e3);
}

/* namespace="ID",model="MODEL": the labels /metrics gives a namespace. */
static void prom_ns_labels(const struct ctl_namespace *ns)
{
	printf("{namespace=\"%" PRIu32 "\",model=", ns->id);
	prom_label_value(ns->model);
	putchar('}');
}

/*
 * The per-namespace families /metrics has that a textfile can carry: the
 * hit ratio of the last 300 s (not since start: a ratio over the daemon's
 * whole life hides today's behind last week's) and the evictions.
 */
static void print_namespaces(const struct ctl_namespace *ns, size_t n)
{
	size_t i;

	prom_family("asymcache_prefix_cache_window_hit_ratio", "gauge",
		    "Token hit ratio of the last 300 s of lookups (0 when none).");
	for (i = 0; i < n; i++) {
		fputs("asymcache_prefix_cache_window_hit_ratio", stdout);
		prom_ns_labels(&ns[i]);
		printf(" %.6f\n", ns[i].window_queries ?
		       (double)ns[i].window_hits / (double)ns[i].window_queries : 0.0);
	}
	prom_family("asymcache_namespace_evictions_total", "counter",
		    "Blocks of each namespace evicted by the policy.");
	for (i = 0; i < n; i++) {
		fputs("asymcache_namespace_evictions_total", stdout);
		prom_ns_labels(&ns[i]);
		printf(" %" PRIu64 "\n", ns[i].evictions);
	}
}

/* @snap: one snapshot per pool, @snap[0] the daemon's (pool 0's). */
static void print_prometheus(const struct ctl_snapshot *snap, const uint32_t *ids, size_t n,
			     const struct ctl_namespace *ns, size_t nns)
{
	const struct ctl_snapshot *s = &snap[0];
	size_t i;

	prom_u64("asymcache_up", "gauge", "Whether the daemon answered (1) or not (0).", 1);
	prom_family("asymcache_info", "gauge", "Daemon version and active eviction policy.");
	fputs("asymcache_info{version=", stdout);
	prom_label_value(s->version);
	fputs(",policy=", stdout);
	prom_label_value(s->policy);
	puts("} 1");
	prom_u64("asymcache_uptime_seconds", "gauge", "Seconds since the daemon started.",
		 s->uptime_usec / 1000000);
	prom_family("asymcache_pool_bytes", "gauge", "Size of each KV block pool in bytes.");
	for (i = 0; i < s->npools; i++) {
		printf("asymcache_pool_bytes{pool=\"%" PRIu32 "\",backend=", s->pools[i].id);
		prom_label_value(s->pools[i].backend);
		printf(",device=\"%" PRId32 "\"} %" PRIu64 "\n", s->pools[i].device,
		       s->pools[i].bytes);
	}
	prom_family("asymcache_pool_block_bytes", "gauge", "Bytes per block of each pool.");
	for (i = 0; i < s->npools; i++)
		printf("asymcache_pool_block_bytes{pool=\"%" PRIu32 "\"} %" PRIu32 "\n",
		       s->pools[i].id, s->pools[i].block_bytes);
	print_pools(snap, ids, n);
	for (i = 0; i < sizeof(daemon_metrics) / sizeof(*daemon_metrics); i++)
		prom_u64(daemon_metrics[i].name, daemon_metrics[i].type, daemon_metrics[i].help,
			 metric_value(&daemon_metrics[i], s));
	print_namespaces(ns, nns);
}

/*
 * A snapshot of every pool the daemon lists: @ret[0] pool 0's (the
 * daemon's object), then the tenant pools', each with @ids its number.
 */
static int fetch_every_pool(struct ctl *c, struct ctl_snapshot **ret, uint32_t **ret_ids,
			    size_t *ret_n)
{
	struct ctl_snapshot first, *snap;
	uint32_t *ids;
	size_t i, n = 1;
	int r;

	r = ctl_snapshot_fetch(c, &first);
	if (r != CTL_EXIT_OK)
		return r;
	snap = calloc(first.npools + 1, sizeof(*snap));
	ids = calloc(first.npools + 1, sizeof(*ids));
	if (!snap || !ids) {
		free(snap);
		free(ids);
		ctl_snapshot_clear(&first);
		return ctl_fail(NULL, -ENOMEM, "read the pools");
	}
	snap[0] = first;
	for (i = 0; i < first.npools; i++) {
		if (first.pools[i].id == 0)
			continue;
		/* Only the pool's members: the daemon-wide ones print from snap[0]. */
		ids[n] = first.pools[i].id;
		r = ctl_pool_read(c, ids[n], &snap[n]);
		n++;
		if (r != CTL_EXIT_OK)
			break;
	}
	if (r != CTL_EXIT_OK) {
		while (n--)
			ctl_snapshot_clear(&snap[n]);
		free(snap);
		free(ids);
		return r;
	}
	*ret = snap;
	*ret_ids = ids;
	*ret_n = n;
	return CTL_EXIT_OK;
}

int cmd_stats(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "prometheus", no_argument, NULL, 'p' },
		{ "pool", required_argument, NULL, 'P' },
		{}
	};
	_cleanup_table_ struct table *t = NULL;
	struct ctl_snapshot s, *snap = NULL;
	struct ctl_namespace *ns = NULL;
	bool prometheus = false, pool_given = false;
	size_t nns = 0, nsnap = 0;
	uint32_t pool = 0, *ids = NULL;
	char a[CTL_FMT_MAX];
	int o, r;

	while ((o = getopt_long(argc, argv, ":hjpP:", opts, NULL)) >= 0) {
		if (o == 'j')
			c->json = true;
		else if (o == 'p')
			prometheus = true;
		else if (o == 'P') {
			if (parse_u32(optarg, &pool) < 0)
				return ctl_usage_error("stats", "--pool wants a pool number, not '%s'",
						       optarg);
			pool_given = true;
		} else if (o == 'h')
			return ctl_help_or_usage("stats", stats_usage, true);
		else
			return ctl_bad_option("stats", opts, argv, o);
	}
	if (optind != argc)
		return ctl_usage_error("stats", "unexpected argument '%s'", argv[optind]);
	if (prometheus && c->json)
		return ctl_usage_error("stats", "--prometheus and --json exclude each other");
	if (prometheus && pool_given)
		return ctl_usage_error("stats", "--prometheus shows every pool; leave out --pool");

	if (prometheus) {
		r = fetch_every_pool(c, &snap, &ids, &nsnap);
		if (r == CTL_EXIT_OK) {
			r = ctl_namespaces_fetch(c, &ns, &nns);
			if (r != CTL_EXIT_OK) {
				while (nsnap--)
					ctl_snapshot_clear(&snap[nsnap]);
				free(snap);
				free(ids);
			}
		}
	} else {
		r = ctl_snapshot_fetch(c, &s);
		/* Pool 0's object reads as the daemon's own: nothing to add. */
		if (r == CTL_EXIT_OK && pool) {
			r = ctl_pool_read(c, pool, &s);
			if (r != CTL_EXIT_OK)
				ctl_snapshot_clear(&s);
		}
	}
	if (r != CTL_EXIT_OK) {
		/* A scrape must see the daemon is down, not a stale file. */
		if (prometheus)
			prom_u64("asymcache_up", "gauge",
				 "Whether the daemon answered (1) or not (0).", 0);
		return r;
	}
	if (prometheus) {
		print_prometheus(snap, ids, nsnap, ns, nns);
		ctl_namespaces_free(ns, nns);
		while (nsnap--)
			ctl_snapshot_clear(&snap[nsnap]);
		free(snap);
		free(ids);
		return CTL_EXIT_OK;
	}
	if (c->json) {
		_cleanup_json_ json_object *j = ctl_snapshot_json(&s);

		if (j)
			json_object_object_add(j, "pool", json_object_new_uint64(pool));
		ctl_print_json(j);
		goto out;
	}
	t = table_new(2, "COUNTER", ">VALUE");
	if (!t)
		goto out;
	table_row(t, "pool", fmt_u64(a, pool));
	table_row(t, "lookups", fmt_u64(a, s.lookups));
	table_row(t, "lookup keys", fmt_u64(a, s.lookup_keys));
	table_row(t, "lookup hits", fmt_u64(a, s.lookup_hits));
	table_row(t, "hit rate", fmt_pct(a, (double)s.lookup_hits, (double)s.lookup_keys));
	table_row(t, "hit rate, last 300 s (tokens)",
		  fmt_pct(a, (double)s.window_hit_tokens, (double)s.window_query_tokens));
	table_row(t, "commits", fmt_u64(a, s.commits));
	table_row(t, "dedups", fmt_u64(a, s.dedups));
	table_row(t, "evictions", fmt_u64(a, s.evictions));
	table_row(t, "flushed", fmt_u64(a, s.flushed));
	table_row(t, "recomputed tokens (est.)", fmt_u64(a, s.recomputed_tokens));
	table_row(t, "free blocks", fmt_u64(a, s.free_blocks));
	table_row(t, "writing blocks", fmt_u64(a, s.writing_blocks));
	table_row(t, "cached blocks", fmt_u64(a, s.cached_blocks));
	table_row(t, "pinned blocks", fmt_u64(a, s.pinned_blocks));
	table_row(t, "retained blocks", fmt_u64(a, s.retained_blocks));
	table_row(t, "retention budget", fmt_u64(a, s.retain_budget_blocks));
	table_row(t, "retention budget used",
		  fmt_pct(a, (double)s.retained_blocks, (double)s.retain_budget_blocks));
	table_row(t, "soft-retained blocks", fmt_u64(a, s.retained_soft_blocks));
	table_row(t, "retentions resumed", fmt_u64(a, s.retain_resumed));
	table_row(t, "retentions expired unused", fmt_u64(a, s.retain_expired_unused));
	table_row(t, "retentions dropped for alloc", fmt_u64(a, s.retain_dropped));
	table_row(t, "retentions declined", fmt_u64(a, s.retain_declined));
	table_row(t, "retention hold (mean)", fmt_hold(a, &s));
	table_row(t, "sessions", fmt_u64(a, s.sessions));
	table_row(t, "uptime", fmt_duration(a, s.uptime_usec));
	table_print(t, stdout);
out:
	ctl_snapshot_clear(&s);
	return CTL_EXIT_OK;
}
