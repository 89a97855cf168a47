/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "cost_model.h"
#include "policy.h"

uint64_t cache_clock_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Optional hooks may be left NULL by a policy: every call checks. */
#define pol_call(c, hook, ...)						\
	do {								\
		if ((c)->policy->ops->hook)				\
			(c)->policy->ops->hook((c)->policy, __VA_ARGS__); \
	} while (0)

static void pol_insert(struct cache *c, const struct blk *b, uint32_t id,
		       uint32_t parent, bool pinned, uint64_t now)
{
	struct ac_policy_block pb = {
		.id = id,
		.ns_id = cache_ns_slot(b->ns),
		.pos = b->pos,
		.parent = parent,
		.pinned = pinned,
	};

	pol_call(c, on_insert, &pb, now);
}

/*
 * The cost model is per (GPU, model) and the policy already scales it per
 * block by the namespace's own block_tokens (pns_block_cost), which is
 * the only layout term recompute time depends on that a namespace
 * announces: cost_model.h has no call to rescale coefficients to another
 * model's shape, so the daemon's one model applies to every namespace.
 */
static int pol_namespace(const struct cache *c, struct ac_policy *p,
			 const struct cache_ns *ns)
{
	/*
	 * Policies know a namespace by its slot: a slot used again announces
	 * its new layout over the old one, so their tables never fill.
	 */
	struct ac_policy_ns pn = {
		.ns_id = cache_ns_slot(ns->id),
		.block_tokens = ns->layout.kv.block_tokens,
		.bytes_per_block = ns->bytes_per_block,
		.cost = c->cost,
	};

	if (!p->ops->on_namespace)
		return 0;
	return p->ops->on_namespace(p, &pn);
}

static void free_push(struct cache *c, uint32_t id)
{
	struct blk *b = &c->blocks[id];

	memset(b, 0, sizeof(*b));
	b->state = BLK_FREE;
	b->prev = AC_NO_BLOCK;
	b->next = c->free_head;
	c->free_head = id;
	c->nfree++;
}

static uint32_t free_pop(struct cache *c)
{
	uint32_t id = c->free_head;

	if (id == AC_NO_BLOCK)
		return id;
	c->free_head = c->blocks[id].next;
	c->nfree--;
	return id;
}

static void writing_link(struct cache_sess *s, struct cache *c, uint32_t id)
{
	struct blk *b = &c->blocks[id];

	b->prev = AC_NO_BLOCK;
	b->next = s->writing_head;
	if (s->writing_head != AC_NO_BLOCK)
		c->blocks[s->writing_head].prev = id;
	s->writing_head = id;
	s->nwriting++;
	if (s->share)
		s->share->held++;
}

static void writing_unlink(struct cache_sess *s, struct cache *c, uint32_t id)
{
	struct blk *b = &c->blocks[id];

	if (b->prev != AC_NO_BLOCK)
		c->blocks[b->prev].next = b->next;
	else
		s->writing_head = b->next;
	if (b->next != AC_NO_BLOCK)
		c->blocks[b->next].prev = b->prev;
	b->prev = b->next = AC_NO_BLOCK;
	s->nwriting--;
	if (s->share)
		s->share->held--;
}

static void child_add(struct cache *c, uint32_t id)
{
	struct blk *b = &c->blocks[id];
	uint32_t *head;

	b->sib_prev = b->sib_next = AC_NO_BLOCK;
	if (!b->has_parent)
		return;
	head = index_find_ref(&c->children, b->ns, &b->parent_key);
	if (head) {
		b->sib_next = *head;
		c->blocks[*head].sib_prev = id;
		*head = id;
		return;
	}
	/* Cannot fail: at most one entry per CACHED block. */
	index_insert(&c->children, b->ns, &b->parent_key, id);
}

static void child_del(struct cache *c, uint32_t id)
{
	struct blk *b = &c->blocks[id];
	uint32_t *head;

	if (!b->has_parent)
		return;
	if (b->sib_next != AC_NO_BLOCK)
		c->blocks[b->sib_next].sib_prev = b->sib_prev;
	if (b->sib_prev != AC_NO_BLOCK) {
		c->blocks[b->sib_prev].sib_next = b->sib_next;
		return;
	}
	head = index_find_ref(&c->children, b->ns, &b->parent_key);
	if (!head)
		return;
	if (b->sib_next != AC_NO_BLOCK)
		*head = b->sib_next;
	else
		index_delete(&c->children, b->ns, &b->parent_key);
}

