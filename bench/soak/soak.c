/* SPDX-License-Identifier: MIT */
/*
 * soak: 64 well-behaved clients and a crash storm against one asymcached,
 * for minutes, on the host backend.
 *
 * It starts the daemon on a temporary socket (--daemon), then forks
 * --clients processes that each serve requests through libasymcache:
 * Lookup of a prompt's chain (Zipf-popular prompts, so hits, holes and
 * evictions all happen), a check of every byte of every hit against the
 * pattern its key defines, Alloc of the misses, the pattern written,
 * Commit, Release. First --baseline seconds with the clients alone, then
 * --duration seconds with --crashers processes beside them, each forking
 * a child after child that pins, allocates, writes garbage and then the
 * pattern into its WRITING blocks and commits, and is SIGKILLed at a
 * random moment (1..--kill-ms). Latencies go into log histograms (2%
 * buckets) per phase. At the end, with every client gone, one session
 * checks that no block is pinned or WRITING, that the daemon counts no
 * session but its own, and reads every chain back: every cached byte must
 * match its key's pattern. Exit status 0 only when nothing was corrupt
 * and nothing was left held.
 *
 * --attacks runs one phase of --duration seconds per attack after the
 * baseline, each with one kind of hostile peer beside the clients (the
 * attack list of issue 14; the default is the crash storm alone):
 *   storm    --crashers processes SIGKILLing child clients, as above
 *   garbage  --hostile processes sending malformed packets (random bytes)
 *            and mutated ones (valid requests of every kind, packed, then
 *            bits flipped, bytes cut, inserted or overwritten), before
 *            and after a valid Hello and Attach
 *   flood    one process (uid nobody, primary group root, so it passes
 *            the group check) opening --flood connections that never say
 *            Hello, holding them, again and again
 *   nobody   --hostile processes as uid and group nobody, refused at
 *            accept, connecting again at once
 *   sigstop  the daemon SIGSTOPped for --stop-s seconds in the middle of
 *            the phase: calls must end by the client's deadline, and every
 *            client must be served again soon after SIGCONT
 *
 *   soak -d BUILD/daemon/asymcached [--duration 600] [--baseline 60]
 *        [--clients 64] [--crashers 16] [--prompts 4096] [--pool-mb 64]
 *        [--attacks storm,garbage,flood,nobody,sigstop] [--hostile 4]
 *        [--flood 1000] [--stop-s 5]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "asymcache.pb-c.h"
#include "asymcache/asymcache.h"

#define BLOCK_TOKENS	16u
#define MAX_CHAIN	32u
#define MIN_CHAIN	4u
#define MAX_CLIENTS	256
#define NBUCKETS	1400	/* 1.02^1400 us is far past any deadline */
#define MAX_HOSTILE	64
#define NOBODY		65534

enum attack { A_STORM, A_GARBAGE, A_FLOOD, A_NOBODY, A_SIGSTOP, NATTACKS };

static const struct {
	const char *name;
	const char *phase;		/* the report's name of its phase */
} attacks[NATTACKS] = {
	[A_STORM] = { "storm", "clients + crash storm" },
	[A_GARBAGE] = { "garbage", "clients + malformed and mutated packets" },
	[A_FLOOD] = { "flood", "clients + connection flood" },
	[A_NOBODY] = { "nobody", "clients + unprivileged peers" },
	[A_SIGSTOP] = { "sigstop", "clients + daemon SIGSTOPped" },
};

/* Phase 0: the clients alone; phase i: attack o.attack[i - 1]. */
#define PHASES		(1 + NATTACKS)

static const struct ac_ns_layout layout = {
	.model_id = "soak",
	.kv = { .num_layers = 2, .num_kv_heads = 2, .head_dim = 64,
		.dtype = AC_DTYPE_FP16, .block_tokens = BLOCK_TOKENS },
};

struct hist {
	uint64_t n[NBUCKETS];
};

struct client_stats {
	uint64_t reqs[PHASES];		/* lookup .. release cycles done */
	uint64_t hit_blocks, miss_blocks, written, dedups;
	uint64_t bytes_checked, corrupt_blocks;
	uint64_t full;			/* Alloc/Lookup: ENOSPC or EDQUOT */
	uint64_t timeouts;		/* a call past its deadline */
	uint64_t lost;			/* no session: ECONNRESET, ENOTCONN */
	uint64_t errors;		/* anything else */
	int last_error;
	uint64_t max_call_ns[PHASES];	/* the longest failed or served request */
	uint64_t first_ok_ns;		/* first request served after SIGCONT */
	struct hist lookup[PHASES];	/* Lookup round trip */
	struct hist cycle[PHASES];	/* the whole request */
};

struct shared {
	volatile int phase;		/* see PHASES */
	volatile int stop;
	volatile uint64_t cont_ns;	/* when the daemon got SIGCONT, 0 before */
	uint64_t kills, spawned;
	uint64_t garbage_sent, garbage_answers, garbage_closed;
	uint64_t flood_opened, flood_failed, flood_closed;
	uint64_t nobody_tries, nobody_refused;
	struct client_stats c[MAX_CLIENTS];
};

static struct shared *sh;

static struct opts {
	const char *daemon;
	unsigned duration_s, baseline_s, clients, crashers, prompts, pool_mb;
	unsigned kill_ms, hostile, flood, stop_s;
	enum attack attack[NATTACKS];
	unsigned nattacks;
	double zipf;
	uint64_t seed;
} o = {
	.duration_s = 600, .baseline_s = 60, .clients = 64, .crashers = 16,
	.prompts = 4096, .pool_mb = 64, .kill_ms = 30, .zipf = 0.9,
	.seed = 1, .hostile = 4, .flood = 1000, .stop_s = 5,
	.attack = { A_STORM }, .nattacks = 1,
};

static const char *phase_name(int ph)
{
	return ph ? attacks[o.attack[ph - 1]].phase : "clients alone (baseline)";
}

/* The attack under way, or -1 in the baseline and after the end. */
static int attack_now(void)
{
	int ph = sh->phase;

	return sh->stop || ph < 1 ? -1 : (int)o.attack[ph - 1];
}

