/* SPDX-License-Identifier: MIT */
/*
 * Namespace lifetimes against the real asymcached: UnregisterNamespace
 * (by its owner, not by others, not under another user's session), what
 * happens to its blocks, ids that are never handed out twice, and the
 * collection of namespaces no session has used for namespace_idle_ms.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define FP16	ASYMCACHE__V1__DTYPE__DTYPE_FP16
/* The daemon's and the policies' one limit (policy/policy.h). */
#define MAX_NS	255

static struct harness h;

TestSuite(namespaces, .timeout = 60);

/* @group: NULL for none (only root and the daemon's own uid attach). */
static void start_group(const char *conf_text, const char *group)
{
	static char conf[64];
	const char *extra[] = { "-c", conf, group ? "--group" : NULL, group,
				NULL };

	snprintf(conf, sizeof(conf), "/tmp/acd-ns-%d.conf", (int)getpid());
	cr_assert_eq(th_write_file(conf, conf_text), 0);
	cr_assert_eq(harness_start(&h, "1M", "16K", extra), 0);
	unlink(conf);
}

static void start_with(const char *conf_text)
{
	start_group(conf_text, NULL);
}

static int reg(int fd, const char *model, uint32_t *ret_ns)
{
	return hc_register(fd, model, 2, 2, 64, FP16, 16, ret_ns);
}

/* @n blocks written and committed as a chain of keys (seed, 0..n-1). */
static void commit_chain(int fd, uint32_t ns, uint64_t seed, uint32_t n,
			 uint32_t *ret_blocks)
{
	uint8_t keys[16 * 16];
	uint32_t blocks[16], i;

	cr_assert_leq(n, 16);
	for (i = 0; i < n; i++)
		hc_key(keys + 16 * i, seed, i);
	cr_assert_eq(hc_alloc(fd, ns, n, blocks), 0);
	cr_assert_eq(hc_commit_chain(fd, ns, keys, blocks, n, 0, NULL,
				     ret_blocks, NULL), 0);
}

/*
 * The table held 255 namespaces for good: with no way to end one, a pool
 * that had seen 255 layouts refused every new model until a restart.
 */
Test(namespaces, a_full_table_takes_a_new_layout_after_an_unregister)
{
	uint32_t ns, first = 0, again, blk;
	char model[32];
	uint8_t key[16];
	int fd, i;

	start_with("[daemon]\nlog_level = warning\n");
	fd = hc_session(h.sock, "filler", &first);
	cr_assert_geq(fd, 0);
	for (i = 1; i < MAX_NS; i++) {
		snprintf(model, sizeof(model), "model-%d", i);
		cr_assert_eq(reg(fd, model, &ns), 0, "namespace %d", i);
	}
	cr_assert_eq(reg(fd, "one-too-many", &ns), ENOSPC);
	cr_assert_eq(hc_unregister(fd, first, NULL, NULL), 0);
	cr_assert_eq(reg(fd, "one-too-many", &ns), 0,
		     "the slot of an ended namespace was not used again");
	cr_expect_neq(ns, first, "an ended namespace's id was handed out again");
	/* The old id finds nothing, whatever now lives in its slot. */
	hc_key(key, 1, 0);
	cr_expect_eq(hc_lookup(fd, first, key, 1, &blk, NULL, NULL), ENOENT);
	cr_expect_eq(hc_alloc(fd, first, 1, &blk), ENOENT);
	cr_expect_eq(hc_unregister(fd, first, NULL, NULL), ENOENT);
	/* Full again; the same layout registered again is a new namespace. */
	cr_expect_eq(reg(fd, "test-model", &again), ENOSPC);
	cr_assert_eq(hc_unregister(fd, ns, NULL, NULL), 0);
	cr_assert_eq(reg(fd, "test-model", &again), 0);
	cr_expect_neq(again, first);
	close(fd);
	cr_assert_eq(harness_stop(&h), 0);
}

