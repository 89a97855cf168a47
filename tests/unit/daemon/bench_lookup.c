/* SPDX-License-Identifier: MIT */
/*
 * Lookup latency of a 2,048-key chain, end to end: client packs the
 * request, the real daemon answers over the SEQPACKET socket, the client
 * unpacks the reply. Pins taken by each lookup are released untimed.
 *   meson test -C BUILD --benchmark daemon-lookup-2048 --verbose
 * or run the binary with AC_BUILD_ROOT set. Prints one table row each for
 * all-hit and all-miss chains, end to end and then daemon side only
 * (dispatch_packet() in this process: decode, index, pins, policy, encode),
 * which a loaded machine's scheduling noise does not reach.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "daemon.h"
#include "dispatch.h"
#include "harness.h"
#include "log.h"
#include "session.h"

#define NKEYS 2048
#define ITERS 3000

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, uint64_t *t, int n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp_u64);
	printf("| %-22s | %5d | %8.1f | %8.1f | %8.1f | %8.1f |\n", what, n,
	       t[n / 2] / 1e3, t[(int)(n * 0.99)] / 1e3,
	       t[(int)(n * 0.999)] / 1e3, t[n - 1] / 1e3);
}

static int run(const char *policy)
{
	static uint8_t keys[NKEYS * 16], miss[NKEYS * 16];
	static uint32_t blocks[NKEYS], got[NKEYS];
	static uint64_t t[ITERS];
	char what[64];
	struct harness h;
	uint32_t ns, hits, i;
	int fd, it;

	if (harness_start(&h, "64M", "16K", (const char *[]){
			  "--log-level", "notice", "--policy", policy,
			  NULL }) < 0) {
		fprintf(stderr, "daemon did not start\n");
		return 1;
	}
	fd = hc_session(h.sock, "bench", &ns);
	for (i = 0; i < NKEYS; i++) {
		hc_key(keys + 16 * i, 1, i);
		hc_key(miss + 16 * i, 2, i);
	}
	if (fd < 0 || hc_alloc(fd, ns, NKEYS, blocks) ||
	    hc_commit_chain(fd, ns, keys, blocks, NKEYS, 0, NULL, NULL, NULL) ||
	    hc_release(fd, blocks, NKEYS, NULL)) {
		fprintf(stderr, "setup failed\n");
		harness_stop(&h);
		return 1;
	}
	for (it = 0; it < ITERS; it++) {
		uint64_t t0 = now_ns();

		if (hc_lookup(fd, ns, keys, NKEYS, got, &hits, NULL) ||
		    hits != NKEYS) {
			fprintf(stderr, "lookup failed\n");
			break;
		}
		t[it] = now_ns() - t0;
		hc_release(fd, got, NKEYS, NULL);
	}
	snprintf(what, sizeof(what), "%s, all hits", policy);
	report(what, t, it);
	for (it = 0; it < ITERS; it++) {
		uint64_t t0 = now_ns();

		if (hc_lookup(fd, ns, miss, NKEYS, got, &hits, NULL) || hits) {
			fprintf(stderr, "lookup failed\n");
			break;
		}
		t[it] = now_ns() - t0;
	}
	snprintf(what, sizeof(what), "%s, all misses", policy);
	report(what, t, it);
	close(fd);
	return harness_stop(&h) == 0 ? 0 : 1;
}

/* Daemon-side cost: the same requests through dispatch_packet(). */
static int run_inproc(const char *policy)
{
	static struct daemon d;
	static uint8_t keys[NKEYS * 16], miss[NKEYS * 16], pkt[2][NKEYS * 16 + 64];
	static uint64_t t[3][ITERS];
	static uint8_t relpkt[NKEYS * 6 + 64];
	Request rreq = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Release rel = ASYMCACHE__V1__RELEASE__INIT;
	size_t rlen;
	static struct cache_commit_entry e[NKEYS];
	static uint32_t out[NKEYS];
	Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Lookup lk = ASYMCACHE__V1__LOOKUP__INIT;
	struct cache_layout l = {
		.model_id = "bench", .kv.num_layers = 2, .kv.num_kv_heads = 2,
		.kv.head_dim = 64, .kv.dtype = AC_DTYPE_FP16, .kv.block_tokens = 16,
	};
	struct session *s;
	size_t len[2];
	uint32_t ns, ded, i;
	uint64_t bpb;
	char what[64];
	int it, k;

	memset(&d, 0, sizeof(d));
	cfg_defaults(&d.cfg);
	d.cfg.backend = CFG_BACKEND_HOST;
	d.cfg.pool_bytes = 64ULL << 20;
	d.cfg.block_bytes = 16384;
	d.cfg.group[0] = '\0';
	d.cfg.log_level = LOG_ERR;
	snprintf(d.cfg.policy, sizeof(d.cfg.policy), "%s", policy);
	if (daemon_core_init(&d) < 0)
		return 1;
	s = session_new(&d, -1, getpid(), 0, 0);
	if (!s)
		return 1;
	s->hello_done = true;
	s->attached = true;
	if (cache_register_ns(&d.pools[0].cache, &l, &ns, &bpb) < 0 ||
	    cache_alloc(&d.pools[0].cache, &s->cs, ns, NKEYS, out) < 0)
		return 1;
	for (i = 0; i < NKEYS; i++) {
		hc_key(keys + 16 * i, 1, i);
		hc_key(miss + 16 * i, 2, i);
		memcpy(e[i].key.b, keys + 16 * i, 16);
		e[i].block = out[i];
		e[i].pos = i;
		e[i].has_parent = i > 0;
		if (i)
			memcpy(e[i].parent_key.b, keys + 16 * (i - 1), 16);
	}
	if (cache_commit(&d.pools[0].cache, &s->cs, ns, e, NKEYS, out, &ded) < 0)
		return 1;
	cache_sess_release_all(&d.pools[0].cache, &s->cs);
	lk.ns_id = ns;
	lk.keys.len = sizeof(keys);
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_LOOKUP;
	req.lookup = &lk;
	lk.keys.data = keys;
	len[0] = asymcache__v1__request__pack(&req, pkt[0]);
	lk.keys.data = miss;
	len[1] = asymcache__v1__request__pack(&req, pkt[1]);
	/* The hits' pins go back with one Release of all 2,048 blocks. */
	rel.n_blocks = NKEYS;
	rel.blocks = out;
	rreq.body_case = ASYMCACHE__V1__REQUEST__BODY_RELEASE;
	rreq.release = &rel;
	rlen = asymcache__v1__request__pack(&rreq, relpkt);
	for (it = 0; it < ITERS; it++) {
		uint64_t t0;

		for (k = 0; k < 2; k++) {
			t0 = now_ns();
			if (dispatch_packet(&d, s, pkt[k], len[k], false) < 0)
				return 1;
			t[k][it] = now_ns() - t0;
		}
		t0 = now_ns();
		if (dispatch_packet(&d, s, relpkt, rlen, false) < 0 ||
		    s->cs.npins != 0)
			return 1;
		t[2][it] = now_ns() - t0;
	}
	snprintf(what, sizeof(what), "%s, hits, daemon", policy);
	report(what, t[0], ITERS);
	snprintf(what, sizeof(what), "%s, misses, daemon", policy);
	report(what, t[1], ITERS);
	snprintf(what, sizeof(what), "%s, release, daemon", policy);
	report(what, t[2], ITERS);
	session_free(s);
	daemon_core_fini(&d);
	return 0;
}

int main(int argc, char **argv)
{
	const char *def[] = { "asym", "lru", NULL };
	const char *const *pol = argc > 1 ? (const char *const *)argv + 1 : def;
	int r = 0;

	printf("| policy, %d-key chain    | iters | p50 (us) | p99 (us) | p99.9 (us) | max (us) |\n",
	       NKEYS);
	printf("|------------------------|-------|----------|----------|----------|----------|\n");
	for (const char *const *p = pol; *p; p++)
		r |= run(*p);
	for (const char *const *p = pol; *p; p++)
		r |= run_inproc(*p);
	return r;
}
