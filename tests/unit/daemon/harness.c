/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "th_proto.h"

static uint64_t next_id = 1;

const char *harness_daemon_path(void)
{
	static char path[512];

	if (th_daemon_path(path, sizeof(path)) < 0)
		snprintf(path, sizeof(path), "./daemon/asymcached");
	return path;
}

int harness_start_setup(struct harness *h, const char *pool_bytes,
			const char *block_bytes, const char *const *extra,
			void (*setup)(void *arg), void *arg)
{
	const char *base[] = {
		"--foreground", "--backend", "host", "--group", "",
		"--pool-bytes", pool_bytes, "--block-bytes", block_bytes,
		"--log-level", "debug",
	};
	const size_t nbase = sizeof(base) / sizeof(base[0]);
	const char *args[64];
	struct th_daemon_opts o = {
		.tag = "acd-test",	/* scripts/device-gpu-tests.sh reads these */
		.args = args,
		.child_setup = setup,
		.child_arg = arg,
	};
	size_t n;
	int r;

	memset(h, 0, sizeof(*h));
	memcpy(args, base, sizeof(base));
	for (n = nbase; extra && *extra && n < 63; extra++)
		args[n++] = *extra;
	args[n] = NULL;
	r = th_daemon_start(&h->d, &o);
	h->dir = h->d.dir;
	h->sock = h->d.sock;
	h->log = h->d.log;
	if (r < 0) {
		fprintf(stderr, "asymcached did not start: %s\n", strerror(-r));
		th_dump_file(h->d.log, stderr);
		th_daemon_cleanup(&h->d);
		return r;
	}
	h->pid = h->d.pid;
	return 0;
}

int harness_start(struct harness *h, const char *pool_bytes,
		  const char *block_bytes, const char *const *extra)
{
	return harness_start_setup(h, pool_bytes, block_bytes, extra, NULL,
				   NULL);
}

int harness_stop(struct harness *h)
{
	char dir[TH_DIR_MAX];
	int status;

	if (h->pid <= 0)
		return -1;
	status = th_daemon_stop(&h->d);
	h->pid = 0;
	snprintf(dir, sizeof(dir), "%s", h->d.dir);
	if (th_daemon_cleanup(&h->d) < 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return status < 0 ? -1 : status;
}

int hc_recv(int fd, Response **ret_resp, int *ret_fd)
{
	static uint8_t buf[4 << 20];
	ssize_t n;

	*ret_resp = NULL;
	n = th_recv(fd, buf, sizeof(buf), -1, ret_fd);
	if (n <= 0)
		return (int)n;
	*ret_resp = asymcache__v1__response__unpack(NULL, (size_t)n, buf);
	return *ret_resp ? 0 : -EBADMSG;
}

void hc_free(Response *resp)
{
	if (resp)
		asymcache__v1__response__free_unpacked(resp, NULL);
}

int hc_call(int fd, const Request *req, Response **ret_resp, int *ret_fd)
{
	size_t len = asymcache__v1__request__get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);
	int r;

	if (!buf)
		return -ENOMEM;
	asymcache__v1__request__pack(req, buf);
	r = th_send(fd, buf, len);
	free(buf);
	if (r < 0)
		return r;
	r = hc_recv(fd, ret_resp, ret_fd);
	if (r == 0 && !*ret_resp)
		return -ECONNRESET;
	if (r == 0 && (*ret_resp)->id != req->id) {
		hc_free(*ret_resp);
		*ret_resp = NULL;
		return -EPROTO;
	}
	return r;
}

/* Positive errno of an Error reply, 0 for a body of @want, -EPROTO else. */
static int check(Response *resp, int want)
{
	if (resp->body_case == ASYMCACHE__V1__RESPONSE__BODY_ERROR)
		return resp->error->code;
	return (int)resp->body_case == want ? 0 : -EPROTO;
}

/*
 * Copies what a caller asked for out of a reply of the wanted kind: 0, or
 * -EPROTO when the reply does not answer the request.
 */
