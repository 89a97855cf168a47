/* SPDX-License-Identifier: MIT */
/*
 * The io_uring event loop. Every blocking step (accept, recvmsg, sendmsg,
 * the signalfd read, timers and extra polls) is an SQE whose user_data
 * points at a struct loop_op; completions are dispatched on its type. One
 * thread, no thread per client.
 *
 * Per session at most one recvmsg or one sendmsg is in flight: a request
 * is read, answered synchronously by dispatch_packet(), its response sent,
 * and only then is the next request read. That keeps answers in order and
 * lets each session own exactly one receive and one send buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>


#include "daemon.h"
#include "log.h"

#define RING_ENTRIES 256
#define STOP_GRACE_NS (5ULL * 1000000000ULL)

struct loop_watch {
	struct loop_op op;
	struct daemon *d;
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
	struct daemon *d;
	struct loop_timer *next_all;
	struct __kernel_timespec ts;
	loop_timer_fn cb;
	void *userdata;
	bool armed;
	bool removed;
	bool in_cb;
};

/* Not per daemon: only one loop runs in a process. */
static struct loop_op op_ignore = { .type = LOOP_OP_IGNORE };
static struct loop_watch *all_watches;
static struct loop_timer *all_timers;

static struct io_uring_sqe *get_sqe(struct daemon *d)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(d->ring);

	if (!sqe) {
		/* SQ full: push what is queued to the kernel and retry. */
		io_uring_submit(d->ring);
		sqe = io_uring_get_sqe(d->ring);
	}
	return sqe;
}

static void cancel_op(struct daemon *d, struct loop_op *op)
{
	struct io_uring_sqe *sqe = get_sqe(d);

	if (!sqe)
		return;
	io_uring_prep_cancel(sqe, op, 0);
	io_uring_sqe_set_data(sqe, &op_ignore);
}

/* ---- hooks for the admin side --------------------------------------- */

static int watch_arm(struct loop_watch *w)
{
	struct io_uring_sqe *sqe = get_sqe(w->d);

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

	for (p = &all_watches; *p; p = &(*p)->next_all) {
		if (*p == w) {
			*p = w->next_all;
			break;
		}
	}
	free(w);
}

int loop_add_watch(struct daemon *d, int fd, uint32_t events,
		   loop_watch_fn cb, void *userdata,
		   struct loop_watch **ret_watch)
{
	struct loop_watch *w;
	int r;

	if (!d->ring || fd < 0 || !cb || !events)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->op.type = LOOP_OP_WATCH;
	w->op.owner = w;
	w->d = d;
	w->fd = fd;
	w->events = events;
	w->cb = cb;
	w->userdata = userdata;
	r = watch_arm(w);
	if (r < 0) {
		free(w);
		return r;
	}
	w->next_all = all_watches;
	all_watches = w;
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
	sqe = get_sqe(w->d);
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
	sqe = get_sqe(w->d);
	if (!sqe)
		return;
	io_uring_prep_poll_remove(sqe, (__u64)(uintptr_t)&w->op);
	io_uring_sqe_set_data(sqe, &op_ignore);
}

