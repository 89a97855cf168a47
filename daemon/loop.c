/* SPDX-License-Identifier: MIT */
/*
 * The io_uring reactor (loop.h). Completions are dispatched to the op's
 * own complete(); watches and timers are ops of the reactor itself, kept
 * on per-loop lists so loop_free() can release those nobody removed.
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>

#include "log.h"
#include "loop.h"

struct loop {
	struct io_uring ring;
	struct loop_watch *watches;
	struct loop_timer *timers;
	loop_prepare_fn prepare;
	void *prepare_data;
	bool running;
};

struct loop_watch {
	struct loop_op op;
	struct loop *l;
	struct loop_watch *next_all;
	int fd;
	uint32_t events;
	loop_watch_fn cb;
	void *userdata;
	bool armed;
	bool removed;
	bool in_cb;
};

struct loop_timer {
	struct loop_op op;
	struct loop *l;
	struct loop_timer *next_all;
	struct __kernel_timespec ts;
	loop_timer_fn cb;
	void *userdata;
	bool armed;
	bool removed;
	bool in_cb;
};

/* Cancels and removals: their completion carries nothing to act on. */
static struct loop_op op_ignore;

int loop_new(unsigned int entries, struct loop **ret_loop)
{
	struct loop *l;
	int r;

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	r = io_uring_queue_init(entries, &l->ring, 0);
	if (r < 0) {
		free(l);
		return r;
	}
	*ret_loop = l;
	return 0;
}

struct loop *loop_free(struct loop *l)
{
	struct loop_watch *w;
	struct loop_timer *t;

	if (!l)
		return NULL;
	/* Closing the ring cancels whatever is still in flight. */
	io_uring_queue_exit(&l->ring);
	while ((w = l->watches)) {
		l->watches = w->next_all;
		free(w);
	}
	while ((t = l->timers)) {
		l->timers = t->next_all;
		free(t);
	}
	free(l);
	return NULL;
}

struct io_uring_sqe *loop_get_sqe(struct loop *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	if (!sqe) {
		/* SQ full: push what is queued to the kernel and retry. */
		io_uring_submit(&l->ring);
		sqe = io_uring_get_sqe(&l->ring);
	}
	return sqe;
}

void loop_cancel(struct loop *l, struct loop_op *op)
{
	struct io_uring_sqe *sqe = loop_get_sqe(l);

	if (!sqe)
		return;
	io_uring_prep_cancel(sqe, op, 0);
	io_uring_sqe_set_data(sqe, &op_ignore);
}

void loop_set_prepare(struct loop *l, loop_prepare_fn cb, void *userdata)
{
	l->prepare = cb;
	l->prepare_data = userdata;
}

void loop_quit(struct loop *l)
{
	l->running = false;
}

int loop_run(struct loop *l)
{
	struct io_uring_cqe *cqe;
	struct loop_op *op;
	unsigned int head, n;
	int r;

	l->running = true;
	while (l->running) {
		if (l->prepare)
			l->prepare(l, l->prepare_data);
		if (!l->running)
			break;
		r = io_uring_submit_and_wait(&l->ring, 1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			l->running = false;
			return log_error_errno(r, "io_uring_submit_and_wait: %m");
		}
		n = 0;
		io_uring_for_each_cqe(&l->ring, head, cqe) {
			op = io_uring_cqe_get_data(cqe);
			/* May free the op's owner: nothing touches op after. */
			if (op && op->complete)
				op->complete(op, cqe->res);
			n++;
		}
		io_uring_cq_advance(&l->ring, n);
	}
	return 0;
}

/* ---- watches and timers ---------------------------------------------- */

static int watch_arm(struct loop_watch *w)
{
	struct io_uring_sqe *sqe = loop_get_sqe(w->l);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, w->fd, w->events);
	io_uring_sqe_set_data(sqe, &w->op);
	w->armed = true;
	return 0;
}

static void watch_unlink_free(struct loop_watch *w)
{
	struct loop_watch **p;

	for (p = &w->l->watches; *p; p = &(*p)->next_all) {
		if (*p == w) {
			*p = w->next_all;
			break;
		}
	}
	free(w);
}