/* A block just became resident: tell the policy which holes it closed. */
static void link_children(struct cache *c, uint32_t id)
{
	const struct blk *b = &c->blocks[id];
	uint32_t child;

	if (!c->policy->ops->on_link)
		return;
	child = index_find(&c->children, b->ns, &b->key);
	for (; child != AC_NO_BLOCK; child = c->blocks[child].sib_next)
		if (child != id)
			c->policy->ops->on_link(c->policy, id, child);
}

static struct cache_ns *ns_get(struct cache *c, uint32_t ns)
{
	uint32_t slot = cache_ns_slot(ns);
	struct cache_ns *n;

	if (slot == 0 || slot > c->nns)
		return NULL;
	n = &c->ns[slot - 1];
	return n->live && n->id == ns ? n : NULL;
}

/* The namespace a WRITING or CACHED block belongs to, live or not. */
static struct cache_ns *blk_ns(struct cache *c, const struct blk *b)
{
	return &c->ns[cache_ns_slot(b->ns) - 1];
}

const struct cache_ns *cache_find_ns(const struct cache *c, uint32_t ns)
{
	return ns_get((struct cache *)c, ns);
}

int cache_init(struct cache *c, uint32_t nblocks, uint64_t block_bytes,
	       const char *policy, uint64_t seed)
{
	uint32_t i;
	int r;

	memset(c, 0, sizeof(*c));
	if (nblocks == 0 || nblocks >= AC_NO_BLOCK)
		return -EINVAL;
	c->nblocks = nblocks;
	c->block_bytes = block_bytes;
	c->free_head = AC_NO_BLOCK;
	c->max_pins = UINT32_MAX / 2;
	c->max_writing = UINT32_MAX / 2;
	c->max_held = UINT32_MAX;
	c->max_share_held = UINT32_MAX;
	c->now_ns = cache_clock_monotonic;

	c->blocks = calloc(nblocks, sizeof(*c->blocks));
	c->scratch = calloc(nblocks, sizeof(*c->scratch));
	c->mark = calloc(nblocks, sizeof(*c->mark));
	c->ns = calloc(CACHE_MAX_NAMESPACES, sizeof(*c->ns));
	if (!c->blocks || !c->scratch || !c->mark || !c->ns) {
		r = -ENOMEM;
		goto out_free;
	}
	r = index_init(&c->index, nblocks, seed);
	if (r < 0)
		goto out_free;
	r = index_init(&c->children, nblocks, seed ^ 0x5bd1e995ULL);
	if (r < 0)
		goto out_index;
	r = ac_policy_create(policy, nblocks, &c->policy);
	if (r < 0)
		goto out_children;
	/* Push in reverse so allocation hands out low ids first. */
	for (i = nblocks; i-- > 0;)
		free_push(c, i);
	return 0;

out_children:
	index_fini(&c->children);
out_index:
	index_fini(&c->index);
out_free:
	free(c->blocks);
	free(c->scratch);
	free(c->mark);
	free(c->ns);
	memset(c, 0, sizeof(*c));
	return r;
}

void cache_fini(struct cache *c)
{
	if (!c->blocks)
		return;
	ac_policy_free(c->policy);
	index_fini(&c->index);
	index_fini(&c->children);
	free(c->blocks);
	free(c->scratch);
	free(c->mark);
	free(c->ns);
	memset(c, 0, sizeof(*c));
}

void cache_set_limits(struct cache *c, uint32_t max_pins,
		      uint32_t max_writing)
{
	c->max_pins = max_pins;
	c->max_writing = max_writing;
}

void cache_set_pool(struct cache *c, uint32_t pool)
{
	c->pool = pool;
}

void cache_set_quotas(struct cache *c, uint32_t max_held,
		      uint32_t max_share_held)
{
	c->max_held = max_held;
	c->max_share_held = max_share_held;
}

