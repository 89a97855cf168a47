/* SPDX-License-Identifier: MIT */
/*
 * Protocol v1 encode/decode round trips for every message, through the
 * Request and Response envelopes the daemon and clients exchange.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "asymcache.pb-c.h"
#include "th_proto.h"

typedef Asymcache__V1__Request Request;
typedef Asymcache__V1__Response Response;

static uint8_t buf[1 << 16];

/*
 * Each test fills the envelopes rq and rs and reads their decoded copies
 * through o and p; what its round trips decoded is freed when it ends.
 */
static Request rq, *o;
static Response rs, *p;
static ProtobufCMessage *decoded[16];
static size_t ndecoded;

/* A text field (bytes on the wire) equals @want, length and all. */
static void expect_text(ProtobufCBinaryData b, const char *want)
{
	cr_assert_eq(b.len, strlen(want), "%zu bytes, want '%s'", b.len, want);
	cr_assert_eq(memcmp(b.data, want, b.len), 0, "want '%s'", want);
}

static void setup(void)
{
	rq = (Request)ASYMCACHE__V1__REQUEST__INIT;
	rs = (Response)ASYMCACHE__V1__RESPONSE__INIT;
}

static void free_decoded(void)
{
	while (ndecoded)
		protobuf_c_message_free_unpacked(decoded[--ndecoded], NULL);
}

/* Packs @in and unpacks it again, as the peer would see it. */
static ProtobufCMessage *rt(const ProtobufCMessage *in)
{
	size_t n = protobuf_c_message_get_packed_size(in);

	cr_assert_leq(n, sizeof(buf));
	cr_assert_eq(protobuf_c_message_pack(in, buf), n);
	cr_assert_lt(ndecoded, sizeof(decoded) / sizeof(decoded[0]));
	decoded[ndecoded] = protobuf_c_message_unpack(in->descriptor, NULL, n,
						      buf);
	return decoded[ndecoded++];
}

static Request *rt_req(const Request *in)
{
	return (Request *)rt(&in->base);
}

static Response *rt_resp(const Response *in)
{
	return (Response *)rt(&in->base);
}

/*
 * Round trips of rq (rs) with its body set to @msg, the oneof member
 * @member of case @kind.
 */
#define RT_REQ(kind, member, msg)					\
	(rq.body_case = ASYMCACHE__V1__REQUEST__BODY_##kind,		\
	 rq.member = (msg), rt_req(&rq))
#define RT_RESP(kind, member, msg)					\
	(rs.body_case = ASYMCACHE__V1__RESPONSE__BODY_##kind,		\
	 rs.member = (msg), rt_resp(&rs))

TestSuite(proto, .timeout = 30, .init = setup, .fini = free_decoded);

Test(proto, hello_and_reply)
{
	Asymcache__V1__Hello h;
	Asymcache__V1__HelloReply hr = ASYMCACHE__V1__HELLO_REPLY__INIT;
	Asymcache__V1__PoolInfo pi = ASYMCACHE__V1__POOL_INFO__INIT, *pis[1] = { &pi };

	th_proto_hello(&rq, &h, 1, "engine-7");
	rq.id = UINT64_MAX;
	o = rt_req(&rq);
	cr_assert_not_null(o);
	cr_assert_eq(o->id, UINT64_MAX);
	cr_assert_eq(o->body_case, ASYMCACHE__V1__REQUEST__BODY_HELLO);
	cr_assert_eq(o->hello->protocol_version, 1);
	expect_text(o->hello->client_name, "engine-7");

	pi.pool_id = 0;
	pi.backend = "cuda";
	pi.device = -1;
	pi.bytes = 80ULL << 30;
	pi.block_bytes = 2 << 20;
	pi.nblocks = 40960;
	hr.protocol_version = 1;
	hr.daemon_version = "0.1.0";
	hr.layout_version = 1;
	hr.n_pools = 1;
	hr.pools = pis;
	hr.session_id = 99;
	rs.id = 5;
	p = RT_RESP(HELLO, hello, &hr);
	cr_assert_not_null(p);
	cr_assert_eq(p->hello->n_pools, 1);
	cr_assert_str_eq(p->hello->pools[0]->backend, "cuda");
	cr_assert_eq(p->hello->pools[0]->device, -1);
	cr_assert_eq(p->hello->pools[0]->bytes, 80ULL << 30);
	cr_assert_eq(p->hello->pools[0]->nblocks, 40960);
	cr_assert_eq(p->hello->session_id, 99);
	cr_assert_eq(p->hello->layout_version, 1);
	cr_assert_str_eq(p->hello->daemon_version, "0.1.0");
}

