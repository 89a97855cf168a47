/* SPDX-License-Identifier: MIT */
/*
 * The hit-ratio window of /metrics moves with the clock: a lookup counts
 * for METRICS_WINDOW_SLOTS * METRICS_SLOT_S seconds and then not at all,
 * while the whole-life counters keep it.
 */
#include <criterion/criterion.h>

#include "metrics.h"

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

Test(metrics, window_forgets_what_is_older_than_it)
{
	const uint64_t span = METRICS_WINDOW_SLOTS * METRICS_SLOT_S;
	struct metrics *m;
	uint64_t q, h;

	cr_assert_eq(metrics_new(&m), 0);
	metrics_set_clock(m, fake_clock);
	fake_now = 1000;
	metrics_lookup(m, 1, 4, 3, 1, 16);	/* 64 tokens, 48 hit */
	fake_now += span / 2;
	metrics_lookup(m, 1, 2, 0, 0, 16);	/* 32 tokens, none hit */
	metrics_lookup(m, 2, 1, 1, 0, 16);	/* another namespace */
	metrics_window(m, 1, &q, &h);
	cr_expect_eq(q, 96);
	cr_expect_eq(h, 48);
	metrics_window(m, 0, &q, &h);
	cr_expect_eq(q, 112);
	cr_expect_eq(h, 64);
	/* The first lookup's slot leaves the window; the second stays. */
	fake_now = 1000 + span + METRICS_SLOT_S;
	metrics_window(m, 1, &q, &h);
	cr_expect_eq(q, 32);
	cr_expect_eq(h, 0);
	/* A slot written again long after is not added to its old count. */
	fake_now += 3 * span;
	metrics_lookup(m, 1, 1, 1, 0, 16);
	metrics_window(m, 1, &q, &h);
	cr_expect_eq(q, 16);
	cr_expect_eq(h, 16);
	fake_now += span;
	metrics_window(m, 0, &q, &h);
	cr_expect_eq(q, 0);
	cr_expect_eq(h, 0);
	metrics_free(m);
}
