/* SPDX-License-Identifier: MIT */
#ifndef AC_DAEMON_WATCHDOG_H
#define AC_DAEMON_WATCHDOG_H

struct daemon;

/*
 * When WATCHDOG_USEC is set for this process, sends WATCHDOG=1 at half
 * that period from a loop timer. 0 when there is nothing to do.
 */
int watchdog_start(struct daemon *d);

#endif /* AC_DAEMON_WATCHDOG_H */
