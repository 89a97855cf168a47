/* SPDX-License-Identifier: MIT */
/*
 * Session and transport: one SOCK_SEQPACKET connection per ac_client, one
 * protobuf message per packet, strictly one request in flight, so matching
 * a response to its request is a comparison of ids.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ac_config.h"
#include "client-internal.h"

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

int client_rpc(struct ac_client *c, Asymcache__V1__Request__BodyCase body_case,
	       void *body, Asymcache__V1__Response__BodyCase want,
	       size_t rx_need, Asymcache__V1__Response **ret, int *ret_fd)
{
	Asymcache__V1__Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Response *resp;
	size_t len;
	ssize_t n;
	int r, fd = -1;

	if (c->broken)
		return -ENOTCONN;
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
	do {
		n = send(c->fd, c->tx, len, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		r = -errno;
		if (r != -EPIPE && r != -ECONNRESET)
			return r;
		/*
		 * A daemon that refuses a peer at accept sends why (an Error
		 * with id 0) and closes: that reason, if queued, is the answer.
		 */
		c->broken = true;
		n = recv_packet(c, NULL, MSG_DONTWAIT);
		resp = n > 0 ? asymcache__v1__response__unpack(&c->alloc, n,
							       c->rx) : NULL;
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

	for (;;) {
		n = recv_packet(c, ret_fd ? &fd : NULL, 0);
		if (n < 0) {
			r = n;
			goto fail;
		}
		arena_reserve(c, n);
		resp = asymcache__v1__response__unpack(&c->alloc, n, c->rx);
		if (!resp) {
			r = -EPROTO;
			goto fail;
		}
		/*
		 * An older id is the answer to a call that gave up; skip it.
		 * Id 0 is never sent: it is the daemon's Error for a packet it
		 * could not read far enough to learn the id (EMSGSIZE), so it
		 * answers the request in flight.
		 */
		if (resp->id >= req.id)
			break;
		if (resp->id == 0 &&
		    resp->body_case == ASYMCACHE__V1__RESPONSE__BODY_ERROR) {
			resp->id = req.id;
			break;
		}
		client_resp_free(c, resp);
		if (fd >= 0) {
			close(fd);
			fd = -1;
		}
	}

	if (resp->id != req.id) {
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
	 * Lost framing or a closed socket: nothing later can be matched
	 * reliably, so every further call fails fast.
	 */
	if (r != -EMSGSIZE && r != -ENOMEM)
		c->broken = true;
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

static int hello(struct ac_client *c, const char *name)
{
	Asymcache__V1__Hello h = ASYMCACHE__V1__HELLO__INIT;
	Asymcache__V1__Response *resp;
	const Asymcache__V1__HelloReply *hr;
	size_t i;
	int r;

	h.protocol_version = AC_PROTOCOL_VERSION;
	h.client_name = (char *)name;
	r = client_rpc(c, ASYMCACHE__V1__REQUEST__BODY_HELLO, &h,
		       ASYMCACHE__V1__RESPONSE__BODY_HELLO,
		       CLIENT_RX_MIN, &resp, NULL);
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

int ac_connect(const char *socket_path, const char *client_name,
	       struct ac_client **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ac_client *c;
	int r;

	if (!socket_path || !ret || !name_ok(client_name))
		return -EINVAL;
	if (strlen(socket_path) >= sizeof(sa.sun_path) || !socket_path[0])
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, socket_path);

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	r = pthread_mutex_init(&c->lock, NULL);
	if (r) {
		free(c);
		return -r;
	}
	c->alloc.alloc = arena_alloc;
	c->alloc.free = arena_free;
	c->alloc.allocator_data = c;
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		r = -errno;
		goto out_free;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		goto out_free;
	}
	r = hello(c, client_name);
	if (r < 0)
		goto out_free;
	*ret = c;
	return 0;

out_free:
	ac_disconnect(c);
	return r;
}

static void pool_unmap(struct ac_pool *p)
{
	if (p->info.backend == AC_BACKEND_HOST) {
		munmap(p->base, p->map_len);
	} else {
#if AC_HAVE_CUDA
		cudaIpcCloseMemHandle(p->base);
#endif
	}
	free(p);
}

void ac_disconnect(struct ac_client *c)
{
	size_t i;

	if (!c)
		return;
	/* Closing first lets the daemon reclaim pins before we unmap. */
	if (c->fd >= 0)
		close(c->fd);
	for (i = 0; i < c->npools; i++)
		pool_unmap(c->pools[i]);
	pthread_mutex_destroy(&c->lock);
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

int ac_client_pools(const struct ac_client *c,
		    const struct ac_pool_info **ret_pools, size_t *ret_npools)
{
	if (!c || !ret_pools || !ret_npools)
		return -EINVAL;
	*ret_pools = c->pools_avail;
	*ret_npools = c->npools_avail;
	return 0;
}

static int map_host(struct ac_pool *p, int fd)
{
	struct stat st;
	void *base;

	if (fd < 0)
		return -EPROTO;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (p->info.bytes > SIZE_MAX || (uint64_t)st.st_size < p->info.bytes)
		return -EPROTO;
	base = mmap(NULL, p->info.bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fd, 0);
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
	Asymcache__V1__Attach a = ASYMCACHE__V1__ATTACH__INIT;
	Asymcache__V1__Response *resp;
	struct ac_pool *p = NULL;
	size_t i;
	int r, fd = -1;

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

	a.pool_id = pool_id;
	r = client_rpc(c, ASYMCACHE__V1__REQUEST__BODY_ATTACH, &a,
		       ASYMCACHE__V1__RESPONSE__BODY_ATTACH,
		       CLIENT_RX_MIN, &resp, &fd);
	if (r < 0)
		goto out_unlock;

	p = calloc(1, sizeof(*p));
	if (!p) {
		r = -ENOMEM;
		goto out_resp;
	}
	p->client = c;
	r = client_pool_info_from_pb(resp->attach->pool, &p->info);
	if (r < 0)
		goto out_resp;
	if (p->info.pool_id != pool_id) {
		r = -EPROTO;
		goto out_resp;
	}
	if (p->info.backend == AC_BACKEND_HOST)
		r = map_host(p, fd);
	else
		r = map_cuda(p, &resp->attach->ipc_handle);
	if (r < 0)
		goto out_resp;

	c->pools[c->npools++] = p;
	*ret = p;
	p = NULL;
out_resp:
	free(p);
	client_resp_free(c, resp);
	/* The mapping holds the memfd open; our descriptor is not needed. */
	if (fd >= 0)
		close(fd);
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
