/* SPDX-License-Identifier: MIT */
/*
 * Session and transport: one SOCK_SEQPACKET connection per ac_client, one
 * protobuf message per packet, strictly one request in flight, so matching
 * a response to its request is a comparison of ids. Every round trip has a
 * deadline; a session that misses one, or that the daemon closed, is
 * closed and opened again later with its pools and namespaces (see
 * struct ac_client_opts in asymcache.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ac_config.h"
#include "client-internal.h"
#include "layout.h"

#if AC_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

#define CUDA_IPC_HANDLE_BYTES	64

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *p;
	size_t n = *cap ? *cap : CLIENT_RX_MIN;

	if (need <= *cap)
		return 0;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			return -ENOMEM;
		n *= 2;
	}
	p = realloc(*buf, n);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

/* Replies unpack to at most this many bytes per wire byte (Segment). */
#define ARENA_PER_BYTE	24

static void *arena_alloc(void *data, size_t size)
{
	struct ac_client *c = data;
	size_t need = (size + 15) & ~(size_t)15;

	if (need >= size && c->arena_cap - c->arena_used >= need) {
		void *p = c->arena + c->arena_used;

		c->arena_used += need;
		return p;
	}
	return malloc(size);
}

static void arena_free(void *data, void *p)
{
	struct ac_client *c = data;
	uint8_t *b = p;

	if (b < c->arena || b >= c->arena + c->arena_cap)
		free(p);
}

/* Room for the unpacked form of an @n-byte packet; best effort. */
static void arena_reserve(struct ac_client *c, size_t n)
{
	size_t need = n <= (SIZE_MAX - 4096) / ARENA_PER_BYTE ?
		      n * ARENA_PER_BYTE + 4096 : SIZE_MAX;
	uint8_t *p;

	/* No response is alive here; a failed unpack may have left bytes. */
	c->arena_used = 0;
	if (need <= c->arena_cap || need == SIZE_MAX)
		return;
	/* Too small an arena only means malloc for the overflow. */
	p = malloc(need);
	if (!p)
		return;
	free(c->arena);
	c->arena = p;
	c->arena_cap = need;
	c->arena_used = 0;
}

void client_resp_free(struct ac_client *c, Asymcache__V1__Response *resp)
{
	asymcache__v1__response__free_unpacked(resp, &c->alloc);
	c->arena_used = 0;
}

static void close_passed_fds(struct msghdr *msg, int *keep)
{
	struct cmsghdr *cm;

	for (cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		size_t nfd, i;
		int *fds;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		fds = (int *)CMSG_DATA(cm);
		nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfd; i++) {
			/* Keep the first descriptor if asked; close the rest. */
			if (keep && *keep < 0)
				*keep = fds[i];
			else
				close(fds[i]);
		}
	}
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t ms_to_ns(uint32_t ms)
{
	return (uint64_t)ms * 1000000ULL;
}

/* Waits for @events on c->fd until @deadline; -ETIMEDOUT past it. */
static int wait_fd(struct ac_client *c, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = events };
		uint64_t now = mono_ns();
		uint64_t ms;
		int r;

		if (now >= deadline)
			return -ETIMEDOUT;
		ms = (deadline - now + 999999) / 1000000;
		r = poll(&p, 1, ms > INT_MAX ? INT_MAX : (int)ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		/* POLLHUP and POLLERR too: the next recv or send says what. */
		if (r > 0)
			return 0;
	}
}

/* Receive one packet; -ECONNRESET when the daemon closed the session. */
static ssize_t recv_packet(struct ac_client *c, int *ret_fd, int flags)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} ctl;
	struct iovec iov = { .iov_base = c->rx, .iov_len = c->rx_cap };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	ssize_t n;

	do {
		n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC | flags);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	close_passed_fds(&msg, ret_fd);
	if (n == 0)
		return -ECONNRESET;
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return -EMSGSIZE;
	return n;
}

/*
 * A daemon that refuses a peer at accept sends why (an Error with id 0)
 * and closes: when that is queued, it is the answer to the request whose
 * send failed.
 */