static void watch_complete(struct loop_watch *w, int res)
{
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

static int timer_arm(struct loop_timer *t)
{
	struct io_uring_sqe *sqe = get_sqe(t->d);

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

	for (p = &all_timers; *p; p = &(*p)->next_all) {
		if (*p == t) {
			*p = t->next_all;
			break;
		}
	}
	free(t);
}

int loop_add_timer(struct daemon *d, uint64_t period_ns, loop_timer_fn cb,
		   void *userdata, struct loop_timer **ret_timer)
{
	struct loop_timer *t;
	int r;

	if (!d->ring || !period_ns || !cb)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->op.type = LOOP_OP_TIMER;
	t->op.owner = t;
	t->d = d;
	t->ts.tv_sec = (long long)(period_ns / 1000000000ULL);
	t->ts.tv_nsec = (long long)(period_ns % 1000000000ULL);
	t->cb = cb;
	t->userdata = userdata;
	r = timer_arm(t);
	if (r < 0) {
		free(t);
		return r;
	}
	t->next_all = all_timers;
	all_timers = t;
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
	sqe = get_sqe(t->d);
	if (!sqe)
		return;
	io_uring_prep_timeout_remove(sqe, (__u64)(uintptr_t)&t->op, 0);
	io_uring_sqe_set_data(sqe, &op_ignore);
}

static void timer_complete(struct loop_timer *t, int res)
{
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

int loop_add_prepare(struct daemon *d, loop_prepare_fn cb, void *userdata)
{
	if (!cb)
		return -EINVAL;
	if (d->nprepare >= DAEMON_MAX_PREPARE)
		return -ENOSPC;
	d->prepare[d->nprepare].cb = cb;
	d->prepare[d->nprepare].userdata = userdata;
	d->nprepare++;
	return 0;
}

/* ---- sessions -------------------------------------------------------- */

static void session_maybe_free(struct session *s)
{
	if (!s->closing || s->recv_armed || s->send_armed)
		return;
	log_session(LOG_DEBUG, s->id, s->pid,
		    "session %llu ('%s', pid %d) closed: %u pins and %u WRITING blocks released",
		    (unsigned long long)s->id, s->name, (int)s->pid,
		    s->cs.npins, s->cs.nwriting);
	session_free(s);
}

static void session_close(struct session *s)
{
	s->closing = true;
	if (s->recv_armed)
		cancel_op(s->d, &s->op_recv);
	/* A send in flight finishes: its answer is owed to the client. */
	session_maybe_free(s);
}

static void session_arm_recv(struct session *s)
{
	struct io_uring_sqe *sqe = get_sqe(s->d);

	if (!sqe) {
		session_close(s);
		return;
	}
	memset(&s->rmsg, 0, sizeof(s->rmsg));
	s->riov.iov_base = s->rbuf;
	s->riov.iov_len = s->rbuf_size;
	s->rmsg.msg_iov = &s->riov;
	s->rmsg.msg_iovlen = 1;
	/*
	 * No control buffer: fds a client might send are dropped by the
	 * kernel. MSG_TRUNC makes the result the real packet length, so an
	 * oversized packet is recognised as such.
	 */
	io_uring_prep_recvmsg(sqe, s->fd, &s->rmsg, MSG_TRUNC);
	io_uring_sqe_set_data(sqe, &s->op_recv);
	s->recv_armed = true;
}

static void session_arm_send(struct session *s)
{
	struct io_uring_sqe *sqe = get_sqe(s->d);
	struct cmsghdr *cm;

	if (!sqe) {
		session_close(s);
		return;
	}
	memset(&s->smsg, 0, sizeof(s->smsg));
	s->siov.iov_base = s->sbuf;
	s->siov.iov_len = s->slen;
	s->smsg.msg_iov = &s->siov;
	s->smsg.msg_iovlen = 1;
	if (s->send_fd >= 0) {
		memset(&s->cbuf, 0, sizeof(s->cbuf));
		s->smsg.msg_control = s->cbuf.buf;
		s->smsg.msg_controllen = sizeof(s->cbuf.buf);
		cm = CMSG_FIRSTHDR(&s->smsg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &s->send_fd, sizeof(int));
	}
	io_uring_prep_sendmsg(sqe, s->fd, &s->smsg, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, &s->op_send);
	s->send_armed = true;
}

static void recv_complete(struct session *s, int res)
{
	int r;

	s->recv_armed = false;
	if (s->closing || res <= 0) {
		if (res < 0 && res != -ECANCELED && res != -ECONNRESET)
			log_debug("session %llu: recvmsg: %s",
				  (unsigned long long)s->id, strerror(-res));
		session_close(s);
		return;
	}
	r = dispatch_packet(s->d, s, s->rbuf,
			    (size_t)res > s->rbuf_size ? s->rbuf_size :
							 (size_t)res,
			    (size_t)res > s->rbuf_size);
	if (r < 0) {
		log_session(LOG_INFO, s->id, s->pid,
			    "session %llu ('%s', pid %d): %s: closing",
			    (unsigned long long)s->id, s->name, (int)s->pid,
			    r == -EBADMSG ? "unparsable packet" :
					    "cannot build the answer");
		session_close(s);
		return;
	}
	session_arm_send(s);
}

static void send_complete(struct session *s, int res)
{
	s->send_armed = false;
	s->send_fd = -1;
	if (res < 0) {
		log_debug("session %llu: sendmsg: %s",
			  (unsigned long long)s->id, strerror(-res));
		session_close(s);
		return;
	}
	if (s->closing || s->d->stopping) {
		session_close(s);
		return;
	}
	session_arm_recv(s);
}

/* ---- listening socket -------------------------------------------------- */

static void arm_accept(struct daemon *d)
{
	struct io_uring_sqe *sqe = get_sqe(d);

	if (!sqe)
		return;
	io_uring_prep_accept(sqe, d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, &d->op_accept);
	d->listening = true;
}

static void accept_complete(struct daemon *d, int res)
{
	struct session *s;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int sndbuf;

	d->listening = false;
	if (d->stopping) {
		if (res >= 0)
			close(res);
		return;
	}
	if (res < 0) {
		if (res != -EINTR && res != -ECONNABORTED)
			log_warning("accept: %s", strerror(-res));
		if (res == -EMFILE || res == -ENFILE)
			log_warning("out of file descriptors: raise LimitNOFILE= or lower max_sessions");
		arm_accept(d);
		return;
	}
	if (getsockopt(res, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_warning("SO_PEERCRED: %m");
		close(res);
		arm_accept(d);
		return;
	}
	if (d->nsessions >= d->cfg.limits.max_sessions) {
		log_warning("refusing pid %d: max_sessions %u reached",
			    (int)cred.pid, d->cfg.limits.max_sessions);
		d->ctr.sessions_refused++;
		close(res);
		arm_accept(d);
		return;
	}
	/* The largest answer (a full Lookup) must fit one packet. */
	sndbuf = (int)(d->cfg.limits.max_keys_per_lookup * 24U + 65536U);
	if (setsockopt(res, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf,
		       sizeof(sndbuf)) < 0)
		setsockopt(res, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	s = session_new(d, res, cred.pid, cred.uid, cred.gid);
	if (!s) {
		log_warning("out of memory for a session");
		close(res);
		arm_accept(d);
		return;
	}
	if (!s->allowed) {
		d->ctr.sessions_refused++;
		log_session(LOG_NOTICE, s->id, cred.pid,
			    "session %llu: pid %d uid %u is not in group '%s': its hello will be refused",
			    (unsigned long long)s->id, (int)cred.pid,
			    (unsigned int)cred.uid, d->cfg.group);
	} else {
		d->ctr.sessions_accepted++;
	}
	log_session(LOG_DEBUG, s->id, cred.pid,
		    "session %llu: pid %d uid %u gid %u connected",
		    (unsigned long long)s->id, (int)cred.pid,
		    (unsigned int)cred.uid, (unsigned int)cred.gid);
	session_arm_recv(s);
	arm_accept(d);
}

/*
 * Replace a leftover socket file only if nobody answers on it: a second
 * daemon must not steal the socket of a running one.
 */
static int clear_stale_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0)
		return -EADDRINUSE;
	if (errno != ECONNREFUSED && errno != ENOENT)
		return -errno;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int open_socket(struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = d->cfg.socket_path;
	mode_t old;
	int fd, r;

	r = clear_stale_socket(path);
	if (r == -EADDRINUSE)
		return log_error_errno(r, "%s: another daemon is listening there",
				       path);
	if (r == -EEXIST)
		return log_error_errno(r, "%s exists and is not a socket: not replacing it",
				       path);
	if (r < 0)
		return log_error_errno(r, "%s: cannot clear a stale socket: %m",
				       path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_error_errno(-errno, "socket: %m");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	/* Born owner-only, widened below: never briefly wider than asked. */
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0) {
		r = log_error_errno(-errno, "bind %s: %m", path);
		goto out_close;
	}
	if (d->have_group && chown(path, (uid_t)-1, d->group_gid) < 0) {
		r = log_error_errno(-errno, "chown %s to group %s: %m", path,
				    d->cfg.group);
		goto out_unlink;
	}
	if (chmod(path, d->cfg.socket_mode) < 0) {
		r = log_error_errno(-errno, "chmod %s %o: %m", path,
				    d->cfg.socket_mode);
		goto out_unlink;
	}
	if (listen(fd, 128) < 0) {
		r = log_error_errno(-errno, "listen %s: %m", path);
		goto out_unlink;
	}
	d->listen_fd = fd;
	return 0;

out_unlink:
	unlink(path);
out_close:
	close(fd);
	return r;
}

/* ---- signals and the loop ---------------------------------------------- */

static void arm_signal(struct daemon *d)
{
	struct io_uring_sqe *sqe = get_sqe(d);

	if (!sqe)
		return;
	io_uring_prep_read(sqe, d->signal_fd, d->siginfo,
			   sizeof(*d->siginfo), 0);
	io_uring_sqe_set_data(sqe, &d->op_signal);
}

static int stop_deadline(struct loop_timer *t, void *userdata)
{
	struct daemon *d = userdata;

	log_warning("%u sessions still busy %llu s after the stop request: closing them",
		    d->nsessions,
		    (unsigned long long)(STOP_GRACE_NS / 1000000000ULL));
	d->loop_running = false;
	return -ECANCELED;
}

void daemon_request_stop(struct daemon *d, int exit_code)
{
	struct session *s, *next;

	if (d->stopping)
		return;
	d->stopping = true;
	d->exit_code = exit_code;
	daemon_notify("STOPPING=1\nSTATUS=Stopping");
	log_info("stopping: %u sessions open", d->nsessions);
	if (d->listening)
		cancel_op(d, &d->op_accept);
	/*
	 * Shutting the read side down ends each waiting recvmsg: it returns a
	 * request the client had already sent (answered, then the session
	 * closes after the send) or EOF. Sessions with an answer in flight
	 * close once it is sent; sessions without a socket close now.
	 */
	for (s = d->sessions; s; s = next) {
		next = s->next;
		if (s->fd >= 0 && s->recv_armed)
			shutdown(s->fd, SHUT_RD);
		else if (!s->send_armed)
			session_close(s);
	}
	if (d->ring)
		loop_add_timer(d, STOP_GRACE_NS, stop_deadline, d, NULL);
}

static void signal_complete(struct daemon *d, int res)
{
	char err[CFG_ERR_MAX] = "";
	int r;

	if (res != (int)sizeof(*d->siginfo)) {
		if (!d->stopping)
			arm_signal(d);
		return;
	}
	switch (d->siginfo->ssi_signo) {
	case SIGHUP:
		log_info("SIGHUP: reloading the configuration");
		daemon_notify("RELOADING=1");
		r = daemon_reload_config(d, err, sizeof(err));
		if (r < 0)
			log_error("reload failed, keeping the running configuration: %s",
				  err);
		daemon_notify("READY=1");
		daemon_notify_status(d);
		break;
	case SIGTERM:
	case SIGINT:
		log_info("%s received", d->siginfo->ssi_signo == SIGTERM ?
			 "SIGTERM" : "SIGINT");
		daemon_request_stop(d, 0);
		break;
	default:
		break;
	}
	arm_signal(d);
}

static void handle_cqe(struct daemon *d, struct io_uring_cqe *cqe)
{
	struct loop_op *op = io_uring_cqe_get_data(cqe);

	if (!op)
		return;
	switch (op->type) {
	case LOOP_OP_ACCEPT:
		accept_complete(d, cqe->res);
		break;
	case LOOP_OP_RECV:
		/* May free the session: nothing may touch it afterwards. */
		recv_complete(op->owner, cqe->res);
		break;
	case LOOP_OP_SEND:
		send_complete(op->owner, cqe->res);
		break;
	case LOOP_OP_SIGNAL:
		signal_complete(d, cqe->res);
		break;
	case LOOP_OP_WATCH:
		watch_complete(op->owner, cqe->res);
		break;
	case LOOP_OP_TIMER:
		timer_complete(op->owner, cqe->res);
		break;
	default:
		break;
	}
}

int daemon_start(struct daemon *d)
{
	sigset_t mask;
	int r;

	/*
	 * Block the signals the signalfd reads before the pool is created:
	 * the CUDA runtime starts threads there, and a thread that inherits
	 * them unblocked would take SIGTERM's default action.
	 */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	r = daemon_core_init(d);
	if (r < 0)
		return r;
	d->ring = calloc(1, sizeof(*d->ring));
	d->siginfo = calloc(1, sizeof(*d->siginfo));
	if (!d->ring || !d->siginfo) {
		r = log_error_errno(-ENOMEM, "out of memory");
		goto out_core;
	}
	r = io_uring_queue_init(RING_ENTRIES, d->ring, 0);
	if (r < 0) {
		log_error_errno(r, "io_uring_queue_init: %m");
		free(d->ring);
		d->ring = NULL;
		goto out_core;
	}
	signal(SIGPIPE, SIG_IGN);
	d->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (d->signal_fd < 0) {
		r = log_error_errno(-errno, "signalfd: %m");
		goto out_ring;
	}
	r = open_socket(d);
	if (r < 0)
		goto out_signal;
	d->op_accept.type = LOOP_OP_ACCEPT;
	d->op_signal.type = LOOP_OP_SIGNAL;
	arm_accept(d);
	arm_signal(d);
	log_notice("asymcached listening on %s (mode %03o, group %s)",
		   d->cfg.socket_path, d->cfg.socket_mode,
		   d->have_group ? d->cfg.group : "(root only)");
	return 0;

out_signal:
	close(d->signal_fd);
	d->signal_fd = -1;
out_ring:
	io_uring_queue_exit(d->ring);
	free(d->ring);
	d->ring = NULL;
out_core:
	free(d->siginfo);
	d->siginfo = NULL;
	daemon_core_fini(d);
	return r;
}

int daemon_run(struct daemon *d)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n, i;
	int r;

	daemon_notify("READY=1");
	daemon_notify_status(d);
	d->loop_running = true;
	while (d->loop_running) {
		for (i = 0; i < d->nprepare; i++)
			d->prepare[i].cb(d, d->prepare[i].userdata);
		if (d->stopping && !d->nsessions && !d->listening)
			break;
		r = io_uring_submit_and_wait(d->ring, 1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			log_error_errno(r, "io_uring_submit_and_wait: %m");
			d->exit_code = 1;
			break;
		}
		n = 0;
		io_uring_for_each_cqe(d->ring, head, cqe) {
			handle_cqe(d, cqe);
			n++;
		}
		io_uring_cq_advance(d->ring, n);
	}
	return d->exit_code;
}

void daemon_stop(struct daemon *d)
{
	struct loop_watch *w;
	struct loop_timer *t;

	/* Closing the ring cancels whatever is still in flight. */
	if (d->ring) {
		io_uring_queue_exit(d->ring);
		free(d->ring);
		d->ring = NULL;
	}
	while ((w = all_watches)) {
		all_watches = w->next_all;
		free(w);
	}
	while ((t = all_timers)) {
		all_timers = t->next_all;
		free(t);
	}
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		d->listen_fd = -1;
		unlink(d->cfg.socket_path);
	}
	if (d->signal_fd >= 0) {
		close(d->signal_fd);
		d->signal_fd = -1;
	}
	free(d->siginfo);
	d->siginfo = NULL;
	daemon_core_fini(d);
}
