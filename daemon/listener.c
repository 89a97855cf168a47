/* SPDX-License-Identifier: MIT */
/*
 * The listening socket (listener.h). Accept errors are logged and the
 * accept re-armed: a full fd table or an aborted connection must not stop
 * the daemon from taking the next client. A full fd table re-arms after a
 * back-off, not at once (see LISTENER_BACKOFF_NS).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"

/*
 * A daemon serves PATH while it holds an exclusive flock() on PATH.lock,
 * and only then. Asking the socket instead (a connect() that is not
 * refused) took a SIGKILLed daemon for a live one: its listening socket
 * stays open, and accepts connections into its backlog, until the
 * kernel's io_uring exit work drops the accept that referenced it, which
 * runs after the process has been reaped; a restart in that window
 * failed. The lock file is never in a ring, so it closes with the
 * process's files, before its parent can reap it.
 *
 * A daemon that stops removes the file while it still holds the lock, so
 * a lock taken on a file that is no longer at the path (opened just before
 * that removal) proves nothing: it is taken again on the file there now.
 * Returns the locked fd, -EADDRINUSE while another daemon holds it.
 */
static int take_lock(const char *path, char *lock_path, size_t len)
{
	struct stat held, there;
	int fd, r;

	if ((size_t)snprintf(lock_path, len, "%s.lock", path) >= len)
		return -ENAMETOOLONG;
	for (;;) {
		fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return -errno;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			r = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
			break;
		}
		if (fstat(fd, &held) < 0) {
			r = -errno;
			break;
		}
		if (lstat(lock_path, &there) < 0) {
			if (errno != ENOENT) {
				r = -errno;
				break;
			}
		} else if (there.st_dev == held.st_dev &&
			   there.st_ino == held.st_ino) {
			return fd;
		}
		close(fd);
	}
	close(fd);
	return r;
}

/*
 * With the lock held, whatever is at @path was left by a daemon that is
 * gone: a socket is removed, anything else is not ours to remove.
 */
static int clear_stale_socket(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int listener_open(struct listener *ls, const char *path, mode_t mode,
		  const char *group, gid_t gid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char lock_path[PATH_MAX];
	int fd, lock_fd, r;
	mode_t old;

	lock_fd = take_lock(path, lock_path, sizeof(lock_path));
	if (lock_fd == -EADDRINUSE)
		return log_error_errno(lock_fd, "%s: another daemon is listening there (it holds %s)",
				       path, lock_path);
	if (lock_fd < 0)
		return log_error_errno(lock_fd, "%s: cannot lock %s: %m", path,
				       lock_path);
	r = clear_stale_socket(path);
	if (r == -EEXIST) {
		r = log_error_errno(r, "%s exists and is not a socket: not replacing it",
				    path);
		goto out_unlock;
	}
	if (r < 0) {
		r = log_error_errno(r, "%s: cannot clear a stale socket: %m",
				    path);
		goto out_unlock;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = log_error_errno(-errno, "socket: %m");
		goto out_unlock;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	/* Born owner-only, widened below: never briefly wider than asked. */
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0) {
		r = log_error_errno(-errno, "bind %s: %m", path);
		goto out_close;
	}
	if (group && chown(path, (uid_t)-1, gid) < 0) {
		r = log_error_errno(-errno, "chown %s to group %s: %m", path,
				    group);
		goto out_unlink;
	}
	if (chmod(path, mode) < 0) {
		r = log_error_errno(-errno, "chmod %s %o: %m", path, mode);
		goto out_unlink;
	}
	if (listen(fd, 128) < 0) {
		r = log_error_errno(-errno, "listen %s: %m", path);
		goto out_unlink;
	}
	snprintf(ls->path, sizeof(ls->path), "%s", path);
	ls->fd = fd;
	ls->lock_fd = lock_fd;
	ls->open = true;
	ls->armed = false;
	ls->stopped = false;
	return 0;

out_unlink:
	unlink(path);
out_close:
	close(fd);
out_unlock:
	close(lock_fd);
	return r;
}

static void arm(struct listener *ls)
{
	struct io_uring_sqe *sqe = loop_get_sqe(ls->loop);

	if (!sqe)
		return;
	io_uring_prep_accept(sqe, ls->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, &ls->op);
	ls->armed = true;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void wait_complete(struct loop_op *op, int res)
{
	struct listener *ls = loop_op_owner(op, struct listener, op_wait);

	(void)res;
	ls->waiting = false;
	if (!ls->stopped)
		arm(ls);
}

/* Accepting again at once would fail again at once: wait, then retry. */
static void back_off(struct listener *ls, int res)
{
	struct io_uring_sqe *sqe;
	uint64_t now = now_ns();

	ls->starved++;
	if (!ls->last_log_ns || now - ls->last_log_ns >= LISTENER_LOG_NS) {
		log_warning("accept: %s (%llu times since the last report): "
			    "new clients wait; raise LimitNOFILE= or lower max_sessions",
			    strerror(-res), (unsigned long long)ls->starved);
		ls->starved = 0;
		ls->last_log_ns = now;
	}
	sqe = loop_get_sqe(ls->loop);
	if (!sqe)
		return;
	ls->wait_ts.tv_sec = LISTENER_BACKOFF_NS / 1000000000ULL;
	ls->wait_ts.tv_nsec = LISTENER_BACKOFF_NS % 1000000000ULL;
	io_uring_prep_timeout(sqe, &ls->wait_ts, 0, 0);
	io_uring_sqe_set_data(sqe, &ls->op_wait);
	ls->waiting = true;
}

static void accept_complete(struct loop_op *op, int res)
{
	struct listener *ls = loop_op_owner(op, struct listener, op);

	ls->armed = false;
	if (ls->stopped) {
		if (res >= 0)
			close(res);
		return;
	}
	switch (res) {
	case -EMFILE:
	case -ENFILE:
	case -ENOBUFS:
	case -ENOMEM:
		back_off(ls, res);
		return;
	case -EINTR:
	case -ECONNABORTED:
		break;
	default:
		if (res < 0)
			log_warning("accept: %s", strerror(-res));
		else
			ls->cb(res, ls->userdata);
		break;
	}
	if (!ls->stopped)
		arm(ls);
}

void listener_start(struct listener *ls, struct loop *l, listener_fn cb,
		    void *userdata)
{
	ls->op.complete = accept_complete;
	ls->op_wait.complete = wait_complete;
	ls->loop = l;
	ls->cb = cb;
	ls->userdata = userdata;
	arm(ls);
}

void listener_stop(struct listener *ls)
{
	ls->stopped = true;
	if (ls->armed)
		loop_cancel(ls->loop, &ls->op);
	if (ls->waiting)
		loop_cancel(ls->loop, &ls->op_wait);
}

void listener_close(struct listener *ls)
{
	char lock_path[PATH_MAX];

	if (!ls->open)
		return;
	close(ls->fd);
	ls->fd = -1;
	ls->open = false;
	unlink(ls->path);
	/*
	 * Last, and removed while still held (take_lock() checks for that):
	 * the path is free for the next daemon only once the socket is gone.
	 */
	snprintf(lock_path, sizeof(lock_path), "%s.lock", ls->path);
	unlink(lock_path);
	close(ls->lock_fd);
	ls->lock_fd = -1;
}
