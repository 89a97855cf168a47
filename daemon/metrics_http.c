/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "http_req.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "metrics_http.h"

struct conn {
	struct metrics_http *h;
	struct conn *next, **pprev;
	struct loop_watch *w;
	int fd;
	uint64_t deadline_s;
	char in[HTTP_REQ_MAX];
	size_t inlen;
	char *out;		/* NULL while the request is read */
	size_t outlen, outoff;
};

struct metrics_http {
	struct daemon *d;
	int fd;
	struct loop_watch *w;
	struct loop_timer *timer;
	struct conn *conns;
	unsigned int nconns;
};

static uint64_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

int metrics_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len,
		       const char **why)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char host[64];
	const char *port;
	unsigned long p;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host)) {
			*why = "an IPv6 address is written [ADDR]:PORT";
			return -EINVAL;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(close - s - 1), s + 1);
		port = close + 2;
	} else if ((port = strrchr(s, ':'))) {
		if ((size_t)(port - s) >= sizeof(host)) {
			*why = "host too long";
			return -EINVAL;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(port - s), s);
		port++;
	} else {
		snprintf(host, sizeof(host), "%s", METRICS_DEFAULT_HOST);
		port = s;
	}
	if (port[0] < '0' || port[0] > '9') {
		*why = "no port (PORT, HOST:PORT or [V6]:PORT)";
		return -EINVAL;
	}
	errno = 0;
	p = strtoul(port, &end, 10);
	if (errno || *end || p > 65535) {
		*why = "the port is not a number from 0 to 65535";
		return -EINVAL;
	}
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "%s", METRICS_DEFAULT_HOST);
	if (s[0] != '[' && inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)p);
		*len = sizeof(*in4);
		return 0;
	}
	if (s[0] == '[' && inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*in6);
		return 0;
	}
	*why = "not an IPv4 address, [IPv6] address or localhost (no name lookups)";
	return -EINVAL;
}

static void conn_free(struct conn *c, bool remove_watch)
{
	if (remove_watch && c->w)
		loop_remove_watch(c->w);
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	c->h->nconns--;
	close(c->fd);
	free(c->out);
	free(c);
}

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	default: return "Internal Server Error";
	}
}

