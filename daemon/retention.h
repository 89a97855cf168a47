/* SPDX-License-Identifier: MIT */
/*
 * TTL retention: the daemon keeps a paused client's blocks resident for a
 * bounded time after the client released its own pins.
 */
#ifndef AC_DAEMON_RETENTION_H
#define AC_DAEMON_RETENTION_H

#include <stdint.h>

struct daemon;
struct session;

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

#endif /* AC_DAEMON_RETENTION_H */
