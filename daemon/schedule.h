/* SPDX-License-Identifier: MIT */
/* The Schedule request's daemon side (schedule.c). */
#ifndef AC_DAEMON_SCHEDULE_H
#define AC_DAEMON_SCHEDULE_H

#include <stdint.h>

#include "chunk.h"

struct daemon;
struct session;

/* Positions (and each decode's context) stay below 2^32 tokens. */
#define SCHED_MAX_POS (1ULL << 32)

struct daemon_sched_in {
	uint32_t decode_tokens;
	uint64_t decode_ctx;
	const struct ac_chunk_seg *segs;	/* owner = the session */
	uint32_t nsegs;
	uint32_t tpot_us;		/* 0: [scheduler] tpot_target_us */
	uint64_t now_ns;
};

/* Range checks against [limits]; -errno with a reason in *ret_why. */
int daemon_sched_check(const struct daemon *d,
		       const struct daemon_sched_in *in, const char **ret_why);
/* Sessions that asked within the last second (the fair-share divisor). */
uint32_t daemon_sched_active(struct daemon *d, uint64_t now);
/*
 * Fills @plan (picks capacity from the caller) for @s's share of the
 * iteration; *ret_sharers gets the number of sessions sharing it.
 */
int daemon_schedule(struct daemon *d, struct session *s,
		    const struct daemon_sched_in *in, struct ac_chunk_plan *plan,
		    uint32_t *ret_sharers);

#endif /* AC_DAEMON_SCHEDULE_H */