static int refusal_reason(struct ac_client *c, int r)
{
	Asymcache__V1__Response *resp = NULL;
	ssize_t n;

	n = recv_packet(c, NULL, MSG_DONTWAIT);
	if (n > 0) {
		arena_reserve(c, n);
		resp = asymcache__v1__response__unpack(&c->alloc, n, c->rx);
	}
	if (resp && resp->id == 0 &&
	    resp->body_case == ASYMCACHE__V1__RESPONSE__BODY_ERROR &&
	    resp->error->code > 0 && resp->error->code < 4096) {
		snprintf(c->errmsg, sizeof(c->errmsg), "%s",
			 resp->error->message ? resp->error->message : "");
		r = -resp->error->code;
	}
	if (resp)
		client_resp_free(c, resp);
	return r;
}

/* Sends one request; *ret_id is its id. Lost framing sets c->broken. */
static int rpc_send(struct ac_client *c,
		    Asymcache__V1__Request__BodyCase body_case, void *body,
		    size_t rx_need, uint64_t deadline, uint64_t *ret_id)
{
	Asymcache__V1__Request req = ASYMCACHE__V1__REQUEST__INIT;
	size_t len;
	ssize_t n;
	int r;

	c->errmsg[0] = '\0';
	/*
	 * Every member of the body union is a pointer to a message, which
	 * protobuf-c reads through its descriptor as a ProtobufCMessage
	 * pointer: storing through one member serves every body case.
	 */
	req.body_case = body_case;
	req.hello = body;
	/* The id is part of the packed size: set it first. */
	req.id = ++c->next_id;
	len = asymcache__v1__request__get_packed_size(&req);
	r = grow(&c->tx, &c->tx_cap, len);
	if (r < 0)
		return r;
	r = grow(&c->rx, &c->rx_cap, rx_need);
	if (r < 0)
		return r;
	asymcache__v1__request__pack(&req, c->tx);
	for (;;) {
		n = send(c->fd, c->tx, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0)
			break;
		r = -errno;
		if (r == -EINTR)
			continue;
		if (r == -EAGAIN) {
			r = wait_fd(c, POLLOUT, deadline);
			if (r == 0)
				continue;
		}
		/* EMSGSIZE, ENOBUFS, ENOMEM: this packet only, nothing sent. */
		if (r == -EMSGSIZE || r == -ENOBUFS || r == -ENOMEM)
			return r;
		c->broken = true;
		if (r == -EPIPE || r == -ECONNRESET)
			return refusal_reason(c, -ECONNRESET);
		return r;
	}
	*ret_id = req.id;
	return 0;
}

/* Receives the answer to request @id; see client_rpc(). */
static int rpc_recv(struct ac_client *c, uint64_t id,
		    Asymcache__V1__Response__BodyCase want, uint64_t deadline,
		    Asymcache__V1__Response **ret, int *ret_fd)
{
	Asymcache__V1__Response *resp;
	ssize_t n;
	int r, fd = -1;

	for (;;) {
		r = wait_fd(c, POLLIN, deadline);
		if (r < 0)
			goto fail;
		n = recv_packet(c, ret_fd ? &fd : NULL, MSG_DONTWAIT);
		if (n == -EAGAIN)
			continue;
		if (n < 0) {
			r = (int)n;
			goto fail;
		}
		arena_reserve(c, n);
		resp = asymcache__v1__response__unpack(&c->alloc, n, c->rx);
		if (!resp) {
			r = -EPROTO;
			goto fail;
		}
		/*
		 * An older id answers a call that gave up; skip it. Id 0 is
		 * never sent: it is the daemon's Error for a packet it could
		 * not read far enough to learn the id (EMSGSIZE), or for a
		 * peer it refused at accept, so it answers the request in
		 * flight.
		 */
		if (resp->id >= id)
			break;
		if (resp->id == 0 &&
		    resp->body_case == ASYMCACHE__V1__RESPONSE__BODY_ERROR) {
			resp->id = id;
			break;
		}
		client_resp_free(c, resp);
		if (fd >= 0) {
			close(fd);
			fd = -1;
		}
	}

	if (resp->id != id) {
		/* An answer to a request never sent: framing is lost. */
		c->broken = true;
		r = -EPROTO;
	} else if (resp->body_case == ASYMCACHE__V1__RESPONSE__BODY_ERROR) {
		const Asymcache__V1__Error *e = resp->error;

		snprintf(c->errmsg, sizeof(c->errmsg), "%s",
			 e->message ? e->message : "");
		r = (e->code > 0 && e->code < 4096) ? -e->code : -EPROTO;
	} else if (resp->body_case != want) {
		r = -EPROTO;
	} else {
		*ret = resp;
		if (ret_fd)
			*ret_fd = fd;
		return 0;
	}
	client_resp_free(c, resp);
	if (fd >= 0)
		close(fd);
	return r;

fail:
	if (fd >= 0)
		close(fd);
	/*
	 * A missed deadline, lost framing or a closed socket: nothing later
	 * can be matched reliably, and the daemon may still hold pins the
	 * caller never learnt of. The session is closed (client_rpc()).
	 */
	if (r != -EMSGSIZE && r != -ENOMEM)
		c->broken = true;
	return r;
}

