/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "rawproto.h"
#include "th_proto.h"

/* One id sequence for all raw sessions of a test binary, like libclient's. */
static uint64_t next_id;
/* Large enough for any reply to a request a test can build. */
static uint8_t rxbuf[2 << 20];

size_t traw_pack(Asymcache__V1__Request *req, uint8_t **out)
{
	size_t len;

	req->id = ++next_id;
	len = asymcache__v1__request__get_packed_size(req);
	/* +1: an empty request still gets a buffer to send from. */
	*out = malloc(len + 1);
	cr_assert_not_null(*out);
	asymcache__v1__request__pack(req, *out);
	return len;
}

Asymcache__V1__Response *traw_call(int fd, Asymcache__V1__Request *req)
{
	uint8_t *buf;
	size_t len = traw_pack(req, &buf);
	ssize_t n;
	int r;

	r = th_send(fd, buf, len);
	free(buf);
	cr_assert_eq(r, 0, "send: %s", strerror(-r));
	n = th_recv(fd, rxbuf, sizeof(rxbuf), 5000, NULL);
	cr_assert_neq(n, -ETIMEDOUT, "daemon did not answer in 5 s");
	if (n <= 0)
		return NULL;
	return asymcache__v1__response__unpack(NULL, (size_t)n, rxbuf);
}

int traw_hello(const char *sock)
{
	Asymcache__V1__Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Hello h;
	Asymcache__V1__Response *resp;
	int fd = th_connect(sock);

	cr_assert_geq(fd, 0);
	th_proto_hello(&req, &h, 1, "raw");
	resp = traw_call(fd, &req);
	cr_assert_not_null(resp);
	cr_assert_eq(resp->body_case, ASYMCACHE__V1__RESPONSE__BODY_HELLO);
	asymcache__v1__response__free_unpacked(resp, NULL);
	return fd;
}
