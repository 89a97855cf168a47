/* SPDX-License-Identifier: MIT */
/*
 * asymcache-demo: N client processes share one pool and replay the first
 * requests of a multi-turn trace (Mooncake conversation_trace.jsonl): each
 * hash id becomes a deterministic run of 512 token ids, prompts are keyed
 * in 16-token blocks, and every request does lookup -> alloc (holes and
 * tail) -> write KV bytes -> commit -> release. No model runs: the "KV" of
 * a block is a pattern derived from its key, which lets every hit be
 * checked byte for byte, so the demo also shows that nothing is lost.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "asymcache/asymcache.h"
#include "cost_model.h"

#define HASH_BLOCK_TOKENS	512	/* the trace's unit of sharing */
#define MAX_CLIENTS		64
#define CHUNK_BLOCKS		256	/* blocks allocated per alloc call */
#define MAX_KEYS		8192	/* daemon's default max_keys_per_lookup */
#define MAX_POLICIES		8	/* rows of a --compare table */

#ifndef AC_DEMO_COSTS
#define AC_DEMO_COSTS "policy/costs/h200-llama-3-8b-measured.json"
#endif

struct request {
	uint32_t ntokens;
	uint32_t nhash;
	uint32_t *hash_ids;
};

/* Counters shared by all client processes (MAP_SHARED). */
struct counters {
	_Atomic uint64_t requests;
	_Atomic uint64_t prompt_blocks;
	_Atomic uint64_t hit_blocks;
	_Atomic uint64_t hole_blocks;		/* misses before the last hit */
	_Atomic uint64_t hole_runs;
	_Atomic uint64_t tail_blocks;		/* misses after the last hit */
	_Atomic uint64_t prefix_blocks;		/* first miss to the end */
	_Atomic uint64_t msa_ns;		/* est. recompute of holes + tail */
	_Atomic uint64_t prefix_ns;		/* est. recompute from first miss */
	_Atomic uint64_t written_blocks;
	_Atomic uint64_t dedups;
	_Atomic uint64_t enospc;
	_Atomic uint64_t corrupt;
	_Atomic uint64_t errors;
};

struct shared {
	struct counters total;
	struct counters per[MAX_CLIENTS];
	char errmsg[256];
	/*
	 * --lockstep: the index of the request whose turn it is, a futex
	 * shared by the processes; abort releases the waiters when a client
	 * dies, so one failure cannot hang the others.
	 */
	_Atomic uint32_t turn;
	_Atomic uint32_t abort;
};

struct opts {
	const char *socket;
	const char *trace;
	const char *costs;
	const char *summary;
	unsigned clients;
	unsigned requests;
	unsigned max_tokens;
	unsigned block_tokens;
	double interval;
	bool lockstep;
};

static const struct ac_ns_layout demo_layout_base = {
	.model_id = "asymcache-demo-tiny",
	.kv.num_layers = 2,
	.kv.num_kv_heads = 2,
	.kv.head_dim = 16,
	.kv.dtype = AC_DTYPE_FP16,
	.kv.block_tokens = 16,
};

static struct ac_ns_layout demo_layout;
static struct shared *S;
/* Loaded before fork(), so every client prices its misses the same way. */
static struct ac_cost_model cost;
static char cost_desc[256];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void add(struct counters *per, size_t off, uint64_t v)
{
	atomic_fetch_add((_Atomic uint64_t *)((char *)&S->total + off), v);
	atomic_fetch_add((_Atomic uint64_t *)((char *)per + off), v);
}

#define ADD(per, field, v) add(per, offsetof(struct counters, field), (v))

/* ---- workload ------------------------------------------------------------ */

static int load_trace(const char *path, unsigned max, struct request **ret,
		      unsigned *ret_n)
{
	struct request *reqs;
	char *line = NULL;
	size_t cap = 0;
	unsigned n = 0;
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return -errno;
	reqs = calloc(max, sizeof(*reqs));
	if (!reqs) {
		fclose(f);
		return -ENOMEM;
	}
	while (n < max && getline(&line, &cap, f) > 0) {
		struct json_object *o = json_tokener_parse(line), *ids, *len;
		size_t k;

		if (!o)
			continue;
		if (!json_object_object_get_ex(o, "hash_ids", &ids) ||
		    !json_object_object_get_ex(o, "input_length", &len) ||
		    !json_object_is_type(ids, json_type_array)) {
			json_object_put(o);
			continue;
		}
		reqs[n].ntokens = json_object_get_int(len);
		reqs[n].nhash = json_object_array_length(ids);
		reqs[n].hash_ids = calloc(reqs[n].nhash ? reqs[n].nhash : 1,
					  sizeof(uint32_t));
		for (k = 0; k < reqs[n].nhash && reqs[n].hash_ids; k++)
			reqs[n].hash_ids[k] = json_object_get_int(
				json_object_array_get_idx(ids, k));
		json_object_put(o);
		if (!reqs[n].hash_ids)
			break;
		n++;
	}
	free(line);
	fclose(f);
	*ret = reqs;
	*ret_n = n;
	return 0;
}

