/* SPDX-License-Identifier: MIT */
/*
 * The systemd watchdog: WATCHDOG=1 pings from a timer on the daemon's own
 * loop, so a loop that stops turning (a handler stuck, a ring that never
 * completes) stops the pings and systemd restarts the service. A thread of
 * its own would keep pinging through exactly the hang the watchdog is
 * there to catch.
 */
#include <errno.h>
#include <stdint.h>
#include <systemd/sd-daemon.h>

#include "hooks.h"
#include "log.h"
#include "notify.h"
#include "watchdog.h"

static int on_watchdog(struct loop_timer *t, void *userdata)
{
	daemon_notify("WATCHDOG=1");
	return 0;
}

int watchdog_start(struct daemon *d)
{
	uint64_t usec = 0;
	int r;

	/* > 0 only when WATCHDOG_USEC is set and meant for this pid. */
	r = sd_watchdog_enabled(0, &usec);
	if (r < 0)
		return log_warning_errno(r, "ignoring the watchdog settings: %m");
	if (r == 0 || usec == 0)
		return 0;
	/* Half the period, as sd_watchdog_enabled(3) recommends. */
	r = loop_add_timer(d, usec * 1000 / 2, on_watchdog, NULL, NULL);
	if (r < 0)
		return log_error_errno(r, "cannot arm the watchdog timer: %m");
	log_info("watchdog: pinging every %llu ms", (unsigned long long)usec / 2000);
	daemon_notify("WATCHDOG=1");
	return 0;
}
