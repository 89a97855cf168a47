/* SPDX-License-Identifier: MIT */
/*
 * A private pool with no cache: what an engine serves from while the
 * daemon is away. Blocks come off a free stack; a commit publishes nothing
 * (the block stays the request's) and a release puts it back.
 */
#include <errno.h>
#include <stdlib.h>

#include "kvsrc.h"

struct local_src {
	struct ac_kvsrc base;
	enum ac_fwd_backend backend;
	uint32_t *free_stack;
	uint32_t nfree;
	uint8_t *held;		/* per block: handed out and not released */
};

static struct local_src *to_local(struct ac_kvsrc *s)
{
	return (struct local_src *)s;
}

static int l_lookup(struct ac_kvsrc *s, const struct ac_key *keys, size_t n,
		    struct ac_lookup_result *res)
{
	(void)s;
	(void)keys;
	for (size_t i = 0; i < n; i++)
		res->blocks[i] = AC_NO_BLOCK;
	res->hits = 0;
	res->nsegments = 0;
	if (n) {
		if (!res->max_segments)
			return -ENOBUFS;
		res->segments[0] = (struct ac_segment){ 0, (uint32_t)n, false };
		res->nsegments = 1;
	}
	return 0;
}

static int l_alloc(struct ac_kvsrc *s, uint32_t n, uint32_t *blocks)
{
	struct local_src *l = to_local(s);

	if (n > l->nfree)
		return -ENOSPC;
	for (uint32_t i = 0; i < n; i++) {
		blocks[i] = l->free_stack[--l->nfree];
		l->held[blocks[i]] = 1;
	}
	return 0;
}

static int l_commit(struct ac_kvsrc *s, const struct ac_commit_entry *ce,
		    size_t n, uint32_t *got, uint32_t *deduped)
{
	struct local_src *l = to_local(s);

	for (size_t i = 0; i < n; i++)
		if (ce[i].block >= s->kv.num_blocks || !l->held[ce[i].block])
			return -EINVAL;
	for (size_t i = 0; i < n; i++)
		got[i] = ce[i].block;
	if (deduped)
		*deduped = 0;
	return 0;
}

static int l_release(struct ac_kvsrc *s, const uint32_t *blocks, size_t n)
{
	struct local_src *l = to_local(s);

	/* All or nothing, as the daemon validates every id first. */
	for (size_t i = 0; i < n; i++)
		if (blocks[i] >= s->kv.num_blocks || !l->held[blocks[i]])
			return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		l->held[blocks[i]] = 0;
		l->free_stack[l->nfree++] = blocks[i];
	}
	return 0;
}

static int l_schedule(struct ac_kvsrc *s, const struct ac_sched_request *req,
		      const uint64_t *program_waited_us,
		      struct ac_sched_result *res)
{
	(void)s;
	(void)req;
	(void)program_waited_us;
	(void)res;
	return -EOPNOTSUPP;
}

static void l_destroy(struct ac_kvsrc *s)
{
	struct local_src *l = to_local(s);

	ac_kvmem_free(l->backend, s->kv.base);
	free(l->free_stack);
	free(l->held);
	free(l);
}

static const struct ac_kvsrc_ops local_ops = {
	.name = "private",
	.lookup = l_lookup,
	.alloc = l_alloc,
	.commit = l_commit,
	.release = l_release,
	.schedule = l_schedule,
	.destroy = l_destroy,
};

int ac_kvsrc_local_open(const struct ac_kv_layout *layout, uint32_t nblocks,
			enum ac_fwd_backend backend, struct ac_kvsrc **ret)
{
	struct local_src *l;
	uint64_t bb;
	int e;

	if (!layout || !nblocks || !ret || ac_kv_layout_check(layout) < 0)
		return -EINVAL;
	bb = ac_kv_block_bytes(layout);
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->backend = backend;
	l->free_stack = malloc(sizeof(*l->free_stack) * nblocks);
	l->held = calloc(nblocks, 1);
	if (!l->free_stack || !l->held) {
		e = -ENOMEM;
		goto fail;
	}
	e = ac_kvmem_alloc(backend, bb * nblocks, &l->base.kv.base);
	if (e < 0)
		goto fail;
	/* Popped from the top: block 0 goes first, as a fresh pool would. */
	for (uint32_t i = 0; i < nblocks; i++)
		l->free_stack[i] = nblocks - 1 - i;
	l->nfree = nblocks;
	l->base.ops = &local_ops;
	l->base.kv.block_bytes = bb;
	l->base.kv.num_blocks = nblocks;
	l->base.kv.layout = *layout;
	*ret = &l->base;
	return 0;
fail:
	free(l->free_stack);
	free(l->held);
	free(l);
	return e;
}
