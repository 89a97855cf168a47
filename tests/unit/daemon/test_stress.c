/* SPDX-License-Identifier: MIT */
/*
 * Several real client processes hammer one small pool (lookups, allocs,
 * commits with shared keys, releases, abrupt exits) through the host
 * backend's shared memfd. Every block a client holds pinned must still
 * carry the bytes written for its key: a pinned block that was evicted or
 * handed out again would show another key's bytes. At the end nothing may
 * be pinned or WRITING and every block must be FREE or CACHED.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define BLOCK 16384u
#define NBLK 64u
#define CHAIN 6u
#define NCLIENTS 6
#define ITERS 600

static struct harness h;

struct client {
	int fd;
	uint32_t ns;
	uint8_t *pool;
};

static int client_open(struct client *c)
{
	int mfd = -1;

	c->fd = hc_connect(h.sock);
	if (c->fd < 0 || hc_hello(c->fd, "stress") != 0 ||
	    hc_attach(c->fd, &mfd, NULL, NULL) != 0 || mfd < 0)
		return -1;
	c->pool = mmap(NULL, NBLK * BLOCK, PROT_READ | PROT_WRITE, MAP_SHARED,
		       mfd, 0);
	close(mfd);
	if (c->pool == MAP_FAILED)
		return -1;
	return hc_register(c->fd, "test-model", 2, 2, 64, 2, 16, &c->ns) ? -1 : 0;
}

static void client_close(struct client *c)
{
	munmap(c->pool, NBLK * BLOCK);
	close(c->fd);
}

static void fill(uint8_t *blk, const uint8_t *key)
{
	memcpy(blk, key, 16);
	memset(blk + 16, key[0] ^ key[5], BLOCK - 16);
}

static bool intact(const uint8_t *blk, const uint8_t *key)
{
	return memcmp(blk, key, 16) == 0 && blk[BLOCK - 1] == (key[0] ^ key[5]) &&
	       blk[BLOCK / 2] == (key[0] ^ key[5]);
}

/* Returns 0, or a step number for the parent to report. */
static int client_main(unsigned int seed)
{
	uint8_t keys[CHAIN * 16];
	uint32_t got[CHAIN], fresh[CHAIN], held[4 * CHAIN], out[CHAIN];
	struct client c;
	unsigned int it, i;
	uint32_t nheld, hits, miss;
	int r;

	srand(seed);
	if (client_open(&c) < 0)
		return 1;
	for (it = 0; it < ITERS; it++) {
		uint64_t chain = (uint64_t)(rand() % 24);

		for (i = 0; i < CHAIN; i++)
			hc_key(keys + 16 * i, chain, i);
		nheld = 0;
		if (hc_lookup(c.fd, c.ns, keys, CHAIN, got, &hits, NULL))
			return 2;
		for (i = 0; i < CHAIN; i++) {
			if (got[i] == 0xffffffffu)
				continue;
			if (!intact(c.pool + (size_t)got[i] * BLOCK, keys + 16 * i))
				return 3;	/* a pinned hit holds other bytes */
			held[nheld++] = got[i];
		}
		miss = CHAIN - hits;
		if (miss) {
			r = hc_alloc(c.fd, c.ns, miss, fresh);
			if (r == ENOSPC)
				goto release;
			if (r)
				return 4;
			/* Commit the missing positions, each as a chain of 1. */
			for (i = 0, r = 0; i < CHAIN; i++) {
				uint32_t b;

				if (got[i] != 0xffffffffu)
					continue;
				b = fresh[r++];
				fill(c.pool + (size_t)b * BLOCK, keys + 16 * i);
				if (hc_commit_chain(c.fd, c.ns, keys + 16 * i, &b, 1,
						    i, i ? keys + 16 * (i - 1) : NULL,
						    out, NULL))
					return 5;
				if (!intact(c.pool + (size_t)out[0] * BLOCK,
					    keys + 16 * i))
					return 6;	/* dedup answered bad bytes */
				held[nheld++] = out[0];
			}
		}
		if (rand() % 40 == 0) {
			/* Vanish holding pins; the daemon must reclaim them. */
			client_close(&c);
			if (client_open(&c) < 0)
				return 7;
			continue;
		}
release:
		if (nheld && hc_release(c.fd, held, nheld, NULL))
			return 8;
	}
	client_close(&c);
	return 0;
}

TestSuite(stress, .timeout = 180);

Test(stress, pinned_blocks_keep_their_bytes_under_churn)
{
	Asymcache__V1__StatsReply st;
	pid_t pids[NCLIENTS];
	int i, status, fd;

	cr_assert_eq(harness_start(&h, "1M", "16K", NULL), 0);
	for (i = 0; i < NCLIENTS; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(client_main(1000 + (unsigned int)i));
	}
	for (i = 0; i < NCLIENTS; i++) {
		cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
		cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "client %d failed at step %d", i, WEXITSTATUS(status));
	}
	fd = hc_connect(h.sock);
	cr_assert_eq(hc_hello(fd, "observer"), 0);
	cr_assert_eq(hc_stats_when_sessions(fd, 1, &st), 0);
	cr_assert_eq(st.sessions, 1);
	cr_assert_eq(st.pinned_blocks, 0, "pins outlived their sessions");
	cr_assert_eq(st.writing_blocks, 0, "WRITING outlived its owner");
	cr_assert_eq(st.free_blocks + st.cached_blocks, NBLK);
	cr_assert_gt(st.evictions, 0, "the pool never filled: proves nothing");
	cr_assert_gt(st.lookup_hits, 0);
	cr_log_info("lookups %llu hits %llu evictions %llu dedups %llu",
		    (unsigned long long)st.lookups,
		    (unsigned long long)st.lookup_hits,
		    (unsigned long long)st.evictions,
		    (unsigned long long)st.dedups);
	close(fd);
	cr_assert_eq(harness_stop(&h), 0);
}
