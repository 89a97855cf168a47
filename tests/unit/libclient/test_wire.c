/* SPDX-License-Identifier: MIT */
/*
 * The client side of the wire, against a scripted fake daemon on a real
 * SOCK_SEQPACKET socket: error mapping, id matching, reply validation,
 * memfd passing. The real daemon is exercised in tests/integration/core.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "asymcache.pb-c.h"
#include "asymcache/asymcache.h"

#define POOL_BYTES	(64 * 1024)
#define BLOCK_BYTES	4096

struct fake;
/* Answers one non-Hello request; returns false to close the session. */
typedef bool (*fake_fn)(struct fake *f, int cfd,
			const Asymcache__V1__Request *req);

struct fake {
	char dir[64];
	char path[128];
	int lfd;
	pthread_t thr;
	fake_fn fn;
	uint32_t hello_version;
	int nreq;		/* requests after Hello */
	bool ids_increase;
	uint64_t last_id;
	int memfd;
	Asymcache__V1__Request *last;	/* copy of the last request */
};

static struct fake F;

/*
 * Answers request @id with @body of case @body_case, passing @fd when it
 * is not negative.  Every member of the body union is a pointer to a
 * message: storing through one serves every case, as in client_rpc().
 */
static void send_resp(int cfd, uint64_t id,
		      Asymcache__V1__Response__BodyCase body_case, void *body,
		      int fd)
{
	Asymcache__V1__Response resp = ASYMCACHE__V1__RESPONSE__INIT;
	uint8_t buf[65536];
	size_t len;
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = buf };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	resp.id = id;
	resp.body_case = body_case;
	resp.hello = body;
	len = asymcache__v1__response__pack(&resp, buf);
	iov.iov_len = len;
	memset(&ctl, 0, sizeof(ctl));
	if (fd >= 0) {
		struct cmsghdr *cm;

		msg.msg_control = ctl.b;
		msg.msg_controllen = sizeof(ctl.b);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	sendmsg(cfd, &msg, MSG_NOSIGNAL);
}

static void send_error(int cfd, uint64_t id, int code, const char *m)
{
	Asymcache__V1__Error e = ASYMCACHE__V1__ERROR__INIT;

	e.code = code;
	e.message = (char *)m;
	send_resp(cfd, id, ASYMCACHE__V1__RESPONSE__BODY_ERROR, &e, -1);
}

static void pool_pb(Asymcache__V1__PoolInfo *pi)
{
	asymcache__v1__pool_info__init(pi);
	pi->pool_id = 0;
	pi->backend = "host";
	pi->device = -1;
	pi->bytes = POOL_BYTES;
	pi->block_bytes = BLOCK_BYTES;
	pi->nblocks = POOL_BYTES / BLOCK_BYTES;
}

static void answer_hello(int cfd, uint64_t id)
{
	Asymcache__V1__HelloReply hr = ASYMCACHE__V1__HELLO_REPLY__INIT;
	Asymcache__V1__PoolInfo pi, *pis[1] = { &pi };

	pool_pb(&pi);
	hr.protocol_version = F.hello_version;
	hr.daemon_version = "fake";
	hr.layout_version = 1;
	hr.n_pools = 1;
	hr.pools = pis;
	hr.session_id = 42;
	send_resp(cfd, id, ASYMCACHE__V1__RESPONSE__BODY_HELLO, &hr, -1);
}

static void *fake_main(void *arg)
{
	uint8_t buf[1 << 20];
	int cfd = accept(F.lfd, NULL, NULL);

	if (cfd < 0)
		return NULL;
	for (;;) {
		Asymcache__V1__Request *req;
		ssize_t n = recv(cfd, buf, sizeof(buf), 0);
		bool go_on;

		if (n <= 0)
			break;
		req = asymcache__v1__request__unpack(NULL, n, buf);
		if (!req)
			break;
		if (req->id <= F.last_id)
			F.ids_increase = false;
		F.last_id = req->id;
		if (req->body_case == ASYMCACHE__V1__REQUEST__BODY_HELLO) {
			answer_hello(cfd, req->id);
			asymcache__v1__request__free_unpacked(req, NULL);
			continue;
		}
		F.nreq++;
		go_on = F.fn(&F, cfd, req);
		if (F.last)
			asymcache__v1__request__free_unpacked(F.last, NULL);
		F.last = req;
		if (!go_on)
			break;
	}
	close(cfd);
	return NULL;
}

