/* SPDX-License-Identifier: MIT */
/*
 * Workload generators: synthetic traces in the Mooncake JSON-lines format
 * (data/traces/README.md) that the simulator and the engine's replay read
 * through workload/. Every generator is a pure function of its config and
 * seed: the same seed writes the same bytes on every machine. See
 * docs/workloads.md for what each mix models and why.
 */
#ifndef AC_WL_H
#define AC_WL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define WL_NONE UINT32_MAX

/* splitmix64: small, seedable, identical everywhere. */
struct wl_rng {
	uint64_t s;
};

void wl_rng_seed(struct wl_rng *r, uint64_t seed);
uint64_t wl_next(struct wl_rng *r);
double wl_uniform(struct wl_rng *r);			/* in (0, 1) */
uint32_t wl_range(struct wl_rng *r, uint32_t lo, uint32_t hi);	/* [lo, hi] */
double wl_exp(struct wl_rng *r, double mean);
double wl_lognormal(struct wl_rng *r, double median, double sigma);
uint32_t wl_loguniform(struct wl_rng *r, uint32_t lo, uint32_t hi);
uint64_t wl_mix(uint64_t x);

/* Zipf over n items: item 0 the most popular, P(k) ~ 1 / (k + 1)^alpha. */
struct wl_zipf {
	double *cdf;
	uint32_t n;
};

int wl_zipf_init(struct wl_zipf *z, uint32_t n, double alpha);
uint32_t wl_zipf_draw(const struct wl_zipf *z, struct wl_rng *r);
void wl_zipf_free(struct wl_zipf *z);

/* A run of prompt text: @len tokens of the content named @content. */
struct wl_span {
	uint64_t content;
	uint32_t len;
};

/* Names a piece of content; the salt keeps tenants' contents apart. */
enum wl_kind {
	WL_SYS = 1, WL_DOC, WL_QUESTION, WL_SCAN, WL_USER, WL_OUTPUT,
	WL_TASK, WL_RESULT,
};
uint64_t wl_content(uint64_t salt, enum wl_kind kind, uint64_t a, uint64_t b);

struct wl_rec {
	uint64_t ts_ms;
	uint64_t seq;		/* generation order: ties keep it */
	uint32_t input, output;
	uint32_t *ids;
	uint32_t nids;
	uint32_t ns;		/* 0: not written */
	uint32_t program;	/* WL_NONE: not written */
	uint32_t turn;
	int64_t tool_ms;	/* < 0: not written */
	int64_t tool_expect_ms;
};

struct wl_key;

/*
 * Records and the hash-id interning: block k of a prompt gets the id of
 * (id of block k - 1, digest of the content its tokens are), so ids name
 * whole prefixes as Mooncake's do, and stay dense (0, 1, 2...).
 */
struct wl_trace {
	struct wl_rec *recs;
	size_t n, cap;
	struct wl_key *map;
	size_t map_n, map_cap;
	uint32_t next_id;
};

void wl_trace_init(struct wl_trace *t);
void wl_trace_free(struct wl_trace *t);
/*
 * Append a record whose prompt is @spans (input = their total length,
 * > 0); @proto gives every other field. 0, -EINVAL, -ENOMEM.
 */
int wl_trace_add(struct wl_trace *t, const struct wl_span *spans,
		 uint32_t nspans, const struct wl_rec *proto);
/* Sort by timestamp (ties in generation order) and write JSON lines. */
int wl_trace_write(struct wl_trace *t, FILE *f);

/*
 * Long-document / RAG mix: questions over documents of doc_min..doc_max
 * tokens drawn with Zipf popularity, one-off scans of documents never seen
 * again, and multi-turn chats, after a shared system prompt; Poisson
 * arrivals.
 */
struct wl_rag_config {
	uint64_t seed;
	uint32_t requests;
	double rate;		/* arrivals a second */
	uint32_t docs;		/* corpus */
	double zipf_alpha;
	uint32_t doc_min, doc_max;	/* tokens, log-uniform */
	double share_qa, share_scan;	/* the rest are chat turns */
	uint32_t sys_tokens;
	uint32_t ns;		/* namespace written (0: none) */
	uint64_t salt;		/* the namespace's content salt */
	uint64_t start_ms;
};

void wl_rag_default(struct wl_rag_config *c);
int wl_rag(const struct wl_rag_config *c, struct wl_trace *t);

/* Several tenants, each a RAG mix with its own corpus, salt and rate. */
struct wl_tenants_config {
	struct wl_rag_config mix;	/* per tenant, requests = the total */
	uint32_t tenants;
	double skew;		/* tenant i's share ~ 1 / (i + 1)^skew */
};

void wl_tenants_default(struct wl_tenants_config *c);
int wl_tenants(const struct wl_tenants_config *c, struct wl_trace *t);

/*
 * Agent programs: turns_min..turns_max turns, each after a tool call of
 * one of the tool kinds (lognormal around the kind's median, scaled by
 * tool_scale), on a system prompt shared by the programs of one agent
 * kind; each turn's prompt is the previous one plus its output and the
 * tool's result, so contexts grow.
 */
struct wl_agent_config {
	uint64_t seed;
	uint32_t programs;
	double rate;		/* program starts a second */
	uint32_t turns_min, turns_max;
	uint32_t agent_kinds;
	uint32_t sys_tokens;
	uint32_t task_min, task_max;
	uint32_t result_min, result_max;	/* log-uniform */
	uint32_t out_min, out_max;
	double tool_scale;	/* multiplies every tool kind's median */
	double tool_sigma;
};

/* Tool kinds' median seconds: from a quick lookup to a minute-long build. */
#define WL_TOOL_KINDS 6
extern const double wl_tool_median_s[WL_TOOL_KINDS];

void wl_agent_default(struct wl_agent_config *c);
int wl_agent(const struct wl_agent_config *c, struct wl_trace *t);

/*
 * A conversation window: every turn of @conversations conversations of
 * the trace at @trace, drawn uniformly with @seed (turns linked by prefix
 * containment), in arrival order, timestamps from 0, the trace's own hash
 * ids. -ERANGE: the trace has fewer conversations; a read error of the
 * trace as ac_trace_load() gives it, explained in @err.
 */
struct ac_trace_error;

struct wl_conv_config {
	uint64_t seed;
	const char *trace;
	uint32_t conversations;
};

int wl_conv(const struct wl_conv_config *c, FILE *f,
	    struct ac_trace_error *err);

#endif
