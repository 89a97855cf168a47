/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ac_config.h"
#include "admin.h"
#include "asymcache.pb-c.h"
#include "daemon.h"
#include "metrics.h"

/* Control-path latency bucket bounds, in nanoseconds (5 us .. 100 ms). */
static const uint64_t lat_le_ns[] = {
	5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 25000000, 100000000,
};
#define LAT_NB	(sizeof(lat_le_ns) / sizeof(lat_le_ns[0]))

/* Tokens left to recompute by one lookup. */
static const uint64_t rec_le[] = { 0, 16, 64, 256, 1024, 4096, 16384, 65536, 262144 };
#define REC_NB	(sizeof(rec_le) / sizeof(rec_le[0]))

/* The request kinds, by protocol body case; the last row is "other". */
static const struct {
	int body_case;
	const char *name;
} ops[] = {
	{ ASYMCACHE__V1__REQUEST__BODY_HELLO, "hello" },
	{ ASYMCACHE__V1__REQUEST__BODY_ATTACH, "attach" },
	{ ASYMCACHE__V1__REQUEST__BODY_REGISTER_NAMESPACE, "register_namespace" },
	{ ASYMCACHE__V1__REQUEST__BODY_LOOKUP, "lookup" },
	{ ASYMCACHE__V1__REQUEST__BODY_ALLOC, "alloc" },
	{ ASYMCACHE__V1__REQUEST__BODY_COMMIT, "commit" },
	{ ASYMCACHE__V1__REQUEST__BODY_RELEASE, "release" },
	{ ASYMCACHE__V1__REQUEST__BODY_STATS, "stats" },
	{ ASYMCACHE__V1__REQUEST__BODY_RETAIN, "retain" },
	{ ASYMCACHE__V1__REQUEST__BODY_RESUME, "resume" },
	{ ASYMCACHE__V1__REQUEST__BODY_SCHEDULE, "schedule" },
	{ ASYMCACHE__V1__REQUEST__BODY_UNREGISTER_NAMESPACE, "unregister_namespace" },
	{ -1, "other" },
};
#define NOPS	(sizeof(ops) / sizeof(ops[0]))

struct hist {
	uint64_t bucket[16];	/* per bound, not cumulative; [nb] is +Inf */
	uint64_t count;
	uint64_t sum;		/* ns for latency, tokens for recompute */
};

struct slot {
	uint64_t epoch;		/* now / METRICS_SLOT_S when last written */
	uint64_t queries, hits;	/* tokens */
};

struct mns {
	uint32_t id;
	uint64_t lookups, blocks, hit_blocks, holes;
	uint64_t query_tokens, hit_tokens, recomputed_tokens;
	struct hist recomputed;
	struct slot window[METRICS_WINDOW_SLOTS];
};

struct metrics {
	struct hist latency[NOPS];
	struct mns *ns;
	uint32_t nns, cap;
	double start_time;	/* seconds since the epoch */
	uint64_t (*clock_s)(void);	/* the window's */
};

static uint64_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

uint64_t metrics_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int metrics_new(struct metrics **ret)
{
	struct metrics *m = calloc(1, sizeof(*m));
	struct timespec ts;

	if (!m)
		return -ENOMEM;
	clock_gettime(CLOCK_REALTIME, &ts);
	m->start_time = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	m->clock_s = mono_s;
	*ret = m;
	return 0;
}

void metrics_set_clock(struct metrics *m, uint64_t (*clock_s)(void))
{
	if (m)
		m->clock_s = clock_s ? clock_s : mono_s;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	free(m->ns);
	free(m);
}

static void hist_add(struct hist *h, const uint64_t *le, size_t nb, uint64_t v)
{
	size_t i = 0;

	while (i < nb && v > le[i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum += v;
}

void metrics_request(struct metrics *m, int body_case, uint64_t ns)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < NOPS - 1 && ops[i].body_case != body_case; i++)
		;
	hist_add(&m->latency[i], lat_le_ns, LAT_NB, ns);
}

