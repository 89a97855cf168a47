/* SPDX-License-Identifier: MIT */
/*
 * Hostile peers: raw bytes and raw protobuf on the socket, and a peer
 * outside the pool's group. The daemon must answer with errors or close
 * the offending session, never crash, and never disturb a bystander.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "asymcache.pb-c.h"
#include "harness.h"
#include "layout.h"
#include "rawproto.h"
#include "th_proto.h"

#define BLOCK_BYTES	8192u
#define NBLOCKS		16u
#define POOL_BYTES	((uint64_t)NBLOCKS * BLOCK_BYTES)
#define MAX_KEYS	8192u	/* the daemon's default limits.max_keys_per_lookup */

static struct th_daemon D;
static uint8_t rxbuf[2 << 20];

/* Expect an Error reply with code @code (0: any code) to @req. */
static void expect_error(int fd, Asymcache__V1__Request *req, int code,
			 const char *what)
{
	Asymcache__V1__Response *resp = traw_call(fd, req);

	cr_assert_not_null(resp, "%s: session closed instead of an Error", what);
	cr_expect_eq(resp->id, req->id, "%s: id", what);
	cr_assert_eq(resp->body_case, ASYMCACHE__V1__RESPONSE__BODY_ERROR,
		     "%s: no Error (body %d)", what, resp->body_case);
	cr_expect_gt(resp->error->code, 0, "%s", what);
	if (code)
		cr_expect_eq(resp->error->code, code, "%s: code %d", what,
			     resp->error->code);
	cr_expect(resp->error->message && resp->error->message[0],
		  "%s: empty message", what);
	asymcache__v1__response__free_unpacked(resp, NULL);
}

/* Expect the daemon to close the session (EOF) within 2 s. */
static void expect_closed(int fd, const char *what)
{
	for (;;) {
		ssize_t n = th_recv(fd, rxbuf, sizeof(rxbuf), 2000, NULL);

		cr_assert_neq(n, -ETIMEDOUT, "%s: session left open", what);
		if (n <= 0)
			return;
		/* An Error may come first; then the close must follow. */
	}
}

static uint32_t raw_attach_register(int fd)
{
	Asymcache__V1__Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Attach a = ASYMCACHE__V1__ATTACH__INIT;
	Asymcache__V1__RegisterNamespace rn =
		ASYMCACHE__V1__REGISTER_NAMESPACE__INIT;
	Asymcache__V1__NamespaceLayout nl;
	Asymcache__V1__Response *resp;
	uint32_t ns;

	req.body_case = ASYMCACHE__V1__REQUEST__BODY_ATTACH;
	req.attach = &a;
	resp = traw_call(fd, &req);	/* the memfd arrives and is dropped by recv */
	cr_assert_not_null(resp);
	cr_assert_eq(resp->body_case, ASYMCACHE__V1__RESPONSE__BODY_ATTACH);
	asymcache__v1__response__free_unpacked(resp, NULL);

	th_proto_layout(&nl, tlayout.model_id, tlayout.kv.num_layers,
			tlayout.kv.num_kv_heads, tlayout.kv.head_dim,
			ASYMCACHE__V1__DTYPE__DTYPE_FP32,
			tlayout.kv.block_tokens);
	rn.layout = &nl;
	req.body_case = ASYMCACHE__V1__REQUEST__BODY_REGISTER_NAMESPACE;
	req.register_namespace = &rn;
	resp = traw_call(fd, &req);
	cr_assert_not_null(resp);
	cr_assert_eq(resp->body_case,
		     ASYMCACHE__V1__RESPONSE__BODY_REGISTER_NAMESPACE);
	ns = resp->register_namespace->ns_id;
	asymcache__v1__response__free_unpacked(resp, NULL);
	return ns;
}

