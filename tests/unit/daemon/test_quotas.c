/* SPDX-License-Identifier: MIT */
/*
 * Quotas on blocks held (WRITING + pinned) against the real asymcached:
 * with the defaults (half the pool a session, three quarters a uid) one
 * client cannot take or pin the whole pool, refusals are EDQUOT with a
 * message naming the limit, nothing changes on a refusal, and Stats
 * counts them.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* 1 MiB of 16 KiB blocks. */
#define NBLOCKS	64

static struct harness h;

TestSuite(quotas, .timeout = 60);

static void start_with(const char *conf_text, const char *group)
{
	static char conf[64];
	const char *extra[] = { "-c", conf, group ? "--group" : NULL, group,
				NULL };

	snprintf(conf, sizeof(conf), "/tmp/acd-quota-%d.conf", (int)getpid());
	cr_assert_eq(th_write_file(conf, conf_text), 0);
	cr_assert_eq(harness_start(&h, "1M", "16K", extra), 0);
	unlink(conf);
}

/* The message of an Error answer to @req; asserts it is EDQUOT. */
static void expect_edquot_naming(int fd, uint32_t ns, uint32_t count,
				 const char *limit)
{
	Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Alloc a = ASYMCACHE__V1__ALLOC__INIT;
	Response *resp = NULL;

	a.ns_id = ns;
	a.count = count;
	req.id = 77;
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_ALLOC;
	req.alloc = &a;
	cr_assert_eq(hc_call(fd, &req, &resp, NULL), 0);
	cr_assert_eq(resp->body_case, ASYMCACHE__V1__RESPONSE__BODY_ERROR);
	cr_expect_eq(resp->error->code, EDQUOT);
	cr_expect(strstr(resp->error->message, limit), "message: %s",
		  resp->error->message);
	hc_free(resp);
}

/* One session could WRITE or pin every block of the pool. */
Test(quotas, one_session_takes_half_the_pool_and_one_uid_three_quarters)
{
	Asymcache__V1__StatsReply st;
	uint32_t ns, b[NBLOCKS];
	int a, c;

	start_with("[daemon]\nlog_level = warning\n", NULL);
	a = hc_session(h.sock, "greedy", &ns);
	cr_assert_geq(a, 0);
	cr_assert_eq(hc_alloc(a, ns, NBLOCKS / 2 + 1, b), EDQUOT,
		     "one session took more than half the pool");
	expect_edquot_naming(a, ns, NBLOCKS, "max_blocks_per_session (32 blocks");
	cr_assert_eq(hc_alloc(a, ns, NBLOCKS / 2, b), 0);
	cr_assert_eq(hc_alloc(a, ns, 1, b), EDQUOT);
	cr_assert_eq(hc_stats(a, &st), 0);
	cr_expect_eq(st.writing_blocks, NBLOCKS / 2, "a refusal changed something");
	cr_expect_eq(st.session_held, NBLOCKS / 2);
	cr_expect_eq(st.session_quota, NBLOCKS / 2);
	cr_expect_eq(st.uid_quota, NBLOCKS * 3 / 4);
	cr_expect_eq(st.quota_refusals, 3);

	/* A second session of the same uid: up to three quarters in all. */
	c = hc_session(h.sock, "greedy-2", &ns);
	cr_assert_geq(c, 0);
	expect_edquot_naming(c, ns, NBLOCKS / 4 + 1, "max_blocks_per_uid (48 blocks");
	cr_assert_eq(hc_alloc(c, ns, NBLOCKS / 4, b + NBLOCKS / 2), 0);
	cr_assert_eq(hc_stats(c, &st), 0);
	cr_expect_eq(st.uid_held, NBLOCKS * 3 / 4);
	cr_expect_eq(st.free_blocks, NBLOCKS / 4, "a quarter is left for others");
	cr_expect_eq(st.quota_refusals, 4);
	/* Released blocks are counted out again. */
	cr_assert_eq(hc_release(a, b, 8, NULL), 0);
	cr_assert_eq(hc_alloc(c, ns, 8, b), 0);
	close(a);
	close(c);
	cr_assert_eq(harness_stop(&h), 0);
}