static struct mns *ns_get(struct metrics *m, uint32_t id)
{
	uint32_t i;

	for (i = 0; i < m->nns; i++)
		if (m->ns[i].id == id)
			return &m->ns[i];
	if (m->nns == m->cap) {
		uint32_t cap = m->cap ? 2 * m->cap : 8;
		struct mns *n = realloc(m->ns, cap * sizeof(*n));

		if (!n)
			return NULL;	/* this lookup goes uncounted, nothing else */
		m->ns = n;
		m->cap = cap;
	}
	memset(&m->ns[m->nns], 0, sizeof(m->ns[0]));
	m->ns[m->nns].id = id;
	return &m->ns[m->nns++];
}

void metrics_lookup(struct metrics *m, uint32_t ns_id, uint32_t blocks, uint32_t hits,
		    uint32_t holes, uint32_t block_tokens)
{
	uint64_t epoch, missed;
	struct mns *n;
	struct slot *s;

	if (!m || !(n = ns_get(m, ns_id)))
		return;
	missed = (uint64_t)(blocks - hits) * block_tokens;
	n->lookups++;
	n->blocks += blocks;
	n->hit_blocks += hits;
	n->holes += holes;
	n->query_tokens += (uint64_t)blocks * block_tokens;
	n->hit_tokens += (uint64_t)hits * block_tokens;
	n->recomputed_tokens += missed;
	hist_add(&n->recomputed, rec_le, REC_NB, missed);
	epoch = m->clock_s() / METRICS_SLOT_S;
	s = &n->window[epoch % METRICS_WINDOW_SLOTS];
	if (s->epoch != epoch) {
		s->epoch = epoch;
		s->queries = 0;
		s->hits = 0;
	}
	s->queries += (uint64_t)blocks * block_tokens;
	s->hits += (uint64_t)hits * block_tokens;
}

/* Sums the slots written within the last window. */
static void window_sum(const struct mns *n, uint64_t now_epoch, uint64_t *q, uint64_t *h)
{
	size_t i;

	for (i = 0; i < METRICS_WINDOW_SLOTS; i++) {
		const struct slot *s = &n->window[i];

		if (s->epoch + METRICS_WINDOW_SLOTS > now_epoch) {
			*q += s->queries;
			*h += s->hits;
		}
	}
}

void metrics_window(const struct metrics *m, uint32_t ns_id, uint64_t *ret_queries,
		    uint64_t *ret_hits)
{
	uint64_t now_epoch = m ? m->clock_s() / METRICS_SLOT_S : 0;
	uint32_t i;

	*ret_queries = *ret_hits = 0;
	for (i = 0; m && i < m->nns; i++)
		if (!ns_id || m->ns[i].id == ns_id)
			window_sum(&m->ns[i], now_epoch, ret_queries, ret_hits);
}

/* ---- text ----------------------------------------------------------- */

struct out {
	FILE *f;
	bool om;
};

/*
 * HELP and TYPE. A counter's family is named without _total in
 * OpenMetrics and with it in the Prometheus text format.
 */
static void family(struct out *o, const char *name, const char *type, const char *help)
{
	bool counter = strcmp(type, "counter") == 0;
	const char *sfx = counter && !o->om ? "_total" : "";

	fprintf(o->f, "# HELP %s%s %s\n# TYPE %s%s %s\n", name, sfx, help, name, sfx, type);
}