Test(proto, attach_and_reply_with_ipc_handle)
{
	Asymcache__V1__Attach a = ASYMCACHE__V1__ATTACH__INIT;
	Asymcache__V1__AttachReply ar = ASYMCACHE__V1__ATTACH_REPLY__INIT;
	Asymcache__V1__PoolInfo pi = ASYMCACHE__V1__POOL_INFO__INIT;
	uint8_t handle[64];

	for (int i = 0; i < 64; i++)
		handle[i] = (uint8_t)(255 - i);
	a.pool_id = 3;
	rq.id = 1;
	o = RT_REQ(ATTACH, attach, &a);
	cr_assert_eq(o->attach->pool_id, 3);

	pi.backend = "cuda";
	pi.device = 2;
	ar.pool = &pi;
	ar.ipc_handle.data = handle;
	ar.ipc_handle.len = 64;
	rs.id = 1;
	p = RT_RESP(ATTACH, attach, &ar);
	cr_assert_eq(p->attach->ipc_handle.len, 64);
	cr_assert_arr_eq(p->attach->ipc_handle.data, handle, 64);
	cr_assert_eq(p->attach->pool->device, 2);
}

Test(proto, register_namespace_and_reply)
{
	Asymcache__V1__RegisterNamespace rn = ASYMCACHE__V1__REGISTER_NAMESPACE__INIT;
	Asymcache__V1__NamespaceLayout l;
	Asymcache__V1__RegisterNamespaceReply rr =
		ASYMCACHE__V1__REGISTER_NAMESPACE_REPLY__INIT;

	th_proto_layout(&l, "meta-llama/Llama-3-8B", 32, 8, 128,
			ASYMCACHE__V1__DTYPE__DTYPE_BF16, 16);
	rn.pool_id = 0;
	rn.layout = &l;
	rq.id = 2;
	o = RT_REQ(REGISTER_NAMESPACE, register_namespace, &rn);
	expect_text(o->register_namespace->layout->model_id,
		    "meta-llama/Llama-3-8B");
	cr_assert_eq(o->register_namespace->layout->num_layers, 32);
	cr_assert_eq(o->register_namespace->layout->num_kv_heads, 8);
	cr_assert_eq(o->register_namespace->layout->head_dim, 128);
	cr_assert_eq(o->register_namespace->layout->dtype,
		     ASYMCACHE__V1__DTYPE__DTYPE_BF16);
	cr_assert_eq(o->register_namespace->layout->block_tokens, 16);

	rr.ns_id = 4;
	rr.bytes_per_block = 2 << 20;
	p = RT_RESP(REGISTER_NAMESPACE, register_namespace, &rr);
	cr_assert_eq(p->register_namespace->ns_id, 4);
	cr_assert_eq(p->register_namespace->bytes_per_block, 2 << 20);
}

Test(proto, lookup_and_reply_keep_no_block_and_segments)
{
	Asymcache__V1__Lookup lk = ASYMCACHE__V1__LOOKUP__INIT;
	Asymcache__V1__LookupReply lr = ASYMCACHE__V1__LOOKUP_REPLY__INIT;
	Asymcache__V1__Segment sg[3], *sgp[3] = { &sg[0], &sg[1], &sg[2] };
	uint8_t keys[2048 * 16];
	uint32_t blocks[5] = { 7, 0xffffffffu, 0xffffffffu, 0, 123456 };

	for (size_t i = 0; i < sizeof(keys); i++)
		keys[i] = (uint8_t)(i * 31);
	lk.ns_id = 1;
	lk.keys.data = keys;
	lk.keys.len = sizeof(keys);
	o = RT_REQ(LOOKUP, lookup, &lk);
	cr_assert_eq(o->lookup->keys.len, sizeof(keys));
	cr_assert_arr_eq(o->lookup->keys.data, keys, sizeof(keys));

	for (int i = 0; i < 3; i++)
		asymcache__v1__segment__init(&sg[i]);
	sg[0].start = 0; sg[0].len = 1; sg[0].hit = 1;
	sg[1].start = 1; sg[1].len = 2; sg[1].hit = 0;
	sg[2].start = 3; sg[2].len = 2; sg[2].hit = 1;
	lr.n_blocks = 5;
	lr.blocks = blocks;
	lr.n_segments = 3;
	lr.segments = sgp;
	lr.hits = 3;
	p = RT_RESP(LOOKUP, lookup, &lr);
	cr_assert_eq(p->lookup->n_blocks, 5);
	cr_assert_arr_eq(p->lookup->blocks, blocks, sizeof(blocks));
	cr_assert_eq(p->lookup->n_segments, 3);
	cr_assert_eq(p->lookup->segments[1]->start, 1);
	cr_assert_eq(p->lookup->segments[1]->len, 2);
	cr_assert_not(p->lookup->segments[1]->hit);
	cr_assert(p->lookup->segments[2]->hit);
	cr_assert_eq(p->lookup->hits, 3);
}

