/* SPDX-License-Identifier: MIT */
/*
 * Test harness: runs the real asymcached on a temporary socket and talks
 * raw protocol v1 to it, so the tests see exactly what a client sees.
 */
#ifndef AC_TEST_HARNESS_H
#define AC_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "asymcache.pb-c.h"
#include "th_daemon.h"

typedef Asymcache__V1__Request Request;
typedef Asymcache__V1__Response Response;

/*
 * One asymcached on a host pool, started by the shared harness (tests/lib)
 * in a fresh /tmp/acd-test-XXXXXX; dir, sock and log point into d.
 */
struct harness {
	struct th_daemon d;
	pid_t pid;		/* d.pid while it runs, 0 after harness_stop() */
	const char *dir;
	const char *sock;
	const char *log;
};

/*
 * Starts the daemon with --foreground --socket DIR/asymcached.sock
 * --backend host -c /dev/null --group "" and @extra flags (NULL-terminated,
 * may be NULL); waits until it accepts. Returns 0 or -errno, with the
 * daemon's log on stderr when it did not come up.
 */
int harness_start(struct harness *h, const char *pool_bytes,
		  const char *block_bytes, const char *const *extra);
/* The same, with @setup run in the daemon's process right before exec. */
int harness_start_setup(struct harness *h, const char *pool_bytes,
			const char *block_bytes, const char *const *extra,
			void (*setup)(void *arg), void *arg);
/*
 * SIGTERM, wait; returns the exit status (128 + signal when killed by
 * one), or -1 if it did not exit in 10 s. Removes its folder.
 */
int harness_stop(struct harness *h);
/* Path of the daemon binary under test. */
const char *harness_daemon_path(void);

/*
 * Protocol v1 by hand, packets sent with th_send(): libasymcache would
 * hide what the daemon sends.
 */
static inline int hc_connect(const char *path)
{
	return th_connect(path);
}
/* Sends @req; the reply in *ret_resp (free with hc_free); fd if any. */
int hc_call(int fd, const Request *req, Response **ret_resp, int *ret_fd);
/* Receives one Response; -errno, or 0 on EOF with *ret_resp NULL. */
int hc_recv(int fd, Response **ret_resp, int *ret_fd);
void hc_free(Response *resp);

/* Convenience: each returns 0 or the positive errno of an Error reply. */
int hc_hello(int fd, const char *name);
int hc_attach(int fd, int *ret_memfd, uint64_t *ret_bytes,
	      uint32_t *ret_nblocks);
/* The *_pool forms name a pool; the plain ones mean pool 0. */
int hc_attach_pool(int fd, uint32_t pool, int *ret_memfd, uint64_t *ret_bytes,
		   uint32_t *ret_nblocks);
int hc_register_pool(int fd, uint32_t pool, const char *model,
		     uint32_t layers, uint32_t heads, uint32_t dim, int dtype,
		     uint32_t tokens, uint32_t *ret_ns);
int hc_release_pool(int fd, uint32_t pool, const uint32_t *blocks, uint32_t n,
		    uint32_t *ret_released);
int hc_stats_pool(int fd, uint32_t pool, Asymcache__V1__StatsReply *ret);
int hc_register(int fd, const char *model, uint32_t layers, uint32_t heads,
		uint32_t dim, int dtype, uint32_t tokens, uint32_t *ret_ns);
/* Ends namespace @ns; blocks freed now and pinned ones left to go later. */
int hc_unregister(int fd, uint32_t ns, uint32_t *ret_flushed,
		  uint32_t *ret_kept);
int hc_lookup(int fd, uint32_t ns, const uint8_t *keys, uint32_t n,
	      uint32_t *ret_blocks, uint32_t *ret_hits, uint32_t *ret_nseg);
int hc_alloc(int fd, uint32_t ns, uint32_t count, uint32_t *ret_blocks);
/* Commits a chain: keys[i] at position first_pos + i, parents chained. */
int hc_commit_chain(int fd, uint32_t ns, const uint8_t *keys,
		    const uint32_t *blocks, uint32_t n, uint32_t first_pos,
		    const uint8_t *parent_of_first, uint32_t *ret_blocks,
		    uint32_t *ret_deduped);
int hc_release(int fd, const uint32_t *blocks, uint32_t n,
	       uint32_t *ret_released);
int hc_stats(int fd, Asymcache__V1__StatsReply *ret);
/*
 * hc_stats() until the daemon counts @sessions sessions, for up to 1 s;
 * *ret holds the last reply either way, for the caller to check.
 */
int hc_stats_when_sessions(int fd, uint64_t sessions,
			   Asymcache__V1__StatsReply *ret);
/* Connect + hello + attach + register a small layout. */
int hc_session(const char *path, const char *name, uint32_t *ret_ns);

/* A deterministic 16-byte key for (seed, i). */
void hc_key(uint8_t out[16], uint64_t seed, uint32_t i);

#endif