static void label_value(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

/* One sample of a family: @labels already written as k="v",... or "". */
static void sample(struct out *o, const char *name, const char *suffix, const char *labels,
		   uint64_t v)
{
	fprintf(o->f, "%s%s%s%s%s %" PRIu64 "\n", name, suffix, *labels ? "{" : "", labels,
		*labels ? "}" : "", v);
}

static void sample_f(struct out *o, const char *name, const char *labels, double v)
{
	fprintf(o->f, "%s%s%s%s %.17g\n", name, *labels ? "{" : "", labels, *labels ? "}" : "", v);
}

/* @le and @scale: bound i is le[i] / scale ("+Inf" after the last). */
static void histogram(struct out *o, const char *name, const char *labels,
		      const struct hist *h, const uint64_t *le, size_t nb, double scale)
{
	char lab[512];
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i <= nb; i++) {
		cum += h->bucket[i];
		if (i < nb)
			snprintf(lab, sizeof(lab), "%s%sle=\"%.9g\"", labels, *labels ? "," : "",
				 (double)le[i] / scale);
		else
			snprintf(lab, sizeof(lab), "%s%sle=\"+Inf\"", labels, *labels ? "," : "");
		sample(o, name, "_bucket", lab, cum);
	}
	if (scale == 1.0)
		sample(o, name, "_sum", labels, h->sum);
	else
		fprintf(o->f, "%s_sum%s%s%s %.17g\n", name, *labels ? "{" : "", labels,
			*labels ? "}" : "", (double)h->sum / scale);
	sample(o, name, "_count", labels, h->count);
}

struct ns_walk {
	struct metrics *m;
	struct out *o;
	const char *family;
	int what;
};

enum {
	NS_LOOKUPS, NS_BLOCKS, NS_HIT_BLOCKS, NS_HOLES, NS_QUERIES, NS_HITS, NS_RECOMPUTED,
	NS_CACHED, NS_WINDOW, NS_EVICTIONS, NS_RECOMPUTED_HIST,
};

static int ns_row(const struct daemon_ns_info *i, void *userdata)
{
	struct ns_walk *w = userdata;
	struct mns zero = { 0 }, *n = NULL;
	char labels[256], *p;
	size_t len;
	FILE *f;
	uint32_t k;

	for (k = 0; k < w->m->nns; k++)
		if (w->m->ns[k].id == i->ns_id)
			n = &w->m->ns[k];
	if (!n)
		n = &zero;
	f = open_memstream(&p, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "namespace=\"%u\",model=\"", i->ns_id);
	label_value(f, i->layout->model_id);
	fputc('"', f);
	fclose(f);
	snprintf(labels, sizeof(labels), "%s", p);
	free(p);
	switch (w->what) {
	case NS_LOOKUPS: sample(w->o, w->family, "_total", labels, n->lookups); break;
	case NS_BLOCKS: sample(w->o, w->family, "_total", labels, n->blocks); break;
	case NS_HIT_BLOCKS: sample(w->o, w->family, "_total", labels, n->hit_blocks); break;
	case NS_HOLES: sample(w->o, w->family, "_total", labels, n->holes); break;
	case NS_QUERIES: sample(w->o, w->family, "_total", labels, n->query_tokens); break;
	case NS_HITS: sample(w->o, w->family, "_total", labels, n->hit_tokens); break;
	case NS_RECOMPUTED: sample(w->o, w->family, "_total", labels, n->recomputed_tokens); break;
	case NS_CACHED: sample(w->o, w->family, "", labels, i->cached); break;
	case NS_WINDOW:
		sample_f(w->o, w->family, labels,
			 i->window_queries ? (double)i->window_hits / (double)i->window_queries : 0.0);
		break;
	case NS_EVICTIONS: sample(w->o, w->family, "_total", labels, i->evictions); break;
	case NS_RECOMPUTED_HIST:
		histogram(w->o, w->family, labels, &n->recomputed, rec_le, REC_NB, 1.0);
		break;
	}
	return 0;
}

static void per_ns(struct metrics *m, struct daemon *d, struct out *o, const char *name,
		   const char *type, const char *help, int what)
{
	struct ns_walk w = { .m = m, .o = o, .family = name, .what = what };

	family(o, name, type, help);
	daemon_foreach_namespace(d, ns_row, &w);
}

static void counter(struct out *o, const char *name, const char *help, uint64_t v)
{
	family(o, name, "counter", help);
	sample(o, name, "_total", "", v);
}

