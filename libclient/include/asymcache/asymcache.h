/* SPDX-License-Identifier: MIT */
/*
 * libasymcache: the client side of the AsymCache control protocol.
 *
 * An inference process connects to asymcached, attaches a KV block pool
 * (maps it into its own address space), registers the namespace of its
 * model layout, computes content keys for the prompt's full blocks, and
 * then runs lookup -> alloc -> (write KV) -> commit -> release against the
 * daemon. The daemon only decides which block holds what; every KV byte is
 * read and written by the client through its own mapping.
 *
 * Conventions: every fallible function returns 0 or a negative errno value
 * and never sets errno. When the daemon answered with an Error, the return
 * value is -Error.code and the daemon's message is kept for
 * ac_client_last_error(). Out-parameters are named ret_* and are written
 * only on success.
 *
 * Thread safety: an ac_client serializes its calls with an internal mutex,
 * so it may be shared by threads; each call is one request/response round
 * trip, so throughput-sensitive threads should each connect their own
 * client (one session each: pins and WRITING blocks belong to a session).
 * ac_client_last_error() is only meaningful to the thread that got the
 * failure when no other thread used the client in between.
 * ac_keys_compute() and the address helpers touch no shared state.
 * A client must not be used across fork(): the child gets a fresh one.
 */
#ifndef ASYMCACHE_ASYMCACHE_H
#define ASYMCACHE_ASYMCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <asymcache/abi.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AC_CLIENT_NAME_MAX	64u
#define AC_SALT_MAX		256u

struct ac_client;
struct ac_pool;

enum ac_backend {
	AC_BACKEND_HOST = 0,
	AC_BACKEND_CUDA = 1,
};

/*
 * Key hash. SHA-256 (truncated to 128 bits) is the default because prompts
 * come from untrusted users and a predictable hash lets one tenant forge a
 * collision with another's prefix. XXH3-128 is several times faster and is
 * only for deployments that trust every prompt.
 */
enum ac_hash {
	AC_HASH_SHA256 = 0,
	AC_HASH_XXH3 = 1,
};

/*
 * One model's namespace: its id and its block layout (asymcache/abi.h, where
 * the field limits are; ac_kv_layout_check() validates them).
 */
struct ac_ns_layout {
	const char *model_id;		/* 1..128 bytes */
	struct ac_kv_layout kv;
};

struct ac_pool_info {
	uint32_t pool_id;
	enum ac_backend backend;
	int32_t device;			/* CUDA ordinal, -1 on host */
	uint64_t bytes;
	uint32_t block_bytes;
	uint32_t nblocks;
};

/*
 * The chain seed (key_{-1}) of one namespace and salt, plus the hash it was
 * made with and the block size it keys. Build it with ac_key_seed_init().
 */
struct ac_key_seed {
	struct ac_key seed;
	enum ac_hash hash;
	uint32_t block_tokens;
};

struct ac_segment {
	uint32_t start;			/* index into the key chain */
	uint32_t len;
	bool hit;
};

/*
 * Lookup answer, in caller-provided storage: @blocks has one entry per key,
 * @segments room for @max_segments runs (n keys never make more than n).
 */
struct ac_lookup_result {
	uint32_t *blocks;		/* in: n entries; out: block or AC_NO_BLOCK */
	struct ac_segment *segments;	/* in: storage; out: runs in order */
	size_t max_segments;		/* in */
	size_t nsegments;		/* out */
	uint32_t hits;			/* out */
};

struct ac_commit_entry {
	struct ac_key key;
	uint32_t block;			/* a WRITING block of this session */
	uint32_t position;		/* block index in its chain, 0-based */
	struct ac_key parent;		/* key at position-1; ignored at 0 */
};

struct ac_stats {
	uint32_t nblocks;
	uint32_t free_blocks;
	uint32_t writing_blocks;
	uint32_t cached_blocks;
	uint32_t pinned_blocks;
	uint64_t lookups;
	uint64_t lookup_keys;
	uint64_t lookup_hits;
	uint64_t evictions;
	uint64_t commits;
	uint64_t dedups;
	uint32_t sessions;
	uint32_t session_pins;		/* this session's pins */
	uint32_t session_writing;	/* this session's WRITING blocks */
	char policy[32];
};

