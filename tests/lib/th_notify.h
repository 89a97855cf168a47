/* SPDX-License-Identifier: MIT */
/*
 * A fake systemd supervisor's end of NOTIFY_SOCKET: a datagram socket
 * whose messages a thread reads as they come, as systemd would (a daemon
 * blocked on a full queue would look like a bug of its own), and that a
 * test searches in order.
 */
#ifndef AC_TEST_TH_NOTIFY_H
#define AC_TEST_TH_NOTIFY_H

#include <stddef.h>

struct th_notify;

/* Binds a datagram socket at @path and starts reading it. 0 or -errno. */
int th_notify_open(struct th_notify **ret, const char *path);
/*
 * Reads the messages no earlier call has read until @want of them contain
 * @needle or @timeout_ms pass. Returns how many matched; the last match
 * is copied into @buf when @buf is not NULL.
 */
int th_notify_wait(struct th_notify *n, const char *needle, int want,
		   int timeout_ms, char *buf, size_t len);
/* Stops the reader, closes the socket and frees @n (NULL is fine). */
void th_notify_close(struct th_notify *n);

#endif /* AC_TEST_TH_NOTIFY_H */
