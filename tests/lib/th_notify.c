/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "th_notify.h"

struct th_notify {
	int fd;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool running;
	char **msgs;
	size_t n;
	size_t cursor;
};

static bool still_running(struct th_notify *n)
{
	bool r;

	pthread_mutex_lock(&n->mu);
	r = n->running;
	pthread_mutex_unlock(&n->mu);
	return r;
}

static void *reader(void *userdata)
{
	struct th_notify *n = userdata;

	/* Polls in short steps so that th_notify_close() needs no signal. */
	while (still_running(n)) {
		struct pollfd p = { .fd = n->fd, .events = POLLIN };
		char msg[1024], **v;
		ssize_t len;

		if (poll(&p, 1, 50) <= 0)
			continue;
		len = recv(n->fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);
		if (len <= 0)
			continue;
		msg[len] = '\0';
		pthread_mutex_lock(&n->mu);
		v = realloc(n->msgs, (n->n + 1) * sizeof(*v));
		if (v) {
			n->msgs = v;
			v[n->n] = strdup(msg);
			if (v[n->n])
				n->n++;
		}
		pthread_cond_broadcast(&n->cv);
		pthread_mutex_unlock(&n->mu);
	}
	return NULL;
}

int th_notify_open(struct th_notify **ret, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct th_notify *n;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (n->fd < 0) {
		r = -errno;
		goto fail;
	}
	strcpy(sa.sun_path, path);
	if (bind(n->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		goto fail_fd;
	}
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cv, NULL);
	n->running = true;
	r = -pthread_create(&n->thread, NULL, reader, n);
	if (r < 0)
		goto fail_sync;
	*ret = n;
	return 0;
fail_sync:
	pthread_cond_destroy(&n->cv);
	pthread_mutex_destroy(&n->mu);
fail_fd:
	close(n->fd);
fail:
	free(n);
	return r;
}

int th_notify_wait(struct th_notify *n, const char *needle, int want,
		   int timeout_ms, char *buf, size_t len)
{
	struct timespec end;
	int seen = 0;

	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += timeout_ms / 1000;
	end.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&n->mu);
	while (seen < want) {
		if (n->cursor < n->n) {
			const char *msg = n->msgs[n->cursor++];

			if (strstr(msg, needle)) {
				seen++;
				if (buf && len)
					snprintf(buf, len, "%s", msg);
			}
			continue;
		}
		if (pthread_cond_timedwait(&n->cv, &n->mu, &end) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&n->mu);
	return seen;
}

void th_notify_close(struct th_notify *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->mu);
	n->running = false;
	pthread_mutex_unlock(&n->mu);
	pthread_join(n->thread, NULL);
	while (n->n)
		free(n->msgs[--n->n]);
	free(n->msgs);
	pthread_cond_destroy(&n->cv);
	pthread_mutex_destroy(&n->mu);
	close(n->fd);
	free(n);
}