static char sock_path[108], dir[64];
static pid_t daemon_pid;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void hist_add(struct hist *h, uint64_t ns)
{
	double us = (double)ns / 1000.0;
	int b = us <= 1.0 ? 0 : (int)(log(us) / log(1.02)) + 1;

	h->n[b < NBUCKETS ? b : NBUCKETS - 1]++;
}

/* The upper edge of the bucket holding quantile @q, in us. */
static double hist_q(const struct hist *h, double q)
{
	uint64_t total = 0, acc = 0, want;

	for (int b = 0; b < NBUCKETS; b++)
		total += h->n[b];
	if (!total)
		return 0;
	want = (uint64_t)ceil(q * (double)total);
	for (int b = 0; b < NBUCKETS; b++) {
		acc += h->n[b];
		if (acc >= want)
			return b ? pow(1.02, b) : 1.0;
	}
	return pow(1.02, NBUCKETS);
}

/* ---- prompts and the bytes their blocks must hold ---------------------- */

static unsigned chain_len(unsigned p)
{
	return MIN_CHAIN + (unsigned)(mix(p) % (MAX_CHAIN - MIN_CHAIN + 1));
}

/*
 * Prompts of one group share their first half: so chains share prefixes,
 * dedups happen and an eviction in the middle leaves a hole others see.
 */
static void prompt_tokens(unsigned p, int32_t *tok, unsigned n)
{
	unsigned shared = n / 2;

	for (unsigned i = 0; i < n; i++) {
		uint64_t who = i < shared * BLOCK_TOKENS ? p / 8 + 1000000 : p;

		tok[i] = (int32_t)(mix(who * 1000003ULL + i) % 49152);
	}
}

/* The pattern of the block that holds @key: a function of the key alone. */
static void fill(void *dst, size_t len, const struct ac_key *key)
{
	uint64_t a, b, *w = dst;

	memcpy(&a, key->b, 8);
	memcpy(&b, key->b + 8, 8);
	for (size_t i = 0; i < len / 8; i++)
		w[i] = mix(a ^ (b + i));
}

static bool check(const void *src, size_t len, const struct ac_key *key)
{
	uint64_t a, b;
	const uint64_t *w = src;

	memcpy(&a, key->b, 8);
	memcpy(&b, key->b + 8, 8);
	for (size_t i = 0; i < len / 8; i++)
		if (w[i] != mix(a ^ (b + i)))
			return false;
	return true;
}

/* Zipf over [0, n) by inversion of a precomputed CDF. */
static double *zipf_cdf;

static void zipf_init(unsigned n, double s)
{
	double acc = 0;

	zipf_cdf = malloc(n * sizeof(*zipf_cdf));
	if (!zipf_cdf)
		exit(1);
	for (unsigned i = 0; i < n; i++)
		zipf_cdf[i] = acc += 1.0 / pow(i + 1.0, s);
	for (unsigned i = 0; i < n; i++)
		zipf_cdf[i] /= acc;
}