/*
 * Stand-in for a missing trace: conversations of 10 turns over a shared
 * system prompt (hash id 0); turn t of a conversation extends turn t-1 by
 * two hash blocks, the structure that makes multi-turn traces cacheable.
 * Turns go round the conversations, so a conversation comes back after all
 * the others have had a turn.  There are @max / 10 conversations (at least
 * 20): the workload grows with --requests and, like the real trace, fills
 * a pool of the demo's sizes, where a fixed 200 requests would fit in it
 * and evict nothing.
 */
#define SYNTH_TURNS	10

static int synth_trace(unsigned max, struct request **ret, unsigned *ret_n)
{
	unsigned nconv = (max + SYNTH_TURNS - 1) / SYNTH_TURNS;
	struct request *reqs = calloc(max, sizeof(*reqs));
	unsigned n = 0, turn, conv;

	if (!reqs)
		return -ENOMEM;
	if (nconv < 20)
		nconv = 20;
	for (turn = 0; turn < SYNTH_TURNS && n < max; turn++) {
		for (conv = 0; conv < nconv && n < max; conv++, n++) {
			struct request *r = &reqs[n];

			r->nhash = 1 + 2 * (turn + 1);
			r->hash_ids = calloc(r->nhash, sizeof(uint32_t));
			if (!r->hash_ids)
				return -ENOMEM;
			for (uint32_t k = 1; k < r->nhash; k++)
				r->hash_ids[k] = 1 + conv * 2 * SYNTH_TURNS + k;
			r->ntokens = r->nhash * HASH_BLOCK_TOKENS - 37;
		}
	}
	*ret = reqs;
	*ret_n = n;
	return 0;
}

/* Deterministic tokens of one hash block: equal ids give equal tokens. */
static void hash_tokens(uint32_t id, int32_t *out)
{
	uint64_t x = 0x9e3779b97f4a7c15ull ^ ((uint64_t)id * 0xbf58476d1ce4e5b9ull);

	for (int i = 0; i < HASH_BLOCK_TOKENS; i++) {
		x ^= x >> 30;
		x *= 0xbf58476d1ce4e5b9ull;
		x ^= x >> 27;
		x *= 0x94d049bb133111ebull;
		x ^= x >> 31;
		out[i] = (int32_t)(x % 128256);
	}
}

/* ---- KV stand-in --------------------------------------------------------- */

static uint16_t kv_word(const struct ac_key *k, uint64_t i)
{
	uint64_t x;

	memcpy(&x, k->b, sizeof(x));
	x ^= i * 0x9e3779b97f4a7c15ull;
	x ^= x >> 29;
	return (uint16_t)x;
}

static void block_write(void *base, uint32_t bb, uint32_t block,
			const struct ac_key *k)
{
	uint16_t *p = (uint16_t *)((char *)base + (uint64_t)block * bb);
	uint64_t n = ac_kv_block_bytes(&demo_layout.kv) / 2;

	for (uint64_t i = 0; i < n; i++)
		p[i] = kv_word(k, i);
}

static bool block_ok(void *base, uint32_t bb, uint32_t block,
		     const struct ac_key *k)
{
	const uint16_t *p = (const uint16_t *)((char *)base + (uint64_t)block * bb);
	uint64_t n = ac_kv_block_bytes(&demo_layout.kv) / 2;

	for (uint64_t i = 0; i < n; i++)
		if (p[i] != kv_word(k, i))
			return false;
	return true;
}

/* ---- one client process -------------------------------------------------- */

struct worker {
	struct ac_client *c;
	struct ac_pool *pool;
	uint32_t ns;
	struct ac_key_seed seed;
	struct counters *cnt;
	int32_t *tokens;
	struct ac_key *keys;
	uint32_t *blocks;
	struct ac_segment *segs;
	uint32_t *pins;
	struct ac_commit_entry *ents;
	size_t npins;
};

