/* SPDX-License-Identifier: MIT */
/*
 * Sessions (session.h). Per session at most one recvmsg or one sendmsg is
 * in flight: a request is read, answered synchronously through
 * session_ops.packet, its response sent, and only then is the next
 * request read. That keeps answers in order and lets each session own
 * exactly one receive and one send buffer.
 */
#include <errno.h>
#include <grp.h>
#include <liburing.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "session.h"

static uint32_t npools(const struct daemon *d)
{
	return d->npools ? d->npools : 1;
}

/*
 * The peer check, per pool: bit n set when the peer may attach pool n:
 * uid 0, the daemon's own uid, or membership (primary or supplementary)
 * in the pool's group ([pool] group for pool 0, [pool.N] group for N).
 */
static uint32_t peer_pools(const struct daemon *d, uid_t uid, gid_t gid)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	gid_t groups[256];
	int n = 0, i;
	uint32_t ok = 0, p;

	/*
	 * The daemon's own user could ptrace it anyway, so admitting it
	 * grants nothing new; it lets tests run an unprivileged daemon.
	 */
	if (uid == 0 || uid == geteuid())
		return (1u << npools(d)) - 1;
	if (!getpwuid_r(uid, &pw, buf, sizeof(buf), &res) && res) {
		n = 256;
		/* More than 256 groups: the check sees the first 256 only. */
		if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
			n = 256;
	}
	for (p = 0; p < npools(d); p++) {
		gid_t want = p ? d->pools[p].gid : d->group_gid;

		if (!p && !d->have_group)
			continue;
		if (gid == want)
			ok |= 1u << p;
		for (i = 0; i < n; i++)
			if (groups[i] == want)
				ok |= 1u << p;
	}
	return ok;
}

static void recv_complete(struct loop_op *op, int res);
static void send_complete(struct loop_op *op, int res);

struct session *session_new(struct daemon *d, int fd, pid_t pid, uid_t uid,
			    gid_t gid)
{
	struct session *s;

	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->rbuf_size = d->cfg.limits.max_packet;
	/*
	 * calloc: large enough to come from fresh (lazily zeroed) pages, so
	 * it costs nothing, and memory checkers that cannot see io_uring's
	 * writes do not flag the received bytes as uninitialised.
	 */
	s->rbuf = calloc(1, s->rbuf_size);
	if (!s->rbuf) {
		free(s);
		return NULL;
	}
	s->d = d;
	s->fd = fd;
	s->pid = pid;
	s->uid = uid;
	s->gid = gid;
	s->id = d->next_session_id++;
	s->send_fd = -1;
	s->pools_ok = peer_pools(d, uid, gid);
	s->allowed = s->pools_ok != 0;
	s->connected_ns = cache_clock_monotonic();
	s->op_recv.complete = recv_complete;
	s->op_send.complete = send_complete;
	if (uidtab_add(&d->uids, uid) < 0) {
		free(s->rbuf);
		free(s);
		return NULL;
	}
	cache_sess_init(&s->cs, s->id);
	s->cs.share = &uidtab_get(&d->uids, uid)->share[0];
	if (npools(d) > 1) {
		s->xcs = calloc(npools(d) - 1, sizeof(*s->xcs));
		if (!s->xcs) {
			uidtab_del(&d->uids, uid);
			free(s->rbuf);
			free(s);
			return NULL;
		}
		for (uint32_t p = 1; p < npools(d); p++) {
			cache_sess_init(&s->xcs[p - 1], s->id);
			s->xcs[p - 1].share = &uidtab_get(&d->uids, uid)->share[p];
		}
	}

	s->next = d->sessions;
	if (d->sessions)
		d->sessions->prev = s;
	d->sessions = s;
	d->nsessions++;
	return s;
}

void session_free(struct session *s)
{
	struct daemon *d;

	if (!s)
		return;
	d = s->d;
	/* Before the pins: a retention needs nothing of the session's. */
	if (d->session_ops)
		d->session_ops->closing(d, s);
	cache_sess_release_all(&d->pools[0].cache, &s->cs);
	pinmap_fini(&s->cs.pins);
	for (uint32_t p = 1; s->xcs && p < npools(d); p++) {
		cache_sess_release_all(&d->pools[p].cache, &s->xcs[p - 1]);
		pinmap_fini(&s->xcs[p - 1].pins);
	}
	free(s->xcs);
	session_hello_done(s);
	uidtab_del(&d->uids, s->uid);
	if (s->prev)
		s->prev->next = s->next;
	else
		d->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	d->nsessions--;
	if (s->fd >= 0)
		close(s->fd);
	free(s->rbuf);
	free(s->sbuf);
	free(s->ns_regs);
	free(s);
}