static unsigned zipf_pick(uint64_t *rng, unsigned n)
{
	double u = (double)((*rng = mix(*rng)) >> 11) / 9007199254740992.0;
	unsigned lo = 0, hi = n - 1;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (zipf_cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Popularity scattered over the ids, not in id order. */
	return (unsigned)(mix(lo ^ 0x5eed) % n);
}

/* ---- one session and its requests ----------------------------------- */

struct sess {
	struct ac_client *c;
	struct ac_pool *pool;
	uint32_t ns;
	struct ac_key_seed seed;
	uint8_t *base;
	size_t block_bytes, bpb;
};

static int sess_open(struct sess *s, const char *name)
{
	int r;

	memset(s, 0, sizeof(*s));
	r = ac_connect(sock_path, name, &s->c);
	if (r == 0)
		r = ac_attach(s->c, 0, &s->pool);
	if (r == 0)
		r = ac_register_namespace(s->c, s->pool, &layout, &s->ns);
	if (r == 0)
		r = ac_key_seed_init(&s->seed, &layout, "soak", 4,
				     AC_HASH_SHA256);
	if (r < 0) {
		ac_disconnect(s->c);
		s->c = NULL;
		return r;
	}
	s->base = ac_pool_base(s->pool);
	s->block_bytes = ac_pool_info(s->pool)->block_bytes;
	s->bpb = ac_kv_block_bytes(&layout.kv);
	return 0;
}

static uint8_t *blk(const struct sess *s, uint32_t b)
{
	return s->base + (size_t)b * s->block_bytes;
}

/* Keys of prompt @p into @keys; its length in blocks. */
static unsigned prompt_keys(const struct sess *s, unsigned p,
			    struct ac_key *keys)
{
	int32_t tok[MAX_CHAIN * BLOCK_TOKENS];
	unsigned n = chain_len(p);
	size_t nk = MAX_CHAIN;

	prompt_tokens(p, tok, n * BLOCK_TOKENS);
	if (ac_keys_compute(&s->seed, tok, n * BLOCK_TOKENS, BLOCK_TOKENS,
			    keys, &nk) < 0 || nk != n)
		abort();
	return n;
}

static bool no_room(int r)
{
	return r == -ENOSPC || r == -EDQUOT;
}

/* One request as an engine makes it; 0, or the error that ended it. */
static int serve(struct sess *s, unsigned p, struct client_stats *st,
		 int phase)
{
	struct ac_key keys[MAX_CHAIN];
	uint32_t found[MAX_CHAIN], got[MAX_CHAIN], out[MAX_CHAIN];
	uint32_t held[2 * MAX_CHAIN], idx[MAX_CHAIN];
	struct ac_segment segs[MAX_CHAIN + 1];
	struct ac_commit_entry ce[MAX_CHAIN];
	struct ac_lookup_result res = { .blocks = found, .segments = segs,
					.max_segments = MAX_CHAIN + 1 };
	unsigned n = prompt_keys(s, p, keys), nmiss = 0, nheld = 0;
	uint32_t dd = 0;
	uint64_t t0 = now_ns(), t1;
	int r;

	r = ac_lookup(s->c, s->ns, keys, n, &res);
	t1 = now_ns();
	if (r < 0)
		return r;
	hist_add(&st->lookup[phase], t1 - t0);
	for (unsigned i = 0; i < n; i++) {
		if (found[i] == AC_NO_BLOCK) {
			idx[nmiss++] = i;
			continue;
		}
		held[nheld++] = found[i];
		st->hit_blocks++;
		st->bytes_checked += s->bpb;
		if (!check(blk(s, found[i]), s->bpb, &keys[i]))
			st->corrupt_blocks++;
	}
	st->miss_blocks += nmiss;
	if (nmiss) {
		r = ac_alloc(s->c, s->ns, nmiss, got);
		if (r < 0)
			goto out;
		for (unsigned k = 0; k < nmiss; k++) {
			unsigned i = idx[k];

			fill(blk(s, got[k]), s->bpb, &keys[i]);
			ce[k] = (struct ac_commit_entry){ .key = keys[i],
							  .block = got[k],
							  .position = i };
			if (i)
				ce[k].parent = keys[i - 1];
		}
		r = ac_commit(s->c, s->ns, ce, nmiss, out, &dd);
		if (r < 0) {
			(void)ac_release(s->c, got, nmiss, NULL);
			goto out;
		}
		st->written += nmiss - dd;
		st->dedups += dd;
		for (unsigned k = 0; k < nmiss; k++)
			held[nheld++] = out[k];
	}
out:
	if (nheld) {
		int e = ac_release(s->c, held, nheld, NULL);

		if (r == 0)
			r = e;
	}
	t1 = now_ns() - t0;
	if (t1 > st->max_call_ns[phase])
		st->max_call_ns[phase] = t1;
	if (r == 0) {
		hist_add(&st->cycle[phase], t1);
		st->reqs[phase]++;
		if (sh->cont_ns && !st->first_ok_ns)
			st->first_ok_ns = now_ns();
	}
	return r;
}

static int client_main(int slot)
{
	struct client_stats *st = &sh->c[slot];
	uint64_t rng = mix(o.seed * 7919 + (uint64_t)slot);
	char name[32];
	struct sess s;
	int r;

	snprintf(name, sizeof(name), "soak-%d", slot);
	r = sess_open(&s, name);
	if (r < 0) {
		st->errors++;
		st->last_error = r;
		return 1;
	}
	while (!sh->stop) {
		int phase = sh->phase;

		r = serve(&s, zipf_pick(&rng, o.prompts), st, phase);
		if (no_room(r)) {
			st->full++;
		} else if (r == -ETIMEDOUT) {
			st->timeouts++;
		} else if (r == -ECONNRESET || r == -ENOTCONN) {
			/* The library reconnects on its own; the pins went. */
			st->lost++;
		} else if (r < 0) {
			st->errors++;
			st->last_error = r;
		}
	}
	ac_disconnect(s.c);
	return 0;
}

/*
 * A client that dies: pins, allocates, scribbles over its WRITING blocks,
 * writes the pattern, commits, repeats, until a SIGKILL comes at any
 * point. Whatever it held must go with it, and its scribbles must never
 * be read by anyone.
 */
static void doomed(uint64_t rng)
{
	struct ac_key keys[MAX_CHAIN];
	uint32_t found[MAX_CHAIN], got[MAX_CHAIN], out[MAX_CHAIN];
	struct ac_segment segs[MAX_CHAIN + 1];
	struct ac_commit_entry ce[MAX_CHAIN];
	struct sess s;

	if (sess_open(&s, "doomed") < 0)
		_exit(1);
	for (;;) {
		struct ac_lookup_result res = { .blocks = found, .segments = segs,
						.max_segments = MAX_CHAIN + 1 };
		unsigned p = zipf_pick(&rng, o.prompts), n, m = 0;

		n = prompt_keys(&s, p, keys);
		if (ac_lookup(s.c, s.ns, keys, n, &res) < 0)
			continue;
		for (unsigned i = 0; i < n; i++)
			if (found[i] == AC_NO_BLOCK)
				m++;
		if (!m || ac_alloc(s.c, s.ns, m, got) < 0)
			continue;	/* the pins stay: the kill drops them */
		for (unsigned i = 0, k = 0; i < n; i++) {
			if (found[i] != AC_NO_BLOCK)
				continue;
			memset(blk(&s, got[k]), 0xa5, s.bpb);
			fill(blk(&s, got[k]), s.bpb, &keys[i]);
			ce[k] = (struct ac_commit_entry){ .key = keys[i],
							  .block = got[k],
							  .position = i };
			if (i)
				ce[k].parent = keys[i - 1];
			k++;
		}
		(void)ac_commit(s.c, s.ns, ce, m, out, NULL);
	}
}

/* One doomed client, SIGKILLed 1..kill_ms after its start. */
static int storm_round(uint64_t *rng)
{
	pid_t pid;
	unsigned ms;

	*rng = mix(*rng);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		doomed(*rng);
	ms = 1 + (unsigned)(mix(*rng ^ 1) % o.kill_ms);
	__atomic_add_fetch(&sh->spawned, 1, __ATOMIC_RELAXED);
	usleep(ms * 1000);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	__atomic_add_fetch(&sh->kills, 1, __ATOMIC_RELAXED);
	return 0;
}

/* ---- malformed and mutated packets ------------------------------------ */

static int raw_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static uint32_t rnd(uint64_t *rng, uint32_t n)
{
	*rng = mix(*rng);
	return n ? (uint32_t)(*rng % n) : 0;
}

/* A value near the edges the daemon checks, or anything at all. */
static uint32_t edgy(uint64_t *rng)
{
	static const uint32_t edges[] = { 0, 1, 2, 255, 256, 257, 1023, 1024,
					  65535, 65536, 0x7fffffff, 0x80000000,
					  0xfffffffe, 0xffffffff };

	return rnd(rng, 2) ? edges[rnd(rng, sizeof(edges) / sizeof(edges[0]))] :
			     (uint32_t)mix(*rng);
}

/*
 * A valid request of a random kind, with edgy fields (so most are refused
 * with an Error and some reach deep), packed into @buf; its length.
 */
static size_t valid_request(uint64_t *rng, uint32_t ns, uint8_t *buf, size_t cap)
{
	Asymcache__V1__Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Hello hl = ASYMCACHE__V1__HELLO__INIT;
	Asymcache__V1__Attach at = ASYMCACHE__V1__ATTACH__INIT;
	Asymcache__V1__RegisterNamespace rg = ASYMCACHE__V1__REGISTER_NAMESPACE__INIT;
	Asymcache__V1__NamespaceLayout ly = ASYMCACHE__V1__NAMESPACE_LAYOUT__INIT;
	Asymcache__V1__Lookup lk = ASYMCACHE__V1__LOOKUP__INIT;
	Asymcache__V1__Alloc al = ASYMCACHE__V1__ALLOC__INIT;
	Asymcache__V1__Commit cm = ASYMCACHE__V1__COMMIT__INIT;
	Asymcache__V1__CommitEntry ce[4], *pce[4];
	Asymcache__V1__Release rl = ASYMCACHE__V1__RELEASE__INIT;
	Asymcache__V1__Stats stq = ASYMCACHE__V1__STATS__INIT;
	Asymcache__V1__Retain rt = ASYMCACHE__V1__RETAIN__INIT;
	Asymcache__V1__Resume rs = ASYMCACHE__V1__RESUME__INIT;
	Asymcache__V1__UnregisterNamespace un = ASYMCACHE__V1__UNREGISTER_NAMESPACE__INIT;
	uint8_t keys[16 * 40], name[8] = "garbage";
	uint32_t ids[8];
	size_t len;

	for (size_t i = 0; i < sizeof(keys); i++)
		keys[i] = (uint8_t)rnd(rng, 256);
	for (int i = 0; i < 8; i++)
		ids[i] = rnd(rng, 3) ? rnd(rng, 64) : edgy(rng);
	if (rnd(rng, 4))
		ns = rnd(rng, 2) ? ns : edgy(rng);
	req.id = rnd(rng, 4) ? 1 + rnd(rng, 1000) : mix(*rng);
	switch (rnd(rng, 11)) {
	case 0:
		hl.protocol_version = rnd(rng, 3) ? 1 : edgy(rng);
		hl.client_name.data = name;
		hl.client_name.len = rnd(rng, 8);
		req.body_case = ASYMCACHE__V1__REQUEST__BODY_HELLO;
		req.hello = &hl;
		break;
	case 1:
		at.pool_id = rnd(rng, 2) ? 0 : edgy(rng);
		req.body_case = ASYMCACHE__V1__REQUEST__BODY_ATTACH;
		req.attach = &at;
		break;
	case 2:
		ly.model_id.data = name;
		ly.model_id.len = rnd(rng, 8);
		ly.num_layers = rnd(rng, 2) ? 2 : edgy(rng);
		ly.num_kv_heads = rnd(rng, 2) ? 2 : edgy(rng);
		ly.head_dim = rnd(rng, 2) ? 64 : edgy(rng);
		ly.dtype = (Asymcache__V1__DType)rnd(rng, 6);
		ly.block_tokens = rnd(rng, 2) ? 16 : edgy(rng);
		rg.pool_id = rnd(rng, 2) ? 0 : edgy(rng);
		rg.layout = rnd(rng, 8) ? &ly : NULL;
		req.body_case = ASYMCACHE__V1__REQUEST__BODY_REGISTER_NAMESPACE;
		req.register_namespace = &rg;
		break;
	case 3:
		lk.ns_id = ns;
		lk.keys.data = keys;
		lk.keys.len = rnd(rng, 4) ? 16 * rnd(rng, 40) : rnd(rng, sizeof(keys));
		req.body_case = ASYMCACHE__V1__REQUEST__BODY_LOOKUP;
		req.lookup = &lk;
		break;
	case 4:
		al.ns_id = ns;
		al.count = rnd(rng, 2) ? 1 + rnd(rng, 8) : edgy(rng);
		req.body_case = ASYMCACHE__V1__REQUEST__BODY_ALLOC;
		req.alloc = &al;
		break;
	case 5:
		for (int i = 0; i < 4; i++) {
			asymcache__v1__commit_entry__init(&ce[i]);
			ce[i].key.data = keys + 16 * i;
			ce[i].key.len = rnd(rng, 5) ? 16 : rnd(rng, 32);
			ce[i].block = ids[i];
			ce[i].position = rnd(rng, 2) ? (uint32_t)i : edgy(rng);
			ce[i].parent_key.data = keys + 16 * (i + 10);
			ce[i].parent_key.len = i && rnd(rng, 5) ? 16 : rnd(rng, 17);
			pce[i] = &ce[i];
		}
		cm.ns_id = ns;
		cm.n_entries = rnd(rng, 5);
		cm.entries = pce;
		req.body_case = ASYMCACHE__V1__REQUEST__BODY_COMMIT;
		req.commit = &cm;
		break;
	case 6:
		rl.n_blocks = rnd(rng, 9);
		rl.blocks = ids;
		rl.pool_id = rnd(rng, 4) ? 0 : edgy(rng);
		req.body_case = ASYMCACHE__V1__REQUEST__BODY_RELEASE;
		req.release = &rl;
		break;
	case 7:
		stq.pool_id = rnd(rng, 2) ? 0 : edgy(rng);
		req.body_case = ASYMCACHE__V1__REQUEST__BODY_STATS;
		req.stats = &stq;
		break;
	case 8:
		rt.ns_id = ns;
		rt.n_blocks = rnd(rng, 9);
		rt.blocks = ids;
		rt.ttl_ms = rnd(rng, 2) ? rnd(rng, 5000) : edgy(rng);
		rt.expect_ms = rnd(rng, 2) ? 0 : edgy(rng);
		rt.program_id = mix(*rng);
		req.body_case = ASYMCACHE__V1__REQUEST__BODY_RETAIN;
		req.retain = &rt;
		break;
	case 9:
		rs.retention_id = rnd(rng, 2) ? rnd(rng, 100) : mix(*rng);
		req.body_case = ASYMCACHE__V1__REQUEST__BODY_RESUME;
		req.resume = &rs;
		break;
	default:
		un.ns_id = rnd(rng, 2) ? ns + 1 : edgy(rng);
		req.body_case = ASYMCACHE__V1__REQUEST__BODY_UNREGISTER_NAMESPACE;
		req.unregister_namespace = &un;
		break;
	}
	len = asymcache__v1__request__get_packed_size(&req);
	if (len > cap)
		return 0;
	return asymcache__v1__request__pack(&req, buf);
}

/* Bits flipped, bytes cut, inserted or overwritten: a few edits of @buf. */
static size_t mutate(uint64_t *rng, uint8_t *buf, size_t len, size_t cap)
{
	for (uint32_t e = 1 + rnd(rng, 4); e; e--) {
		size_t at = len ? rnd(rng, (uint32_t)len) : 0;

		switch (rnd(rng, 4)) {
		case 0:
			if (len)
				buf[at] ^= (uint8_t)(1u << rnd(rng, 8));
			break;
		case 1:
			len = at;
			break;
		case 2:
			if (len < cap) {
				memmove(buf + at + 1, buf + at, len - at);
				buf[at] = (uint8_t)rnd(rng, 256);
				len++;
			}
			break;
		default:
			if (len)
				buf[at] = (uint8_t)edgy(rng);
			break;
		}
	}
	return len;
}

/* Answers read without waiting; -1 when the daemon closed the session. */
static int drain(int fd)
{
	uint8_t buf[4096];
	int n = 0;

	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (r > 0) {
			n++;
			continue;
		}
		if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return -1;
		__atomic_add_fetch(&sh->garbage_answers, (uint64_t)n,
				   __ATOMIC_RELAXED);
		return n;
	}
}

