/* SPDX-License-Identifier: MIT */
/*
 * Agent-session calls: TTL retention (Retain/Resume), the TTL
 * picker, and chunk scheduling (Schedule). Arguments are checked before
 * anything is sent and replies before anything is handed back, as in
 * ops.c.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "client-internal.h"
#include "retain.h"

/* A ScheduledChunk is at most 3 tags + 5 + 10 + 5 bytes of varints. */
#define RX_PER_CHUNK	24

int ac_retain_program(struct ac_client *c, uint32_t ns,
		      const uint32_t *blocks, size_t n,
		      const struct ac_retain_args *a, struct ac_retention *ret)
{
	Asymcache__V1__Retain rt = ASYMCACHE__V1__RETAIN__INIT;
	Asymcache__V1__Response *resp;
	int r;

	if (!c || !blocks || !a || !ret || n == 0 || n > UINT32_MAX)
		return -EINVAL;
	if (a->ttl_ms == 0 && a->expect_ms == 0)
		return -ERANGE;
	rt.ns_id = ns;
	rt.n_blocks = n;
	rt.blocks = (uint32_t *)blocks;
	rt.ttl_ms = a->ttl_ms;
	rt.expect_ms = a->expect_ms;
	rt.program_id = a->program_id;

	r = client_call(c, ASYMCACHE__V1__REQUEST__BODY_RETAIN, &rt,
			ASYMCACHE__V1__RESPONSE__BODY_RETAIN, CLIENT_RX_MIN, &resp);
	if (r < 0)
		return r;
	/* Only a TTL of the daemon's own choosing may be declined. */
	if (resp->retain->retention_id == 0 && a->ttl_ms) {
		r = -EPROTO;
	} else {
		ret->id = resp->retain->retention_id;
		ret->expires_in_ms = resp->retain->expires_in_ms;
		ret->pinned = resp->retain->pinned;
	}
	client_done(c, resp);
	return r;
}

int ac_retain(struct ac_client *c, uint32_t ns, const uint32_t *blocks,
	      size_t n, uint32_t ttl_ms, uint64_t *ret_retention)
{
	struct ac_retain_args a = { .ttl_ms = ttl_ms };
	struct ac_retention rt;
	int r;

	if (!ret_retention)
		return -EINVAL;
	if (ttl_ms == 0)
		return -ERANGE;
	r = ac_retain_program(c, ns, blocks, n, &a, &rt);
	if (r == 0)
		*ret_retention = rt.id;
	return r;
}

int ac_resume(struct ac_client *c, uint64_t retention, uint32_t *ret_released)
{
	Asymcache__V1__Resume rs = ASYMCACHE__V1__RESUME__INIT;
	Asymcache__V1__Response *resp;
	int r;

	if (!c || retention == 0)
		return -EINVAL;
	rs.retention_id = retention;

	r = client_call(c, ASYMCACHE__V1__REQUEST__BODY_RESUME, &rs,
			ASYMCACHE__V1__RESPONSE__BODY_RESUME, CLIENT_RX_MIN, &resp);
	if (r < 0)
		return r;
	if (ret_released)
		*ret_released = resp->resume->released;
	client_done(c, resp);
	return 0;
}

int ac_retained(struct ac_client *c, uint32_t *ret_total,
		uint32_t *ret_session)
{
	if (!c || (!ret_total && !ret_session))
		return -EINVAL;
	return client_stats(c, NULL, ret_total, ret_session);
}

int ac_pick_ttl(const double *tool_s, size_t n, double recompute_s,
		double hold_s_per_s, uint32_t fallback_ms,
		uint32_t *ret_ttl_ms)
{
	double ttl;
	size_t i;

	if ((n && !tool_s) || !ret_ttl_ms)
		return -EINVAL;
	if (!isfinite(recompute_s) || recompute_s < 0 ||
	    !isfinite(hold_s_per_s) || hold_s_per_s < 0)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!isfinite(tool_s[i]) || tool_s[i] < 0)
			return -EINVAL;
	ttl = ac_ttl_pick(tool_s, n, recompute_s, hold_s_per_s,
			  fallback_ms / 1e3);
	/*
	 * Round up: the picked TTL is an observed duration, and a resume
	 * that arrives exactly then must still find the chain.
	 */
	ttl = ceil(ttl * 1e3);
	if (ttl > UINT32_MAX)
		return -ERANGE;
	*ret_ttl_ms = (uint32_t)ttl;
	return 0;
}

