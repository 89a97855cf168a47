/* SPDX-License-Identifier: MIT */
/*
 * The daemon's core: pool, cache and policy, request buffers, the TTL
 * retention state and the session hooks, brought up from d->cfg.
 */
#ifndef AC_DAEMON_CORE_H
#define AC_DAEMON_CORE_H

#include <stddef.h>
#include <stdint.h>

struct daemon;
struct daemon_limits;

/*
 * Brings up pool, cache and policy from d->cfg (already filled) without
 * touching any socket or ring: tests and the fuzzer use just this.
 */
int daemon_core_init(struct daemon *d);
void daemon_core_fini(struct daemon *d);
/* [limits] quotas on blocks held, resolved against each pool's size. */
void daemon_core_set_quotas(struct daemon *d, const struct daemon_limits *l);

/* Pool @pool, its cache and its memory; NULL past the daemon's pools. */
struct daemon_pool *daemon_dpool_of(struct daemon *d, uint32_t pool);
struct cache *daemon_cache_of(struct daemon *d, uint32_t pool);
struct pool *daemon_pool_of(struct daemon *d, uint32_t pool);

/*
 * Grows the per-request buffers to @max_keys keys and an @arena-byte
 * unpack arena; never shrinks them. -ENOMEM leaves the old ones in place.
 */
int daemon_core_alloc_buffers(struct daemon *d, uint32_t max_keys,
			      size_t arena);

#endif /* AC_DAEMON_CORE_H */