/*
 * One session of garbage: sometimes a valid Hello and Attach first (so
 * the mutated requests meet an attached session), then up to 200 packets,
 * random or mutated, until the daemon closes the session.
 */
static int garbage_round(uint64_t *rng)
{
	uint8_t buf[2048];
	size_t len;
	int fd = raw_connect();

	if (fd < 0)
		return fd;
	if (rnd(rng, 2)) {
		Asymcache__V1__Request req = ASYMCACHE__V1__REQUEST__INIT;
		Asymcache__V1__Hello hl = ASYMCACHE__V1__HELLO__INIT;
		Asymcache__V1__Attach at = ASYMCACHE__V1__ATTACH__INIT;
		struct pollfd p = { .fd = fd, .events = POLLIN };

		hl.protocol_version = 1;
		hl.client_name.data = (uint8_t *)"garbage";
		hl.client_name.len = 7;
		req.id = 1;
		req.body_case = ASYMCACHE__V1__REQUEST__BODY_HELLO;
		req.hello = &hl;
		len = asymcache__v1__request__pack(&req, buf);
		if (send(fd, buf, len, MSG_NOSIGNAL) > 0 && poll(&p, 1, 1000) > 0)
			drain(fd);
		req.id = 2;
		req.body_case = ASYMCACHE__V1__REQUEST__BODY_ATTACH;
		req.attach = &at;
		len = asymcache__v1__request__pack(&req, buf);
		/* The memfd it passes back is closed unread with the socket. */
		if (send(fd, buf, len, MSG_NOSIGNAL) > 0 && poll(&p, 1, 1000) > 0)
			drain(fd);
	}
	for (int i = 0; i < 200 && attack_now() == A_GARBAGE; i++) {
		if (rnd(rng, 4) == 0) {
			len = rnd(rng, 4) ? rnd(rng, 64) : rnd(rng, sizeof(buf));
			for (size_t k = 0; k < len; k++)
				buf[k] = (uint8_t)rnd(rng, 256);
		} else {
			len = valid_request(rng, 1, buf, sizeof(buf) / 2);
			if (rnd(rng, 8))
				len = mutate(rng, buf, len, sizeof(buf));
		}
		if (send(fd, buf, len, MSG_NOSIGNAL) < 0)
			break;
		__atomic_add_fetch(&sh->garbage_sent, 1, __ATOMIC_RELAXED);
		if (drain(fd) < 0) {
			__atomic_add_fetch(&sh->garbage_closed, 1, __ATOMIC_RELAXED);
			close(fd);
			return 0;
		}
	}
	close(fd);
	return 0;
}

