/* SPDX-License-Identifier: MIT */
/*
 * The state every part of asymcached shares: configuration, pool, cache,
 * loop, listener, signals, sessions and the per-request buffers. Types
 * only; each part declares its own calls in its own header. Internal: the
 * daemon's files and its tests include it; nothing is installed.
 *
 * Threading: everything runs on the one event-loop thread.
 */
#ifndef AC_DAEMON_DAEMON_H
#define AC_DAEMON_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache.h"
#include "config.h"
#include "listener.h"
#include "pool.h"
#include "signals.h"
#include "uidtab.h"

struct ac_retain;
struct retention_state;
struct cache_commit_entry;
struct daemon;
struct loop;
struct loop_timer;
struct nslife_slot;
struct session;
struct session_ops;
struct metrics;

/* Runs before every wait for completions: flush queues, update events. */
typedef void (*daemon_prepare_fn)(struct daemon *d, void *userdata);
#define DAEMON_MAX_PREPARE 4

/*
 * One pool: pool 0 ([pool]) or a tenant pool ([pool.N]), each with memory,
 * a cache, namespaces and TTL retentions of its own; a tenant pool is
 * attached only by root, the daemon's user and members of its group.
 * Everything that works on a pool takes one of these, so pool 0 and the
 * tenant pools run the same code.
 */
struct daemon_pool {
	struct daemon *d;
	uint32_t index;
	struct pool pool;
	struct cache cache;
	gid_t gid;			/* tenant pools; pool 0: d->group_gid */
	/*
	 * TTL retention (retention.c): the daemon's own pins on retained
	 * blocks live in retain_cs, so they survive the client's Release;
	 * retain tracks expiry and per-session quotas by the session's slot.
	 */
	struct cache_sess retain_cs;
	struct ac_retain *retain;
	struct retention_state *rs;	/* soft, learned, priced */
	uint32_t retained_blocks;
};

struct daemon_counters {
	uint64_t sessions_accepted;
	uint64_t sessions_refused;	/* group check, session caps */
	uint64_t hello_timeouts;	/* closed for no Hello in time */
	uint64_t requests;
	uint64_t errors;		/* Error responses sent */
	uint64_t bad_packets;		/* unparsable: session closed */
};

struct daemon {
	struct daemon_config cfg;
	/* The command line, kept so a reload applies the same flags again. */
	int argc;
	char **argv;
	gid_t group_gid;
	bool have_group;
	/* Pool 0 and the tenant pools 1..npools-1 (CACHE_MAX_POOLS at most). */
	struct daemon_pool pools[CACHE_MAX_POOLS];
	uint32_t npools;

	struct loop *loop;		/* NULL until daemon_start() */
	struct listener listener;
	struct signals signals;
	bool stopping;
	int exit_code;

	struct session *sessions;	/* list head */
	uint32_t nsessions;
	struct uidtab uids;		/* sessions per peer uid */
	/*
	 * Sessions without a Hello yet, oldest first: the Hello deadline
	 * only ever looks at the head. The timer runs while it is not empty.
	 */
	struct session *hello_head, *hello_tail;
	struct loop_timer *hello_timer;
	/* Refusals at accept are logged once a second, with a count. */
	uint64_t refused_unlogged;
	uint64_t refused_log_ns;
	uint64_t next_session_id;
	struct daemon_counters ctr;

	/* Namespace owners, users and idle times by slot (nslife.h). */
	struct nslife_slot *nsl;
	struct loop_timer *ns_timer;	/* while a namespace is idle */

	const struct session_ops *session_ops;
	/* With [metrics] listen only (metrics.h); NULL otherwise. */
	struct metrics *metrics;

	struct {
		daemon_prepare_fn cb;
		void *userdata;
	} prepare[DAEMON_MAX_PREPARE];
	unsigned int nprepare;

	/* Reused per request, never per key (see docs/daemon.md). */
	uint32_t *lookup_blocks;	/* max_keys_per_lookup */
	void *segments;			/* Segment structs */
	void **segment_ptrs;
	uint32_t lookup_cap;
	uint32_t *u32buf;
	uint32_t u32cap;
	struct cache_commit_entry *commit_buf;
	void *sched_buf;		/* Schedule: segments, picks, replies */
	size_t sched_cap;

	/*
	 * TTL retention slots, one per retaining session and the same in
	 * every pool's quota table; recycled so those tables stay as small
	 * as the peak of retaining sessions. One expiry timer for all pools.
	 */
	struct loop_timer *retain_timer;
	uint32_t *free_slots;
	uint32_t nfree_slots, free_slots_cap, next_slot;
	uint32_t sched_turn;
	uint32_t commit_cap;
	uint8_t *arena;			/* protobuf-c unpack arena */
	size_t arena_size, arena_used;
};

#endif /* AC_DAEMON_DAEMON_H */
