/* SPDX-License-Identifier: MIT */
/*
 * TTL retention (Continuum-style): a client paused on a tool call keeps
 * its chain resident after releasing its own pins. Within the global
 * budget (limits.retain_budget_percent of the pool) the daemon pins the
 * blocks through its own cache_sess (retain_cs), so they are out of the
 * policy's candidate set exactly like pinned ones; beyond it the chain is
 * a hint to the policy (soft TTL, policy.h on_hint), still evictable.
 * policy/retain.[ch] says when to let go, learns what each program's tool
 * calls take, and picks a TTL against the price of space when the client
 * leaves it to the daemon.
 *
 * Retentions never outlive the session that made them: a client that dies
 * cannot come back for its chain, and a daemon must not let dead clients
 * hold memory for up to max_retain_ttl_ms each. Pinned ones also give way
 * to an Alloc that could not be served otherwise.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cost_model.h"
#include "daemon.h"
#include "log.h"
#include "loop.h"
#include "retain.h"
#include "retention.h"
#include "session.h"

/* Expiry granularity: TTLs are tool-call lengths, 100s of ms and up. */
#define RETAIN_TICK_NS (10ULL * 1000 * 1000)
/* Calls remembered per program, and how many before its own rule. */
#define LEARN_KEEP 32
#define LEARN_MIN_OWN 4
#define PRICE_WINDOW_S 60.0

struct retention_state {
	struct ac_retain *soft;		/* hints: no pins, own handles */
	struct ac_tool_stats *learned;
	struct ac_space_price price;
	double evicted_seen;		/* cache.ctr.evicted_recompute_s fed */
	uint32_t soft_blocks;
	uint32_t nlive;			/* retentions live, pinned or soft */
	uint64_t live_since_ns;
	uint64_t hold_ns;		/* integral of nlive over time */
	uint64_t resumed, expired_unused, dropped, declined;
};

static double secs(uint64_t ns)
{
	return ns / 1e9;
}

/* The count of live retentions changes: settle the hold-time integral. */
static void live_step(struct retention_state *rs, uint64_t now, int delta)
{
	if (now > rs->live_since_ns) {
		rs->hold_ns += rs->nlive * (now - rs->live_since_ns);
		rs->live_since_ns = now;
	}
	rs->nlive += delta;
}

int daemon_retain_init(struct daemon *d)
{
	struct retention_state *rs;
	int r;

	cache_sess_init(&d->retain_cs, 0);
	d->retained_blocks = 0;
	d->next_slot = 1;
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	d->rs = rs;
	ac_space_price_init(&rs->price, PRICE_WINDOW_S);
	r = ac_retain_new(&d->retain);
	if (r == 0)
		r = ac_retain_new(&rs->soft);
	if (r == 0)
		r = ac_tool_stats_new(LEARN_KEEP, LEARN_MIN_OWN, &rs->learned);
	return r;
}

static void drop_blocks(struct daemon *d, uint32_t *blocks, uint32_t n)
{
	cache_unpin_many(&d->cache, &d->retain_cs, blocks, n);
	d->retained_blocks -= n;
	free(blocks);
}

static void unhint_blocks(struct daemon *d, uint32_t *blocks, uint32_t n)
{
	/*
	 * A hinted block may have been evicted and its id reused: clearing a
	 * hint that is not there is harmless, and a retention of the new
	 * block is at worst ended early (soft retentions promise nothing).
	 */
	cache_hint(&d->cache, blocks, n, false);
	d->rs->soft_blocks -= n;
	free(blocks);
}

uint32_t daemon_retain_expire(struct daemon *d, uint64_t now_ns)
{
	struct retention_state *rs = d->rs;
	uint32_t *blocks, n, done = 0;
	uint64_t h, t;

	if (!d->retain || !rs)
		return 0;
	/* "Everything" (at teardown) ends now, for the hold-time sum. */
	t = now_ns == UINT64_MAX ? cache_clock_monotonic() : now_ns;
	while (ac_retain_expire(d->retain, now_ns, &blocks, &n) == 1) {
		drop_blocks(d, blocks, n);
		live_step(rs, t, -1);
		rs->expired_unused++;
		done++;
	}
	while (ac_retain_expire_handle(rs->soft, now_ns, &blocks, &n, &h) == 1) {
		unhint_blocks(d, blocks, n);
		live_step(rs, t, -1);
		rs->expired_unused++;
		done++;
	}
	return done;
}

int daemon_retain_drop_one(struct daemon *d)
{
	uint32_t *blocks, n;
	uint64_t h;

	if (!d->retain || !d->rs ||
	    ac_retain_expire_handle(d->retain, UINT64_MAX, &blocks, &n, &h) != 1)
		return 0;
	drop_blocks(d, blocks, n);
	live_step(d->rs, cache_clock_monotonic(), -1);
	d->rs->dropped++;
	return 1;
}

