/* SPDX-License-Identifier: MIT */
/*
 * The block protocol: namespace registration, lookup, alloc, commit,
 * release, stats. Every function checks its arguments before anything is
 * sent, so a bad call costs no round trip and changes nothing, and checks
 * the reply's shape before anything is handed back, because a caller that
 * trusts a short block list would index past it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client-internal.h"
#include "layout.h"

/* Reply size bounds: varint uint32 <= 5 bytes, a Segment <= 16 bytes. */
#define RX_PER_BLOCK	5
#define RX_PER_SEGMENT	18
#define RX_SLACK	1024

static size_t rx_bound(size_t nblocks, size_t nsegments)
{
	size_t need = RX_SLACK + nblocks * RX_PER_BLOCK +
		      nsegments * RX_PER_SEGMENT;

	return need < CLIENT_RX_MIN ? CLIENT_RX_MIN : need;
}

int ac_register_namespace(struct ac_client *c, struct ac_pool *pool,
			  const struct ac_ns_layout *layout, uint32_t *ret_ns)
{
	Asymcache__V1__RegisterNamespace rn =
		ASYMCACHE__V1__REGISTER_NAMESPACE__INIT;
	Asymcache__V1__NamespaceLayout nl =
		ASYMCACHE__V1__NAMESPACE_LAYOUT__INIT;
	Asymcache__V1__Response *resp;
	int r;

	if (!c || !pool || pool->client != c || !ret_ns)
		return -EINVAL;
	r = client_layout_check(layout);
	if (r < 0)
		return r;
	if (ac_kv_block_bytes(&layout->kv) > pool->info.block_bytes)
		return -E2BIG;

	ac_proto_layout_pack(&nl, layout->model_id, &layout->kv);
	rn.pool_id = pool->info.pool_id;
	rn.layout = &nl;

	r = client_call(c, ASYMCACHE__V1__REQUEST__BODY_REGISTER_NAMESPACE, &rn,
			ASYMCACHE__V1__RESPONSE__BODY_REGISTER_NAMESPACE,
			CLIENT_RX_MIN, &resp);
	if (r < 0)
		return r;
	/* Kept so that a new session registers it again under the same id. */
	r = client_ns_record(c, pool->info.pool_id, layout,
			     resp->register_namespace->ns_id, ret_ns);
	client_done(c, resp);
	return r;
}

int ac_unregister_namespace(struct ac_client *c, uint32_t ns,
			    uint32_t *ret_flushed, uint32_t *ret_kept)
{
	Asymcache__V1__UnregisterNamespace un =
		ASYMCACHE__V1__UNREGISTER_NAMESPACE__INIT;
	Asymcache__V1__Response *resp;
	int r;

	if (!c)
		return -EINVAL;
	un.ns_id = ns;
	r = client_call(c, ASYMCACHE__V1__REQUEST__BODY_UNREGISTER_NAMESPACE,
			&un, ASYMCACHE__V1__RESPONSE__BODY_UNREGISTER_NAMESPACE,
			CLIENT_RX_MIN, &resp);
	if (r < 0)
		return r;
	if (ret_flushed)
		*ret_flushed = resp->unregister_namespace->flushed;
	if (ret_kept)
		*ret_kept = resp->unregister_namespace->pinned_kept;
	client_ns_forget(c, ns);
	client_done(c, resp);
	return 0;
}

/* The segment map must tile [0, n) with alternating maximal runs. */
static int segments_check(const Asymcache__V1__LookupReply *lr, size_t n)
{
	uint32_t next = 0, hits = 0;
	size_t i, j;

	for (i = 0; i < lr->n_segments; i++) {
		const Asymcache__V1__Segment *s = lr->segments[i];

		if (s->start != next || s->len == 0 || s->len > n - next)
			return -EPROTO;
		if (i && lr->segments[i - 1]->hit == s->hit)
			return -EPROTO;
		for (j = s->start; j < s->start + s->len; j++)
			if ((lr->blocks[j] != AC_NO_BLOCK) != s->hit)
				return -EPROTO;
		if (s->hit)
			hits += s->len;
		next += s->len;
	}
	if (next != n || hits != lr->hits)
		return -EPROTO;
	return 0;
}