static void session_maybe_free(struct session *s)
{
	if (!s->closing || s->recv_armed || s->send_armed)
		return;
	log_session(LOG_DEBUG, s->id, s->pid,
		    "session %llu ('%s', pid %d) closed: %llu pins and %u WRITING blocks released",
		    (unsigned long long)s->id, s->name, (int)s->pid,
		    (unsigned long long)s->cs.npins, s->cs.nwriting);
	session_free(s);
}

static void session_close(struct session *s)
{
	s->closing = true;
	if (s->recv_armed)
		loop_cancel(s->d->loop, &s->op_recv);
	/* A send in flight finishes: its answer is owed to the client. */
	session_maybe_free(s);
}

static void session_arm_recv(struct session *s)
{
	struct io_uring_sqe *sqe = loop_get_sqe(s->d->loop);

	if (!sqe) {
		session_close(s);
		return;
	}
	memset(&s->rmsg, 0, sizeof(s->rmsg));
	s->riov.iov_base = s->rbuf;
	s->riov.iov_len = s->rbuf_size;
	s->rmsg.msg_iov = &s->riov;
	s->rmsg.msg_iovlen = 1;
	/*
	 * No control buffer: fds a client might send are dropped by the
	 * kernel. MSG_TRUNC makes the result the real packet length, so an
	 * oversized packet is recognised as such.
	 */
	io_uring_prep_recvmsg(sqe, s->fd, &s->rmsg, MSG_TRUNC);
	io_uring_sqe_set_data(sqe, &s->op_recv);
	s->recv_armed = true;
}

static void session_arm_send(struct session *s)
{
	struct io_uring_sqe *sqe = loop_get_sqe(s->d->loop);
	struct cmsghdr *cm;

	if (!sqe) {
		session_close(s);
		return;
	}
	memset(&s->smsg, 0, sizeof(s->smsg));
	s->siov.iov_base = s->sbuf;
	s->siov.iov_len = s->slen;
	s->smsg.msg_iov = &s->siov;
	s->smsg.msg_iovlen = 1;
	if (s->send_fd >= 0) {
		memset(&s->cbuf, 0, sizeof(s->cbuf));
		s->smsg.msg_control = s->cbuf.buf;
		s->smsg.msg_controllen = sizeof(s->cbuf.buf);
		cm = CMSG_FIRSTHDR(&s->smsg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &s->send_fd, sizeof(int));
	}
	io_uring_prep_sendmsg(sqe, s->fd, &s->smsg, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, &s->op_send);
	s->send_armed = true;
}

static void recv_complete(struct loop_op *op, int res)
{
	struct session *s = loop_op_owner(op, struct session, op_recv);
	int r;

	s->recv_armed = false;
	if (s->closing || res <= 0) {
		if (res < 0 && res != -ECANCELED && res != -ECONNRESET)
			log_debug("session %llu: recvmsg: %s",
				  (unsigned long long)s->id, strerror(-res));
		session_close(s);
		return;
	}
	r = s->d->session_ops->packet(s->d, s, s->rbuf,
				      (size_t)res > s->rbuf_size ?
					      s->rbuf_size : (size_t)res,
				      (size_t)res > s->rbuf_size);
	if (r < 0) {
		log_session(LOG_INFO, s->id, s->pid,
			    "session %llu ('%s', pid %d): %s: closing",
			    (unsigned long long)s->id, s->name, (int)s->pid,
			    r == -EBADMSG ? "unparsable packet" :
					    "cannot build the answer");
		session_close(s);
		return;
	}
	session_arm_send(s);
}

static void send_complete(struct loop_op *op, int res)
{
	struct session *s = loop_op_owner(op, struct session, op_send);

	s->send_armed = false;
	s->send_fd = -1;
	if (res < 0) {
		log_debug("session %llu: sendmsg: %s",
			  (unsigned long long)s->id, strerror(-res));
		session_close(s);
		return;
	}
	if (s->closing || s->d->stopping) {
		session_close(s);
		return;
	}
	session_arm_recv(s);
}

void session_hello_done(struct session *s)
{
	struct daemon *d = s->d;

	if (!s->on_hello_list)
		return;
	if (s->hello_prev)
		s->hello_prev->hello_next = s->hello_next;
	else
		d->hello_head = s->hello_next;
	if (s->hello_next)
		s->hello_next->hello_prev = s->hello_prev;
	else
		d->hello_tail = s->hello_prev;
	s->hello_prev = s->hello_next = NULL;
	s->on_hello_list = false;
}

/*
 * Closes the sessions whose Hello is overdue. The list is in accept order,
 * so only its head is ever looked at: O(1) per session closed.
 */