Test(namespaces, unregister_frees_blocks_and_pinned_ones_go_with_their_last_pin)
{
	Asymcache__V1__StatsReply st;
	uint32_t ns, ns2, blocks[4], wr, flushed = 9, kept = 9, hits = 0;
	uint32_t found[4];
	uint8_t keys[16 * 4];
	int fd, other, i;

	start_with("[daemon]\nlog_level = warning\n");
	fd = hc_session(h.sock, "owner", &ns);
	cr_assert_geq(fd, 0);
	commit_chain(fd, ns, 7, 4, blocks);
	/* Two cached and unpinned, two pinned, one WRITING. */
	cr_assert_eq(hc_release(fd, blocks, 2, NULL), 0);
	cr_assert_eq(hc_alloc(fd, ns, 1, &wr), 0);
	/* Another session of the same user shares the namespace. */
	other = hc_session(h.sock, "reader", &ns2);
	cr_assert_geq(other, 0);
	cr_assert_eq(ns2, ns);
	for (i = 0; i < 4; i++)
		hc_key(keys + 16 * i, 7, (uint32_t)i);
	cr_assert_eq(hc_lookup(other, ns, keys + 16 * 3, 1, found, &hits, NULL), 0);
	cr_assert_eq(hits, 1);

	cr_assert_eq(hc_unregister(fd, ns, &flushed, &kept), 0);
	cr_expect_eq(flushed, 2);
	cr_expect_eq(kept, 2);
	cr_assert_eq(hc_stats(fd, &st), 0);
	cr_expect_eq(st.cached_blocks, 2);
	cr_expect_eq(st.writing_blocks, 1);
	/* The id is gone for every session. */
	cr_expect_eq(hc_lookup(other, ns, keys, 4, found, NULL, NULL), ENOENT);
	cr_expect_eq(hc_lookup(fd, ns, keys, 4, found, NULL, NULL), ENOENT);
	cr_expect_eq(hc_commit_chain(fd, ns, keys, &wr, 1, 0, NULL, NULL, NULL),
		     ENOENT, "a WRITING block was committed into an ended namespace");
	/* Pinned blocks stay readable until the last pin goes. */
	cr_assert_eq(hc_release(fd, blocks + 2, 2, NULL), 0);
	cr_assert_eq(hc_stats(fd, &st), 0);
	cr_expect_eq(st.cached_blocks, 1, "block 3 is still pinned by the reader");
	cr_assert_eq(hc_release(other, found, 1, NULL), 0);
	cr_assert_eq(hc_release(fd, &wr, 1, NULL), 0);
	cr_assert_eq(hc_stats(fd, &st), 0);
	cr_expect_eq(st.cached_blocks, 0);
	cr_expect_eq(st.pinned_blocks, 0);
	cr_expect_eq(st.writing_blocks, 0);
	cr_expect_eq(st.free_blocks, st.nblocks);
	/* Registered again: a new namespace, with nothing cached. */
	cr_assert_eq(reg(other, "test-model", &ns2), 0);
	cr_expect_neq(ns2, ns);
	cr_assert_eq(hc_lookup(other, ns2, keys, 4, found, &hits, NULL), 0);
	cr_expect_eq(hits, 0);
	close(fd);
	close(other);
	cr_assert_eq(harness_stop(&h), 0);
}

/* A session of uid nobody registers @ns's layout, then reports in @pipe. */
static void nobody_peer(int wfd, int rfd, uint32_t ns)
{
	uint32_t mine = 0;
	char c = 0;
	int fd, r;

	if (setgid(65534) < 0 || setuid(65534) < 0)
		_exit(90);
	fd = hc_session(h.sock, "nobody", &mine);
	if (fd < 0)
		_exit(100 + (-fd & 63));
	if (mine != ns)
		_exit(92);
	/* Not the owner: refused. */
	r = hc_unregister(fd, ns, NULL, NULL);
	c = (char)r;
	if (write(wfd, &c, 1) != 1)
		_exit(93);
	/* Hold the registration until the parent says so. */
	if (read(rfd, &c, 1) != 1)
		_exit(94);
	close(fd);
	_exit(0);
}