static long futex(_Atomic uint32_t *addr, int op, uint32_t val,
		  const struct timespec *ts)
{
	/* Not FUTEX_PRIVATE: the word is in a MAP_SHARED mapping. */
	return syscall(SYS_futex, (uint32_t *)addr, op, val, ts, NULL, 0);
}

static void turn_set(uint32_t next)
{
	atomic_store(&S->turn, next);
	futex(&S->turn, FUTEX_WAKE, INT_MAX, NULL);
}

static void turn_abort(void)
{
	atomic_store(&S->abort, 1);
	futex(&S->turn, FUTEX_WAKE, INT_MAX, NULL);
}

/* Wait until request @i is next; -ECANCELED once anyone has failed. */
static int turn_wait(uint32_t i)
{
	/* The timeout only bounds how late an abort is noticed. */
	const struct timespec ts = { 0, 100 * 1000 * 1000 };
	uint32_t t;

	while ((t = atomic_load(&S->turn)) != i) {
		if (atomic_load(&S->abort))
			return -ECANCELED;
		futex(&S->turn, FUTEX_WAIT, t, &ts);
	}
	return 0;
}

static void note_error(struct worker *w, const char *what, int r)
{
	ADD(w->cnt, errors, 1);
	snprintf(S->errmsg, sizeof(S->errmsg), "%s: %s (%s)", what,
		 ac_strerror(r), ac_client_last_error(w->c));
}

/* Fill the misses of one request: alloc in chunks, write, commit. */
static int fill_misses(struct worker *w, size_t nkeys)
{
	const struct ac_pool_info *pi = ac_pool_info(w->pool);
	void *base = ac_pool_base(w->pool);
	uint32_t alloc[CHUNK_BLOCKS], out[CHUNK_BLOCKS], dd;
	size_t i = 0;
	int r;

	while (i < nkeys) {
		size_t n = 0;

		while (i < nkeys && n < CHUNK_BLOCKS) {
			if (w->blocks[i] == AC_NO_BLOCK) {
				struct ac_commit_entry *e = &w->ents[n];

				memset(e, 0, sizeof(*e));
				e->key = w->keys[i];
				e->position = i;
				if (i)
					e->parent = w->keys[i - 1];
				n++;
			}
			i++;
		}
		if (!n)
			break;
		r = ac_alloc(w->c, w->ns, n, alloc);
		if (r == -ENOSPC) {
			/* Everything else is pinned right now: skip the rest. */
			ADD(w->cnt, enospc, 1);
			return 0;
		}
		if (r < 0)
			return r;
		for (size_t k = 0; k < n; k++) {
			/* Here an engine would run MSA over the holes' queries. */
			w->ents[k].block = alloc[k];
			block_write(base, pi->block_bytes, alloc[k],
				    &w->ents[k].key);
		}
		r = ac_commit(w->c, w->ns, w->ents, n, out, &dd);
		if (r < 0) {
			ac_release(w->c, alloc, n, NULL);
			return r;
		}
		ADD(w->cnt, written_blocks, n - dd);
		ADD(w->cnt, dedups, dd);
		memcpy(&w->pins[w->npins], out, n * sizeof(uint32_t));
		w->npins += n;
	}
	return 0;
}

