/* SPDX-License-Identifier: MIT */
/*
 * The daemon's loop as its admin side (sd-bus, the watchdog, tests) sees
 * it. That side holds the daemon, not its loop: these take the daemon and
 * attach to the loop daemon_start() made (-EINVAL before it). Watches and
 * timers end with loop_remove_watch() and loop_remove_timer() (loop.h).
 */
#ifndef AC_DAEMON_HOOKS_H
#define AC_DAEMON_HOOKS_H

#include <stdint.h>

#include "daemon.h"
#include "loop.h"

int loop_add_watch(struct daemon *d, int fd, uint32_t events,
		   loop_watch_fn cb, void *userdata,
		   struct loop_watch **ret_watch);
int loop_add_timer(struct daemon *d, uint64_t period_ns, loop_timer_fn cb,
		   void *userdata, struct loop_timer **ret_timer);
/*
 * Runs @cb before every wait for completions (sd-bus flushes its queue
 * there); at most DAEMON_MAX_PREPARE hooks, -ENOSPC beyond. May be called
 * before daemon_start().
 */
int loop_add_prepare(struct daemon *d, daemon_prepare_fn cb, void *userdata);

#endif /* AC_DAEMON_HOOKS_H */