static void fake_start(fake_fn fn)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(&F, 0, sizeof(F));
	F.fn = fn;
	F.hello_version = 1;
	F.ids_increase = true;
	F.memfd = -1;
	strcpy(F.dir, "/tmp/ac-wire-XXXXXX");
	cr_assert_not_null(mkdtemp(F.dir));
	snprintf(F.path, sizeof(F.path), "%s/sock", F.dir);
	strcpy(sa.sun_path, F.path);
	F.lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	cr_assert_geq(F.lfd, 0);
	cr_assert_eq(bind(F.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(F.lfd, 4), 0);
	cr_assert_eq(pthread_create(&F.thr, NULL, fake_main, NULL), 0);
}

/* @keep: the test still reads F.last and frees it with fake_forget(). */
static void fake_forget(void)
{
	if (F.last)
		asymcache__v1__request__free_unpacked(F.last, NULL);
	F.last = NULL;
}

static void fake_stop_keep(bool keep)
{
	pthread_join(F.thr, NULL);
	close(F.lfd);
	if (F.memfd >= 0)
		close(F.memfd);
	if (!keep)
		fake_forget();
	unlink(F.path);
	rmdir(F.dir);
}

static void fake_stop(void)
{
	fake_stop_keep(false);
}

static struct ac_client *connect_ok(void)
{
	struct ac_client *c = NULL;

	cr_assert_eq(ac_connect(F.path, "wire-test", &c), 0);
	return c;
}

/* A fake answering with @fn, and a client connected to it. */
static struct ac_client *fake_connect(fake_fn fn)
{
	fake_start(fn);
	return connect_ok();
}

/*
 * Against a fake answering with @fn, a stats call fails with @first and
 * then, unless @then is 0, the next one with @then (for @why).
 */
static void expect_stats_fail(fake_fn fn, int first, int then,
			      const char *why)
{
	struct ac_client *c;
	struct ac_stats st;

	c = fake_connect(fn);
	cr_expect_eq(ac_stats(c, &st), first);
	if (then)
		cr_expect_eq(ac_stats(c, &st), then, "%s", why);
	ac_disconnect(c);
	fake_stop();
}

TestSuite(wire);

/* ---- scripted answers ---- */

static bool fn_error(struct fake *f, int cfd, const Asymcache__V1__Request *r)
{
	send_error(cfd, r->id, ENOSPC, "pool exhausted: 16 of 16 pinned");
	return true;
}

Test(wire, daemon_error_maps_to_negative_code_and_message)
{
	struct ac_client *c;
	uint32_t blocks[4];

	c = fake_connect(fn_error);
	cr_expect_eq(ac_client_session_id(c), 42);
	cr_expect_str_eq(ac_client_last_error(c), "");
	cr_expect_eq(ac_alloc(c, 0, 4, blocks), -ENOSPC);
	cr_expect_str_eq(ac_client_last_error(c),
			 "pool exhausted: 16 of 16 pinned");
	cr_expect_eq(ac_alloc(c, 0, 1, blocks), -ENOSPC, "session survives");
	cr_expect(F.ids_increase || F.nreq < 2);
	ac_disconnect(c);
	fake_stop();
	cr_expect(F.ids_increase);
	cr_expect_eq(F.nreq, 2);
}

static bool fn_stale_then_right(struct fake *f, int cfd,
				const Asymcache__V1__Request *r)
{
	Asymcache__V1__ReleaseReply rr = ASYMCACHE__V1__RELEASE_REPLY__INIT;

	/* A stale answer to an earlier id first: the client must skip it. */
	send_error(cfd, r->id - 1, EINVAL, "stale");
	rr.released = r->release->n_blocks;
	send_resp(cfd, r->id, ASYMCACHE__V1__RESPONSE__BODY_RELEASE, &rr, -1);
	return true;
}

