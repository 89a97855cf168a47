/* SPDX-License-Identifier: MIT */
/*
 * Protocol v1 on the daemon's side: one Request packet in, one Response
 * packet out (proto/asymcache.proto).
 */
#ifndef AC_DAEMON_DISPATCH_H
#define AC_DAEMON_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct daemon;
struct session;

/*
 * Decodes one packet, runs it and leaves the packed Response in s->sbuf
 * (s->slen bytes, s->send_fd for SCM_RIGHTS). Returns 0 when there is a
 * response to send (s->closing may be set to close after sending it), or
 * -EBADMSG when the packet could not be parsed: close without an answer.
 * @truncated: the packet was larger than max_packet.
 */
/* session_ops.refusal: Error{@err, @msg} with request id 0 into @buf. */
size_t dispatch_pack_refusal(int err, const char *msg, uint8_t *buf,
			     size_t cap);

int dispatch_packet(struct daemon *d, struct session *s, const uint8_t *pkt,
		    size_t len, bool truncated);

#endif /* AC_DAEMON_DISPATCH_H */
