/* SPDX-License-Identifier: MIT */
/*
 * Namespace lifetimes: who registered a namespace first (its owner, the
 * one uid besides an admin that may unregister it), which sessions use it
 * now, and collecting the namespaces no session has used for
 * [limits] namespace_idle_ms. A session uses a namespace by registering
 * it (libasymcache registers again on every new session).
 */
#ifndef AC_DAEMON_NSLIFE_H
#define AC_DAEMON_NSLIFE_H

#include <stdint.h>
#include <sys/types.h>

struct daemon;
struct session;

/* What the daemon keeps per namespace slot, beside the cache's table. */
struct nslife_slot {
	uint32_t id;		/* the namespace this is about; 0: none */
	uid_t owner;		/* uid of the session that created it */
	uint32_t users;		/* sessions that registered it */
	uint32_t owner_users;	/* of those, sessions of the owner */
	uint64_t idle_since_ns;	/* users dropped to 0; 0 while used */
};

int nslife_init(struct daemon *d);
void nslife_fini(struct daemon *d);

/* Session @s registered @ns_id (new or not); -ENOMEM. */
int nslife_registered(struct daemon *d, struct session *s, uint32_t ns_id);
/* @s closes: it uses none of its namespaces any more. */
void nslife_session_close(struct daemon *d, struct session *s);

/*
 * Ends namespace @ns_id (cache_unregister_ns()). With @s (a protocol
 * request), only the owner or root may, and only while no session of
 * another uid has it registered: -EPERM, -EBUSY. Without @s (an admin on
 * D-Bus) it ends whoever uses it. -ENOENT for an unknown id. Logged.
 */
int nslife_unregister(struct daemon *d, struct session *s, uint32_t ns_id,
		      uint32_t *ret_flushed, uint32_t *ret_kept);

/* Starts the idle timer when a namespace is idle (after a reload, too). */
void nslife_arm(struct daemon *d);

/* The owner of @ns_id, or (uid_t)-1 when the daemon does not know it. */
uid_t nslife_owner(const struct daemon *d, uint32_t ns_id);

/*
 * Ends the namespaces idle for namespace_idle_ms as of @now_ns (0: never);
 * returns how many. The daemon's timer calls it; tests may too.
 */
uint32_t nslife_collect(struct daemon *d, uint64_t now_ns);

#endif /* AC_DAEMON_NSLIFE_H */
