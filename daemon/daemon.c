/* SPDX-License-Identifier: MIT */
/*
 * Daemon core (pool, cache, buffers), the peer check, sessions and the
 * admin calls. The event loop lives in loop.c.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "asymcache.pb-c.h"
#include "daemon.h"
#include "log.h"

static const struct session_ops session_ops = {
	.packet = dispatch_packet,
	.closing = daemon_retain_session_close,
};

static int alloc_buffers(struct daemon *d, uint32_t max_keys, size_t arena)
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
	const struct pool_ops *ops;
	uint64_t seed = 0;
	int r;

	d->next_session_id = 1;
	d->session_ops = &session_ops;
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
	r = pool_create(&d->pool, ops, d->cfg.pool_bytes, d->cfg.block_bytes,
			d->cfg.gpu);
	if (r < 0)
		return log_error_errno(r, "cannot create the %s pool of %llu bytes: %m",
				       ops->name,
				       (unsigned long long)d->cfg.pool_bytes);
	/* A random seed keeps crafted keys from piling into one bucket. */
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = cache_clock_monotonic() ^ (uint64_t)getpid();
	r = cache_init(&d->cache, d->pool.nblocks, d->pool.block_bytes,
		       d->cfg.policy, seed);
	if (r < 0) {
		log_error_errno(r, "cannot set up %u blocks with policy '%s': %m",
				d->pool.nblocks, d->cfg.policy);
		goto out_pool;
	}
	cache_set_limits(&d->cache, d->cfg.limits.max_pins_per_session,
			 d->cfg.limits.max_writing_per_session);
	/* No namespace exists yet: this only records the model. */
	cache_set_cost(&d->cache, &d->cfg.cost);
	r = daemon_retain_init(d);
	if (r < 0) {
		log_error_errno(r, "cannot set up TTL retention: %m");
		goto out_cache;
	}
	r = alloc_buffers(d, d->cfg.limits.max_keys_per_lookup,
			  4ULL * d->cfg.limits.max_packet);
	if (r < 0) {
		log_error_errno(r, "cannot allocate request buffers: %m");
		goto out_retain;
	}
	log_info("cost model: %s (%s, %s)", d->cfg.cost_from, d->cfg.cost.gpu,
		 d->cfg.cost.model);
	log_info("pool: %s, %llu bytes, %u blocks of %llu bytes, policy %s",
		 ops->name, (unsigned long long)d->pool.bytes,
		 d->pool.nblocks, (unsigned long long)d->pool.block_bytes,
		 cache_policy_name(&d->cache));
	return 0;

out_retain:
	daemon_retain_fini(d);
out_cache:
	cache_fini(&d->cache);
out_pool:
	pool_destroy(&d->pool);
	return r;
}

