/* SPDX-License-Identifier: MIT */
/*
 * The block cache: block table, state machine, index, namespaces, per
 * session pins, and the calls into the eviction policy. No I/O and no
 * logging here, so tests and the fuzzer drive it directly.
 *
 * Block states and the only legal transitions:
 *
 *   FREE --alloc--> WRITING(owner) --commit--> CACHED(key, pins >= 1)
 *                   WRITING(owner) --abort---> FREE
 *   CACHED --pin/unpin--> CACHED        (pins counted per session)
 *   CACHED(pins == 0) --evict/flush--> FREE
 *
 * Anything else is refused: -EINVAL for a block in the wrong state,
 * -EPERM for a block owned (WRITING) or pinned by another session than
 * the caller claims, -EBUSY for evicting a pinned block.
 */
#ifndef AC_DAEMON_CACHE_H
#define AC_DAEMON_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "index.h"
#include "pinmap.h"
#include "policy.h"

struct ac_policy;
struct ac_cost_model;

/* The policies' limit (policy.h): a switch must fit every namespace. */
#define CACHE_MAX_NAMESPACES AC_POLICY_MAX_NAMESPACES

/*
 * A namespace id is its slot (1..CACHE_MAX_NAMESPACES) in the low 8 bits,
 * the pool it belongs to in the next 3 (each pool has a cache of its own,
 * so ids must say which) and the slot's generation above them: a slot
 * freed by Unregister is used again under a new id, so a client still
 * holding the old id gets ENOENT instead of another model's blocks.
 * Generation 0 of pool 0 keeps the first 255 ids what they always were
 * (1..255). Ids stay below 2^30, under the range libasymcache keeps for
 * itself (0x80000000 up).
 */
#define CACHE_NS_SLOT_BITS	8
#define CACHE_NS_POOL_BITS	3
#define CACHE_NS_GEN_SHIFT	(CACHE_NS_SLOT_BITS + CACHE_NS_POOL_BITS)
#define CACHE_NS_GEN_MAX	((1u << (30 - CACHE_NS_GEN_SHIFT)) - 1)
#define CACHE_MAX_POOLS		(1u << CACHE_NS_POOL_BITS)
_Static_assert(CACHE_MAX_NAMESPACES < (1u << CACHE_NS_SLOT_BITS),
	       "a namespace slot must fit its bits of the id");

static inline uint32_t cache_ns_slot(uint32_t ns_id)
{
	return ns_id & ((1u << CACHE_NS_SLOT_BITS) - 1);
}

/* The pool whose cache holds namespace @ns_id. */
static inline uint32_t cache_ns_pool(uint32_t ns_id)
{
	return (ns_id >> CACHE_NS_SLOT_BITS) & (CACHE_MAX_POOLS - 1);
}

enum blk_state {
	BLK_FREE = 0,
	BLK_WRITING,
	BLK_CACHED,
};

struct cache_sess;

struct blk {
	uint8_t state;		/* enum blk_state */
	bool has_parent;	/* pos > 0: parent_key is meaningful */
	uint32_t ns;		/* WRITING, CACHED */
	/*
	 * CACHED: over all sessions. 64 bits: each of up to 65,536 sessions
	 * and the retention holder may hold 2^31-1 pins on one block, and a
	 * 32-bit count once wrapped to 0 while the block was pinned, so that
	 * Alloc handed it to another session for writing.
	 */
	uint64_t pins;
	uint32_t pos;		/* CACHED: index in its key chain */
	uint32_t prev, next;	/* FREE: free list; WRITING: owner's list */
	uint32_t sib_prev, sib_next;	/* CACHED: blocks with the same parent */
	struct cache_sess *owner;	/* WRITING */
	uint64_t atime;		/* last commit or lookup hit, ns */
	struct ac_key key;
	struct ac_key parent_key;
};

/*
 * Blocks held by a group of sessions (the daemon's: one per peer uid):
 * a block counts once per session that holds it, WRITING or pinned.
 */
struct cache_share {
	uint64_t held;
};

/* A session's footprint in the cache. Embedded in the daemon's session. */
struct cache_sess {
	uint64_t id;
	struct pinmap pins;	/* block -> this session's pins on it */
	uint64_t npins;		/* sum of the counts in pins */
	uint32_t nwriting;
	uint32_t writing_head;	/* AC_NO_BLOCK when empty */
	/* Its group's count, or NULL; kept across cache_sess_release_all(). */
	struct cache_share *share;
};

/* Blocks @s holds: WRITING ones and the distinct blocks it pins. */
static inline uint64_t cache_sess_held(const struct cache_sess *s)
{
	return (uint64_t)s->nwriting + s->pins.used;
}

