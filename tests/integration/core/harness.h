/* SPDX-License-Identifier: MIT */
/*
 * Integration harness: the real asymcached on a socket in a private temp
 * dir, real client processes made with fork(), checks reported back from
 * children through a shared page.
 */
#ifndef AC_TEST_HARNESS_H
#define AC_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "asymcache/asymcache.h"
#include "th_daemon.h"

/* Pool backend for tdaemon_start(): "host" unless a test sets "cuda". */
extern const char *tdaemon_backend;

/*
 * Start asymcached (tests/lib) on a pool of tdaemon_backend with
 * @config as its config file (NULL: none) and the extra argv entries
 * (NULL-terminated, may be NULL) last. Asserts (Criterion) that it comes
 * up; its log goes to stderr when it does not.
 */
void tdaemon_start_config(struct th_daemon *d, uint64_t pool_bytes,
			  uint32_t block_bytes, const char *config,
			  const char *const *extra);
/*
 * Config text for tests that drive the whole pool from one session or one
 * uid (every test client runs as the same uid): the default quotas on
 * blocks held (docs/daemon.md) would refuse them; the quotas have their
 * own tests.
 */
#define TCONF_WHOLE_POOL \
	"[limits]\nmax_blocks_per_session = 100%\nmax_blocks_per_uid = 100%\n"

void tdaemon_start(struct th_daemon *d, uint64_t pool_bytes,
		   uint32_t block_bytes, const char *const *extra);
/*
 * SIGTERM and wait; asserts it was still running and exits cleanly
 * (status 0, no signal), with its log on stderr when not.
 */
void tdaemon_stop(struct th_daemon *d);

/*
 * Children report the first failed check here: the page is MAP_SHARED, so
 * the parent sees what the child wrote before it exited.
 */
struct child_report {
	int line;
	int err;
	char what[200];
};

extern struct child_report *child_rep;

void child_reports_init(size_t n);
/* Fork a child running fn(arg, slot); returns its pid. */
pid_t child_spawn(int (*fn)(void *arg, int slot), void *arg, int slot);
/* Wait for the child; asserts it exited 0 and reported no failure. */
void child_wait_ok(pid_t pid, int slot);

/* Inside a child: on failure record line/what and return nonzero. */
#define CHILD_CHECK(slot, cond, err_)					\
	do {								\
		if (!(cond)) {						\
			child_rep[slot].line = __LINE__;		\
			child_rep[slot].err = (err_);			\
			snprintf(child_rep[slot].what,			\
				 sizeof(child_rep[slot].what), "%s",	\
				 #cond);				\
			return 1;					\
		}							\
	} while (0)

/* Common fixture: a tiny model whose block is 4 KiB in fp32. */
extern const struct ac_ns_layout tlayout;

/* Connected, attached, registered client, or a negative errno. */
struct tclient {
	struct ac_client *c;
	struct ac_pool *pool;
	uint32_t ns;
};

int tclient_open(struct tclient *t, const struct th_daemon *d, const char *name);
/*
 * The same in pool @pool (attached first and alone, so ac_release(),
 * ac_stats() and ac_retained() mean it).
 */
int tclient_open_pool(struct tclient *t, const struct th_daemon *d,
		      const char *name, uint32_t pool);
void tclient_close(struct tclient *t);

/* Deterministic tokens for chain @chain, and their SHA-256 keys. */
void ttokens(int32_t *tok, size_t n, uint32_t chain);
int tkeys(uint32_t chain, size_t nblocks, struct ac_key *out);

/* Fill / check one block with a pattern derived from its key. */
void tblock_fill(struct tclient *t, uint32_t block, const struct ac_key *k);
bool tblock_check(struct tclient *t, uint32_t block, const struct ac_key *k);

/*
 * Fill @block with keys[pos]'s pattern and make @e the commit entry that
 * publishes it at chain position @pos (parent keys[pos - 1] past 0).
 */
void tentry_fill(struct tclient *t, struct ac_commit_entry *e,
		 uint32_t block, const struct ac_key *keys, uint32_t pos);
/*
 * Alloc, fill (tblock_fill) and commit blocks [from, from+n) of the chain
 * @keys, each the child of the key before it; the pins stay held.
 * @ret_deduped may be NULL. -E2BIG past TPUBLISH_MAX blocks: the entries
 * live on the stack.
 */
#define TPUBLISH_MAX	64u
int tpublish(struct tclient *t, const struct ac_key *keys, uint32_t from,
	     uint32_t n, uint32_t *ret_blocks, uint32_t *ret_deduped);

#endif /* AC_TEST_HARNESS_H */