void daemon_core_fini(struct daemon *d)
{
	while (d->sessions)
		session_free(d->sessions);
	daemon_retain_fini(d);
	cache_fini(&d->cache);
	free(d->sched_buf);
	d->sched_buf = NULL;
	d->sched_cap = 0;
	pool_destroy(&d->pool);
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

void daemon_get_block_counts(const struct daemon *d,
			     struct daemon_block_counts *ret)
{
	const struct cache *c = &d->cache;

	ret->nblocks = c->nblocks;
	ret->free = c->nfree;
	ret->writing = c->nwriting;
	ret->cached = c->ncached;
	ret->pinned = c->npinned;
	ret->evictable = c->ncached - c->npinned;
}

const struct cache_counters *daemon_cache_counters(const struct daemon *d)
{
	return &d->cache.ctr;
}

double daemon_hit_rate(const struct daemon *d)
{
	const struct cache_counters *c = &d->cache.ctr;

	if (!c->lookup_keys)
		return 0.0;
	return (double)c->lookup_hits / (double)c->lookup_keys;
}

const char *daemon_backend_name(const struct daemon *d)
{
	return d->pool.ops ? d->pool.ops->name : "";
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
			.writing = s->cs.nwriting,
			.requests = s->requests,
			.attached = s->attached,
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
	uint32_t k;
	int r;

	for (k = 0; k < d->cache.nns; k++) {
		const struct cache_ns *ns = &d->cache.ns[k];
		struct daemon_ns_info i = {
			.ns_id = ns->id,
			.layout = &ns->layout,
			.bytes_per_block = ns->bytes_per_block,
			.cached = ns->cached,
		};

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

	snprintf(old, sizeof(old), "%s", cache_policy_name(&d->cache));
	r = cache_set_policy(&d->cache, name);
	if (r < 0)
		return log_warning_errno(r, "cannot switch policy to '%s': %m",
					 name);
	snprintf(d->cfg.policy, sizeof(d->cfg.policy), "%s", name);
	log_notice("policy switched from %s to %s (%u cached blocks replayed)",
		   old, name, d->cache.ncached);
	daemon_notify_status(d);
	return 0;
}

const char *daemon_policy_name(const struct daemon *d)
{
	return cache_policy_name(&d->cache);
}

int daemon_flush_namespace(struct daemon *d, uint32_t ns_id,
			   uint32_t *ret_flushed)
{
	int r;

	r = cache_flush_ns(&d->cache, ns_id, ret_flushed);
	if (r == 0)
		log_notice("namespace %u flushed: %u blocks freed", ns_id,
			   *ret_flushed);
	return r;
}

int daemon_evict(struct daemon *d, uint32_t n, uint32_t *ret_evicted)
{
	int r;

	r = cache_evict(&d->cache, n, ret_evicted);
	if (r == 0)
		log_notice("admin eviction: %u of %u blocks freed",
			   *ret_evicted, n);
	return r;
}

static bool restart_only_changed(const struct daemon_config *a,
				 const struct daemon_config *b,
				 const char **ret_key)
{
	if (strcmp(a->socket_path, b->socket_path))
		*ret_key = "[daemon] socket";
	else if (a->socket_mode != b->socket_mode)
		*ret_key = "[daemon] socket_mode";
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
	else
		return false;
	return true;
}

int daemon_reload_config(struct daemon *d, char *err, size_t errlen)
{
	struct daemon_config *n;
	enum cfg_action action;
	const char *key;
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
	r = alloc_buffers(d, n->limits.max_keys_per_lookup,
			  4ULL * n->limits.max_packet);
	if (r < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	/* Every namespace gets the new model before anything else changes. */
	r = cache_set_cost(&d->cache, &n->cost);
	if (r < 0) {
		snprintf(err, errlen, "cost model from %s refused by the policy: %s",
			 n->cost_from, strerror(-r));
		goto out;
	}
	if (strcmp(n->policy, cache_policy_name(&d->cache))) {
		r = cache_set_policy(&d->cache, n->policy);
		if (r < 0) {
			snprintf(err, errlen, "cannot switch policy to '%s': %s",
				 n->policy, strerror(-r));
			cache_set_cost(&d->cache, &d->cfg.cost);
			goto out;
		}
	}
	cache_set_limits(&d->cache, n->limits.max_pins_per_session,
			 n->limits.max_writing_per_session);
	/*
	 * Sessions keep the receive buffer sized at accept time; a larger
	 * max_packet applies to new sessions.
	 */
	n->foreground = d->cfg.foreground;
	n->group_is_default = d->cfg.group_is_default;
	d->cfg = *n;
	/* Same coefficients as n->cost, which is about to be freed. */
	d->cache.cost = &d->cfg.cost;
	log_set_max_level(d->cfg.log_level);
	log_notice("configuration reloaded from %s", d->cfg.config_path);
	r = 0;
out:
	free(n);
	return r;
}

int daemon_notify(const char *msg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *e = getenv("NOTIFY_SOCKET");
	socklen_t len;
	size_t n;
	int fd, r;

	if (!e || (e[0] != '/' && e[0] != '@'))
		return 0;
	n = strlen(e);
	if (n >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, e, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';	/* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	r = (int)sendto(fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL,
			(struct sockaddr *)&sa, len);
	r = r < 0 ? (errno == EAGAIN ? 0 : -errno) : 1;
	close(fd);
	return r;
}

void daemon_notify_status(struct daemon *d)
{
	const struct cache *c = &d->cache;
	char msg[256];

	snprintf(msg, sizeof(msg),
		 "STATUS=%u sessions; blocks: %u free, %u writing, %u cached (%u pinned); policy %s",
		 d->nsessions, c->nfree, c->nwriting, c->ncached, c->npinned,
		 cache_policy_name(c));
	daemon_notify(msg);
}
