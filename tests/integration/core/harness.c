/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

struct child_report *child_rep;
const char *tdaemon_backend = "host";
static size_t child_nrep;

const struct ac_ns_layout tlayout = {
	.model_id = "itest-tiny",
	.kv.num_layers = 2,
	.kv.num_kv_heads = 2,
	.kv.head_dim = 16,
	.kv.dtype = AC_DTYPE_FP32,
	.kv.block_tokens = 16,	/* 2*2*2*16*16*4 = 8 KiB per block */
};

void tdaemon_start_config(struct th_daemon *d, uint64_t pool_bytes,
			  uint32_t block_bytes, const char *config,
			  const char *const *extra)
{
	char pb[32], bb[32];
	const char *args[32] = {
		"--foreground", "--backend", tdaemon_backend,
		"--pool-bytes", pb, "--block-bytes", bb, "--group", "root",
	};
	struct th_daemon_opts o = {
		.tag = "ac-itest", .config = config, .args = args,
		.ready_timeout_ms = 10000,
	};
	int n = 9, r;

	snprintf(pb, sizeof(pb), "%llu", (unsigned long long)pool_bytes);
	snprintf(bb, sizeof(bb), "%u", block_bytes);
	for (; extra && *extra && n < 31; extra++)
		args[n++] = *extra;
	args[n] = NULL;
	r = th_daemon_start(d, &o);
	if (r < 0) {
		th_dump_file(d->log, stderr);
		th_daemon_cleanup(d);
	}
	cr_assert_neq(r, -ENOENT, "no daemon binary (AC_BUILD_ROOT=%s)",
		      getenv("AC_BUILD_ROOT"));
	cr_assert_neq(r, -ECHILD, "asymcached exited during start-up");
	cr_assert_neq(r, -ETIMEDOUT, "asymcached not listening after 10 s");
	cr_assert_eq(r, 0, "asymcached did not start: %s", strerror(-r));
}

void tdaemon_start(struct th_daemon *d, uint64_t pool_bytes,
		   uint32_t block_bytes, const char *const *extra)
{
	tdaemon_start_config(d, pool_bytes, block_bytes, NULL, extra);
}

void tdaemon_stop(struct th_daemon *d)
{
	bool alive = th_daemon_alive(d);
	int code = th_daemon_stop(d);

	if (!alive || code != 0)
		th_dump_file(d->log, stderr);
	th_daemon_cleanup(d);
	cr_assert(alive, "daemon already gone");
	cr_assert_neq(code, -ETIMEDOUT, "asymcached ignored SIGTERM for 10 s");
	cr_expect_lt(code, 128, "daemon died of signal %d", code - 128);
	cr_expect_eq(code, 0, "daemon exit status %d", code);
}

void child_reports_init(size_t n)
{
	child_rep = mmap(NULL, n * sizeof(*child_rep), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(child_rep, MAP_FAILED);
	child_nrep = n;
}

pid_t child_spawn(int (*fn)(void *arg, int slot), void *arg, int slot)
{
	pid_t pid;

	cr_assert_lt((size_t)slot, child_nrep);
	memset(&child_rep[slot], 0, sizeof(child_rep[slot]));
	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(fn(arg, slot) ? 1 : 0);
	return pid;
}

void child_wait_ok(pid_t pid, int slot)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect_eq(child_rep[slot].line, 0,
		     "child %d failed at line %d: %s (err %d: %s)", slot,
		     child_rep[slot].line, child_rep[slot].what,
		     child_rep[slot].err, ac_strerror(child_rep[slot].err));
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "child %d status 0x%x", slot, st);
}

int tclient_open(struct tclient *t, const struct th_daemon *d, const char *name)
{
	return tclient_open_pool(t, d, name, 0);
}

int tclient_open_pool(struct tclient *t, const struct th_daemon *d,
		      const char *name, uint32_t pool)
{
	int r;

	memset(t, 0, sizeof(*t));
	r = ac_connect(d->sock, name, &t->c);
	if (r < 0)
		return r;
	r = ac_attach(t->c, pool, &t->pool);
	if (r < 0)
		goto fail;
	r = ac_register_namespace(t->c, t->pool, &tlayout, &t->ns);
	if (r < 0)
		goto fail;
	return 0;
fail:
	ac_disconnect(t->c);
	t->c = NULL;
	return r;
}