Test(wire, stale_response_ids_are_skipped)
{
	struct ac_client *c;
	uint32_t blocks[3] = { 1, 2, 3 }, released = 0;

	c = fake_connect(fn_stale_then_right);
	cr_expect_eq(ac_release(c, blocks, 3, &released), 0);
	cr_expect_eq(released, 3);
	ac_disconnect(c);
	fake_stop();
}

static bool fn_future_id(struct fake *f, int cfd,
			 const Asymcache__V1__Request *r)
{
	send_error(cfd, r->id + 5, EINVAL, "from the future");
	return true;
}

static bool fn_id0(struct fake *f, int cfd, const Asymcache__V1__Request *r)
{
	send_error(cfd, 0, EMSGSIZE, "packet larger than max_packet");
	return true;
}

Test(wire, id0_error_answers_the_request_in_flight)
{
	struct ac_client *c;
	struct ac_stats st;

	c = fake_connect(fn_id0);
	cr_expect_eq(ac_stats(c, &st), -EMSGSIZE, "not a hang");
	cr_expect_str_eq(ac_client_last_error(c),
			 "packet larger than max_packet");
	cr_expect_eq(ac_stats(c, &st), -EMSGSIZE, "session still usable");
	ac_disconnect(c);
	fake_stop();
}

Test(wire, response_with_unknown_id_is_eproto)
{
	expect_stats_fail(fn_future_id, -EPROTO, -ENOTCONN,
			  "framing lost: fail fast");
}

static bool fn_garbage(struct fake *f, int cfd,
		       const Asymcache__V1__Request *r)
{
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01 };

	send(cfd, junk, sizeof(junk), MSG_NOSIGNAL);
	return true;
}

Test(wire, unparseable_reply_is_eproto)
{
	expect_stats_fail(fn_garbage, -EPROTO, 0, NULL);
}

static bool fn_close(struct fake *f, int cfd, const Asymcache__V1__Request *r)
{
	return false;
}

Test(wire, daemon_closing_is_econnreset)
{
	expect_stats_fail(fn_close, -ECONNRESET, -ENOTCONN, "after the close");
}

static bool fn_wrong_body(struct fake *f, int cfd,
			  const Asymcache__V1__Request *r)
{
	Asymcache__V1__ReleaseReply rr = ASYMCACHE__V1__RELEASE_REPLY__INIT;

	send_resp(cfd, r->id, ASYMCACHE__V1__RESPONSE__BODY_RELEASE, &rr, -1);
	return true;
}

Test(wire, reply_of_the_wrong_kind_is_eproto)
{
	struct ac_client *c;
	uint32_t b[2];

	c = fake_connect(fn_wrong_body);
	cr_expect_eq(ac_alloc(c, 0, 2, b), -EPROTO);
	ac_disconnect(c);
	fake_stop();
}

/* Lookup replies; mode picks a well-formed or a broken one. */
static int lookup_mode;

static bool fn_lookup(struct fake *f, int cfd, const Asymcache__V1__Request *r)
{
	Asymcache__V1__LookupReply lr = ASYMCACHE__V1__LOOKUP_REPLY__INIT;
	Asymcache__V1__Segment s[3], *sp[3] = { &s[0], &s[1], &s[2] };
	/* 5 keys: hit hit miss hit hit. */
	uint32_t blocks[5] = { 3, 4, AC_NO_BLOCK, 7, 1 };

	for (int i = 0; i < 3; i++)
		asymcache__v1__segment__init(&s[i]);
	s[0].start = 0, s[0].len = 2, s[0].hit = true;
	s[1].start = 2, s[1].len = 1, s[1].hit = false;
	s[2].start = 3, s[2].len = 2, s[2].hit = true;
	lr.n_blocks = 5;
	lr.blocks = blocks;
	lr.n_segments = 3;
	lr.segments = sp;
	lr.hits = 4;
	if (lookup_mode == 1)
		lr.n_blocks = 4;		/* short block list */
	else if (lookup_mode == 2)
		s[1].hit = true;		/* segment contradicts blocks */
	else if (lookup_mode == 3)
		s[2].len = 3;			/* runs past the chain */
	else if (lookup_mode == 4)
		lr.hits = 5;
	send_resp(cfd, r->id, ASYMCACHE__V1__RESPONSE__BODY_LOOKUP, &lr, -1);
	return true;
}

