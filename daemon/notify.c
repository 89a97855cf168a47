/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "notify.h"

int daemon_notify(const char *msg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *e = getenv("NOTIFY_SOCKET");
	socklen_t len;
	size_t n;
	int fd, r;

	if (!e || (e[0] != '/' && e[0] != '@'))
		return 0;
	n = strlen(e);
	if (n >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, e, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';	/* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	r = (int)sendto(fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL,
			(struct sockaddr *)&sa, len);
	r = r < 0 ? (errno == EAGAIN ? 0 : -errno) : 1;
	close(fd);
	return r;
}

void daemon_notify_status(struct daemon *d)
{
	const struct cache *c = &d->pools[0].cache;
	char msg[256];

	snprintf(msg, sizeof(msg),
		 "STATUS=%u sessions; blocks: %u free, %u writing, %u cached (%u pinned); policy %s",
		 d->nsessions, c->nfree, c->nwriting, c->ncached, c->npinned,
		 cache_policy_name(c));
	daemon_notify(msg);
}
