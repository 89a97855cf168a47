/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "rundir.h"

int rundir_ensure(const char *socket_path, mode_t mode, bool have_group, gid_t gid)
{
	char dir[PATH_MAX];
	struct stat st;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", socket_path);
	slash = strrchr(dir, '/');
	/* A socket in the working directory or in / has nothing to make. */
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return log_error_errno(-ENOTDIR, "%s, the socket's folder, is not a folder",
					       dir);
		return 0;
	}
	if (errno != ENOENT)
		return log_error_errno(-errno, "%s: %m", dir);
	if (mkdir(dir, 0700) < 0) {
		if (errno == ENOENT)
			return log_error_errno(-ENOENT,
					       "cannot make %s for the socket: its parent folder does not exist",
					       dir);
		return log_error_errno(-errno, "cannot make %s for the socket: %m", dir);
	}
	/* Born owner-only; group and mode after, as the socket itself is. */
	if ((have_group && chown(dir, (uid_t)-1, gid) < 0) || chmod(dir, mode) < 0) {
		int r = -errno;

		rmdir(dir);
		return log_error_errno(r, "cannot give %s mode %03o: %m", dir, (unsigned int)mode);
	}
	log_notice("made %s for the socket (mode %03o, owner %d, group %d)", dir,
		   (unsigned int)mode, (int)geteuid(), have_group ? (int)gid : (int)getegid());
	return 0;
}
