/* SPDX-License-Identifier: MIT */
/*
 * Protocol v1: one Request packet in, one Response packet out. Every field
 * is checked here or in cache.c before anything changes; errors go back as
 * Response.error {positive errno, message}. See proto/asymcache.proto.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ac_config.h"
#include "asymcache.pb-c.h"
#include "core.h"
#include "cost_check.h"
#include "daemon.h"
#include "dispatch.h"
#include "layout.h"
#include "log.h"
#include "metrics.h"
#include "nslife.h"
#include "retention.h"
#include "schedule.h"
#include "session.h"


typedef Asymcache__V1__Request Request;
typedef Asymcache__V1__Response Response;

/*
 * protobuf-c allocator over a per-daemon bump arena: a request is unpacked
 * without a malloc per field and dropped in one step. Requests that outgrow
 * the arena (it is sized from max_packet) fall back to malloc.
 */
static void *arena_alloc(void *data, size_t size)
{
	struct daemon *d = data;
	size_t off = (d->arena_used + 15) & ~(size_t)15;

	if (d->arena && size <= d->arena_size && off <= d->arena_size - size) {
		d->arena_used = off + size;
		return d->arena + off;
	}
	return malloc(size);
}

static void arena_free(void *data, void *ptr)
{
	struct daemon *d = data;
	uint8_t *p = ptr;

	if (d->arena && p >= d->arena && p < d->arena + d->arena_size)
		return;
	free(ptr);
}

static int ensure_sbuf(struct session *s, size_t len)
{
	uint8_t *n;
	size_t cap;

	if (len <= s->sbuf_cap)
		return 0;
	cap = s->sbuf_cap ? s->sbuf_cap : 256;
	while (cap < len)
		cap *= 2;
	n = realloc(s->sbuf, cap);
	if (!n)
		return -ENOMEM;
	s->sbuf = n;
	s->sbuf_cap = cap;
	return 0;
}

/*
 * Packs the Response whose oneof is @body. Every member of that union is a
 * pointer to a message, and protobuf-c reads whichever is set through its
 * descriptor as a plain ProtobufCMessage pointer, so storing through one
 * member serves every body case.
 */
static int reply(struct session *s, uint64_t id,
		 Asymcache__V1__Response__BodyCase body_case, void *body)
{
	Response resp = ASYMCACHE__V1__RESPONSE__INIT;
	size_t len;
	int r;

	resp.id = id;
	resp.body_case = body_case;
	resp.error = body;
	len = asymcache__v1__response__get_packed_size(&resp);
	r = ensure_sbuf(s, len);
	if (r < 0)
		return r;
	s->slen = asymcache__v1__response__pack(&resp, s->sbuf);
	return 0;
}

