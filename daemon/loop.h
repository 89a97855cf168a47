/* SPDX-License-Identifier: MIT */
/*
 * The io_uring reactor: one ring, one thread, no thread per client. Every
 * SQE's user_data points at a struct loop_op and the completion goes to
 * that op's complete(), so the reactor runs sockets, the signalfd, polls
 * and timers without knowing what any of them are for: whoever owns an op
 * registers the code that handles it.
 *
 * Threading: everything runs on the thread in loop_run(); callbacks may
 * call every function declared here, including on their own watch/timer.
 */
#ifndef AC_DAEMON_LOOP_H
#define AC_DAEMON_LOOP_H

#include <stddef.h>
#include <stdint.h>

struct io_uring_sqe;
struct loop;
struct loop_watch;
struct loop_timer;

struct loop_op {
	/* @res is the CQE's result; the call may free the op's owner. */
	void (*complete)(struct loop_op *op, int res);
};

/* The struct that embeds @op as @member (one owner may hold several ops). */
#define loop_op_owner(op, type, member) \
	((type *)((char *)(op) - offsetof(type, member)))

int loop_new(unsigned int entries, struct loop **ret_loop);
/*
 * Closing the ring cancels whatever is still in flight; watches and timers
 * still registered are freed. Accepts NULL; returns NULL.
 */
struct loop *loop_free(struct loop *l);

/* Runs until loop_quit(); 0, or the -errno that stopped the ring (logged). */
int loop_run(struct loop *l);
/* loop_run() returns before its next wait; completions already reaped run. */
void loop_quit(struct loop *l);

/*
 * Runs before every wait for completions: the place to flush queues and to
 * decide to quit. One hook; its owner fans out to its own list.
 */
typedef void (*loop_prepare_fn)(struct loop *l, void *userdata);
void loop_set_prepare(struct loop *l, loop_prepare_fn cb, void *userdata);

/*
 * A free SQE for the caller to prepare, with user_data set to its op. When
 * the submission queue is full, what is queued goes to the kernel first;
 * NULL when even that frees nothing.
 */
struct io_uring_sqe *loop_get_sqe(struct loop *l);
/* Asks the kernel to cancel @op; @op still completes (-ECANCELED or done). */
void loop_cancel(struct loop *l, struct loop_op *op);

/*
 * A watch polls an extra fd through the ring (IORING_OP_POLL_ADD, one
 * shot, re-armed by the loop). The callback gets the poll revents and
 * returns the events to wait for next (> 0), 0 to end the watch (the loop
 * frees it), or -errno (logged; the watch ends too). sd-bus plugs in here:
 * return sd_bus_get_events() after sd_bus_process().
 */
typedef int (*loop_watch_fn)(struct loop_watch *w, uint32_t revents,
			     void *userdata);
/* A periodic timer (IORING_OP_TIMEOUT). Return 0 to keep it, < 0 to end. */
typedef int (*loop_timer_fn)(struct loop_timer *t, void *userdata);

/* -EINVAL without a loop, a callback, events or with fd < 0. */
int loop_watch_new(struct loop *l, int fd, uint32_t events, loop_watch_fn cb,
		   void *userdata, struct loop_watch **ret_watch);
/* Changes what @w waits for; takes effect at once (re-arms the poll). */
int loop_watch_set_events(struct loop_watch *w, uint32_t events);
/* Ends the watch; the callback is not called again. The fd stays open. */
void loop_remove_watch(struct loop_watch *w);

/* -EINVAL without a loop, a callback or a period. */
int loop_timer_new(struct loop *l, uint64_t period_ns, loop_timer_fn cb,
		   void *userdata, struct loop_timer **ret_timer);
void loop_remove_timer(struct loop_timer *t);

#endif /* AC_DAEMON_LOOP_H */
