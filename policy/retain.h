/* SPDX-License-Identifier: MIT */
/*
 * TTL retention for agent sessions (Continuum-style). A client paused on a
 * tool call may keep its chain resident: the core pins the chain's blocks
 * and records them here; they are released when the client resumes or the
 * TTL expires, and they count against the client's quota meanwhile.
 *
 * Pure bookkeeping: this module never pins or frees anything; it tells the
 * core which blocks to unpin and when. Time is the caller's clock (ns).
 */
#ifndef AC_RETAIN_H
#define AC_RETAIN_H

#include <stddef.h>
#include <stdint.h>

struct ac_retain;

/*
 * The share of a pool that pinned retentions may hold unless told otherwise
 * (the daemon's [limits] retain_budget_percent, the simulator's
 * --retain-budget): all of it. Pins never keep work out: an allocation
 * that finds nothing free or evictable drops pinned retentions first, the
 * one that expires last (ac_retain_pop_latest) since its chain is wanted
 * last. A smaller budget leaves the chains beyond it to the eviction
 * policy, which under lru evicts the chain paused earliest, the one coming
 * back soonest (bench/results/sim_agent_ttl.md, "Load set by capacity").
 */
#define AC_RETAIN_BUDGET_PERCENT 100

int ac_retain_new(struct ac_retain **ret);
struct ac_retain *ac_retain_free(struct ac_retain *r);

/* Blocks a client may hold retained at once; default unlimited. */
int ac_retain_set_quota(struct ac_retain *r, uint32_t client,
			uint64_t max_blocks);
uint64_t ac_retain_used(const struct ac_retain *r, uint32_t client);

/*
 * Record a retention of @n blocks until @expire_ns. -EDQUOT over quota,
 * -EINVAL on n == 0 or a NULL array; nothing recorded then.
 */
int ac_retain_add(struct ac_retain *r, uint32_t client,
		  const uint32_t *blocks, uint32_t n, uint64_t expire_ns,
		  uint64_t *ret_handle);
/*
 * The client resumed (or dropped the chain): hand back its blocks for the
 * core to unpin. *ret_blocks is malloc()ed. -ENOENT for an unknown or
 * already expired handle.
 */
int ac_retain_release(struct ac_retain *r, uint64_t handle,
		      uint32_t **ret_blocks, uint32_t *ret_n);
/*
 * Pop one retention whose TTL ran out by @now_ns: 1 with its blocks in
 * *ret_blocks (malloc()ed), 0 when none is due. Earliest expiry first.
 */
int ac_retain_expire(struct ac_retain *r, uint64_t now_ns,
		     uint32_t **ret_blocks, uint32_t *ret_n);
/* ac_retain_expire(), also naming the retention's handle. */
int ac_retain_expire_handle(struct ac_retain *r, uint64_t now_ns,
			    uint32_t **ret_blocks, uint32_t *ret_n,
			    uint64_t *ret_handle);
/*
 * Pop the retention that expires last, due or not (its chain is the one
 * wanted last when the TTLs follow the expected returns): 1 with its
 * blocks in *ret_blocks (malloc()ed), 0 when nothing is retained.
 */
int ac_retain_pop_latest(struct ac_retain *r, uint32_t **ret_blocks,
			 uint32_t *ret_n, uint64_t *ret_handle);
/* Earliest expiry, or UINT64_MAX when nothing is retained. */
uint64_t ac_retain_next_expiry(const struct ac_retain *r);

/*
 * Pick a TTL for a chain whose recompute costs @recompute_s, given tool
 * call durations observed so far (@tool_s, any order, n may be 0) and the
 * cost of holding the chain, in seconds of recompute forgone elsewhere per
 * second held (@hold_s_per_s). Maximises
 *   P(resume <= ttl) * recompute_s - hold_s_per_s * E[min(duration, ttl)]
 * over ttl in {0} and the observed durations; 0 means do not retain.
 * With no observations it returns @fallback_s.
 */
double ac_ttl_pick(const double *tool_s, size_t n, double recompute_s,
		   double hold_s_per_s, double fallback_s);

/*
 * What tool calls took, learned per program: no oracle, only what clients
 * declared when a call started (how long they expect it to last, <= 0 for
 * no declaration) and when, if ever, they came back. A program's own
 * recent calls predict its next ones once it has @min_own of them; until
 * then the calls of every program do. Each history is a ring of the most
 * recent @keep calls.
 */
struct ac_tool_stats;

int ac_tool_stats_new(uint32_t keep, uint32_t min_own,
		      struct ac_tool_stats **ret);
struct ac_tool_stats *ac_tool_stats_free(struct ac_tool_stats *s);
/*
 * A call of @program declared as @expect_s came back after @took_s, or
 * never did (@took_s < 0: its retention ran out or was dropped unused,
 * which counts as a call that does not come back). -EINVAL, -ENOMEM.
 */
int ac_tool_stats_add(struct ac_tool_stats *s, uint32_t program,
		      double expect_s, double took_s);
/*
 * Predicted durations of a new call of @program declared as @expect_s:
 * each remembered call, scaled by the new declaration over its own when
 * both were declared, INFINITY for one that never came back. Writes at
 * most @cap, returns how many (0: nothing learned yet).
 */
size_t ac_tool_stats_predict(const struct ac_tool_stats *s, uint32_t program,
			     double expect_s, double *out, size_t cap);
/* Calls remembered and calls that never came back, over all programs. */
void ac_tool_stats_counts(const struct ac_tool_stats *s, uint64_t *ret_calls,
			  uint64_t *ret_unused);

/*
 * The price of space: what the eviction policy is letting go for want of
 * it, as the recompute each victim would cost at its position, per second
 * (a sum decaying over @window_s) and per byte of the pool. A retention
 * keeps space from the policy, so this is what its blocks would otherwise
 * be worth there; nothing evicted lately, and space is free. The core
 * (daemon, simulator) reports every victim.
 */
struct ac_space_price {
	double window_s;
	double sum, t;
};

void ac_space_price_init(struct ac_space_price *p, double window_s);
void ac_space_price_evicted(struct ac_space_price *p, double now_s,
			    double recompute_s);
/* Seconds of recompute a byte of space is worth a second, now. */
double ac_space_price_get(const struct ac_space_price *p, double now_s,
			  double pool_bytes);

/*
 * The TTL for a chain that costs @recompute_s to rebuild and holds @bytes,
 * when space is worth @price_s_per_byte_s (ac_space_price_get()):
 * ac_ttl_pick() over the predicted durations; with none yet, twice the
 * declaration (0 when there is none). 0: do not retain.
 */
double ac_retain_pick_ttl(const struct ac_tool_stats *s, uint32_t program,
			  double expect_s, double recompute_s, double bytes,
			  double price_s_per_byte_s);

#endif /* AC_RETAIN_H */
