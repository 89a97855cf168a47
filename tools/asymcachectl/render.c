/* SPDX-License-Identifier: MIT */
/*
 * Renderings shared by several commands. JSON keeps raw numbers (bytes,
 * microseconds, counts) so scripts never parse units; tables carry units.
 */
#include <inttypes.h>
#include <string.h>

#include "ctl.h"

static void add_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

json_object *ctl_snapshot_json(const struct ctl_snapshot *s)
{
	json_object *o = json_object_new_object();
	json_object *blocks = json_object_new_object();
	json_object *pools = json_object_new_array();
	json_object *policies = json_object_new_array();
	size_t i;

	json_object_object_add(o, "version", json_object_new_string(s->version));
	add_u64(o, "uptime_usec", s->uptime_usec);
	json_object_object_add(o, "policy", json_object_new_string(s->policy));
	/* null, not "", when the daemon does not say: "" means built-in. */
	json_object_object_add(o, "cost_file", s->cost_file ?
			       json_object_new_string(s->cost_file) : NULL);
	json_object_object_add(o, "scheduler_mode", s->scheduler_mode ?
			       json_object_new_string(s->scheduler_mode) : NULL);
	for (i = 0; s->policies && s->policies[i]; i++)
		json_object_array_add(policies, json_object_new_string(s->policies[i]));
	json_object_object_add(o, "policies", policies);
	for (i = 0; i < s->npools; i++) {
		const struct ctl_pool *p = &s->pools[i];
		json_object *jp = json_object_new_object();

		add_u64(jp, "id", p->id);
		json_object_object_add(jp, "backend", json_object_new_string(p->backend));
		json_object_object_add(jp, "device", json_object_new_int(p->device));
		add_u64(jp, "bytes", p->bytes);
		add_u64(jp, "block_bytes", p->block_bytes);
		add_u64(jp, "nblocks", p->nblocks);
		json_object_array_add(pools, jp);
	}
	json_object_object_add(o, "pools", pools);
	add_u64(blocks, "total", s->nblocks);
	add_u64(blocks, "free", s->free_blocks);
	add_u64(blocks, "writing", s->writing_blocks);
	add_u64(blocks, "cached", s->cached_blocks);
	add_u64(blocks, "pinned", s->pinned_blocks);
	add_u64(blocks, "retained", s->retained_blocks);
	json_object_object_add(o, "blocks", blocks);
	add_u64(o, "sessions", s->sessions);
	add_u64(o, "namespaces", s->namespaces);
	add_u64(o, "lookups", s->lookups);
	add_u64(o, "lookup_keys", s->lookup_keys);
	add_u64(o, "lookup_hits", s->lookup_hits);
	json_object_object_add(o, "hit_rate", json_object_new_double(s->hit_rate));
	add_u64(o, "evictions", s->evictions);
	add_u64(o, "flushed", s->flushed);
	add_u64(o, "commits", s->commits);
	add_u64(o, "dedups", s->dedups);
	add_u64(o, "recomputed_tokens", s->recomputed_tokens);
	{
		json_object *ret = json_object_new_object();

		/* Out of memory: the rest of the snapshot still prints. */
		if (!ret)
			return o;
		add_u64(ret, "budget_blocks", s->retain_budget_blocks);
		add_u64(ret, "pinned_blocks", s->retained_blocks);
		add_u64(ret, "soft_blocks", s->retained_soft_blocks);
		add_u64(ret, "resumed", s->retain_resumed);
		add_u64(ret, "expired_unused", s->retain_expired_unused);
		add_u64(ret, "dropped", s->retain_dropped);
		add_u64(ret, "declined", s->retain_declined);
		add_u64(ret, "hold_ms", s->retain_hold_ms);
		json_object_object_add(o, "retention", ret);
	}
	add_u64(o, "window_query_tokens", s->window_query_tokens);
	add_u64(o, "window_hit_tokens", s->window_hit_tokens);
	return o;
}