/* @n blocks published as a chain (seed, 0..n-1) and released. */
static void publish(int fd, uint32_t ns, uint64_t seed, uint32_t n)
{
	uint8_t keys[NBLOCKS * 16];
	uint32_t b[NBLOCKS];

	for (uint32_t i = 0; i < n; i++)
		hc_key(keys + 16 * i, seed, i);
	cr_assert_eq(hc_alloc(fd, ns, n, b), 0);
	cr_assert_eq(hc_commit_chain(fd, ns, keys, b, n, 0, NULL, b, NULL), 0);
	cr_assert_eq(hc_release(fd, b, n, NULL), 0);
}

/* Lookup pins its hits: those count, and a refusal pins nothing. */
Test(quotas, lookup_hits_count_and_a_refused_lookup_pins_nothing)
{
	Asymcache__V1__StatsReply st;
	uint8_t keys[40 * 16];
	uint32_t ns, found[40], hits = 0;
	int a, r;

	start_with("[limits]\nmax_blocks_per_session = 24\n"
		   "[daemon]\nlog_level = warning\n", NULL);
	a = hc_session(h.sock, "writer", &ns);
	cr_assert_geq(a, 0);
	publish(a, ns, 1, 20);
	publish(a, ns, 2, 20);
	for (uint32_t i = 0; i < 20; i++) {
		hc_key(keys + 16 * i, 1, i);
		hc_key(keys + 16 * (20 + i), 2, i);
	}
	r = hc_lookup(a, ns, keys, 40, found, &hits, NULL);
	cr_assert_eq(r, EDQUOT, "40 hits pinned past a quota of 24");
	cr_assert_eq(hc_stats(a, &st), 0);
	cr_expect_eq(st.pinned_blocks, 0, "a refused lookup pinned blocks");
	cr_expect_eq(st.session_quota, 24);
	/* A key listed twice is one block held. */
	memcpy(keys + 16 * 20, keys, 16 * 20);
	cr_assert_eq(hc_lookup(a, ns, keys, 40, found, &hits, NULL), 0);
	cr_expect_eq(hits, 40);
	cr_assert_eq(hc_stats(a, &st), 0);
	cr_expect_eq(st.session_held, 20);
	cr_expect_eq(st.session_pins, 40);
	/* Pinning a block it holds costs nothing more. */
	cr_assert_eq(hc_lookup(a, ns, keys, 20, found, &hits, NULL), 0);
	cr_assert_eq(hc_stats(a, &st), 0);
	cr_expect_eq(st.session_held, 20);
	close(a);
	cr_assert_eq(harness_stop(&h), 0);
}

/* Another user still finds room while one uid holds all it may. */
Test(quotas, another_user_finds_room_beside_a_greedy_one)
{
	uint32_t ns, b[NBLOCKS];
	int status, a, c;
	pid_t pid;

	if (geteuid() != 0)
		cr_skip_test("needs root to run a peer as nobody");
	start_with("[daemon]\nsocket_mode = 0666\nlog_level = warning\n",
		   "nogroup");
	cr_assert_eq(chmod(h.dir, 0755), 0);
	a = hc_session(h.sock, "greedy", &ns);
	c = hc_session(h.sock, "greedy-2", &ns);
	cr_assert_geq(a, 0);
	cr_assert_geq(c, 0);
	cr_assert_eq(hc_alloc(a, ns, NBLOCKS / 2, b), 0);
	cr_assert_eq(hc_alloc(c, ns, NBLOCKS / 4, b), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		uint32_t mine;
		int fd;

		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(90);
		fd = hc_session(h.sock, "modest", &mine);
		if (fd < 0)
			_exit(91);
		_exit(hc_alloc(fd, mine, NBLOCKS / 4, b) == 0 ? 0 : 92);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the other user found no room (exit %d)", WEXITSTATUS(status));
	close(a);
	close(c);
	cr_assert_eq(harness_stop(&h), 0);
}