static int rpc(struct ac_client *c, Asymcache__V1__Request__BodyCase body_case,
	       void *body, Asymcache__V1__Response__BodyCase want,
	       size_t rx_need, uint64_t deadline,
	       Asymcache__V1__Response **ret, int *ret_fd)
{
	uint64_t id;
	int r;

	r = rpc_send(c, body_case, body, rx_need, deadline, &id);
	if (r < 0)
		return r;
	return rpc_recv(c, id, want, deadline, ret, ret_fd);
}

/*
 * Closes the session: the daemon drops its pins and WRITING blocks. The
 * pools stay mapped, so addresses the caller holds stay readable.
 */
static void session_lost(struct ac_client *c, uint64_t retry_at)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->broken = false;
	c->hello_sent_ns = 0;
	c->retry_at_ns = retry_at;
}

static int map_host(struct ac_pool *p, int fd, void *at);
static int map_cuda(struct ac_pool *p, const ProtobufCBinaryData *h);
static void pool_unmap_only(struct ac_pool *p);

/* Attach on the current session and map (again) into @p. */
static int attach_map(struct ac_client *c, struct ac_pool *p,
		      uint32_t pool_id, uint64_t deadline)
{
	Asymcache__V1__Attach a = ASYMCACHE__V1__ATTACH__INIT;
	Asymcache__V1__Response *resp;
	struct ac_pool_info info;
	void *at = NULL;
	int r, fd = -1;

	a.pool_id = pool_id;
	r = rpc(c, ASYMCACHE__V1__REQUEST__BODY_ATTACH, &a,
		ASYMCACHE__V1__RESPONSE__BODY_ATTACH, CLIENT_RX_MIN, deadline,
		&resp, &fd);
	if (r < 0)
		return r;
	r = client_pool_info_from_pb(resp->attach->pool, &info);
	if (r == 0 && info.pool_id != pool_id)
		r = -EPROTO;
	if (r < 0)
		goto out;
	/* A host pool of the same size is mapped over the old address. */
	if (p->base && p->info.backend == AC_BACKEND_HOST &&
	    info.backend == AC_BACKEND_HOST && info.bytes == p->map_len)
		at = p->base;
	else if (p->base)
		pool_unmap_only(p);
	p->info = info;
	if (info.backend == AC_BACKEND_HOST)
		r = map_host(p, fd, at);
	else
		r = map_cuda(p, &resp->attach->ipc_handle);
out:
	client_resp_free(c, resp);
	/* The mapping holds the memfd open; our descriptor is not needed. */
	if (fd >= 0)
		close(fd);
	return r;
}

static int hello_send(struct ac_client *c, uint64_t deadline)
{
	Asymcache__V1__Hello h = ASYMCACHE__V1__HELLO__INIT;

	h.protocol_version = AC_PROTOCOL_VERSION;
	h.client_name = ac_proto_text(c->name);
	return rpc_send(c, ASYMCACHE__V1__REQUEST__BODY_HELLO, &h,
			CLIENT_RX_MIN, deadline, &c->hello_id);
}

