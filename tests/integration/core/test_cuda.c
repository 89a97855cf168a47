/* SPDX-License-Identifier: MIT */
/*
 * The CUDA pool through libasymcache: two processes open the daemon's
 * cudaIpc handle with ac_attach(); one writes KV into device blocks and
 * commits, the other hits and reads the same bytes back. Skips cleanly
 * without a device.
 */
#include <criterion/criterion.h>
#include <cuda_runtime_api.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define BLOCK_BYTES	8192u
#define NBLOCKS		64u

static struct th_daemon D;

/* CUDA must not be initialised in the parent before fork(): probe in a child. */
static int device_count(void)
{
	pid_t p = fork();
	int st, n = 0;

	if (p == 0) {
		if (cudaGetDeviceCount(&n) != cudaSuccess)
			n = 0;
		_exit(n > 100 ? 100 : n);
	}
	if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st))
		return 0;
	return WEXITSTATUS(st);
}

static int fill_host(struct ac_key *k, uint8_t *buf)
{
	for (uint32_t i = 0; i < BLOCK_BYTES; i++)
		buf[i] = (uint8_t)(k->b[i % 16] ^ (i * 131));
	return 0;
}

static int child_gpu_writer(void *arg, int slot)
{
	static uint8_t host[BLOCK_BYTES];
	struct tclient t;
	struct ac_key keys[2];
	struct ac_commit_entry e[2];
	uint32_t blocks[2], out[2];
	int r;

	r = tclient_open(&t, &D, "gpu-writer");
	CHILD_CHECK(slot, r == 0, r);
	CHILD_CHECK(slot, ac_pool_info(t.pool)->backend == AC_BACKEND_CUDA, 0);
	CHILD_CHECK(slot, tkeys(7, 2, keys) == 0, 0);
	r = ac_alloc(t.c, t.ns, 2, blocks);
	CHILD_CHECK(slot, r == 0, r);
	for (int i = 0; i < 2; i++) {
		char *dst = (char *)ac_pool_base(t.pool) +
			    (size_t)blocks[i] * BLOCK_BYTES;

		fill_host(&keys[i], host);
		CHILD_CHECK(slot, cudaMemcpy(dst, host, BLOCK_BYTES,
					     cudaMemcpyHostToDevice) == cudaSuccess, 0);
		e[i] = (struct ac_commit_entry){ .key = keys[i],
			.block = blocks[i], .position = i };
		if (i)
			e[i].parent = keys[0];
	}
	/* The bytes must be on the device before anyone can hit them. */
	CHILD_CHECK(slot, cudaDeviceSynchronize() == cudaSuccess, 0);
	r = ac_commit(t.c, t.ns, e, 2, out, NULL);
	CHILD_CHECK(slot, r == 0, r);
	r = ac_release(t.c, out, 2, NULL);
	CHILD_CHECK(slot, r == 0, r);
	tclient_close(&t);
	return 0;
}

static int child_gpu_reader(void *arg, int slot)
{
	static uint8_t want[BLOCK_BYTES], got[BLOCK_BYTES];
	struct tclient t;
	struct ac_key keys[2];
	struct ac_segment segs[2];
	uint32_t blocks[2];
	struct ac_lookup_result res = {
		.blocks = blocks, .segments = segs, .max_segments = 2,
	};
	int r;

	r = tclient_open(&t, &D, "gpu-reader");
	CHILD_CHECK(slot, r == 0, r);
	CHILD_CHECK(slot, tkeys(7, 2, keys) == 0, 0);
	r = ac_lookup(t.c, t.ns, keys, 2, &res);
	CHILD_CHECK(slot, r == 0 && res.hits == 2, r);
	for (int i = 0; i < 2; i++) {
		const char *src = (const char *)ac_pool_base(t.pool) +
				  (size_t)blocks[i] * BLOCK_BYTES;

		fill_host(&keys[i], want);
		CHILD_CHECK(slot, cudaMemcpy(got, src, BLOCK_BYTES,
					     cudaMemcpyDeviceToHost) == cudaSuccess, 0);
		CHILD_CHECK(slot, memcmp(got, want, BLOCK_BYTES) == 0, i);
	}
	r = ac_release(t.c, blocks, 2, NULL);
	CHILD_CHECK(slot, r == 0, r);
	tclient_close(&t);
	return 0;
}

TestSuite(cuda, .timeout = 120);

Test(cuda, two_processes_share_device_blocks_through_ipc)
{
	pid_t p;

	if (device_count() < 1)
		cr_skip_test("no CUDA device");
	child_reports_init(2);
	tdaemon_backend = "cuda";
	tdaemon_start(&D, (uint64_t)NBLOCKS * BLOCK_BYTES, BLOCK_BYTES, NULL);
	p = child_spawn(child_gpu_writer, NULL, 0);
	child_wait_ok(p, 0);
	p = child_spawn(child_gpu_reader, NULL, 1);
	child_wait_ok(p, 1);
	tdaemon_stop(&D);
}