Test(wire, lookup_holes_in_the_middle_are_kept)
{
	struct ac_client *c;
	struct ac_key keys[5];
	uint32_t blocks[5];
	struct ac_segment segs[5];
	struct ac_lookup_result res = {
		.blocks = blocks, .segments = segs, .max_segments = 5,
	};

	for (int i = 0; i < 5; i++)
		memset(keys[i].b, 0x10 + i, 16);
	lookup_mode = 0;
	c = fake_connect(fn_lookup);
	cr_assert_eq(ac_lookup(c, 9, keys, 5, &res), 0);
	cr_expect_eq(res.hits, 4);
	cr_expect_eq(res.nsegments, 3);
	cr_expect_eq(blocks[2], AC_NO_BLOCK);
	cr_expect_eq(blocks[3], 7);
	cr_expect(segs[1].start == 2 && segs[1].len == 1 && !segs[1].hit);
	ac_disconnect(c);
	fake_stop_keep(true);
	/* The keys went out as 16 raw bytes each, in order. */
	cr_assert_not_null(F.last);
	cr_expect_eq(F.last->lookup->ns_id, 9);
	cr_assert_eq(F.last->lookup->keys.len, 80);
	cr_expect_eq(memcmp(F.last->lookup->keys.data, keys, 80), 0);
	fake_forget();
}

/* Worst case for the reply decoder: every key its own segment. */
static bool fn_lookup_alternating(struct fake *f, int cfd,
				  const Asymcache__V1__Request *r)
{
	Asymcache__V1__Response resp = ASYMCACHE__V1__RESPONSE__INIT;
	Asymcache__V1__LookupReply lr = ASYMCACHE__V1__LOOKUP_REPLY__INIT;
	size_t n = r->lookup->keys.len / 16;
	Asymcache__V1__Segment *s = calloc(n, sizeof(*s));
	Asymcache__V1__Segment **sp = calloc(n, sizeof(*sp));
	uint32_t *blocks = calloc(n, sizeof(*blocks));
	uint8_t *buf = malloc(1 << 20);
	size_t len;

	for (size_t i = 0; i < n; i++) {
		asymcache__v1__segment__init(&s[i]);
		s[i].start = i;
		s[i].len = 1;
		s[i].hit = !(i & 1);
		sp[i] = &s[i];
		blocks[i] = (i & 1) ? AC_NO_BLOCK : (uint32_t)(i / 2);
	}
	lr.n_blocks = n;
	lr.blocks = blocks;
	lr.n_segments = n;
	lr.segments = sp;
	lr.hits = (n + 1) / 2;
	resp.id = r->id;
	resp.body_case = ASYMCACHE__V1__RESPONSE__BODY_LOOKUP;
	resp.lookup = &lr;
	len = asymcache__v1__response__pack(&resp, buf);
	send(cfd, buf, len, MSG_NOSIGNAL);
	free(buf);
	free(blocks);
	free(sp);
	free(s);
	return true;
}

Test(wire, lookup_reply_with_a_segment_per_key)
{
	const size_t n = 4096;
	struct ac_client *c;
	struct ac_key *keys = calloc(n, sizeof(*keys));
	uint32_t *blocks = calloc(n, sizeof(*blocks));
	struct ac_segment *segs = calloc(n, sizeof(*segs));
	struct ac_lookup_result res = {
		.blocks = blocks, .segments = segs, .max_segments = n,
	};

	cr_assert(keys && blocks && segs);
	c = fake_connect(fn_lookup_alternating);
	for (int round = 0; round < 3; round++) {
		memset(segs, 0, n * sizeof(*segs));
		cr_assert_eq(ac_lookup(c, 1, keys, n, &res), 0);
		cr_assert_eq(res.nsegments, n);
		cr_assert_eq(res.hits, n / 2);
		for (size_t i = 0; i < n; i++) {
			cr_assert_eq(segs[i].start, i);
			cr_assert_eq(segs[i].hit, !(i & 1));
			cr_assert_eq(blocks[i], (i & 1) ? AC_NO_BLOCK : i / 2);
		}
	}
	ac_disconnect(c);
	fake_stop();
	free(keys);
	free(blocks);
	free(segs);
}