static Asymcache__V1__StatsReply *raw_stats(int fd,
					    Asymcache__V1__Response **keep)
{
	Asymcache__V1__Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Stats st = ASYMCACHE__V1__STATS__INIT;

	req.body_case = ASYMCACHE__V1__REQUEST__BODY_STATS;
	req.stats = &st;
	*keep = traw_call(fd, &req);
	cr_assert_not_null(*keep, "session closed on Stats");
	cr_assert_eq((*keep)->body_case, ASYMCACHE__V1__RESPONSE__BODY_STATS);
	return (*keep)->stats;
}

TestSuite(hostile, .timeout = 60);

Test(hostile, unparseable_and_early_packets_close_only_their_session)
{
	static const uint8_t junk[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0xff,
					0xff, 0xff, 0xff, 0xff, 0x01, 0x12 };
	struct tclient by;
	struct ac_key keys[2];
	struct ac_segment segs[2];
	struct ac_lookup_result res = { .segments = segs, .max_segments = 2 };
	struct ac_stats st;
	uint32_t out[2], blocks[2];
	int fd;

	tdaemon_start(&D, POOL_BYTES, BLOCK_BYTES, NULL);
	/* A bystander with pins, whose state must not move. */
	cr_assert_eq(tclient_open(&by, &D, "bystander"), 0);
	cr_assert_eq(tkeys(5, 2, keys), 0);
	cr_assert_eq(ac_alloc(by.c, by.ns, 2, blocks), 0);
	for (int i = 0; i < 2; i++)
		tblock_fill(&by, blocks[i], &keys[i]);
	cr_assert_eq(ac_commit(by.c, by.ns, (struct ac_commit_entry[]){
		{ .key = keys[0], .block = blocks[0], .position = 0 },
		{ .key = keys[1], .block = blocks[1], .position = 1,
		  .parent = keys[0] } }, 2, out, NULL), 0);

	/* 1: garbage before Hello. */
	fd = th_connect(D.sock);
	cr_assert_geq(fd, 0);
	cr_assert_eq(th_send(fd, junk, sizeof(junk)), 0);
	expect_closed(fd, "garbage");
	close(fd);

	/* 2: a well-formed request that is not Hello comes first. */
	{
		Asymcache__V1__Request req = ASYMCACHE__V1__REQUEST__INIT;
		Asymcache__V1__Stats s = ASYMCACHE__V1__STATS__INIT;
		Asymcache__V1__Response *resp;

		fd = th_connect(D.sock);
		cr_assert_geq(fd, 0);
		req.body_case = ASYMCACHE__V1__REQUEST__BODY_STATS;
		req.stats = &s;
		resp = traw_call(fd, &req);
		if (resp) {
			cr_expect_eq(resp->body_case,
				     ASYMCACHE__V1__RESPONSE__BODY_ERROR);
			if (resp->body_case == ASYMCACHE__V1__RESPONSE__BODY_ERROR)
				cr_expect_eq(resp->error->code, EPROTO);
			asymcache__v1__response__free_unpacked(resp, NULL);
		}
		expect_closed(fd, "stats before hello");
		close(fd);
	}

	/* 3: a truncated Lookup after a good Hello. */
	{
		Asymcache__V1__Request req = ASYMCACHE__V1__REQUEST__INIT;
		Asymcache__V1__Lookup lk = ASYMCACHE__V1__LOOKUP__INIT;
		uint8_t *buf;
		size_t len;

		fd = traw_hello(D.sock);
		lk.ns_id = 0;
		lk.keys.data = (uint8_t *)keys;
		lk.keys.len = sizeof(keys);
		req.body_case = ASYMCACHE__V1__REQUEST__BODY_LOOKUP;
		req.lookup = &lk;
		len = traw_pack(&req, &buf);
		cr_assert_eq(th_send(fd, buf, len - 7), 0);
		free(buf);
		expect_closed(fd, "truncated lookup");
		close(fd);
	}

	/* 4: an empty packet and a Hello with a bad version. */
	{
		Asymcache__V1__Request req = ASYMCACHE__V1__REQUEST__INIT;
		Asymcache__V1__Hello h;
		Asymcache__V1__Response *resp;

		fd = th_connect(D.sock);
		th_proto_hello(&req, &h, 99, "future");
		resp = traw_call(fd, &req);
		cr_assert_not_null(resp, "closed without an Error");
		cr_expect_eq(resp->body_case,
			     ASYMCACHE__V1__RESPONSE__BODY_ERROR);
		asymcache__v1__response__free_unpacked(resp, NULL);
		close(fd);
	}

	cr_assert(th_daemon_alive(&D), "daemon crashed");
	cr_assert_eq(ac_stats(by.c, &st), 0);
	cr_expect_eq(st.session_pins, 2);
	cr_expect_eq(st.pinned_blocks, 2);
	res.blocks = blocks;
	cr_assert_eq(ac_lookup(by.c, by.ns, keys, 2, &res), 0);
	cr_expect_eq(res.hits, 2);
	for (int i = 0; i < 2; i++)
		cr_expect(tblock_check(&by, blocks[i], &keys[i]));
	tclient_close(&by);
	tdaemon_stop(&D);
}

