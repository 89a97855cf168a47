/* SPDX-License-Identifier: MIT */
/*
 * Reading the daemon: one GetAll for the properties, one call each for the
 * session and namespace lists. Every command goes through here, so the
 * mapping from bus errors to exit statuses lives in one place.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

int ctl_connect(struct ctl *c)
{
	sd_bus *bus = NULL;
	int r;

	if (c->bus)
		return CTL_EXIT_OK;
	if (!c->address)
		c->address = getenv(AC_BUS_ADDRESS_ENV);
	if (c->address && *c->address) {
		r = sd_bus_new(&bus);
		if (r < 0)
			goto fail;
		r = sd_bus_set_address(bus, c->address);
		if (r < 0)
			goto fail;
		r = sd_bus_set_bus_client(bus, 1);
		if (r < 0)
			goto fail;
		r = sd_bus_start(bus);
	} else {
		r = sd_bus_open_system(&bus);
	}
	if (r < 0)
		goto fail;
	c->bus = bus;
	return CTL_EXIT_OK;
fail:
	sd_bus_unref(bus);
	fprintf(stderr, "asymcachectl: Failed to connect to %s: %s\n",
		c->address && *c->address ? c->address : "the system bus", strerror(-r));
	return CTL_EXIT_UNREACHABLE;
}

static const struct {
	const char *name;
	int status;
} error_status[] = {
	{ SD_BUS_ERROR_SERVICE_UNKNOWN, CTL_EXIT_UNREACHABLE },
	{ SD_BUS_ERROR_NAME_HAS_NO_OWNER, CTL_EXIT_UNREACHABLE },
	{ SD_BUS_ERROR_NO_REPLY, CTL_EXIT_UNREACHABLE },
	{ SD_BUS_ERROR_DISCONNECTED, CTL_EXIT_UNREACHABLE },
	{ SD_BUS_ERROR_TIMEOUT, CTL_EXIT_UNREACHABLE },
	{ SD_BUS_ERROR_ACCESS_DENIED, CTL_EXIT_DENIED },
	{ AC_BUS_ERROR_NOT_PERMITTED, CTL_EXIT_DENIED },
	{ AC_BUS_ERROR_NO_SUCH_NAMESPACE, CTL_EXIT_NOT_FOUND },
	{ AC_BUS_ERROR_NO_SUCH_POLICY, CTL_EXIT_NOT_FOUND },
	{ AC_BUS_ERROR_NEEDS_RESTART, CTL_EXIT_NEEDS_RESTART },
	{ AC_BUS_ERROR_INVALID_CONFIG, CTL_EXIT_BAD_CONFIG },
};

int ctl_fail(const sd_bus_error *e, int r, const char *what)
{
	size_t i;

	if (e && sd_bus_error_is_set(e)) {
		fprintf(stderr, "asymcachectl: Failed to %s: %s\n", what,
			e->message ? e->message : e->name);
		for (i = 0; i < sizeof(error_status) / sizeof(error_status[0]); i++)
			if (sd_bus_error_has_name(e, error_status[i].name))
				return error_status[i].status;
		return CTL_EXIT_FAILURE;
	}
	fprintf(stderr, "asymcachectl: Failed to %s: %s\n", what, strerror(-r));
	if (r == -ECONNREFUSED || r == -ENOENT || r == -ECONNRESET ||
	    r == -ENOTCONN || r == -ETIMEDOUT)
		return CTL_EXIT_UNREACHABLE;
	if (r == -EACCES || r == -EPERM)
		return CTL_EXIT_DENIED;
	return CTL_EXIT_FAILURE;
}

static int vcall(struct ctl *c, const char *path, const char *iface,
		 const char *method, sd_bus_message **ret_reply,
		 const char *what, const char *types, va_list ap)
{
	_cleanup_bus_error_ sd_bus_error e = SD_BUS_ERROR_NULL;
	_cleanup_msg_ sd_bus_message *m = NULL;
	int r;

	r = ctl_connect(c);
	if (r != CTL_EXIT_OK)
		return r;
	r = sd_bus_message_new_method_call(c->bus, &m, AC_BUS_NAME, path,
					   iface, method);
	if (r < 0)
		return ctl_fail(NULL, r, what);
	if (types) {
		r = sd_bus_message_appendv(m, types, ap);
		if (r < 0)
			return ctl_fail(NULL, r, what);
	}
	/* Never start the daemon by asking about it: no auto-start. */
	r = sd_bus_message_set_auto_start(m, 0);
	if (r < 0)
		return ctl_fail(NULL, r, what);
	r = sd_bus_call(c->bus, m, 0, &e, ret_reply);
	if (r < 0)
		return ctl_fail(&e, r, what);
	return CTL_EXIT_OK;
}

