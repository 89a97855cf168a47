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
	struct loop_src *srcs;		/* every watch and timer not yet freed */
	loop_prepare_fn prepare;
	void *prepare_data;
	bool running;
};

/*
 * What a watch and a timer share: the op the ring completes, the loop's
 * list of them (loop_free() frees what nobody removed) and the state that
 * lets either be removed from inside its own callback or while armed.
 * First in both, so that freeing it frees its owner.
 */
struct loop_src {
	struct loop_op op;
	struct loop *l;
	struct loop_src *next_all;
	void *userdata;
	bool timer;		/* a struct loop_timer, else a loop_watch */
	bool armed;
	bool removed;
	bool in_cb;
};

struct loop_watch {
	struct loop_src s;
	int fd;
	uint32_t events;
	loop_watch_fn cb;
};

struct loop_timer {
	struct loop_src s;
	struct __kernel_timespec ts;
	loop_timer_fn cb;
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
	struct loop_src *s;

	if (!l)
		return NULL;
	/* Closing the ring cancels whatever is still in flight. */
	io_uring_queue_exit(&l->ring);
	while ((s = l->srcs)) {
		l->srcs = s->next_all;
		free(s);
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

/* Queues @s's poll or timeout, completing to @s's op. */
static int src_arm(struct loop_src *s)
{
	struct io_uring_sqe *sqe = loop_get_sqe(s->l);

	if (!sqe)
		return -EBUSY;
	if (s->timer) {
		struct loop_timer *t = loop_op_owner(s, struct loop_timer, s);

		io_uring_prep_timeout(sqe, &t->ts, 0, 0);
	} else {
		struct loop_watch *w = loop_op_owner(s, struct loop_watch, s);

		io_uring_prep_poll_add(sqe, w->fd, w->events);
	}
	io_uring_sqe_set_data(sqe, &s->op);
	s->armed = true;
	return 0;
}

/* Asks the kernel to end @s's armed poll or timeout (-ECANCELED). */
static int src_disarm(struct loop_src *s)
{
	struct io_uring_sqe *sqe = loop_get_sqe(s->l);
	__u64 op = (__u64)(uintptr_t)&s->op;

	if (!sqe)
		return -EBUSY;
	if (s->timer)
		io_uring_prep_timeout_remove(sqe, op, 0);
	else
		io_uring_prep_poll_remove(sqe, op);
	io_uring_sqe_set_data(sqe, &op_ignore);
	return 0;
}

static void src_unlink_free(struct loop_src *s)
{
	struct loop_src **p;

	for (p = &s->l->srcs; *p; p = &(*p)->next_all) {
		if (*p == s) {
			*p = s->next_all;
			break;
		}
	}
	free(s);
}

/*
 * Arms @s, a new watch or timer whose own fields are set, and puts it on
 * @l's list; on failure the caller still owns (and frees) it.
 */
static int src_start(struct loop *l, struct loop_src *s,
		     void (*complete)(struct loop_op *op, int res),
		     void *userdata)
{
	int r;

	s->op.complete = complete;
	s->l = l;
	s->userdata = userdata;
	r = src_arm(s);
	if (r < 0)
		return r;
	s->next_all = l->srcs;
	l->srcs = s;
	return 0;
}

/*
 * Ends @s: at once when nothing is in flight, otherwise when its op
 * completes; inside its callback, when the callback returns.
 */
static void src_remove(struct loop_src *s)
{
	if (s->removed)
		return;
	s->removed = true;
	if (s->in_cb)
		return;
	if (!s->armed)
		src_unlink_free(s);
	else
		src_disarm(s);
}

static void watch_complete(struct loop_op *op, int res)
{
	struct loop_watch *w = loop_op_owner(op, struct loop_watch, s.op);
	int r;

	w->s.armed = false;
	if (w->s.removed) {
		src_unlink_free(&w->s);
		return;
	}
	if (res == -ECANCELED) {
		/* loop_watch_set_events() asked for a new mask. */
		if (src_arm(&w->s) < 0)
			src_unlink_free(&w->s);
		return;
	}
	w->s.in_cb = true;
	r = w->cb(w, res < 0 ? POLLERR : (uint32_t)res, w->s.userdata);
	w->s.in_cb = false;
	if (r < 0)
		log_warning_errno(r, "watch on fd %d failed: %m", w->fd);
	if (r > 0 && !w->s.removed) {
		w->events = (uint32_t)r;
		if (src_arm(&w->s) == 0)
			return;
	}
	src_unlink_free(&w->s);
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
	w->fd = fd;
	w->events = events;
	w->cb = cb;
	r = src_start(l, &w->s, watch_complete, userdata);
	if (r < 0) {
		free(w);
		return r;
	}
	if (ret_watch)
		*ret_watch = w;
	return 0;
}

int loop_watch_set_events(struct loop_watch *w, uint32_t events)
{
	if (!events)
		return -EINVAL;
	if (w->events == events)
		return 0;
	w->events = events;
	/* Inside the callback the loop re-arms with the return value. */
	if (!w->s.armed || w->s.in_cb)
		return 0;
	/* The poll completes with -ECANCELED and is re-armed there. */
	return src_disarm(&w->s);
}

void loop_remove_watch(struct loop_watch *w)
{
	if (w)
		src_remove(&w->s);
}

static void timer_complete(struct loop_op *op, int res)
{
	struct loop_timer *t = loop_op_owner(op, struct loop_timer, s.op);
	int r;

	t->s.armed = false;
	if (t->s.removed || res == -ECANCELED) {
		src_unlink_free(&t->s);
		return;
	}
	t->s.in_cb = true;
	r = t->cb(t, t->s.userdata);
	t->s.in_cb = false;
	if (r == 0 && !t->s.removed && src_arm(&t->s) == 0)
		return;
	src_unlink_free(&t->s);
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
	t->s.timer = true;
	t->ts.tv_sec = (long long)(period_ns / 1000000000ULL);
	t->ts.tv_nsec = (long long)(period_ns % 1000000000ULL);
	t->cb = cb;
	r = src_start(l, &t->s, timer_complete, userdata);
	if (r < 0) {
		free(t);
		return r;
	}
	if (ret_timer)
		*ret_timer = t;
	return 0;
}

void loop_remove_timer(struct loop_timer *t)
{
	if (t)
		src_remove(&t->s);
}