void daemon_retain_fini(struct daemon *d)
{
	struct retention_state *rs = d->rs;

	if (d->retain && rs)
		daemon_retain_expire(d, UINT64_MAX);
	d->retain = ac_retain_free(d->retain);
	if (rs) {
		ac_retain_free(rs->soft);
		ac_tool_stats_free(rs->learned);
		free(rs);
		d->rs = NULL;
	}
	pinmap_fini(&d->retain_cs.pins);
	free(d->free_slots);
	d->free_slots = NULL;
	d->nfree_slots = d->free_slots_cap = 0;
}

static uint64_t next_expiry(const struct daemon *d)
{
	uint64_t a = ac_retain_next_expiry(d->retain);
	uint64_t b = ac_retain_next_expiry(d->rs->soft);

	return a < b ? a : b;
}

static int on_retain_tick(struct loop_timer *t, void *userdata)
{
	struct daemon *d = userdata;

	(void)t;
	daemon_retain_expire(d, cache_clock_monotonic());
	if (next_expiry(d) != UINT64_MAX)
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

/* Forgets records that ended long enough ago to be no use for learning. */
static void prune(struct session *s, uint64_t now, uint64_t max_ttl_ns)
{
	uint32_t i, k = 0;

	for (i = 0; i < s->nrets; i++)
		if (s->rets[i].expire_ns + max_ttl_ns > now)
			s->rets[k++] = s->rets[i];
	s->nrets = k;
}

/* Program ids are the client's (64 bits) or the session's: fold to 32. */
static uint32_t program_key(const struct session *s, uint64_t program)
{
	uint64_t x = program ? program : s->cs.id | (1ULL << 63);
	uint32_t k = (uint32_t)(x ^ (x >> 32));

	return k == UINT32_MAX ? 0 : k;
}

/* The TTL the daemon picks for a chain; 0 declines. */
static uint32_t pick_ttl_ms(struct daemon *d, struct session *s,
			    const struct daemon_retain_req *q, uint64_t now)
{
	struct retention_state *rs = d->rs;
	const struct cache_ns *ns = cache_find_ns(&d->cache, q->ns);
	double ev = d->cache.ctr.evicted_recompute_s, ttl;

	/* What eviction let go since the last decision, stamped now. */
	if (ev > rs->evicted_seen) {
		ac_space_price_evicted(&rs->price, secs(now), ev - rs->evicted_seen);
		rs->evicted_seen = ev;
	}
	ttl = ac_retain_pick_ttl(rs->learned, program_key(s, q->program),
				 q->expect_ms / 1e3,
				 cache_recompute_s(&d->cache, q->ids, q->n),
				 (double)q->n * (ns ? ns->bytes_per_block : 0),
				 ac_space_price_get(&rs->price, secs(now),
						    (double)d->cache.nblocks *
						    d->cache.block_bytes));
	if (!(ttl > 0))
		return 0;
	ttl = ceil(ttl * 1e3);
	return ttl > d->cfg.limits.max_retain_ttl_ms ?
	       d->cfg.limits.max_retain_ttl_ms : (uint32_t)ttl;
}

static int ensure_rets(struct session *s)
{
	uint32_t cap;
	struct session_retention *nr;

	if (s->nrets < s->retcap)
		return 0;
	cap = s->retcap ? s->retcap * 2 : 4;
	nr = realloc(s->rets, cap * sizeof(*nr));
	if (!nr)
		return -ENOMEM;
	s->rets = nr;
	s->retcap = cap;
	return 0;
}

int daemon_retain(struct daemon *d, struct session *s,
		  const struct daemon_retain_req *q, struct daemon_retain_got *ret,
		  bool *ret_budget)
{
	const struct daemon_limits *l = &d->cfg.limits;
	struct retention_state *rs = d->rs;
	uint64_t now = cache_clock_monotonic(), handle, budget;
	uint32_t max = l->max_retained_blocks_per_session, ttl_ms = q->ttl_ms;
	bool pinned;
	int r;

	*ret_budget = false;
	memset(ret, 0, sizeof(*ret));
	if (ttl_ms > l->max_retain_ttl_ms || (ttl_ms == 0 && q->expect_ms == 0))
		return -ERANGE;
	if (q->n == 0)
		return -EINVAL;
	daemon_retain_expire(d, now);
	prune(s, now, (uint64_t)l->max_retain_ttl_ms * 1000000ULL);
	if ((uint64_t)daemon_session_retained(d, s) + q->n > max)
		return -EDQUOT;
	r = cache_check_held(&d->cache, &s->cs, q->ns, q->ids, q->n);
	if (r < 0)
		return r;
	if (ttl_ms == 0) {
		ttl_ms = pick_ttl_ms(d, s, q, now);
		if (!ttl_ms) {
			rs->declined++;
			return 0;
		}
	}
	budget = (uint64_t)d->cache.nblocks * l->retain_budget_percent / 100;
	pinned = (uint64_t)d->retained_blocks + q->n <= budget;
	if (!pinned && !cache_takes_hints(&d->cache)) {
		*ret_budget = true;
		return -EDQUOT;
	}
	r = ensure_rets(s);
	if (r == 0)
		r = slot_get(d, s);
	if (r == 0)
		r = ac_retain_set_quota(d->retain, s->retain_slot, max);
	if (r == 0)
		r = ac_retain_set_quota(rs->soft, s->retain_slot, max);
	if (r < 0)
		return r;
	if (pinned) {
		r = cache_pin_held(&d->cache, &s->cs, &d->retain_cs, q->ns,
				   q->ids, q->n);
		if (r < 0)
			return r;
		r = ac_retain_add(d->retain, s->retain_slot, q->ids, q->n,
				  now + (uint64_t)ttl_ms * 1000000ULL, &handle);
		if (r < 0) {
			cache_unpin_many(&d->cache, &d->retain_cs, q->ids, q->n);
			return r;
		}
		d->retained_blocks += q->n;
	} else {
		r = ac_retain_add(rs->soft, s->retain_slot, q->ids, q->n,
				  now + (uint64_t)ttl_ms * 1000000ULL, &handle);
		if (r < 0)
			return r;
		cache_hint(&d->cache, q->ids, q->n, true);
		rs->soft_blocks += q->n;
		handle |= RETAIN_SOFT;
	}
	live_step(rs, now, +1);
	s->rets[s->nrets++] = (struct session_retention){
		.handle = handle,
		.expire_ns = now + (uint64_t)ttl_ms * 1000000ULL,
		.start_ns = now,
		.program = program_key(s, q->program),
		.expect_ms = q->expect_ms,
	};
	if (d->loop && !d->retain_timer &&
	    loop_timer_new(d->loop, RETAIN_TICK_NS, on_retain_tick, d,
			   &d->retain_timer) < 0) {
		/* Requests still expire retentions; only idle ones linger. */
		log_warning("retain: cannot start the expiry timer");
		d->retain_timer = NULL;
	}
	ret->handle = handle;
	ret->ttl_ms = ttl_ms;
	ret->pinned = pinned;
	return 0;
}

/* Ends live retention @handle now: 0 with its block count, or -ENOENT. */
static int end_live(struct daemon *d, uint64_t handle, uint32_t *ret_n)
{
	uint32_t *blocks, n;
	int r;

	if (handle & RETAIN_SOFT) {
		r = ac_retain_release(d->rs->soft, handle & ~RETAIN_SOFT,
				      &blocks, &n);
		if (r == 0)
			unhint_blocks(d, blocks, n);
	} else {
		r = ac_retain_release(d->retain, handle, &blocks, &n);
		if (r == 0)
			drop_blocks(d, blocks, n);
	}
	if (r == 0) {
		live_step(d->rs, cache_clock_monotonic(), -1);
		*ret_n = n;
	}
	return r;
}

int daemon_resume(struct daemon *d, struct session *s, uint64_t handle,
		  uint32_t *ret_released)
{
	uint64_t now = cache_clock_monotonic();
	struct session_retention sr;
	uint32_t i;
	int r;

	daemon_retain_expire(d, now);
	for (i = 0; i < s->nrets; i++)
		if (s->rets[i].handle == handle)
			break;
	if (i == s->nrets)
		return -ENOENT;
	sr = s->rets[i];
	s->rets[i] = s->rets[--s->nrets];
	/* The call came back, in time or not: that is what it took. */
	r = ac_tool_stats_add(d->rs->learned, sr.program, sr.expect_ms / 1e3,
			      secs(now - sr.start_ns));
	if (r < 0)
		log_warning("retain: cannot learn a tool call: %s", strerror(-r));
	r = end_live(d, handle, ret_released);
	if (r == 0)
		d->rs->resumed++;
	return r;
}

void daemon_retain_session_close(struct daemon *d, struct session *s)
{
	uint32_t i, n;

	for (i = 0; d->retain && d->rs && i < s->nrets; i++)
		/* A live retention of a closing session: never came back. */
		if (end_live(d, s->rets[i].handle, &n) == 0)
			ac_tool_stats_add(d->rs->learned, s->rets[i].program,
					  s->rets[i].expect_ms / 1e3, -1);
	free(s->rets);
	s->rets = NULL;
	s->nrets = s->retcap = 0;
	slot_put(d, s);
}

uint32_t daemon_session_retained(const struct daemon *d,
				 const struct session *s)
{
	if (!s->retain_slot || !d->retain || !d->rs)
		return 0;
	return (uint32_t)(ac_retain_used(d->retain, s->retain_slot) +
			  ac_retain_used(d->rs->soft, s->retain_slot));
}

void daemon_retain_stats(const struct daemon *d,
			 struct daemon_retain_stats *ret)
{
	const struct retention_state *rs = d->rs;
	uint64_t now = cache_clock_monotonic(), hold;

	memset(ret, 0, sizeof(*ret));
	ret->budget_blocks = (uint32_t)((uint64_t)d->cache.nblocks *
					d->cfg.limits.retain_budget_percent / 100);
	ret->pinned_blocks = d->retained_blocks;
	if (!rs)
		return;
	hold = rs->hold_ns;
	if (now > rs->live_since_ns)
		hold += rs->nlive * (now - rs->live_since_ns);
	ret->soft_blocks = rs->soft_blocks;
	ret->resumed = rs->resumed;
	ret->expired_unused = rs->expired_unused;
	ret->dropped = rs->dropped;
	ret->declined = rs->declined;
	ret->hold_ms = hold / 1000000;
}