int ctl_call(struct ctl *c, const char *method, sd_bus_message **ret_reply,
	     const char *what, const char *types, ...)
{
	va_list ap;
	int r;

	va_start(ap, types);
	r = vcall(c, AC_BUS_PATH, AC_BUS_INTERFACE, method, ret_reply, what,
		  types, ap);
	va_end(ap);
	return r;
}

int ctl_call_at(struct ctl *c, const char *path, const char *iface,
		const char *method, sd_bus_message **ret_reply,
		const char *what, const char *types, ...)
{
	va_list ap;
	int r;

	va_start(ap, types);
	r = vcall(c, path, iface, method, ret_reply, what, types, ap);
	va_end(ap);
	return r;
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int read_pools(sd_bus_message *m, struct ctl_snapshot *s)
{
	int r;

	r = sd_bus_message_enter_container(m, 'a', "(usituu)");
	if (r < 0)
		return r;
	for (;;) {
		struct ctl_pool p = { 0 }, *n;
		const char *backend;

		r = sd_bus_message_read(m, "(usituu)", &p.id, &backend, &p.device,
					&p.bytes, &p.block_bytes, &p.nblocks);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		n = reallocarray(s->pools, s->npools + 1, sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->pools = n;
		p.backend = strdup(backend);
		if (!p.backend)
			return -ENOMEM;
		s->pools[s->npools++] = p;
	}
	return sd_bus_message_exit_container(m);
}

static int read_strv(sd_bus_message *m, char ***ret)
{
	char **v = NULL;
	int r;

	r = sd_bus_message_read_strv(m, &v);
	if (r < 0)
		return r;
	*ret = v;
	return 0;
}

static const struct prop_map {
	const char *name;
	char type;
	size_t offset;
} snapshot_props[] = {
	{ "Version", 's', offsetof(struct ctl_snapshot, version) },
	{ "Policy", 's', offsetof(struct ctl_snapshot, policy) },
	{ "CostFile", 's', offsetof(struct ctl_snapshot, cost_file) },
	{ "SchedulerMode", 's', offsetof(struct ctl_snapshot, scheduler_mode) },
	{ "Uptime", 't', offsetof(struct ctl_snapshot, uptime_usec) },
	{ "NBlocks", 'u', offsetof(struct ctl_snapshot, nblocks) },
	{ "FreeBlocks", 'u', offsetof(struct ctl_snapshot, free_blocks) },
	{ "WritingBlocks", 'u', offsetof(struct ctl_snapshot, writing_blocks) },
	{ "CachedBlocks", 'u', offsetof(struct ctl_snapshot, cached_blocks) },
	{ "PinnedBlocks", 'u', offsetof(struct ctl_snapshot, pinned_blocks) },
	{ "RetainedBlocks", 'u', offsetof(struct ctl_snapshot, retained_blocks) },
	{ "Sessions", 'u', offsetof(struct ctl_snapshot, sessions) },
	{ "Namespaces", 'u', offsetof(struct ctl_snapshot, namespaces) },
	{ "Lookups", 't', offsetof(struct ctl_snapshot, lookups) },
	{ "LookupKeys", 't', offsetof(struct ctl_snapshot, lookup_keys) },
	{ "LookupHits", 't', offsetof(struct ctl_snapshot, lookup_hits) },
	{ "Evictions", 't', offsetof(struct ctl_snapshot, evictions) },
	{ "Flushed", 't', offsetof(struct ctl_snapshot, flushed) },
	{ "Commits", 't', offsetof(struct ctl_snapshot, commits) },
	{ "Dedups", 't', offsetof(struct ctl_snapshot, dedups) },
	{ "RecomputedTokens", 't', offsetof(struct ctl_snapshot, recomputed_tokens) },
	{ "HitRate", 'd', offsetof(struct ctl_snapshot, hit_rate) },
	{ "RetainBudgetBlocks", 'u', offsetof(struct ctl_snapshot, retain_budget_blocks) },
	{ "RetainedSoftBlocks", 'u', offsetof(struct ctl_snapshot, retained_soft_blocks) },
	{ "RetainResumed", 't', offsetof(struct ctl_snapshot, retain_resumed) },
	{ "RetainExpiredUnused", 't', offsetof(struct ctl_snapshot, retain_expired_unused) },
	{ "RetainDropped", 't', offsetof(struct ctl_snapshot, retain_dropped) },
	{ "RetainDeclined", 't', offsetof(struct ctl_snapshot, retain_declined) },
	{ "RetainHoldMs", 't', offsetof(struct ctl_snapshot, retain_hold_ms) },
	{ "WindowQueryTokens", 't', offsetof(struct ctl_snapshot, window_query_tokens) },
	{ "WindowHitTokens", 't', offsetof(struct ctl_snapshot, window_hit_tokens) },
};

static int read_prop(sd_bus_message *m, const char *name, struct ctl_snapshot *s)
{
	const char *contents;
	char type;
	size_t i;
	int r;

	r = sd_bus_message_peek_type(m, &type, &contents);
	if (r < 0)
		return r;
	for (i = 0; i < sizeof(snapshot_props) / sizeof(snapshot_props[0]); i++) {
		const struct prop_map *p = &snapshot_props[i];
		void *field = (char *)s + p->offset;

		if (strcmp(p->name, name) != 0)
			continue;
		/* A type we do not expect means a daemon of another version. */
		if (contents[0] != p->type || contents[1])
			return -EBADMSG;
		if (p->type == 's') {
			const char *v;

			r = sd_bus_message_read(m, "v", "s", &v);
			if (r < 0)
				return r;
			free(*(char **)field);
			*(char **)field = strdup(v);
			return *(char **)field ? 0 : -ENOMEM;
		}
		return sd_bus_message_read(m, "v", contents, field);
	}
	if (strcmp(name, "Pools") == 0 && strcmp(contents, "a(usituu)") == 0) {
		r = sd_bus_message_enter_container(m, 'v', contents);
		if (r < 0)
			return r;
		r = read_pools(m, s);
		if (r < 0)
			return r;
		return sd_bus_message_exit_container(m);
	}
	if (strcmp(name, "Policies") == 0 && strcmp(contents, "as") == 0) {
		r = sd_bus_message_enter_container(m, 'v', contents);
		if (r < 0)
			return r;
		r = read_strv(m, &s->policies);
		if (r < 0)
			return r;
		return sd_bus_message_exit_container(m);
	}
	/* Newer daemons may add properties: skip what we do not know. */
	return sd_bus_message_skip(m, "v");
}

/* Every property of @iface at @path that the snapshot knows, read into @s. */
static int read_all(sd_bus_message *reply, struct ctl_snapshot *s)
{
	int r;

	r = sd_bus_message_enter_container(reply, 'a', "{sv}");
	if (r < 0)
		return r;
	for (;;) {
		const char *name;

		r = sd_bus_message_enter_container(reply, 'e', "sv");
		if (r < 0)
			return r;
		if (r == 0)
			break;
		r = sd_bus_message_read(reply, "s", &name);
		if (r < 0)
			return r;
		r = read_prop(reply, name, s);
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(reply);
		if (r < 0)
			return r;
	}
	return sd_bus_message_exit_container(reply);
}

int ctl_snapshot_fetch(struct ctl *c, struct ctl_snapshot *s)
{
	_cleanup_msg_ sd_bus_message *reply = NULL;
	int r;

	memset(s, 0, sizeof(*s));
	r = ctl_call_at(c, AC_BUS_PATH, "org.freedesktop.DBus.Properties", "GetAll",
			&reply, "read the daemon's properties", "s", AC_BUS_INTERFACE);
	if (r != CTL_EXIT_OK)
		return r;
	s->taken_usec = now_usec();
	r = read_all(reply, s);
	if (r < 0)
		goto bad;
	if (!s->version || !s->policy) {
		r = -EBADMSG;
		goto bad;
	}
	return CTL_EXIT_OK;
bad:
	ctl_snapshot_clear(s);
	return ctl_fail(NULL, r, "parse the daemon's properties");
}

int ctl_pool_read(struct ctl *c, uint32_t pool, struct ctl_snapshot *s)
{
	_cleanup_msg_ sd_bus_message *reply = NULL;
	char path[64];
	int r;

	snprintf(path, sizeof(path), AC_BUS_POOL_PATH "/%" PRIu32, pool);
	r = ctl_call_at(c, path, "org.freedesktop.DBus.Properties", "GetAll", &reply,
			"read the pool's properties (is there such a pool?)", "s",
			AC_BUS_POOL_INTERFACE);
	if (r != CTL_EXIT_OK)
		return r;
	r = read_all(reply, s);
	return r < 0 ? ctl_fail(NULL, r, "parse the pool's properties") : CTL_EXIT_OK;
}

void ctl_snapshot_clear(struct ctl_snapshot *s)
{
	size_t i;

	free(s->version);
	free(s->policy);
	free(s->cost_file);
	free(s->scheduler_mode);
	for (i = 0; s->policies && s->policies[i]; i++)
		free(s->policies[i]);
	free(s->policies);
	for (i = 0; i < s->npools; i++)
		free(s->pools[i].backend);
	free(s->pools);
	memset(s, 0, sizeof(*s));
}

/*
 * Both lists come in pages (ListSessionsPage, ListNamespacesPage): an
 * array of structs and the cursor of the next page, 0 after the last, so
 * no reply grows with the pool. A reply of another shape means a daemon
 * of another version, reported as parse.
 */
struct list_kind {
	const char *method;
	const char *what;	/* for "Failed to WHAT" */
	const char *sig;	/* of one element */
	const char *parse;	/* for "Failed to PARSE" */
	size_t size;		/* of one element */
	bool cursor64;		/* the cursor is a t, else a u */
	/* Fills a zeroed *item: 1, 0 at the array's end, or -errno. */
	int (*read)(sd_bus_message *m, const char *sig, void *item);
	void (*free)(void *v, size_t n);
};

/* Appends one page's rows to *v (*n of them so far); -errno. */
static int list_page(const struct list_kind *k, sd_bus_message *reply,
		     char **v, size_t *n, uint64_t *ret_next)
{
	char *nv;
	uint32_t next32;
	int r;

	r = sd_bus_message_enter_container(reply, 'a', k->sig);
	if (r < 0)
		return r;
	for (;;) {
		nv = reallocarray(*v, *n + 1, k->size);
		if (!nv)
			return -ENOMEM;
		*v = nv;
		memset(nv + *n * k->size, 0, k->size);
		r = k->read(reply, k->sig, nv + *n * k->size);
		if (r == 0)
			break;
		/* Counted even when it failed halfway: free() sees its strings. */
		(*n)++;
		if (r < 0)
			return r;
	}
	r = sd_bus_message_exit_container(reply);
	if (r < 0)
		return r;
	if (k->cursor64)
		return sd_bus_message_read(reply, "t", ret_next);
	r = sd_bus_message_read(reply, "u", &next32);
	*ret_next = next32;
	return r;
}

static int list_fetch(struct ctl *c, const struct list_kind *k, void **ret,
		      size_t *ret_n)
{
	char *v = NULL;
	uint64_t cursor = 0, next;
	size_t n = 0;
	int r;

	do {
		_cleanup_msg_ sd_bus_message *reply = NULL;

		if (k->cursor64)
			r = ctl_call(c, k->method, &reply, k->what, "tu", cursor,
				     AC_BUS_PAGE_MAX);
		else
			r = ctl_call(c, k->method, &reply, k->what, "uu",
				     (uint32_t)cursor, AC_BUS_PAGE_MAX);
		if (r != CTL_EXIT_OK) {
			k->free(v, n);
			return r;
		}
		r = list_page(k, reply, &v, &n, &next);
		if (r < 0) {
			k->free(v, n);
			return ctl_fail(NULL, r, k->parse);
		}
		cursor = next;
	} while (cursor);
	*ret = v;
	*ret_n = n;
	return CTL_EXIT_OK;
}

static int read_session(sd_bus_message *m, const char *sig, void *item)
{
	struct ctl_session *s = item;
	const char *name;
	int r;

	r = sd_bus_message_read(m, sig, &s->id, &s->pid, &s->uid, &name,
				&s->pins, &s->writing, &s->retained);
	if (r <= 0)
		return r;
	s->name = strdup(name);
	return s->name ? 1 : -ENOMEM;
}

static void free_sessions(void *v, size_t n)
{
	ctl_sessions_free(v, n);
}

static const struct list_kind session_list = {
	"ListSessionsPage", "list sessions", AC_BUS_SESSION_SIG,
	"parse the session list", sizeof(struct ctl_session), true,
	read_session, free_sessions,
};

int ctl_sessions_fetch(struct ctl *c, struct ctl_session **ret, size_t *ret_n)
{
	void *v;
	int r;

	r = list_fetch(c, &session_list, &v, ret_n);
	if (r == CTL_EXIT_OK)
		*ret = v;
	return r;
}

void ctl_sessions_free(struct ctl_session *s, size_t n)
{
	while (n--)
		free(s[n].name);
	free(s);
}

static int read_namespace(sd_bus_message *m, const char *sig, void *item)
{
	struct ctl_namespace *s = item;
	const char *model, *dtype, *cost_file, *cost_mismatch;
	int r;

	r = sd_bus_message_read(m, sig, &s->id, &model, &s->layers,
				&s->kv_heads, &s->head_dim, &dtype,
				&s->block_tokens, &s->bytes_per_block,
				&s->cached, &s->pinned, &cost_file, &cost_mismatch,
				&s->evictions, &s->window_queries, &s->window_hits);
	if (r <= 0)
		return r;
	s->model = strdup(model);
	s->dtype = strdup(dtype);
	s->cost_file = strdup(cost_file);
	s->cost_mismatch = strdup(cost_mismatch);
	return s->model && s->dtype && s->cost_file && s->cost_mismatch ? 1 : -ENOMEM;
}

static void free_namespaces(void *v, size_t n)
{
	ctl_namespaces_free(v, n);
}

static const struct list_kind namespace_list = {
	"ListNamespacesPage", "list namespaces", AC_BUS_NAMESPACE_SIG,
	"parse the namespace list", sizeof(struct ctl_namespace), false,
	read_namespace, free_namespaces,
};

int ctl_namespaces_fetch(struct ctl *c, struct ctl_namespace **ret, size_t *ret_n)
{
	void *v;
	int r;

	r = list_fetch(c, &namespace_list, &v, ret_n);
	if (r == CTL_EXIT_OK)
		*ret = v;
	return r;
}

void ctl_namespaces_free(struct ctl_namespace *ns, size_t n)
{
	while (n--) {
		free(ns[n].model);
		free(ns[n].dtype);
		free(ns[n].cost_file);
		free(ns[n].cost_mismatch);
	}
	free(ns);
}
