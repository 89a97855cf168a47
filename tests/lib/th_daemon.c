/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "th_daemon.h"

#define READY_MS_DEFAULT	15000
#define STOP_MS			10000

int th_daemon_path(char *out, size_t len)
{
	return th_build_path(out, len, "daemon/asymcached");
}

void th_exec(const char *path, char *const argv[], const char *valgrind_dir)
{
	const char *pre[] = { "valgrind", "--error-exitcode=99",
			      "--leak-check=full",
			      "--errors-for-leak-kinds=definite", NULL };
	char logopt[300];
	const char **args;
	size_t n = 0, i, k = 0;

	if (!valgrind_dir || !*valgrind_dir) {
		execv(path, argv);
		_exit(127);
	}
	while (argv[n])
		n++;
	args = calloc(n + sizeof(pre) / sizeof(pre[0]) + 1, sizeof(*args));
	if (!args)
		_exit(127);
	for (i = 0; pre[i]; i++)
		args[k++] = pre[i];
	snprintf(logopt, sizeof(logopt), "--log-file=%s/vg-%%p.log",
		 valgrind_dir);
	args[k++] = logopt;
	for (i = 0; i < n; i++)
		args[k++] = argv[i];
	args[k] = NULL;
	execvp("valgrind", (char *const *)args);
	_exit(127);
}

/* The exit status as a shell reports it; -ECHILD when it is unknown. */
static int exit_code(const struct th_daemon *d)
{
	if (!d->reaped || d->wstatus == -1)
		return -ECHILD;
	if (WIFEXITED(d->wstatus))
		return WEXITSTATUS(d->wstatus);
	if (WIFSIGNALED(d->wstatus))
		return 128 + WTERMSIG(d->wstatus);
	return -ECHILD;
}

/* true once the daemon has exited and its status is in @d. */
static bool reap(struct th_daemon *d, int flags)
{
	pid_t r;
	int st;

	if (d->reaped)
		return true;
	if (d->pid <= 0)
		return false;
	r = waitpid(d->pid, &st, flags);
	if (r == d->pid) {
		d->wstatus = st;
		d->reaped = true;
	} else if (r < 0 && errno == ECHILD) {
		/* Someone else waited for it: gone, how is unknown. */
		d->wstatus = -1;
		d->reaped = true;
	}
	return d->reaped;
}

bool th_daemon_alive(struct th_daemon *d)
{
	return d->pid > 0 && !reap(d, WNOHANG);
}

/* "NAME=VALUE" sets NAME, a bare "NAME" unsets it. */
static void apply_env(const char *e)
{
	const char *eq = strchr(e, '=');
	char name[128];

	if (!eq) {
		unsetenv(e);
		return;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(eq - e), e);
	setenv(name, eq + 1, 1);
}

static void child(const struct th_daemon *d, const struct th_daemon_opts *o,
		  const char *bin, char **argv, int logfd)
{
	char path[160], num[32];
	const char *const *e;

	/* A test killed by its timeout takes its daemon along. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	dup2(logfd, STDOUT_FILENO);
	dup2(logfd, STDERR_FILENO);
	/* Nothing of the caller's session or supervisor leaks in. */
	unsetenv("DBUS_SESSION_BUS_ADDRESS");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (o->notify) {
		snprintf(path, sizeof(path), "%s/notify", d->dir);
		setenv("NOTIFY_SOCKET", path, 1);
		if (o->watchdog_usec) {
			snprintf(num, sizeof(num), "%llu",
				 (unsigned long long)o->watchdog_usec);
			setenv("WATCHDOG_USEC", num, 1);
			snprintf(num, sizeof(num), "%d", (int)getpid());
			setenv("WATCHDOG_PID", num, 1);
		}
	}
	for (e = o->env; e && *e; e++)
		apply_env(*e);
	if (o->child_setup)
		o->child_setup(o->child_arg);
	th_exec(bin, argv, o->valgrind_dir);
}