/* ---- session ---------------------------------------------------------- */

/*
 * Connect to the daemon's SOCK_SEQPACKET socket at @socket_path and say
 * Hello as @client_name (1..64 printable bytes). -ECONNREFUSED/-ENOENT when
 * no daemon listens, -EACCES when the socket or the daemon refuses this
 * user, -EUSERS when the daemon is at its session limit (overall or for
 * this uid), -EPROTONOSUPPORT when the daemon speaks another protocol
 * version, -ETIMEDOUT when it does not answer in time. Default options:
 * see struct ac_client_opts below.
 */
int ac_connect(const char *socket_path, const char *client_name,
	       struct ac_client **ret);

/* ---- deadlines, and a daemon that goes away ---------------------------- */

#define AC_TIMEOUT_MS_DEFAULT	2000u
#define AC_RETRY_MS_DEFAULT	250u

/*
 * How a client lives with a daemon that stops, crashes or restarts.
 *
 * Every call that talks to the daemon has a deadline (@timeout_ms, for the
 * whole round trip). A call that misses it, or finds the daemon gone (the
 * socket closed, or a connection refused), closes the session and returns
 * -ETIMEDOUT, -ECONNRESET or -ENOTCONN: the SESSION IS LOST, and with it
 * every pin and every WRITING block it held (the daemon drops them when
 * the socket closes; a daemon that restarted never had them). Do not
 * release, commit or retain those block ids: serve without them.
 *
 * Unless @no_reconnect, the next call at least @retry_ms after the last
 * attempt opens a new session on its own: it connects, says Hello,
 * attaches every pool this client had attached (same ac_pool objects; the
 * host mapping keeps its address when the pool kept its size, so re-read
 * ac_pool_base() only for CUDA pools or a pool that changed) and registers
 * every namespace again (the ids the caller holds stay valid: the library
 * translates them). Then the call goes ahead on the new session. Between
 * attempts, calls fail at once with -ENOTCONN, so an engine keeps serving,
 * without the cache, at full speed while the daemon is away, and uses the
 * cache again once it is back. ac_client_generation() counts the sessions:
 * when it changed since a pin was taken, that pin is gone.
 *
 * A call costs at most its deadline plus, when an attempt is due, the
 * attempt's own deadline (connect and Hello are quick when the daemon is
 * down or up; only a stopped daemon makes either wait).
 */
struct ac_client_opts {
	uint32_t timeout_ms;	/* 0: AC_TIMEOUT_MS_DEFAULT */
	uint32_t retry_ms;	/* 0: AC_RETRY_MS_DEFAULT */
	bool no_reconnect;	/* a lost session stays lost (-ENOTCONN) */
};

/*
 * ac_connect() with @opts (NULL: all defaults). The first connection is
 * not retried: an absent daemon is -ECONNREFUSED/-ENOENT at once.
 */
int ac_connect_opts(const char *socket_path, const char *client_name,
		    const struct ac_client_opts *opts, struct ac_client **ret);

/* Sessions opened so far: 1 after ac_connect(), +1 per new session. */
uint64_t ac_client_generation(struct ac_client *client);

/* Whether a session is open now (no call needed to find out). */
bool ac_client_connected(struct ac_client *client);

/*
 * Close the session and unmap every pool attached through it. The daemon
 * then drops the session's pins and frees its WRITING blocks. NULL-safe.
 */
void ac_disconnect(struct ac_client *client);

/* The message of the last daemon Error on this client, or "" if none. */
const char *ac_client_last_error(const struct ac_client *client);

/* Session id the daemon gave in its Hello reply. */
uint64_t ac_client_session_id(const struct ac_client *client);

/* The pools this peer may attach, as listed by Hello. Owned by the client. */
int ac_client_pools(const struct ac_client *client,
		    const struct ac_pool_info **ret_pools, size_t *ret_npools);

