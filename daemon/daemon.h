/* SPDX-License-Identifier: MIT */
/*
 * asymcached internals: the daemon state, the event-loop hooks and the
 * calls an admin interface (sd-bus, tests) needs. Internal header: the
 * daemon's own files and its tests include it; nothing is installed.
 *
 * Threading: everything runs on the one event-loop thread. Hooks are
 * called from the loop and may call every function declared here.
 */
#ifndef AC_DAEMON_DAEMON_H
#define AC_DAEMON_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "cache.h"
#include "config.h"
#include "listener.h"
#include "pool.h"
#include "signals.h"

struct daemon;
struct loop;
struct session;
struct session_ops;

/* Runs before every wait for completions: flush queues, update events. */
typedef void (*daemon_prepare_fn)(struct daemon *d, void *userdata);
#define DAEMON_MAX_PREPARE 4

/* ---- daemon ---------------------------------------------------------- */

struct daemon_counters {
	uint64_t sessions_accepted;
	uint64_t sessions_refused;	/* group check or max_sessions */
	uint64_t requests;
	uint64_t errors;		/* Error responses sent */
	uint64_t bad_packets;		/* unparsable: session closed */
};

struct daemon {
	struct daemon_config cfg;
	/* The command line, kept so a reload applies the same flags again. */
	int argc;
	char **argv;
	struct pool pool;
	struct cache cache;
	gid_t group_gid;
	bool have_group;

	struct loop *loop;		/* NULL until daemon_start() */
	struct listener listener;
	struct signals signals;
	bool stopping;
	int exit_code;

	struct session *sessions;	/* list head */
	uint32_t nsessions;
	uint64_t next_session_id;
	struct daemon_counters ctr;

	const struct session_ops *session_ops;

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
	 * TTL retention: the daemon's own pins on retained blocks live in
	 * retain_cs, so they survive the client's Release; retain tracks
	 * expiry and per-session quotas by slot (slots are recycled so its
	 * quota table stays as small as the peak of retaining sessions).
	 */
	struct cache_sess retain_cs;
	struct ac_retain *retain;
	struct loop_timer *retain_timer;
	uint32_t retained_blocks;
	uint32_t *free_slots;
	uint32_t nfree_slots, free_slots_cap, next_slot;
	uint32_t sched_turn;
	uint32_t commit_cap;
	uint8_t *arena;			/* protobuf-c unpack arena */
	size_t arena_size, arena_used;
};

/*
 * Brings up pool, cache and policy from d->cfg (already filled) without
 * touching any socket or ring: tests and the fuzzer use just this.
 */
int daemon_core_init(struct daemon *d);
void daemon_core_fini(struct daemon *d);

/*
 * Decodes one packet, runs it and leaves the packed Response in s->sbuf
 * (s->slen bytes, s->send_fd for SCM_RIGHTS). Returns 0 when there is a
 * response to send (s->closing may be set to close after sending it), or
 * -EBADMSG when the packet could not be parsed: close without an answer.
 * @truncated: the packet was larger than max_packet.
 */
int dispatch_packet(struct daemon *d, struct session *s, const uint8_t *pkt,
		    size_t len, bool truncated);

/* ---- TTL retention (retention.c) ------------------------------------- */

int daemon_retain_init(struct daemon *d);
/* Drops every retention (sessions are gone by then) and frees the state. */
void daemon_retain_fini(struct daemon *d);
/*
 * Retains @ids (see Retain in proto/asymcache.proto). -EINVAL/-EPERM from
 * the block checks, -ERANGE for a bad ttl, -EDQUOT over quota; nothing is
 * retained on error.
 */
int daemon_retain(struct daemon *d, struct session *s, uint32_t ns,
		  const uint32_t *ids, uint32_t n, uint32_t ttl_ms,
		  uint64_t *ret_handle);
/* -ENOENT: not a live retention of @s. */
int daemon_resume(struct daemon *d, struct session *s, uint64_t handle,
		  uint32_t *ret_released);
/* Releases every retention of @s; called when the session goes away. */
void daemon_retain_session_close(struct daemon *d, struct session *s);
/* Ends retentions whose TTL ran out by @now_ns; returns how many. */
uint32_t daemon_retain_expire(struct daemon *d, uint64_t now_ns);
uint32_t daemon_session_retained(const struct daemon *d,
				 const struct session *s);

/* ---- admin interface ------------------------------------------------- */

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
	uint32_t writing;
	uint64_t requests;
	bool attached;
};

struct daemon_ns_info {
	uint32_t ns_id;
	const struct cache_layout *layout;
	uint64_t bytes_per_block;
	uint32_t cached;
};

void daemon_get_block_counts(const struct daemon *d,
			     struct daemon_block_counts *ret);
const struct cache_counters *daemon_cache_counters(const struct daemon *d);
/* Hit rate over all lookups so far, 0..1 (0 before any lookup). */
double daemon_hit_rate(const struct daemon *d);
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
/* Evicts up to @n unpinned blocks through the policy. */
int daemon_evict(struct daemon *d, uint32_t n, uint32_t *ret_evicted);
/*
 * Re-reads the config file (d->cfg.config_path, or none when the daemon
 * was started with -c /dev/null). log_level, policy and [limits] take
 * effect; socket and [pool] keys need a restart: a changed one is an error
 * (-EBUSY, message in @err) and nothing is applied.
 */
int daemon_reload_config(struct daemon *d, char *err, size_t errlen);

/* sd_notify(STATUS=...) with the block counts; no-op without systemd. */
void daemon_notify_status(struct daemon *d);
/*
 * Sends @msg to $NOTIFY_SOCKET without ever blocking: sd_notify() blocks in
 * sendmsg() once the receiver's queue (net.unix.max_dgram_qlen, 10 by
 * default) is full, which would freeze the whole loop behind a supervisor
 * that reads slowly. A message that does not fit is dropped: use it for
 * STATUS, STOPPING, RELOADING and WATCHDOG, not for READY. Returns 1 sent,
 * 0 no socket or dropped, -errno.
 */
int daemon_notify(const char *msg);

/* Transitional: the headers split off this one. */
#include "hooks.h"
#include "lifecycle.h"
#include "session.h"

#endif /* AC_DAEMON_DAEMON_H */
