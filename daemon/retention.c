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
 *
 * Every pool keeps its own retentions, budget, learned calls and price of
 * space (struct daemon_pool); a handle carries its pool, so Resume finds
 * it without the client naming the pool.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
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
/*
 * Retention runs on its pool's cache clock (the monotonic clock unless a
 * test set another): TTLs, learned tool times and hold sums then follow
 * one clock, which a test can advance without sleeping.
 */
static uint64_t pool_now(const struct daemon_pool *p)
{
	return p->cache.now_ns();
}

static void live_step(struct retention_state *rs, uint64_t now, int delta)
{
	if (now > rs->live_since_ns) {
		rs->hold_ns += rs->nlive * (now - rs->live_since_ns);
		rs->live_since_ns = now;
	}
	rs->nlive += delta;
}

/* A handle on the wire: ac_retain's own, its pool, and RETAIN_SOFT. */
static uint64_t wire_handle(const struct daemon_pool *p, uint64_t h, bool soft)
{
	return h | (uint64_t)p->index << RETAIN_POOL_SHIFT | (soft ? RETAIN_SOFT : 0);
}

static uint32_t handle_pool(uint64_t handle)
{
	return (uint32_t)(handle >> RETAIN_POOL_SHIFT) & (CACHE_MAX_POOLS - 1);
}

static uint64_t handle_own(uint64_t handle)
{
	return handle & ((1ULL << RETAIN_POOL_SHIFT) - 1);
}

static int pool_retain_init(struct daemon_pool *p)
{
	struct retention_state *rs;
	int r;

	cache_sess_init(&p->retain_cs, 0);
	p->retained_blocks = 0;
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	p->rs = rs;
	ac_space_price_init(&rs->price, PRICE_WINDOW_S);
	r = ac_retain_new(&p->retain);
	if (r == 0)
		r = ac_retain_new(&rs->soft);
	if (r == 0)
		r = ac_tool_stats_new(LEARN_KEEP, LEARN_MIN_OWN, &rs->learned);
	return r;
}

int daemon_retain_init(struct daemon *d)
{
	int r = 0;

	d->next_slot = 1;
	for (uint32_t i = 0; i < d->npools && r == 0; i++)
		r = pool_retain_init(&d->pools[i]);
	/* What the pools before the failing one (and it) got goes again. */
	if (r < 0)
		daemon_retain_fini(d);
	return r;
}

static void drop_blocks(struct daemon_pool *p, uint32_t *blocks, uint32_t n)
{
	cache_unpin_many(&p->cache, &p->retain_cs, blocks, n);
	p->retained_blocks -= n;
	free(blocks);
}

static void unhint_blocks(struct daemon_pool *p, uint32_t *blocks, uint32_t n)
{
	/*
	 * A hinted block may have been evicted and its id reused: clearing a
	 * hint that is not there is harmless, and a retention of the new
	 * block is at worst ended early (soft retentions promise nothing).
	 */
	cache_hint(&p->cache, blocks, n, false);
	p->rs->soft_blocks -= n;
	free(blocks);
}

static uint32_t pool_expire(struct daemon_pool *p, uint64_t now_ns)
{
	struct retention_state *rs = p->rs;
	uint32_t *blocks, n, done = 0;
	uint64_t h, t;

	if (!p->retain || !rs)
		return 0;
	/* "Everything" (at teardown) ends now, for the hold-time sum. */
	t = now_ns == UINT64_MAX ? pool_now(p) : now_ns;
	while (ac_retain_expire(p->retain, now_ns, &blocks, &n) == 1) {
		drop_blocks(p, blocks, n);
		live_step(rs, t, -1);
		rs->expired_unused++;
		done++;
	}
	while (ac_retain_expire_handle(rs->soft, now_ns, &blocks, &n, &h) == 1) {
		unhint_blocks(p, blocks, n);
		live_step(rs, t, -1);
		rs->expired_unused++;
		done++;
	}
	return done;
}

uint32_t daemon_retain_expire(struct daemon *d, uint64_t now_ns)
{
	uint32_t done = 0;

	for (uint32_t i = 0; i < d->npools; i++)
		done += pool_expire(&d->pools[i], now_ns);
	return done;
}

int daemon_retain_drop_one(struct daemon_pool *p)
{
	uint32_t *blocks, n;
	uint64_t h;

	/* The chain wanted last goes first (retain.h, AC_RETAIN_BUDGET_PERCENT). */
	if (!p->retain || !p->rs ||
	    ac_retain_pop_latest(p->retain, &blocks, &n, &h) != 1)
		return 0;
	drop_blocks(p, blocks, n);
	live_step(p->rs, pool_now(p), -1);
	p->rs->dropped++;
	return 1;
}