static int wait_ready(struct th_daemon *d, const struct th_daemon_opts *o)
{
	uint64_t end = th_now_ms() + (uint64_t)(o->ready_timeout_ms > 0 ?
						o->ready_timeout_ms :
						READY_MS_DEFAULT);
	int fd;

	for (;;) {
		if (o->notify) {
			if (th_notify_wait(d->notify, "READY=1", 1, 20, NULL, 0))
				return 0;
		} else {
			/*
			 * READY=1 needs a NOTIFY_SOCKET: a connect to this
			 * daemon is the sign. Only to this one: a SIGKILLed
			 * daemon's socket at the same path stays connectable
			 * for a while after it was reaped (the kernel's
			 * io_uring exit work holds it open), and the listener's
			 * pid tells the two apart.
			 */
			fd = th_connect(d->sock);
			if (fd >= 0) {
				struct ucred cr = { 0 };
				socklen_t len = sizeof(cr);
				bool ours = getsockopt(fd, SOL_SOCKET, SO_PEERCRED,
						       &cr, &len) == 0 &&
					    cr.pid == d->pid;

				close(fd);
				if (ours)
					return 0;
			}
			usleep(5000);
		}
		if (!th_daemon_alive(d))
			return -ECHILD;
		if (th_now_ms() > end) {
			kill(d->pid, SIGKILL);
			reap(d, 0);
			return -ETIMEDOUT;
		}
	}
}

/* The daemon takes the last --socket it is given: so does the harness. */
static void socket_from_args(struct th_daemon *d, const char *const *args)
{
	for (; args && *args; args++) {
		if (strcmp(*args, "--socket") == 0 && args[1])
			snprintf(d->sock, sizeof(d->sock), "%s", args[1]);
		else if (strncmp(*args, "--socket=", 9) == 0)
			snprintf(d->sock, sizeof(d->sock), "%s", *args + 9);
	}
}

int th_daemon_start(struct th_daemon *d, const struct th_daemon_opts *o)
{
	static const struct th_daemon_opts none;
	const char *const *a;
	char bin[256], path[160];
	char **argv;
	int r, n = 0, logfd;

	if (!o)
		o = &none;
	memset(d, 0, sizeof(*d));
	r = th_daemon_path(bin, sizeof(bin));
	if (r < 0)
		return r;
	if (access(bin, X_OK) < 0)
		return -errno;
	r = th_dir_make(d->dir, sizeof(d->dir), o->tag ? o->tag : "ac-test");
	if (r < 0)
		return r;
	snprintf(d->sock, sizeof(d->sock), "%s/asymcached.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
	socket_from_args(d, o->args);
	if (o->config) {
		snprintf(d->conf, sizeof(d->conf), "%s/asymcached.conf", d->dir);
		r = th_write_file(d->conf, o->config);
		if (r < 0)
			return r;
	} else {
		snprintf(d->conf, sizeof(d->conf), "/dev/null");
	}
	if (o->notify) {
		snprintf(path, sizeof(path), "%s/notify", d->dir);
		r = th_notify_open(&d->notify, path);
		if (r < 0)
			return r;
	}

	for (a = o->args; a && *a; a++)
		n++;
	argv = calloc((size_t)n + 6, sizeof(*argv));
	if (!argv)
		return -ENOMEM;
	n = 0;
	/* execv() takes char *const []: the strings are never written. */
	argv[n++] = bin;
	argv[n++] = "-c";
	argv[n++] = d->conf;
	argv[n++] = "--socket";
	argv[n++] = d->sock;
	for (a = o->args; a && *a; a++)
		argv[n++] = (char *)*a;
	argv[n] = NULL;

	logfd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd < 0) {
		r = -errno;
		free(argv);
		return r;
	}
	fflush(NULL);
	d->pid = fork();
	if (d->pid == 0)
		child(d, o, bin, argv, logfd);
	r = d->pid < 0 ? -errno : 0;
	if (d->pid < 0)
		d->pid = 0;
	close(logfd);
	free(argv);
	return r < 0 ? r : wait_ready(d, o);
}

int th_daemon_stop(struct th_daemon *d)
{
	uint64_t end;

	if (d->pid <= 0)
		return -ECHILD;
	if (!reap(d, WNOHANG)) {
		kill(d->pid, SIGTERM);
		end = th_now_ms() + STOP_MS;
		while (!reap(d, WNOHANG)) {
			if (th_now_ms() > end) {
				kill(d->pid, SIGKILL);
				reap(d, 0);
				return -ETIMEDOUT;
			}
			usleep(2000);
		}
	}
	return exit_code(d);
}

int th_daemon_cleanup(struct th_daemon *d)
{
	int r = 0;

	if (d->pid > 0)
		th_daemon_stop(d);
	th_notify_close(d->notify);
	d->notify = NULL;
	if (d->dir[0])
		r = th_dir_remove(d->dir);
	d->dir[0] = '\0';
	return r;
}
