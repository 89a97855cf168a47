/* SPDX-License-Identifier: MIT */
/*
 * TTL retention of agent turns: when a turn that declares a tool call
 * ends, the full blocks of its prompt (the chain its program's next turn
 * starts with) are handed to the daemon's Retain before the turn's own
 * pins go; the next turn of the program Resumes it once its Lookup has
 * pinned what is left. The output's blocks are not retained: a trace's
 * next prompt is the trace's, not this run's generated text, so they
 * would hold room no turn reads.
 */
#include <errno.h>

#include "runner_internal.h"

/* The slot of @program's retention, or nrets. */
static uint32_t find(const struct ac_runner *r, uint64_t program)
{
	uint32_t i;

	for (i = 0; i < r->nrets && r->rets[i].program != program; i++)
		;
	return i;
}

static void forget_at(struct ac_runner *r, uint32_t i)
{
	r->rets[i] = r->rets[--r->nrets];
}

void runner_forget_retentions(struct ac_runner *r)
{
	/* They died with the session that made them. */
	r->nrets = 0;
}

/* Called with @q RUNNING, its table still pinned, before the release. */
void sreq_retain(struct ac_runner *r, struct sreq *q)
{
	struct ac_kvsrc *s = r->src;
	struct ac_retain_args a = { .ttl_ms = q->retain_ttl_ms,
				    .expect_ms = q->expect_ms,
				    .program_id = q->program };
	struct ac_retention got = { 0 };
	uint32_t n = 0, full = q->n_prompt / r->T, i;
	int e;

	if (!q->retain || !q->program || !s->shared || !s->ops->retain)
		return;
	/* The chain's committed blocks, in order; all of them, normally. */
	while (n < full && n < q->nb && !q->own[n] &&
	       q->table[n] != AC_NO_BLOCK)
		n++;
	if (!n)
		return;
	i = find(r, q->program);
	if (i == r->nrets &&
	    runner_grow((void **)&r->rets, &r->cap_rets, r->nrets + 1,
			sizeof(*r->rets)) < 0) {
		q->st.retain_error = -ENOMEM;
		return;
	}
	if (i < r->nrets) {
		/* An earlier turn's retention nobody resumed: end it. */
		(void)s->ops->resume(s, r->rets[i].id, NULL);
		forget_at(r, i);
	}
	e = s->ops->retain(s, q->table, n, &a, &got);
	if (e < 0) {
		q->st.retain_error = e;
		return;
	}
	if (!got.id) {
		q->st.retain_declined = true;
		return;
	}
	r->rets[r->nrets].program = q->program;
	r->rets[r->nrets].id = got.id;
	r->nrets++;
	q->st.retained = n;
	q->st.retain_ttl_ms = got.expires_in_ms > UINT32_MAX
		? UINT32_MAX : (uint32_t)got.expires_in_ms;
	q->st.retain_pinned = got.pinned;
}

/* Called once @q is admitted: its Lookup's pins hold the chain now. */
void sreq_resume(struct ac_runner *r, struct sreq *q)
{
	struct ac_kvsrc *s = r->src;
	uint32_t i;
	int e;

	if (!q->program || !s->shared || !s->ops->resume)
		return;
	i = find(r, q->program);
	if (i == r->nrets)
		return;
	e = s->ops->resume(s, r->rets[i].id, NULL);
	forget_at(r, i);
	if (!e)
		q->st.resumed = true;
	else if (e == -ENOENT)
		q->st.resume_late = true;
	/* A lost daemon took the retention with it; the next call sees it. */
}