static int run_request(struct worker *w, const struct request *rq,
		       unsigned max_tokens)
{
	const struct ac_pool_info *pi = ac_pool_info(w->pool);
	struct ac_lookup_result res = { 0 };
	size_t ntok = rq->ntokens, nkeys = MAX_KEYS, last_hit = 0;
	size_t first_miss;
	uint32_t bt = demo_layout.kv.block_tokens;
	double msa_s = 0, prefix_s = 0;
	bool any_hit = false;
	int r;

	if (ntok > max_tokens)
		ntok = max_tokens;
	if (ntok > (size_t)rq->nhash * HASH_BLOCK_TOKENS)
		ntok = (size_t)rq->nhash * HASH_BLOCK_TOKENS;
	for (uint32_t h = 0; h * HASH_BLOCK_TOKENS < ntok; h++)
		hash_tokens(rq->hash_ids[h], w->tokens + h * HASH_BLOCK_TOKENS);
	r = ac_keys_compute(&w->seed, w->tokens, ntok, demo_layout.kv.block_tokens,
			    w->keys, &nkeys);
	if (r < 0)
		return r;
	ADD(w->cnt, requests, 1);
	if (nkeys == 0)
		return 0;
	ADD(w->cnt, prompt_blocks, nkeys);

	res.blocks = w->blocks;
	res.segments = w->segs;
	res.max_segments = nkeys;
	r = ac_lookup(w->c, w->ns, w->keys, nkeys, &res);
	if (r < 0)
		return r;
	w->npins = 0;
	first_miss = nkeys;
	for (size_t i = 0; i < nkeys; i++) {
		if (w->blocks[i] == AC_NO_BLOCK) {
			if (first_miss == nkeys)
				first_miss = i;
			continue;
		}
		w->pins[w->npins++] = w->blocks[i];
		any_hit = true;
		last_hit = i;
		if (!block_ok(ac_pool_base(w->pool), pi->block_bytes,
			      w->blocks[i], &w->keys[i]))
			ADD(w->cnt, corrupt, 1);
	}
	ADD(w->cnt, hit_blocks, res.hits);
	/*
	 * Price both ways of refilling this prompt with the same model: MSA
	 * runs every miss segment as a query segment at its own position
	 * (one segment_s each); prefix-only reuse must recompute everything
	 * from the first miss on as one segment, hits after it included.
	 */
	for (size_t s = 0; s < res.nsegments; s++) {
		const struct ac_segment *g = &res.segments[s];

		if (g->hit)
			continue;
		msa_s += ac_cost_recompute_s(&cost, g->len * bt,
					     (uint64_t)g->start * bt, 1);
		if (any_hit && g->start < last_hit) {
			ADD(w->cnt, hole_blocks, g->len);
			ADD(w->cnt, hole_runs, 1);
		} else {
			ADD(w->cnt, tail_blocks, g->len);
		}
	}
	if (first_miss < nkeys)
		prefix_s = ac_cost_recompute_s(&cost, (nkeys - first_miss) * bt,
					       (uint64_t)first_miss * bt, 1);
	ADD(w->cnt, prefix_blocks, nkeys - first_miss);
	ADD(w->cnt, msa_ns, llround(msa_s * 1e9));
	ADD(w->cnt, prefix_ns, llround(prefix_s * 1e9));

	r = fill_misses(w, nkeys);
	/* Prefill done and decode would follow; then the pins go. */
	if (w->npins) {
		int r2 = ac_release(w->c, w->pins, w->npins, NULL);

		if (r == 0)
			r = r2;
	}
	return r;
}

static int worker_main(const struct opts *o, unsigned idx,
		       const struct request *reqs, unsigned nreq)
{
	struct worker w = { .cnt = &S->per[idx] };
	size_t maxk = o->max_tokens / demo_layout.kv.block_tokens + 1;
	char name[32];
	int r;

	snprintf(name, sizeof(name), "demo-%u", idx);
	r = ac_connect(o->socket, name, &w.c);
	if (r < 0) {
		snprintf(S->errmsg, sizeof(S->errmsg), "connect %s: %s",
			 o->socket, ac_strerror(r));
		ADD(w.cnt, errors, 1);
		return 1;
	}
	r = ac_attach(w.c, 0, &w.pool);
	if (r == 0)
		r = ac_register_namespace(w.c, w.pool, &demo_layout, &w.ns);
	if (r == 0)
		r = ac_key_seed_init(&w.seed, &demo_layout, NULL, 0,
				     AC_HASH_SHA256);
	if (r < 0) {
		note_error(&w, "attach/register", r);
		ac_disconnect(w.c);
		return 1;
	}
	w.tokens = malloc((o->max_tokens + HASH_BLOCK_TOKENS) * sizeof(int32_t));
	w.keys = malloc(maxk * sizeof(*w.keys));
	w.blocks = malloc(maxk * sizeof(*w.blocks));
	w.segs = malloc(maxk * sizeof(*w.segs));
	w.pins = malloc(2 * maxk * sizeof(*w.pins));
	w.ents = malloc(CHUNK_BLOCKS * sizeof(*w.ents));
	if (!w.tokens || !w.keys || !w.blocks || !w.segs || !w.pins || !w.ents) {
		r = -ENOMEM;
		note_error(&w, "malloc", r);
		goto out;
	}
	for (unsigned i = idx; i < nreq; i += o->clients) {
		if (o->lockstep && turn_wait(i) < 0)
			break;	/* someone else failed and said why */
		r = run_request(&w, &reqs[i], o->max_tokens);
		if (r < 0) {
			note_error(&w, "request", r);
			break;
		}
		if (o->lockstep)
			turn_set(i + 1);
	}
out:
	free(w.tokens);
	free(w.keys);
	free(w.blocks);
	free(w.segs);
	free(w.pins);
	free(w.ents);
	ac_disconnect(w.c);
	return r < 0 ? 1 : 0;
}

