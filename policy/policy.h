/* SPDX-License-Identifier: MIT */
/*
 * Eviction policy interface. Pure C: no I/O, no logging, no daemon headers.
 * The daemon, the engine, the simulator and the tests all link this.
 *
 * Contract between the core (block index owner) and a policy:
 *
 * The policy's candidate set is the set of CACHED blocks whose pin count is
 * zero. The core reports every change of a block's membership:
 *
 *   on_insert  a block became CACHED (fresh commit). It arrives pinned
 *              (pins == 1, the committer's) unless b->pinned is false.
 *   on_pin     pin count went 0 -> 1: leave the candidate set.
 *   on_unpin   pin count went 1 -> 0: join the candidate set.
 *   on_access  a lookup hit the block (before the pin that follows).
 *   on_remove  the block leaves CACHED for any reason other than being
 *              returned by pick_victims (flush, namespace drop). It is
 *              unpinned when this is called.
 *
 * pick_victims() removes up to @want candidates from the policy's state and
 * writes their ids to @out; the core then frees them without calling
 * on_remove. It returns how many it wrote (0 when the set is empty) or a
 * negative errno.
 *
 * Block ids are dense pool indices in [0, nblocks). Policies may keep
 * per-block arrays sized by nblocks. Time is in nanoseconds of a monotonic
 * clock supplied by the caller, so the simulator can run on virtual time.
 */
#ifndef AC_POLICY_H
#define AC_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#define AC_BLOCK_NONE UINT32_MAX

/*
 * The most namespaces a policy keeps apart, and so the most a daemon may
 * register: one limit for the daemon and every policy, so that switching
 * policy can never meet a namespace the new one has no room for.
 */
#define AC_POLICY_MAX_NAMESPACES 255

struct ac_cost_model;

/* What the core tells a policy about a freshly CACHED block. */
struct ac_policy_block {
	uint32_t id;
	uint32_t ns_id;		/* namespace, as registered with on_namespace */
	uint32_t pos;		/* block index in its key chain (0-based) */
	uint32_t parent;	/* resident block holding pos-1, or AC_BLOCK_NONE */
	bool pinned;		/* committed with a pin held (the usual case) */
};

/* A namespace layout, as far as policies care. */
struct ac_policy_ns {
	uint32_t ns_id;
	uint32_t block_tokens;
	uint64_t bytes_per_block;
	const struct ac_cost_model *cost;	/* may be NULL: policy defaults */
};

struct ac_policy;

struct ac_policy_ops {
	const char *name;
	const char *description;
	/* Allocate private state in p->priv for a pool of nblocks blocks. */
	int (*init)(struct ac_policy *p, uint32_t nblocks);
	/* A namespace appeared (or its cost model changed). Optional. */
	int (*on_namespace)(struct ac_policy *p, const struct ac_policy_ns *ns);
	void (*on_insert)(struct ac_policy *p, const struct ac_policy_block *b,
			  uint64_t now_ns);
	void (*on_access)(struct ac_policy *p, uint32_t id, uint64_t now_ns);
	void (*on_pin)(struct ac_policy *p, uint32_t id);
	void (*on_unpin)(struct ac_policy *p, uint32_t id, uint64_t now_ns);
	void (*on_remove)(struct ac_policy *p, uint32_t id);
	int (*pick_victims)(struct ac_policy *p, uint32_t want, uint32_t *out,
			    uint64_t now_ns);
	/* Free p->priv. Must accept a policy whose init failed. */
	void (*destroy)(struct ac_policy *p);
	/*
	 * Optional (may be NULL; added after v1 of this contract): @child,
	 * already CACHED, now has the resident @parent at pos - 1, because
	 * the hole before it was refilled. Hole-aware policies use it;
	 * without it they treat the child as next to a hole.
	 */
	void (*on_link)(struct ac_policy *p, uint32_t parent, uint32_t child);
	/*
	 * Optional (may be NULL; added after on_link): soft TTL retention.
	 * @on is true while a client paused on a tool call has declared it
	 * will come back for the block: the policy values it as if that reuse
	 * had been seen (one hit more, used now), but it stays a candidate, so
	 * it is evicted when what else the pool holds is worth more. @on false
	 * ends the hint (resumed, or the retention ran out); its value falls
	 * back. A block may be hinted while pinned or not.
	 */
	void (*on_hint)(struct ac_policy *p, uint32_t id, bool on,
			uint64_t now_ns);
};

struct ac_policy {
	const struct ac_policy_ops *ops;
	uint32_t nblocks;
	void *priv;
};

/* Registry: the built-in policies, looked up by name ("lru", ...). */
const struct ac_policy_ops *ac_policy_find(const char *name);
/* NULL-terminated array of all built-in policies, for listing. */
const struct ac_policy_ops *const *ac_policy_list(void);

/* Name of the default policy ("asym"). */
const char *ac_policy_default_name(void);

/*
 * Switching policy at run time: create the new one, call on_namespace for
 * every namespace, then on_insert for every CACHED block with .pinned =
 * (pins > 0), in ascending order of the block's last use (release or hit)
 * and passing that time as now_ns, then free the old one. Children may
 * come before their parents. Recency carries over exactly; what a policy
 * learned beyond it (hit counts, asym's inflation) restarts.
 */

/* Create/destroy helpers: return 0 or -errno (-ENOENT unknown name). */
int ac_policy_create(const char *name, uint32_t nblocks,
		     struct ac_policy **ret_policy);
struct ac_policy *ac_policy_free(struct ac_policy *p);

#endif /* AC_POLICY_H */
