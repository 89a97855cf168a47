/* SPDX-License-Identifier: MIT */
/*
 * Start, run and stop (lifecycle.h). The pieces below this file do not
 * know each other: here the listener's connections go to the sessions,
 * the signals to a reload or a stop, and the loop learns when to return.
 */
#include <errno.h>
#include <signal.h>

#include "admin.h"
#include "core.h"
#include "daemon.h"
#include "lifecycle.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "rundir.h"
#include "session.h"

#define RING_ENTRIES 256
#define STOP_GRACE_NS (5ULL * 1000000000ULL)

static void on_accept(int fd, void *userdata)
{
	session_accept(userdata, fd);
}

static int on_signal(int signo, void *userdata)
{
	struct daemon *d = userdata;
	char err[CFG_ERR_MAX] = "";

	/* A failed read is retried, unless the daemon is on its way out. */
	if (signo < 0)
		return d->stopping ? signo : 0;
	switch (signo) {
	case SIGHUP:
		log_info("SIGHUP: reloading the configuration");
		daemon_notify("RELOADING=1");
		/* A refused reload is logged there, as one over D-Bus is. */
		daemon_reload_config(d, err, sizeof(err));
		daemon_notify("READY=1");
		daemon_notify_status(d);
		break;
	case SIGTERM:
	case SIGINT:
		log_info("%s received", signo == SIGTERM ? "SIGTERM" : "SIGINT");
		daemon_request_stop(d, 0);
		break;
	default:
		break;
	}
	return 0;
}

static void before_wait(struct loop *l, void *userdata)
{
	struct daemon *d = userdata;
	unsigned int i;

	for (i = 0; i < d->nprepare; i++)
		d->prepare[i].cb(d, d->prepare[i].userdata);
	if (d->stopping && !d->nsessions && !d->listener.armed &&
	    !d->listener.waiting)
		loop_quit(l);
}

static int stop_deadline(struct loop_timer *t, void *userdata)
{
	struct daemon *d = userdata;

	log_warning("%u sessions still busy %llu s after the stop request: closing them",
		    d->nsessions,
		    (unsigned long long)(STOP_GRACE_NS / 1000000000ULL));
	loop_quit(d->loop);
	return -ECANCELED;
}

int daemon_start(struct daemon *d)
{
	sigset_t mask;
	int r;

	/* Before the pool: the CUDA runtime starts threads there. */
	signals_block(&mask);
	r = daemon_core_init(d);
	if (r < 0)
		return r;
	r = loop_new(RING_ENTRIES, &d->loop);
	if (r < 0) {
		log_error_errno(r, "io_uring_queue_init: %m");
		goto out_core;
	}
	signal(SIGPIPE, SIG_IGN);
	r = signals_open(&d->signals, &mask);
	if (r < 0)
		goto out_loop;
	r = rundir_ensure(d->cfg.socket_path, d->cfg.socket_dir_mode, d->have_group,
			  d->group_gid);
	if (r < 0)
		goto out_signals;
	r = listener_open(&d->listener, d->cfg.socket_path, d->cfg.socket_mode,
			  d->have_group ? d->cfg.group : NULL, d->group_gid);
	if (r < 0)
		goto out_signals;
	listener_start(&d->listener, d->loop, on_accept, d);
	signals_start(&d->signals, d->loop, on_signal, d);
	loop_set_prepare(d->loop, before_wait, d);
	log_notice("asymcached listening on %s (mode %03o, group %s)",
		   d->cfg.socket_path, d->cfg.socket_mode,
		   d->have_group ? d->cfg.group : "(root only)");
	return 0;

out_signals:
	signals_close(&d->signals);
out_loop:
	d->loop = loop_free(d->loop);
out_core:
	daemon_core_fini(d);
	return r;
}

int daemon_run(struct daemon *d)
{
	daemon_notify("READY=1");
	daemon_notify_status(d);
	if (loop_run(d->loop) < 0)
		d->exit_code = 1;
	return d->exit_code;
}

void daemon_request_stop(struct daemon *d, int exit_code)
{
	if (d->stopping)
		return;
	d->stopping = true;
	d->exit_code = exit_code;
	daemon_notify("STOPPING=1\nSTATUS=Stopping");
	log_info("stopping: %u sessions open", d->nsessions);
	listener_stop(&d->listener);
	session_drain_all(d);
	if (d->loop)
		loop_timer_new(d->loop, STOP_GRACE_NS, stop_deadline, d, NULL);
}

void daemon_stop(struct daemon *d)
{
	/* Closing the ring cancels whatever is still in flight. */
	d->loop = loop_free(d->loop);
	listener_close(&d->listener);
	signals_close(&d->signals);
	daemon_core_fini(d);
}