/* ---- connection flood and unprivileged peers --------------------------- */

/* As nobody in group root: authorised, and not the clients' uid. */
static int become(uid_t uid, gid_t gid)
{
	if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
		return -errno;
	return 0;
}

/*
 * --flood connections that never say Hello, held for 200 ms, then closed:
 * the Hello deadline and the per-uid cap are what stand in the way.
 */
static int flood_round(void)
{
	static int *fds;
	unsigned n = 0;
	uint64_t closed = 0;

	if (!fds && !(fds = calloc(o.flood, sizeof(*fds))))
		return -ENOMEM;
	for (; n < o.flood && attack_now() == A_FLOOD; n++) {
		fds[n] = raw_connect();
		if (fds[n] < 0) {
			__atomic_add_fetch(&sh->flood_failed, 1, __ATOMIC_RELAXED);
			break;
		}
		__atomic_add_fetch(&sh->flood_opened, 1, __ATOMIC_RELAXED);
	}
	usleep(200000);
	for (unsigned i = 0; i < n; i++) {
		char c[256];
		/* Closed, or told why before the close (Error, EUSERS). */
		ssize_t r = recv(fds[i], c, sizeof(c), MSG_DONTWAIT);

		if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			closed++;
		close(fds[i]);
	}
	__atomic_add_fetch(&sh->flood_closed, closed, __ATOMIC_RELAXED);
	return 0;
}

/* A peer in no pool's group: refused at accept, with an Error or EOF. */
static int nobody_round(void)
{
	struct pollfd p;
	char buf[256];
	int fd = raw_connect();

	__atomic_add_fetch(&sh->nobody_tries, 1, __ATOMIC_RELAXED);
	if (fd < 0)
		return 0;
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	/* An Error (EACCES) at once, then the close. */
	if (poll(&p, 1, 1000) > 0 && recv(fd, buf, sizeof(buf), 0) > 0 &&
	    poll(&p, 1, 1000) > 0 && recv(fd, buf, sizeof(buf), 0) == 0)
		__atomic_add_fetch(&sh->nobody_refused, 1, __ATOMIC_RELAXED);
	close(fd);
	return 0;
}

