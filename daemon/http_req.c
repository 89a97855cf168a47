/* SPDX-License-Identifier: MIT */
#include <string.h>
#include <strings.h>

#include "http_req.h"

size_t http_req_head_end(const char *buf, size_t len)
{
	size_t i;

	for (i = 3; i < len; i++)
		if (buf[i - 3] == '\r' && buf[i - 2] == '\n' && buf[i - 1] == '\r' &&
		    buf[i] == '\n')
			return i + 1;
	return 0;
}

/* RFC 9110 tchar: the characters of a method or a header name. */
static bool tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Visible ASCII, space and tab: what a header value may hold. */
static bool vchar_or_ws(char c)
{
	return c == ' ' || c == '\t' || ((unsigned char)c > 0x20 && (unsigned char)c < 0x7f);
}

/* The line starting at @p (before @end) ends in CRLF: its length, or -1. */
static long line_len(const char *p, const char *end)
{
	const char *q;

	for (q = p; q < end; q++) {
		if (*q == '\r')
			return q + 1 < end && q[1] == '\n' ? q - p : -1;
		if (*q == '\n' || *q == '\0')
			return -1;	/* a bare LF or a NUL: not HTTP */
	}
	return -1;
}

#define FAIL(status, reason)		\
	do {				\
		*why = (reason);	\
		return (status);	\
	} while (0)

static int parse_request_line(const char *p, long n, struct http_req *req, const char **why)
{
	const char *sp1, *sp2, *end = p + n, *q;
	size_t plen;

	sp1 = memchr(p, ' ', (size_t)n);
	if (!sp1 || sp1 == p)
		FAIL(400, "no method");
	for (q = p; q < sp1; q++)
		if (!tchar(*q))
			FAIL(400, "bad method");
	sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
	if (!sp2 || sp2 == sp1 + 1)
		FAIL(400, "no request target");
	if (memchr(sp2 + 1, ' ', (size_t)(end - sp2 - 1)))
		FAIL(400, "extra space in the request line");
	if (end - sp2 - 1 == 8 && memcmp(sp2 + 1, "HTTP/1.1", 8) == 0)
		req->http10 = false;
	else if (end - sp2 - 1 == 8 && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0)
		req->http10 = true;
	else if (end - sp2 - 1 == 8 && memcmp(sp2 + 1, "HTTP/", 5) == 0 &&
		 sp2[6] >= '0' && sp2[6] <= '9' && sp2[7] == '.' && sp2[8] >= '0' && sp2[8] <= '9')
		FAIL(505, "HTTP version not supported");
	else
		FAIL(400, "bad HTTP version");
	if (sp1 - p == 3 && memcmp(p, "GET", 3) == 0)
		req->head = false;
	else if (sp1 - p == 4 && memcmp(p, "HEAD", 4) == 0)
		req->head = true;
	else
		FAIL(405, "only GET and HEAD");
	/* origin-form only: a path, then an optional query that is ignored. */
	if (sp1[1] != '/')
		FAIL(400, "the target is not an absolute path");
	for (q = sp1 + 1; q < sp2; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f || *q == '#')
			FAIL(400, "bad character in the target");
	q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
	plen = (size_t)((q ? q : sp2) - (sp1 + 1));
	if (plen >= sizeof(req->path))
		FAIL(414, "target too long");
	memcpy(req->path, sp1 + 1, plen);
	req->path[plen] = '\0';
	return 0;
}

/* Whether the comma-separated @v (@n bytes) lists the OpenMetrics type. */
static bool accepts_openmetrics(const char *v, size_t n)
{
	static const char type[] = "application/openmetrics-text";
	size_t i;

	for (i = 0; i + sizeof(type) - 1 <= n; i++)
		if (strncasecmp(v + i, type, sizeof(type) - 1) == 0)
			return true;
	return false;
}

int http_req_parse(const char *buf, size_t len, struct http_req *req, const char **why)
{
	const char *p = buf, *end = buf + len, *colon, *v, *ve;
	unsigned int nheaders = 0, nhost = 0;
	long n;
	int r;

	memset(req, 0, sizeof(*req));
	*why = "";
	n = line_len(p, end);
	if (n <= 0)
		FAIL(400, "bad request line");
	r = parse_request_line(p, n, req, why);
	if (r)
		return r;
	p += n + 2;
	for (;;) {
		n = line_len(p, end);
		if (n < 0)
			FAIL(400, "a header line does not end in CRLF");
		if (n == 0)
			break;
		if (++nheaders > HTTP_REQ_MAX_HEADERS)
			FAIL(431, "too many header fields");
		if (*p == ' ' || *p == '\t')
			FAIL(400, "obsolete line folding");
		colon = memchr(p, ':', (size_t)n);
		if (!colon || colon == p)
			FAIL(400, "a header line without a name");
		for (v = p; v < colon; v++)
			if (!tchar(*v))
				FAIL(400, "bad header name");
		for (v = colon + 1; v < p + n; v++)
			if (!vchar_or_ws(*v))
				FAIL(400, "bad character in a header value");
		v = colon + 1;
		ve = p + n;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		if (colon - p == 4 && strncasecmp(p, "Host", 4) == 0)
			nhost++;
		else if (colon - p == 6 && strncasecmp(p, "Accept", 6) == 0)
			req->openmetrics |= accepts_openmetrics(v, (size_t)(ve - v));
		else if (colon - p == 17 && strncasecmp(p, "Transfer-Encoding", 17) == 0)
			FAIL(501, "a scrape has no body");
		else if (colon - p == 14 && strncasecmp(p, "Content-Length", 14) == 0 &&
			 !(ve - v == 1 && *v == '0'))
			FAIL(413, "a scrape has no body");
		p += n + 2;
	}
	if (p + 2 != end)
		FAIL(400, "bytes after the head");
	/* RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one in 1.0. */
	if ((!req->http10 && nhost != 1) || nhost > 1)
		FAIL(400, "Host missing or repeated");
	return 0;
}