static int hello_recv(struct ac_client *c, uint64_t deadline)
{
	Asymcache__V1__Response *resp;
	const Asymcache__V1__HelloReply *hr;
	size_t i;
	int r;

	r = rpc_recv(c, c->hello_id, ASYMCACHE__V1__RESPONSE__BODY_HELLO,
		     deadline, &resp, NULL);
	if (r < 0)
		return r;
	hr = resp->hello;
	if (hr->protocol_version != AC_PROTOCOL_VERSION ||
	    hr->layout_version != AC_LAYOUT_VERSION) {
		r = -EPROTONOSUPPORT;
		goto out;
	}
	if (hr->n_pools > CLIENT_MAX_POOLS) {
		r = -EPROTO;
		goto out;
	}
	for (i = 0; i < hr->n_pools; i++) {
		r = client_pool_info_from_pb(hr->pools[i], &c->pools_avail[i]);
		if (r < 0)
			goto out;
	}
	c->npools_avail = hr->n_pools;
	c->session_id = hr->session_id;
	r = 0;
out:
	client_resp_free(c, resp);
	return r;
}

static int open_socket(struct ac_client *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	memcpy(sa.sun_path, c->path, sizeof(c->path));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(c->fd);
		c->fd = -1;
		return r;
	}
	return 0;
}

/* After Hello: every pool and namespace of the old session again. */
static int restore(struct ac_client *c, uint64_t deadline)
{
	Asymcache__V1__RegisterNamespace rn =
		ASYMCACHE__V1__REGISTER_NAMESPACE__INIT;
	Asymcache__V1__NamespaceLayout nl =
		ASYMCACHE__V1__NAMESPACE_LAYOUT__INIT;
	Asymcache__V1__Response *resp;
	size_t i;
	int r;

	for (i = 0; i < c->npools; i++) {
		r = attach_map(c, c->pools[i], c->pools[i]->info.pool_id,
			       deadline);
		if (r < 0)
			return r;
	}
	for (i = 0; i < c->nns; i++) {
		struct client_ns *n = &c->ns[i];

		ac_proto_layout_pack(&nl, n->model_id, &n->kv);
		rn.pool_id = n->pool_id;
		rn.layout = &nl;
		r = rpc(c, ASYMCACHE__V1__REQUEST__BODY_REGISTER_NAMESPACE,
			&rn, ASYMCACHE__V1__RESPONSE__BODY_REGISTER_NAMESPACE,
			CLIENT_RX_MIN, deadline, &resp, NULL);
		if (r < 0)
			return r;
		n->daemon_id = resp->register_namespace->ns_id;
		client_resp_free(c, resp);
	}
	return 0;
}

/*
 * A session to send on, opened again when it was lost. The attempt never
 * waits for a daemon that does not answer: Hello is sent and given a
 * moment (HELLO_GRACE_MS); a later call picks its answer up, and an
 * attempt unanswered past the deadline is dropped. Between attempts:
 * -ENOTCONN at once.
 */
#define HELLO_GRACE_MS	20u

static int session_ensure(struct ac_client *c, uint64_t deadline)
{
	uint64_t now = mono_ns(), grace;
	int r;

	if (c->fd >= 0 && !c->hello_sent_ns)
		return 0;
	if (c->fd < 0) {
		if (c->opts.no_reconnect || now < c->retry_at_ns)
			return -ENOTCONN;
		r = open_socket(c);
		if (r == 0)
			r = hello_send(c, deadline);
		if (r < 0)
			goto fail;
		c->hello_sent_ns = now;
	}
	/* A Hello is out: has it been answered? */
	grace = now + ms_to_ns(HELLO_GRACE_MS);
	r = wait_fd(c, POLLIN, grace < deadline ? grace : deadline);
	if (r == -ETIMEDOUT) {
		if (mono_ns() - c->hello_sent_ns < ms_to_ns(c->opts.timeout_ms))
			return -ENOTCONN;
		goto fail;
	}
	if (r < 0)
		goto fail;
	r = hello_recv(c, deadline);
	if (r == 0)
		r = restore(c, deadline);
	if (r < 0)
		goto fail;
	c->hello_sent_ns = 0;
	c->generation++;
	return 0;

fail:
	session_lost(c, mono_ns() + ms_to_ns(c->opts.retry_ms));
	return -ENOTCONN;
}

/* The daemon's id for the caller's namespace @ns (unknown: unchanged). */
static uint32_t ns_to_daemon(const struct ac_client *c, uint32_t ns)
{
	size_t i;

	for (i = 0; i < c->nns; i++)
		if (c->ns[i].id == ns)
			return c->ns[i].daemon_id;
	return ns;
}

