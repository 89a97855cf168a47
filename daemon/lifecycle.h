/* SPDX-License-Identifier: MIT */
/*
 * The whole daemon's start, run and stop: the core (core.h) plus the ring,
 * the signals and the listening socket, wired to the sessions.
 */
#ifndef AC_DAEMON_LIFECYCLE_H
#define AC_DAEMON_LIFECYCLE_H

struct daemon;

/* Core, socket, ring, signals; nothing is left running on error. */
int daemon_start(struct daemon *d);
/* Runs until SIGTERM/SIGINT or daemon_request_stop(); returns exit code. */
int daemon_run(struct daemon *d);
/*
 * Stops accepting and lets the sessions finish their last answers; the
 * loop returns once they are gone, or after a grace period.
 */
void daemon_request_stop(struct daemon *d, int exit_code);
/* Closes everything daemon_start() opened, the core included. */
void daemon_stop(struct daemon *d);

#endif /* AC_DAEMON_LIFECYCLE_H */
