/* SPDX-License-Identifier: MIT */
/*
 * Schedule: one engine iteration's prefill/recompute chunks, computed by
 * policy/chunk.[ch] with the daemon's cost model.
 *
 * Fairness between processes sharing the GPU: every caller asks for its
 * own iteration, so the scheduler's owner round-robin (which splits one
 * batch between owners) never sees two owners at once. Instead the daemon
 * counts the sessions that asked within SCHED_ACTIVE_NS and gives each an
 * equal share of what one iteration can take: the capacity is what the
 * scheduler would grant a caller with unlimited work at its first position,
 * not what this caller happens to need, so a caller with little pending
 * work does not shrink its own share.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "daemon.h"
#include "schedule.h"
#include "session.h"

#define SCHED_ACTIVE_NS (1000ULL * 1000 * 1000)
/* Length of the stand-in segment that measures an iteration's capacity. */
#define SCHED_PROBE_LEN (1U << 24)

uint32_t daemon_sched_active(struct daemon *d, uint64_t now)
{
	const struct session *s;
	uint32_t n = 0;

	for (s = d->sessions; s; s = s->next)
		if (s->sched_ns && now - s->sched_ns < SCHED_ACTIVE_NS)
			n++;
	return n;
}

int daemon_sched_check(const struct daemon *d, const struct daemon_sched_in *in,
		       const char **ret_why)
{
	const struct daemon_limits *l = &d->cfg.limits;
	uint32_t i;

	*ret_why = NULL;
	if (in->nsegs == 0) {
		*ret_why = "no pending segments";
		return -EINVAL;
	}
	if (in->nsegs > l->max_schedule_segments) {
		*ret_why = "more segments than limits.max_schedule_segments";
		return -E2BIG;
	}
	if (in->decode_tokens > l->max_schedule_decode) {
		*ret_why = "decode_tokens above limits.max_schedule_decode";
		return -ERANGE;
	}
	if (in->decode_ctx > (uint64_t)in->decode_tokens * SCHED_MAX_POS) {
		*ret_why = "decode_ctx above decode_tokens * 2^32";
		return -ERANGE;
	}
	if (in->tpot_us && (in->tpot_us < 1000 || in->tpot_us > 10000000)) {
		*ret_why = "tpot_target_us outside 1000..10000000 (0: the daemon's)";
		return -ERANGE;
	}
	for (i = 0; i < in->nsegs; i++) {
		const struct ac_chunk_seg *g = &in->segs[i];

		if (g->len == 0) {
			*ret_why = "a segment has len 0";
			return -EINVAL;
		}
		if (g->start + g->len > SCHED_MAX_POS) {
			*ret_why = "a segment ends beyond position 2^32";
			return -ERANGE;
		}
		if (i == 0 || in->segs[i - 1].req != g->req)
			continue;
		if (g->start < in->segs[i - 1].start + in->segs[i - 1].len) {
			*ret_why = "segments of a request overlap or are not ascending";
			return -EINVAL;
		}
	}
	/* A request split across the list: O(n^2) on a list <= the limit. */
	for (i = 1; i < in->nsegs; i++) {
		if (in->segs[i].req == in->segs[i - 1].req)
			continue;
		for (uint32_t j = 0; j + 1 < i; j++)
			if (in->segs[j].req == in->segs[i].req) {
				*ret_why = "a request's segments are not consecutive";
				return -EINVAL;
			}
	}
	return 0;
}

int daemon_schedule(struct daemon *d, struct session *s,
		    const struct daemon_sched_in *in, struct ac_chunk_plan *plan,
		    uint32_t *ret_sharers)
{
	const struct daemon_scheduler *sc = &d->cfg.sched;
	struct ac_chunk_config cfg;
	struct ac_chunk_batch b = {
		.decode_tokens = in->decode_tokens,
		.decode_ctx = in->decode_ctx,
		.segs = in->segs,
		.nsegs = in->nsegs,
		.now_ns = in->now_ns,
	};
	uint32_t tpot_us = in->tpot_us ? in->tpot_us : sc->tpot_target_us;
	uint64_t prev = s->sched_ns;
	uint32_t n;
	int r;

	ac_chunk_config_default(&cfg, sc->mode == CFG_SCHED_FIXED ?
				AC_CHUNK_FIXED : AC_CHUNK_ADAPTIVE,
				tpot_us / 1e6);
	/* The order is its own setting; unset, the mode's (HRRN, FCFS). */
	if (sc->order >= 0)
		cfg.order = (enum ac_chunk_order)sc->order;
	s->sched_ns = in->now_ns;
	n = daemon_sched_active(d, in->now_ns);
	if (sc->mode == CFG_SCHED_FIXED) {
		uint32_t room = sc->fixed_budget_tokens > in->decode_tokens ?
				sc->fixed_budget_tokens - in->decode_tokens : 0;

		cfg.fixed_budget = in->decode_tokens + room / n;
	} else if (n > 1) {
		struct ac_chunk_seg probe = {
			.req = 0, .owner = 0, .start = in->segs[0].start,
			.len = SCHED_PROBE_LEN, .arrival_ns = in->now_ns,
		};
		struct ac_chunk_pick pick;
		struct ac_chunk_plan pp = { .picks = &pick, .cap = 1 };
		struct ac_chunk_batch pb = b;
		uint64_t share;

		pb.segs = &probe;
		pb.nsegs = 1;
		r = ac_chunk_schedule(&cfg, &d->cfg.cost, &pb, &pp);
		if (r < 0)
			goto fail;
		share = pp.prefill_tokens / n;
		cfg.max_budget = share ? (uint32_t)share : 1;
		/* Never refuse to cut a piece the share allows. */
		if (cfg.max_budget < ac_cost_knee_tokens(&d->cfg.cost))
			cfg.min_chunk = cfg.max_budget;
	}
	b.turn = d->sched_turn++;
	r = ac_chunk_schedule(&cfg, &d->cfg.cost, &b, plan);
	if (r < 0)
		goto fail;
	*ret_sharers = n;
	return 0;

fail:
	/* An error changes nothing, fairness bookkeeping included. */
	s->sched_ns = prev;
	return r;
}