/*
 * Text for an error this library returns, in AsymCache's terms
 * (@err may be negative or positive). Never NULL, thread-safe.
 */
const char *ac_strerror(int err);

/*
 * The version of the libasymcache the process runs with ("0.1.0"): the
 * installed library's, which may be newer than the header a program was
 * built with. Never NULL.
 */
const char *ac_version(void);

/* ---- pools and namespaces --------------------------------------------- */

/*
 * Attach pool @pool_id and map it: the host backend's sealed memfd is
 * mmap()ed MAP_SHARED, a CUDA pool is opened with cudaIpcOpenMemHandle.
 * Attaching the same pool again returns the existing mapping. The pool
 * belongs to the client and is unmapped by ac_disconnect(). -ENOTSUP for a
 * CUDA pool in a build without CUDA; -EACCES for a pool whose group this
 * process is not in (ac_client_pools() lists the ones it may attach);
 * -ENOENT for no such pool.
 */
int ac_attach(struct ac_client *client, uint32_t pool_id,
	      struct ac_pool **ret);

/* Base address of the mapping (a device pointer for a CUDA pool). */
void *ac_pool_base(const struct ac_pool *pool);
const struct ac_pool_info *ac_pool_info(const struct ac_pool *pool);

/*
 * Register @layout in @pool. Identical layouts share one namespace and its
 * cached blocks, whichever session registered them. -E2BIG when a block of
 * this layout does not fit in the pool's block_bytes.
 */
int ac_register_namespace(struct ac_client *client, struct ac_pool *pool,
			  const struct ac_ns_layout *layout, uint32_t *ret_ns);

/*
 * End namespace @ns for every session: the daemon refuses its id from now
 * on (-ENOENT), frees its unpinned blocks (@ret_flushed) and each pinned
 * one as its last pin goes (@ret_kept; either may be NULL); its WRITING
 * blocks can no longer be committed: release them. This client stops
 * registering it on a new session. Only the uid whose session created the
 * namespace, or root, may (-EPERM), and only while no session of another
 * uid has it registered (-EBUSY); an admin may over D-Bus. A namespace no
 * session has registered for the daemon's namespace_idle_ms ends by itself.
 */
int ac_unregister_namespace(struct ac_client *client, uint32_t ns,
			    uint32_t *ret_flushed, uint32_t *ret_kept);

/* ---- keys --------------------------------------------------------------- */

/*
 * Seed of the key chain: H(namespace identity || cache salt), where the
 * identity is the model id and every layout field (see docs/libclient.md
 * for the exact bytes). @salt may be NULL when @salt_len is 0. -ENOMEM
 * when libcrypto cannot set up SHA-256.
 *
 * What a salt does: clients with different salts never share a key, so
 * one never gets a hit on, or learns from a Lookup or its timing whether
 * the pool holds, a prefix the other computed (keep salts secret for
 * that). What a salt does NOT do: keep bytes apart. Every client attached
 * to a pool maps all of it read-write and can read or overwrite any
 * block, another salt's included; block ids are small integers. A salt
 * separates the hits of tenants that trust each other's code; tenants
 * that do not must not share a pool: the daemon gives each its own
 * ([pool.N]), which only its group may attach (docs/libclient.md,
 * "Tenants").
 */
int ac_key_seed_init(struct ac_key_seed *seed,
		     const struct ac_ns_layout *layout,
		     const void *salt, size_t salt_len, enum ac_hash hash);

/*
 * Keys of the FULL blocks of @tokens: key_i = H(key_{i-1} || tokens of
 * block i as little-endian int32), key_{-1} = seed. A partial tail block
 * gets no key, because its KV would change as the prompt grows.
 * @nkeys is in/out: capacity of @out in, keys written out. -ENOBUFS (and
 * the required count in *nkeys) when @out is too small. @block_tokens must
 * match the seed's. -ENOMEM when libcrypto cannot set up SHA-256.
 */
int ac_keys_compute(const struct ac_key_seed *seed, const int32_t *tokens,
		    size_t ntokens, uint32_t block_tokens,
		    struct ac_key *out, size_t *nkeys);

