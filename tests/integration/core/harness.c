/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
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

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void daemon_path(char *out, size_t len)
{
	const char *root = getenv("AC_BUILD_ROOT");

	cr_assert_not_null(root, "AC_BUILD_ROOT is not set (run via meson test)");
	snprintf(out, len, "%s/daemon/asymcached", root);
	cr_assert_eq(access(out, X_OK), 0, "no daemon binary at %s", out);
}

void tdaemon_start(struct tdaemon *d, uint64_t pool_bytes,
		   uint32_t block_bytes, const char *const *extra)
{
	char bin[512], pb[32], bb[32];
	const char *argv[32];
	int n = 0, fd;
	double t0;

	memset(d, 0, sizeof(*d));
	daemon_path(bin, sizeof(bin));
	strcpy(d->dir, "/tmp/ac-itest-XXXXXX");
	cr_assert_not_null(mkdtemp(d->dir));
	/* World-traversable, so the socket's own mode decides access. */
	chmod(d->dir, 0755);
	snprintf(d->sock, sizeof(d->sock), "%s/asymcached.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
	snprintf(pb, sizeof(pb), "%llu", (unsigned long long)pool_bytes);
	snprintf(bb, sizeof(bb), "%u", block_bytes);
	d->pool_bytes = pool_bytes;
	d->block_bytes = block_bytes;

	argv[n++] = bin;
	argv[n++] = "--foreground";
	argv[n++] = "-c";
	argv[n++] = "/dev/null";
	argv[n++] = "--socket";
	argv[n++] = d->sock;
	argv[n++] = "--backend";
	argv[n++] = tdaemon_backend;
	argv[n++] = "--pool-bytes";
	argv[n++] = pb;
	argv[n++] = "--block-bytes";
	argv[n++] = bb;
	argv[n++] = "--group";
	argv[n++] = "root";
	for (; extra && *extra && n < 31; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;

	fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	d->pid = fork();
	cr_assert_geq(d->pid, 0);
	if (d->pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		/* No session bus leaks in from the caller's environment. */
		unsetenv("DBUS_SESSION_BUS_ADDRESS");
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(fd);

	/* Ready when a connect succeeds (READY=1 needs NOTIFY_SOCKET). */
	t0 = now_s();
	for (;;) {
		int s = raw_connect(d->sock);

		if (s >= 0) {
			close(s);
			break;
		}
		if (!tdaemon_alive(d)) {
			tdaemon_dump_log(d);
			cr_assert_fail("asymcached exited during start-up");
		}
		if (now_s() - t0 > 10) {
			tdaemon_dump_log(d);
			cr_assert_fail("asymcached not listening after 10 s");
		}
		usleep(5000);
	}
}

bool tdaemon_alive(struct tdaemon *d)
{
	int st;

	if (d->pid <= 0)
		return false;
	return waitpid(d->pid, &st, WNOHANG) == 0;
}

void tdaemon_dump_log(const struct tdaemon *d)
{
	char buf[4096];
	FILE *f = fopen(d->log, "r");
	size_t n;

	if (!f)
		return;
	fprintf(stderr, "---- %s ----\n", d->log);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(f);
}

void tdaemon_stop(struct tdaemon *d)
{
	double t0 = now_s();
	int st = 0;
	pid_t r;

	cr_assert_gt(d->pid, 0);
	cr_assert_eq(kill(d->pid, SIGTERM), 0, "daemon already gone");
	for (;;) {
		r = waitpid(d->pid, &st, WNOHANG);
		if (r == d->pid)
			break;
		if (now_s() - t0 > 10) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, &st, 0);
			tdaemon_dump_log(d);
			cr_assert_fail("asymcached ignored SIGTERM for 10 s");
		}
		usleep(2000);
	}
	d->pid = 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		tdaemon_dump_log(d);
	cr_expect(WIFEXITED(st), "daemon died of signal %d",
		  WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "daemon exit status %d", WEXITSTATUS(st));
	unlink(d->sock);
	unlink(d->log);
	rmdir(d->dir);
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

int tclient_open(struct tclient *t, const struct tdaemon *d, const char *name)
{
	int r;

	memset(t, 0, sizeof(*t));
	r = ac_connect(d->sock, name, &t->c);
	if (r < 0)
		return r;
	r = ac_attach(t->c, 0, &t->pool);
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

void tblock_fill(struct tclient *t, uint32_t block, const struct ac_key *k)
{
	const struct ac_pool_info *pi = ac_pool_info(t->pool);
	uint32_t run = tlayout.kv.block_tokens * tlayout.kv.head_dim;

	for (uint32_t l = 0; l < tlayout.kv.num_layers; l++)
	for (uint32_t kv = 0; kv < 2; kv++)
	for (uint32_t h = 0; h < tlayout.kv.num_kv_heads; h++) {
		float *p = ac_kv_addr(ac_pool_base(t->pool), &tlayout.kv,
				      pi->block_bytes, block, l, kv, h, 0);

		for (uint32_t i = 0; i < run; i++)
			p[i] = pattern(k, l, kv, h, i);
	}
}

bool tblock_check(struct tclient *t, uint32_t block, const struct ac_key *k)
{
	const struct ac_pool_info *pi = ac_pool_info(t->pool);
	uint32_t run = tlayout.kv.block_tokens * tlayout.kv.head_dim;

	for (uint32_t l = 0; l < tlayout.kv.num_layers; l++)
	for (uint32_t kv = 0; kv < 2; kv++)
	for (uint32_t h = 0; h < tlayout.kv.num_kv_heads; h++) {
		const float *p = ac_kv_addr(ac_pool_base(t->pool), &tlayout.kv,
					    pi->block_bytes, block, l, kv, h, 0);

		for (uint32_t i = 0; i < run; i++)
			if (p[i] != pattern(k, l, kv, h, i))
				return false;
	}
	return true;
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

int raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int raw_send(int fd, const void *buf, size_t len)
{
	return send(fd, buf, len, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

ssize_t raw_recv(int fd, void *buf, size_t cap, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;
	int r;

	r = poll(&p, 1, timeout_ms);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	n = recv(fd, buf, cap, 0);
	return n < 0 ? -errno : n;
}
