/* SPDX-License-Identifier: MIT */
/*
 * The folder the control socket lives in (/run/asymcache by default).
 * Under systemd, tmpfiles.d makes it at boot; without systemd (a container,
 * an install without recommends) nothing does, so the daemon makes it.
 */
#ifndef AC_DAEMON_RUNDIR_H
#define AC_DAEMON_RUNDIR_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * Makes the folder of @socket_path when it is missing: mode @mode, owned
 * by the daemon's user and by group @gid when @have_group (so that with a
 * mode like 0750 the pool's group can still reach the socket). Only the
 * last component is made: a missing parent is an error that names it. An
 * existing folder is left as it is, whoever made it. 0 or -errno, logged.
 */
int rundir_ensure(const char *socket_path, mode_t mode, bool have_group, gid_t gid);

#endif /* AC_DAEMON_RUNDIR_H */
