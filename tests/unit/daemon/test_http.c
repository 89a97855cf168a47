/* SPDX-License-Identifier: MIT */
/*
 * The scrape endpoint's request parser: what Prometheus and curl send is
 * taken, everything else gets the status HTTP names for it.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "http_req.h"

static int parse(const char *text, struct http_req *req, const char **why)
{
	size_t len = strlen(text);

	cr_assert_eq(http_req_head_end(text, len), len, "not one whole head: %s", text);
	return http_req_parse(text, len, req, why);
}

Test(http, scrapes_parse)
{
	struct http_req req;
	const char *why;

	cr_assert_eq(parse("GET /metrics HTTP/1.1\r\nHost: localhost:9464\r\n"
			   "User-Agent: Prometheus/2.42.0\r\nAccept: application/openmetrics-text;"
			   "version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n"
			   "Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n",
			   &req, &why), 0, "%s", why);
	cr_expect_str_eq(req.path, "/metrics");
	cr_expect(req.openmetrics);
	cr_expect(!req.head && !req.http10);

	cr_assert_eq(parse("GET /metrics?x=1 HTTP/1.1\r\nhost:a\r\naccept: */*\r\n\r\n", &req,
			   &why), 0, "%s", why);
	cr_expect_str_eq(req.path, "/metrics");
	cr_expect(!req.openmetrics);
	cr_assert_eq(parse("HEAD /metrics HTTP/1.0\r\n\r\n", &req, &why), 0, "%s", why);
	cr_expect(req.head && req.http10);
	cr_assert_eq(parse("GET /other HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &req,
			   &why), 0, "%s", why);
	cr_expect_str_eq(req.path, "/other");
}

Test(http, bad_requests_get_their_status)
{
	static const struct {
		const char *text;
		int status;
	} cases[] = {
		{ "POST /metrics HTTP/1.1\r\nHost: a\r\n\r\n", 405 },
		{ "DELETE /metrics HTTP/1.1\r\nHost: a\r\n\r\n", 405 },
		{ "get /metrics HTTP/1.1\r\nHost: a\r\n\r\n", 405 },
		{ "GET /metrics HTTP/2.0\r\nHost: a\r\n\r\n", 505 },
		{ "GET /metrics HTTP/1.1\r\n\r\n", 400 },			/* no Host */
		{ "GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400 },
		{ "GET /metrics HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400 },
		{ "GET /metrics HTTP/1.1\r\n Host: a\r\n\r\n", 400 },	/* folding */
		{ "GET /metrics HTTP/1.1\r\nHost: a\r\n\tx\r\n\r\n", 400 },
		{ "GET /metrics HTTP/1.1\r\nHost a\r\n\r\n", 400 },	/* no colon */
		{ "GET /metrics HTTP/1.1\r\n: a\r\n\r\n", 400 },		/* no name */
		{ "GET /metrics HTTP/1.1\r\nHo st: a\r\n\r\n", 400 },
		{ "GET /metrics HTTP/1.1\r\nHost: a\001\r\n\r\n", 400 },
		{ "GET /metrics HTTP/1.1\nHost: a\r\n\r\n", 400 },	/* bare LF */
		{ "GET /metrics HTTP/1.1\r\nHost: a\n\r\n\r\n", 400 },
		{ "GET  /metrics HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
		{ "GET /metrics  HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
		{ "GET /metrics HTTP/1.1 \r\nHost: a\r\n\r\n", 400 },
		{ "GET metrics HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
		{ "GET http://a/metrics HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
		{ "GET /met#rics HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
		{ "GET /metrics\r\nHost: a\r\n\r\n", 400 },		/* HTTP/0.9 */
		{ "GET /metrics HTTP/1.x\r\nHost: a\r\n\r\n", 400 },
		{ "GET /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", 413 },
		{ "GET /metrics HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501 },
		{ "\r\n\r\n", 400 },
	};
	struct http_req req;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st = parse(cases[i].text, &req, &why);

		cr_expect_eq(st, cases[i].status, "case %zu: %d (%s), want %d", i, st, why,
			     cases[i].status);
		cr_expect(st == 0 || *why, "case %zu: no reason", i);
	}
}

Test(http, limits)
{
	char buf[HTTP_REQ_MAX * 2], path[400];
	struct http_req req;
	const char *why;
	int i, n;

	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	n = snprintf(buf, sizeof(buf), "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n", path);
	cr_expect_eq(http_req_parse(buf, (size_t)n, &req, &why), 414);

	n = snprintf(buf, sizeof(buf), "GET /metrics HTTP/1.1\r\nHost: a\r\n");
	for (i = 0; i < HTTP_REQ_MAX_HEADERS; i++)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "X-%d: 1\r\n", i);
	n += snprintf(buf + n, sizeof(buf) - (size_t)n, "\r\n");
	cr_expect_eq(http_req_parse(buf, (size_t)n, &req, &why), 431);

	/* A NUL inside the head is not HTTP. */
	memcpy(buf, "GET /metrics HTTP/1.1\r\nHost: \0\r\n\r\n", 35);
	cr_expect_eq(http_req_parse(buf, 35, &req, &why), 400);
	/* Where the head ends, and only there. */
	cr_expect_eq(http_req_head_end("GET / HTTP/1.1\r\nHost: a\r\n", 25), 0);
	cr_expect_eq(http_req_head_end("GET / HTTP/1.1\r\n\r\nxyz", 21), 18);
	cr_expect_eq(http_req_head_end("\n\n\n\n", 4), 0);
}