/*
 * Hostile process @slot: idle in the baseline, then each attack with the
 * processes it asks for (storm: --crashers, garbage and nobody: --hostile,
 * flood: one). The storm's clients are the clients' user, careless rather
 * than hostile. The others run as another user, in a child of their own
 * since a process cannot be root again: garbage and flood as nobody in
 * group root (allowed to attach, but not the owner of the clients'
 * namespace, which the owner's uid may unregister), nobody as nobody.
 */
static int attacker_main(int slot)
{
	uint64_t rng = mix(o.seed * 104729 + (uint64_t)slot);
	int a;

	while (!sh->stop) {
		a = attack_now();
		if (a == A_STORM && (unsigned)slot < o.crashers) {
			if (storm_round(&rng) < 0)
				usleep(10000);
			continue;
		}
		if ((a == A_FLOOD && slot == 0) ||
		    ((a == A_NOBODY || a == A_GARBAGE) && (unsigned)slot < o.hostile)) {
			pid_t pid = fork();

			if (pid == 0) {
				struct rlimit rl;

				if (a == A_FLOOD && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
					rl.rlim_cur = rl.rlim_max;
					setrlimit(RLIMIT_NOFILE, &rl);
				}
				if (become(NOBODY, a == A_NOBODY ? NOBODY : 0) < 0)
					_exit(1);
				while (attack_now() == a) {
					int r = a == A_FLOOD ? flood_round() :
						a == A_GARBAGE ? garbage_round(&rng) :
						nobody_round();

					if (r < 0)
						usleep(10000);
				}
				_exit(0);
			}
			if (pid > 0)
				waitpid(pid, NULL, 0);
			continue;
		}
		usleep(20000);
	}
	return 0;
}

/* ---- the daemon --------------------------------------------------------- */

static int start_daemon(void)
{
	static const char CONF[] = "[daemon]\nsocket_mode = 0666\n";
	char pb[32], log[96], conf[96];
	int fd;

	snprintf(dir, sizeof(dir), "/tmp/ac-soak-XXXXXX");
	if (!mkdtemp(dir))
		return -errno;
	snprintf(sock_path, sizeof(sock_path), "%s/sock", dir);
	snprintf(log, sizeof(log), "%s/daemon.log", dir);
	snprintf(conf, sizeof(conf), "%s/asymcached.conf", dir);
	/*
	 * Reachable by everyone, as a host with tenants makes it: the daemon
	 * itself must refuse the peers that do not belong (--attacks nobody).
	 */
	if (chmod(dir, 0755) < 0)
		return -errno;
	fd = open(conf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, CONF, strlen(CONF)) != (ssize_t)strlen(CONF)) {
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	close(fd);
	snprintf(pb, sizeof(pb), "%uM", o.pool_mb);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	daemon_pid = fork();
	if (daemon_pid < 0)
		return -errno;
	if (daemon_pid == 0) {
		const char *argv[] = {
			o.daemon, "--foreground", "-c", conf, "--socket",
			sock_path, "--backend", "host", "--pool-bytes", pb,
			"--block-bytes", "16K", "--group", "root",
			"--log-level", "warning", NULL,
		};

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(o.daemon, (char *const *)argv);
		_exit(127);
	}
	if (fd >= 0)
		close(fd);
	for (int i = 0; i < 1000; i++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(s);
			return 0;
		}
		close(s);
		usleep(10000);
	}
	return -ETIMEDOUT;
}

/* ---- the end: nothing held, every byte right ---------------------------- */

struct final {
	struct ac_stats st;		/* right after the clients left */
	uint64_t blocks, bytes, corrupt;
	int err;
};

static void verify_all(struct final *f)
{
	struct ac_key keys[MAX_CHAIN];
	uint32_t found[MAX_CHAIN];
	struct ac_segment segs[MAX_CHAIN + 1];
	struct sess s;
	int r;

	memset(f, 0, sizeof(*f));
	r = sess_open(&s, "verifier");
	if (r < 0) {
		f->err = r;
		return;
	}
	/* The daemon drops a closed session's pins as it reads the close. */
	for (int i = 0; i < 500; i++) {
		r = ac_stats(s.c, &f->st);
		if (r < 0 || (f->st.sessions == 1 && !f->st.pinned_blocks &&
			      !f->st.writing_blocks))
			break;
		usleep(10000);
	}
	if (r < 0)
		f->err = r;
	for (unsigned p = 0; p < o.prompts && !f->err; p++) {
		struct ac_lookup_result res = { .blocks = found, .segments = segs,
						.max_segments = MAX_CHAIN + 1 };
		unsigned n = prompt_keys(&s, p, keys), nh = 0;

		r = ac_lookup(s.c, s.ns, keys, n, &res);
		if (r < 0) {
			f->err = r;
			break;
		}
		for (unsigned i = 0; i < n; i++) {
			if (found[i] == AC_NO_BLOCK)
				continue;
			f->blocks++;
			f->bytes += s.bpb;
			if (!check(blk(&s, found[i]), s.bpb, &keys[i]))
				f->corrupt++;
			found[nh++] = found[i];
		}
		if (nh && ac_release(s.c, found, nh, NULL) < 0)
			f->err = -EIO;
	}
	ac_disconnect(s.c);
}

/* ---- report ------------------------------------------------------------- */