int ac_lookup(struct ac_client *c, uint32_t ns, const struct ac_key *keys,
	      size_t n, struct ac_lookup_result *res)
{
	Asymcache__V1__Lookup lk = ASYMCACHE__V1__LOOKUP__INIT;
	Asymcache__V1__Response *resp;
	const Asymcache__V1__LookupReply *lr;
	size_t i;
	int r;

	if (!c || !keys || !res || !res->blocks || !res->segments)
		return -EINVAL;
	if (n == 0 || n > UINT32_MAX / AC_KEY_BYTES)
		return -EINVAL;
	/* Checked up front: pins taken by the daemon must not be lost. */
	if (res->max_segments < n)
		return -EINVAL;

	lk.ns_id = ns;
	lk.keys.data = (uint8_t *)keys;
	lk.keys.len = n * AC_KEY_BYTES;

	r = client_call(c, ASYMCACHE__V1__REQUEST__BODY_LOOKUP, &lk,
			ASYMCACHE__V1__RESPONSE__BODY_LOOKUP, rx_bound(n, n), &resp);
	if (r < 0)
		return r;

	lr = resp->lookup;
	if (lr->n_blocks != n) {
		r = -EPROTO;
		goto out;
	}
	r = segments_check(lr, n);
	if (r < 0)
		goto out;
	memcpy(res->blocks, lr->blocks, n * sizeof(uint32_t));
	for (i = 0; i < lr->n_segments; i++) {
		res->segments[i].start = lr->segments[i]->start;
		res->segments[i].len = lr->segments[i]->len;
		res->segments[i].hit = lr->segments[i]->hit;
	}
	res->nsegments = lr->n_segments;
	res->hits = lr->hits;
out:
	client_done(c, resp);
	return r;
}

int ac_alloc(struct ac_client *c, uint32_t ns, uint32_t count,
	     uint32_t *ret_blocks)
{
	Asymcache__V1__Alloc al = ASYMCACHE__V1__ALLOC__INIT;
	Asymcache__V1__Response *resp;
	int r;

	if (!c || !ret_blocks || count == 0)
		return -EINVAL;
	al.ns_id = ns;
	al.count = count;

	r = client_call(c, ASYMCACHE__V1__REQUEST__BODY_ALLOC, &al,
			ASYMCACHE__V1__RESPONSE__BODY_ALLOC, rx_bound(count, 0),
			&resp);
	if (r < 0)
		return r;
	if (resp->alloc->n_blocks != count)
		r = -EPROTO;
	else
		memcpy(ret_blocks, resp->alloc->blocks, count * sizeof(uint32_t));
	client_done(c, resp);
	return r;
}

int ac_commit(struct ac_client *c, uint32_t ns,
	      const struct ac_commit_entry *entries, size_t n,
	      uint32_t *ret_blocks, uint32_t *ret_deduped)
{
	Asymcache__V1__Commit cm = ASYMCACHE__V1__COMMIT__INIT;
	Asymcache__V1__CommitEntry *pb, **ptrs;
	Asymcache__V1__Response *resp;
	size_t i;
	int r;

	if (!c || !entries || !ret_blocks || n == 0 || n > UINT32_MAX)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (entries[i].block == AC_NO_BLOCK)
			return -EINVAL;

	pb = malloc(n * (sizeof(*pb) + sizeof(*ptrs)));
	if (!pb)
		return -ENOMEM;
	ptrs = (Asymcache__V1__CommitEntry **)(pb + n);
	for (i = 0; i < n; i++) {
		const struct ac_commit_entry *e = &entries[i];

		asymcache__v1__commit_entry__init(&pb[i]);
		pb[i].key.data = (uint8_t *)e->key.b;
		pb[i].key.len = AC_KEY_BYTES;
		pb[i].block = e->block;
		pb[i].position = e->position;
		if (e->position) {
			pb[i].parent_key.data = (uint8_t *)e->parent.b;
			pb[i].parent_key.len = AC_KEY_BYTES;
		}
		ptrs[i] = &pb[i];
	}
	cm.ns_id = ns;
	cm.n_entries = n;
	cm.entries = ptrs;

	r = client_call(c, ASYMCACHE__V1__REQUEST__BODY_COMMIT, &cm,
			ASYMCACHE__V1__RESPONSE__BODY_COMMIT, rx_bound(n, 0), &resp);
	free(pb);
	if (r < 0)
		return r;
	if (resp->commit->n_blocks != n || resp->commit->deduped > n) {
		r = -EPROTO;
	} else {
		memcpy(ret_blocks, resp->commit->blocks, n * sizeof(uint32_t));
		if (ret_deduped)
			*ret_deduped = resp->commit->deduped;
	}
	client_done(c, resp);
	return r;
}

