/* SPDX-License-Identifier: MIT */
/*
 * TTL retention: the daemon keeps a paused client's blocks resident for a
 * bounded time after the client released its own pins; within the global
 * budget by pinning them, beyond it as a hint to the policy (soft TTL).
 */
#ifndef AC_DAEMON_RETENTION_H
#define AC_DAEMON_RETENTION_H

#include <stdbool.h>
#include <stdint.h>

struct daemon;
struct daemon_pool;
struct session;

/*
 * A retention id on the wire: ac_retain's handle (they count up from 1 and
 * never reach bit 59), the pool in bits 59-61 (pool 0's ids are the bare
 * handles), and RETAIN_SOFT for a soft retention.
 */
#define RETAIN_POOL_SHIFT 59
#define RETAIN_SOFT (1ULL << 62)
/* daemon_session_retained() over every pool. */
#define RETAIN_ALL_POOLS UINT32_MAX

/* What Retain asked for and what it got. */
struct daemon_retain_req {
	uint32_t ns;
	const uint32_t *ids;
	uint32_t n;
	uint32_t ttl_ms;	/* 0: the daemon chooses (needs expect_ms) */
	uint32_t expect_ms;
	uint64_t program;	/* 0: the session */
};

struct daemon_retain_got {
	uint64_t handle;	/* 0: declined */
	uint32_t ttl_ms;
	bool pinned;
};

struct daemon_retain_stats {
	uint32_t budget_blocks, pinned_blocks, soft_blocks;
	uint64_t resumed, expired_unused, dropped, declined, hold_ms;
};

/* Every pool's retention state (after the pools are up). */
int daemon_retain_init(struct daemon *d);
/* Drops every retention (sessions are gone by then) and frees the state. */
void daemon_retain_fini(struct daemon *d);
/*
 * Retains @q->ids (see Retain in proto/asymcache.proto) in the pool of
 * namespace @q->ns, against that pool's budget and the session's quota
 * there. -EINVAL/-EPERM
 * from the block checks, -ERANGE for a bad ttl (or none and no
 * expect_ms), -EDQUOT over the session's quota, or over the budget under
 * a policy that takes no hints (*@ret_budget set then); nothing is
 * retained on error. A declined retention is 0 with handle 0.
 */
int daemon_retain(struct daemon *d, struct session *s,
		  const struct daemon_retain_req *q, struct daemon_retain_got *ret,
		  bool *ret_budget);
/* -ENOENT: not a live retention of @s (the handle names its pool). */
int daemon_resume(struct daemon *d, struct session *s, uint64_t handle,
		  uint32_t *ret_released);
/* Releases every retention of @s; called when the session goes away. */
void daemon_retain_session_close(struct daemon *d, struct session *s);
/* Ends retentions whose TTL ran out by @now_ns, every pool; how many. */
uint32_t daemon_retain_expire(struct daemon *d, uint64_t now_ns);
/*
 * An Alloc in pool @p cannot be served: drop its pinned retention that
 * would run out last (its chain is wanted last). 1 when one was dropped,
 * 0 when none is left.
 */
int daemon_retain_drop_one(struct daemon_pool *p);
/* Blocks @s retains in @pool, or in all with RETAIN_ALL_POOLS. */
uint32_t daemon_session_retained(const struct daemon *d,
				 const struct session *s, uint32_t pool);
/* Pool @p's retention budget and counters. */
void daemon_retain_stats(const struct daemon_pool *p,
			 struct daemon_retain_stats *ret);

#endif /* AC_DAEMON_RETENTION_H */