static void gauge(struct out *o, const char *name, const char *help, uint64_t v)
{
	family(o, name, "gauge", help);
	sample(o, name, "", "", v);
}

/*
 * A pool's gauges and counters, read at their offsets in struct
 * daemon_pool as the D-Bus pool objects read them (bus.c); one sample per
 * pool, labelled pool="N".
 */
#define POOL_FIELD(f) \
	offsetof(struct daemon_pool, f), sizeof(((struct daemon_pool *)0)->f)

static const struct pool_family {
	const char *name, *type, *help;
	size_t off, size;	/* a uint32_t or a uint64_t */
} pool_families[] = {
	{ "asymcache_pool_blocks", "gauge", "Blocks in each pool.",
	  POOL_FIELD(cache.nblocks) },
	{ "asymcache_retained_blocks", "gauge",
	  "Cached blocks of each pool held by TTL retentions (a subset of the pinned).",
	  POOL_FIELD(retained_blocks) },
	{ "asymcache_evictions", "counter",
	  "Blocks evicted by the policy (allocation or admin evict), by pool.",
	  POOL_FIELD(cache.ctr.evictions) },
	{ "asymcache_flushed_blocks", "counter", "Blocks freed by namespace flushes, by pool.",
	  POOL_FIELD(cache.ctr.flushed) },
	{ "asymcache_commits", "counter",
	  "Blocks committed, deduplicated ones included, by pool.",
	  POOL_FIELD(cache.ctr.commits) },
	{ "asymcache_dedups", "counter", "Commits answered with an existing block, by pool.",
	  POOL_FIELD(cache.ctr.dedups) },
};

static void per_pool(struct out *o, const struct daemon *d, const struct pool_family *pf)
{
	bool counter = strcmp(pf->type, "counter") == 0;
	char lab[32];
	uint32_t i;

	family(o, pf->name, pf->type, pf->help);
	for (i = 0; i < d->npools; i++) {
		const char *field = (const char *)&d->pools[i] + pf->off;
		uint64_t v;

		v = pf->size == sizeof(uint64_t) ? *(const uint64_t *)field :
						   *(const uint32_t *)field;
		snprintf(lab, sizeof(lab), "pool=\"%" PRIu32 "\"", d->pools[i].index);
		sample(o, pf->name, counter ? "_total" : "", lab, v);
	}
}

static void pool_states(struct out *o, const struct daemon *d)
{
	static const struct {
		const char *name;
		size_t off;
	} states[] = {
		{ "free", offsetof(struct daemon_block_counts, free) },
		{ "writing", offsetof(struct daemon_block_counts, writing) },
		{ "cached", offsetof(struct daemon_block_counts, cached) },
		{ "pinned", offsetof(struct daemon_block_counts, pinned) },
		{ "evictable", offsetof(struct daemon_block_counts, evictable) },
	};
	char lab[64];
	uint32_t i;
	size_t k;

	family(o, "asymcache_blocks", "gauge",
	       "Blocks of each pool by state; pinned and evictable are subsets of cached.");
	for (i = 0; i < d->npools; i++) {
		struct daemon_block_counts b;

		daemon_get_block_counts(&d->pools[i], &b);
		for (k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
			snprintf(lab, sizeof(lab), "pool=\"%" PRIu32 "\",state=\"%s\"",
				 d->pools[i].index, states[k].name);
			sample(o, "asymcache_blocks", "", lab,
			       *(const uint32_t *)((const char *)&b + states[k].off));
		}
	}
}

