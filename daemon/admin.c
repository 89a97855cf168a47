/* SPDX-License-Identifier: MIT */
/*
 * What the admin side (sd-bus, tests) asks of the daemon (admin.h). Each
 * call is one step between two loop iterations, so none needs a lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "core.h"
#include "cost_check.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "nslife.h"
#include "retention.h"
#include "session.h"

void daemon_get_block_counts(const struct daemon_pool *p,
			     struct daemon_block_counts *ret)
{
	const struct cache *c = &p->cache;

	ret->nblocks = c->nblocks;
	ret->free = c->nfree;
	ret->writing = c->nwriting;
	ret->cached = c->ncached;
	ret->pinned = c->npinned;
	ret->evictable = c->ncached - c->npinned;
}

const struct cache_counters *daemon_cache_counters(const struct daemon_pool *p)
{
	return &p->cache.ctr;
}

double daemon_hit_rate(const struct daemon_pool *p)
{
	const struct cache_counters *c = &p->cache.ctr;

	if (!c->lookup_keys)
		return 0.0;
	return (double)c->lookup_hits / (double)c->lookup_keys;
}

const char *daemon_backend_name(const struct daemon *d)
{
	return d->pools[0].pool.ops ? d->pools[0].pool.ops->name : "";
}

int daemon_foreach_session(struct daemon *d,
			   int (*cb)(const struct daemon_session_info *i,
				     void *userdata),
			   void *userdata)
{
	struct session *s;
	int r;

	for (s = d->sessions; s; s = s->next) {
		struct daemon_session_info i = {
			.id = s->id,
			.pid = s->pid,
			.uid = s->uid,
			.gid = s->gid,
			.name = s->name,
			.pins = s->cs.npins,
			.pinned_blocks = s->cs.pins.used,
			.retained = daemon_session_retained(d, s, RETAIN_ALL_POOLS),
			.writing = s->cs.nwriting,
			.requests = s->requests,
			.attached = s->attached != 0,
		};

		r = cb(&i, userdata);
		if (r)
			return r;
	}
	return 0;
}

int daemon_foreach_namespace(struct daemon *d,
			     int (*cb)(const struct daemon_ns_info *i,
				       void *userdata),
			     void *userdata)
{
	const char *from = strcmp(d->cfg.cost_from, "built-in") ? d->cfg.cost_from : "";
	char mismatch[320];
	uint32_t k;
	int r;

	struct cache *c;

	for (uint32_t p = 0; (c = daemon_cache_of(d, p)); p++)
	for (k = 0; k < c->nns; k++) {
		const struct cache_ns *ns = &c->ns[k];
		struct daemon_ns_info i;

		if (!ns->live)
			continue;
		i = (struct daemon_ns_info){
			.ns_id = ns->id,
			.layout = &ns->layout,
			.bytes_per_block = ns->bytes_per_block,
			.cached = ns->cached,
			.pinned = ns->pinned,
			.owner = nslife_owner(d, ns->id),
			.cost_from = from,
			.cost_mismatch = mismatch,
			.evictions = ns->evictions,
		};

		cost_mismatch(&d->cfg.cost, d->pools[p].pool.device_name, &ns->layout.kv, mismatch,
			      sizeof(mismatch));
		metrics_window(d->metrics, ns->id, &i.window_queries, &i.window_hits);

		r = cb(&i, userdata);
		if (r)
			return r;
	}
	return 0;
}

int daemon_set_policy(struct daemon *d, const char *name)
{
	char old[32];
	int r;

	snprintf(old, sizeof(old), "%s", cache_policy_name(&d->pools[0].cache));
	r = cache_set_policy(&d->pools[0].cache, name);
	if (r < 0)
		return log_warning_errno(r, "cannot switch policy to '%s': %m",
					 name);
	for (uint32_t p = 1; p < d->npools; p++)
		if (cache_set_policy(&d->pools[p].cache, name) < 0)
			log_warning("pool %u keeps policy %s: no memory for %s",
				    p, cache_policy_name(&d->pools[p].cache),
				    name);
	snprintf(d->cfg.policy, sizeof(d->cfg.policy), "%s", name);
	log_notice("policy switched from %s to %s (%u cached blocks replayed)",
		   old, name, d->pools[0].cache.ncached);
	daemon_notify_status(d);
	return 0;
}

const char *daemon_policy_name(const struct daemon *d)
{
	return cache_policy_name(&d->pools[0].cache);
}

int daemon_flush_namespace(struct daemon *d, uint32_t ns_id,
			   uint32_t *ret_flushed)
{
	int r;

	struct cache *c = daemon_cache_of(d, cache_ns_pool(ns_id));

	r = c ? cache_flush_ns(c, ns_id, ret_flushed) : -ENOENT;
	if (r == 0)
		log_notice("namespace %u flushed: %u blocks freed", ns_id,
			   *ret_flushed);
	return r;
}

int daemon_evict(struct daemon_pool *p, uint32_t n, uint32_t *ret_evicted)
{
	int r;

	r = cache_evict(&p->cache, n, ret_evicted);
	if (r == 0)
		log_notice("admin eviction in pool %u: %u of %u blocks freed",
			   p->index, *ret_evicted, n);
	return r;
}

static bool tenants_differ(const struct daemon_config *a,
			   const struct daemon_config *b)
{
	for (unsigned n = 0; n < CFG_MAX_POOLS - 1; n++) {
		const struct cfg_tenant *x = &a->tenant[n], *y = &b->tenant[n];

		if (x->set != y->set || x->bytes != y->bytes ||
		    x->block_bytes != y->block_bytes || strcmp(x->group, y->group))
			return true;
	}
	return false;
}

static bool restart_only_changed(const struct daemon_config *a,
				 const struct daemon_config *b,
				 const char **ret_key)
{
	if (strcmp(a->socket_path, b->socket_path))
		*ret_key = "[daemon] socket";
	else if (a->socket_mode != b->socket_mode)
		*ret_key = "[daemon] socket_mode";
	else if (a->socket_dir_mode != b->socket_dir_mode)
		*ret_key = "[daemon] socket_dir_mode";
	else if (strcmp(a->metrics_listen, b->metrics_listen))
		*ret_key = "[metrics] listen";
	else if (strcmp(a->dbus_address, b->dbus_address))
		/* the bus connection is made once; moving it live is not done */
		*ret_key = "[daemon] dbus_address";
	else if (a->backend != b->backend)
		*ret_key = "[pool] backend";
	else if (a->gpu != b->gpu)
		*ret_key = "[pool] gpu";
	else if (a->pool_bytes != b->pool_bytes)
		*ret_key = "[pool] bytes";
	else if (a->block_bytes != b->block_bytes)
		*ret_key = "[pool] block_bytes";
	else if (strcmp(a->group, b->group))
		*ret_key = "[pool] group";
	else if (tenants_differ(a, b))
		*ret_key = "[pool.N]";
	else
		return false;
	return true;
}

