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
 *   soak -d BUILD/daemon/asymcached [--duration 600] [--baseline 60]
 *        [--clients 64] [--crashers 16] [--prompts 4096] [--pool-mb 64]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "asymcache/asymcache.h"

#define BLOCK_TOKENS	16u
#define MAX_CHAIN	32u
#define MIN_CHAIN	4u
#define MAX_CLIENTS	256
#define NBUCKETS	1400	/* 1.02^1400 us is far past any deadline */
#define PHASES		2	/* 0: clients alone, 1: with the crash storm */

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
	uint64_t errors;		/* anything else */
	int last_error;
	struct hist lookup[PHASES];	/* Lookup round trip */
	struct hist cycle[PHASES];	/* the whole request */
};

struct shared {
	volatile int phase;		/* 0, 1, or 2: stop */
	uint64_t kills, spawned;
	struct client_stats c[MAX_CLIENTS];
};

static struct opts {
	const char *daemon;
	unsigned duration_s, baseline_s, clients, crashers, prompts, pool_mb;
	unsigned kill_ms;
	double zipf;
	uint64_t seed;
} o = {
	.duration_s = 600, .baseline_s = 60, .clients = 64, .crashers = 16,
	.prompts = 4096, .pool_mb = 64, .kill_ms = 30, .zipf = 0.9,
	.seed = 1,
};

