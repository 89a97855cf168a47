/* SPDX-License-Identifier: MIT */
/*
 * A client session: one connected socket, its pins and WRITING blocks,
 * and the one receive or one send it has in flight on the loop. Sessions
 * know nothing of the protocol: a received packet goes to the daemon's
 * session_ops, which answer it into the session's send buffer.
 */
#ifndef AC_DAEMON_SESSION_H
#define AC_DAEMON_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "cache.h"
#include "loop.h"

struct daemon;

#define SESSION_NAME_MAX 64

struct session_retention {
	uint64_t handle;	/* as on the wire: soft ones carry RETAIN_SOFT */
	uint64_t expire_ns;
	uint64_t start_ns;
	uint32_t program;	/* for learning what its calls take */
	uint32_t expect_ms;	/* 0: undeclared */
};

struct session {
	struct daemon *d;
	struct session *prev, *next;
	struct session *hello_prev, *hello_next;	/* d->hello_head */
	bool on_hello_list;
	struct cache_sess cs;		/* pins and WRITING blocks, pool 0 */
	struct cache_sess *xcs;		/* the same in pools 1..npools-1 */
	uint64_t id;
	int fd;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool allowed;			/* peer may attach some pool */
	bool hello_done;
	uint32_t pools_ok;		/* bit n: may attach pool n */
	uint32_t attached;		/* bit n: pool n attached */
	bool closing;			/* close once the last op completes */
	bool recv_armed;
	bool send_armed;
	char name[SESSION_NAME_MAX + 1];
	uint64_t requests;
	uint64_t connected_ns;

	/* TTL retentions (retention.c); slot 0 = never retained. */
	uint32_t retain_slot;
	struct session_retention *rets;
	uint32_t nrets, retcap;
	uint64_t sched_ns;		/* last Schedule, for the fair share */

	/* Namespaces this session registered (nslife.c). */
	uint32_t *ns_regs;
	uint32_t nns_regs, ns_regs_cap;

	struct loop_op op_recv, op_send;
	uint8_t *rbuf;			/* max_packet + 1: detects oversize */
	size_t rbuf_size;
	struct iovec riov;
	struct msghdr rmsg;

	uint8_t *sbuf;			/* packed Response */
	size_t sbuf_cap;
	size_t slen;
	int send_fd;			/* SCM_RIGHTS payload or -1 */
	struct iovec siov;
	struct msghdr smsg;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
};

/*
 * What sessions call above themselves, set by daemon_core_init(): the
 * protocol and the retentions sit on top of sessions, not inside them.
 */
struct session_ops {
	/*
	 * Answers one packet into s->sbuf (see dispatch_packet()); < 0
	 * closes the session without an answer.
	 */
	int (*packet)(struct daemon *d, struct session *s, const uint8_t *pkt,
		      size_t len, bool truncated);
	/* Runs before the session's pins are released. */
	void (*closing)(struct daemon *d, struct session *s);
	/*
	 * Packs an unsolicited Error{@err, @msg} (request id 0) into @buf for
	 * a peer refused at accept; its length, or 0 when it does not fit.
	 */
	size_t (*refusal)(int err, const char *msg, uint8_t *buf, size_t cap);
};

/* @s's footprint in pool @pool (< the daemon's npools). */
static inline struct cache_sess *session_cs(struct session *s, uint32_t pool)
{
	return pool ? &s->xcs[pool - 1] : &s->cs;
}

/* Hello said: the session leaves the Hello deadline's list. */
void session_hello_done(struct session *s);

/* A session not bound to a socket (fuzzer, tests); fd -1. */
struct session *session_new(struct daemon *d, int fd, pid_t pid, uid_t uid,
			    gid_t gid);
/* Releases pins and WRITING blocks and frees (closes fd if >= 0). */
void session_free(struct session *s);

/*
 * Takes a connected socket from the listener: checks the peer and the
 * session limit, then starts reading requests. Closes @fd when refused.
 */
void session_accept(struct daemon *d, int fd);
/*
 * For a stop: each waiting receive ends (a request already sent is still
 * answered), answers in flight are sent, and every session closes after
 * its last answer; sessions without a socket close now.
 */
void session_drain_all(struct daemon *d);

#endif /* AC_DAEMON_SESSION_H */