static int release_in(struct ac_client *c, uint32_t pool_id,
		      const uint32_t *blocks, size_t n, uint32_t *ret_released);

/*
 * The pool ac_release() and ac_stats() mean: the first this client
 * attached, or pool 0 before any attach.
 */
static uint32_t default_pool(struct ac_client *c)
{
	uint32_t id = 0;

	pthread_mutex_lock(&c->lock);
	if (c->npools)
		id = c->pools[0]->info.pool_id;
	pthread_mutex_unlock(&c->lock);
	return id;
}

int ac_release(struct ac_client *c, const uint32_t *blocks, size_t n,
	       uint32_t *ret_released)
{
	if (!c)
		return -EINVAL;
	return release_in(c, default_pool(c), blocks, n, ret_released);
}

int ac_release_pool(struct ac_client *c, const struct ac_pool *pool,
		    const uint32_t *blocks, size_t n, uint32_t *ret_released)
{
	if (!c || !pool || pool->client != c)
		return -EINVAL;
	return release_in(c, pool->info.pool_id, blocks, n, ret_released);
}

static int release_in(struct ac_client *c, uint32_t pool_id,
		      const uint32_t *blocks, size_t n, uint32_t *ret_released)
{
	Asymcache__V1__Release rl = ASYMCACHE__V1__RELEASE__INIT;
	Asymcache__V1__Response *resp;
	int r;

	if ((n && !blocks) || n > UINT32_MAX)
		return -EINVAL;
	/* Releasing nothing is a no-op, not worth a round trip. */
	if (n == 0) {
		if (ret_released)
			*ret_released = 0;
		return 0;
	}
	rl.n_blocks = n;
	rl.blocks = (uint32_t *)blocks;
	rl.pool_id = pool_id;

	r = client_call(c, ASYMCACHE__V1__REQUEST__BODY_RELEASE, &rl,
			ASYMCACHE__V1__RESPONSE__BODY_RELEASE, CLIENT_RX_MIN,
			&resp);
	if (r < 0)
		return r;
	if (ret_released)
		*ret_released = resp->release->released;
	client_done(c, resp);
	return 0;
}

int client_stats(struct ac_client *c, struct ac_stats *ret,
		 uint32_t *ret_retained, uint32_t *ret_session_retained)
{
	Asymcache__V1__Stats st = ASYMCACHE__V1__STATS__INIT;
	Asymcache__V1__Response *resp;
	const Asymcache__V1__StatsReply *s;
	int r;

	st.pool_id = default_pool(c);
	r = client_call(c, ASYMCACHE__V1__REQUEST__BODY_STATS, &st,
			ASYMCACHE__V1__RESPONSE__BODY_STATS, CLIENT_RX_MIN, &resp);
	if (r < 0)
		return r;
	s = resp->stats;
	if (ret) {
		memset(ret, 0, sizeof(*ret));
		ret->nblocks = s->nblocks;
		ret->free_blocks = s->free_blocks;
		ret->writing_blocks = s->writing_blocks;
		ret->cached_blocks = s->cached_blocks;
		ret->pinned_blocks = s->pinned_blocks;
		ret->lookups = s->lookups;
		ret->lookup_keys = s->lookup_keys;
		ret->lookup_hits = s->lookup_hits;
		ret->evictions = s->evictions;
		ret->commits = s->commits;
		ret->dedups = s->dedups;
		ret->sessions = s->sessions;
		ret->session_pins = s->session_pins;
		ret->session_writing = s->session_writing;
		snprintf(ret->policy, sizeof(ret->policy), "%s",
			 s->policy ? s->policy : "");
	}
	if (ret_retained)
		*ret_retained = s->retained_blocks;
	if (ret_session_retained)
		*ret_session_retained = s->session_retained;
	client_done(c, resp);
	return 0;
}

int ac_stats(struct ac_client *c, struct ac_stats *ret)
{
	if (!c || !ret)
		return -EINVAL;
	return client_stats(c, ret, NULL, NULL);
}
