/* SPDX-License-Identifier: MIT */
/*
 * One request through the daemon, as any engine should use the pool: keys
 * chained per block with the cache salt, Lookup (hits and holes), release
 * of the hits the reuse mode does not use, Alloc for holes and tail, one
 * forward pass whose MSA batch carries every hole and the tail, Commit of
 * each full block (dedup), decode steps that commit blocks as they fill,
 * and Release at the end.
 */
#ifndef AC_ENGINE_RUNNER_H
#define AC_ENGINE_RUNNER_H

#include <stdbool.h>
#include <stdint.h>

#include <asymcache/asymcache.h>

#include "forward.h"
#include "../ops/ops.h"

struct ac_runner;

struct ac_runner_opts {
	const char *socket;		/* the daemon's control socket */
	const char *client_name;	/* shown by asymcachectl sessions */
	const char *model_id;		/* the namespace's model id */
	const char *salt;		/* cache salt, may be NULL */
	uint32_t block_tokens;		/* tokens per pool block */
	enum ac_reuse reuse;
};

/* Per-request figures, for the front ends to print. */
struct ac_gen_stats {
	uint32_t prompt_tokens;
	uint32_t reused_tokens;		/* KV read from the pool */
	uint32_t hit_blocks;		/* Lookup's hits, used or not */
	uint32_t hole_runs;		/* recomputed runs before the tail */
	uint32_t computed_tokens;	/* prompt tokens run through the model */
	uint32_t generated;
	uint32_t committed;		/* blocks published */
	uint32_t deduped;		/* of those, already published by others */
	double ttft_s;			/* to the first generated token */
	double decode_s;		/* the other generated tokens */
};

/* Called with each generated token; return non-zero to stop. */
typedef int (*ac_token_fn)(int32_t token, void *userdata);

struct ac_gen_opts {
	uint32_t max_tokens;
	const int32_t *stop_ids;	/* end of generation (EOS and such) */
	uint32_t n_stop_ids;
	struct ac_sampler *sampler;	/* NULL: greedy */
	ac_token_fn on_token;
	void *userdata;
};

/*
 * Connect, attach pool 0 and register the model's namespace. -errno from
 * the client library (-ENOENT/-ECONNREFUSED: no daemon; -E2BIG: the pool's
 * blocks are too small for this model and block_tokens); -EMEDIUMTYPE when
 * the pool's memory is not the model backend's (a CUDA pool needs the CUDA
 * backend, a host pool the CPU one).
 */
int ac_runner_create(struct ac_model *model, const struct ac_runner_opts *o,
		     struct ac_runner **ret);
struct ac_runner *ac_runner_free(struct ac_runner *r);

/*
 * The full-block keys of @prompt as this runner chains them (namespace
 * seed and cache salt), and the namespace id: what a Lookup of it sends.
 * @nkeys is in/out as for ac_keys_compute().
 */
int ac_runner_keys(struct ac_runner *r, const int32_t *prompt, uint32_t n,
		   struct ac_key *keys, size_t *nkeys, uint32_t *ret_ns);

/*
 * Generate from @prompt (@n tokens, 1.. and within the model's context):
 * the generated tokens go to g->on_token and into @out (room for
 * g->max_tokens), their count to *ret_n. Every pin and WRITING block of
 * the request is released before it returns, on errors too.
 */
int ac_runner_generate(struct ac_runner *r, const int32_t *prompt,
		       uint32_t n, const struct ac_gen_opts *g, int32_t *out,
		       uint32_t *ret_n, struct ac_gen_stats *st);

#endif /* AC_ENGINE_RUNNER_H */
