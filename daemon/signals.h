/* SPDX-License-Identifier: MIT */
/*
 * SIGTERM, SIGINT and SIGHUP read from a signalfd through the loop, so a
 * signal is handled between two completions like any other event, never
 * inside an async handler.
 */
#ifndef AC_DAEMON_SIGNALS_H
#define AC_DAEMON_SIGNALS_H

#include <signal.h>
#include <stdbool.h>
#include <sys/signalfd.h>

#include "loop.h"

/*
 * @signo: the signal, or -errno when the read failed. Return 0 to go on
 * reading, < 0 to stop.
 */
typedef int (*signals_fn)(int signo, void *userdata);

struct signals {
	struct loop_op op;
	struct loop *loop;
	int fd;
	bool open;
	struct signalfd_siginfo info;
	signals_fn cb;
	void *userdata;
};

/*
 * Blocks the three signals in the calling thread and puts them in
 * @ret_mask (may be NULL). Call it before any thread is started: a thread
 * that inherits them unblocked takes SIGTERM's default action and kills
 * the daemon instead of stopping it.
 */
void signals_block(sigset_t *ret_mask);
/* A signalfd for @mask (from signals_block()); logs why it failed. */
int signals_open(struct signals *sg, const sigset_t *mask);
void signals_start(struct signals *sg, struct loop *l, signals_fn cb,
		   void *userdata);
/* A no-op when not open. */
void signals_close(struct signals *sg);

#endif /* AC_DAEMON_SIGNALS_H */
