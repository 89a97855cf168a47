/* SPDX-License-Identifier: MIT */
/*
 * TTL retention (Continuum-style): a client paused on a tool call keeps
 * its chain resident after releasing its own pins. The daemon pins the
 * blocks through its own cache_sess (retain_cs), so a retained block is
 * out of the policy's candidate set exactly like a pinned one, and
 * policy/retain.[ch] says when to drop those pins again.
 *
 * Retentions never outlive the session that made them: a client that dies
 * cannot come back for its chain, and a daemon must not let dead clients
 * hold memory for up to max_retain_ttl_ms each.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "loop.h"
#include "retain.h"
#include "retention.h"
#include "session.h"

/* Expiry granularity: TTLs are tool-call lengths, 100s of ms and up. */
#define RETAIN_TICK_NS (10ULL * 1000 * 1000)

int daemon_retain_init(struct daemon *d)
{
	cache_sess_init(&d->retain_cs, 0);
	d->retained_blocks = 0;
	d->next_slot = 1;
	return ac_retain_new(&d->retain);
}

static void drop_blocks(struct daemon *d, uint32_t *blocks, uint32_t n)
{
	cache_unpin_many(&d->cache, &d->retain_cs, blocks, n);
	d->retained_blocks -= n;
	free(blocks);
}

uint32_t daemon_retain_expire(struct daemon *d, uint64_t now_ns)
{
	uint32_t *blocks, n, done = 0;

	if (!d->retain)
		return 0;
	while (ac_retain_expire(d->retain, now_ns, &blocks, &n) == 1) {
		drop_blocks(d, blocks, n);
		done++;
	}
	return done;
}

void daemon_retain_fini(struct daemon *d)
{
	if (!d->retain)
		return;
	daemon_retain_expire(d, UINT64_MAX);
	d->retain = ac_retain_free(d->retain);
	pinmap_fini(&d->retain_cs.pins);
	free(d->free_slots);
	d->free_slots = NULL;
	d->nfree_slots = d->free_slots_cap = 0;
}

static int on_retain_tick(struct loop_timer *t, void *userdata)
{
	struct daemon *d = userdata;

	(void)t;
	daemon_retain_expire(d, cache_clock_monotonic());
	if (ac_retain_next_expiry(d->retain) != UINT64_MAX)
		return 0;
	/* Nothing left: the loop frees the timer; the next Retain re-adds. */
	d->retain_timer = NULL;
	return -1;
}

static int slot_get(struct daemon *d, struct session *s)
{
	if (s->retain_slot)
		return 0;
	if (d->nfree_slots) {
		s->retain_slot = d->free_slots[--d->nfree_slots];
		return 0;
	}
	if (d->next_slot == UINT32_MAX)
		return -ENOSPC;
	s->retain_slot = d->next_slot++;
	return 0;
}

static void slot_put(struct daemon *d, struct session *s)
{
	uint32_t *n;

	if (!s->retain_slot)
		return;
	if (d->nfree_slots == d->free_slots_cap) {
		uint32_t cap = d->free_slots_cap ? d->free_slots_cap * 2 : 16;

		n = realloc(d->free_slots, cap * sizeof(*n));
		/* Out of memory: the slot is lost, never reused twice. */
		if (!n) {
			s->retain_slot = 0;
			return;
		}
		d->free_slots = n;
		d->free_slots_cap = cap;
	}
	d->free_slots[d->nfree_slots++] = s->retain_slot;
	s->retain_slot = 0;
}

/* Forgets handles that expired (expiry already ran for @now). */
static void prune(struct session *s, uint64_t now)
{
	uint32_t i, k = 0;

	for (i = 0; i < s->nrets; i++)
		if (s->rets[i].expire_ns > now)
			s->rets[k++] = s->rets[i];
	s->nrets = k;
}

int daemon_retain(struct daemon *d, struct session *s, uint32_t ns,
		  const uint32_t *ids, uint32_t n, uint32_t ttl_ms,
		  uint64_t *ret_handle)
{
	uint32_t max = d->cfg.limits.max_retained_blocks_per_session;
	uint64_t now = cache_clock_monotonic(), handle;
	int r;

	if (ttl_ms == 0 || ttl_ms > d->cfg.limits.max_retain_ttl_ms)
		return -ERANGE;
	if (n == 0)
		return -EINVAL;
	daemon_retain_expire(d, now);
	prune(s, now);
	if ((uint64_t)daemon_session_retained(d, s) + n > max)
		return -EDQUOT;
	if (s->nrets == s->retcap) {
		uint32_t cap = s->retcap ? s->retcap * 2 : 4;
		struct session_retention *nr;

		nr = realloc(s->rets, cap * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		s->rets = nr;
		s->retcap = cap;
	}
	r = slot_get(d, s);
	if (r < 0)
		return r;
	r = ac_retain_set_quota(d->retain, s->retain_slot, max);
	if (r < 0)
		return r;
	r = cache_pin_held(&d->cache, &s->cs, &d->retain_cs, ns, ids, n);
	if (r < 0)
		return r;
	r = ac_retain_add(d->retain, s->retain_slot, ids, n,
			  now + (uint64_t)ttl_ms * 1000000ULL, &handle);
	if (r < 0) {
		cache_unpin_many(&d->cache, &d->retain_cs, ids, n);
		return r;
	}
	d->retained_blocks += n;
	s->rets[s->nrets].handle = handle;
	s->rets[s->nrets].expire_ns = now + (uint64_t)ttl_ms * 1000000ULL;
	s->nrets++;
	if (d->loop && !d->retain_timer &&
	    loop_timer_new(d->loop, RETAIN_TICK_NS, on_retain_tick, d,
			   &d->retain_timer) < 0) {
		/* Requests still expire retentions; only idle ones linger. */
		log_warning("retain: cannot start the expiry timer");
		d->retain_timer = NULL;
	}
	*ret_handle = handle;
	return 0;
}

int daemon_resume(struct daemon *d, struct session *s, uint64_t handle,
		  uint32_t *ret_released)
{
	uint32_t *blocks, n, i;
	int r;

	daemon_retain_expire(d, cache_clock_monotonic());
	for (i = 0; i < s->nrets; i++)
		if (s->rets[i].handle == handle)
			break;
	if (i == s->nrets)
		return -ENOENT;
	s->rets[i] = s->rets[--s->nrets];
	r = ac_retain_release(d->retain, handle, &blocks, &n);
	if (r < 0)
		return r;
	drop_blocks(d, blocks, n);
	*ret_released = n;
	return 0;
}

void daemon_retain_session_close(struct daemon *d, struct session *s)
{
	uint32_t *blocks, n, i;

	for (i = 0; d->retain && i < s->nrets; i++)
		if (ac_retain_release(d->retain, s->rets[i].handle, &blocks,
				      &n) == 0)
			drop_blocks(d, blocks, n);
	free(s->rets);
	s->rets = NULL;
	s->nrets = s->retcap = 0;
	slot_put(d, s);
}

uint32_t daemon_session_retained(const struct daemon *d,
				 const struct session *s)
{
	if (!s->retain_slot || !d->retain)
		return 0;
	return (uint32_t)ac_retain_used(d->retain, s->retain_slot);
}
