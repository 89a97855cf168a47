/* SPDX-License-Identifier: MIT */
/*
 * A request's blocks: admission (Lookup, plan, Alloc), the commits of
 * blocks as they fill, preemption and the release at the end.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runner_internal.h"

uint32_t sreq_pending(const struct sreq *q)
{
	uint32_t n = 0;

	for (uint32_t i = q->run_i; i < q->nruns; i++)
		n += q->runs[i].len;
	return n - q->run_off;
}

/* found, drop, alloc, idx, segs and commit entries for @n blocks. */
static int scratch_blocks(struct ac_runner *r, uint32_t n)
{
	void **arr[] = { (void **)&r->found, (void **)&r->drop,
			 (void **)&r->alloc, (void **)&r->idx,
			 (void **)&r->segs, (void **)&r->ce };
	const size_t sz[] = { sizeof(*r->found), sizeof(*r->drop),
			      sizeof(*r->alloc), sizeof(*r->idx),
			      sizeof(*r->segs), sizeof(*r->ce) };
	uint32_t cap = r->cap_blocks * 2;

	if (n + 1 <= r->cap_blocks)
		return 0;
	if (cap < n + 1)
		cap = n + 1;
	/* Each array keeps what it got: the capacity moves only at the end. */
	for (size_t i = 0; i < sizeof(sz) / sizeof(sz[0]); i++) {
		void *p = realloc(*arr[i], cap * sz[i]);

		if (!p)
			return -ENOMEM;
		*arr[i] = p;
	}
	r->cap_blocks = cap;
	return 0;
}

/* Give back every block the request holds; @release: the source is alive. */
void sreq_drop_blocks(struct ac_runner *r, struct sreq *q, bool release)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < q->nb; i++)
		if (q->table[i] != AC_NO_BLOCK)
			q->table[k++] = q->table[i];
	/*
	 * A failed release leaves pins to the session's close; a lost daemon
	 * is noticed by the next call that needs it.
	 */
	if (release && k)
		(void)r->src->ops->release(r->src, q->table, k);
	q->nb = q->nkeys = q->next_commit = 0;
	q->nruns = q->run_i = q->run_off = 0;
	q->prefilled = false;
}

/*
 * Lookup, plan under the reuse mode, Alloc: the request becomes RUNNING
 * with its table filled and its runs to compute. On failure it holds
 * nothing (-ENOSPC or -EDQUOT: no room now, ac_kvsrc_full(); a lost
 * daemon's error as it came).
 */
int sreq_admit(struct ac_runner *r, struct sreq *q)
{
	struct ac_kvsrc *s = r->src;
	uint32_t n = q->len, nkeys = n / r->T, nblocks = (n + r->T - 1) / r->T;
	struct ac_lookup_result res = { 0 };
	struct ac_reuse_plan plan;
	size_t nk = nkeys;
	int e;

	e = scratch_blocks(r, nblocks);
	if (e < 0)
		return e;
	if (s->shared && nkeys) {
		e = ac_keys_compute(&r->seed, q->tokens, n, r->T, q->keys, &nk);
		if (e < 0)
			return e;
	}
	res = (struct ac_lookup_result){ .blocks = r->found,
					 .segments = r->segs,
					 .max_segments = nkeys + 1 };
	if (nkeys) {
		e = s->ops->lookup(s, q->keys, nkeys, &res);
		if (e < 0)
			return e;
	}
	plan = (struct ac_reuse_plan){ .table = q->table, .runs = q->runs,
				       .max_runs = nblocks, .drop = r->drop };
	e = ac_reuse_plan(&res, nkeys, n, r->T,
			  s->shared ? r->o.reuse : AC_REUSE_NONE, &plan);
	if (e < 0) {
		uint32_t nh = 0;

		for (uint32_t i = 0; i < nkeys; i++)
			if (r->found[i] != AC_NO_BLOCK)
				r->drop[nh++] = r->found[i];
		if (nh)
			(void)s->ops->release(s, r->drop, nh);
		return e;
	}
	/* From here the table's non-empty entries are ours to release. */
	q->nb = (uint32_t)plan.nblocks;
	for (uint32_t i = 0; i < q->nb; i++)
		q->own[i] = q->table[i] == AC_NO_BLOCK;
	if (plan.ndrop) {
		e = s->ops->release(s, r->drop, plan.ndrop);
		if (e < 0)
			goto undo;
	}
	e = s->ops->alloc(s, (uint32_t)plan.nalloc, r->alloc);
	if (e < 0)
		goto undo;
	e = ac_reuse_fill(&plan, r->alloc, plan.nalloc);
	if (e < 0)
		goto undo;
	q->nkeys = s->shared ? nkeys : 0;
	q->nruns = (uint32_t)plan.nruns;
	q->run_i = q->run_off = 0;
	q->next_commit = 0;
	q->prefilled = false;
	q->state = SREQ_RUNNING;
	q->admit_seq = ++r->admit_seq;
	/* What the last admission found; the work of every admission. */
	q->st.hit_blocks = res.hits;
	q->st.reused_tokens = plan.reused_tokens;
	q->st.hole_runs = (uint32_t)plan.nruns - 1;
	q->st.computed_tokens += n - plan.reused_tokens;
	q->st.private_pool = !s->shared;
	sreq_resume(r, q);
	return 0;
undo:
	/* The AC_NO_BLOCK slots are skipped; the hits go back. */
	for (uint32_t i = 0; i < q->nb; i++)
		if (q->own[i])
			q->table[i] = AC_NO_BLOCK;
	sreq_drop_blocks(r, q, !ac_kvsrc_lost(e));
	return e;
}

