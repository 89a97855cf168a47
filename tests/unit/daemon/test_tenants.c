/* SPDX-License-Identifier: MIT */
/*
 * Tenant pools against the real asymcached: [pool.1] has a memory, a
 * cache and a group of its own, and a peer maps only the pools its
 * credentials allow. Pool 0 here admits root alone (no group), pool 1 the
 * group nogroup, so a process running as nobody is a tenant of pool 1
 * and of nothing else.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define FP16	ASYMCACHE__V1__DTYPE__DTYPE_FP16

static struct harness h;

TestSuite(tenants, .timeout = 60);

static void start(void)
{
	static char conf[64];
	const char *extra[] = { "-c", conf, NULL };

	snprintf(conf, sizeof(conf), "/tmp/acd-tenant-%d.conf", (int)getpid());
	cr_assert_eq(th_write_file(conf,
		"[daemon]\nsocket_mode = 0666\nlog_level = warning\n"
		"[pool.1]\nbytes = 512K\nblock_bytes = 16K\ngroup = nogroup\n"), 0);
	cr_assert_eq(harness_start(&h, "1M", "16K", extra), 0);
	unlink(conf);
	cr_assert_eq(chmod(h.dir, 0755), 0);
}

/* The pools a Hello reply lists, as a bit mask. */
static uint32_t hello_pools(int fd, const char *name)
{
	Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Hello hl = ASYMCACHE__V1__HELLO__INIT;
	Response *resp = NULL;
	uint32_t mask = 0;

	hl.protocol_version = 1;
	hl.client_name.data = (uint8_t *)name;
	hl.client_name.len = strlen(name);
	req.id = 1;
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_HELLO;
	req.hello = &hl;
	if (hc_call(fd, &req, &resp, NULL) < 0 || !resp ||
	    resp->body_case != ASYMCACHE__V1__RESPONSE__BODY_HELLO) {
		hc_free(resp);
		return 1u << 31;
	}
	for (size_t i = 0; i < resp->hello->n_pools; i++)
		mask |= 1u << resp->hello->pools[i]->pool_id;
	hc_free(resp);
	return mask;
}

/* @n blocks of chain @seed published in namespace @ns of @pool, released. */
static int publish(int fd, uint32_t pool, uint32_t ns, uint64_t seed,
		   uint32_t n)
{
	uint8_t keys[8 * 16];
	uint32_t b[8];
	int r;

	for (uint32_t i = 0; i < n; i++)
		hc_key(keys + 16 * i, seed, i);
	r = hc_alloc(fd, ns, n, b);
	if (r == 0)
		r = hc_commit_chain(fd, ns, keys, b, n, 0, NULL, b, NULL);
	if (r == 0)
		r = hc_release_pool(fd, pool, b, n, NULL);
	return r;
}

static uint32_t hits_of(int fd, uint32_t pool, uint32_t ns, uint64_t seed,
			uint32_t n)
{
	uint8_t keys[8 * 16];
	uint32_t b[8], hits = 0, k = 0;

	for (uint32_t i = 0; i < n; i++)
		hc_key(keys + 16 * i, seed, i);
	if (hc_lookup(fd, ns, keys, n, b, &hits, NULL))
		return UINT32_MAX;
	for (uint32_t i = 0; i < n; i++)
		if (b[i] != UINT32_MAX)	/* AC_NO_BLOCK */
			b[k++] = b[i];
	if (k && hc_release_pool(fd, pool, b, k, NULL))
		return UINT32_MAX;
	return hits;
}

