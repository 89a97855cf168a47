/* SPDX-License-Identifier: MIT */
/*
 * What the admin side (sd-bus, tests) reads from and asks of a running
 * daemon: counters, sessions, namespaces, policy switch, flush, evict,
 * reload.
 */
#ifndef AC_DAEMON_ADMIN_H
#define AC_DAEMON_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache.h"

struct daemon;
struct daemon_pool;

struct daemon_block_counts {
	uint32_t nblocks;
	uint32_t free;
	uint32_t writing;
	uint32_t cached;
	uint32_t pinned;
	uint32_t evictable;
};

struct daemon_session_info {
	uint64_t id;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	const char *name;		/* valid until the next loop iteration */
	uint32_t pins;
	uint32_t pinned_blocks;
	uint32_t retained;		/* blocks in its TTL retentions */
	uint32_t writing;
	uint64_t requests;
	bool attached;
};

struct daemon_ns_info {
	uint32_t ns_id;
	const struct cache_layout *layout;
	uint64_t bytes_per_block;
	uint32_t cached;
	uint32_t pinned;		/* of the cached, pinned now */
	uid_t owner;			/* (uid_t)-1: not known */
	const char *cost_from;	/* [policy] cost_file in use, "" built-in */
	const char *cost_mismatch;	/* "" when the cost model fits */
	uint64_t evictions;	/* blocks the policy evicted */
	uint64_t window_queries;	/* tokens looked up, metrics_window() */
	uint64_t window_hits;
};

/* Pool @p's blocks by state, counters and hit rate. */
void daemon_get_block_counts(const struct daemon_pool *p,
			     struct daemon_block_counts *ret);
const struct cache_counters *daemon_cache_counters(const struct daemon_pool *p);
/* Hit rate over all lookups so far, 0..1 (0 before any lookup). */
double daemon_hit_rate(const struct daemon_pool *p);
const char *daemon_backend_name(const struct daemon *d);

/* Calls @cb for each session / namespace; a non-zero return stops. */
int daemon_foreach_session(struct daemon *d,
			   int (*cb)(const struct daemon_session_info *i,
				     void *userdata),
			   void *userdata);
int daemon_foreach_namespace(struct daemon *d,
			     int (*cb)(const struct daemon_ns_info *i,
				       void *userdata),
			     void *userdata);

/* -ENOENT for an unknown policy; the index and the pins are kept. */
int daemon_set_policy(struct daemon *d, const char *name);
const char *daemon_policy_name(const struct daemon *d);
/* Evicts every unpinned CACHED block of @ns_id. */
int daemon_flush_namespace(struct daemon *d, uint32_t ns_id,
			   uint32_t *ret_flushed);
/* Evicts up to @n unpinned blocks of pool @p through its policy. */
int daemon_evict(struct daemon_pool *p, uint32_t n, uint32_t *ret_evicted);
/*
 * Re-reads the config file (d->cfg.config_path, or none when the daemon
 * was started with -c /dev/null). log_level, policy and [limits] take
 * effect; socket and [pool] keys need a restart: a changed one is an error
 * (-EBUSY, message in @err) and nothing is applied.
 */
int daemon_reload_config(struct daemon *d, char *err, size_t errlen);

#endif /* AC_DAEMON_ADMIN_H */
