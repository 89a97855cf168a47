/* SPDX-License-Identifier: MIT */
/*
 * The daemon's core (core.h): everything a request needs, nothing that
 * talks to the outside world.
 */
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#include "asymcache.pb-c.h"
#include "core.h"
#include "cost_check.h"
#include "daemon.h"
#include "dispatch.h"
#include "log.h"
#include "metrics.h"
#include "nslife.h"
#include "retention.h"
#include "session.h"

/* Before its pins go: retentions first, then its namespaces. */
static void session_closing(struct daemon *d, struct session *s)
{
	daemon_retain_session_close(d, s);
	nslife_session_close(d, s);
}

static const struct session_ops session_ops = {
	.packet = dispatch_packet,
	.closing = session_closing,
	.refusal = dispatch_pack_refusal,
};

int daemon_core_alloc_buffers(struct daemon *d, uint32_t max_keys,
			      size_t arena)
{
	uint32_t *lb;
	void *segs, **ptrs;
	uint8_t *ar;

	if (max_keys > d->lookup_cap) {
		lb = realloc(d->lookup_blocks, max_keys * sizeof(*lb));
		if (!lb)
			return -ENOMEM;
		d->lookup_blocks = lb;
		segs = realloc(d->segments,
			       max_keys * sizeof(Asymcache__V1__Segment));
		if (!segs)
			return -ENOMEM;
		d->segments = segs;
		ptrs = realloc(d->segment_ptrs, max_keys * sizeof(*ptrs));
		if (!ptrs)
			return -ENOMEM;
		d->segment_ptrs = ptrs;
		d->lookup_cap = max_keys;
	}
	if (arena > d->arena_size) {
		ar = realloc(d->arena, arena);
		if (!ar)
			return -ENOMEM;
		d->arena = ar;
		d->arena_size = arena;
	}
	return 0;
}

struct daemon_pool *daemon_dpool_of(struct daemon *d, uint32_t pool)
{
	return pool < d->npools ? &d->pools[pool] : NULL;
}

struct cache *daemon_cache_of(struct daemon *d, uint32_t pool)
{
	return pool < d->npools ? &d->pools[pool].cache : NULL;
}

struct pool *daemon_pool_of(struct daemon *d, uint32_t pool)
{
	return pool < d->npools ? &d->pools[pool].pool : NULL;
}

void daemon_core_set_quotas(struct daemon *d, const struct daemon_limits *l)
{
	struct cache *c;

	for (uint32_t p = 0; (c = daemon_cache_of(d, p)); p++)
		cache_set_quotas(c, cfg_quota_blocks(l->max_blocks_per_session,
						     c->nblocks),
				 cfg_quota_blocks(l->max_blocks_per_uid,
						  c->nblocks));
}

/* Pools 1..npools-1 ([pool.N]): each its memory, cache and group. */
static int tenants_init(struct daemon *d, const struct pool_ops *ops,
			uint64_t seed)
{
	uint32_t n = d->cfg.npools > 1 ? d->cfg.npools - 1 : 0;
	int r;

	d->npools = 1;
	for (uint32_t i = 0; i < n; i++) {
		const struct cfg_tenant *t = &d->cfg.tenant[i];
		struct daemon_pool *tp = &d->pools[i + 1];
		struct group gr, *res = NULL;
		char buf[4096];

		r = getgrnam_r(t->group, &gr, buf, sizeof(buf), &res);
		if (r || !res)
			return log_error_errno(r ? -r : -ENOENT,
					       "[pool.%u] group '%s' not found",
					       i + 1, t->group);
		tp->gid = gr.gr_gid;
		r = pool_create(&tp->pool, ops, t->bytes, t->block_bytes,
				d->cfg.gpu);
		if (r < 0)
			return log_error_errno(r, "cannot create pool %u (%llu bytes): %m",
					       i + 1, (unsigned long long)t->bytes);
		r = cache_init(&tp->cache, tp->pool.nblocks, tp->pool.block_bytes,
			       d->cfg.policy, seed + i + 1);
		if (r < 0) {
			pool_destroy(&tp->pool);
			return log_error_errno(r, "cannot set up pool %u's %u blocks: %m",
					       i + 1, tp->pool.nblocks);
		}
		cache_set_pool(&tp->cache, i + 1);
		cache_set_limits(&tp->cache, d->cfg.limits.max_pins_per_session,
				 d->cfg.limits.max_writing_per_session);
		cache_set_cost(&tp->cache, &d->cfg.cost);
		d->npools++;
		log_info("pool %u: %s, %llu bytes, %u blocks of %llu bytes, group %s",
			 i + 1, ops->name, (unsigned long long)tp->pool.bytes,
			 tp->pool.nblocks, (unsigned long long)tp->pool.block_bytes,
			 t->group);
	}
	return 0;
}

static void tenants_fini(struct daemon *d)
{
	for (uint32_t p = 1; p < d->npools; p++) {
		cache_fini(&d->pools[p].cache);
		pool_destroy(&d->pools[p].pool);
	}
	d->npools = 1;
}

