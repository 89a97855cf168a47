/* SPDX-License-Identifier: MIT */
/*
 * Where a serving process gets its KV blocks. The daemon's pool is the
 * normal source: blocks are shared, published and found again by key. A
 * private source, with no cache, keeps the process serving while the daemon
 * is away. Both hand out block ids into one struct ac_kv_pool that the
 * forward pass reads; the runner never mixes sources in one batch.
 */
#ifndef AC_ENGINE_KVSRC_H
#define AC_ENGINE_KVSRC_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <asymcache/asymcache.h>
#include <asymcache/msa.h>

#include "forward.h"

struct ac_kvsrc;

/* Every call returns 0 or a negative errno, as the client library does. */
struct ac_kvsrc_ops {
	const char *name;
	int (*lookup)(struct ac_kvsrc *s, const struct ac_key *keys,
		      size_t n, struct ac_lookup_result *res);
	int (*alloc)(struct ac_kvsrc *s, uint32_t n, uint32_t *blocks);
	int (*commit)(struct ac_kvsrc *s, const struct ac_commit_entry *ce,
		      size_t n, uint32_t *got, uint32_t *deduped);
	int (*release)(struct ac_kvsrc *s, const uint32_t *blocks, size_t n);
	/*
	 * -EOPNOTSUPP where there is no scheduler to ask. @program_waited_us:
	 * one per segment, or NULL (ac_schedule_programs()).
	 */
	int (*schedule)(struct ac_kvsrc *s, const struct ac_sched_request *req,
			const uint64_t *program_waited_us,
			struct ac_sched_result *res);
	/* TTL retention of a chain (ac_retain_program()); NULL: none here. */
	int (*retain)(struct ac_kvsrc *s, const uint32_t *blocks, size_t n,
		      const struct ac_retain_args *a, struct ac_retention *ret);
	int (*resume)(struct ac_kvsrc *s, uint64_t retention,
		      uint32_t *released);
	void (*destroy)(struct ac_kvsrc *s);
};

struct ac_kvsrc {
	const struct ac_kvsrc_ops *ops;
	struct ac_kv_pool kv;		/* what the forward pass reads */
	bool shared;			/* blocks outlive us and are found by key */
	uint32_t ns;			/* the namespace's id in a shared pool */
};

struct ac_kvsrc_daemon_opts {
	const char *socket;
	const char *client_name;
	const struct ac_ns_layout *nsl;
	enum ac_fwd_backend backend;
};

/*
 * Connect, attach pool 0, register the namespace. -ENOENT/-ECONNREFUSED:
 * no daemon; -E2BIG: the pool's blocks are too small for the layout;
 * -EMEDIUMTYPE: the pool's memory is not the backend's (a CUDA pool needs
 * the CUDA backend, a host pool the CPU one).
 */
int ac_kvsrc_daemon_open(const struct ac_kvsrc_daemon_opts *o,
			 struct ac_kvsrc **ret);

/*
 * A private pool of @nblocks blocks of @layout in the backend's memory
 * (host or device). Lookups never hit and commits publish nothing.
 */
int ac_kvsrc_local_open(const struct ac_kv_layout *layout, uint32_t nblocks,
			enum ac_fwd_backend backend, struct ac_kvsrc **ret);

static inline void ac_kvsrc_close(struct ac_kvsrc *s)
{
	if (s)
		s->ops->destroy(s);
}

/*
 * Errors that mean the daemon went away (or stopped answering): the
 * session, its pins and its WRITING blocks are gone with it.
 */
static inline bool ac_kvsrc_lost(int err)
{
	return err == -ECONNRESET || err == -EPIPE || err == -ENOTCONN ||
	       err == -ETIMEDOUT || err == -ECONNREFUSED || err == -ESHUTDOWN ||
	       err == -EPROTO;
}

/*
 * No room now: the pool is full of pinned and WRITING blocks (-ENOSPC), or
 * this session or its uid holds its quota of blocks (-EDQUOT); either way
 * room comes back as requests finish.
 */
static inline bool ac_kvsrc_full(int err)
{
	return err == -ENOSPC || err == -EDQUOT;
}

/* Memory for a private pool on the backend's device (kvmem.c). */
int ac_kvmem_alloc(enum ac_fwd_backend backend, size_t bytes, void **ret);
void ac_kvmem_free(enum ac_fwd_backend backend, void *p);

#endif /* AC_ENGINE_KVSRC_H */
