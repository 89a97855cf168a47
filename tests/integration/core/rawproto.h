/* SPDX-License-Identifier: MIT */
/*
 * Raw protobuf requests for the suites that talk to asymcached past
 * libclient on purpose (to send what the library would refuse).
 */
#ifndef AC_TEST_RAWPROTO_H
#define AC_TEST_RAWPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "asymcache.pb-c.h"

/* Give @req a fresh id, pack it into malloc()ed *@out; returns its length. */
size_t traw_pack(Asymcache__V1__Request *req, uint8_t **out);
/*
 * Send @req (fresh id) and return the parsed reply, NULL when the session
 * closed or the reply does not parse. Asserts the send worked and that
 * the daemon answered within 5 s.
 */
Asymcache__V1__Response *traw_call(int fd, Asymcache__V1__Request *req);
/* Connect to @sock and say Hello; asserts a Hello reply. Returns the fd. */
int traw_hello(const char *sock);

#endif /* AC_TEST_RAWPROTO_H */