/* ---- the block protocol ------------------------------------------------ */

/*
 * For each of @n keys the resident block or AC_NO_BLOCK; hits are pinned
 * for this session (one pin per hit per call) until ac_release(). The
 * result has holes in the middle where blocks were evicted: nothing stops
 * at the first miss.
 */
int ac_lookup(struct ac_client *client, uint32_t ns,
	      const struct ac_key *keys, size_t n,
	      struct ac_lookup_result *res);

/*
 * @count FREE blocks in state WRITING, owned by this session, written to
 * @ret_blocks. All or nothing: -ENOSPC when the pool cannot supply them
 * even after evicting every unpinned block.
 */
int ac_alloc(struct ac_client *client, uint32_t ns, uint32_t count,
	     uint32_t *ret_blocks);

/*
 * Publish WRITING blocks under their keys. Each published block stays
 * pinned by this session until ac_release(). When a key was published
 * already, the existing block is pinned and returned in @ret_blocks
 * instead, and the duplicate goes back to FREE: release the returned id.
 * Every entry is validated before any takes effect. @ret_deduped may be
 * NULL.
 */
int ac_commit(struct ac_client *client, uint32_t ns,
	      const struct ac_commit_entry *entries, size_t n,
	      uint32_t *ret_blocks, uint32_t *ret_deduped);

/*
 * Drop one pin of this session on each block; a WRITING block of this
 * session is aborted (back to FREE). All ids are validated before any takes
 * effect. @ret_released may be NULL.
 */
int ac_release(struct ac_client *client, const uint32_t *blocks, size_t n,
	       uint32_t *ret_released);
/*
 * Block ids are per pool. ac_release() means the pool this client attached
 * first (pool 0 before any attach); a client that attached several pools
 * names the one its ids are in.
 */
int ac_release_pool(struct ac_client *client, const struct ac_pool *pool,
		    const uint32_t *blocks, size_t n, uint32_t *ret_released);

/* The counters of the pool this client attached first (pool 0 before). */
int ac_stats(struct ac_client *client, struct ac_stats *ret);

/* ---- agent sessions: TTL retention (protocol: Retain, Resume) ----------- */

/*
 * Keep @blocks resident for @ttl_ms while the agent waits on a tool call,
 * even after ac_release() of them. Each block must be CACHED in @ns and
 * pinned by this session right now (ids from ac_lookup/ac_commit), listed
 * once. Within the daemon's retention budget it holds its own pin on each
 * until ac_resume(), the TTL running out, this client disconnecting, or an
 * allocation the pool cannot otherwise serve, whichever comes first; beyond
 * the budget the retention is soft (the policy keeps the blocks as long as
 * they are worth more than what else it holds). -ERANGE for ttl_ms 0 or
 * above the daemon's max_retain_ttl_ms, -EDQUOT past
 * max_retained_blocks_per_session, or past the budget under a policy
 * without soft retention (nothing retained), -EPERM for a block this
 * session does not pin, -EINVAL for a bad id.
 */
int ac_retain(struct ac_client *client, uint32_t ns, const uint32_t *blocks,
	      size_t n, uint32_t ttl_ms, uint64_t *ret_retention);

/* What an agent program says about the tool call its chain waits on. */
struct ac_retain_args {
	uint32_t ttl_ms;	/* 0: the daemon chooses (needs expect_ms) */
	uint32_t expect_ms;	/* how long the tool call should take; 0: unsaid */
	uint64_t program_id;	/* the program the daemon learns by; 0: session */
};

/* The daemon's answer to ac_retain_program(). */
struct ac_retention {
	uint64_t id;		/* for ac_resume(); 0: declined, nothing held */
	uint64_t expires_in_ms;	/* the TTL in force */
	bool pinned;		/* within the budget; false: soft */
};

/*
 * ac_retain() for an agent program: with @a->ttl_ms 0 the daemon picks
 * the TTL from how this program's tool calls ran against what it declared
 * (@a->expect_ms), the chain's recompute cost and the price of space, and
 * may decline (ret->id 0, not an error). Errors as ac_retain(); -ERANGE
 * also for ttl_ms and expect_ms both 0.
 */