/* Which quota refused the last -EDQUOT of Lookup or Alloc. */
enum cache_quota {
	CACHE_QUOTA_NONE = 0,
	CACHE_QUOTA_PINS,	/* max_pins (pins, not blocks) */
	CACHE_QUOTA_WRITING,	/* max_writing */
	CACHE_QUOTA_SESSION,	/* max_held: blocks held by the session */
	CACHE_QUOTA_SHARE,	/* max_share_held: by the session's share */
};

/* A namespace: a model id and its block layout (asymcache/abi.h). */
struct cache_layout {
	char model_id[AC_MODEL_ID_MAX + 1];
	struct ac_kv_layout kv;
};

/*
 * A slot of the namespace table. An unregistered namespace is no longer
 * live (no id finds it) but keeps its slot while blocks of it remain: its
 * pinned blocks are freed as their last pin goes and its WRITING blocks
 * as their writers abort them, and only then is the slot used again.
 */
struct cache_ns {
	uint32_t id;		/* slot | generation << 8; 0 is proto3's "unset" */
	bool live;
	struct cache_layout layout;
	uint64_t bytes_per_block;
	uint32_t cached;	/* CACHED blocks in this namespace */
	uint32_t pinned;	/* of those, pinned (kept so listings are O(1)) */
	uint32_t writing;	/* WRITING blocks in this namespace */
	uint64_t evictions;	/* its share of ctr.evictions */
};

struct cache_counters {
	uint64_t lookups;
	uint64_t lookup_keys;
	uint64_t lookup_hits;
	uint64_t allocs;	/* blocks handed out */
	uint64_t aborts;
	uint64_t commits;	/* entries committed, dedups included */
	uint64_t dedups;
	uint64_t evictions;	/* by the policy, for Alloc or admin evict */
	uint64_t flushed;	/* by namespace flush */
	uint64_t policy_errors;	/* victims the policy should not have named */
	/*
	 * What the policy let go: each victim's recompute at its position
	 * (the cost model, 0 without one), seconds. Retention prices space by
	 * it (policy/retain.h, ac_space_price).
	 */
	double evicted_recompute_s;
	uint64_t quota_refusals;	/* requests refused -EDQUOT by a quota */
};

struct cache {
	struct blk *blocks;
	uint32_t nblocks;
	uint64_t block_bytes;

	uint32_t free_head;
	uint32_t nfree;
	uint32_t nwriting;
	uint32_t ncached;
	uint32_t npinned;	/* CACHED with pins > 0 */

	struct index index;
	/*
	 * (ns, parent key) -> first CACHED block committed with that parent,
	 * the rest linked through sib_next: when a hole is refilled, its
	 * resident children are found in O(1) and reported with on_link.
	 */
	struct index children;
	struct ac_policy *policy;
	/* Handed to the policy with every namespace; NULL: policy default. */
	const struct ac_cost_model *cost;

	struct cache_ns *ns;
	uint32_t pool;		/* its pool: stamped into namespace ids */
	uint32_t nns;		/* slots ever used: ns[0..nns) */
	uint32_t nlive;		/* registered namespaces */

	uint32_t max_pins;	/* per session */
	uint32_t max_writing;	/* per session */
	uint32_t max_held;	/* blocks held, per session */
	uint32_t max_share_held;	/* blocks held, per share */
	enum cache_quota quota_hit;	/* why the last -EDQUOT */

	uint32_t *scratch;	/* nblocks entries: victims */
	uint32_t *mark;		/* nblocks entries, kept zeroed */

	struct cache_counters ctr;
	/* Monotonic time source; tests and the simulator may replace it. */
	uint64_t (*now_ns)(void);
};

struct cache_commit_entry {
	struct ac_key key;
	uint32_t block;
	uint32_t pos;
	bool has_parent;
	struct ac_key parent_key;
};

uint64_t cache_clock_monotonic(void);

/*
 * Soft TTL: tell the policy that the CACHED blocks among @ids are (@on) or
 * are no longer expected to be reused soon (policy.h, on_hint). Ids not
 * CACHED are skipped. No-op under a policy that takes no hints.
 */
void cache_hint(struct cache *c, const uint32_t *ids, uint32_t n, bool on);
bool cache_takes_hints(const struct cache *c);

int cache_init(struct cache *c, uint32_t nblocks, uint64_t block_bytes,
	       const char *policy, uint64_t seed);
void cache_fini(struct cache *c);
void cache_set_limits(struct cache *c, uint32_t max_pins,
		      uint32_t max_writing);
/* The pool (< CACHE_MAX_POOLS) this cache serves; before any namespace. */
void cache_set_pool(struct cache *c, uint32_t pool);

/*
 * Quotas on blocks held (WRITING + pinned): Lookup and Alloc that would
 * take a session past @max_held, or its share past @max_share_held, are
 * refused whole with -EDQUOT. Blocks already held stay held.
 */