Test(wire, malformed_lookup_replies_are_eproto)
{
	for (lookup_mode = 1; lookup_mode <= 4; lookup_mode++) {
		struct ac_client *c;
		struct ac_key keys[5] = { 0 };
		uint32_t blocks[5] = { 0 };
		struct ac_segment segs[5];
		struct ac_lookup_result res = {
			.blocks = blocks, .segments = segs, .max_segments = 5,
		};

		c = fake_connect(fn_lookup);
		cr_expect_eq(ac_lookup(c, 0, keys, 5, &res), -EPROTO,
			     "mode %d", lookup_mode);
		cr_expect_eq(blocks[0], 0, "nothing written on failure");
		ac_disconnect(c);
		fake_stop();
	}
}

static bool fn_count_only(struct fake *f, int cfd,
			  const Asymcache__V1__Request *r)
{
	send_error(cfd, r->id, EINVAL, "unexpected");
	return true;
}

Test(wire, bad_arguments_send_nothing)
{
	struct ac_client *c;
	struct ac_key keys[4] = { 0 };
	uint32_t blocks[4];
	struct ac_segment segs[4];
	struct ac_lookup_result res = {
		.blocks = blocks, .segments = segs, .max_segments = 3,
	};
	struct ac_commit_entry ce = { .block = AC_NO_BLOCK };
	struct ac_ns_layout l = {
		.model_id = "m", .kv.num_layers = 1, .kv.num_kv_heads = 1,
		.kv.head_dim = 8, .kv.dtype = AC_DTYPE_FP32, .kv.block_tokens = 16,
	};
	struct ac_pool *pool = NULL;
	uint32_t ns;

	c = fake_connect(fn_count_only);
	cr_expect_eq(ac_lookup(c, 0, keys, 4, &res), -EINVAL,
		     "segments too small for 4 keys");
	cr_expect_eq(ac_lookup(c, 0, keys, 0, &res), -EINVAL);
	cr_expect_eq(ac_lookup(c, 0, NULL, 1, &res), -EINVAL);
	cr_expect_eq(ac_lookup(NULL, 0, keys, 1, &res), -EINVAL);
	cr_expect_eq(ac_alloc(c, 0, 0, blocks), -EINVAL);
	cr_expect_eq(ac_alloc(c, 0, 1, NULL), -EINVAL);
	cr_expect_eq(ac_commit(c, 0, &ce, 1, blocks, NULL), -EINVAL);
	cr_expect_eq(ac_commit(c, 0, &ce, 0, blocks, NULL), -EINVAL);
	cr_expect_eq(ac_release(c, NULL, 2, NULL), -EINVAL);
	cr_expect_eq(ac_release(c, blocks, 0, NULL), 0, "empty is a no-op");
	cr_expect_eq(ac_stats(c, NULL), -EINVAL);
	cr_expect_eq(ac_register_namespace(c, NULL, &l, &ns), -EINVAL);
	cr_expect_eq(ac_attach(c, 0, NULL), -EINVAL);
	cr_expect_eq(F.nreq, 0, "no request reached the daemon");
	(void)pool;
	ac_disconnect(c);
	fake_stop();
}

static int attach_backend_cuda;	/* 1: answer as a CUDA pool; 2: short handle */

