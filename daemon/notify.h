/* SPDX-License-Identifier: MIT */
/*
 * Notifications to the service manager ($NOTIFY_SOCKET) that never block
 * the loop.
 */
#ifndef AC_DAEMON_NOTIFY_H
#define AC_DAEMON_NOTIFY_H

struct daemon;

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

#endif /* AC_DAEMON_NOTIFY_H */