int ac_retain_program(struct ac_client *client, uint32_t ns,
		      const uint32_t *blocks, size_t n,
		      const struct ac_retain_args *a, struct ac_retention *ret);

/* End a retention early. -ENOENT when it expired or is not this client's. */
int ac_resume(struct ac_client *client, uint64_t retention,
	      uint32_t *ret_released);

/*
 * Blocks retained in the pool this client attached first (pool 0 before),
 * by every session and by this one (either may be NULL). Each pool keeps
 * its own retentions and budget; a retention id names its pool.
 */
int ac_retained(struct ac_client *client, uint32_t *ret_total,
		uint32_t *ret_session);

/*
 * A TTL for a chain whose recompute costs @recompute_s, given the tool
 * call durations seen so far (@tool_s, seconds, n may be 0) and the cost
 * of holding it (@hold_s_per_s: seconds of recompute forgone elsewhere per
 * second held). Maximises P(resume <= ttl) * recompute_s - hold_s_per_s *
 * E[min(duration, ttl)]; 0 means "do not retain". With no observations it
 * gives @fallback_ms. Pure computation; -EINVAL for negative or non-finite
 * input.
 */
int ac_pick_ttl(const double *tool_s, size_t n, double recompute_s,
		double hold_s_per_s, uint32_t fallback_ms,
		uint32_t *ret_ttl_ms);

/* ---- from a Lookup to the work of a prefill ---------------------------- */

/* Which cached blocks a prefill uses. */
enum ac_reuse {
	AC_REUSE_MSA = 0,	/* every hit; holes are recomputed (MSA) */
	AC_REUSE_PREFIX = 1,	/* hits before the first miss, as prefix caching */
	AC_REUSE_NONE = 2,	/* no hit: everything is computed */
};

/* A run of token positions to compute: one MSA query segment. */
struct ac_run {
	uint32_t pos;		/* first absolute position */
	uint32_t len;		/* tokens, >= 1 */
};

/*
 * What a prefill of @ntokens tokens does with a Lookup's answer, in
 * caller-provided storage: the sequence's block table, the runs of
 * positions to compute (holes, then the tail), and the hits it does not
 * use. The last token is always computed, since its logits are needed:
 * when the whole prompt hit, the last block is recomputed into a fresh one
 * (a CACHED block is read-only).
 */
struct ac_reuse_plan {
	uint32_t *table;	/* in: room for ceil(ntokens / T) entries */
	struct ac_run *runs;	/* in: room for max_runs */
	size_t max_runs;	/* in; ceil(ntokens / T) always suffices */
	uint32_t *drop;		/* in: room for nkeys entries */
	size_t nblocks;		/* out: entries of table */
	size_t nruns;		/* out */
	size_t nalloc;		/* out: AC_NO_BLOCK entries of table */
	size_t ndrop;		/* out: pinned hits to ac_release() now */
	uint32_t reused_tokens;	/* out: tokens whose KV comes from the pool */
};

/*
 * Plan a prefill from ac_lookup()'s @res over the @nkeys full-block keys of
 * an @ntokens-token prompt (nkeys = ntokens / block_tokens) under @mode.
 * table[i] is the hit reused for logical block i, or AC_NO_BLOCK where a
 * block must be allocated (fill them with ac_reuse_fill()). Every run is
 * whole blocks except the tail, which ends at @ntokens. -EINVAL for
 * inconsistent arguments, -ENOBUFS when max_runs is too small.
 */
int ac_reuse_plan(const struct ac_lookup_result *res, size_t nkeys,
		  uint32_t ntokens, uint32_t block_tokens, enum ac_reuse mode,
		  struct ac_reuse_plan *plan);

/*
 * Put the @nalloc blocks of ac_alloc() into the AC_NO_BLOCK entries of the
 * plan's table, in order. -EINVAL unless nalloc == plan->nalloc.
 */
int ac_reuse_fill(struct ac_reuse_plan *plan, const uint32_t *alloc,
		  size_t nalloc);

