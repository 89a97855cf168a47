/* SPDX-License-Identifier: MIT */
/*
 * The one kind of HTTP request the daemon answers: a scrape, GET (or HEAD)
 * of one path, HTTP/1.1 or 1.0, no body. Strict on purpose: the endpoint
 * is for Prometheus and curl, so anything they would not send is refused
 * with the status RFC 9110/9112 names, never guessed at.
 */
#ifndef AC_DAEMON_HTTP_REQ_H
#define AC_DAEMON_HTTP_REQ_H

#include <stdbool.h>
#include <stddef.h>

/* The largest request head read; a longer one is 431. */
#define HTTP_REQ_MAX		8192
#define HTTP_REQ_MAX_HEADERS	64

struct http_req {
	bool head;		/* HEAD: the same answer without the body */
	bool http10;
	bool openmetrics;	/* Accept names application/openmetrics-text */
	char path[256];		/* the target's path, without the query */
};

/*
 * Where the head ends in @buf (@len bytes read so far): the offset just
 * past the blank line, 0 when more is needed.
 */
size_t http_req_head_end(const char *buf, size_t len);

/*
 * Parses the head @buf[0..@len) (ending with the blank line). Returns 0
 * and fills @req, or the HTTP status to answer with (400 malformed, 405
 * method, 413 or 501 a body, 414 target too long, 431 too many headers,
 * 505 version) and a short reason in @why.
 */
int http_req_parse(const char *buf, size_t len, struct http_req *req,
		   const char **why);

#endif /* AC_DAEMON_HTTP_REQ_H */