typedef int (*take_fn)(const Response *resp, void *out);

/*
 * The one round trip every hc_* builder makes: a fresh id, the call, the
 * reply checked against @want and, when it is one and @take and @out are
 * given, handed to @take.  Returns -errno, the positive errno of an Error
 * reply, or what @take returned; the reply is freed in every case.
 */
static int hc_exchange(int fd, Request *req, int want, take_fn take,
		       void *out, int *ret_fd)
{
	Response *resp;
	int r;

	req->id = next_id++;
	r = hc_call(fd, req, &resp, ret_fd);
	if (r < 0)
		return r;
	r = check(resp, want);
	if (r == 0 && take && out)
		r = take(resp, out);
	hc_free(resp);
	return r;
}

int hc_hello(int fd, const char *name)
{
	Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Hello h;

	th_proto_hello(&req, &h, 1, name);
	return hc_exchange(fd, &req, ASYMCACHE__V1__RESPONSE__BODY_HELLO,
			   NULL, NULL, NULL);
}

struct attach_out {
	uint64_t *bytes;
	uint32_t *nblocks;
};

static int take_attach(const Response *resp, void *out)
{
	struct attach_out *o = out;

	if (o->bytes)
		*o->bytes = resp->attach->pool->bytes;
	if (o->nblocks)
		*o->nblocks = resp->attach->pool->nblocks;
	return 0;
}

int hc_attach(int fd, int *ret_memfd, uint64_t *ret_bytes,
	      uint32_t *ret_nblocks)
{
	return hc_attach_pool(fd, 0, ret_memfd, ret_bytes, ret_nblocks);
}

int hc_attach_pool(int fd, uint32_t pool, int *ret_memfd, uint64_t *ret_bytes,
		   uint32_t *ret_nblocks)
{
	Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Attach a = ASYMCACHE__V1__ATTACH__INIT;
	struct attach_out o = { ret_bytes, ret_nblocks };
	int r, mfd = -1;

	a.pool_id = pool;
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_ATTACH;
	req.attach = &a;
	r = hc_exchange(fd, &req, ASYMCACHE__V1__RESPONSE__BODY_ATTACH,
			take_attach, &o, &mfd);
	if (r >= 0 && ret_memfd)
		*ret_memfd = mfd;
	else if (mfd >= 0)
		close(mfd);
	return r;
}

static int take_ns(const Response *resp, void *out)
{
	*(uint32_t *)out = resp->register_namespace->ns_id;
	return 0;
}

int hc_register(int fd, const char *model, uint32_t layers, uint32_t heads,
		uint32_t dim, int dtype, uint32_t tokens, uint32_t *ret_ns)
{
	return hc_register_pool(fd, 0, model, layers, heads, dim, dtype,
				tokens, ret_ns);
}

int hc_register_pool(int fd, uint32_t pool, const char *model,
		     uint32_t layers, uint32_t heads, uint32_t dim, int dtype,
		     uint32_t tokens, uint32_t *ret_ns)
{
	Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__RegisterNamespace rn =
		ASYMCACHE__V1__REGISTER_NAMESPACE__INIT;
	Asymcache__V1__NamespaceLayout l;

	th_proto_layout(&l, model, layers, heads, dim, dtype, tokens);
	rn.pool_id = pool;
	rn.layout = &l;
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_REGISTER_NAMESPACE;
	req.register_namespace = &rn;
	return hc_exchange(fd, &req,
			   ASYMCACHE__V1__RESPONSE__BODY_REGISTER_NAMESPACE,
			   take_ns, ret_ns, NULL);
}

static int take_unregister(const Response *resp, void *out)
{
	uint32_t *o = out;

	o[0] = resp->unregister_namespace->flushed;
	o[1] = resp->unregister_namespace->pinned_kept;
	return 0;
}

