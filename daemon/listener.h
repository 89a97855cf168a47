/* SPDX-License-Identifier: MIT */
/*
 * The daemon's listening socket: an AF_UNIX SOCK_SEQPACKET path, one
 * accept in flight on the loop at a time, each accepted fd handed to a
 * callback. It knows nothing of sessions; the daemon wires it to them.
 */
#ifndef AC_DAEMON_LISTENER_H
#define AC_DAEMON_LISTENER_H

#include <linux/time_types.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "loop.h"

/* Takes ownership of @fd (a connected socket, close-on-exec). */
typedef void (*listener_fn)(int fd, void *userdata);

/*
 * Out of file descriptors (EMFILE, ENFILE) or memory, an accept fails at
 * once as long as the queue holds a connection: re-arming at once spun a
 * CPU and wrote 70-87 MB/s of log. The listener waits this long before
 * the next accept, and says so once per LISTENER_LOG_NS.
 */
#define LISTENER_BACKOFF_NS	(100ULL * 1000 * 1000)
#define LISTENER_LOG_NS		(10ULL * 1000 * 1000 * 1000)

struct listener {
	struct loop_op op;
	struct loop_op op_wait;		/* the back-off timeout */
	struct __kernel_timespec wait_ts;
	struct loop *loop;
	int fd;
	int lock_fd;			/* flock()ed PATH.lock while open */
	bool open;
	bool armed;			/* an accept is in flight */
	bool waiting;			/* a back-off timeout is in flight */
	bool stopped;			/* accepted fds are closed, not handed on */
	uint64_t starved;		/* accepts failed since the last log line */
	uint64_t last_log_ns;		/* 0: nothing logged yet */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	listener_fn cb;
	void *userdata;
};

/*
 * Binds and listens on @path with @mode; with @group set, the socket's
 * group becomes @gid (@group names it in messages). The daemon that holds
 * the flock() on @path.lock (created 0600 next to it, removed by
 * listener_close()) owns the path: while another holds it, -EADDRINUSE;
 * once it is ours, a
 * leftover socket file is a dead daemon's and is replaced (any other file
 * is not: -EEXIST). Logs why it failed; -errno.
 */
int listener_open(struct listener *ls, const char *path, mode_t mode,
		  const char *group, gid_t gid);
/* Starts accepting: @cb gets every connection until listener_stop(). */
void listener_start(struct listener *ls, struct loop *l, listener_fn cb,
		    void *userdata);
/* Cancels the accept in flight; a connection it still returns is closed. */
void listener_stop(struct listener *ls);
/* Closes the socket and unlinks its path; a no-op when not open. */
void listener_close(struct listener *ls);

#endif /* AC_DAEMON_LISTENER_H */