static void pool_retain_fini(struct daemon_pool *p)
{
	struct retention_state *rs = p->rs;

	if (p->retain && rs)
		pool_expire(p, UINT64_MAX);
	p->retain = ac_retain_free(p->retain);
	if (rs) {
		ac_retain_free(rs->soft);
		ac_tool_stats_free(rs->learned);
		free(rs);
		p->rs = NULL;
	}
	pinmap_fini(&p->retain_cs.pins);
}

void daemon_retain_fini(struct daemon *d)
{
	for (uint32_t i = 0; i < d->npools; i++)
		pool_retain_fini(&d->pools[i]);
	free(d->free_slots);
	d->free_slots = NULL;
	d->nfree_slots = d->free_slots_cap = 0;
}

static uint64_t next_expiry(const struct daemon *d)
{
	uint64_t next = UINT64_MAX, t;

	for (uint32_t i = 0; i < d->npools; i++) {
		const struct daemon_pool *p = &d->pools[i];

		if (!p->retain || !p->rs)
			continue;
		t = ac_retain_next_expiry(p->retain);
		next = t < next ? t : next;
		t = ac_retain_next_expiry(p->rs->soft);
		next = t < next ? t : next;
	}
	return next;
}

static int on_retain_tick(struct loop_timer *t, void *userdata)
{
	struct daemon *d = userdata;

	(void)t;
	daemon_retain_expire(d, pool_now(&d->pools[0]));
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
static uint32_t pick_ttl_ms(struct daemon_pool *p, struct session *s,
			    const struct daemon_retain_req *q, uint64_t now)
{
	struct retention_state *rs = p->rs;
	const struct cache_ns *ns = cache_find_ns(&p->cache, q->ns);
	double ev = p->cache.ctr.evicted_recompute_s, ttl;

	/* What eviction let go since the last decision, stamped now. */
	if (ev > rs->evicted_seen) {
		ac_space_price_evicted(&rs->price, secs(now), ev - rs->evicted_seen);
		rs->evicted_seen = ev;
	}
	ttl = ac_retain_pick_ttl(rs->learned, program_key(s, q->program),
				 q->expect_ms / 1e3,
				 cache_recompute_s(&p->cache, q->ids, q->n),
				 (double)q->n * (ns ? ns->bytes_per_block : 0),
				 ac_space_price_get(&rs->price, secs(now),
						    (double)p->cache.nblocks *
						    p->cache.block_bytes));
	if (!(ttl > 0))
		return 0;
	ttl = ceil(ttl * 1e3);
	return ttl > p->d->cfg.limits.max_retain_ttl_ms ?
	       p->d->cfg.limits.max_retain_ttl_ms : (uint32_t)ttl;
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
	uint32_t pool = cache_ns_pool(q->ns);
	struct daemon_pool *p = daemon_dpool_of(d, pool);
	struct retention_state *rs;
	uint64_t now = pool_now(&d->pools[0]), handle, budget;
	uint32_t max = l->max_retained_blocks_per_session, ttl_ms = q->ttl_ms;
	struct cache_sess *cs;
	bool pinned;
	int r;

	*ret_budget = false;
	memset(ret, 0, sizeof(*ret));
	if (ttl_ms > l->max_retain_ttl_ms || (ttl_ms == 0 && q->expect_ms == 0))
		return -ERANGE;
	if (q->n == 0 || !p || !p->rs)
		return -EINVAL;
	rs = p->rs;
	cs = session_cs(s, pool);
	daemon_retain_expire(d, now);
	prune(s, now, (uint64_t)l->max_retain_ttl_ms * 1000000ULL);
	if ((uint64_t)daemon_session_retained(d, s, pool) + q->n > max)
		return -EDQUOT;
	r = cache_check_held(&p->cache, cs, q->ns, q->ids, q->n);
	if (r < 0)
		return r;
	if (ttl_ms == 0) {
		ttl_ms = pick_ttl_ms(p, s, q, now);
		if (!ttl_ms) {
			rs->declined++;
			return 0;
		}
	}
	budget = (uint64_t)p->cache.nblocks * l->retain_budget_percent / 100;
	pinned = (uint64_t)p->retained_blocks + q->n <= budget;
	if (!pinned && !cache_takes_hints(&p->cache)) {
		*ret_budget = true;
		return -EDQUOT;
	}
	r = ensure_rets(s);
	if (r == 0)
		r = slot_get(d, s);
	if (r == 0)
		r = ac_retain_set_quota(p->retain, s->retain_slot, max);
	if (r == 0)
		r = ac_retain_set_quota(rs->soft, s->retain_slot, max);
	if (r < 0)
		return r;
	if (pinned) {
		r = cache_pin_held(&p->cache, cs, &p->retain_cs, q->ns,
				   q->ids, q->n);
		if (r < 0)
			return r;
		r = ac_retain_add(p->retain, s->retain_slot, q->ids, q->n,
				  now + (uint64_t)ttl_ms * 1000000ULL, &handle);
		if (r < 0) {
			cache_unpin_many(&p->cache, &p->retain_cs, q->ids, q->n);
			return r;
		}
		p->retained_blocks += q->n;
	} else {
		r = ac_retain_add(rs->soft, s->retain_slot, q->ids, q->n,
				  now + (uint64_t)ttl_ms * 1000000ULL, &handle);
		if (r < 0)
			return r;
		cache_hint(&p->cache, q->ids, q->n, true);
		rs->soft_blocks += q->n;
	}
	handle = wire_handle(p, handle, !pinned);
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

/*
 * Ends live retention @handle (as on the wire) of pool @p now: 0 with its
 * block count, or -ENOENT.
 */
static int end_live(struct daemon_pool *p, uint64_t handle, uint32_t *ret_n)
{
	uint32_t *blocks, n;
	int r;

	if (handle & RETAIN_SOFT) {
		r = ac_retain_release(p->rs->soft, handle_own(handle),
				      &blocks, &n);
		if (r == 0)
			unhint_blocks(p, blocks, n);
	} else {
		r = ac_retain_release(p->retain, handle_own(handle), &blocks, &n);
		if (r == 0)
			drop_blocks(p, blocks, n);
	}
	if (r == 0) {
		live_step(p->rs, pool_now(p), -1);
		*ret_n = n;
	}
	return r;
}

/* The pool of a retention this session holds (its record exists). */
static struct daemon_pool *pool_of_handle(struct daemon *d, uint64_t handle)
{
	struct daemon_pool *p = daemon_dpool_of(d, handle_pool(handle));

	return p && p->retain && p->rs ? p : NULL;
}

int daemon_resume(struct daemon *d, struct session *s, uint64_t handle,
		  uint32_t *ret_released)
{
	uint64_t now = pool_now(&d->pools[0]);
	struct session_retention sr;
	struct daemon_pool *p;
	uint32_t i;
	int r;

	daemon_retain_expire(d, now);
	for (i = 0; i < s->nrets; i++)
		if (s->rets[i].handle == handle)
			break;
	if (i == s->nrets)
		return -ENOENT;
	p = pool_of_handle(d, handle);
	if (!p)
		return -ENOENT;
	sr = s->rets[i];
	s->rets[i] = s->rets[--s->nrets];
	/* The call came back, in time or not: that is what it took. */
	r = ac_tool_stats_add(p->rs->learned, sr.program, sr.expect_ms / 1e3,
			      secs(now - sr.start_ns));
	if (r < 0)
		log_warning("retain: cannot learn a tool call: %s", strerror(-r));
	r = end_live(p, handle, ret_released);
	if (r == 0)
		p->rs->resumed++;
	return r;
}

void daemon_retain_session_close(struct daemon *d, struct session *s)
{
	struct daemon_pool *p;
	uint32_t i, n;

	for (i = 0; i < s->nrets; i++) {
		p = pool_of_handle(d, s->rets[i].handle);
		/* A live retention of a closing session: never came back. */
		if (p && end_live(p, s->rets[i].handle, &n) == 0)
			ac_tool_stats_add(p->rs->learned, s->rets[i].program,
					  s->rets[i].expect_ms / 1e3, -1);
	}
	free(s->rets);
	s->rets = NULL;
	s->nrets = s->retcap = 0;
	slot_put(d, s);
}

static uint32_t pool_session_retained(const struct daemon_pool *p,
				      const struct session *s)
{
	if (!s->retain_slot || !p->retain || !p->rs)
		return 0;
	return (uint32_t)(ac_retain_used(p->retain, s->retain_slot) +
			  ac_retain_used(p->rs->soft, s->retain_slot));
}

uint32_t daemon_session_retained(const struct daemon *d,
				 const struct session *s, uint32_t pool)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < d->npools; i++)
		if (pool == RETAIN_ALL_POOLS || pool == i)
			n += pool_session_retained(&d->pools[i], s);
	return n;
}

void daemon_retain_stats(const struct daemon_pool *p,
			 struct daemon_retain_stats *ret)
{
	const struct retention_state *rs = p->rs;
	uint64_t now = pool_now(p), hold;

	memset(ret, 0, sizeof(*ret));
	ret->budget_blocks = (uint32_t)((uint64_t)p->cache.nblocks *
					p->d->cfg.limits.retain_budget_percent / 100);
	ret->pinned_blocks = p->retained_blocks;
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