int hc_unregister(int fd, uint32_t ns, uint32_t *ret_flushed,
		  uint32_t *ret_kept)
{
	Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__UnregisterNamespace un =
		ASYMCACHE__V1__UNREGISTER_NAMESPACE__INIT;
	uint32_t out[2] = { 0, 0 };
	int r;

	un.ns_id = ns;
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_UNREGISTER_NAMESPACE;
	req.unregister_namespace = &un;
	r = hc_exchange(fd, &req,
			ASYMCACHE__V1__RESPONSE__BODY_UNREGISTER_NAMESPACE,
			take_unregister, out, NULL);
	if (r == 0 && ret_flushed)
		*ret_flushed = out[0];
	if (r == 0 && ret_kept)
		*ret_kept = out[1];
	return r;
}

/* A reply's block list must hold @n blocks; copied to @dst if given. */
static int take_blocks(const uint32_t *blocks, size_t n_blocks, uint32_t n,
		       uint32_t *dst)
{
	if (n_blocks != n)
		return -EPROTO;
	if (dst)
		memcpy(dst, blocks, (size_t)n * sizeof(*dst));
	return 0;
}

/* Where a lookup, alloc or commit reply goes: @n blocks were asked for. */
struct blocks_out {
	uint32_t n;
	uint32_t *blocks, *hits, *nseg, *deduped;
};

static int take_lookup(const Response *resp, void *out)
{
	const struct blocks_out *o = out;
	int r;

	r = take_blocks(resp->lookup->blocks, resp->lookup->n_blocks, o->n,
			o->blocks);
	if (r < 0)
		return r;
	if (o->hits)
		*o->hits = resp->lookup->hits;
	if (o->nseg)
		*o->nseg = (uint32_t)resp->lookup->n_segments;
	return 0;
}

int hc_lookup(int fd, uint32_t ns, const uint8_t *keys, uint32_t n,
	      uint32_t *ret_blocks, uint32_t *ret_hits, uint32_t *ret_nseg)
{
	Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Lookup l = ASYMCACHE__V1__LOOKUP__INIT;
	struct blocks_out o = {
		.n = n, .blocks = ret_blocks, .hits = ret_hits, .nseg = ret_nseg,
	};

	l.ns_id = ns;
	l.keys.data = (uint8_t *)keys;
	l.keys.len = (size_t)n * 16;
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_LOOKUP;
	req.lookup = &l;
	return hc_exchange(fd, &req, ASYMCACHE__V1__RESPONSE__BODY_LOOKUP,
			   take_lookup, &o, NULL);
}

static int take_alloc(const Response *resp, void *out)
{
	const struct blocks_out *o = out;

	return take_blocks(resp->alloc->blocks, resp->alloc->n_blocks, o->n,
			   o->blocks);
}

int hc_alloc(int fd, uint32_t ns, uint32_t count, uint32_t *ret_blocks)
{
	Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Alloc a = ASYMCACHE__V1__ALLOC__INIT;
	struct blocks_out o = { .n = count, .blocks = ret_blocks };

	a.ns_id = ns;
	a.count = count;
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_ALLOC;
	req.alloc = &a;
	return hc_exchange(fd, &req, ASYMCACHE__V1__RESPONSE__BODY_ALLOC,
			   take_alloc, &o, NULL);
}

static int take_commit(const Response *resp, void *out)
{
	const struct blocks_out *o = out;

	for (uint32_t i = 0; o->blocks && i < o->n && i < resp->commit->n_blocks;
	     i++)
		o->blocks[i] = resp->commit->blocks[i];
	if (o->deduped)
		*o->deduped = resp->commit->deduped;
	return 0;
}