void cache_set_quotas(struct cache *c, uint32_t max_held,
		      uint32_t max_share_held);

void cache_sess_init(struct cache_sess *s, uint64_t id);
/* Drops every pin of @s and aborts its WRITING blocks; @s can be reused. */
void cache_sess_release_all(struct cache *c, struct cache_sess *s);

/* The state machine, one transition each (see the top of this file). */
int cache_blk_alloc(struct cache *c, struct cache_sess *s, uint32_t ns,
		    uint32_t *ret_id);
int cache_blk_abort(struct cache *c, struct cache_sess *s, uint32_t id);
int cache_blk_commit(struct cache *c, struct cache_sess *s, uint32_t id,
		     const struct cache_commit_entry *e);
int cache_blk_pin(struct cache *c, struct cache_sess *s, uint32_t id);
int cache_blk_unpin(struct cache *c, struct cache_sess *s, uint32_t id);
/* @by_policy: the policy already dropped it (pick_victims); else on_remove. */
int cache_blk_evict(struct cache *c, uint32_t id, bool by_policy);

/*
 * Protocol operations. Each validates everything first and then applies
 * all of it, so an error changes nothing.
 */
int cache_register_ns(struct cache *c, const struct cache_layout *l,
		      uint32_t *ret_ns, uint64_t *ret_bytes_per_block);
/* The live namespace @ns, NULL for an unknown or unregistered id. */
const struct cache_ns *cache_find_ns(const struct cache *c, uint32_t ns);
/*
 * Ends namespace @ns: its id is refused from now on (-ENOENT), its
 * unpinned CACHED blocks are freed now (*ret_flushed), and its pinned ones
 * (*ret_kept) as their last pin goes; WRITING blocks can no longer be
 * committed. -ENOENT for an unknown id.
 */
int cache_unregister_ns(struct cache *c, uint32_t ns, uint32_t *ret_flushed,
			uint32_t *ret_kept);
/* @ret_blocks gets n entries (AC_NO_BLOCK for a miss); hits are pinned. */
int cache_lookup(struct cache *c, struct cache_sess *s, uint32_t ns,
		 const struct ac_key *keys, uint32_t n, uint32_t *ret_blocks,
		 uint32_t *ret_hits);
int cache_alloc(struct cache *c, struct cache_sess *s, uint32_t ns,
		uint32_t count, uint32_t *ret_blocks);
int cache_commit(struct cache *c, struct cache_sess *s, uint32_t ns,
		 const struct cache_commit_entry *e, uint32_t n,
		 uint32_t *ret_blocks, uint32_t *ret_deduped);
int cache_release(struct cache *c, struct cache_sess *s, const uint32_t *ids,
		  uint32_t n, uint32_t *ret_released);

/*
 * The checks of cache_pin_held() without pinning: every id CACHED in @ns,
 * pinned by @owner, listed once. 0, -EINVAL, -EPERM.
 */
int cache_check_held(struct cache *c, const struct cache_sess *owner,
		     uint32_t ns, const uint32_t *ids, uint32_t n);
/* Recompute of the CACHED blocks among @ids at their positions, seconds. */
double cache_recompute_s(const struct cache *c, const uint32_t *ids,
			 uint32_t n);
/*
 * TTL retention support: @holder takes one extra pin on each of @ids,
 * which must be CACHED blocks of @ns that @owner pins now, each listed
 * once. All or nothing: -EINVAL (bad id, wrong state or namespace, listed
 * twice), -EPERM (not pinned by @owner), -EDQUOT (@holder already holds
 * PINMAP_COUNT_MAX pins on a block), -ENOMEM.
 */
int cache_pin_held(struct cache *c, struct cache_sess *owner,
		   struct cache_sess *holder, uint32_t ns, const uint32_t *ids,
		   uint32_t n);
/* Drops one pin of @holder on each of @ids; returns how many it dropped. */
uint32_t cache_unpin_many(struct cache *c, struct cache_sess *holder,
			  const uint32_t *ids, uint32_t n);

/*
 * A new cost model (or NULL for the policy's default) for every
 * namespace: re-announced to the policy through on_namespace. @m must
 * outlive its use by the cache.
 */
int cache_set_cost(struct cache *c, const struct ac_cost_model *m);

/* Admin operations. */
int cache_flush_ns(struct cache *c, uint32_t ns, uint32_t *ret_flushed);
int cache_evict(struct cache *c, uint32_t want, uint32_t *ret_evicted);
/* Replaces the policy, replaying every CACHED block into the new one. */
int cache_set_policy(struct cache *c, const char *name);
const char *cache_policy_name(const struct cache *c);


#endif /* AC_DAEMON_CACHE_H */