/* ---- the parent: progress and the final table ---------------------------- */

static double pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * a / b : 0.0;
}

static void progress(struct ac_client *mon, double t0, unsigned nreq)
{
	struct counters *c = &S->total;
	struct ac_stats st = { 0 };

	if (mon)
		ac_stats(mon, &st);
	printf("[%6.2fs] req %3lu/%u | keys %7lu hit %5.1f%% | holes %5lu in %4lu runs"
	       " | tail %6lu | evictions %6lu | dedups %4lu | cached %5u pinned %4u\n",
	       now_s() - t0, (unsigned long)c->requests, nreq,
	       (unsigned long)c->prompt_blocks,
	       pct(c->hit_blocks, c->prompt_blocks),
	       (unsigned long)c->hole_blocks, (unsigned long)c->hole_runs,
	       (unsigned long)c->tail_blocks, (unsigned long)st.evictions,
	       (unsigned long)c->dedups, st.cached_blocks, st.pinned_blocks);
	fflush(stdout);
}

static void row(const char *name, const struct counters *c)
{
	printf("| %-7s | %5lu | %8lu | %8lu | %6.1f%% | %7lu | %5lu | %8lu | %7lu | %6lu | %6lu | %7lu |\n",
	       name, (unsigned long)c->requests, (unsigned long)c->prompt_blocks,
	       (unsigned long)c->hit_blocks, pct(c->hit_blocks, c->prompt_blocks),
	       (unsigned long)c->hole_blocks, (unsigned long)c->hole_runs,
	       (unsigned long)c->tail_blocks, (unsigned long)c->written_blocks,
	       (unsigned long)c->dedups, (unsigned long)c->enospc,
	       (unsigned long)c->corrupt);
}

static void final_table(const struct opts *o, struct ac_client *mon,
			double secs, struct ac_stats *ret_st)
{
	struct ac_stats st = { 0 };
	struct counters *t = &S->total;

	printf("\n| client  | reqs  | blocks   | hits     | hit     | hole bl | runs  | tail bl  | written | dedups | ENOSPC | corrupt |\n");
	printf("|---------|-------|----------|----------|---------|---------|-------|----------|---------|--------|--------|---------|\n");
	for (unsigned i = 0; i < o->clients; i++) {
		char name[16];

		snprintf(name, sizeof(name), "demo-%u", i);
		row(name, &S->per[i]);
	}
	row("total", &S->total);
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
	       secs, secs > 0 ? S->total.requests / secs : 0.0);
	printf("recompute: MSA %" PRIu64 " tokens (est. %.3f s), prefix-only %"
	       PRIu64 " tokens (est. %.3f s); estimates from %s\n",
	       (uint64_t)(t->hole_blocks + t->tail_blocks) * o->block_tokens,
	       t->msa_ns / 1e9, (uint64_t)t->prefix_blocks * o->block_tokens,
	       t->prefix_ns / 1e9, cost_desc);
}

/* ---- the per-policy summary line and the comparison table --------------- */

/*
 * One line of key=value pairs per run; scripts/demo.sh collects one per
 * policy and hands the file to --compare. A flat line rather than JSON so
 * that a shell user can read and grep it; costs= is last and runs to the end
 * of the line because the cost file's description has spaces.
 */
struct summary {
	char policy[32];
	uint64_t requests, clients, lockstep, block_tokens, blocks, hits, hole_blocks,
		 hole_runs, tail_blocks, prefix_blocks, msa_ns, prefix_ns,
		 evictions, dedups, corrupt, enospc, errors, ms;
	char costs[sizeof(cost_desc)];
};

#define SUM_FIELD(name) { #name, offsetof(struct summary, name) }
static const struct {
	const char *name;
	size_t off;
} sum_fields[] = {
	SUM_FIELD(requests), SUM_FIELD(clients), SUM_FIELD(lockstep),
	SUM_FIELD(block_tokens),
	SUM_FIELD(blocks), SUM_FIELD(hits), SUM_FIELD(hole_blocks),
	SUM_FIELD(hole_runs), SUM_FIELD(tail_blocks), SUM_FIELD(prefix_blocks),
	SUM_FIELD(msa_ns), SUM_FIELD(prefix_ns), SUM_FIELD(evictions),
	SUM_FIELD(dedups), SUM_FIELD(corrupt), SUM_FIELD(enospc),
	SUM_FIELD(errors), SUM_FIELD(ms),
};
#define NSUM_FIELDS (sizeof(sum_fields) / sizeof(sum_fields[0]))