Test(hostile, out_of_range_fields_get_errors_and_change_nothing)
{
	Asymcache__V1__Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Response *keep;
	Asymcache__V1__StatsReply *st;
	struct ac_key key0 = { { 1 } };
	uint8_t *bigkeys;
	uint32_t ns, pins_before;
	int fd;

	tdaemon_start(&D, POOL_BYTES, BLOCK_BYTES, NULL);
	fd = traw_hello(D.sock);
	ns = raw_attach_register(fd);

	/* Namespace layouts out of range. */
	{
		Asymcache__V1__RegisterNamespace rn =
			ASYMCACHE__V1__REGISTER_NAMESPACE__INIT;
		Asymcache__V1__NamespaceLayout nl;

		th_proto_layout(&nl, "m", 1, 1, 8,
				ASYMCACHE__V1__DTYPE__DTYPE_FP16, 3);
		rn.layout = &nl;
		req.body_case = ASYMCACHE__V1__REQUEST__BODY_REGISTER_NAMESPACE;
		req.register_namespace = &rn;
		expect_error(fd, &req, 0, "block_tokens 3");
		nl.block_tokens = 16;
		nl.dtype = ASYMCACHE__V1__DTYPE__DTYPE_INVALID;
		expect_error(fd, &req, 0, "dtype invalid");
		nl.dtype = ASYMCACHE__V1__DTYPE__DTYPE_FP16;
		nl.model_id = ac_proto_text("");
		expect_error(fd, &req, 0, "empty model_id");
		nl.model_id = ac_proto_text("m");
		nl.num_layers = 1024;
		nl.num_kv_heads = 1024;
		expect_error(fd, &req, 0, "layout bigger than a block");
		nl.num_layers = 1;
		nl.num_kv_heads = 1;
		rn.layout = NULL;
		expect_error(fd, &req, 0, "no layout");
		rn.layout = &nl;
		rn.pool_id = 77;
		expect_error(fd, &req, 0, "pool 77");
	}

	/* Lookups: ragged key bytes, no keys, too many keys, unknown ns. */
	bigkeys = calloc(MAX_KEYS + 1, 16);
	cr_assert_not_null(bigkeys);
	{
		Asymcache__V1__Lookup lk = ASYMCACHE__V1__LOOKUP__INIT;
		const struct {
			uint32_t ns;
			uint8_t *keys;
			size_t len;
			const char *what;
		} bad[] = {
			{ ns, key0.b, 15, "15-byte key" },
			{ ns, key0.b, 0, "no keys" },
			{ ns, bigkeys, (MAX_KEYS + 1) * 16, "max_keys + 1" },
			{ 4242, key0.b, 16, "unknown namespace" },
		};

		req.body_case = ASYMCACHE__V1__REQUEST__BODY_LOOKUP;
		req.lookup = &lk;
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			lk.ns_id = bad[i].ns;
			lk.keys.data = bad[i].keys;
			lk.keys.len = bad[i].len;
			expect_error(fd, &req, 0, bad[i].what);
		}
	}
	free(bigkeys);

	/* Allocs: none, more than the pool. */
	{
		Asymcache__V1__Alloc al = ASYMCACHE__V1__ALLOC__INIT;

		const struct {
			uint32_t count;
			const char *what;
		} bad[] = {
			{ 0, "alloc 0" },
			{ 1u << 30, "alloc 2^30" },
			{ NBLOCKS + 1, "alloc nblocks+1" },
		};

		req.body_case = ASYMCACHE__V1__REQUEST__BODY_ALLOC;
		req.alloc = &al;
		al.ns_id = ns;
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			al.count = bad[i].count;
			expect_error(fd, &req, 0, bad[i].what);
		}
	}

	/* Commits of blocks this session does not own, or malformed keys. */
	{
		Asymcache__V1__Commit cm = ASYMCACHE__V1__COMMIT__INIT;
		Asymcache__V1__CommitEntry ce = ASYMCACHE__V1__COMMIT_ENTRY__INIT;
		Asymcache__V1__CommitEntry *pce = &ce;

		req.body_case = ASYMCACHE__V1__REQUEST__BODY_COMMIT;
		req.commit = &cm;
		cm.ns_id = ns;
		cm.n_entries = 1;
		cm.entries = &pce;
		ce.key.data = key0.b;
		ce.key.len = 16;
		ce.block = NBLOCKS + 5;
		expect_error(fd, &req, 0, "commit block out of range");
		ce.block = AC_NO_BLOCK;
		expect_error(fd, &req, 0, "commit AC_NO_BLOCK");
		ce.block = 0;
		expect_error(fd, &req, 0, "commit a FREE block");
		ce.key.len = 8;
		expect_error(fd, &req, 0, "8-byte key");
		cm.n_entries = 0;
		expect_error(fd, &req, 0, "no entries");
	}

	/* Releases: out of range, and all-or-nothing with a valid id. */
	{
		Asymcache__V1__Release rl = ASYMCACHE__V1__RELEASE__INIT;
		Asymcache__V1__Alloc al = ASYMCACHE__V1__ALLOC__INIT;
		Asymcache__V1__Response *resp;
		uint32_t ids[2];

		req.body_case = ASYMCACHE__V1__REQUEST__BODY_ALLOC;
		req.alloc = &al;
		al.ns_id = ns;
		al.count = 1;
		resp = traw_call(fd, &req);
		cr_assert_not_null(resp);
		cr_assert_eq(resp->body_case, ASYMCACHE__V1__RESPONSE__BODY_ALLOC);
		ids[0] = resp->alloc->blocks[0];
		asymcache__v1__response__free_unpacked(resp, NULL);
		ids[1] = 1u << 30;

		st = raw_stats(fd, &keep);
		pins_before = st->session_writing;
		asymcache__v1__response__free_unpacked(keep, NULL);

		req.body_case = ASYMCACHE__V1__REQUEST__BODY_RELEASE;
		req.release = &rl;
		rl.n_blocks = 2;
		rl.blocks = ids;
		expect_error(fd, &req, 0, "release [mine, 2^30]");
		st = raw_stats(fd, &keep);
		cr_expect_eq(st->session_writing, pins_before,
			     "half of a refused release took effect");
		asymcache__v1__response__free_unpacked(keep, NULL);
	}

	/* A Request with no body. */
	{
		Asymcache__V1__Request empty = ASYMCACHE__V1__REQUEST__INIT;

		expect_error(fd, &empty, 0, "no body");
	}

	/* The session survived every refusal. */
	st = raw_stats(fd, &keep);
	cr_expect_eq(st->sessions, 1);
	cr_expect_eq(st->writing_blocks, 1);
	asymcache__v1__response__free_unpacked(keep, NULL);
	close(fd);
	cr_assert(th_daemon_alive(&D), "daemon crashed");
	tdaemon_stop(&D);
}