int daemon_reload_config(struct daemon *d, char *err, size_t errlen)
{
	struct daemon_config *n;
	enum cfg_action action;
	const char *key;
	bool cost_changed;
	int r;

	n = malloc(sizeof(*n));
	if (!n)
		return -ENOMEM;
	if (d->argv)
		r = cfg_from_cmdline(n, d->argc, d->argv, &action, err, errlen);
	else {
		cfg_defaults(n);
		r = cfg_load_file(n, d->cfg.config_path, err, errlen);
		if (r == 0)
			r = cfg_finish(n, err, errlen);
	}
	if (r < 0)
		goto out;
	if (restart_only_changed(&d->cfg, n, &key)) {
		snprintf(err, errlen, "%s changed: it takes effect on restart only",
			 key);
		r = -EBUSY;
		goto out;
	}
	r = daemon_core_alloc_buffers(d, n->limits.max_keys_per_lookup,
				      4ULL * n->limits.max_packet);
	if (r < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	/* Every namespace gets the new model before anything else changes. */
	r = cache_set_cost(&d->pools[0].cache, &n->cost);
	if (r < 0) {
		snprintf(err, errlen, "cost model from %s refused by the policy: %s",
			 n->cost_from, strerror(-r));
		goto out;
	}
	if (strcmp(n->policy, cache_policy_name(&d->pools[0].cache))) {
		r = cache_set_policy(&d->pools[0].cache, n->policy);
		if (r < 0) {
			snprintf(err, errlen, "cannot switch policy to '%s': %s",
				 n->policy, strerror(-r));
			cache_set_cost(&d->pools[0].cache, &d->cfg.cost);
			goto out;
		}
	}
	cache_set_limits(&d->pools[0].cache, n->limits.max_pins_per_session,
			 n->limits.max_writing_per_session);
	daemon_core_set_quotas(d, &n->limits);
	/*
	 * Sessions keep the receive buffer sized at accept time; a larger
	 * max_packet applies to new sessions.
	 */
	n->foreground = d->cfg.foreground;
	n->group_is_default = d->cfg.group_is_default;
	cost_changed = strcmp(n->cost_from, d->cfg.cost_from) ||
		       strcmp(n->cost.gpu, d->cfg.cost.gpu) ||
		       strcmp(n->cost.model, d->cfg.cost.model) ||
		       !ac_kv_layout_equal(&n->cost.layout.kv, &d->cfg.cost.layout.kv);
	d->cfg = *n;
	/* Same coefficients as n->cost, which is about to be freed. */
	d->pools[0].cache.cost = &d->cfg.cost;
	/* The tenant pools follow pool 0: model, policy, limits. */
	for (uint32_t p = 1; p < d->npools; p++) {
		struct cache *c = &d->pools[p].cache;

		cache_set_cost(c, &d->cfg.cost);
		if (strcmp(d->cfg.policy, cache_policy_name(c)) &&
		    cache_set_policy(c, d->cfg.policy) < 0)
			log_warning("pool %u keeps policy %s", p,
				    cache_policy_name(c));
		cache_set_limits(c, d->cfg.limits.max_pins_per_session,
				 d->cfg.limits.max_writing_per_session);
	}
	log_set_max_level(d->cfg.log_level);
	nslife_arm(d);
	log_notice("configuration reloaded from %s", d->cfg.config_path);
	/* What the old model was checked against, the new one is too. */
	if (cost_changed)
		daemon_cost_check_all(d);
	r = 0;
out:
	/* SIGHUP has no one to answer and D-Bus answers only the caller. */
	if (r < 0)
		log_warning("reload refused, keeping the running configuration: %s",
			    err[0] ? err : strerror(-r));
	free(n);
	return r;
}