Test(proto, alloc_commit_release_stats_and_replies)
{
	Asymcache__V1__Alloc al = ASYMCACHE__V1__ALLOC__INIT;
	Asymcache__V1__AllocReply ar = ASYMCACHE__V1__ALLOC_REPLY__INIT;
	Asymcache__V1__Commit cm = ASYMCACHE__V1__COMMIT__INIT;
	Asymcache__V1__CommitEntry ce[2], *cep[2] = { &ce[0], &ce[1] };
	Asymcache__V1__CommitReply cr = ASYMCACHE__V1__COMMIT_REPLY__INIT;
	Asymcache__V1__Release rl = ASYMCACHE__V1__RELEASE__INIT;
	Asymcache__V1__ReleaseReply rr = ASYMCACHE__V1__RELEASE_REPLY__INIT;
	Asymcache__V1__Stats st = ASYMCACHE__V1__STATS__INIT;
	Asymcache__V1__StatsReply sr = ASYMCACHE__V1__STATS_REPLY__INIT;
	uint8_t k[32];
	uint32_t ids[3] = { 9, 8, 7 };

	memset(k, 0xab, 16);
	memset(k + 16, 0xcd, 16);
	al.ns_id = 2;
	al.count = 300;
	o = RT_REQ(ALLOC, alloc, &al);
	cr_assert_eq(o->alloc->ns_id, 2);
	cr_assert_eq(o->alloc->count, 300);
	ar.n_blocks = 3;
	ar.blocks = ids;
	p = RT_RESP(ALLOC, alloc, &ar);
	cr_assert_arr_eq(p->alloc->blocks, ids, sizeof(ids));

	for (int i = 0; i < 2; i++)
		th_proto_entry(&ce[i], k + 16 * i, ids[i], (uint32_t)i + 4, k);
	cm.ns_id = 2;
	cm.n_entries = 2;
	cm.entries = cep;
	o = RT_REQ(COMMIT, commit, &cm);
	cr_assert_eq(o->commit->n_entries, 2);
	cr_assert_arr_eq(o->commit->entries[1]->key.data, k + 16, 16);
	cr_assert_eq(o->commit->entries[1]->block, 8);
	cr_assert_eq(o->commit->entries[1]->position, 5);
	cr_assert_arr_eq(o->commit->entries[1]->parent_key.data, k, 16);
	cr.n_blocks = 2;
	cr.blocks = ids;
	cr.deduped = 1;
	p = RT_RESP(COMMIT, commit, &cr);
	cr_assert_eq(p->commit->deduped, 1);
	cr_assert_eq(p->commit->blocks[1], 8);

	rl.n_blocks = 3;
	rl.blocks = ids;
	o = RT_REQ(RELEASE, release, &rl);
	cr_assert_arr_eq(o->release->blocks, ids, sizeof(ids));
	rr.released = 3;
	p = RT_RESP(RELEASE, release, &rr);
	cr_assert_eq(p->release->released, 3);

	o = RT_REQ(STATS, stats, &st);
	cr_assert_eq(o->body_case, ASYMCACHE__V1__REQUEST__BODY_STATS);
	sr.nblocks = 10; sr.free_blocks = 1; sr.writing_blocks = 2;
	sr.cached_blocks = 7; sr.pinned_blocks = 3; sr.lookups = 1ULL << 40;
	sr.lookup_keys = 5; sr.lookup_hits = 4; sr.evictions = 6;
	sr.commits = 8; sr.dedups = 9; sr.sessions = 11; sr.policy = "asym";
	sr.session_pins = 12; sr.session_writing = 13;
	p = RT_RESP(STATS, stats, &sr);
	cr_assert_eq(p->stats->lookups, 1ULL << 40);
	cr_assert_eq(p->stats->cached_blocks, 7);
	cr_assert_eq(p->stats->session_writing, 13);
	cr_assert_str_eq(p->stats->policy, "asym");
}

Test(proto, error_reply)
{
	Asymcache__V1__Error e = ASYMCACHE__V1__ERROR__INIT;

	e.code = ENOSPC;
	e.message = "alloc: 3 blocks wanted";
	rs.id = 77;
	p = RT_RESP(ERROR, error, &e);
	cr_assert_eq(p->id, 77);
	cr_assert_eq(p->error->code, ENOSPC);
	cr_assert_str_eq(p->error->message, "alloc: 3 blocks wanted");
}

Test(proto, truncated_and_unknown_fields)
{
	Asymcache__V1__Hello h;
	size_t n;

	th_proto_hello(&rq, &h, 1, "x");
	rq.id = 300;
	n = asymcache__v1__request__pack(&rq, buf);
	/* Every strict prefix that cuts a field must fail to parse. */
	cr_assert_null(asymcache__v1__request__unpack(NULL, n - 1, buf));
	cr_assert_null(asymcache__v1__request__unpack(NULL, 1, buf));
	/*
	 * Field 31 (still reserved; 10..12 are Retain, Resume, Schedule
	 * now), varint: skipped. Tag 31 << 3 needs two varint bytes.
	 */
	buf[n] = (uint8_t)(((31 << 3) | 0) & 0x7f) | 0x80;
	buf[n + 1] = (uint8_t)(((31 << 3) | 0) >> 7);
	buf[n + 2] = 5;
	o = asymcache__v1__request__unpack(NULL, n + 3, buf);
	cr_assert_not_null(o, "unknown fields must be skipped");
	cr_assert_eq(o->id, 300);
	expect_text(o->hello->client_name, "x");
	asymcache__v1__request__free_unpacked(o, NULL);
}