int hc_commit_chain(int fd, uint32_t ns, const uint8_t *keys,
		    const uint32_t *blocks, uint32_t n, uint32_t first_pos,
		    const uint8_t *parent_of_first, uint32_t *ret_blocks,
		    uint32_t *ret_deduped)
{
	Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Commit c = ASYMCACHE__V1__COMMIT__INIT;
	Asymcache__V1__CommitEntry *e, **ep;
	struct blocks_out o = {
		.n = n, .blocks = ret_blocks, .deduped = ret_deduped,
	};
	uint32_t i;
	int r;

	e = calloc(n, sizeof(*e));
	ep = calloc(n, sizeof(*ep));
	if (!e || !ep) {
		free(e);
		free(ep);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		const uint8_t *parent = i ? keys + 16 * (i - 1) : parent_of_first;

		th_proto_entry(&e[i], keys + 16 * i, blocks[i], first_pos + i,
			       first_pos + i > 0 ? parent : NULL);
		ep[i] = &e[i];
	}
	c.ns_id = ns;
	c.n_entries = n;
	c.entries = ep;
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_COMMIT;
	req.commit = &c;
	r = hc_exchange(fd, &req, ASYMCACHE__V1__RESPONSE__BODY_COMMIT,
			take_commit, &o, NULL);
	free(e);
	free(ep);
	return r;
}

static int take_released(const Response *resp, void *out)
{
	*(uint32_t *)out = resp->release->released;
	return 0;
}

int hc_release(int fd, const uint32_t *blocks, uint32_t n,
	       uint32_t *ret_released)
{
	return hc_release_pool(fd, 0, blocks, n, ret_released);
}

int hc_release_pool(int fd, uint32_t pool, const uint32_t *blocks, uint32_t n,
		    uint32_t *ret_released)
{
	Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Release rel = ASYMCACHE__V1__RELEASE__INIT;

	rel.pool_id = pool;
	rel.blocks = (uint32_t *)blocks;
	rel.n_blocks = n;
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_RELEASE;
	req.release = &rel;
	return hc_exchange(fd, &req, ASYMCACHE__V1__RESPONSE__BODY_RELEASE,
			   take_released, ret_released, NULL);
}

static int take_stats(const Response *resp, void *out)
{
	Asymcache__V1__StatsReply *ret = out;

	*ret = *resp->stats;
	ret->policy = NULL;	/* freed with resp */
	return 0;
}

int hc_stats(int fd, Asymcache__V1__StatsReply *ret)
{
	return hc_stats_pool(fd, 0, ret);
}

int hc_stats_pool(int fd, uint32_t pool, Asymcache__V1__StatsReply *ret)
{
	Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Stats st = ASYMCACHE__V1__STATS__INIT;

	st.pool_id = pool;
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_STATS;
	req.stats = &st;
	return hc_exchange(fd, &req, ASYMCACHE__V1__RESPONSE__BODY_STATS,
			   take_stats, ret, NULL);
}

int hc_stats_when_sessions(int fd, uint64_t sessions,
			   Asymcache__V1__StatsReply *ret)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	int i, r;

	/* A closed peer's session ends when the daemon's loop sees the EOF. */
	for (i = 0; i < 200; i++) {
		r = hc_stats(fd, ret);
		if (r != 0 || ret->sessions == sessions)
			return r;
		nanosleep(&ts, NULL);
	}
	return 0;
}

int hc_session(const char *path, const char *name, uint32_t *ret_ns)
{
	int fd, r;

	fd = hc_connect(path);
	if (fd < 0)
		return fd;
	r = hc_hello(fd, name);
	if (r == 0)
		r = hc_attach(fd, NULL, NULL, NULL);
	if (r == 0)
		r = hc_register(fd, "test-model", 2, 2, 64,
				ASYMCACHE__V1__DTYPE__DTYPE_FP16, 16, ret_ns);
	if (r != 0) {
		close(fd);
		return r > 0 ? -r : r;
	}
	return fd;
}

void hc_key(uint8_t out[16], uint64_t seed, uint32_t i)
{
	uint64_t a = seed * 0x9e3779b97f4a7c15ULL + i, b = ~a ^ (seed << 7);

	/* splitmix-style scramble: distinct (seed, i) give distinct keys. */
	a ^= a >> 31;
	a *= 0xbf58476d1ce4e5b9ULL;
	memcpy(out, &a, 8);
	b = (b ^ (b >> 27)) * 0x94d049bb133111ebULL;
	memcpy(out + 8, &b, 8);
	memcpy(out + 12, &i, 4);
}
