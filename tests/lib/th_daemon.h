/* SPDX-License-Identifier: MIT */
/*
 * The real asymcached of the build tree, started the way every suite
 * needs it: in a private temporary folder with its config file, socket
 * and log, ready when its socket accepts (or, under a fake supervisor,
 * when it says READY=1), stopped with SIGTERM and its exit status kept.
 * Plain libc: no Criterion and no libasymcache, so that the suites that
 * speak the raw protocol and the benchmarks use it too.
 */
#ifndef AC_TEST_TH_DAEMON_H
#define AC_TEST_TH_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "th_fs.h"
#include "th_notify.h"
#include "th_sock.h"

struct th_daemon_opts {
	const char *tag;	/* folder /tmp/<tag>-XXXXXX; NULL: "ac-test" */
	const char *config;	/* text of DIR/asymcached.conf; NULL: /dev/null */
	const char *const *args;	/* after -c and --socket; NULL-ended */
	/* The daemon's environment: "NAME=VALUE" sets, "NAME" unsets. */
	const char *const *env;
	bool notify;		/* NOTIFY_SOCKET=DIR/notify; ready at READY=1 */
	uint64_t watchdog_usec;	/* with notify: WATCHDOG_USEC; 0: none */
	const char *valgrind_dir;	/* see th_exec() */
	int ready_timeout_ms;	/* 0: 15 s */
	/* Runs in the daemon's process, output on the log, before exec. */
	void (*child_setup)(void *arg);
	void *child_arg;
};

struct th_daemon {
	pid_t pid;		/* 0 before start */
	bool reaped;		/* it exited and wstatus holds how */
	int wstatus;
	char dir[TH_DIR_MAX];
	char sock[108];		/* DIR/asymcached.sock, or the last --socket */
	char conf[128];		/* DIR/asymcached.conf or /dev/null */
	char log[128];		/* DIR/daemon.log: its stdout and stderr */
	struct th_notify *notify;	/* with opts.notify */
};

/*
 * Starts $AC_BUILD_ROOT/daemon/asymcached -c CONF --socket SOCK ARGS.
 * 0 once it is ready; -ENOENT without AC_BUILD_ROOT or the binary,
 * -ECHILD when it exited during start-up (wstatus says how),
 * -ETIMEDOUT when it was not ready in time (it is killed), other -errno.
 * On failure the folder and log stay until th_daemon_cleanup().
 */
int th_daemon_start(struct th_daemon *d, const struct th_daemon_opts *o);
/* false once the daemon has exited; reaps it then. */
bool th_daemon_alive(struct th_daemon *d);
/*
 * SIGTERM unless it already exited, and wait up to 10 s. Returns its exit
 * code, 128 + the signal that killed it, -ETIMEDOUT when it had to be
 * killed, -ECHILD when it never ran. Leaves the folder for cleanup.
 */
int th_daemon_stop(struct th_daemon *d);
/* Stops it if needed, closes the notify socket, removes the folder. */
int th_daemon_cleanup(struct th_daemon *d);

/* The daemon's path in the build tree; -ENOENT without AC_BUILD_ROOT. */
int th_daemon_path(char *out, size_t len);
/*
 * Execs @path with @argv, under valgrind (memory errors: exit 99, one log
 * per process in @valgrind_dir) when @valgrind_dir is set and not empty.
 * Returns only when that fails, with _exit(127): for forked children.
 */
void th_exec(const char *path, char *const argv[], const char *valgrind_dir)
	__attribute__((noreturn));

#endif /* AC_TEST_TH_DAEMON_H */