/*
 * The MSA batch arrays (CSR, as struct ac_msa_batch of asymcache/msa.h
 * takes them) for sequences that each have a block table and runs: the
 * query rows are the runs' positions in order. Append one sequence at a
 * time; the arrays grow as needed and belong to the batch.
 */
struct ac_batch {
	uint32_t num_segs, num_seqs, num_rows;
	int32_t *seg_indptr;	/* [num_segs + 1] */
	int32_t *seg_seq;	/* [num_segs] */
	int32_t *seg_pos;	/* [num_segs] */
	int32_t *table_indptr;	/* [num_seqs + 1] */
	int32_t *block_ids;	/* [table_indptr[num_seqs]] */
	int32_t *ctx_len;	/* [num_seqs] */
	int32_t *row_pos;	/* [num_rows]: absolute position of each row */
	size_t cap_segs, cap_seqs, cap_blocks, cap_rows;
};

/* Empty @b (keeping its storage) for the next iteration. */
void ac_batch_reset(struct ac_batch *b);
/*
 * Append a sequence: its block table (@nblocks entries, none AC_NO_BLOCK),
 * the context its table covers after this step (@ctx_len tokens) and its
 * runs, which must end by ctx_len and lie inside the table. -EINVAL,
 * -ENOMEM (the batch is unchanged).
 */
int ac_batch_add(struct ac_batch *b, const uint32_t *table, size_t nblocks,
		 uint32_t ctx_len, uint32_t block_tokens,
		 const struct ac_run *runs, size_t nruns);
/* Free the arrays; @b is left empty and reusable. */
void ac_batch_free(struct ac_batch *b);

/* ---- chunk scheduling (protocol: Schedule) ----------------------------- */

struct ac_sched_segment {
	uint32_t request_id;
	uint64_t start;		/* absolute position of its first token */
	uint32_t len;		/* >= 1 */
	uint64_t waited_us;	/* since the request arrived */
};

struct ac_sched_request {
	uint32_t decode_tokens;
	uint64_t decode_ctx;	/* sum of the decodes' context lengths */
	/* A request's segments consecutive, ascending, not overlapping. */
	const struct ac_sched_segment *segs;
	size_t nsegs;
	uint32_t tpot_target_us;	/* 0: the daemon's [scheduler] value */
};

struct ac_sched_chunk {
	uint32_t request_id;
	uint64_t start;
	uint32_t len;
};

struct ac_sched_result {
	struct ac_sched_chunk *chunks;	/* caller's array of @cap */
	size_t cap;
	size_t nchunks;
	uint64_t prefill_tokens;
	uint64_t gap_tokens;	/* cached tokens recomputed by merges */
	uint32_t segments;	/* query segments the kernel sees */
	double predicted_s;	/* iteration time from the daemon's cost model */
	bool fixed;		/* the daemon runs [scheduler] mode = fixed */
	uint32_t sharers;	/* sessions sharing this iteration's budget */
};

/*
 * The chunks to run next to this iteration's decodes, chosen by the
 * daemon's scheduler and cost model; processes sharing the daemon share
 * the budget. -ENOBUFS (nchunks = needed) when @cap is too small; -E2BIG,
 * -ERANGE, -EINVAL from the daemon's checks (see docs/protocol.md).
 */
int ac_schedule(struct ac_client *client, const struct ac_sched_request *req,
		struct ac_sched_result *res);

/*
 * ac_schedule() with, for agent programs, each segment's wait since its
 * program's first request arrived (@program_waited_us, one per segment,
 * 0 for a request of no program; NULL: none), which the daemon's program
 * order (FCFS by program start) goes by. A separate array, so that struct
 * ac_sched_segment keeps its size for binaries built against 0.1.
 */
int ac_schedule_programs(struct ac_client *client,
			 const struct ac_sched_request *req,
			 const uint64_t *program_waited_us,
			 struct ac_sched_result *res);

#ifdef __cplusplus
}
#endif

#endif /* ASYMCACHE_ASYMCACHE_H */