Test(hostile, oversized_packet_is_refused)
{
	Asymcache__V1__Response *keep;
	struct tclient by;
	struct ac_stats st;
	size_t big = 3u << 20;	/* > limits.max_packet (1 MiB) */
	uint8_t *junk = calloc(1, big);
	int fd, sz = 8 << 20;
	ssize_t n;

	cr_assert_not_null(junk);
	tdaemon_start(&D, POOL_BYTES, BLOCK_BYTES, NULL);
	cr_assert_eq(tclient_open(&by, &D, "bystander"), 0);
	fd = traw_hello(D.sock);
	/* The default send buffer caps packets below max_packet; lift it. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	/* A Lookup header claiming a 3 MiB key field, then zeros. */
	junk[0] = 0x08;	/* id = 1000 */
	junk[1] = 0xe8;
	junk[2] = 0x07;
	if (th_send(fd, junk, big) == 0) {
		/* An Error or a closed session are both fine; a hang is not. */
		n = th_recv(fd, rxbuf, sizeof(rxbuf), 5000, NULL);
		cr_expect_neq(n, -ETIMEDOUT, "no reaction to an oversized packet");
	}
	free(junk);
	close(fd);
	cr_assert(th_daemon_alive(&D), "daemon crashed");
	cr_assert_eq(ac_stats(by.c, &st), 0);
	(void)keep;
	tclient_close(&by);
	tdaemon_stop(&D);
}