static bool fn_attach(struct fake *f, int cfd, const Asymcache__V1__Request *r)
{
	static uint8_t handle[64] = { 0xde, 0xad };
	Asymcache__V1__AttachReply ar = ASYMCACHE__V1__ATTACH_REPLY__INIT;
	Asymcache__V1__RegisterNamespaceReply rr =
		ASYMCACHE__V1__REGISTER_NAMESPACE_REPLY__INIT;
	Asymcache__V1__PoolInfo pi;

	if (r->body_case == ASYMCACHE__V1__REQUEST__BODY_ATTACH) {
		pool_pb(&pi);
		if (attach_backend_cuda) {
			pi.backend = "cuda";
			pi.device = 0;
			ar.ipc_handle.data = handle;
			ar.ipc_handle.len = attach_backend_cuda == 2 ? 10 : 64;
		}
		ar.pool = &pi;
		send_resp(cfd, r->id, ASYMCACHE__V1__RESPONSE__BODY_ATTACH, &ar,
			  f->memfd);
	} else if (r->body_case ==
		   ASYMCACHE__V1__REQUEST__BODY_REGISTER_NAMESPACE) {
		rr.ns_id = 5;
		rr.bytes_per_block = 1024;
		send_resp(cfd, r->id,
			  ASYMCACHE__V1__RESPONSE__BODY_REGISTER_NAMESPACE, &rr, -1);
	} else {
		send_error(cfd, r->id, EINVAL, "unexpected");
	}
	return true;
}

Test(wire, attach_maps_the_passed_memfd_shared)
{
	struct ac_client *c;
	struct ac_pool *p, *p2;
	struct ac_ns_layout l = {
		.model_id = "tiny", .kv.num_layers = 2, .kv.num_kv_heads = 2,
		.kv.head_dim = 16, .kv.dtype = AC_DTYPE_FP32, .kv.block_tokens = 4,
	};
	const struct ac_pool_info *pools;
	size_t npools;
	uint32_t ns = 0;
	char *daemon_view;

	fake_start(fn_attach);
	F.memfd = memfd_create("fake-pool", MFD_CLOEXEC);
	cr_assert_geq(F.memfd, 0);
	cr_assert_eq(ftruncate(F.memfd, POOL_BYTES), 0);
	daemon_view = mmap(NULL, POOL_BYTES, PROT_READ | PROT_WRITE,
			   MAP_SHARED, F.memfd, 0);
	cr_assert_neq(daemon_view, MAP_FAILED);
	memcpy(daemon_view + 3 * BLOCK_BYTES, "from-daemon", 12);

	c = connect_ok();
	cr_assert_eq(ac_client_pools(c, &pools, &npools), 0);
	cr_assert_eq(npools, 1);
	cr_expect_eq(pools[0].nblocks, POOL_BYTES / BLOCK_BYTES);
	cr_assert_eq(ac_attach(c, 0, &p), 0);
	cr_expect_eq(ac_pool_info(p)->block_bytes, BLOCK_BYTES);
	cr_expect_eq(ac_pool_info(p)->backend, AC_BACKEND_HOST);
	cr_expect_str_eq((char *)ac_pool_base(p) + 3 * BLOCK_BYTES,
			 "from-daemon");
	memcpy((char *)ac_pool_base(p) + 5 * BLOCK_BYTES, "from-client", 12);
	cr_expect_str_eq(daemon_view + 5 * BLOCK_BYTES, "from-client");
	cr_assert_eq(ac_attach(c, 0, &p2), 0);
	cr_expect_eq(p2, p, "second attach reuses the mapping");

	cr_expect_eq(ac_register_namespace(c, p, &l, &ns), 0);
	cr_expect_eq(ns, 5);
	l.kv.num_layers = 1024;
	cr_expect_eq(ac_register_namespace(c, p, &l, &ns), -E2BIG,
		     "layout bigger than a block is refused locally");
	ac_disconnect(c);
	fake_stop();
	cr_expect_eq(F.nreq, 2);
	munmap(daemon_view, POOL_BYTES);
}

/*
 * A CUDA pool whose handle cannot be opened here (no device, a build
 * without CUDA, or a forged handle) fails cleanly: no pool, session fine.
 */
Test(wire, cuda_attach_failure_is_clean)
{
	struct ac_client *c;
	struct ac_pool *p = NULL;
	struct ac_stats st;
	int r;

	c = fake_connect(fn_attach);
	attach_backend_cuda = 2;
	r = ac_attach(c, 0, &p);
	cr_expect(r == -EPROTO || r == -EOPNOTSUPP, "short handle: %d", r);
	attach_backend_cuda = 1;
	r = ac_attach(c, 0, &p);
	cr_expect_lt(r, 0, "a forged 64-byte handle opened");
	cr_expect_null(p);
	attach_backend_cuda = 0;
	cr_expect_eq(ac_stats(c, &st), -EINVAL, "fake answers stats with EINVAL");
	ac_disconnect(c);
	fake_stop();
}