static struct shared *sh;
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
	if (r == 0) {
		hist_add(&st->cycle[phase], now_ns() - t0);
		st->reqs[phase]++;
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
	while (sh->phase < 2) {
		int phase = sh->phase;

		r = serve(&s, zipf_pick(&rng, o.prompts), st, phase);
		if (no_room(r)) {
			st->full++;
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

static int crasher_main(int slot)
{
	uint64_t rng = mix(o.seed * 104729 + (uint64_t)slot);

	while (sh->phase < 2) {
		pid_t pid;
		unsigned ms;

		if (sh->phase == 0) {
			usleep(20000);
			continue;
		}
		rng = mix(rng);
		pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0)
			doomed(rng);
		ms = 1 + (unsigned)(mix(rng ^ 1) % o.kill_ms);
		__atomic_add_fetch(&sh->spawned, 1, __ATOMIC_RELAXED);
		usleep(ms * 1000);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		__atomic_add_fetch(&sh->kills, 1, __ATOMIC_RELAXED);
	}
	return 0;
}

/* ---- the daemon --------------------------------------------------------- */

static int start_daemon(void)
{
	char pb[32], log[96];
	int fd;

	snprintf(dir, sizeof(dir), "/tmp/ac-soak-XXXXXX");
	if (!mkdtemp(dir))
		return -errno;
	snprintf(sock_path, sizeof(sock_path), "%s/sock", dir);
	snprintf(log, sizeof(log), "%s/daemon.log", dir);
	snprintf(pb, sizeof(pb), "%uM", o.pool_mb);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	daemon_pid = fork();
	if (daemon_pid < 0)
		return -errno;
	if (daemon_pid == 0) {
		const char *argv[] = {
			o.daemon, "--foreground", "-c", "/dev/null", "--socket",
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

static void report(const struct final *f, double secs[PHASES], double load[3])
{
	struct hist hl[PHASES] = { 0 }, hc[PHASES] = { 0 };
	uint64_t reqs[PHASES] = { 0 }, hits = 0, miss = 0, wr = 0, dd = 0;
	uint64_t checked = 0, corrupt = 0, full = 0, errors = 0;
	int last = 0;

	for (unsigned c = 0; c < o.clients; c++) {
		const struct client_stats *st = &sh->c[c];

		for (int ph = 0; ph < PHASES; ph++) {
			reqs[ph] += st->reqs[ph];
			for (int b = 0; b < NBUCKETS; b++) {
				hl[ph].n[b] += st->lookup[ph].n[b];
				hc[ph].n[b] += st->cycle[ph].n[b];
			}
		}
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
	printf("| phase | seconds | requests/s | Lookup p50 / p99 / p99.9 (us) | request p50 / p99 / p99.9 (us) |\n");
	printf("| --- | --- | --- | --- | --- |\n");
	for (int ph = 0; ph < PHASES; ph++)
		printf("| %s | %.0f | %.0f | %.0f / %.0f / %.0f | %.0f / %.0f / %.0f |\n",
		       ph ? "clients + crash storm" : "clients alone (baseline)",
		       secs[ph], secs[ph] > 0 ? (double)reqs[ph] / secs[ph] : 0,
		       hist_q(&hl[ph], 0.5), hist_q(&hl[ph], 0.99),
		       hist_q(&hl[ph], 0.999), hist_q(&hc[ph], 0.5),
		       hist_q(&hc[ph], 0.99), hist_q(&hc[ph], 0.999));
	printf("\n");
	printf("- clients: %u, crashers: %u (kill after 1..%u ms), prompts: %u (Zipf %.2f, 4..32 blocks, half of a chain shared by 8 prompts), pool %u MiB of 16 KiB blocks\n",
	       o.clients, o.crashers, o.kill_ms, o.prompts, o.zipf, o.pool_mb);
	printf("- blocks hit %llu, missed %llu, written %llu, dedups %llu; Alloc/Lookup refused for room (ENOSPC/EDQUOT) %llu; other errors %llu%s%s\n",
	       (unsigned long long)hits, (unsigned long long)miss,
	       (unsigned long long)wr, (unsigned long long)dd,
	       (unsigned long long)full, (unsigned long long)errors,
	       last ? ", last: " : "", last ? ac_strerror(last) : "");
	printf("- crash storm: %llu clients started, %llu SIGKILLed\n",
	       (unsigned long long)sh->spawned, (unsigned long long)sh->kills);
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
}

static void usage(const char *p)
{
	fprintf(stderr,
		"usage: %s -d ASYMCACHED [--duration S] [--baseline S] [--clients N]\n"
		"       [--crashers N] [--kill-ms MS] [--prompts N] [--pool-mb MB] [--seed N]\n",
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
		{ 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "d:t:b:c:k:m:p:P:s:", lo, NULL)) != -1) {
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
		default: return -1;
		}
	}
	if (!o.daemon || optind != argc || !o.clients ||
	    o.clients > MAX_CLIENTS || !o.prompts || !o.kill_ms ||
	    !o.duration_s || !o.pool_mb)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	pid_t pids[MAX_CLIENTS + 64];
	unsigned np = 0;
	double secs[PHASES], load[3] = { 0 };
	struct final f;
	uint64_t t0, t1, t2;
	int r, st, bad = 0;
	FILE *la;

	if (parse(argc, argv) < 0) {
		usage(argv[0]);
		return 2;
	}
	if (o.crashers > 64)
		o.crashers = 64;
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
	for (unsigned i = 0; i < o.crashers; i++) {
		pids[np] = fork();
		if (pids[np] == 0)
			_exit(crasher_main((int)i));
		np++;
	}
	t0 = now_ns();
	sleep(o.baseline_s);
	t1 = now_ns();
	sh->phase = 1;
	sleep(o.duration_s);
	t2 = now_ns();
	sh->phase = 2;
	for (unsigned i = 0; i < np; i++) {
		waitpid(pids[i], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			bad++;
	}
	secs[0] = (double)(t1 - t0) / 1e9;
	secs[1] = (double)(t2 - t1) / 1e9;
	verify_all(&f);
	la = fopen("/proc/loadavg", "r");
	if (la) {
		if (fscanf(la, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
			load[0] = load[1] = load[2] = 0;
		fclose(la);
	}
	report(&f, secs, load);
	kill(daemon_pid, SIGTERM);
	waitpid(daemon_pid, &st, 0);
	printf("- daemon exit: %s; worker processes failed: %d\n",
	       WIFEXITED(st) && !WEXITSTATUS(st) ? "clean (status 0)" : "NOT clean",
	       bad);
	r = f.corrupt || f.err || f.st.pinned_blocks || f.st.writing_blocks ||
	    f.st.sessions != 1 || bad || !WIFEXITED(st) || WEXITSTATUS(st);
	for (unsigned c = 0; c < o.clients; c++)
		r |= sh->c[c].corrupt_blocks != 0;
	printf("- verdict: %s\n", r ? "FAILED" : "passed");
	if (!r) {
		char log[96];

		snprintf(log, sizeof(log), "%s/daemon.log", dir);
		unlink(log);
		rmdir(dir);
	} else {
		fprintf(stderr, "soak: the daemon's log is in %s\n", dir);
	}
	return r ? 1 : 0;
}
