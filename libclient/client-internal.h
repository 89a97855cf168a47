/* SPDX-License-Identifier: MIT */
/* Shared between the files of libasymcache; nothing here is exported. */
#ifndef AC_CLIENT_INTERNAL_H
#define AC_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asymcache.pb-c.h"
#include "asymcache/asymcache.h"

#define CLIENT_MAX_POOLS	16
#define CLIENT_ERRMSG_MAX	256
/* Receive buffer floor; requests that can draw big replies ask for more. */
#define CLIENT_RX_MIN		(64u * 1024)

/* A namespace this client registered, re-registered on a new session. */
struct client_ns {
	uint32_t id;			/* what the caller was given */
	uint32_t daemon_id;		/* the id on the current session */
	uint32_t pool_id;
	uint64_t generation;		/* session it was last registered in */
	char model_id[AC_MODEL_ID_MAX + 1];
	struct ac_kv_layout kv;
};

struct ac_pool {
	struct ac_client *client;
	struct ac_pool_info info;
	void *base;
	size_t map_len;			/* host: mmap length; cuda: 0 */
};

struct ac_client {
	pthread_mutex_t lock;
	int fd;				/* -1 while no session is open */
	bool broken;			/* daemon closed or garbled the session */
	/* What a new session needs: where, who, and what to set up again. */
	char path[108];
	char name[AC_CLIENT_NAME_MAX + 1];
	struct ac_client_opts opts;	/* zeros replaced by the defaults */
	uint64_t generation;		/* sessions opened so far */
	uint64_t retry_at_ns;		/* no new session before this */
	uint64_t hello_sent_ns;		/* a new session's Hello is out */
	uint64_t hello_id;
	struct client_ns *ns;
	size_t nns, ns_cap;
	uint64_t next_id;
	uint64_t session_id;
	uint8_t *tx;
	size_t tx_cap;
	uint8_t *rx;
	size_t rx_cap;
	/*
	 * Bump arena for unpacked responses: a Lookup reply with many
	 * segments would otherwise cost one malloc per Segment. Only one
	 * response is alive at a time (under lock), so it resets on free.
	 */
	uint8_t *arena;
	size_t arena_cap;
	size_t arena_used;
	ProtobufCAllocator alloc;
	struct ac_pool_info pools_avail[CLIENT_MAX_POOLS];
	size_t npools_avail;
	struct ac_pool *pools[CLIENT_MAX_POOLS];
	size_t npools;
	char errmsg[CLIENT_ERRMSG_MAX];
};

int client_layout_check(const struct ac_ns_layout *l);

/* Records a registration (lock held) and gives the caller's id for it. */
int client_ns_record(struct ac_client *c, uint32_t pool_id,
		     const struct ac_ns_layout *l, uint32_t daemon_id,
		     uint32_t *ret_id);

/*
 * One round trip, with client->lock held: assign the next id, send a
 * request whose oneof is @body (of case @body_case), wait for the response
 * with that id. Returns 0 with *ret set to a body of
 * case @want (free with client_resp_free() before unlocking), or the
 * daemon's -Error.code, or a transport/protocol -errno. @rx_need is an
 * upper bound on the reply's size. When @ret_fd is non-NULL it receives a
 * descriptor passed with the reply (-1 if none); otherwise any descriptor
 * is closed.
 */
int client_rpc(struct ac_client *c, Asymcache__V1__Request__BodyCase body_case,
	       void *body, Asymcache__V1__Response__BodyCase want,
	       size_t rx_need, Asymcache__V1__Response **ret, int *ret_fd);

/* Frees a response from client_rpc() and resets the arena; lock held. */
void client_resp_free(struct ac_client *c, Asymcache__V1__Response *resp);

/*
 * client_rpc() for a caller without client->lock: takes it, and on
 * failure releases it again. On 0 it stays held while the caller reads
 * *ret; client_done() then frees the response and releases it.
 */
int client_call(struct ac_client *c, Asymcache__V1__Request__BodyCase body_case,
		void *body, Asymcache__V1__Response__BodyCase want,
		size_t rx_need, Asymcache__V1__Response **ret);
void client_done(struct ac_client *c, Asymcache__V1__Response *resp);

/*
 * One Stats round trip (takes the lock): the public counters into @ret and
 * the retention counts, each only where non-NULL.  ac_stats() and
 * ac_retained() both read it; the retention counts stay out of struct
 * ac_stats so that struct keeps its 0.1 size.
 */
int client_stats(struct ac_client *c, struct ac_stats *ret,
		 uint32_t *ret_retained, uint32_t *ret_session_retained);

/* Forgets the caller's namespace @id (lock held): no new session registers it. */
void client_ns_forget(struct ac_client *c, uint32_t id);

int client_pool_info_from_pb(const Asymcache__V1__PoolInfo *pb,
			     struct ac_pool_info *out);

#endif /* AC_CLIENT_INTERNAL_H */