void cache_sess_init(struct cache_sess *s, uint64_t id)
{
	memset(s, 0, sizeof(*s));
	s->id = id;
	pinmap_init(&s->pins);
	s->writing_head = AC_NO_BLOCK;
}

int cache_blk_alloc(struct cache *c, struct cache_sess *s, uint32_t ns,
		    uint32_t *ret_id)
{
	struct cache_ns *n = ns_get(c, ns);
	struct blk *b;
	uint32_t id;

	if (!n)
		return -ENOENT;
	id = free_pop(c);
	if (id == AC_NO_BLOCK)
		return -ENOSPC;
	b = &c->blocks[id];
	b->state = BLK_WRITING;
	b->ns = ns;
	b->owner = s;
	writing_link(s, c, id);
	c->nwriting++;
	n->writing++;
	c->ctr.allocs++;
	*ret_id = id;
	return 0;
}

/* Block @id when it exists and is in @state, else NULL. */
static struct blk *blk_in(struct cache *c, uint32_t id, enum blk_state state)
{
	if (id >= c->nblocks || c->blocks[id].state != state)
		return NULL;
	return &c->blocks[id];
}

int cache_blk_abort(struct cache *c, struct cache_sess *s, uint32_t id)
{
	struct blk *b;

	b = blk_in(c, id, BLK_WRITING);
	if (!b)
		return -EINVAL;
	if (b->owner != s)
		return -EPERM;
	writing_unlink(s, c, id);
	c->nwriting--;
	blk_ns(c, b)->writing--;
	c->ctr.aborts++;
	free_push(c, id);
	return 0;
}

static int refuse_quota(struct cache *c, enum cache_quota why)
{
	c->quota_hit = why;
	c->ctr.quota_refusals++;
	return -EDQUOT;
}

/* Room for @n more pins of @s, reserved so no pin can fail half-way. */
static int pins_reserve(struct cache *c, struct cache_sess *s, uint32_t n)
{
	if ((uint64_t)s->npins + n > c->max_pins)
		return refuse_quota(c, CACHE_QUOTA_PINS);
	return pinmap_reserve(&s->pins, n);
}

/* Whether @s may hold @more blocks than it does now. */
static int held_check(struct cache *c, const struct cache_sess *s,
		      uint64_t more)
{
	if (cache_sess_held(s) + more > c->max_held)
		return refuse_quota(c, CACHE_QUOTA_SESSION);
	if (s->share && s->share->held + more > c->max_share_held)
		return refuse_quota(c, CACHE_QUOTA_SHARE);
	return 0;
}

static int pin_add(struct cache *c, struct cache_sess *s, uint32_t id)
{
	struct blk *b = &c->blocks[id];
	int r;

	r = pinmap_inc(&s->pins, id);
	if (r < 0)
		return r;
	if (r == 1 && s->share)
		s->share->held++;
	s->npins++;
	if (b->pins++ == 0) {
		c->npinned++;
		blk_ns(c, b)->pinned++;
		pol_call(c, on_pin, id);
	}
	return 0;
}

static int commit_at(struct cache *c, struct cache_sess *s, uint32_t id,
		     const struct cache_commit_entry *e, uint64_t now)
{
	struct blk *b;
	uint32_t parent = AC_BLOCK_NONE;
	int r;

	b = blk_in(c, id, BLK_WRITING);
	if (!b)
		return -EINVAL;
	if (b->owner != s)
		return -EPERM;
	if (index_find(&c->index, b->ns, &e->key) != INDEX_NONE)
		return -EEXIST;
	r = pinmap_inc(&s->pins, id);
	if (r < 0)
		return r;
	r = index_insert(&c->index, b->ns, &e->key, id);
	if (r < 0) {
		pinmap_dec(&s->pins, id);
		return r;
	}
	/* Held as WRITING, now as pinned: writing_unlink() takes one off. */
	if (s->share)
		s->share->held++;
	writing_unlink(s, c, id);
	c->nwriting--;
	b->state = BLK_CACHED;
	b->owner = NULL;
	b->key = e->key;
	b->pos = e->pos;
	b->has_parent = e->has_parent;
	b->parent_key = e->parent_key;
	b->pins = 1;
	b->atime = now;
	s->npins++;
	c->ncached++;
	c->npinned++;
	blk_ns(c, b)->writing--;
	blk_ns(c, b)->cached++;
	blk_ns(c, b)->pinned++;
	if (e->has_parent)
		parent = index_find(&c->index, b->ns, &e->parent_key);
	/* Never report a block as its own parent, whatever a client sent. */
	if (parent == id)
		parent = AC_BLOCK_NONE;
	child_add(c, id);
	pol_insert(c, b, id, parent, true, b->atime);
	link_children(c, id);
	return 0;
}