/* Prints the result; returns how many clients SIGCONT did not bring back. */
static unsigned report(const struct final *f, double secs[PHASES], double load[3],
		       uint64_t stop_ns)
{
	static struct hist hl[PHASES], hc[PHASES];
	uint64_t reqs[PHASES] = { 0 }, hits = 0, miss = 0, wr = 0, dd = 0;
	uint64_t checked = 0, corrupt = 0, full = 0, errors = 0;
	uint64_t timeouts = 0, lost = 0, max_call[PHASES] = { 0 }, back = 0;
	unsigned nph = 1 + o.nattacks, never_back = 0;
	int last = 0;

	for (unsigned c = 0; c < o.clients; c++) {
		const struct client_stats *st = &sh->c[c];

		for (unsigned ph = 0; ph < nph; ph++) {
			reqs[ph] += st->reqs[ph];
			if (st->max_call_ns[ph] > max_call[ph])
				max_call[ph] = st->max_call_ns[ph];
			for (int b = 0; b < NBUCKETS; b++) {
				hl[ph].n[b] += st->lookup[ph].n[b];
				hc[ph].n[b] += st->cycle[ph].n[b];
			}
		}
		timeouts += st->timeouts;
		lost += st->lost;
		if (sh->cont_ns && !st->first_ok_ns)
			never_back++;
		else if (sh->cont_ns && st->first_ok_ns - sh->cont_ns > back)
			back = st->first_ok_ns - sh->cont_ns;
		hits += st->hit_blocks;
		miss += st->miss_blocks;
		wr += st->written;
		dd += st->dedups;
		checked += st->bytes_checked;
		corrupt += st->corrupt_blocks;
		full += st->full;
		errors += st->errors;
		if (st->last_error)
			last = st->last_error;
	}
	printf("| phase | seconds | requests/s | Lookup p50 / p99 / p99.9 (us) | request p50 / p99 / p99.9 (us) | request p99 / baseline | longest request (ms) |\n");
	printf("| --- | --- | --- | --- | --- | --- | --- |\n");
	for (unsigned ph = 0; ph < nph; ph++)
		printf("| %s | %.0f | %.0f | %.0f / %.0f / %.0f | %.0f / %.0f / %.0f | %.2fx | %.0f |\n",
		       phase_name((int)ph),
		       secs[ph], secs[ph] > 0 ? (double)reqs[ph] / secs[ph] : 0,
		       hist_q(&hl[ph], 0.5), hist_q(&hl[ph], 0.99),
		       hist_q(&hl[ph], 0.999), hist_q(&hc[ph], 0.5),
		       hist_q(&hc[ph], 0.99), hist_q(&hc[ph], 0.999),
		       hist_q(&hc[0], 0.99) > 0 ?
		       hist_q(&hc[ph], 0.99) / hist_q(&hc[0], 0.99) : 0,
		       (double)max_call[ph] / 1e6);
	printf("\n");
	printf("- clients: %u, crashers: %u (kill after 1..%u ms), hostile processes: %u, flood: %u connections a round, prompts: %u (Zipf %.2f, 4..32 blocks, half of a chain shared by 8 prompts), pool %u MiB of 16 KiB blocks\n",
	       o.clients, o.crashers, o.kill_ms, o.hostile, o.flood, o.prompts,
	       o.zipf, o.pool_mb);
	printf("- blocks hit %llu, missed %llu, written %llu, dedups %llu; Alloc/Lookup refused for room (ENOSPC/EDQUOT) %llu; other errors %llu%s%s\n",
	       (unsigned long long)hits, (unsigned long long)miss,
	       (unsigned long long)wr, (unsigned long long)dd,
	       (unsigned long long)full, (unsigned long long)errors,
	       last ? ", last: " : "", last ? ac_strerror(last) : "");
	printf("- clients' requests past their deadline (ETIMEDOUT): %llu; requests that found no session (ECONNRESET, ENOTCONN: the daemon away, answered at once; the library reconnects on its own): %llu\n",
	       (unsigned long long)timeouts, (unsigned long long)lost);
	printf("- crash storm: %llu clients started, %llu SIGKILLed\n",
	       (unsigned long long)sh->spawned, (unsigned long long)sh->kills);
	printf("- garbage: %llu packets sent, %llu answers read, %llu sessions closed by the daemon\n",
	       (unsigned long long)sh->garbage_sent,
	       (unsigned long long)sh->garbage_answers,
	       (unsigned long long)sh->garbage_closed);
	printf("- flood: %llu connections opened, %llu connects failed, %llu found closed by the daemon after 200 ms\n",
	       (unsigned long long)sh->flood_opened,
	       (unsigned long long)sh->flood_failed,
	       (unsigned long long)sh->flood_closed);
	printf("- unprivileged peers: %llu connections, %llu refused (an answer, then the close)\n",
	       (unsigned long long)sh->nobody_tries,
	       (unsigned long long)sh->nobody_refused);
	if (stop_ns)
		printf("- SIGSTOP: the daemon stopped %.1f s; every client served again %.0f ms after SIGCONT at the latest (%u never)\n",
		       (double)stop_ns / 1e9, (double)back / 1e6, never_back);
	printf("- bytes checked on hits during the run: %llu (%llu blocks corrupt)\n",
	       (unsigned long long)checked, (unsigned long long)corrupt);
	printf("- at the end: sessions %u (the checker), pinned blocks %u, WRITING blocks %u, cached %u of %u\n",
	       f->st.sessions, f->st.pinned_blocks, f->st.writing_blocks,
	       f->st.cached_blocks, f->st.nblocks);
	printf("- read back at the end, every prompt's chain (a block shared by prompts is read for each): %llu blocks, %llu bytes, %llu corrupt%s%s\n",
	       (unsigned long long)f->blocks, (unsigned long long)f->bytes,
	       (unsigned long long)f->corrupt, f->err ? "; checker error: " : "",
	       f->err ? ac_strerror(f->err) : "");
	printf("- load average at the end (1/5/15 min): %.2f %.2f %.2f\n",
	       load[0], load[1], load[2]);
	return never_back;
}

/* "storm,garbage,...": the attacks in order, each once. */
static int parse_attacks(const char *arg)
{
	char buf[128], *save = NULL, *t;

	snprintf(buf, sizeof(buf), "%s", arg);
	o.nattacks = 0;
	for (t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int a;

		for (a = 0; a < NATTACKS && strcmp(t, attacks[a].name); a++)
			;
		if (a == NATTACKS || o.nattacks == NATTACKS) {
			fprintf(stderr, "soak: --attacks: '%s' is not one of storm, garbage, flood, nobody, sigstop\n",
				t);
			return -1;
		}
		for (unsigned k = 0; k < o.nattacks; k++)
			if (o.attack[k] == (enum attack)a) {
				fprintf(stderr, "soak: --attacks: '%s' twice\n", t);
				return -1;
			}
		o.attack[o.nattacks++] = (enum attack)a;
	}
	return o.nattacks ? 0 : -1;
}