static void translate_ns(struct ac_client *c,
			 Asymcache__V1__Request__BodyCase body_case, void *body)
{
	switch (body_case) {
	case ASYMCACHE__V1__REQUEST__BODY_LOOKUP: {
		Asymcache__V1__Lookup *m = body;

		m->ns_id = ns_to_daemon(c, m->ns_id);
		break;
	}
	case ASYMCACHE__V1__REQUEST__BODY_ALLOC: {
		Asymcache__V1__Alloc *m = body;

		m->ns_id = ns_to_daemon(c, m->ns_id);
		break;
	}
	case ASYMCACHE__V1__REQUEST__BODY_COMMIT: {
		Asymcache__V1__Commit *m = body;

		m->ns_id = ns_to_daemon(c, m->ns_id);
		break;
	}
	case ASYMCACHE__V1__REQUEST__BODY_RETAIN: {
		Asymcache__V1__Retain *m = body;

		m->ns_id = ns_to_daemon(c, m->ns_id);
		break;
	}
	case ASYMCACHE__V1__REQUEST__BODY_UNREGISTER_NAMESPACE: {
		Asymcache__V1__UnregisterNamespace *m = body;

		m->ns_id = ns_to_daemon(c, m->ns_id);
		break;
	}
	default:
		break;
	}
}

int client_rpc(struct ac_client *c, Asymcache__V1__Request__BodyCase body_case,
	       void *body, Asymcache__V1__Response__BodyCase want,
	       size_t rx_need, Asymcache__V1__Response **ret, int *ret_fd)
{
	uint64_t deadline = mono_ns() + ms_to_ns(c->opts.timeout_ms);
	int r;

	c->errmsg[0] = '\0';
	r = session_ensure(c, deadline);
	if (r < 0)
		return r;
	translate_ns(c, body_case, body);
	r = rpc(c, body_case, body, want, rx_need, deadline, ret, ret_fd);
	if (c->broken) {
		/* A retry may come at once: the daemon may be back already. */
		session_lost(c, mono_ns());
		if (r == -EPIPE)
			r = -ECONNRESET;
	}
	return r;
}

int client_call(struct ac_client *c, Asymcache__V1__Request__BodyCase body_case,
		void *body, Asymcache__V1__Response__BodyCase want,
		size_t rx_need, Asymcache__V1__Response **ret)
{
	int r;

	pthread_mutex_lock(&c->lock);
	r = client_rpc(c, body_case, body, want, rx_need, ret, NULL);
	if (r < 0)
		pthread_mutex_unlock(&c->lock);
	return r;
}

void client_done(struct ac_client *c, Asymcache__V1__Response *resp)
{
	client_resp_free(c, resp);
	pthread_mutex_unlock(&c->lock);
}

static bool layout_same(const struct client_ns *n, uint32_t pool_id,
			const struct ac_ns_layout *l)
{
	return n->pool_id == pool_id && !strcmp(n->model_id, l->model_id) &&
	       ac_kv_layout_equal(&n->kv, &l->kv);
}