static void watch_complete(struct loop_op *op, int res)
{
	struct loop_watch *w = loop_op_owner(op, struct loop_watch, op);
	int r;

	w->armed = false;
	if (w->removed) {
		watch_unlink_free(w);
		return;
	}
	if (res == -ECANCELED) {
		/* loop_watch_set_events() asked for a new mask. */
		if (watch_arm(w) < 0)
			watch_unlink_free(w);
		return;
	}
	w->in_cb = true;
	r = w->cb(w, res < 0 ? POLLERR : (uint32_t)res, w->userdata);
	w->in_cb = false;
	if (r < 0)
		log_warning_errno(r, "watch on fd %d failed: %m", w->fd);
	if (r > 0 && !w->removed) {
		w->events = (uint32_t)r;
		if (watch_arm(w) == 0)
			return;
	}
	watch_unlink_free(w);
}

int loop_watch_new(struct loop *l, int fd, uint32_t events, loop_watch_fn cb,
		   void *userdata, struct loop_watch **ret_watch)
{
	struct loop_watch *w;
	int r;

	if (!l || fd < 0 || !cb || !events)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->op.complete = watch_complete;
	w->l = l;
	w->fd = fd;
	w->events = events;
	w->cb = cb;
	w->userdata = userdata;
	r = watch_arm(w);
	if (r < 0) {
		free(w);
		return r;
	}
	w->next_all = l->watches;
	l->watches = w;
	if (ret_watch)
		*ret_watch = w;
	return 0;
}

int loop_watch_set_events(struct loop_watch *w, uint32_t events)
{
	struct io_uring_sqe *sqe;

	if (!events)
		return -EINVAL;
	if (w->events == events)
		return 0;
	w->events = events;
	/* Inside the callback the loop re-arms with the return value. */
	if (!w->armed || w->in_cb)
		return 0;
	/* The poll completes with -ECANCELED and is re-armed there. */
	sqe = loop_get_sqe(w->l);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_remove(sqe, (__u64)(uintptr_t)&w->op);
	io_uring_sqe_set_data(sqe, &op_ignore);
	return 0;
}

void loop_remove_watch(struct loop_watch *w)
{
	struct io_uring_sqe *sqe;

	if (!w || w->removed)
		return;
	w->removed = true;
	if (w->in_cb)
		return;
	if (!w->armed) {
		watch_unlink_free(w);
		return;
	}
	sqe = loop_get_sqe(w->l);
	if (!sqe)
		return;
	io_uring_prep_poll_remove(sqe, (__u64)(uintptr_t)&w->op);
	io_uring_sqe_set_data(sqe, &op_ignore);
}

static int timer_arm(struct loop_timer *t)
{
	struct io_uring_sqe *sqe = loop_get_sqe(t->l);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_timeout(sqe, &t->ts, 0, 0);
	io_uring_sqe_set_data(sqe, &t->op);
	t->armed = true;
	return 0;
}

static void timer_unlink_free(struct loop_timer *t)
{
	struct loop_timer **p;

	for (p = &t->l->timers; *p; p = &(*p)->next_all) {
		if (*p == t) {
			*p = t->next_all;
			break;
		}
	}
	free(t);
}

static void timer_complete(struct loop_op *op, int res)
{
	struct loop_timer *t = loop_op_owner(op, struct loop_timer, op);
	int r;

	t->armed = false;
	if (t->removed || res == -ECANCELED) {
		timer_unlink_free(t);
		return;
	}
	t->in_cb = true;
	r = t->cb(t, t->userdata);
	t->in_cb = false;
	if (r == 0 && !t->removed && timer_arm(t) == 0)
		return;
	timer_unlink_free(t);
}

int loop_timer_new(struct loop *l, uint64_t period_ns, loop_timer_fn cb,
		   void *userdata, struct loop_timer **ret_timer)
{
	struct loop_timer *t;
	int r;

	if (!l || !period_ns || !cb)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->op.complete = timer_complete;
	t->l = l;
	t->ts.tv_sec = (long long)(period_ns / 1000000000ULL);
	t->ts.tv_nsec = (long long)(period_ns % 1000000000ULL);
	t->cb = cb;
	t->userdata = userdata;
	r = timer_arm(t);
	if (r < 0) {
		free(t);
		return r;
	}
	t->next_all = l->timers;
	l->timers = t;
	if (ret_timer)
		*ret_timer = t;
	return 0;
}

void loop_remove_timer(struct loop_timer *t)
{
	struct io_uring_sqe *sqe;

	if (!t || t->removed)
		return;
	t->removed = true;
	if (t->in_cb)
		return;
	if (!t->armed) {
		timer_unlink_free(t);
		return;
	}
	sqe = loop_get_sqe(t->l);
	if (!sqe)
		return;
	io_uring_prep_timeout_remove(sqe, (__u64)(uintptr_t)&t->op, 0);
	io_uring_sqe_set_data(sqe, &op_ignore);
}
