/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "hooks.h"

int loop_add_watch(struct daemon *d, int fd, uint32_t events,
		   loop_watch_fn cb, void *userdata,
		   struct loop_watch **ret_watch)
{
	return loop_watch_new(d->loop, fd, events, cb, userdata, ret_watch);
}

int loop_add_timer(struct daemon *d, uint64_t period_ns, loop_timer_fn cb,
		   void *userdata, struct loop_timer **ret_timer)
{
	return loop_timer_new(d->loop, period_ns, cb, userdata, ret_timer);
}

int loop_add_prepare(struct daemon *d, daemon_prepare_fn cb, void *userdata)
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