int metrics_render(struct metrics *m, struct daemon *d, bool openmetrics, FILE *f)
{
	struct out o = { .f = f, .om = openmetrics };
	uint64_t q = 0, h = 0;
	char lab[64];
	uint32_t i;

	gauge(&o, "asymcache_up", "Whether the daemon answered the scrape (always 1 here).", 1);
	/* OpenMetrics has an info type (and reserves _info for it). */
	if (openmetrics)
		family(&o, "asymcache_build", "info", "Version of the daemon, as a label.");
	else
		family(&o, "asymcache_build_info", "gauge", "Version of the daemon, as a label.");
	fprintf(f, "asymcache_build_info{version=\"%s\"} 1\n", AC_VERSION);
	family(&o, "asymcache_start_time_seconds", "gauge",
	       "When the daemon started, in seconds since the Unix epoch.");
	sample_f(&o, "asymcache_start_time_seconds", "", m->start_time);

	/* Every pool, pool 0 ([pool]) and the tenant pools ([pool.N]), by its index. */
	for (i = 0; i < sizeof(pool_families) / sizeof(pool_families[0]); i++)
		per_pool(&o, d, &pool_families[i]);
	pool_states(&o, d);
	gauge(&o, "asymcache_sessions", "Attached client sessions.", d->nsessions);
	counter(&o, "asymcache_sessions_accepted", "Client sessions accepted.",
		d->ctr.sessions_accepted);
	counter(&o, "asymcache_sessions_refused", "Client sessions refused (group, max_sessions).",
		d->ctr.sessions_refused);
	counter(&o, "asymcache_request_errors", "Requests answered with an error.", d->ctr.errors);

	per_ns(m, d, &o, "asymcache_lookups", "counter", "Lookup requests.", NS_LOOKUPS);
	per_ns(m, d, &o, "asymcache_lookup_blocks", "counter", "Blocks looked up.", NS_BLOCKS);
	per_ns(m, d, &o, "asymcache_lookup_hit_blocks", "counter", "Blocks found cached.",
	       NS_HIT_BLOCKS);
	per_ns(m, d, &o, "asymcache_lookup_holes", "counter",
	       "Runs of missing blocks with a cached block after them (holes MSA fills).", NS_HOLES);
	per_ns(m, d, &o, "asymcache_prefix_cache_queries", "counter",
	       "Tokens looked up (blocks times the namespace's block_tokens).", NS_QUERIES);
	per_ns(m, d, &o, "asymcache_prefix_cache_hits", "counter", "Tokens found cached.", NS_HITS);
	per_ns(m, d, &o, "asymcache_recomputed_tokens", "counter",
	       "Tokens lookups found missing, which the client recomputes.", NS_RECOMPUTED);
	per_ns(m, d, &o, "asymcache_namespace_cached_blocks", "gauge",
	       "Cached blocks of each namespace.", NS_CACHED);
	per_ns(m, d, &o, "asymcache_prefix_cache_window_hit_ratio", "gauge",
	       "Token hit ratio of the last 300 s of lookups (0 when none).", NS_WINDOW);
	per_ns(m, d, &o, "asymcache_namespace_evictions", "counter",
	       "Blocks of each namespace evicted by the policy.", NS_EVICTIONS);
	metrics_window(m, 0, &q, &h);
	gauge(&o, "asymcache_prefix_cache_window_queries",
	      "Tokens looked up in the last 300 s, all namespaces.", q);
	gauge(&o, "asymcache_prefix_cache_window_hits",
	      "Tokens found cached in the last 300 s, all namespaces.", h);
	per_ns(m, d, &o, "asymcache_lookup_recomputed_tokens", "histogram",
	       "Tokens each lookup left to recompute.", NS_RECOMPUTED_HIST);

	family(&o, "asymcache_request_duration_seconds", "histogram",
	       "Time from a control request's arrival to its answer being queued, by kind.");
	for (i = 0; i < NOPS; i++) {
		snprintf(lab, sizeof(lab), "op=\"%s\"", ops[i].name);
		histogram(&o, "asymcache_request_duration_seconds", lab, &m->latency[i],
			  lat_le_ns, LAT_NB, 1e9);
	}
	if (openmetrics)
		fputs("# EOF\n", f);
	return ferror(f) ? -EIO : 0;
}