int cache_blk_commit(struct cache *c, struct cache_sess *s, uint32_t id,
		     const struct cache_commit_entry *e)
{
	return commit_at(c, s, id, e, c->now_ns());
}

int cache_blk_pin(struct cache *c, struct cache_sess *s, uint32_t id)
{
	if (!blk_in(c, id, BLK_CACHED))
		return -EINVAL;
	return pin_add(c, s, id);
}

/* Its namespace was unregistered: the last pin lets the block go. */
static void unpinned_dead(struct cache *c, uint32_t id)
{
	if (!blk_ns(c, &c->blocks[id])->live)
		cache_blk_evict(c, id, false);
}

/*
 * @now is read once per request by the callers: a clock read per unpin
 * (25 ns here) was a fifth of a 2,048-block Release.
 */
static int unpin_at(struct cache *c, struct cache_sess *s, uint32_t id,
		    uint64_t now)
{
	struct blk *b;
	int r;

	b = blk_in(c, id, BLK_CACHED);
	if (!b)
		return -EINVAL;
	r = pinmap_dec(&s->pins, id);
	if (r < 0)
		return -EPERM;
	if (r == 0 && s->share)
		s->share->held--;
	s->npins--;
	if (--b->pins == 0) {
		c->npinned--;
		blk_ns(c, b)->pinned--;
		pol_call(c, on_unpin, id, now);
		unpinned_dead(c, id);
	}
	return 0;
}

int cache_blk_unpin(struct cache *c, struct cache_sess *s, uint32_t id)
{
	return unpin_at(c, s, id, c->now_ns());
}

int cache_blk_evict(struct cache *c, uint32_t id, bool by_policy)
{
	struct blk *b;

	b = blk_in(c, id, BLK_CACHED);
	if (!b)
		return -EINVAL;
	if (b->pins)
		return -EBUSY;
	if (!by_policy)
		pol_call(c, on_remove, id);
	index_delete(&c->index, b->ns, &b->key);
	child_del(c, id);
	blk_ns(c, b)->cached--;
	c->ncached--;
	free_push(c, id);
	return 0;
}

void cache_sess_release_all(struct cache *c, struct cache_sess *s)
{
	struct pinmap_slot *ps;
	struct cache_share *share = s->share;
	uint64_t now = c->now_ns();
	uint64_t id = s->id;

	pinmap_foreach(&s->pins, ps) {
		struct blk *b = &c->blocks[ps->block];

		if (share)
			share->held--;
		b->pins -= ps->count;
		if (b->pins == 0) {
			c->npinned--;
			blk_ns(c, b)->pinned--;
			pol_call(c, on_unpin, ps->block, now);
			unpinned_dead(c, ps->block);
		}
	}
	while (s->writing_head != AC_NO_BLOCK)
		cache_blk_abort(c, s, s->writing_head);
	pinmap_fini(&s->pins);
	cache_sess_init(s, id);
	s->share = share;
}

static bool layout_equal(const struct cache_layout *a,
			 const struct cache_layout *b)
{
	return strcmp(a->model_id, b->model_id) == 0 &&
	       ac_kv_layout_equal(&a->kv, &b->kv);
}

