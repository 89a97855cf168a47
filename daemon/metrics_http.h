/* SPDX-License-Identifier: MIT */
/*
 * GET /metrics over HTTP/1.1 on [metrics] listen (off when empty), served
 * from the daemon's event loop: one answer per connection, then close.
 * Bounded: at most METRICS_HTTP_MAX_CONNS connections at once (more are
 * closed at accept), a head of at most HTTP_REQ_MAX bytes, and
 * METRICS_HTTP_TIMEOUT_S seconds from accept to the last byte sent.
 */
#ifndef AC_DAEMON_METRICS_HTTP_H
#define AC_DAEMON_METRICS_HTTP_H

#include <sys/socket.h>

struct daemon;
struct metrics_http;

#define METRICS_HTTP_MAX_CONNS	16
#define METRICS_HTTP_TIMEOUT_S	10
/* The port a bare "PORT" or "localhost:PORT" listens on is on 127.0.0.1. */
#define METRICS_DEFAULT_HOST	"127.0.0.1"

/*
 * Parses [metrics] listen: "PORT", "localhost:PORT", "A.B.C.D:PORT" or
 * "[V6]:PORT", PORT 0..65535 (0: the kernel picks one; the daemon logs
 * it). 0 or -EINVAL with the reason in @why.
 */
int metrics_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len,
		       const char **why);

/*
 * Starts serving when d->cfg.metrics_listen is set (*ret NULL otherwise)
 * and makes d->metrics; after daemon_start(), as the bus. 0 or -errno,
 * logged.
 */
int metrics_http_start(struct daemon *d, struct metrics_http **ret);
/* Closes every connection and the socket, frees d->metrics. NULL: nothing. */
void metrics_http_stop(struct daemon *d, struct metrics_http *h);

#endif /* AC_DAEMON_METRICS_HTTP_H */
