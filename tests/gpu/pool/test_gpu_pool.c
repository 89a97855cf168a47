/* SPDX-License-Identifier: MIT */
/*
 * The cuda pool backend end to end: the real daemon with backend=cuda on a
 * temporary socket, and two real client processes that open the pool
 * through the 64-byte cudaIpcMemHandle of the Attach reply. One writes a
 * block with cudaMemcpy and commits it; the other looks the key up and
 * reads the block back. Skips cleanly without a CUDA device.
 *
 * The test process itself never touches CUDA: a process that initialised
 * the runtime cannot hand it to a forked child, so every CUDA call runs
 * in a child.
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

#define BLOCK_BYTES (1u << 20)

static struct harness h;

static int run_child(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int st;

	if (pid == 0)
		_exit(fn(arg));
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int probe(void *arg)
{
	int n = 0;

	if (cudaGetDeviceCount(&n) != cudaSuccess || n < 1)
		return 77;
	return 0;
}

/* Attach and open the pool; returns the device pointer or NULL. */
static uint8_t *open_pool(int fd, uint32_t *ret_nblocks)
{
	Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Attach a = ASYMCACHE__V1__ATTACH__INIT;
	cudaIpcMemHandle_t handle;
	Response *resp;
	void *base = NULL;

	req.id = 1000;
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_ATTACH;
	req.attach = &a;
	if (hc_call(fd, &req, &resp, NULL) < 0)
		return NULL;
	if (resp->body_case != ASYMCACHE__V1__RESPONSE__BODY_ATTACH ||
	    resp->attach->ipc_handle.len != sizeof(handle) ||
	    strcmp(resp->attach->pool->backend, "cuda") != 0) {
		hc_free(resp);
		return NULL;
	}
	memcpy(&handle, resp->attach->ipc_handle.data, sizeof(handle));
	*ret_nblocks = resp->attach->pool->nblocks;
	if (cudaSetDevice(resp->attach->pool->device) != cudaSuccess ||
	    cudaIpcOpenMemHandle(&base, handle,
				 cudaIpcMemLazyEnablePeerAccess) != cudaSuccess)
		base = NULL;
	hc_free(resp);
	return base;
}

static int connect_ns(uint32_t *ret_ns, uint8_t **ret_base)
{
	uint32_t nblocks = 0;
	int fd;

	fd = hc_connect(h.sock);
	if (fd < 0 || hc_hello(fd, "gpu-test") != 0)
		return -1;
	*ret_base = open_pool(fd, &nblocks);
	if (!*ret_base || nblocks != 64)
		return -1;
	/* 16 layers * 2 * 8 heads * 16 tokens * 128 * bf16 = 1 MiB. */
	if (hc_register(fd, "gpu-model", 16, 8, 128,
			ASYMCACHE__V1__DTYPE__DTYPE_BF16, 16, ret_ns) != 0)
		return -1;
	return fd;
}

static void pattern(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 2654435761u) >> 13);
}

static int writer(void *arg)
{
	const uint8_t *key = arg;
	uint8_t *base, *host;
	uint32_t ns, block;
	int fd;

	fd = connect_ns(&ns, &base);
	if (fd < 0)
		return 10;
	if (hc_alloc(fd, ns, 1, &block) != 0)
		return 11;
	host = malloc(BLOCK_BYTES);
	pattern(host, BLOCK_BYTES);
	if (cudaMemcpy(base + (size_t)block * BLOCK_BYTES, host, BLOCK_BYTES,
		       cudaMemcpyHostToDevice) != cudaSuccess)
		return 12;
	if (hc_commit_chain(fd, ns, key, &block, 1, 0, NULL, NULL, NULL) != 0)
		return 13;
	free(host);
	cudaIpcCloseMemHandle(base);
	close(fd);
	return 0;
}

static int reader(void *arg)
{
	const uint8_t *key = arg;
	uint8_t *base, *host, *want;
	uint32_t ns, block = 0, hits = 0;
	int fd;

	fd = connect_ns(&ns, &base);
	if (fd < 0)
		return 20;
	if (hc_lookup(fd, ns, key, 1, &block, &hits, NULL) != 0 || hits != 1)
		return 21;
	host = malloc(BLOCK_BYTES);
	want = malloc(BLOCK_BYTES);
	pattern(want, BLOCK_BYTES);
	if (cudaMemcpy(host, base + (size_t)block * BLOCK_BYTES, BLOCK_BYTES,
		       cudaMemcpyDeviceToHost) != cudaSuccess)
		return 22;
	if (memcmp(host, want, BLOCK_BYTES) != 0)
		return 23;
	free(host);
	free(want);
	cudaIpcCloseMemHandle(base);
	close(fd);
	return 0;
}

Test(gpu_pool, two_processes_share_a_block_through_ipc, .timeout = 120)
{
	const char *extra[] = { "--backend", "cuda", NULL };
	uint8_t key[16];
	int r;

	if (run_child(probe, NULL) != 0)
		cr_skip_test("no CUDA device");
	hc_key(key, 42, 0);
	cr_assert_eq(harness_start(&h, "64M", "1M", extra), 0,
		     "daemon with backend=cuda did not start");
	r = run_child(writer, key);
	cr_expect_eq(r, 0, "writer failed at step %d", r);
	if (r == 0) {
		r = run_child(reader, key);
		cr_expect_eq(r, 0, "reader failed at step %d", r);
	}
	cr_assert_eq(harness_stop(&h), 0);
}