/* The whole answer into c->out: head, and the body unless @head_only. */
static int respond(struct conn *c, int status, const char *type, const char *body,
		   size_t blen, bool head_only)
{
	FILE *f = open_memstream(&c->out, &c->outlen);

	if (!f)
		return -ENOMEM;
	fprintf(f, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		"%sConnection: close\r\n\r\n", status, status_text(status), type, blen,
		status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (!head_only)
		fwrite(body, 1, blen, f);
	if (fclose(f) != 0) {
		free(c->out);
		c->out = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int respond_error(struct conn *c, int status, const char *why, bool head_only)
{
	char body[160];
	int n = snprintf(body, sizeof(body), "%d %s: %s\n", status, status_text(status), why);

	return respond(c, status, "text/plain; charset=utf-8", body, (size_t)n, head_only);
}

static int answer(struct conn *c, size_t head_len)
{
	struct daemon *d = c->h->d;
	struct http_req req;
	const char *why;
	char *body = NULL;
	size_t blen = 0;
	FILE *f;
	int status, r;

	status = http_req_parse(c->in, head_len, &req, &why);
	if (status)
		return respond_error(c, status, why, false);
	if (strcmp(req.path, "/metrics") != 0)
		return respond_error(c, 404, "only /metrics is served here", req.head);
	f = open_memstream(&body, &blen);
	if (!f)
		return -ENOMEM;
	r = metrics_render(d->metrics, d, req.openmetrics, f);
	if (fclose(f) != 0 || r < 0) {
		free(body);
		return respond_error(c, 500, "cannot render the metrics", req.head);
	}
	r = respond(c, 200, req.openmetrics ?
		    "application/openmetrics-text; version=1.0.0; charset=utf-8" :
		    "text/plain; version=0.0.4; charset=utf-8", body, blen, req.head);
	free(body);
	return r;
}

static int on_conn(struct loop_watch *w, uint32_t revents, void *userdata)
{
	struct conn *c = userdata;
	size_t end;
	ssize_t n;

	if (!c->out) {
		n = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return POLLIN;
		if (n <= 0)
			goto done;
		c->inlen += (size_t)n;
		end = http_req_head_end(c->in, c->inlen);
		if (end && end != c->inlen) {
			/* A pipelined request or a body: one answer per connection. */
			if (respond_error(c, 400, "bytes after the head", false) < 0)
				goto done;
		} else if (end) {
			if (answer(c, end) < 0)
				goto done;
		} else if (c->inlen == sizeof(c->in)) {
			if (respond_error(c, 431, "the request head is too long", false) < 0)
				goto done;
		} else {
			return POLLIN;
		}
	}
	while (c->outoff < c->outlen) {
		n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return POLLOUT;
		if (n <= 0)
			goto done;
		c->outoff += (size_t)n;
	}
done:
	/* Returning 0 ends the watch: the loop frees it. */
	c->w = NULL;
	conn_free(c, false);
	return 0;
}

static int on_accept(struct loop_watch *w, uint32_t revents, void *userdata)
{
	struct metrics_http *h = userdata;
	struct conn *c;
	int fd, r;

	for (;;) {
		fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		if (h->nconns >= METRICS_HTTP_MAX_CONNS || !(c = calloc(1, sizeof(*c)))) {
			close(fd);
			continue;
		}
		c->h = h;
		c->fd = fd;
		c->deadline_s = mono_s() + METRICS_HTTP_TIMEOUT_S;
		c->next = h->conns;
		if (c->next)
			c->next->pprev = &c->next;
		c->pprev = &h->conns;
		h->conns = c;
		h->nconns++;
		r = loop_watch_new(h->d->loop, fd, POLLIN, on_conn, c, &c->w);
		if (r < 0) {
			c->w = NULL;
			conn_free(c, false);
		}
	}
	/* EMFILE and the like: the listen queue waits for the next event. */
	return POLLIN;
}

/* A connection that has not finished in time is closed. */
static int on_tick(struct loop_timer *t, void *userdata)
{
	struct metrics_http *h = userdata;
	uint64_t now = mono_s();
	struct conn *c, *next;

	for (c = h->conns; c; c = next) {
		next = c->next;
		if (now >= c->deadline_s)
			conn_free(c, true);
	}
	return 0;
}

int metrics_http_start(struct daemon *d, struct metrics_http **ret)
{
	struct sockaddr_storage ss, bound;
	socklen_t len, blen = sizeof(bound);
	struct metrics_http *h;
	char host[INET6_ADDRSTRLEN];
	const char *why;
	int one = 1, r;

	*ret = NULL;
	if (!d->cfg.metrics_listen[0])
		return 0;
	r = metrics_addr_parse(d->cfg.metrics_listen, &ss, &len, &why);
	if (r < 0)
		return log_error_errno(r, "[metrics] listen: %s", why);
	h = calloc(1, sizeof(*h));
	if (!h)
		return log_error_errno(-ENOMEM, "metrics: out of memory");
	h->d = d;
	h->fd = -1;
	h->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->fd < 0) {
		r = log_error_errno(-errno, "metrics: socket: %m");
		goto fail;
	}
	setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(h->fd, (struct sockaddr *)&ss, len) < 0) {
		r = log_error_errno(-errno, "metrics: bind %s: %m", d->cfg.metrics_listen);
		goto fail;
	}
	if (listen(h->fd, METRICS_HTTP_MAX_CONNS) < 0 ||
	    getsockname(h->fd, (struct sockaddr *)&bound, &blen) < 0) {
		r = log_error_errno(-errno, "metrics: listen %s: %m", d->cfg.metrics_listen);
		goto fail;
	}
	r = loop_watch_new(d->loop, h->fd, POLLIN, on_accept, h, &h->w);
	if (r >= 0)
		r = loop_timer_new(d->loop, 1000000000ULL, on_tick, h, &h->timer);
	if (r < 0) {
		log_error_errno(r, "metrics: %m");
		goto fail;
	}
	if (bound.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&bound)->sin6_addr, host, sizeof(host));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&bound)->sin_addr, host, sizeof(host));
	log_notice("metrics on http://%s%s%s:%u/metrics", bound.ss_family == AF_INET6 ? "[" : "",
		   host, bound.ss_family == AF_INET6 ? "]" : "",
		   ntohs(((struct sockaddr_in *)&bound)->sin_port));
	*ret = h;
	return 0;
fail:
	metrics_http_stop(d, h);
	return r;
}

void metrics_http_stop(struct daemon *d, struct metrics_http *h)
{
	if (h) {
		while (h->conns)
			conn_free(h->conns, true);
		if (h->w)
			loop_remove_watch(h->w);
		if (h->timer)
			loop_remove_timer(h->timer);
		if (h->fd >= 0)
			close(h->fd);
		free(h);
	}
}