int cache_register_ns(struct cache *c, const struct cache_layout *l,
		      uint32_t *ret_ns, uint64_t *ret_bytes_per_block)
{
	struct cache_ns *ns, saved;
	size_t mlen = strnlen(l->model_id, sizeof(l->model_id));
	uint32_t i, next_id;
	uint64_t bpb;
	int r;

	if (mlen == 0 || mlen > AC_MODEL_ID_MAX)
		return -EINVAL;
	r = ac_kv_layout_check(&l->kv);
	if (r < 0)
		return r;
	bpb = ac_kv_block_bytes(&l->kv);
	if (bpb > c->block_bytes)
		return -E2BIG;
	for (i = 0; i < c->nns; i++) {
		if (c->ns[i].live && layout_equal(&c->ns[i].layout, l)) {
			*ret_ns = c->ns[i].id;
			*ret_bytes_per_block = c->ns[i].bytes_per_block;
			return 0;
		}
	}
	/* A slot whose namespace ended and whose blocks are all gone. */
	for (i = 0; i < c->nns; i++)
		if (!c->ns[i].live && !c->ns[i].cached && !c->ns[i].writing)
			break;
	if (i == CACHE_MAX_NAMESPACES)
		return -ENOSPC;
	ns = &c->ns[i];
	next_id = (i + 1) | c->pool << CACHE_NS_SLOT_BITS;
	if (i < c->nns) {
		uint32_t gen = (ns->id >> CACHE_NS_GEN_SHIFT) + 1;

		if (gen <= CACHE_NS_GEN_MAX)
			next_id |= gen << CACHE_NS_GEN_SHIFT;
	}
	saved = *ns;
	memset(ns, 0, sizeof(*ns));
	ns->id = next_id;
	ns->layout = *l;
	ns->bytes_per_block = bpb;
	r = pol_namespace(c, c->policy, ns);
	if (r < 0) {
		*ns = saved;
		return r;
	}
	ns->live = true;
	if (i == c->nns)
		c->nns++;
	c->nlive++;
	*ret_ns = ns->id;
	*ret_bytes_per_block = bpb;
	return 0;
}

int cache_lookup(struct cache *c, struct cache_sess *s, uint32_t ns,
		 const struct ac_key *keys, uint32_t n, uint32_t *ret_blocks,
		 uint32_t *ret_hits)
{
	uint32_t i, hits = 0, fresh = 0;
	uint64_t now;
	int r;

	if (!ns_get(c, ns))
		return -ENOENT;
	for (i = 0; i < n; i++) {
		uint32_t id = index_find(&c->index, ns, &keys[i]);

		ret_blocks[i] = id;
		if (id == AC_NO_BLOCK)
			continue;
		hits++;
		/* Blocks this lookup would add to what the session holds. */
		if (!c->mark[id] && !pinmap_get(&s->pins, id)) {
			c->mark[id] = 1;
			fresh++;
		}
	}
	for (i = 0; i < n; i++)
		if (ret_blocks[i] != AC_NO_BLOCK)
			c->mark[ret_blocks[i]] = 0;
	r = held_check(c, s, fresh);
	if (r < 0)
		return r;
	r = pins_reserve(c, s, hits);
	if (r < 0)
		return r;
	now = c->now_ns();
	for (i = 0; i < n; i++) {
		uint32_t id = ret_blocks[i];

		if (id == AC_NO_BLOCK)
			continue;
		c->blocks[id].atime = now;
		pol_call(c, on_access, id, now);
		pin_add(c, s, id);
	}
	c->ctr.lookups++;
	c->ctr.lookup_keys += n;
	c->ctr.lookup_hits += hits;
	*ret_hits = hits;
	return 0;
}

static uint32_t evictable(const struct cache *c)
{
	return c->ncached - c->npinned;
}

/* Recompute of a CACHED block at its position, 0 without a cost model. */
static double victim_value(const struct cache *c, uint32_t id)
{
	const struct blk *b;
	uint32_t bt;

	if (!c->cost || id >= c->nblocks)
		return 0;
	b = &c->blocks[id];
	if (b->state != BLK_CACHED || b->ns == 0 || b->ns > c->nns)
		return 0;
	bt = c->ns[b->ns - 1].layout.kv.block_tokens;
	return ac_cost_recompute_s(c->cost, bt, (uint64_t)b->pos * bt, 0);
}