static int write_summary(const struct opts *o, const struct ac_stats *st,
			 double secs)
{
	const struct counters *c = &S->total;
	FILE *f = fopen(o->summary, "a");
	int r = 0;

	if (!f)
		return -errno;
	fprintf(f, "policy=%s requests=%" PRIu64 " clients=%u lockstep=%d"
		" block_tokens=%u"
		" blocks=%" PRIu64 " hits=%" PRIu64 " hole_blocks=%" PRIu64
		" hole_runs=%" PRIu64 " tail_blocks=%" PRIu64
		" prefix_blocks=%" PRIu64 " msa_ns=%" PRIu64
		" prefix_ns=%" PRIu64 " evictions=%" PRIu64 " dedups=%" PRIu64
		" corrupt=%" PRIu64 " enospc=%" PRIu64 " errors=%" PRIu64
		" ms=%.0f costs=%s\n",
		st->policy[0] ? st->policy : "unknown",
		(uint64_t)c->requests, o->clients, o->lockstep, o->block_tokens,
		(uint64_t)c->prompt_blocks, (uint64_t)c->hit_blocks,
		(uint64_t)c->hole_blocks, (uint64_t)c->hole_runs,
		(uint64_t)c->tail_blocks, (uint64_t)c->prefix_blocks,
		(uint64_t)c->msa_ns, (uint64_t)c->prefix_ns, st->evictions,
		(uint64_t)c->dedups, (uint64_t)c->corrupt,
		(uint64_t)c->enospc, (uint64_t)c->errors, secs * 1e3,
		cost_desc);
	if (ferror(f))
		r = -EIO;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Parse one summary line (newline stripped); -EINVAL names the culprit. */
static int parse_summary(char *line, struct summary *ret, const char **why)
{
	struct summary sm = { 0 };
	bool seen[NSUM_FIELDS] = { false };
	char *tok = line, *next;
	size_t i;

	*why = "empty line";
	while (tok && *tok) {
		char *eq;

		if (!strncmp(tok, "costs=", 6)) {
			/* The rest of the line, spaces and all. */
			snprintf(sm.costs, sizeof(sm.costs), "%s", tok + 6);
			break;
		}
		next = strchr(tok, ' ');
		if (next)
			*next++ = '\0';
		eq = strchr(tok, '=');
		if (!eq) {
			*why = "a field without '='";
			return -EINVAL;
		}
		*eq = '\0';
		if (!strcmp(tok, "policy")) {
			size_t n = strlen(eq + 1);

			if (!n || n >= sizeof(sm.policy)) {
				*why = "policy name empty or too long";
				return -EINVAL;
			}
			memcpy(sm.policy, eq + 1, n + 1);
		} else {
			for (i = 0; i < NSUM_FIELDS; i++)
				if (!strcmp(tok, sum_fields[i].name))
					break;
			if (i == NSUM_FIELDS) {
				*why = "unknown field";
				return -EINVAL;
			}
			if (parse_u64(eq + 1, (uint64_t *)((char *)&sm +
							   sum_fields[i].off))) {
				*why = "a value that is not a decimal count";
				return -EINVAL;
			}
			seen[i] = true;
		}
		tok = next;
	}
	if (!sm.policy[0]) {
		*why = "no policy=";
		return -EINVAL;
	}
	for (i = 0; i < NSUM_FIELDS; i++) {
		if (!seen[i]) {
			*why = "a field is missing";
			return -EINVAL;
		}
	}
	/* The counters tile each prompt; anything else is not our output. */
	if (sm.hits + sm.hole_blocks + sm.tail_blocks != sm.blocks ||
	    sm.prefix_blocks > sm.blocks ||
	    sm.hole_blocks + sm.tail_blocks > sm.prefix_blocks ||
	    sm.hole_runs > sm.hole_blocks || !sm.block_tokens ||
	    sm.lockstep > 1) {
		*why = "counts that do not add up";
		return -EINVAL;
	}
	*ret = sm;
	return 0;
}

/* Names of the rows that share the best value of a column. */
static void best_of(const struct summary *sm, size_t n, const double *v,
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

static int compare_main(const char *path)
{
	static const bool higher[NCOLS] = { [COL_HIT] = true };
	struct summary sm[MAX_POLICIES];
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
		if (parse_summary(line, &sm[n], &why) < 0) {
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
		const struct summary *s = &sm[i];

		v[COL_HIT][i] = round(pct(s->hits, s->blocks) * 100) / 100;
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
		const struct summary *s = &sm[i];

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

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: asymcache-demo --socket PATH [options]\n"
		"       asymcache-demo --compare SUMMARY_FILE\n"
		"  -s, --socket PATH        asymcached control socket\n"
		"  -t, --trace FILE         conversation_trace.jsonl (Mooncake format)\n"
		"  -n, --clients N          client processes (default 4)\n"
		"  -r, --requests N         first N requests of the trace (default 200;\n"
		"                           scripts/demo.sh asks for 3000)\n"
		"  -m, --max-tokens N       cap prompts at N tokens (default 16384)\n"
		"  -b, --block-tokens N     tokens per KV block (default 16)\n"
		"  -i, --interval SECS      progress line period (default 0.25)\n"
		"  -l, --lockstep           clients take the requests strictly in trace\n"
		"                           order, so runs repeat (default: free-running)\n"
		"  -c, --costs FILE         cost model JSON for the recompute estimates\n"
		"                           (default " AC_DEMO_COSTS ";\n"
		"                           the built-in H200 model when unreadable)\n"
		"  -S, --summary FILE       append this run's totals as one line\n"
		"  -C, --compare FILE       print the policy comparison of a summary file\n");
}

/* A whole decimal number or -EINVAL: "abc" and "-1" must not become 0/huge. */
static int opt_uint(const char *name, const char *arg, unsigned *ret)
{
	uint64_t v;

	if (parse_u64(arg, &v) < 0 || v > UINT32_MAX) {
		fprintf(stderr, "asymcache-demo: --%s wants a non-negative"
			" integer, not '%s'\n", name, arg);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "trace", required_argument, NULL, 't' },
		{ "clients", required_argument, NULL, 'n' },
		{ "requests", required_argument, NULL, 'r' },
		{ "max-tokens", required_argument, NULL, 'm' },
		{ "block-tokens", required_argument, NULL, 'b' },
		{ "interval", required_argument, NULL, 'i' },
		{ "lockstep", no_argument, NULL, 'l' },
		{ "costs", required_argument, NULL, 'c' },
		{ "summary", required_argument, NULL, 'S' },
		{ "compare", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *compare = NULL;
	int c, r = 0;

	*o = (struct opts){ .clients = 4, .requests = 200, .max_tokens = 16384,
			    .block_tokens = 16, .interval = 0.25,
			    .costs = AC_DEMO_COSTS,
			    .trace = "../shared/traces/conversation_trace.jsonl" };
	while ((c = getopt_long(argc, argv, "s:t:n:r:m:b:i:lc:S:C:h", lo, NULL)) != -1) {
		switch (c) {
		case 's': o->socket = optarg; break;
		case 't': o->trace = optarg; break;
		case 'n': r = opt_uint("clients", optarg, &o->clients); break;
		case 'r': r = opt_uint("requests", optarg, &o->requests); break;
		case 'm': r = opt_uint("max-tokens", optarg, &o->max_tokens); break;
		case 'b': r = opt_uint("block-tokens", optarg, &o->block_tokens); break;
		case 'i': o->interval = strtod(optarg, NULL); break;
		case 'l': o->lockstep = true; break;
		case 'c': o->costs = optarg; break;
		case 'S': o->summary = optarg; break;
		case 'C': compare = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
		if (r < 0)
			return r;
	}
	if (compare) {
		if (optind < argc || o->socket) {
			fprintf(stderr, "asymcache-demo: --compare takes no other"
				" options\n");
			return -EINVAL;
		}
		exit(compare_main(compare));
	}
	if (optind < argc) {
		fprintf(stderr, "asymcache-demo: unexpected argument '%s'\n",
			argv[optind]);
		return -EINVAL;
	}
	if (!o->socket) {
		fprintf(stderr, "asymcache-demo: --socket is required\n");
		return -EINVAL;
	}
	if (o->clients < 1 || o->clients > MAX_CLIENTS || o->requests < 1 ||
	    o->max_tokens < 16 || !(o->interval > 0) || o->block_tokens < 1 ||
	    o->max_tokens / o->block_tokens > MAX_KEYS) {
		fprintf(stderr, "asymcache-demo: clients 1..%d, requests >= 1,"
			" max-tokens >= 16, block-tokens >= 1, interval > 0,"
			" max-tokens/block-tokens <= %d\n", MAX_CLIENTS, MAX_KEYS);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct ac_client *mon = NULL;
	struct request *reqs = NULL;
	pid_t pids[MAX_CLIENTS];
	unsigned nreq = 0, failed = 0, running;
	struct ac_stats dst = { 0 };
	struct opts o;
	double t0, secs;
	bool sum_failed = false;
	int r;

	if (parse_opts(argc, argv, &o) < 0)
		return 2;
	demo_layout = demo_layout_base;
	demo_layout.kv.block_tokens = o.block_tokens;
	r = ac_key_seed_init(&(struct ac_key_seed){ 0 }, &demo_layout, NULL, 0,
			     AC_HASH_SHA256);
	if (r < 0) {
		fprintf(stderr, "asymcache-demo: bad block size %u: %s\n",
			o.block_tokens, ac_strerror(r));
		return 2;
	}

	/*
	 * The estimates need a model but the demo does not: an unreadable
	 * file costs only the "measured" in the description, and says so.
	 */
	r = ac_cost_model_load(o.costs, &cost);
	if (r < 0) {
		printf("cost model %s: %s; using the built-in H200/Llama-3-8B"
		       " model derived from DESIGN.md's anchors\n", o.costs,
		       strerror(-r));
		ac_cost_model_default(&cost);
		snprintf(cost_desc, sizeof(cost_desc),
			 "built-in default (%s, %s; derived, not measured)",
			 cost.gpu, cost.model);
	} else {
		const char *base = strrchr(o.costs, '/');

		snprintf(cost_desc, sizeof(cost_desc), "%s (%s, %s)",
			 base ? base + 1 : o.costs, cost.gpu, cost.model);
	}

	r = load_trace(o.trace, o.requests, &reqs, &nreq);
	if (r < 0) {
		printf("trace %s: %s; using a generated synthetic workload"
		       " (conversations of %d turns)\n", o.trace, strerror(-r),
		       SYNTH_TURNS);
		r = synth_trace(o.requests, &reqs, &nreq);
		if (r < 0)
			return 1;
	} else {
		printf("trace %s: first %u requests\n", o.trace, nreq);
	}

	S = mmap(NULL, sizeof(*S), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (S == MAP_FAILED)
		return 1;
	r = ac_connect(o.socket, "demo-monitor", &mon);
	if (r < 0) {
		fprintf(stderr, "asymcache-demo: connect %s: %s\n", o.socket,
			ac_strerror(r));
		return 1;
	}
	printf("%u clients%s, %u-token blocks of %lu bytes, prompts capped at %u tokens\n",
	       o.clients, o.lockstep ? " in lockstep (trace order)" : "",
	       o.block_tokens,
	       (unsigned long)ac_kv_block_bytes(&demo_layout.kv), o.max_tokens);

	t0 = now_s();
	fflush(stdout);
	for (unsigned i = 0; i < o.clients; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("fork");
			return 1;
		}
		if (pids[i] == 0) {
			/* The monitor's session belongs to the parent. */
			r = worker_main(&o, i, reqs, nreq);
			if (r)
				turn_abort();
			_exit(r);
		}
	}
	running = o.clients;
	while (running) {
		double next = now_s() + o.interval;
		int st;
		pid_t p;

		while (running && (p = waitpid(-1, &st, WNOHANG)) > 0) {
			running--;
			if (!WIFEXITED(st) || WEXITSTATUS(st)) {
				/* A crash cannot abort for itself. */
				turn_abort();
				failed++;
			}
		}
		progress(mon, t0, nreq);
		while (running && now_s() < next)
			usleep(10000);
	}
	secs = now_s() - t0;
	final_table(&o, mon, secs, &dst);
	if (o.summary) {
		r = write_summary(&o, &dst, secs);
		if (r < 0) {
			fprintf(stderr, "asymcache-demo: summary %s: %s\n",
				o.summary, strerror(-r));
			sum_failed = true;
		}
	}
	ac_disconnect(mon);
	for (unsigned i = 0; i < nreq; i++)
		free(reqs[i].hash_ids);
	free(reqs);
	if (failed || S->total.errors) {
		fprintf(stderr, "asymcache-demo: %u client(s) failed: %s\n",
			failed, S->errmsg);
		return 1;
	}
	if (sum_failed)
		return 1;
	if (S->total.corrupt) {
		fprintf(stderr, "asymcache-demo: %lu hit blocks had wrong bytes\n",
			(unsigned long)S->total.corrupt);
		return 1;
	}
	return 0;
}