static int sched_reply_check(const Asymcache__V1__ScheduleReply *sr,
			     const struct ac_sched_segment *segs, size_t n)
{
	uint64_t total = 0;
	size_t i, j;

	/*
	 * Every chunk lies inside the span of its request's segments (a
	 * merge may cover the cached gap between two of them).
	 */
	for (i = 0; i < sr->n_chunks; i++) {
		const Asymcache__V1__ScheduledChunk *k = sr->chunks[i];
		bool inside = false;

		if (k->len == 0)
			return -EPROTO;
		for (j = 0; j < n; j++) {
			size_t e = j;

			if (segs[j].request_id != k->request_id)
				continue;
			while (e + 1 < n && segs[e + 1].request_id == k->request_id)
				e++;
			inside = k->start >= segs[j].start &&
				 k->start + k->len <= segs[e].start + segs[e].len;
			break;
		}
		if (!inside)
			return -EPROTO;
		total += k->len;
	}
	if (total != sr->prefill_tokens || !(sr->predicted_s >= 0))
		return -EPROTO;
	return 0;
}

int ac_schedule_programs(struct ac_client *c,
			 const struct ac_sched_request *in,
			 const uint64_t *pwaited, struct ac_sched_result *res)
{
	Asymcache__V1__Schedule sc = ASYMCACHE__V1__SCHEDULE__INIT;
	Asymcache__V1__PendingSegment *ps = NULL, **pp = NULL;
	Asymcache__V1__Response *resp;
	const Asymcache__V1__ScheduleReply *sr;
	size_t i;
	int r;

	if (!c || !in || !res || (in->nsegs && !in->segs) ||
	    (res->cap && !res->chunks))
		return -EINVAL;
	if (in->nsegs == 0 || in->nsegs > UINT32_MAX)
		return -EINVAL;
	for (i = 0; i < in->nsegs; i++)
		if (in->segs[i].len == 0)
			return -EINVAL;
	ps = calloc(in->nsegs, sizeof(*ps));
	pp = calloc(in->nsegs, sizeof(*pp));
	if (!ps || !pp) {
		r = -ENOMEM;
		goto out_free;
	}
	for (i = 0; i < in->nsegs; i++) {
		asymcache__v1__pending_segment__init(&ps[i]);
		ps[i].request_id = in->segs[i].request_id;
		ps[i].start = in->segs[i].start;
		ps[i].len = in->segs[i].len;
		ps[i].waited_us = in->segs[i].waited_us;
		if (pwaited)
			ps[i].program_waited_us = pwaited[i];
		pp[i] = &ps[i];
	}
	sc.decode_tokens = in->decode_tokens;
	sc.decode_ctx = in->decode_ctx;
	sc.n_segments = in->nsegs;
	sc.segments = pp;
	sc.tpot_target_us = in->tpot_target_us;

	r = client_call(c, ASYMCACHE__V1__REQUEST__BODY_SCHEDULE, &sc,
			ASYMCACHE__V1__RESPONSE__BODY_SCHEDULE,
			CLIENT_RX_MIN + 2 * in->nsegs * RX_PER_CHUNK, &resp);
	if (r < 0)
		goto out_free;
	sr = resp->schedule;
	r = sched_reply_check(sr, in->segs, in->nsegs);
	if (r == 0 && sr->n_chunks > res->cap) {
		res->nchunks = sr->n_chunks;
		r = -ENOBUFS;
	}
	if (r == 0) {
		for (i = 0; i < sr->n_chunks; i++) {
			res->chunks[i].request_id = sr->chunks[i]->request_id;
			res->chunks[i].start = sr->chunks[i]->start;
			res->chunks[i].len = sr->chunks[i]->len;
		}
		res->nchunks = sr->n_chunks;
		res->prefill_tokens = sr->prefill_tokens;
		res->gap_tokens = sr->gap_tokens;
		res->segments = sr->segments;
		res->predicted_s = sr->predicted_s;
		res->fixed = sr->fixed;
		res->sharers = sr->sharers;
	}
	client_done(c, resp);
out_free:
	free(ps);
	free(pp);
	return r;
}

int ac_schedule(struct ac_client *c, const struct ac_sched_request *in,
		struct ac_sched_result *res)
{
	return ac_schedule_programs(c, in, NULL, res);
}