static int resolve_group(struct daemon *d)
{
	struct group gr, *res = NULL;
	char buf[4096];
	int r;

	d->have_group = false;
	if (!d->cfg.group[0])
		return 0;
	r = getgrnam_r(d->cfg.group, &gr, buf, sizeof(buf), &res);
	if (r || !res) {
		if (d->cfg.group_is_default) {
			log_warning("group '%s' does not exist: only root and uid %u may attach",
				    d->cfg.group, (unsigned int)geteuid());
			return 0;
		}
		return log_error_errno(r ? -r : -ENOENT,
				       "group '%s' not found", d->cfg.group);
	}
	d->group_gid = gr.gr_gid;
	d->have_group = true;
	return 0;
}

int daemon_core_init(struct daemon *d)
{
	struct daemon_pool *p0 = &d->pools[0];
	const struct pool_ops *ops;
	uint64_t seed = 0;
	int r;

	d->next_session_id = 1;
	d->session_ops = &session_ops;
	for (uint32_t p = 0; p < CACHE_MAX_POOLS; p++) {
		d->pools[p].d = d;
		d->pools[p].index = p;
	}
	log_set_max_level(d->cfg.log_level);

	r = resolve_group(d);
	if (r < 0)
		return r;
	r = pool_pick(cfg_backend_to_string(d->cfg.backend), &ops);
	if (r < 0)
		return log_error_errno(r, "pool backend '%s' is not usable here",
				       cfg_backend_to_string(d->cfg.backend));
	if (d->cfg.backend == CFG_BACKEND_AUTO)
		log_info("backend=auto: using the %s backend", ops->name);
	r = pool_create(&p0->pool, ops, d->cfg.pool_bytes, d->cfg.block_bytes,
			d->cfg.gpu);
	if (r < 0)
		return log_error_errno(r, "cannot create the %s pool of %llu bytes: %m",
				       ops->name,
				       (unsigned long long)d->cfg.pool_bytes);
	/* A random seed keeps crafted keys from piling into one bucket. */
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = cache_clock_monotonic() ^ (uint64_t)getpid();
	r = cache_init(&p0->cache, p0->pool.nblocks, p0->pool.block_bytes,
		       d->cfg.policy, seed);
	if (r < 0) {
		log_error_errno(r, "cannot set up %u blocks with policy '%s': %m",
				p0->pool.nblocks, d->cfg.policy);
		goto out_pool;
	}
	cache_set_limits(&p0->cache, d->cfg.limits.max_pins_per_session,
			 d->cfg.limits.max_writing_per_session);
	/* No namespace exists yet: this only records the model. */
	cache_set_cost(&p0->cache, &d->cfg.cost);
	r = tenants_init(d, ops, seed);
	if (r < 0)
		goto out_tenants;
	daemon_core_set_quotas(d, &d->cfg.limits);
	r = nslife_init(d);
	if (r < 0) {
		log_error_errno(r, "cannot set up the namespace table: %m");
		goto out_tenants;
	}
	r = daemon_retain_init(d);
	if (r < 0) {
		log_error_errno(r, "cannot set up TTL retention: %m");
		goto out_nslife;
	}
	r = daemon_core_alloc_buffers(d, d->cfg.limits.max_keys_per_lookup,
				      4ULL * d->cfg.limits.max_packet);
	if (r < 0) {
		log_error_errno(r, "cannot allocate request buffers: %m");
		goto out_retain;
	}
	/*
	 * With or without [metrics] listen: asymcachectl stats reads its
	 * window and per-namespace counts over the bus too.
	 */
	r = metrics_new(&d->metrics);
	if (r < 0) {
		daemon_core_fini(d);
		return log_error_errno(r, "cannot allocate the metrics: %m");
	}
	log_info("cost model: %s (%s, %s)", d->cfg.cost_from, d->cfg.cost.gpu,
		 d->cfg.cost.model);
	daemon_cost_check_pool(d);
	log_info("pool: %s, %llu bytes, %u blocks of %llu bytes, policy %s",
		 ops->name, (unsigned long long)p0->pool.bytes,
		 p0->pool.nblocks, (unsigned long long)p0->pool.block_bytes,
		 cache_policy_name(&p0->cache));
	return 0;

out_retain:
	daemon_retain_fini(d);
out_nslife:
	nslife_fini(d);
out_tenants:
	tenants_fini(d);
	cache_fini(&p0->cache);
out_pool:
	pool_destroy(&p0->pool);
	return r;
}

void daemon_core_fini(struct daemon *d)
{
	while (d->sessions)
		session_free(d->sessions);
	uidtab_fini(&d->uids);
	/* The loop owns the timer and frees it with itself. */
	d->hello_timer = NULL;
	daemon_retain_fini(d);
	nslife_fini(d);
	tenants_fini(d);
	cache_fini(&d->pools[0].cache);
	free(d->sched_buf);
	d->sched_buf = NULL;
	d->sched_cap = 0;
	pool_destroy(&d->pools[0].pool);
	metrics_free(d->metrics);
	d->metrics = NULL;
	free(d->lookup_blocks);
	free(d->segments);
	free(d->segment_ptrs);
	free(d->u32buf);
	free(d->commit_buf);
	free(d->arena);
	d->lookup_blocks = NULL;
	d->segments = NULL;
	d->segment_ptrs = NULL;
	d->u32buf = NULL;
	d->commit_buf = NULL;
	d->arena = NULL;
	d->lookup_cap = d->u32cap = d->commit_cap = 0;
	d->arena_size = 0;
}