static int reply_error(struct daemon *d, struct session *s, uint64_t id,
		       int err, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int reply_error(struct daemon *d, struct session *s, uint64_t id,
		       int err, const char *fmt, ...)
{
	Asymcache__V1__Error e = ASYMCACHE__V1__ERROR__INIT;
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e.code = err < 0 ? -err : err;
	e.message = msg;
	d->ctr.errors++;
	log_debug("session %llu: request %llu: error %d: %s",
		  (unsigned long long)s->id, (unsigned long long)id, e.code,
		  msg);
	s->send_fd = -1;
	return reply(s, id, ASYMCACHE__V1__RESPONSE__BODY_ERROR, &e);
}

/*
 * The pool a request works in: its cache and the session's footprint
 * there (check_ns() and the pool_id fields fill it).
 */
struct in_pool {
	uint32_t pool;
	struct cache *c;
	struct cache_sess *cs;
};

/* An -EDQUOT of the cache, worded after the quota that refused it. */
static int reply_quota_error(struct daemon *d, struct session *s, uint64_t id,
			     const char *what, uint64_t more,
			     const struct in_pool *x)
{
	const struct cache *c = x->c;

	switch (c->quota_hit) {
	case CACHE_QUOTA_PINS:
		return reply_error(d, s, id, EDQUOT,
				   "%s: pins would exceed max_pins_per_session %u",
				   what, d->cfg.limits.max_pins_per_session);
	case CACHE_QUOTA_WRITING:
		return reply_error(d, s, id, EDQUOT,
				   "%s: %u + %llu WRITING blocks exceed max_writing_per_session %u",
				   what, x->cs->nwriting, (unsigned long long)more,
				   d->cfg.limits.max_writing_per_session);
	case CACHE_QUOTA_SHARE:
		return reply_error(d, s, id, EDQUOT,
				   "%s: uid %u's sessions would hold more than max_blocks_per_uid (%u blocks, WRITING + pinned); they hold %llu",
				   what, (unsigned int)s->uid, c->max_share_held,
				   (unsigned long long)uidtab_held(&d->uids, s->uid,
								   x->pool));
	default:
		return reply_error(d, s, id, EDQUOT,
				   "%s: this session would hold more than max_blocks_per_session (%u blocks, WRITING + pinned); it holds %llu",
				   what, c->max_held,
				   (unsigned long long)cache_sess_held(x->cs));
	}
}

/* Lookup and commit both take pins: the errors they word alike. */
static int reply_pin_error(struct daemon *d, struct session *s, uint64_t id,
			   const char *what, int r, uint64_t more,
			   const struct in_pool *x)
{
	if (r == -EDQUOT)
		return reply_quota_error(d, s, id, what, more, x);
	return reply_error(d, s, id, -r, "%s: %s", what, strerror(-r));
}

size_t dispatch_pack_refusal(int err, const char *msg, uint8_t *buf,
			     size_t cap)
{
	Asymcache__V1__Error e = ASYMCACHE__V1__ERROR__INIT;
	Response resp = ASYMCACHE__V1__RESPONSE__INIT;

	e.code = err;
	e.message = (char *)msg;
	resp.body_case = ASYMCACHE__V1__RESPONSE__BODY_ERROR;
	resp.error = &e;
	if (asymcache__v1__response__get_packed_size(&resp) > cap)
		return 0;
	return asymcache__v1__response__pack(&resp, buf);
}

static void fill_pool_info(struct daemon *d, uint32_t pool,
			   Asymcache__V1__PoolInfo *pi)
{
	const struct pool *p = daemon_pool_of(d, pool);

	asymcache__v1__pool_info__init(pi);
	pi->pool_id = pool;
	pi->backend = (char *)p->ops->name;
	pi->device = p->device;
	pi->bytes = p->bytes;
	pi->block_bytes = (uint32_t)p->block_bytes;
	pi->nblocks = p->nblocks;
}

/* 1..@max bytes as the wire carries them, each printable: no NUL. */
static bool name_ok(const ProtobufCBinaryData *b, size_t max)
{
	size_t i;

	if (b->len < 1 || b->len > max)
		return false;
	for (i = 0; i < b->len; i++)
		if (!isprint(b->data[i]))
			return false;
	return true;
}

static int do_hello(struct daemon *d, struct session *s, const Request *req)
{
	Asymcache__V1__HelloReply hr = ASYMCACHE__V1__HELLO_REPLY__INIT;
	Asymcache__V1__PoolInfo pi[CACHE_MAX_POOLS], *pools[CACHE_MAX_POOLS];
	const Asymcache__V1__Hello *h = req->hello;
	uint32_t p, n = 0;

	if (s->hello_done)
		return reply_error(d, s, req->id, EPROTO, "hello: already said");
	if (!s->allowed) {
		s->closing = true;
		return reply_error(d, s, req->id, EACCES,
				   "hello: uid %u is neither root nor in the group of any pool ('%s' for pool 0)",
				   (unsigned int)s->uid, d->cfg.group);
	}
	if (h->protocol_version != AC_PROTOCOL_VERSION) {
		s->closing = true;
		return reply_error(d, s, req->id, EPROTONOSUPPORT,
				   "hello: protocol version %u, this daemon speaks %u",
				   h->protocol_version, AC_PROTOCOL_VERSION);
	}
	if (!name_ok(&h->client_name, SESSION_NAME_MAX))
		return reply_error(d, s, req->id, EINVAL,
				   "hello: client_name must be 1..%d printable bytes (no NUL)",
				   SESSION_NAME_MAX);
	memcpy(s->name, h->client_name.data, h->client_name.len);
	s->name[h->client_name.len] = '\0';
	s->hello_done = true;
	session_hello_done(s);
	log_session(LOG_INFO, s->id, s->pid,
		    "session %llu: hello from '%s' (pid %d uid %u)",
		    (unsigned long long)s->id, s->name, (int)s->pid,
		    (unsigned int)s->uid);

	/* Only the pools this peer may attach: the others are not its business. */
	for (p = 0; p < d->npools && p < CACHE_MAX_POOLS; p++) {
		if (!(s->pools_ok & (1u << p)))
			continue;
		fill_pool_info(d, p, &pi[n]);
		pools[n] = &pi[n];
		n++;
	}
	hr.protocol_version = AC_PROTOCOL_VERSION;
	hr.daemon_version = (char *)AC_VERSION;
	hr.layout_version = AC_LAYOUT_VERSION;
	hr.n_pools = n;
	hr.pools = pools;
	hr.session_id = s->id;
	return reply(s, req->id, ASYMCACHE__V1__RESPONSE__BODY_HELLO, &hr);
}

static int do_attach(struct daemon *d, struct session *s, const Request *req)
{
	Asymcache__V1__AttachReply ar = ASYMCACHE__V1__ATTACH_REPLY__INIT;
	Asymcache__V1__PoolInfo pi;
	uint8_t handle[POOL_IPC_HANDLE_MAX];
	uint32_t pool = req->attach->pool_id;
	struct pool *mem = daemon_pool_of(d, pool);
	size_t hlen = 0;
	int fd = -1, r;

	if (!mem)
		return reply_error(d, s, req->id, ENOENT,
				   "attach: no pool %u", pool);
	/* The check that keeps tenants apart: no mapping, no bytes. */
	if (!(s->pools_ok & (1u << pool)))
		return reply_error(d, s, req->id, EACCES,
				   "attach: uid %u is neither root nor in the group of pool %u",
				   (unsigned int)s->uid, pool);
	r = mem->ops->export_handle(mem, &fd, handle, &hlen);
	if (r < 0)
		return reply_error(d, s, req->id, -r,
				   "attach: cannot export the pool: %s",
				   strerror(-r));
	s->attached |= 1u << pool;
	fill_pool_info(d, pool, &pi);
	ar.pool = &pi;
	ar.ipc_handle.data = handle;
	ar.ipc_handle.len = hlen;
	r = reply(s, req->id, ASYMCACHE__V1__RESPONSE__BODY_ATTACH, &ar);
	if (r == 0)
		s->send_fd = fd;
	return r;
}

static int do_register(struct daemon *d, struct session *s,
		       const Request *req)
{
	Asymcache__V1__RegisterNamespaceReply rr =
		ASYMCACHE__V1__REGISTER_NAMESPACE_REPLY__INIT;
	const Asymcache__V1__RegisterNamespace *rn = req->register_namespace;
	const Asymcache__V1__NamespaceLayout *l = rn->layout;
	struct cache *c = daemon_cache_of(d, rn->pool_id);
	struct cache_layout cl;
	uint64_t bpb;
	uint32_t ns, had;
	size_t mlen;
	int r;

	if (!c)
		return reply_error(d, s, req->id, ENOENT,
				   "register_namespace: no pool %u", rn->pool_id);
	if (!(s->attached & (1u << rn->pool_id)))
		return reply_error(d, s, req->id, EPERM,
				   "register_namespace: attach pool %u first",
				   rn->pool_id);
	had = c->nlive;
	if (!l)
		return reply_error(d, s, req->id, EINVAL,
				   "register_namespace: layout missing");
	mlen = l->model_id.len;
	if (!name_ok(&l->model_id, AC_MODEL_ID_MAX))
		return reply_error(d, s, req->id, EINVAL,
				   "register_namespace: model_id must be 1..%u printable bytes (no NUL)",
				   AC_MODEL_ID_MAX);
	r = ac_proto_layout_unpack(l, &cl.kv);
	if (r == -ERANGE)
		return reply_error(d, s, req->id, ERANGE,
				   "register_namespace: num_layers, num_kv_heads and head_dim must be 1..%u",
				   AC_LAYOUT_DIM_MAX);
	if (r < 0 && !ac_dtype_size(cl.kv.dtype))
		return reply_error(d, s, req->id, EINVAL,
				   "register_namespace: dtype %d is not bf16, fp16 or fp32",
				   (int)l->dtype);
	if (r < 0)
		return reply_error(d, s, req->id, EINVAL,
				   "register_namespace: block_tokens %u is not a power of two in 1..%u",
				   l->block_tokens, AC_BLOCK_TOKENS_MAX);
	memset(cl.model_id, 0, sizeof(cl.model_id));
	memcpy(cl.model_id, l->model_id.data, mlen);
	r = cache_register_ns(c, &cl, &ns, &bpb);
	if (r == -E2BIG)
		return reply_error(d, s, req->id, E2BIG,
				   "register_namespace: %llu bytes per block do not fit in block_bytes %llu",
				   (unsigned long long)ac_kv_block_bytes(&cl.kv),
				   (unsigned long long)c->block_bytes);
	if (r == -ENOSPC)
		return reply_error(d, s, req->id, ENOSPC,
				   "register_namespace: all %u namespaces are in use (unregister one, or wait for limits.namespace_idle_ms)",
				   CACHE_MAX_NAMESPACES);
	if (r < 0)
		return reply_error(d, s, req->id, -r,
				   "register_namespace: %s", strerror(-r));
	r = nslife_registered(d, s, ns);
	if (r < 0)
		return reply_error(d, s, req->id, -r,
				   "register_namespace: %s", strerror(-r));
	/* A new namespace, in a new slot or an ended one's. */
	if (c->nlive > had)
		daemon_cost_check_ns(d, cache_find_ns(c, ns));
	rr.ns_id = ns;
	rr.bytes_per_block = bpb;
	return reply(s, req->id, ASYMCACHE__V1__RESPONSE__BODY_REGISTER_NAMESPACE,
		     &rr);
}

static int do_unregister(struct daemon *d, struct session *s,
			 const Request *req)
{
	Asymcache__V1__UnregisterNamespaceReply ur =
		ASYMCACHE__V1__UNREGISTER_NAMESPACE_REPLY__INIT;
	uint32_t ns = req->unregister_namespace->ns_id;
	uint32_t flushed = 0, kept = 0;
	int r;

	r = nslife_unregister(d, s, ns, &flushed, &kept);
	if (r == -ENOENT)
		return reply_error(d, s, req->id, ENOENT,
				   "unregister_namespace: no namespace %u", ns);
	if (r == -EPERM)
		return reply_error(d, s, req->id, EPERM,
				   "unregister_namespace: namespace %u belongs to uid %d; only it, root or an admin over D-Bus may end it",
				   ns, (int)nslife_owner(d, ns));
	if (r == -EBUSY)
		return reply_error(d, s, req->id, EBUSY,
				   "unregister_namespace: sessions of other users have namespace %u registered; an admin may end it over D-Bus",
				   ns);
	if (r < 0)
		return reply_error(d, s, req->id, -r,
				   "unregister_namespace: %s", strerror(-r));
	ur.flushed = flushed;
	ur.pinned_kept = kept;
	return reply(s, req->id,
		     ASYMCACHE__V1__RESPONSE__BODY_UNREGISTER_NAMESPACE, &ur);
}

/* The pool @pool for @s: 1, or an answer already made (<= 0). */
static int check_pool(struct daemon *d, struct session *s, uint64_t id,
		      const char *what, uint32_t pool, struct in_pool *x)
{
	x->pool = pool;
	x->c = daemon_cache_of(d, pool);
	if (!x->c)
		return reply_error(d, s, id, ENOENT, "%s: no pool %u", what,
				   pool);
	if (!(s->attached & (1u << pool)))
		return reply_error(d, s, id, EPERM, "%s: attach pool %u first",
				   what, pool);
	x->cs = session_cs(s, pool);
	return 1;
}

/* Namespace @ns and the pool it lives in: 1, or an answer made. */
static int check_ns(struct daemon *d, struct session *s, uint64_t id,
		    const char *what, uint32_t ns, struct in_pool *x)
{
	int r;

	if (!daemon_cache_of(d, cache_ns_pool(ns)))
		return reply_error(d, s, id, ENOENT, "%s: no namespace %u",
				   what, ns);
	r = check_pool(d, s, id, what, cache_ns_pool(ns), x);
	if (r <= 0)
		return r;
	if (!cache_find_ns(x->c, ns))
		return reply_error(d, s, id, ENOENT, "%s: no namespace %u",
				   what, ns);
	return 1;
}

static int do_lookup(struct daemon *d, struct session *s, const Request *req)
{
	Asymcache__V1__LookupReply lr = ASYMCACHE__V1__LOOKUP_REPLY__INIT;
	const Asymcache__V1__Lookup *l = req->lookup;
	Asymcache__V1__Segment *segs = d->segments;
	uint32_t n, i, hits = 0, nseg = 0;
	struct in_pool x;
	int r;

	r = check_ns(d, s, req->id, "lookup", l->ns_id, &x);
	if (r <= 0)
		return r;
	if (l->keys.len == 0 || l->keys.len % 16)
		return reply_error(d, s, req->id, EINVAL,
				   "lookup: %zu key bytes is not a positive multiple of 16",
				   l->keys.len);
	if (l->keys.len / 16 > d->cfg.limits.max_keys_per_lookup)
		return reply_error(d, s, req->id, E2BIG,
				   "lookup: %zu keys, the limit is %u",
				   l->keys.len / 16,
				   d->cfg.limits.max_keys_per_lookup);
	n = (uint32_t)(l->keys.len / 16);
	r = cache_lookup(x.c, x.cs, l->ns_id,
			 (const struct ac_key *)l->keys.data, n,
			 d->lookup_blocks, &hits);
	if (r < 0)
		return reply_pin_error(d, s, req->id, "lookup", r, n, &x);
	/* Maximal runs of hits and holes, in chain order. */
	for (i = 0; i < n; i++) {
		bool hit = d->lookup_blocks[i] != AC_NO_BLOCK;

		if (nseg && segs[nseg - 1].hit == hit) {
			segs[nseg - 1].len++;
			continue;
		}
		asymcache__v1__segment__init(&segs[nseg]);
		segs[nseg].start = i;
		segs[nseg].len = 1;
		segs[nseg].hit = hit;
		d->segment_ptrs[nseg] = &segs[nseg];
		nseg++;
	}
	lr.n_blocks = n;
	lr.blocks = d->lookup_blocks;
	lr.n_segments = nseg;
	lr.segments = (Asymcache__V1__Segment **)d->segment_ptrs;
	lr.hits = hits;
	r = reply(s, req->id, ASYMCACHE__V1__RESPONSE__BODY_LOOKUP, &lr);
	if (d->metrics) {
		/* A hole: a run of misses with a hit after it (a trailing miss is a suffix). */
		uint32_t holes = 0;

		for (i = 0; i + 1 < nseg; i++)
			holes += !segs[i].hit;
		metrics_lookup(d->metrics, l->ns_id, n, hits, holes,
			       cache_find_ns(x.c, l->ns_id)->layout.kv.block_tokens);
	}
	if (r < 0) {
		/* Cannot answer: undo the pins rather than leak them. */
		for (i = 0; i < n; i++)
			if (d->lookup_blocks[i] != AC_NO_BLOCK)
				cache_blk_unpin(x.c, x.cs,
						d->lookup_blocks[i]);
	}
	return r;
}

static int ensure_u32(struct daemon *d, size_t n)
{
	uint32_t *b;

	if (n <= d->u32cap)
		return 0;
	b = realloc(d->u32buf, n * sizeof(*b));
	if (!b)
		return -ENOMEM;
	d->u32buf = b;
	d->u32cap = (uint32_t)n;
	return 0;
}

static int do_alloc(struct daemon *d, struct session *s, const Request *req)
{
	Asymcache__V1__AllocReply ar = ASYMCACHE__V1__ALLOC_REPLY__INIT;
	const Asymcache__V1__Alloc *a = req->alloc;
	uint32_t i;
	struct in_pool x;
	int r;

	r = check_ns(d, s, req->id, "alloc", a->ns_id, &x);
	if (r <= 0)
		return r;
	if (a->count < 1 || a->count > d->cfg.limits.max_writing_per_session)
		return reply_error(d, s, req->id, EINVAL,
				   "alloc: count %u is not in 1..%u", a->count,
				   d->cfg.limits.max_writing_per_session);
	r = ensure_u32(d, a->count);
	if (r < 0)
		return reply_error(d, s, req->id, ENOMEM, "alloc: %s",
				   strerror(-r));
	r = cache_alloc(x.c, x.cs, a->ns_id, a->count, d->u32buf);
	/* Work that waits comes first: the pool's pinned retentions give way. */
	while (r == -ENOSPC &&
	       daemon_retain_drop_one(daemon_dpool_of(d, x.pool)) > 0)
		r = cache_alloc(x.c, x.cs, a->ns_id, a->count, d->u32buf);
	if (r == -EDQUOT)
		return reply_quota_error(d, s, req->id, "alloc", a->count, &x);
	if (r == -ENOSPC)
		return reply_error(d, s, req->id, ENOSPC,
				   "alloc: %u blocks wanted, %u free and %u evictable",
				   a->count, x.c->nfree,
				   x.c->ncached - x.c->npinned);
	if (r < 0)
		return reply_error(d, s, req->id, -r, "alloc: %s",
				   strerror(-r));
	ar.n_blocks = a->count;
	ar.blocks = d->u32buf;
	r = reply(s, req->id, ASYMCACHE__V1__RESPONSE__BODY_ALLOC, &ar);
	if (r < 0)
		for (i = 0; i < a->count; i++)
			cache_blk_abort(x.c, x.cs, d->u32buf[i]);
	return r;
}

static int do_commit(struct daemon *d, struct session *s, const Request *req)
{
	Asymcache__V1__CommitReply cr = ASYMCACHE__V1__COMMIT_REPLY__INIT;
	const Asymcache__V1__Commit *c = req->commit;
	uint32_t i, n, deduped = 0;
	struct in_pool x;
	int r;

	r = check_ns(d, s, req->id, "commit", c->ns_id, &x);
	if (r <= 0)
		return r;
	if (c->n_entries < 1 ||
	    c->n_entries > d->cfg.limits.max_writing_per_session)
		return reply_error(d, s, req->id, EINVAL,
				   "commit: %zu entries is not in 1..%u",
				   c->n_entries,
				   d->cfg.limits.max_writing_per_session);
	n = (uint32_t)c->n_entries;
	if (n > d->commit_cap) {
		struct cache_commit_entry *b;

		b = realloc(d->commit_buf, (size_t)n * sizeof(*b));
		if (!b)
			return reply_error(d, s, req->id, ENOMEM,
					   "commit: out of memory");
		d->commit_buf = b;
		d->commit_cap = n;
	}
	r = ensure_u32(d, n);
	if (r < 0)
		return reply_error(d, s, req->id, ENOMEM,
				   "commit: out of memory");
	for (i = 0; i < n; i++) {
		const Asymcache__V1__CommitEntry *e = c->entries[i];
		struct cache_commit_entry *ce = &d->commit_buf[i];

		if (e->key.len != 16)
			return reply_error(d, s, req->id, EINVAL,
					   "commit: entry %u: key is %zu bytes, not 16",
					   i, e->key.len);
		if (e->position > 0 && e->parent_key.len != 16)
			return reply_error(d, s, req->id, EINVAL,
					   "commit: entry %u: position %u needs a 16-byte parent_key",
					   i, e->position);
		if (e->position > 0 &&
		    memcmp(e->parent_key.data, e->key.data, 16) == 0)
			return reply_error(d, s, req->id, EINVAL,
					   "commit: entry %u: a key cannot be its own parent",
					   i);
		if (e->position == 0 && e->parent_key.len != 0)
			return reply_error(d, s, req->id, EINVAL,
					   "commit: entry %u: position 0 has no parent_key",
					   i);
		if (e->block >= x.c->nblocks)
			return reply_error(d, s, req->id, EINVAL,
					   "commit: entry %u: block %u is not below %u",
					   i, e->block, x.c->nblocks);
		memcpy(ce->key.b, e->key.data, 16);
		ce->block = e->block;
		ce->pos = e->position;
		ce->has_parent = e->position > 0;
		if (ce->has_parent)
			memcpy(ce->parent_key.b, e->parent_key.data, 16);
		else
			memset(&ce->parent_key, 0, sizeof(ce->parent_key));
	}
	r = cache_commit(x.c, x.cs, c->ns_id, d->commit_buf, n,
			 d->u32buf, &deduped);
	if (r == -EPERM)
		return reply_error(d, s, req->id, EPERM,
				   "commit: a block is WRITING for another session");
	if (r == -EINVAL)
		return reply_error(d, s, req->id, EINVAL,
				   "commit: a block is not WRITING in namespace %u for this session, or is listed twice",
				   c->ns_id);
	if (r < 0)
		return reply_pin_error(d, s, req->id, "commit", r, n, &x);
	cr.n_blocks = n;
	cr.blocks = d->u32buf;
	cr.deduped = deduped;
	return reply(s, req->id, ASYMCACHE__V1__RESPONSE__BODY_COMMIT, &cr);
}

static int do_release(struct daemon *d, struct session *s,
		      const Request *req)
{
	Asymcache__V1__ReleaseReply rr = ASYMCACHE__V1__RELEASE_REPLY__INIT;
	const Asymcache__V1__Release *rel = req->release;
	uint32_t released = 0;
	int r;

	struct in_pool x;

	r = check_pool(d, s, req->id, "release", rel->pool_id, &x);
	if (r <= 0)
		return r;
	r = cache_release(x.c, x.cs, rel->blocks,
			  (uint32_t)rel->n_blocks, &released);
	if (r == -EPERM)
		return reply_error(d, s, req->id, EPERM,
				   "release: a block is neither pinned nor WRITING by this session");
	if (r < 0)
		return reply_error(d, s, req->id, -r,
				   "release: a block id is out of range or FREE");
	rr.released = released;
	return reply(s, req->id, ASYMCACHE__V1__RESPONSE__BODY_RELEASE, &rr);
}

static int do_stats(struct daemon *d, struct session *s, const Request *req)
{
	Asymcache__V1__StatsReply sr = ASYMCACHE__V1__STATS_REPLY__INIT;
	uint32_t pool = req->stats->pool_id;
	const struct daemon_pool *p = daemon_dpool_of(d, pool);
	const struct cache *c = p ? &p->cache : NULL;
	struct cache_sess *cs;
	struct daemon_retain_stats rs;

	if (!p)
		return reply_error(d, s, req->id, ENOENT, "stats: no pool %u",
				   pool);
	/* Another tenant's pool is none of this peer's business. */
	if (!(s->pools_ok & (1u << pool)))
		return reply_error(d, s, req->id, EACCES,
				   "stats: uid %u is neither root nor in the group of pool %u",
				   (unsigned int)s->uid, pool);
	cs = session_cs(s, pool);

	sr.nblocks = c->nblocks;
	sr.free_blocks = c->nfree;
	sr.writing_blocks = c->nwriting;
	sr.cached_blocks = c->ncached;
	sr.pinned_blocks = c->npinned;
	sr.lookups = c->ctr.lookups;
	sr.lookup_keys = c->ctr.lookup_keys;
	sr.lookup_hits = c->ctr.lookup_hits;
	sr.evictions = c->ctr.evictions;
	sr.commits = c->ctr.commits;
	sr.dedups = c->ctr.dedups;
	sr.sessions = d->nsessions;
	sr.policy = (char *)cache_policy_name(c);
	sr.session_pins = cs->npins;
	sr.session_writing = cs->nwriting;
	/* Exact even when the expiry timer has not run yet. */
	daemon_retain_expire(d, cache_clock_monotonic());
	sr.retained_blocks = p->retained_blocks;
	sr.session_retained = daemon_session_retained(d, s, pool);
	daemon_retain_stats(p, &rs);
	sr.retain_budget_blocks = rs.budget_blocks;
	sr.retained_soft_blocks = rs.soft_blocks;
	sr.retain_resumed = rs.resumed;
	sr.retain_expired_unused = rs.expired_unused;
	sr.retain_dropped = rs.dropped;
	sr.retain_declined = rs.declined;
	sr.retain_hold_ms = rs.hold_ms;
	sr.quota_refusals = c->ctr.quota_refusals;
	sr.session_held = (uint32_t)cache_sess_held(cs);
	sr.session_quota = c->max_held;
	sr.uid_held = (uint32_t)uidtab_held(&d->uids, s->uid, pool);
	sr.uid_quota = c->max_share_held;
	sr.sessions_refused = d->ctr.sessions_refused;
	sr.hello_timeouts = d->ctr.hello_timeouts;
	return reply(s, req->id, ASYMCACHE__V1__RESPONSE__BODY_STATS, &sr);
}

static int do_retain(struct daemon *d, struct session *s, const Request *req)
{
	Asymcache__V1__RetainReply rr = ASYMCACHE__V1__RETAIN_REPLY__INIT;
	const Asymcache__V1__Retain *rt = req->retain;
	const struct daemon_limits *l = &d->cfg.limits;
	struct daemon_retain_req q = {
		.ns = rt->ns_id, .ids = rt->blocks, .n = (uint32_t)rt->n_blocks,
		.ttl_ms = rt->ttl_ms, .expect_ms = rt->expect_ms,
		.program = rt->program_id,
	};
	struct daemon_retain_got got;
	bool budget;
	struct in_pool x;
	int r;

	r = check_ns(d, s, req->id, "retain", rt->ns_id, &x);
	if (r <= 0)
		return r;
	if (rt->ttl_ms > l->max_retain_ttl_ms ||
	    (rt->ttl_ms == 0 && rt->expect_ms == 0))
		return reply_error(d, s, req->id, ERANGE,
				   "retain: ttl_ms %u is outside 1..%u (limits.max_retain_ttl_ms), and 0 needs expect_ms",
				   rt->ttl_ms, l->max_retain_ttl_ms);
	if (rt->n_blocks == 0)
		return reply_error(d, s, req->id, EINVAL, "retain: no blocks");
	if (rt->n_blocks > l->max_retained_blocks_per_session)
		return reply_error(d, s, req->id, EDQUOT,
				   "retain: %zu blocks, more than max_retained_blocks_per_session %u",
				   rt->n_blocks, l->max_retained_blocks_per_session);
	r = daemon_retain(d, s, &q, &got, &budget);
	switch (r) {
	case 0:
		break;
	case -EDQUOT:
		if (budget)
			return reply_error(d, s, req->id, EDQUOT,
					   "retain: the retention budget (limits.retain_budget_percent %u%% of the pool) is full and policy %s keeps no soft retentions",
					   l->retain_budget_percent,
					   cache_policy_name(x.c));
		return reply_error(d, s, req->id, EDQUOT,
				   "retain: would hold %llu blocks in pool %u, max_retained_blocks_per_session is %u",
				   (unsigned long long)daemon_session_retained(d, s, x.pool) +
				   rt->n_blocks, x.pool, l->max_retained_blocks_per_session);
	case -EPERM:
		return reply_error(d, s, req->id, EPERM,
				   "retain: a block is not pinned by this session");
	case -EINVAL:
		return reply_error(d, s, req->id, EINVAL,
				   "retain: a block id is out of range, not CACHED in namespace %u, or listed twice",
				   rt->ns_id);
	default:
		return reply_error(d, s, req->id, -r, "retain: %s",
				   strerror(-r));
	}
	rr.retention_id = got.handle;
	rr.expires_in_ms = got.ttl_ms;
	rr.pinned = got.pinned;
	r = reply(s, req->id, ASYMCACHE__V1__RESPONSE__BODY_RETAIN, &rr);
	if (r < 0 && got.handle) {
		uint32_t n;

		/* Cannot answer: the client never learns the id, so undo. */
		daemon_resume(d, s, got.handle, &n);
	}
	return r;
}

static int do_resume(struct daemon *d, struct session *s, const Request *req)
{
	Asymcache__V1__ResumeReply rr = ASYMCACHE__V1__RESUME_REPLY__INIT;
	uint32_t released = 0;
	int r;

	r = daemon_resume(d, s, req->resume->retention_id, &released);
	if (r == -ENOENT)
		return reply_error(d, s, req->id, ENOENT,
				   "resume: no live retention %llu of this session (expired, resumed or unknown)",
				   (unsigned long long)req->resume->retention_id);
	if (r < 0)
		return reply_error(d, s, req->id, -r, "resume: %s",
				   strerror(-r));
	rr.released = released;
	return reply(s, req->id, ASYMCACHE__V1__RESPONSE__BODY_RESUME, &rr);
}

static int ensure_sched(struct daemon *d, size_t bytes)
{
	void *n;

	if (bytes <= d->sched_cap)
		return 0;
	n = realloc(d->sched_buf, bytes);
	if (!n)
		return -ENOMEM;
	d->sched_buf = n;
	d->sched_cap = bytes;
	return 0;
}

static int do_schedule(struct daemon *d, struct session *s,
		       const Request *req)
{
	Asymcache__V1__ScheduleReply sr = ASYMCACHE__V1__SCHEDULE_REPLY__INIT;
	const Asymcache__V1__Schedule *sc = req->schedule;
	struct daemon_sched_in in = {
		.decode_tokens = sc->decode_tokens,
		.decode_ctx = sc->decode_ctx,
		.nsegs = sc->n_segments > UINT32_MAX ? UINT32_MAX :
			 (uint32_t)sc->n_segments,
		.tpot_us = sc->tpot_target_us,
		.now_ns = cache_clock_monotonic(),
	};
	struct ac_chunk_plan plan = { 0 };
	struct ac_chunk_seg *segs;
	Asymcache__V1__ScheduledChunk *chunks, **ptrs;
	const char *why;
	uint32_t i, cap, sharers = 0;
	size_t need;
	int r;

	if (sc->n_segments > d->cfg.limits.max_schedule_segments)
		return reply_error(d, s, req->id, E2BIG,
				   "schedule: %zu segments, the limit is %u",
				   sc->n_segments,
				   d->cfg.limits.max_schedule_segments);
	/* One pick per segment at most with one owner; room to spare. */
	cap = 2 * in.nsegs + 1;
	need = in.nsegs * sizeof(*segs) + cap * (sizeof(*plan.picks) +
	       sizeof(*chunks) + sizeof(*ptrs));
	if (ensure_sched(d, need) < 0)
		return reply_error(d, s, req->id, ENOMEM, "schedule: %s",
				   strerror(ENOMEM));
	segs = d->sched_buf;
	plan.picks = (struct ac_chunk_pick *)(segs + in.nsegs);
	plan.cap = cap;
	chunks = (Asymcache__V1__ScheduledChunk *)(plan.picks + cap);
	ptrs = (Asymcache__V1__ScheduledChunk **)(chunks + cap);
	for (i = 0; i < in.nsegs; i++) {
		const Asymcache__V1__PendingSegment *p = sc->segments[i];
		uint64_t waited = p->waited_us > in.now_ns / 1000 ?
				  in.now_ns / 1000 : p->waited_us;
		uint64_t pwaited = p->program_waited_us > in.now_ns / 1000 ?
				   in.now_ns / 1000 : p->program_waited_us;

		segs[i] = (struct ac_chunk_seg){
			.req = p->request_id,
			.owner = (uint32_t)s->id,
			.start = p->start,
			.len = p->len,
			.arrival_ns = in.now_ns - waited * 1000,
			.program_arrival_ns = pwaited ?
				in.now_ns - pwaited * 1000 : 0,
		};
	}
	in.segs = segs;
	r = daemon_sched_check(d, &in, &why);
	if (r < 0)
		return reply_error(d, s, req->id, -r, "schedule: %s", why);
	r = daemon_schedule(d, s, &in, &plan, &sharers);
	if (r < 0)
		return reply_error(d, s, req->id, -r,
				   "schedule: the chunk scheduler refused the batch: %s",
				   strerror(-r));
	for (i = 0; i < plan.npicks; i++) {
		asymcache__v1__scheduled_chunk__init(&chunks[i]);
		chunks[i].request_id = plan.picks[i].req;
		chunks[i].start = plan.picks[i].start;
		chunks[i].len = plan.picks[i].len;
		ptrs[i] = &chunks[i];
	}
	sr.n_chunks = plan.npicks;
	sr.chunks = ptrs;
	sr.prefill_tokens = plan.prefill_tokens;
	sr.gap_tokens = plan.gap_tokens;
	sr.segments = plan.segments;
	sr.predicted_s = plan.predicted_s;
	sr.fixed = d->cfg.sched.mode == CFG_SCHED_FIXED;
	sr.sharers = sharers;
	return reply(s, req->id, ASYMCACHE__V1__RESPONSE__BODY_SCHEDULE, &sr);
}

int dispatch_packet(struct daemon *d, struct session *s, const uint8_t *pkt,
		    size_t len, bool truncated)
{
	ProtobufCAllocator alloc = {
		.alloc = arena_alloc,
		.free = arena_free,
		.allocator_data = d,
	};
	Request *req;
	uint64_t t0;
	int r;

	s->send_fd = -1;
	s->slen = 0;
	d->ctr.requests++;
	s->requests++;
	if (truncated)
		return reply_error(d, s, 0, EMSGSIZE,
				   "packet larger than max_packet %u",
				   d->cfg.limits.max_packet);

	d->arena_used = 0;
	req = asymcache__v1__request__unpack(&alloc, len, pkt);
	if (!req) {
		d->ctr.bad_packets++;
		return -EBADMSG;
	}

	if (!s->hello_done &&
	    req->body_case != ASYMCACHE__V1__REQUEST__BODY_HELLO) {
		s->closing = true;
		r = reply_error(d, s, req->id, EPROTO,
				"the first request must be hello");
		goto out;
	}

	t0 = d->metrics ? metrics_now_ns() : 0;
	switch (req->body_case) {
	case ASYMCACHE__V1__REQUEST__BODY_HELLO:
		r = do_hello(d, s, req);
		break;
	case ASYMCACHE__V1__REQUEST__BODY_ATTACH:
		r = do_attach(d, s, req);
		break;
	case ASYMCACHE__V1__REQUEST__BODY_REGISTER_NAMESPACE:
		r = do_register(d, s, req);
		break;
	case ASYMCACHE__V1__REQUEST__BODY_UNREGISTER_NAMESPACE:
		r = do_unregister(d, s, req);
		break;
	case ASYMCACHE__V1__REQUEST__BODY_LOOKUP:
		r = do_lookup(d, s, req);
		break;
	case ASYMCACHE__V1__REQUEST__BODY_ALLOC:
		r = do_alloc(d, s, req);
		break;
	case ASYMCACHE__V1__REQUEST__BODY_COMMIT:
		r = do_commit(d, s, req);
		break;
	case ASYMCACHE__V1__REQUEST__BODY_RELEASE:
		r = do_release(d, s, req);
		break;
	case ASYMCACHE__V1__REQUEST__BODY_STATS:
		r = do_stats(d, s, req);
		break;
	case ASYMCACHE__V1__REQUEST__BODY_RETAIN:
		r = do_retain(d, s, req);
		break;
	case ASYMCACHE__V1__REQUEST__BODY_RESUME:
		r = do_resume(d, s, req);
		break;
	case ASYMCACHE__V1__REQUEST__BODY_SCHEDULE:
		r = do_schedule(d, s, req);
		break;
	default:
		/* An empty body, or one this version does not know. */
		r = reply_error(d, s, req->id, EOPNOTSUPP,
				"request has no body this daemon knows");
		break;
	}
	if (d->metrics)
		metrics_request(d->metrics, req->body_case, metrics_now_ns() - t0);
out:
	asymcache__v1__request__free_unpacked(req, &alloc);
	d->arena_used = 0;
	/* Only an allocation failure gets here: answering is impossible. */
	return r < 0 ? -ENOMEM : 0;
}