/* A session as nobody: what it may map and what it may not. */
static int as_nobody(uint32_t ns1)
{
	Asymcache__V1__StatsReply st;
	uint64_t bytes = 0;
	uint32_t nb = 0, ns = 0;
	int fd, memfd = -1;

	if (setgid(65534) < 0 || setuid(65534) < 0)
		return 10;
	fd = hc_connect(h.sock);
	if (fd < 0)
		return 11;
	if (hello_pools(fd, "tenant") != (1u << 1))
		return 12;	/* only pool 1 may be named to it */
	if (hc_attach_pool(fd, 0, &memfd, NULL, NULL) != EACCES || memfd >= 0)
		return 13;	/* pool 0's memory never reaches it */
	if (hc_stats_pool(fd, 0, &st) != EACCES)
		return 14;
	if (hc_attach_pool(fd, 1, &memfd, &bytes, &nb) != 0 || memfd < 0 ||
	    bytes != 512 * 1024 || nb != 32)
		return 15;
	close(memfd);
	if (hc_register_pool(fd, 1, "tenant-model", 2, 2, 64, FP16, 16, &ns) ||
	    ns != ns1)
		return 16;	/* the same layout in pool 1: root's namespace */
	if (hits_of(fd, 1, ns, 21, 4) != 4)
		return 17;	/* what root published in pool 1 */
	if (hc_register_pool(fd, 0, "tenant-model", 2, 2, 64, FP16, 16, &ns) != EPERM)
		return 18;	/* not attached, and it never may be */
	if (hc_stats_pool(fd, 1, &st) || st.nblocks != 32)
		return 19;
	close(fd);
	return 0;
}

Test(tenants, a_peer_maps_only_the_pools_its_groups_allow)
{
	uint32_t ns0, ns1, nb0 = 0, nb1 = 0, blk[4];
	uint64_t bytes = 0;
	int fd, status, mfd = -1;
	pid_t pid;

	if (geteuid() != 0)
		cr_skip_test("needs root to run a peer as nobody");
	start();
	fd = hc_connect(h.sock);
	cr_assert_eq(hello_pools(fd, "root"), 3u, "root sees both pools");
	cr_assert_eq(hc_attach_pool(fd, 0, NULL, NULL, &nb0), 0);
	cr_assert_eq(hc_attach_pool(fd, 1, &mfd, &bytes, &nb1), 0);
	cr_assert_geq(mfd, 0);
	cr_expect_eq(bytes, 512 * 1024);
	cr_expect_eq(nb0, 64);
	cr_expect_eq(nb1, 32);
	close(mfd);
	cr_expect_eq(hc_attach_pool(fd, 2, NULL, NULL, NULL), ENOENT);
	/* One layout, two pools: two namespaces that share nothing. */
	cr_assert_eq(hc_register_pool(fd, 0, "tenant-model", 2, 2, 64, FP16,
				      16, &ns0), 0);
	cr_assert_eq(hc_register_pool(fd, 1, "tenant-model", 2, 2, 64, FP16,
				      16, &ns1), 0);
	cr_assert_neq(ns0, ns1);
	cr_assert_eq(publish(fd, 1, ns1, 21, 4), 0);
	cr_assert_eq(publish(fd, 0, ns0, 22, 4), 0);
	cr_expect_eq(hits_of(fd, 1, ns1, 21, 4), 4);
	cr_expect_eq(hits_of(fd, 0, ns0, 21, 4), 0, "pool 0 saw pool 1's blocks");
	cr_expect_eq(hits_of(fd, 1, ns1, 22, 4), 0, "pool 1 saw pool 0's blocks");
	/* Block ids are per pool: a release names the pool they are in. */
	cr_assert_eq(hc_alloc(fd, ns1, 2, blk), 0);
	cr_expect_neq(hc_release_pool(fd, 0, blk, 2, NULL), 0,
		      "pool 1's WRITING blocks released as pool 0's");
	cr_expect_eq(hc_release_pool(fd, 1, blk, 2, NULL), 0);

	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(as_nobody(ns1));
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the tenant as nobody failed at step %d", WEXITSTATUS(status));
	close(fd);
	cr_assert_eq(harness_stop(&h), 0);
}

/* Without [pool.N] nothing changes: one pool, listed and attached as before. */
Test(tenants, one_pool_by_default)
{
	int fd;

	cr_assert_eq(harness_start(&h, "1M", "16K", NULL), 0);
	fd = hc_connect(h.sock);
	cr_expect_eq(hello_pools(fd, "plain"), 1u);
	cr_expect_eq(hc_attach_pool(fd, 1, NULL, NULL, NULL), ENOENT);
	close(fd);
	cr_assert_eq(harness_stop(&h), 0);
}