static int hello_tick(struct loop_timer *t, void *userdata)
{
	struct daemon *d = userdata;
	uint64_t now = cache_clock_monotonic();
	uint64_t limit = (uint64_t)d->cfg.limits.hello_timeout_ms * 1000000ULL;
	struct session *s;

	(void)t;
	while ((s = d->hello_head) && now - s->connected_ns >= limit) {
		session_hello_done(s);
		d->ctr.hello_timeouts++;
		log_session(LOG_DEBUG, s->id, s->pid,
			    "session %llu (pid %d uid %u): no hello within hello_timeout_ms %u: closing",
			    (unsigned long long)s->id, (int)s->pid,
			    (unsigned int)s->uid, d->cfg.limits.hello_timeout_ms);
		session_close(s);
	}
	if (d->hello_head)
		return 0;
	/* Nothing waits: the loop frees the timer; the next accept re-adds. */
	d->hello_timer = NULL;
	return -1;
}

static void hello_wait(struct daemon *d, struct session *s)
{
	uint64_t period = (uint64_t)d->cfg.limits.hello_timeout_ms * 1000000ULL / 4;

	s->hello_prev = d->hello_tail;
	if (d->hello_tail)
		d->hello_tail->hello_next = s;
	else
		d->hello_head = s;
	d->hello_tail = s;
	s->on_hello_list = true;
	if (d->hello_timer || !d->loop)
		return;
	if (period > 250000000ULL)
		period = 250000000ULL;
	/* Without a timer the deadline is not kept; the session still works. */
	if (loop_timer_new(d->loop, period, hello_tick, d, &d->hello_timer) < 0)
		log_warning("cannot arm the hello deadline timer");
}

/*
 * Refuses a peer at accept: an Error with request id 0 (what libasymcache
 * takes as the answer to its Hello), sent without waiting, then close.
 * Logged at most once a second, so a peer reconnecting in a loop cannot
 * flood the log.
 */
static void refuse(struct daemon *d, int fd, const struct ucred *cred,
		   int err, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void refuse(struct daemon *d, int fd, const struct ucred *cred,
		   int err, const char *fmt, ...)
{
	uint64_t now = cache_clock_monotonic();
	uint8_t buf[512];
	char msg[256];
	size_t len = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->ctr.sessions_refused++;
	if (d->session_ops && d->session_ops->refusal)
		len = d->session_ops->refusal(err, msg, buf, sizeof(buf));
	if (len)
		(void)send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
	d->refused_unlogged++;
	if (d->refused_log_ns && now - d->refused_log_ns < 1000000000ULL)
		return;
	log_notice("refusing pid %d uid %u: %s (%llu peers refused since the last report)",
		   (int)cred->pid, (unsigned int)cred->uid, msg,
		   (unsigned long long)d->refused_unlogged);
	d->refused_unlogged = 0;
	d->refused_log_ns = now;
}

void session_accept(struct daemon *d, int fd)
{
	const struct daemon_limits *l = &d->cfg.limits;
	const struct uid_acct *ua;
	struct session *s;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int sndbuf;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_warning("SO_PEERCRED: %m");
		close(fd);
		return;
	}
	/* Known to be refused: it must not hold a slot until it speaks. */
	if (!peer_pools(d, cred.uid, cred.gid)) {
		refuse(d, fd, &cred, EACCES,
		       "uid %u is neither root nor in the group of any pool ('%s' for pool 0)",
		       (unsigned int)cred.uid, d->cfg.group);
		return;
	}
	if (d->nsessions >= l->max_sessions) {
		refuse(d, fd, &cred, EUSERS, "max_sessions %u reached",
		       l->max_sessions);
		return;
	}
	ua = uidtab_get(&d->uids, cred.uid);
	if (ua && ua->sessions >= l->max_sessions_per_uid) {
		refuse(d, fd, &cred, EUSERS,
		       "uid %u has max_sessions_per_uid %u sessions",
		       (unsigned int)cred.uid, l->max_sessions_per_uid);
		return;
	}
	/* The largest answer (a full Lookup) must fit one packet. */
	sndbuf = (int)(l->max_keys_per_lookup * 24U + 65536U);
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf,
		       sizeof(sndbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	s = session_new(d, fd, cred.pid, cred.uid, cred.gid);
	if (!s) {
		log_warning("out of memory for a session");
		close(fd);
		return;
	}
	d->ctr.sessions_accepted++;
	log_session(LOG_DEBUG, s->id, cred.pid,
		    "session %llu: pid %d uid %u gid %u connected",
		    (unsigned long long)s->id, (int)cred.pid,
		    (unsigned int)cred.uid, (unsigned int)cred.gid);
	hello_wait(d, s);
	session_arm_recv(s);
}

void session_drain_all(struct daemon *d)
{
	struct session *s, *next;

	/*
	 * Shutting the read side down ends each waiting recvmsg: it returns a
	 * request the client had already sent (answered, then the session
	 * closes after the send) or EOF. Sessions with an answer in flight
	 * close once it is sent; sessions without a socket close now.
	 */
	for (s = d->sessions; s; s = next) {
		next = s->next;
		if (s->fd >= 0 && s->recv_armed)
			shutdown(s->fd, SHUT_RD);
		else if (!s->send_armed)
			session_close(s);
	}
}