/*
 * Publish the request's own blocks that are now full and computed, in
 * order; a block past the prompt's keys gets its key chained from the one
 * before. Dedup swaps the table entry for the block already published.
 */
int sreq_commit_ready(struct ac_runner *r, struct sreq *q)
{
	struct ac_kvsrc *s = r->src;
	uint32_t done_to, n = 0, dedup = 0, b;
	int e;

	if (!s->shared)
		return 0;
	done_to = q->run_i < q->nruns ? q->runs[q->run_i].pos + q->run_off
				      : q->len;
	for (b = q->next_commit; (uint64_t)(b + 1) * r->T <= done_to && b < q->nb;
	     b++) {
		if (b >= q->nkeys) {
			struct ac_key_seed chain = r->seed;
			size_t nk = 1;

			if (b)
				chain.seed = q->keys[b - 1];
			e = ac_keys_compute(&chain, q->tokens + (size_t)b * r->T,
					    r->T, r->T, &q->keys[b], &nk);
			if (e < 0)
				return e;
			q->nkeys = b + 1;
		}
		if (!q->own[b])
			continue;
		r->ce[n] = (struct ac_commit_entry){ .key = q->keys[b],
						     .block = q->table[b],
						     .position = b };
		if (b)
			r->ce[n].parent = q->keys[b - 1];
		r->idx[n++] = b;
	}
	q->next_commit = b;
	if (!n)
		return 0;
	e = s->ops->commit(s, r->ce, n, r->found, &dedup);
	if (e < 0)
		return e;
	for (uint32_t i = 0; i < n; i++) {
		q->table[r->idx[i]] = r->found[i];
		q->own[r->idx[i]] = 0;
	}
	q->st.committed += n;
	q->st.deduped += dedup;
	return 0;
}

/* Release everything and requeue: it is recomputed later, hits and all. */
void sreq_preempt(struct ac_runner *r, struct sreq *q)
{
	sreq_drop_blocks(r, q, true);
	q->state = SREQ_WAITING;
	q->requeued = true;
	q->st.preemptions++;
	/*
	 * Admitting again before anything finished would take back the room
	 * the preemption made, and preempt again: recompute without end.
	 */
	r->hold_admission = true;
}

void sreq_finish(struct ac_runner *r, struct sreq *q, int status)
{
	if (q->state == SREQ_RUNNING) {
		if (!status)
			sreq_retain(r, q);
		sreq_drop_blocks(r, q, true);
		r->hold_admission = false;
	}
	q->state = SREQ_DONE;
	q->status = status;
	q->done_s = ac_runner_now();
}