bool cache_takes_hints(const struct cache *c)
{
	return c->policy->ops->on_hint != NULL;
}

void cache_hint(struct cache *c, const uint32_t *ids, uint32_t n, bool on)
{
	if (!cache_takes_hints(c))
		return;
	for (uint32_t i = 0; i < n; i++)
		if (ids[i] < c->nblocks && c->blocks[ids[i]].state == BLK_CACHED)
			c->policy->ops->on_hint(c->policy, ids[i], on,
						c->now_ns());
}

/* Makes @want more blocks FREE through the policy; -ENOSPC if it cannot. */
static int evict_for(struct cache *c, uint32_t want, uint32_t *ret_evicted)
{
	uint32_t done = 0, before, i;
	int got;

	while (done < want) {
		before = done;
		got = c->policy->ops->pick_victims(c->policy, want - done,
						   c->scratch, c->now_ns());
		if (got < 0)
			return got;
		if (got == 0)
			break;
		if ((uint32_t)got > want - done)
			got = (int)(want - done);
		for (i = 0; i < (uint32_t)got; i++) {
			double value = victim_value(c, c->scratch[i]);
			struct cache_ns *ns = blk_ns(c, &c->blocks[c->scratch[i]]);

			if (cache_blk_evict(c, c->scratch[i], true) < 0) {
				/* A policy bug: count it, never free it. */
				c->ctr.policy_errors++;
				continue;
			}
			ns->evictions++;
			c->ctr.evictions++;
			c->ctr.evicted_recompute_s += value;
			done++;
		}
		/* A policy naming only bad victims must not spin us forever. */
		if (done == before)
			break;
	}
	if (ret_evicted)
		*ret_evicted = done;
	return done < want ? -ENOSPC : 0;
}

int cache_alloc(struct cache *c, struct cache_sess *s, uint32_t ns,
		uint32_t count, uint32_t *ret_blocks)
{
	uint32_t i;
	int r;

	if (!ns_get(c, ns))
		return -ENOENT;
	if (count == 0)
		return -EINVAL;
	if ((uint64_t)s->nwriting + count > c->max_writing)
		return refuse_quota(c, CACHE_QUOTA_WRITING);
	/*
	 * All-or-nothing: decide before evicting anything. The pool first:
	 * ENOSPC says no one could have them now, EDQUOT that others could.
	 */
	if ((uint64_t)c->nfree + evictable(c) < count)
		return -ENOSPC;
	r = held_check(c, s, count);
	if (r < 0)
		return r;
	if (c->nfree < count) {
		r = evict_for(c, count - c->nfree, NULL);
		if (r < 0)
			return r;
	}
	for (i = 0; i < count; i++)
		cache_blk_alloc(c, s, ns, &ret_blocks[i]);
	return 0;
}

int cache_commit(struct cache *c, struct cache_sess *s, uint32_t ns,
		 const struct cache_commit_entry *e, uint32_t n,
		 uint32_t *ret_blocks, uint32_t *ret_deduped)
{
	uint32_t i, deduped = 0, existing;
	uint64_t now;
	int r = 0;

	if (!ns_get(c, ns))
		return -ENOENT;
	if (n == 0)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		const struct blk *b;

		if (e[i].block >= c->nblocks) {
			r = -EINVAL;
			break;
		}
		b = &c->blocks[e[i].block];
		if (b->state != BLK_WRITING) {
			r = -EINVAL;
			break;
		}
		if (b->owner != s) {
			r = -EPERM;
			break;
		}
		if (b->ns != ns || e[i].has_parent != (e[i].pos > 0) ||
		    c->mark[e[i].block]) {
			r = -EINVAL;
			break;
		}
		c->mark[e[i].block] = 1;
	}
	/* mark[] must be all zero again whatever happened. */
	for (uint32_t j = 0; j < i; j++)
		c->mark[e[j].block] = 0;
	if (r < 0)
		return r;
	r = pins_reserve(c, s, n);
	if (r < 0)
		return r;

	now = c->now_ns();
	for (i = 0; i < n; i++) {
		existing = index_find(&c->index, ns, &e[i].key);
		if (existing != INDEX_NONE) {
			/* Published meanwhile: keep theirs, free ours. */
			c->blocks[existing].atime = now;
			pin_add(c, s, existing);
			cache_blk_abort(c, s, e[i].block);
			c->ctr.aborts--;
			ret_blocks[i] = existing;
			deduped++;
		} else {
			commit_at(c, s, e[i].block, &e[i], now);
			ret_blocks[i] = e[i].block;
		}
	}
	c->ctr.commits += n;
	c->ctr.dedups += deduped;
	*ret_deduped = deduped;
	return 0;
}