Test(wire, attach_without_memfd_is_eproto)
{
	struct ac_client *c;
	struct ac_pool *p = NULL;

	/* F.memfd stays -1: no SCM_RIGHTS. */
	c = fake_connect(fn_attach);
	cr_expect_eq(ac_attach(c, 0, &p), -EPROTO);
	cr_expect_null(p);
	ac_disconnect(c);
	fake_stop();
}

static bool fn_commit(struct fake *f, int cfd, const Asymcache__V1__Request *r)
{
	Asymcache__V1__CommitReply cr = ASYMCACHE__V1__COMMIT_REPLY__INIT;
	uint32_t out[8];

	for (size_t i = 0; i < r->commit->n_entries; i++)
		out[i] = r->commit->entries[i]->block + (i == 1 ? 100 : 0);
	cr.n_blocks = r->commit->n_entries;
	cr.blocks = out;
	cr.deduped = 1;
	send_resp(cfd, r->id, ASYMCACHE__V1__RESPONSE__BODY_COMMIT, &cr, -1);
	return true;
}

Test(wire, commit_sends_parent_keys_and_returns_dedup)
{
	struct ac_client *c;
	struct ac_commit_entry e[2];
	uint32_t out[2], dd = 0;

	memset(e, 0, sizeof(e));
	memset(e[0].key.b, 1, 16);
	memset(e[0].parent.b, 9, 16);	/* ignored at position 0 */
	e[0].block = 3;
	memset(e[1].key.b, 2, 16);
	e[1].parent = e[0].key;
	e[1].position = 1;
	e[1].block = 4;
	c = fake_connect(fn_commit);
	cr_assert_eq(ac_commit(c, 1, e, 2, out, &dd), 0);
	cr_expect_eq(out[0], 3);
	cr_expect_eq(out[1], 104);
	cr_expect_eq(dd, 1);
	ac_disconnect(c);
	fake_stop_keep(true);
	cr_assert_eq(F.last->commit->n_entries, 2);
	cr_expect_eq(F.last->commit->entries[0]->parent_key.len, 0);
	cr_expect_eq(F.last->commit->entries[1]->parent_key.len, 16);
	cr_expect_eq(memcmp(F.last->commit->entries[1]->parent_key.data,
			    e[0].key.b, 16), 0);
	cr_expect_eq(F.last->commit->entries[1]->position, 1);
	fake_forget();
}

Test(wire, protocol_version_mismatch_is_refused)
{
	struct ac_client *c = NULL;

	fake_start(fn_count_only);
	F.hello_version = 2;
	cr_expect_eq(ac_connect(F.path, "wire-test", &c), -EPROTONOSUPPORT);
	cr_expect_null(c);
	fake_stop();
}

Test(wire, connect_arguments)
{
	struct ac_client *c = NULL;
	char longpath[200];

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	cr_expect_eq(ac_connect("/nonexistent/asymcache.sock", "x", &c),
		     -ENOENT);
	cr_expect_eq(ac_connect(longpath, "x", &c), -ENAMETOOLONG);
	cr_expect_eq(ac_connect("/tmp/x", "", &c), -EINVAL);
	cr_expect_eq(ac_connect("/tmp/x", "bad\nname", &c), -EINVAL);
	cr_expect_eq(ac_connect("/tmp/x",
		"0123456789012345678901234567890123456789012345678901234567890123456789",
		&c), -EINVAL);
	cr_expect_eq(ac_connect(NULL, "x", &c), -EINVAL);
	cr_expect_null(c);
	ac_disconnect(NULL);
	cr_expect_str_eq(ac_strerror(-ENOSPC),
			 "pool exhausted: every block is pinned or being written");
	cr_expect_str_eq(ac_strerror(ENOSPC), ac_strerror(-ENOSPC));
	cr_expect_not_null(ac_strerror(-123456));
}