static void usage(const char *p)
{
	fprintf(stderr,
		"usage: %s -d ASYMCACHED [--duration S] [--baseline S] [--clients N]\n"
		"       [--crashers N] [--kill-ms MS] [--prompts N] [--pool-mb MB] [--seed N]\n"
		"       [--attacks storm,garbage,flood,nobody,sigstop] [--hostile N]\n"
		"       [--flood N] [--stop-s S]\n",
		p);
}

static int parse(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "daemon", required_argument, NULL, 'd' },
		{ "duration", required_argument, NULL, 't' },
		{ "baseline", required_argument, NULL, 'b' },
		{ "clients", required_argument, NULL, 'c' },
		{ "crashers", required_argument, NULL, 'k' },
		{ "kill-ms", required_argument, NULL, 'm' },
		{ "prompts", required_argument, NULL, 'p' },
		{ "pool-mb", required_argument, NULL, 'P' },
		{ "seed", required_argument, NULL, 's' },
		{ "attacks", required_argument, NULL, 'a' },
		{ "hostile", required_argument, NULL, 'H' },
		{ "flood", required_argument, NULL, 'F' },
		{ "stop-s", required_argument, NULL, 'S' },
		{ 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "d:t:b:c:k:m:p:P:s:a:H:F:S:", lo, NULL)) != -1) {
		unsigned long v = optarg ? strtoul(optarg, NULL, 10) : 0;

		switch (ch) {
		case 'd': o.daemon = optarg; break;
		case 't': o.duration_s = (unsigned)v; break;
		case 'b': o.baseline_s = (unsigned)v; break;
		case 'c': o.clients = (unsigned)v; break;
		case 'k': o.crashers = (unsigned)v; break;
		case 'm': o.kill_ms = (unsigned)v; break;
		case 'p': o.prompts = (unsigned)v; break;
		case 'P': o.pool_mb = (unsigned)v; break;
		case 's': o.seed = v; break;
		case 'a':
			if (parse_attacks(optarg) < 0)
				return -1;
			break;
		case 'H': o.hostile = (unsigned)v; break;
		case 'F': o.flood = (unsigned)v; break;
		case 'S': o.stop_s = (unsigned)v; break;
		default: return -1;
		}
	}
	if (!o.daemon || optind != argc || !o.clients ||
	    o.clients > MAX_CLIENTS || !o.prompts || !o.kill_ms ||
	    !o.duration_s || !o.pool_mb || o.hostile > MAX_HOSTILE ||
	    (o.stop_s && o.stop_s >= o.duration_s))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	pid_t pids[MAX_CLIENTS + MAX_HOSTILE];
	unsigned np = 0, nhostile;
	double secs[PHASES], load[3] = { 0 };
	struct final f;
	uint64_t t0, t1, stop_ns = 0;
	unsigned never_back;
	int r, st, bad = 0;
	FILE *la;

	if (parse(argc, argv) < 0) {
		usage(argv[0]);
		return 2;
	}
	if (o.crashers > MAX_HOSTILE)
		o.crashers = MAX_HOSTILE;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	zipf_init(o.prompts, o.zipf);
	r = start_daemon();
	if (r < 0) {
		fprintf(stderr, "soak: the daemon did not start: %s (log in %s)\n",
			strerror(-r), dir);
		return 1;
	}
	for (unsigned i = 0; i < o.clients; i++) {
		pids[np] = fork();
		if (pids[np] == 0)
			_exit(client_main((int)i));
		np++;
	}
	nhostile = o.crashers > o.hostile ? o.crashers : o.hostile;
	for (unsigned i = 0; i < (nhostile ? nhostile : 1); i++) {
		pids[np] = fork();
		if (pids[np] == 0)
			_exit(attacker_main((int)i));
		np++;
	}
	t0 = now_ns();
	sleep(o.baseline_s);
	t1 = now_ns();
	secs[0] = (double)(t1 - t0) / 1e9;
	for (unsigned ph = 1; ph <= o.nattacks; ph++) {
		t0 = t1;
		sh->phase = (int)ph;
		if (o.attack[ph - 1] == A_SIGSTOP && o.stop_s) {
			/* In the middle of the phase, with time to come back. */
			unsigned before = (o.duration_s - o.stop_s) / 2;

			sleep(before);
			kill(daemon_pid, SIGSTOP);
			t1 = now_ns();
			sleep(o.stop_s);
			kill(daemon_pid, SIGCONT);
			sh->cont_ns = now_ns();
			stop_ns = sh->cont_ns - t1;
			sleep(o.duration_s - o.stop_s - before);
		} else {
			sleep(o.duration_s);
		}
		t1 = now_ns();
		secs[ph] = (double)(t1 - t0) / 1e9;
	}
	sh->stop = 1;
	for (unsigned i = 0; i < np; i++) {
		waitpid(pids[i], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			bad++;
	}
	verify_all(&f);
	la = fopen("/proc/loadavg", "r");
	if (la) {
		if (fscanf(la, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
			load[0] = load[1] = load[2] = 0;
		fclose(la);
	}
	never_back = report(&f, secs, load, stop_ns);
	kill(daemon_pid, SIGTERM);
	waitpid(daemon_pid, &st, 0);
	printf("- daemon exit: %s; worker processes failed: %d\n",
	       WIFEXITED(st) && !WEXITSTATUS(st) ? "clean (status 0)" : "NOT clean",
	       bad);
	r = f.corrupt || f.err || f.st.pinned_blocks || f.st.writing_blocks ||
	    f.st.sessions != 1 || bad || !WIFEXITED(st) || WEXITSTATUS(st) ||
	    never_back;
	for (unsigned c = 0; c < o.clients; c++)
		r |= sh->c[c].corrupt_blocks != 0;
	printf("- verdict: %s\n", r ? "FAILED" : "passed");
	if (!r) {
		char log[96];

		snprintf(log, sizeof(log), "%s/daemon.log", dir);
		unlink(log);
		snprintf(log, sizeof(log), "%s/asymcached.conf", dir);
		unlink(log);
		rmdir(dir);
	} else {
		fprintf(stderr, "soak: the daemon's log is in %s\n", dir);
	}
	return r ? 1 : 0;
}