void tclient_close(struct tclient *t)
{
	ac_disconnect(t->c);
	t->c = NULL;
}

void ttokens(int32_t *tok, size_t n, uint32_t chain)
{
	uint64_t x = 0x9e3779b97f4a7c15ull * (chain + 1);

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		tok[i] = (int32_t)(x % 128000);
	}
}

int tkeys(uint32_t chain, size_t nblocks, struct ac_key *out)
{
	size_t ntok = nblocks * tlayout.kv.block_tokens, n = nblocks;
	struct ac_key_seed seed;
	int32_t *tok = malloc(ntok * sizeof(*tok));
	int r;

	if (!tok)
		return -ENOMEM;
	ttokens(tok, ntok, chain);
	r = ac_key_seed_init(&seed, &tlayout, NULL, 0, AC_HASH_SHA256);
	if (r == 0)
		r = ac_keys_compute(&seed, tok, ntok, tlayout.kv.block_tokens, out,
				    &n);
	free(tok);
	return r;
}

/* Every K/V head run of the block gets bytes derived from key and place. */
static float pattern(const struct ac_key *k, uint32_t l, uint32_t kv,
		     uint32_t h, uint32_t i)
{
	uint32_t x = k->b[0] | k->b[1] << 8 | k->b[2] << 16 | (uint32_t)k->b[3] << 24;

	return (float)((x ^ (l * 7919 + kv * 104729 + h * 31 + i)) % 1000003);
}

/*
 * Writes @k's pattern into every head run of @block, or with @check only
 * compares them: false at the first element that differs.
 */
static bool block_pattern(struct tclient *t, uint32_t block,
			  const struct ac_key *k, bool check)
{
	const struct ac_pool_info *pi = ac_pool_info(t->pool);
	uint32_t run = tlayout.kv.block_tokens * tlayout.kv.head_dim;

	for (uint32_t l = 0; l < tlayout.kv.num_layers; l++)
	for (uint32_t kv = 0; kv < 2; kv++)
	for (uint32_t h = 0; h < tlayout.kv.num_kv_heads; h++) {
		float *p = ac_kv_addr(ac_pool_base(t->pool), &tlayout.kv,
				      pi->block_bytes, block, l, kv, h, 0);

		for (uint32_t i = 0; i < run; i++) {
			float want = pattern(k, l, kv, h, i);

			if (!check)
				p[i] = want;
			else if (p[i] != want)
				return false;
		}
	}
	return true;
}

void tblock_fill(struct tclient *t, uint32_t block, const struct ac_key *k)
{
	block_pattern(t, block, k, false);
}

bool tblock_check(struct tclient *t, uint32_t block, const struct ac_key *k)
{
	return block_pattern(t, block, k, true);
}

void tentry_fill(struct tclient *t, struct ac_commit_entry *e,
		 uint32_t block, const struct ac_key *keys, uint32_t pos)
{
	tblock_fill(t, block, &keys[pos]);
	memset(e, 0, sizeof(*e));
	e->key = keys[pos];
	e->block = block;
	e->position = pos;
	if (pos)
		e->parent = keys[pos - 1];
}

int tpublish(struct tclient *t, const struct ac_key *keys, uint32_t from,
	     uint32_t n, uint32_t *ret_blocks, uint32_t *ret_deduped)
{
	struct ac_commit_entry e[TPUBLISH_MAX];
	uint32_t blocks[TPUBLISH_MAX];
	int r;

	if (n > TPUBLISH_MAX)
		return -E2BIG;
	r = ac_alloc(t->c, t->ns, n, blocks);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < n; i++)
		tentry_fill(t, &e[i], blocks[i], keys, from + i);
	return ac_commit(t->c, t->ns, e, n, ret_blocks, ret_deduped);
}