int cache_release(struct cache *c, struct cache_sess *s, const uint32_t *ids,
		  uint32_t n, uint32_t *ret_released)
{
	uint64_t now;
	uint32_t i;
	int r = 0;

	/*
	 * mark[id] counts how often id is listed, so a block listed twice
	 * needs two pins: validation sees the request as a whole.
	 */
	for (i = 0; i < n; i++) {
		const struct blk *b;
		uint32_t id = ids[i];

		if (id >= c->nblocks) {
			r = -EINVAL;
			break;
		}
		b = &c->blocks[id];
		c->mark[id]++;
		if (b->state == BLK_WRITING) {
			if (b->owner != s)
				r = -EPERM;
			else if (c->mark[id] > 1)
				r = -EINVAL;
		} else if (b->state == BLK_CACHED) {
			if (pinmap_get(&s->pins, id) < c->mark[id])
				r = -EPERM;
		} else {
			r = -EINVAL;
		}
		if (r < 0) {
			i++;
			break;
		}
	}
	for (uint32_t j = 0; j < i; j++)
		if (ids[j] < c->nblocks)
			c->mark[ids[j]] = 0;
	if (r < 0)
		return r;

	now = c->now_ns();
	for (i = 0; i < n; i++) {
		if (c->blocks[ids[i]].state == BLK_WRITING)
			cache_blk_abort(c, s, ids[i]);
		else
			unpin_at(c, s, ids[i], now);
	}
	*ret_released = n;
	return 0;
}

int cache_flush_ns(struct cache *c, uint32_t ns, uint32_t *ret_flushed)
{
	uint32_t id, n = 0;

	if (!ns_get(c, ns))
		return -ENOENT;
	for (id = 0; id < c->nblocks; id++) {
		const struct blk *b = &c->blocks[id];

		if (b->state != BLK_CACHED || b->ns != ns || b->pins)
			continue;
		cache_blk_evict(c, id, false);
		n++;
	}
	c->ctr.flushed += n;
	*ret_flushed = n;
	return 0;
}

int cache_unregister_ns(struct cache *c, uint32_t ns, uint32_t *ret_flushed,
			uint32_t *ret_kept)
{
	struct cache_ns *n = ns_get(c, ns);
	uint32_t id, flushed = 0, kept = 0;

	if (!n)
		return -ENOENT;
	n->live = false;
	c->nlive--;
	for (id = 0; id < c->nblocks; id++) {
		const struct blk *b = &c->blocks[id];

		if (b->state != BLK_CACHED || b->ns != ns)
			continue;
		if (b->pins) {
			kept++;
			continue;
		}
		cache_blk_evict(c, id, false);
		flushed++;
	}
	c->ctr.flushed += flushed;
	*ret_flushed = flushed;
	*ret_kept = kept;
	return 0;
}

int cache_evict(struct cache *c, uint32_t want, uint32_t *ret_evicted)
{
	uint32_t done = 0;
	int r;

	if (want > evictable(c))
		want = evictable(c);
	r = want ? evict_for(c, want, &done) : 0;
	*ret_evicted = done;
	return r == -ENOSPC ? 0 : r;
}

const char *cache_policy_name(const struct cache *c)
{
	return c->policy ? c->policy->ops->name : "";
}

static int cmp_replay(const void *a, const void *b, void *arg)
{
	const struct blk *blocks = arg;
	const struct blk *x = &blocks[*(const uint32_t *)a];
	const struct blk *y = &blocks[*(const uint32_t *)b];

	if (x->pos != y->pos)
		return x->pos < y->pos ? -1 : 1;
	return x->atime < y->atime ? -1 : x->atime > y->atime;
}