/* ---- access by group ------------------------------------------------- */

static int child_nobody(void *arg, int slot)
{
	struct ac_client *c = NULL;
	struct ac_pool *p = NULL;
	const struct ac_pool_info *pools;
	size_t np = 0;
	bool world = *(bool *)arg;
	int r;

	CHILD_CHECK(slot, setgroups(0, NULL) == 0, errno);
	CHILD_CHECK(slot, setgid(65534) == 0, errno);
	CHILD_CHECK(slot, setuid(65534) == 0, errno);
	r = ac_connect(D.sock, "intruder", &c);
	if (!world) {
		/* The socket's 0660 mode and group turn it away. */
		CHILD_CHECK(slot, r == -EACCES, r);
		return 0;
	}
	/* A world-writable socket: SO_PEERCRED must still refuse the pool. */
	if (r < 0) {
		CHILD_CHECK(slot, r == -EACCES || r == -EPERM ||
			    r == -ECONNRESET, r);
		return 0;
	}
	CHILD_CHECK(slot, ac_client_pools(c, &pools, &np) == 0, 0);
	CHILD_CHECK(slot, np == 0, (int)np);
	r = ac_attach(c, 0, &p);
	CHILD_CHECK(slot, r < 0, r);
	CHILD_CHECK(slot, p == NULL, 0);
	ac_disconnect(c);
	return 0;
}

Test(hostile, peer_outside_the_pool_group_is_refused)
{
	struct tclient member;
	bool world;
	pid_t p;

	if (geteuid() != 0)
		cr_skip_test("needs root to become nobody");
	child_reports_init(1);
	tdaemon_start(&D, POOL_BYTES, BLOCK_BYTES, NULL);
	cr_assert_eq(tclient_open(&member, &D, "member"), 0,
		     "a member of the group is let in");

	world = false;
	p = child_spawn(child_nobody, &world, 0);
	child_wait_ok(p, 0);

	cr_assert_eq(chmod(D.sock, 0666), 0);
	world = true;
	p = child_spawn(child_nobody, &world, 0);
	child_wait_ok(p, 0);

	cr_assert(th_daemon_alive(&D));
	tclient_close(&member);
	tdaemon_stop(&D);
}