Test(namespaces, only_the_owner_ends_a_namespace_and_not_under_another_user)
{
	int to_child[2], to_parent[2], status, fd;
	uint32_t ns;
	pid_t pid;
	char c;

	if (geteuid() != 0)
		cr_skip_test("needs root to run a peer as nobody");
	start_group("[daemon]\nsocket_mode = 0666\nlog_level = warning\n",
		    "nogroup");
	cr_assert_eq(chmod(h.dir, 0755), 0);
	fd = hc_session(h.sock, "owner", &ns);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pipe(to_child), 0);
	cr_assert_eq(pipe(to_parent), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(to_parent[0]);
		close(to_child[1]);
		nobody_peer(to_parent[1], to_child[0], ns);
	}
	close(to_parent[1]);
	close(to_child[0]);
	if (read(to_parent[0], &c, 1) != 1) {
		waitpid(pid, &status, 0);
		cr_assert_fail("the peer as nobody exited with %d",
			       WEXITSTATUS(status));
	}
	cr_expect_eq(c, EPERM, "a non-owner's unregister answered %d", c);
	cr_expect_eq(hc_unregister(fd, ns, NULL, NULL), EBUSY,
		     "the owner ended a namespace another user has registered");
	cr_assert_eq(write(to_child[1], "x", 1), 1);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the peer as nobody exited with %d", WEXITSTATUS(status));
	/* The other user's session is gone: the owner may end it now. */
	for (int i = 0; i < 100; i++) {
		if (hc_unregister(fd, ns, NULL, NULL) != EBUSY)
			break;
		usleep(10000);
	}
	cr_expect_eq(hc_lookup(fd, ns, (const uint8_t *)"0123456789abcdef", 1,
			       &ns, NULL, NULL), ENOENT);
	close(fd);
	close(to_child[1]);
	close(to_parent[0]);
	cr_assert_eq(harness_stop(&h), 0);
}

/* Polls Stats on @fd until no block is cached, for up to @ms. */
static bool cache_empties(int fd, int ms)
{
	Asymcache__V1__StatsReply st;

	for (int i = 0; i < ms / 20; i++) {
		cr_assert_eq(hc_stats(fd, &st), 0);
		if (st.cached_blocks == 0)
			return true;
		usleep(20000);
	}
	return false;
}

Test(namespaces, a_namespace_no_session_uses_is_collected_after_the_idle_time)
{
	Asymcache__V1__StatsReply st;
	uint32_t gone, kept, blocks[2], again, found[2], hits = 9;
	uint8_t keys[32];
	struct timespec t0, t1;
	int fd, user, watcher;
	long ms;

	start_with("[limits]\nnamespace_idle_ms = 300\n[daemon]\nlog_level = warning\n");
	watcher = hc_connect(h.sock);
	cr_assert_eq(hc_hello(watcher, "watcher"), 0);
	/* One namespace in use the whole time, one left behind. */
	user = hc_session(h.sock, "user", &kept);
	cr_assert_geq(user, 0);
	cr_assert_eq(reg(user, "kept-model", &kept), 0);
	commit_chain(user, kept, 3, 2, blocks);
	cr_assert_eq(hc_release(user, blocks, 2, NULL), 0);
	fd = hc_session(h.sock, "leaver", NULL);
	cr_assert_geq(fd, 0);
	cr_assert_eq(reg(fd, "left-model", &gone), 0);
	commit_chain(fd, gone, 4, 2, blocks);
	cr_assert_eq(hc_release(fd, blocks, 2, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	close(fd);
	for (int i = 0; i < 150; i++) {
		cr_assert_eq(hc_stats(watcher, &st), 0);
		if (st.cached_blocks == 2)
			break;
		usleep(20000);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	cr_assert_eq(st.cached_blocks, 2, "the idle namespace was not collected");
	cr_expect_geq(ms, 250, "collected before its idle time (%ld ms)", ms);
	/* The one in use lost nothing. */
	hc_key(keys, 3, 0);
	hc_key(keys + 16, 3, 1);
	cr_assert_eq(hc_lookup(user, kept, keys, 2, found, &hits, NULL), 0);
	cr_expect_eq(hits, 2);
	cr_assert_eq(hc_release(user, found, 2, NULL), 0);
	cr_expect_eq(hc_lookup(user, gone, keys, 2, found, NULL, NULL), ENOENT);
	/* Its layout comes back as a new namespace. */
	cr_assert_eq(reg(user, "left-model", &again), 0);
	cr_expect_neq(again, gone);
	/* Once the last user goes, the other one is collected as well. */
	close(user);
	cr_expect(cache_empties(watcher, 3000));
	close(watcher);
	cr_assert_eq(harness_stop(&h), 0);
}