int cache_set_policy(struct cache *c, const char *name)
{
	struct ac_policy *np, *old;
	uint32_t i, n = 0;
	int r;

	r = ac_policy_create(name, c->nblocks, &np);
	if (r < 0)
		return r;
	for (i = 0; i < c->nns; i++) {
		r = pol_namespace(c, np, &c->ns[i]);
		if (r < 0) {
			ac_policy_free(np);
			return r;
		}
	}
	/*
	 * The replay policy.h asks for: ascending pos, so parents come
	 * before their children (oldest access first among equals, for
	 * recency-based policies), each with .pinned = (pins > 0) and its
	 * own last-access time as "now".
	 */
	for (i = 0; i < c->nblocks; i++)
		if (c->blocks[i].state == BLK_CACHED)
			c->scratch[n++] = i;
	qsort_r(c->scratch, n, sizeof(*c->scratch), cmp_replay, c->blocks);
	old = c->policy;
	c->policy = np;
	for (i = 0; i < n; i++) {
		uint32_t id = c->scratch[i];
		const struct blk *b = &c->blocks[id];
		uint32_t parent = AC_BLOCK_NONE;

		if (b->has_parent)
			parent = index_find(&c->index, b->ns, &b->parent_key);
		pol_insert(c, b, id, parent, b->pins > 0, b->atime);
	}
	ac_policy_free(old);
	return 0;
}

int cache_set_cost(struct cache *c, const struct ac_cost_model *m)
{
	const struct ac_cost_model *old = c->cost;
	uint32_t i;
	int r;

	c->cost = m;
	for (i = 0; i < c->nns; i++) {
		r = pol_namespace(c, c->policy, &c->ns[i]);
		if (r < 0)
			goto undo;
	}
	return 0;

undo:
	/* The policy validates what it is given; put the old model back. */
	c->cost = old;
	while (i-- > 0)
		pol_namespace(c, c->policy, &c->ns[i]);
	return r;
}

int cache_check_held(struct cache *c, const struct cache_sess *owner,
		     uint32_t ns, const uint32_t *ids, uint32_t n)
{
	uint32_t i, j;
	int r = 0;

	for (i = 0; i < n; i++) {
		const struct blk *b;

		if (ids[i] >= c->nblocks) {
			r = -EINVAL;
			break;
		}
		b = &c->blocks[ids[i]];
		if (b->state != BLK_CACHED || b->ns != ns || c->mark[ids[i]]) {
			r = -EINVAL;
			break;
		}
		if (pinmap_get(&owner->pins, ids[i]) == 0) {
			r = -EPERM;
			break;
		}
		c->mark[ids[i]] = 1;
	}
	for (j = 0; j < i; j++)
		c->mark[ids[j]] = 0;
	return r;
}

int cache_pin_held(struct cache *c, struct cache_sess *owner,
		   struct cache_sess *holder, uint32_t ns, const uint32_t *ids,
		   uint32_t n)
{
	uint32_t i;
	int r;

	r = cache_check_held(c, owner, ns, ids, n);
	if (r < 0)
		return r;
	/* The holder has no session limit: its count must not wrap. */
	for (i = 0; i < n; i++)
		if (pinmap_get(&holder->pins, ids[i]) >= PINMAP_COUNT_MAX)
			return -EDQUOT;
	/* Reserve first so no pin can fail half-way through. */
	r = pinmap_reserve(&holder->pins, n);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++)
		pin_add(c, holder, ids[i]);
	return 0;
}

double cache_recompute_s(const struct cache *c, const uint32_t *ids,
			 uint32_t n)
{
	double sum = 0;

	for (uint32_t i = 0; i < n; i++)
		sum += victim_value(c, ids[i]);
	return sum;
}

uint32_t cache_unpin_many(struct cache *c, struct cache_sess *holder,
			  const uint32_t *ids, uint32_t n)
{
	uint64_t now = c->now_ns();
	uint32_t i, done = 0;

	for (i = 0; i < n; i++)
		if (unpin_at(c, holder, ids[i], now) == 0)
			done++;
	return done;
}
