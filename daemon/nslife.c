/* SPDX-License-Identifier: MIT */
/*
 * Namespace lifetimes (nslife.h). The table is indexed by the cache's
 * namespace slot and says which id it describes, so an entry left from an
 * ended namespace never counts for the one that took its slot.
 */
#include <errno.h>
#include <stdlib.h>

#include "core.h"
#include "daemon.h"
#include "log.h"
#include "loop.h"
#include "nslife.h"
#include "session.h"

/* How often idle namespaces are looked for: at most this late. */
#define NSLIFE_TICK_NS	1000000000ULL
/* One table row a slot of every pool's namespace table. */
#define NSLIFE_ROWS	(CACHE_MAX_POOLS * (CACHE_MAX_NAMESPACES + 1))

int nslife_init(struct daemon *d)
{
	d->nsl = calloc(NSLIFE_ROWS, sizeof(*d->nsl));
	return d->nsl ? 0 : -ENOMEM;
}

static struct nslife_slot *row(const struct daemon *d, uint32_t ns_id)
{
	return &d->nsl[cache_ns_pool(ns_id) * (CACHE_MAX_NAMESPACES + 1) +
		       cache_ns_slot(ns_id)];
}

/* The live namespace @ns_id in whichever pool holds it, or NULL. */
static const struct cache_ns *find_ns(struct daemon *d, uint32_t ns_id)
{
	struct cache *c = daemon_cache_of(d, cache_ns_pool(ns_id));

	return c ? cache_find_ns(c, ns_id) : NULL;
}

void nslife_fini(struct daemon *d)
{
	free(d->nsl);
	d->nsl = NULL;
	/* The loop owns the timer and frees it with itself. */
	d->ns_timer = NULL;
}

static struct nslife_slot *slot_of(const struct daemon *d, uint32_t ns_id)
{
	struct nslife_slot *l = row(d, ns_id);

	return l->id == ns_id ? l : NULL;
}

uid_t nslife_owner(const struct daemon *d, uint32_t ns_id)
{
	const struct nslife_slot *l = slot_of(d, ns_id);

	return l ? l->owner : (uid_t)-1;
}

static int on_ns_tick(struct loop_timer *t, void *userdata)
{
	struct daemon *d = userdata;
	uint32_t i;

	(void)t;
	nslife_collect(d, cache_clock_monotonic());
	for (i = 0; i < NSLIFE_ROWS; i++)
		if (d->nsl[i].id && d->nsl[i].idle_since_ns)
			return 0;
	/* Nothing idle: the loop frees the timer; the next idle one re-adds. */
	d->ns_timer = NULL;
	return -1;
}

void nslife_arm(struct daemon *d)
{
	uint32_t i;

	if (d->ns_timer || !d->loop || !d->cfg.limits.namespace_idle_ms)
		return;
	for (i = 0; i < NSLIFE_ROWS; i++)
		if (d->nsl[i].id && d->nsl[i].idle_since_ns)
			break;
	if (i == NSLIFE_ROWS)
		return;
	if (loop_timer_new(d->loop, NSLIFE_TICK_NS, on_ns_tick, d,
			   &d->ns_timer) < 0)
		log_warning("cannot arm the idle namespace timer: idle namespaces stay");
}

static void went_idle(struct daemon *d, struct nslife_slot *l, uint64_t now)
{
	l->idle_since_ns = now ? now : 1;
	nslife_arm(d);
}

int nslife_registered(struct daemon *d, struct session *s, uint32_t ns_id)
{
	struct nslife_slot *l = row(d, ns_id);
	uint32_t i;

	if (l->id != ns_id) {
		/* Created just now by this session. */
		*l = (struct nslife_slot){ .id = ns_id, .owner = s->uid };
	}
	for (i = 0; i < s->nns_regs; i++)
		if (s->ns_regs[i] == ns_id)
			return 0;
	if (s->nns_regs == s->ns_regs_cap) {
		uint32_t cap = s->ns_regs_cap ? 2 * s->ns_regs_cap : 4;
		uint32_t *n = realloc(s->ns_regs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->ns_regs = n;
		s->ns_regs_cap = cap;
	}
	s->ns_regs[s->nns_regs++] = ns_id;
	l->users++;
	if (s->uid == l->owner)
		l->owner_users++;
	l->idle_since_ns = 0;
	return 0;
}

void nslife_session_close(struct daemon *d, struct session *s)
{
	uint64_t now = cache_clock_monotonic();
	uint32_t i;

	for (i = 0; i < s->nns_regs; i++) {
		struct nslife_slot *l = slot_of(d, s->ns_regs[i]);

		/* Ended meanwhile (its slot may serve another id now). */
		if (!l || !find_ns(d, s->ns_regs[i]))
			continue;
		l->users--;
		if (s->uid == l->owner)
			l->owner_users--;
		if (!l->users)
			went_idle(d, l, now);
	}
	free(s->ns_regs);
	s->ns_regs = NULL;
	s->nns_regs = s->ns_regs_cap = 0;
}

static int end_ns(struct daemon *d, uint32_t ns_id, uint32_t *ret_flushed,
		  uint32_t *ret_kept)
{
	struct cache *c = daemon_cache_of(d, cache_ns_pool(ns_id));
	struct nslife_slot *l = slot_of(d, ns_id);
	int r;

	if (!c)
		return -ENOENT;
	r = cache_unregister_ns(c, ns_id, ret_flushed, ret_kept);
	if (r < 0)
		return r;
	if (l)
		l->id = 0;
	return 0;
}

int nslife_unregister(struct daemon *d, struct session *s, uint32_t ns_id,
		      uint32_t *ret_flushed, uint32_t *ret_kept)
{
	const struct cache_ns *ns = find_ns(d, ns_id);
	struct nslife_slot *l = slot_of(d, ns_id);
	int r;

	if (!ns)
		return -ENOENT;
	if (s) {
		if (!l || (s->uid != l->owner && s->uid != 0))
			return -EPERM;
		if (l->users > l->owner_users)
			return -EBUSY;
	}
	r = end_ns(d, ns_id, ret_flushed, ret_kept);
	if (r < 0)
		return r;
	if (s)
		log_notice("namespace %u unregistered by session %llu (uid %u): %u blocks freed, %u pinned go with their last pin",
			   ns_id, (unsigned long long)s->id,
			   (unsigned int)s->uid, *ret_flushed, *ret_kept);
	else
		log_notice("namespace %u unregistered by an admin: %u blocks freed, %u pinned go with their last pin",
			   ns_id, *ret_flushed, *ret_kept);
	return 0;
}

uint32_t nslife_collect(struct daemon *d, uint64_t now_ns)
{
	uint64_t idle = (uint64_t)d->cfg.limits.namespace_idle_ms * 1000000ULL;
	uint32_t i, n = 0, flushed, kept;

	if (!idle)
		return 0;
	for (i = 0; i < NSLIFE_ROWS; i++) {
		struct nslife_slot *l = &d->nsl[i];
		uint32_t id = l->id;

		if (!id || l->users || !l->idle_since_ns ||
		    now_ns - l->idle_since_ns < idle)
			continue;
		if (end_ns(d, id, &flushed, &kept) < 0)
			continue;
		log_notice("namespace %u collected: no session used it for namespace_idle_ms %u; %u blocks freed, %u pinned go with their last pin",
			   id, d->cfg.limits.namespace_idle_ms, flushed, kept);
		n++;
	}
	return n;
}