int client_ns_record(struct ac_client *c, uint32_t pool_id,
		     const struct ac_ns_layout *l, uint32_t daemon_id,
		     uint32_t *ret_id)
{
	struct client_ns *n;
	uint32_t id = daemon_id;
	size_t i;

	for (i = 0; i < c->nns; i++) {
		if (layout_same(&c->ns[i], pool_id, l)) {
			c->ns[i].daemon_id = daemon_id;
			*ret_id = c->ns[i].id;
			return 0;
		}
	}
	if (c->nns == c->ns_cap) {
		size_t cap = c->ns_cap ? 2 * c->ns_cap : 4;

		n = realloc(c->ns, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->ns = n;
		c->ns_cap = cap;
	}
	/*
	 * The caller's id is the daemon's, unless a namespace of an older
	 * session holds that number already: then one the daemon never
	 * gives (its ids count up from 1).
	 */
	for (i = 0; i < c->nns; i++)
		if (c->ns[i].id == id)
			id = 0x80000000u | (uint32_t)(c->nns + 1);
	n = &c->ns[c->nns++];
	memset(n, 0, sizeof(*n));
	n->id = id;
	n->daemon_id = daemon_id;
	n->pool_id = pool_id;
	n->generation = c->generation;
	snprintf(n->model_id, sizeof(n->model_id), "%s", l->model_id);
	n->kv = l->kv;
	*ret_id = id;
	return 0;
}

void client_ns_forget(struct ac_client *c, uint32_t id)
{
	size_t i;

	for (i = 0; i < c->nns; i++) {
		if (c->ns[i].id != id)
			continue;
		c->ns[i] = c->ns[--c->nns];
		return;
	}
}

int client_pool_info_from_pb(const Asymcache__V1__PoolInfo *pb,
			     struct ac_pool_info *out)
{
	if (!pb || !pb->backend)
		return -EPROTO;
	if (!strcmp(pb->backend, "host"))
		out->backend = AC_BACKEND_HOST;
	else if (!strcmp(pb->backend, "cuda"))
		out->backend = AC_BACKEND_CUDA;
	else
		return -EPROTO;
	if (pb->block_bytes == 0 || pb->nblocks == 0 ||
	    pb->bytes / pb->block_bytes < pb->nblocks)
		return -EPROTO;
	out->pool_id = pb->pool_id;
	out->device = pb->device;
	out->bytes = pb->bytes;
	out->block_bytes = pb->block_bytes;
	out->nblocks = pb->nblocks;
	return 0;
}

static bool name_ok(const char *name)
{
	size_t i, len;

	if (!name)
		return false;
	len = strnlen(name, AC_CLIENT_NAME_MAX + 1);
	if (len == 0 || len > AC_CLIENT_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (name[i] < 0x20 || name[i] > 0x7e)
			return false;
	return true;
}

int ac_connect_opts(const char *socket_path, const char *client_name,
		    const struct ac_client_opts *opts, struct ac_client **ret)
{
	struct ac_client *c;
	uint64_t deadline;
	int r;

	if (!socket_path || !ret || !name_ok(client_name))
		return -EINVAL;
	if (strlen(socket_path) >= sizeof(c->path) || !socket_path[0])
		return -ENAMETOOLONG;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	r = pthread_mutex_init(&c->lock, NULL);
	if (r) {
		free(c);
		return -r;
	}
	c->fd = -1;
	snprintf(c->path, sizeof(c->path), "%s", socket_path);
	snprintf(c->name, sizeof(c->name), "%s", client_name);
	if (opts)
		c->opts = *opts;
	if (!c->opts.timeout_ms)
		c->opts.timeout_ms = AC_TIMEOUT_MS_DEFAULT;
	if (!c->opts.retry_ms)
		c->opts.retry_ms = AC_RETRY_MS_DEFAULT;
	c->alloc.alloc = arena_alloc;
	c->alloc.free = arena_free;
	c->alloc.allocator_data = c;
	deadline = mono_ns() + ms_to_ns(c->opts.timeout_ms);
	r = open_socket(c);
	if (r < 0)
		goto out_free;
	r = hello_send(c, deadline);
	if (r == 0)
		r = hello_recv(c, deadline);
	if (r < 0)
		goto out_free;
	c->generation = 1;
	*ret = c;
	return 0;

out_free:
	ac_disconnect(c);
	return r;
}

int ac_connect(const char *socket_path, const char *client_name,
	       struct ac_client **ret)
{
	return ac_connect_opts(socket_path, client_name, NULL, ret);
}

static void pool_unmap_only(struct ac_pool *p)
{
	if (!p->base)
		return;
	if (p->info.backend == AC_BACKEND_HOST) {
		munmap(p->base, p->map_len);
	} else {
#if AC_HAVE_CUDA
		cudaIpcCloseMemHandle(p->base);
#endif
	}
	p->base = NULL;
	p->map_len = 0;
}

void ac_disconnect(struct ac_client *c)
{
	size_t i;

	if (!c)
		return;
	/* Closing first lets the daemon reclaim pins before we unmap. */
	if (c->fd >= 0)
		close(c->fd);
	for (i = 0; i < c->npools; i++) {
		pool_unmap_only(c->pools[i]);
		free(c->pools[i]);
	}
	pthread_mutex_destroy(&c->lock);
	free(c->ns);
	free(c->tx);
	free(c->rx);
	free(c->arena);
	free(c);
}

const char *ac_client_last_error(const struct ac_client *c)
{
	return c ? c->errmsg : "";
}

uint64_t ac_client_session_id(const struct ac_client *c)
{
	return c ? c->session_id : 0;
}

uint64_t ac_client_generation(struct ac_client *c)
{
	uint64_t g;

	if (!c)
		return 0;
	pthread_mutex_lock(&c->lock);
	g = c->generation;
	pthread_mutex_unlock(&c->lock);
	return g;
}

bool ac_client_connected(struct ac_client *c)
{
	bool up;

	if (!c)
		return false;
	pthread_mutex_lock(&c->lock);
	up = c->fd >= 0 && !c->hello_sent_ns;
	pthread_mutex_unlock(&c->lock);
	return up;
}

int ac_client_pools(const struct ac_client *c,
		    const struct ac_pool_info **ret_pools, size_t *ret_npools)
{
	if (!c || !ret_pools || !ret_npools)
		return -EINVAL;
	*ret_pools = c->pools_avail;
	*ret_npools = c->npools_avail;
	return 0;
}

/* Maps the memfd; at @at (MAP_FIXED, replacing the old mapping) if set. */
static int map_host(struct ac_pool *p, int fd, void *at)
{
	struct stat st;
	void *base;

	if (fd < 0)
		return -EPROTO;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (p->info.bytes > SIZE_MAX || (uint64_t)st.st_size < p->info.bytes)
		return -EPROTO;
	base = mmap(at, p->info.bytes, PROT_READ | PROT_WRITE,
		    MAP_SHARED | (at ? MAP_FIXED : 0), fd, 0);
	if (base == MAP_FAILED)
		return -errno;
	p->base = base;
	p->map_len = p->info.bytes;
	return 0;
}

static int map_cuda(struct ac_pool *p, const ProtobufCBinaryData *h)
{
#if AC_HAVE_CUDA
	cudaIpcMemHandle_t handle;
	cudaError_t e;
	void *base = NULL;

	if (h->len != CUDA_IPC_HANDLE_BYTES || sizeof(handle) != h->len)
		return -EPROTO;
	memcpy(&handle, h->data, sizeof(handle));
	e = cudaSetDevice(p->info.device);
	if (e == cudaErrorInvalidDevice || e == cudaErrorNoDevice ||
	    e == cudaErrorInsufficientDriver)
		return -ENODEV;
	if (e != cudaSuccess)
		return -EIO;
	e = cudaIpcOpenMemHandle(&base, handle,
				 cudaIpcMemLazyEnablePeerAccess);
	if (e != cudaSuccess) {
		/* A failed CUDA call leaves a sticky last error; clear it. */
		cudaGetLastError();
		return e == cudaErrorMemoryAllocation ? -ENOMEM : -EIO;
	}
	p->base = base;
	p->map_len = 0;
	return 0;
#else
	return -ENOTSUP;
#endif
}

int ac_attach(struct ac_client *c, uint32_t pool_id, struct ac_pool **ret)
{
	struct ac_pool *p = NULL;
	size_t i;
	int r;

	if (!c || !ret)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->npools; i++) {
		if (c->pools[i]->info.pool_id == pool_id) {
			*ret = c->pools[i];
			r = 0;
			goto out_unlock;
		}
	}
	if (c->npools == CLIENT_MAX_POOLS) {
		r = -EMFILE;
		goto out_unlock;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		r = -ENOMEM;
		goto out_unlock;
	}
	p->client = c;
	r = session_ensure(c, mono_ns() + ms_to_ns(c->opts.timeout_ms));
	if (r == 0)
		r = attach_map(c, p, pool_id,
			       mono_ns() + ms_to_ns(c->opts.timeout_ms));
	if (c->broken)
		session_lost(c, mono_ns());
	if (r < 0) {
		pool_unmap_only(p);
		free(p);
		goto out_unlock;
	}
	c->pools[c->npools++] = p;
	*ret = p;
out_unlock:
	pthread_mutex_unlock(&c->lock);
	return r;
}

void *ac_pool_base(const struct ac_pool *p)
{
	return p ? p->base : NULL;
}

const struct ac_pool_info *ac_pool_info(const struct ac_pool *p)
{
	return p ? &p->info : NULL;
}
