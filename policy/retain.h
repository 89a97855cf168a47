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

#endif /* AC_RETAIN_H */