json_object *ctl_sessions_json(const struct ctl_session *s, size_t n)
{
	json_object *a = json_object_new_array();
	char buf[CTL_FMT_MAX];
	size_t i;

	for (i = 0; i < n; i++) {
		json_object *o = json_object_new_object();

		add_u64(o, "id", s[i].id);
		add_u64(o, "pid", s[i].pid);
		add_u64(o, "uid", s[i].uid);
		json_object_object_add(o, "user",
				       json_object_new_string(uid_name(s[i].uid, buf)));
		json_object_object_add(o, "client", json_object_new_string(s[i].name));
		add_u64(o, "pins", s[i].pins);
		add_u64(o, "writing", s[i].writing);
		add_u64(o, "retained", s[i].retained);
		json_object_array_add(a, o);
	}
	return a;
}

json_object *ctl_namespaces_json(const struct ctl_namespace *ns, size_t n)
{
	json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; i < n; i++) {
		json_object *o = json_object_new_object();

		add_u64(o, "id", ns[i].id);
		json_object_object_add(o, "model", json_object_new_string(ns[i].model));
		add_u64(o, "layers", ns[i].layers);
		add_u64(o, "kv_heads", ns[i].kv_heads);
		add_u64(o, "head_dim", ns[i].head_dim);
		json_object_object_add(o, "dtype", json_object_new_string(ns[i].dtype));
		add_u64(o, "block_tokens", ns[i].block_tokens);
		add_u64(o, "bytes_per_block", ns[i].bytes_per_block);
		add_u64(o, "cached_blocks", ns[i].cached);
		add_u64(o, "pinned_blocks", ns[i].pinned);
		json_object_object_add(o, "cost_file", json_object_new_string(ns[i].cost_file));
		json_object_object_add(o, "cost_mismatch",
				       json_object_new_string(ns[i].cost_mismatch));
		add_u64(o, "evictions", ns[i].evictions);
		add_u64(o, "window_query_tokens", ns[i].window_queries);
		add_u64(o, "window_hit_tokens", ns[i].window_hits);
		json_object_array_add(a, o);
	}
	return a;
}

void ctl_print_json(json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_SPACED |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
}

void ctl_print_sessions(const struct ctl_session *s, size_t n, FILE *f)
{
	_cleanup_table_ struct table *t = NULL;
	char id[CTL_FMT_MAX], pid[CTL_FMT_MAX], user[CTL_FMT_MAX];
	char pins[CTL_FMT_MAX], wr[CTL_FMT_MAX], ret[CTL_FMT_MAX];
	size_t i;

	/* CLIENT stays last: it is the only column that may hold spaces. */
	t = table_new(7, ">ID", ">PID", "USER", ">PINS", ">WRITING", ">RETAINED",
		      "CLIENT");
	if (!t)
		return;
	for (i = 0; i < n; i++)
		if (table_row(t, fmt_u64(id, s[i].id), fmt_u64(pid, s[i].pid),
			      uid_name(s[i].uid, user), fmt_u64(pins, s[i].pins),
			      fmt_u64(wr, s[i].writing), fmt_u64(ret, s[i].retained),
			      s[i].name) < 0)
			return;
	table_print(t, f);
}

void ctl_print_pools(const struct ctl_snapshot *s, FILE *f)
{
	_cleanup_table_ struct table *t = NULL;
	char id[CTL_FMT_MAX], dev[CTL_FMT_MAX], size[CTL_FMT_MAX];
	char bb[CTL_FMT_MAX], nb[CTL_FMT_MAX];
	size_t i;

	t = table_new(6, ">POOL", "BACKEND", ">DEVICE", ">SIZE", ">BLOCK", ">BLOCKS");
	if (!t)
		return;
	for (i = 0; i < s->npools; i++) {
		const struct ctl_pool *p = &s->pools[i];

		if (p->device < 0)
			snprintf(dev, sizeof(dev), "-");
		else
			snprintf(dev, sizeof(dev), "%" PRId32, p->device);
		if (table_row(t, fmt_u64(id, p->id), p->backend, dev,
			      fmt_bytes(size, p->bytes), fmt_bytes(bb, p->block_bytes),
			      fmt_u64(nb, p->nblocks)) < 0)
			return;
	}
	table_print(t, f);
}
