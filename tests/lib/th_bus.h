/* SPDX-License-Identifier: MIT */
/*
 * A private dbus-daemon configured like Debian's system bus (deny owning
 * names and method calls, allow replies and signals), so that only the
 * policy a test adds opens anything. It listens in a temporary folder of
 * its own, mode 0755, and can be stopped and started again on the same
 * socket.
 */
#ifndef AC_TEST_TH_BUS_H
#define AC_TEST_TH_BUS_H

#include <sys/types.h>

#include "th_fs.h"

struct th_bus {
	char dir[TH_DIR_MAX];
	char path[96];		/* DIR/bus, the socket */
	char addr[112];		/* unix:path=DIR/bus */
	pid_t pid;		/* 0 while stopped */
};

/*
 * Makes the folder and DIR/bus.conf: the system-bus defaults followed by
 * @policy (XML for inside <busconfig>, or NULL). Nothing runs yet.
 */
int th_bus_init(struct th_bus *b, const char *tag, const char *policy);
/*
 * Starts dbus-daemon (its output in DIR/dbus.log) and waits up to 10 s for
 * its socket. -ECHILD when it exited, -ETIMEDOUT, other -errno.
 */
int th_bus_start(struct th_bus *b);
/* SIGTERM, wait up to 10 s, then SIGKILL. */
void th_bus_stop(struct th_bus *b);
/* Stops it and removes the folder (see th_dir_remove()). */
int th_bus_cleanup(struct th_bus *b);

#endif /* AC_TEST_TH_BUS_H */
