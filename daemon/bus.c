/* SPDX-License-Identifier: MIT */
/*
 * org.asymcache.Daemon1 on D-Bus: the daemon's object, and one
 * org.asymcache.Pool1 object per pool. Plain counters are bound by
 * offsetof, as systemd's daemons do, so a Get reads the live value and
 * there is no copy to keep in sync. A pool's properties and EvictBlocks
 * are one list (POOL_MEMBERS) whose offsets start at a struct
 * daemon_pool: the pool objects use it from their pool, the daemon's
 * object from pool 0 (offsetof(struct daemon, pools)), so pool 0 reads the
 * same on both and every pool has the same members.
 *
 * Everything runs on the event-loop thread: the bus fd is a loop watch and
 * sd_bus_process() is only ever called from it or from the loop's timer.
 * A handler therefore sees the block index between two requests and may
 * call the daemon's admin functions directly.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-journal.h>

#include "ac_config.h"
#include "admin.h"
#include "bus.h"
#include "core.h"
#include "daemon.h"
#include "hooks.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "nslife.h"
#include "retention.h"
#include "session.h"
#include "policy.h"

#define BUS_TICK_NS		1000000000ULL
#define BUS_RECONNECT_TICKS	5
#define BUS_ADMIN_GROUP		"asymcache-admin"

/* A pool's values PropertiesChanged reports, as of the last emission. */
struct pool_seen {
	uint32_t nfree, nwriting, ncached, npinned, nns, retained;
	uint64_t lookups, lookup_keys, lookup_hits, evictions, flushed, commits, dedups;
	uint64_t quota_refusals;
};

/* The daemon's, with every pool's. */
struct bus_seen {
	struct pool_seen pool[CACHE_MAX_POOLS];
	uint32_t nsessions;
	uint64_t sessions_refused, hello_timeouts;
	char policy[32];
	int sched_mode;
	/*
	 * A reload (D-Bus or SIGHUP) may point [policy] cost_file elsewhere;
	 * the tick compares names because SIGHUP never passes through here.
	 */
	char cost_from[PATH_MAX];
};

struct bus {
	struct daemon *d;
	sd_bus *bus;
	struct loop_watch *watch;
	struct loop_timer *timer;
	uint32_t watch_events;
	unsigned int ticks_down;	/* timer ticks since the bus went away */
	struct bus_seen seen;
	char status[256];		/* last STATUS= sent */
};

/* One daemon per process; Uptime is counted from the bus coming up. */
static uint64_t bus_started_ns;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- properties ------------------------------------------------------ */

static int get_version(sd_bus *bus, const char *path, const char *iface,
		       const char *prop, sd_bus_message *reply, void *userdata,
		       sd_bus_error *e)
{
	return sd_bus_message_append(reply, "s", AC_VERSION);
}

static int get_uptime(sd_bus *bus, const char *path, const char *iface,
		      const char *prop, sd_bus_message *reply, void *userdata,
		      sd_bus_error *e)
{
	return sd_bus_message_append(reply, "t",
				     (uint64_t)((now_ns() - bus_started_ns) / 1000));
}

static int get_pools(sd_bus *bus, const char *path, const char *iface,
		     const char *prop, sd_bus_message *reply, void *userdata,
		     sd_bus_error *e)
{
	struct daemon *d = userdata;
	const struct pool *p;
	int r;

	/* Pool 0 ([pool]) and the tenant pools ([pool.N]). */
	r = sd_bus_message_open_container(reply, 'a', "(usituu)");
	if (r < 0)
		return r;
	for (uint32_t i = 0; (p = daemon_pool_of(d, i)); i++) {
		r = sd_bus_message_append(reply, "(usituu)", i,
					  daemon_backend_name(d), (int32_t)p->device,
					  (uint64_t)p->bytes,
					  (uint32_t)p->block_bytes, p->nblocks);
		if (r < 0)
			return r;
	}
	return sd_bus_message_close_container(reply);
}

/* The getters of POOL_MEMBERS are handed their struct daemon_pool. */
static int get_hit_rate(sd_bus *bus, const char *path, const char *iface,
			const char *prop, sd_bus_message *reply, void *userdata,
			sd_bus_error *e)
{
	return sd_bus_message_append(reply, "d", daemon_hit_rate(userdata));
}

/* A pool's TTL retention (daemon/retention.h), one property each. */
static int get_retention(sd_bus *bus, const char *path, const char *iface,
			 const char *prop, sd_bus_message *reply,
			 void *userdata, sd_bus_error *e)
{
	struct daemon_retain_stats st;

	daemon_retain_stats(userdata, &st);
	if (!strcmp(prop, "RetainBudgetBlocks"))
		return sd_bus_message_append(reply, "u", st.budget_blocks);
	if (!strcmp(prop, "RetainedSoftBlocks"))
		return sd_bus_message_append(reply, "u", st.soft_blocks);
	if (!strcmp(prop, "RetainResumed"))
		return sd_bus_message_append(reply, "t", st.resumed);
	if (!strcmp(prop, "RetainExpiredUnused"))
		return sd_bus_message_append(reply, "t", st.expired_unused);
	if (!strcmp(prop, "RetainDropped"))
		return sd_bus_message_append(reply, "t", st.dropped);
	if (!strcmp(prop, "RetainDeclined"))
		return sd_bus_message_append(reply, "t", st.declined);
	return sd_bus_message_append(reply, "t", st.hold_ms);
}

/* acc: the pool, then the sum of tokens per block and the count. */
static int sum_block_tokens(const struct daemon_ns_info *i, void *userdata)
{
	uint64_t *acc = userdata;

	if (cache_ns_pool(i->ns_id) != acc[0])
		return 0;
	acc[1] += i->layout->kv.block_tokens;
	acc[2]++;
	return 0;
}

/*
 * Tokens clients computed because a lookup in pool @p missed: misses times
 * tokens per block. The counters are not kept per namespace, so with
 * several layouts the mean block size stands in; with one (the usual
 * case) it is exact.
 */
static uint64_t recomputed_tokens(struct daemon_pool *p)
{
	const struct cache_counters *c = daemon_cache_counters(p);
	uint64_t acc[3] = { p->index, 0, 0 };

	daemon_foreach_namespace(p->d, sum_block_tokens, acc);
	if (!acc[2] || c->lookup_keys < c->lookup_hits)
		return 0;
	return (c->lookup_keys - c->lookup_hits) * acc[1] / acc[2];
}

static int get_recomputed(sd_bus *bus, const char *path, const char *iface,
			  const char *prop, sd_bus_message *reply,
			  void *userdata, sd_bus_error *e)
{
	return sd_bus_message_append(reply, "t", recomputed_tokens(userdata));
}

/* The sliding window of /metrics, all namespaces: WindowQueryTokens, WindowHitTokens. */
static int get_window(sd_bus *bus, const char *path, const char *iface,
		      const char *prop, sd_bus_message *reply, void *userdata,
		      sd_bus_error *e)
{
	const struct daemon *d = userdata;
	uint64_t q, h;

	metrics_window(d->metrics, 0, &q, &h);
	return sd_bus_message_append(reply, "t", strcmp(prop, "WindowHitTokens") ? q : h);
}

static int get_policy(sd_bus *bus, const char *path, const char *iface,
		      const char *prop, sd_bus_message *reply, void *userdata,
		      sd_bus_error *e)
{
	return sd_bus_message_append(reply, "s", daemon_policy_name(userdata));
}

/*
 * "" when the built-in derived model is in use, so a script can tell a
 * calibrated daemon from an uncalibrated one without parsing a sentinel.
 */
static const char *cost_file_in_use(const struct daemon *d)
{
	const char *from = d->cfg.cost_from;

	return strcmp(from, "built-in") == 0 ? "" : from;
}

static int get_cost_file(sd_bus *bus, const char *path, const char *iface,
			 const char *prop, sd_bus_message *reply,
			 void *userdata, sd_bus_error *e)
{
	return sd_bus_message_append(reply, "s", cost_file_in_use(userdata));
}

static const char *sched_mode_name(int mode)
{
	switch (mode) {
	case CFG_SCHED_ADAPTIVE: return "adaptive";
	case CFG_SCHED_FIXED: return "fixed";
	default: return "?";
	}
}

static int get_sched_mode(sd_bus *bus, const char *path, const char *iface,
			  const char *prop, sd_bus_message *reply,
			  void *userdata, sd_bus_error *e)
{
	const struct daemon *d = userdata;

	return sd_bus_message_append(reply, "s", sched_mode_name(d->cfg.sched.mode));
}

static int get_policies(sd_bus *bus, const char *path, const char *iface,
			const char *prop, sd_bus_message *reply,
			void *userdata, sd_bus_error *e)
{
	const struct ac_policy_ops *const *p;
	int r;

	r = sd_bus_message_open_container(reply, 'a', "s");
	if (r < 0)
		return r;
	for (p = ac_policy_list(); *p; p++) {
		r = sd_bus_message_append(reply, "s", (*p)->name);
		if (r < 0)
			return r;
	}
	return sd_bus_message_close_container(reply);
}

/* ---- access control -------------------------------------------------- */

static bool gid_in(gid_t g, const gid_t *v, int n)
{
	while (n-- > 0)
		if (v[n] == g)
			return true;
	return false;
}

/*
 * The bus policy already keeps others out; this is the second lock, so a
 * permissive local bus configuration does not hand the cache to anyone.
 * The broker's view of the peer (SO_PEERCRED, SO_PEERGROUPS) is preferred;
 * /proc is only read when the broker does not say.
 */
static int check_admin(sd_bus_message *m, const char *what, sd_bus_error *e)
{
	sd_bus_creds *c = NULL;
	const gid_t *gids = NULL;
	struct group *gr;
	uid_t uid;
	gid_t gid;
	int n, r;

	r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_UID |
				      SD_BUS_CREDS_EGID | SD_BUS_CREDS_GID |
				      SD_BUS_CREDS_SUPPLEMENTARY_GIDS |
				      SD_BUS_CREDS_PID | SD_BUS_CREDS_AUGMENT,
				      &c);
	if (r < 0)
		return sd_bus_error_set_errnof(e, r, "Cannot tell who is asking: %m");
	r = sd_bus_creds_get_euid(c, &uid);
	if (r < 0)
		r = sd_bus_creds_get_uid(c, &uid);
	if (r < 0)
		goto denied;
	if (uid == 0)
		goto allowed;
	gr = getgrnam(BUS_ADMIN_GROUP);
	if (!gr)
		goto denied;
	if ((sd_bus_creds_get_egid(c, &gid) >= 0 || sd_bus_creds_get_gid(c, &gid) >= 0) &&
	    gid == gr->gr_gid)
		goto allowed;
	n = sd_bus_creds_get_supplementary_gids(c, &gids);
	if (n >= 0 && gid_in(gr->gr_gid, gids, n))
		goto allowed;
denied:
	sd_bus_creds_unref(c);
	log_warning("D-Bus %s refused: caller uid %d is neither root nor in group %s",
		    what, r < 0 ? -1 : (int)uid, BUS_ADMIN_GROUP);
	return sd_bus_error_setf(e, AC_BUS_ERROR_NOT_PERMITTED,
				 "%s needs root or membership of group %s",
				 what, BUS_ADMIN_GROUP);
allowed:
	sd_bus_creds_unref(c);
	return 0;
}

/*
 * Admin actions go to the journal with the caller as fields when the
 * journal is our stderr (systemd sets JOURNAL_STREAM), else as a line.
 */
static void log_action(sd_bus_message *m, const char *fmt, const char *arg)
{
	sd_bus_creds *c = NULL;
	uid_t uid = (uid_t)-1;
	pid_t pid = 0;
	char msg[256];

	if (sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_PID |
				      SD_BUS_CREDS_AUGMENT, &c) >= 0) {
		sd_bus_creds_get_euid(c, &uid);
		sd_bus_creds_get_pid(c, &pid);
		sd_bus_creds_unref(c);
	}
	snprintf(msg, sizeof(msg), fmt, arg);
	if (log_is_journal())
		sd_journal_send("MESSAGE=D-Bus %s (caller uid %d, pid %d)", msg,
				(int)uid, (int)pid, "PRIORITY=%d", LOG_NOTICE,
				"ASYMCACHE_ADMIN_METHOD=%s", sd_bus_message_get_member(m),
				"ASYMCACHE_CALLER_UID=%d", (int)uid,
				"ASYMCACHE_CALLER_PID=%d", (int)pid, NULL);
	else
		log_notice("D-Bus %s (caller uid %d, pid %d)", msg, (int)uid, (int)pid);
}

/* ---- methods --------------------------------------------------------- */

/*
 * Listing pages: at most this many rows a call (and the default for 0),
 * so one reply stays small however large the pool or the session table.
 */
#define BUS_PAGE_DEFAULT	256u

/*
 * Who reads a list: an admin (root or asymcache-admin, as check_admin()
 * but silent) sees every row; anyone else only the rows of its own uid.
 * A caller whose uid cannot be told sees nothing.
 */
struct list_scope {
	bool admin;
	uid_t uid;
};

static void list_scope_of(sd_bus_message *m, struct list_scope *sc)
{
	sd_bus_creds *c = NULL;
	const gid_t *gids = NULL;
	struct group *gr;
	gid_t gid;
	int n;

	sc->admin = false;
	sc->uid = (uid_t)-1;
	if (sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_UID |
				      SD_BUS_CREDS_EGID | SD_BUS_CREDS_GID |
				      SD_BUS_CREDS_SUPPLEMENTARY_GIDS |
				      SD_BUS_CREDS_AUGMENT, &c) < 0)
		return;
	if (sd_bus_creds_get_euid(c, &sc->uid) < 0 &&
	    sd_bus_creds_get_uid(c, &sc->uid) < 0) {
		sc->uid = (uid_t)-1;
		goto out;
	}
	if (sc->uid == 0) {
		sc->admin = true;
		goto out;
	}
	gr = getgrnam(BUS_ADMIN_GROUP);
	if (!gr)
		goto out;
	if ((sd_bus_creds_get_egid(c, &gid) >= 0 ||
	     sd_bus_creds_get_gid(c, &gid) >= 0) && gid == gr->gr_gid)
		sc->admin = true;
	n = sd_bus_creds_get_supplementary_gids(c, &gids);
	if (n >= 0 && gid_in(gr->gr_gid, gids, n))
		sc->admin = true;
out:
	sd_bus_creds_unref(c);
}

static bool in_scope(const struct list_scope *sc, uid_t uid)
{
	return sc->admin || (sc->uid != (uid_t)-1 && uid == sc->uid);
}

/*
 * One walk of the session list, O(sessions): newest first, which is also
 * descending id order, so a page resumes below the last id it gave.
 */
struct session_walk {
	sd_bus_message *reply;
	struct list_scope scope;
	uint64_t below;		/* only ids below it; 0: from the newest */
	uint32_t left;		/* rows this page may still take */
	uint64_t last;		/* id of the last row taken */
	bool more;		/* a row in scope did not fit */
};

static int append_session(const struct daemon_session_info *i, void *userdata)
{
	struct session_walk *w = userdata;

	if ((w->below && i->id >= w->below) || !in_scope(&w->scope, i->uid))
		return 0;
	if (!w->left) {
		w->more = true;
		return 1;
	}
	w->left--;
	w->last = i->id;
	return sd_bus_message_append(w->reply, AC_BUS_SESSION_SIG, i->id,
				     (uint32_t)i->pid, (uint32_t)i->uid,
				     i->name ? i->name : "", i->pins,
				     i->writing, i->retained) < 0 ? -1 : 0;
}

/* The rows of one walk in an open reply; -errno. */
static int sessions_into(struct daemon *d, struct session_walk *w)
{
	int r;

	r = sd_bus_message_open_container(w->reply, 'a', AC_BUS_SESSION_SIG);
	if (r < 0)
		return r;
	if (daemon_foreach_session(d, append_session, w) < 0)
		return -ENOMEM;
	return sd_bus_message_close_container(w->reply);
}

/* Every session in the caller's scope (see list_scope_of()). */
static int method_list_sessions(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct session_walk w = { .left = UINT32_MAX };
	int r;

	list_scope_of(m, &w.scope);
	r = sd_bus_message_new_method_return(m, &w.reply);
	if (r < 0)
		return r;
	r = sessions_into(userdata, &w);
	if (r >= 0)
		r = sd_bus_send(NULL, w.reply, NULL);
	sd_bus_message_unref(w.reply);
	return r;
}

static uint32_t page_size(uint32_t max)
{
	if (!max)
		return BUS_PAGE_DEFAULT;
	return max < AC_BUS_PAGE_MAX ? max : AC_BUS_PAGE_MAX;
}

/*
 * A page: sessions with ids below @cursor (0: from the newest), at most
 * @max; the cursor of the next page, 0 after the last.
 */
static int method_list_sessions_page(sd_bus_message *m, void *userdata,
				     sd_bus_error *e)
{
	struct session_walk w = { 0 };
	uint32_t max;
	int r;

	r = sd_bus_message_read(m, "tu", &w.below, &max);
	if (r < 0)
		return r;
	w.left = page_size(max);
	list_scope_of(m, &w.scope);
	r = sd_bus_message_new_method_return(m, &w.reply);
	if (r < 0)
		return r;
	r = sessions_into(userdata, &w);
	if (r >= 0)
		r = sd_bus_message_append(w.reply, "t", w.more ? w.last : 0);
	if (r >= 0)
		r = sd_bus_send(NULL, w.reply, NULL);
	sd_bus_message_unref(w.reply);
	return r;
}

/* Namespaces by slot: at most 255, each row O(1) but its cost check. */
struct ns_walk {
	sd_bus_message *reply;
	struct list_scope scope;
	uint32_t from;		/* first slot; 0: from the first */
	uint32_t left;
	uint32_t last;		/* slot of the last row taken */
	bool more;
};

static int append_namespace(const struct daemon_ns_info *i, void *userdata)
{
	struct ns_walk *w = userdata;
	const struct cache_layout *l = i->layout;
	uint32_t slot = cache_ns_slot(i->ns_id);

	if (slot < w->from || !in_scope(&w->scope, i->owner))
		return 0;
	if (!w->left) {
		w->more = true;
		return 1;
	}
	w->left--;
	w->last = slot;
	return sd_bus_message_append(w->reply, AC_BUS_NAMESPACE_SIG, i->ns_id,
				     l->model_id, l->kv.num_layers,
				     l->kv.num_kv_heads, l->kv.head_dim,
				     ac_dtype_name(l->kv.dtype), l->kv.block_tokens,
				     i->bytes_per_block,
				     i->cached, i->pinned, i->cost_from, i->cost_mismatch,
				     i->evictions, i->window_queries, i->window_hits) < 0 ? -1 : 0;
}

static int namespaces_into(struct daemon *d, struct ns_walk *w)
{
	int r;

	r = sd_bus_message_open_container(w->reply, 'a', AC_BUS_NAMESPACE_SIG);
	if (r < 0)
		return r;
	if (daemon_foreach_namespace(d, append_namespace, w) < 0)
		return -ENOMEM;
	return sd_bus_message_close_container(w->reply);
}

/* Every namespace in the caller's scope: an admin's all, others' their own. */
static int method_list_namespaces(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct ns_walk w = { .left = UINT32_MAX };
	int r;

	list_scope_of(m, &w.scope);
	r = sd_bus_message_new_method_return(m, &w.reply);
	if (r < 0)
		return r;
	r = namespaces_into(userdata, &w);
	if (r >= 0)
		r = sd_bus_send(NULL, w.reply, NULL);
	sd_bus_message_unref(w.reply);
	return r;
}

/* A page of namespaces from @cursor on (0: the first); next cursor or 0. */
static int method_list_namespaces_page(sd_bus_message *m, void *userdata,
				       sd_bus_error *e)
{
	struct ns_walk w = { 0 };
	uint32_t max;
	int r;

	r = sd_bus_message_read(m, "uu", &w.from, &max);
	if (r < 0)
		return r;
	w.left = page_size(max);
	list_scope_of(m, &w.scope);
	r = sd_bus_message_new_method_return(m, &w.reply);
	if (r < 0)
		return r;
	r = namespaces_into(userdata, &w);
	if (r >= 0)
		r = sd_bus_message_append(w.reply, "u", w.more ? w.last + 1 : 0);
	if (r >= 0)
		r = sd_bus_send(NULL, w.reply, NULL);
	sd_bus_message_unref(w.reply);
	return r;
}

static int method_set_policy(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct daemon *d = userdata;
	const char *name;
	int r;

	r = sd_bus_message_read(m, "s", &name);
	if (r < 0)
		return r;
	r = check_admin(m, "SetPolicy", e);
	if (r < 0)
		return r;
	if (!ac_policy_find(name))
		return sd_bus_error_setf(e, AC_BUS_ERROR_NO_SUCH_POLICY,
					 "No eviction policy named '%s'", name);
	log_action(m, "SetPolicy(%s)", name);
	r = daemon_set_policy(d, name);
	if (r == -ENOENT)
		return sd_bus_error_setf(e, AC_BUS_ERROR_NO_SUCH_POLICY,
					 "No eviction policy named '%s'", name);
	if (r < 0)
		return sd_bus_error_set_errnof(e, r, "Cannot switch to policy '%s': %m",
					       name);
	sd_bus_emit_properties_changed(sd_bus_message_get_bus(m), AC_BUS_PATH,
				       AC_BUS_INTERFACE, "Policy", NULL);
	return sd_bus_reply_method_return(m, NULL);
}

static bool ns_exists(const struct daemon *d, uint32_t id)
{
	struct cache *c = daemon_cache_of((struct daemon *)d, cache_ns_pool(id));

	return c && cache_find_ns(c, id) != NULL;
}

static uint32_t ns_pinned(const struct daemon *d, uint32_t id)
{
	struct cache *c = daemon_cache_of((struct daemon *)d, cache_ns_pool(id));
	const struct cache_ns *ns = c ? cache_find_ns(c, id) : NULL;

	return ns ? ns->pinned : 0;
}

/* The admin methods whose one argument is a u32: read it, from an admin only. */
static int admin_u32_arg(sd_bus_message *m, const char *what, sd_bus_error *e,
			 uint32_t *ret)
{
	int r;

	r = sd_bus_message_read(m, "u", ret);
	if (r < 0)
		return r;
	return check_admin(m, what, e);
}

/* Logged once the argument passed its checks, as "WHAT(ARG)". */
static void log_action_u32(sd_bus_message *m, const char *fmt, uint32_t v)
{
	char arg[16];

	snprintf(arg, sizeof(arg), "%u", v);
	log_action(m, fmt, arg);
}

static int method_flush_namespace(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct daemon *d = userdata;
	uint32_t id, flushed = 0;
	int r;

	r = admin_u32_arg(m, "FlushNamespace", e, &id);
	if (r < 0)
		return r;
	if (!ns_exists(d, id))
		return sd_bus_error_setf(e, AC_BUS_ERROR_NO_SUCH_NAMESPACE,
					 "No namespace with id %u", id);
	log_action_u32(m, "FlushNamespace(%s)", id);
	r = daemon_flush_namespace(d, id, &flushed);
	if (r == -ENOENT)
		return sd_bus_error_setf(e, AC_BUS_ERROR_NO_SUCH_NAMESPACE,
					 "No namespace with id %u", id);
	if (r < 0)
		return sd_bus_error_set_errnof(e, r, "Cannot flush namespace %u: %m", id);
	return sd_bus_reply_method_return(m, "uu", flushed, ns_pinned(d, id));
}

static int method_unregister_namespace(sd_bus_message *m, void *userdata,
				       sd_bus_error *e)
{
	struct daemon *d = userdata;
	uint32_t id, flushed = 0, kept = 0;
	int r;

	r = admin_u32_arg(m, "UnregisterNamespace", e, &id);
	if (r < 0)
		return r;
	if (!ns_exists(d, id))
		return sd_bus_error_setf(e, AC_BUS_ERROR_NO_SUCH_NAMESPACE,
					 "No namespace with id %u", id);
	log_action_u32(m, "UnregisterNamespace(%s)", id);
	r = nslife_unregister(d, NULL, id, &flushed, &kept);
	if (r == -ENOENT)
		return sd_bus_error_setf(e, AC_BUS_ERROR_NO_SUCH_NAMESPACE,
					 "No namespace with id %u", id);
	if (r < 0)
		return sd_bus_error_set_errnof(e, r, "Cannot unregister namespace %u: %m",
					       id);
	return sd_bus_reply_method_return(m, "uu", flushed, kept);
}

/* In POOL_MEMBERS: handed its struct daemon_pool. */
static int method_evict_blocks(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct daemon_pool *p = userdata;
	uint32_t n, evicted = 0;
	char arg[32];
	int r;

	r = admin_u32_arg(m, "EvictBlocks", e, &n);
	if (r < 0)
		return r;
	if (n == 0)
		return sd_bus_error_setf(e, SD_BUS_ERROR_INVALID_ARGS,
					 "EvictBlocks wants a count of at least 1");
	snprintf(arg, sizeof(arg), "%u, pool %u", n, p->index);
	log_action(m, "EvictBlocks(%s)", arg);
	r = daemon_evict(p, n, &evicted);
	if (r < 0)
		return sd_bus_error_set_errnof(e, r, "Cannot evict in pool %u: %m",
					       p->index);
	return sd_bus_reply_method_return(m, "u", evicted);
}

/* The keys a reload may change in place; each is compared before/after. */
static int append_changed(sd_bus_message *reply, const struct daemon_config *a,
			  const struct daemon_config *b)
{
	static const struct {
		const char *key;
		size_t off;
	} limits[] = {
		{ "[limits] max_packet", offsetof(struct daemon_limits, max_packet) },
		{ "[limits] max_keys_per_lookup",
		  offsetof(struct daemon_limits, max_keys_per_lookup) },
		{ "[limits] max_pins_per_session",
		  offsetof(struct daemon_limits, max_pins_per_session) },
		{ "[limits] max_writing_per_session",
		  offsetof(struct daemon_limits, max_writing_per_session) },
		{ "[limits] max_sessions", offsetof(struct daemon_limits, max_sessions) },
		{ "[limits] max_sessions_per_uid",
		  offsetof(struct daemon_limits, max_sessions_per_uid) },
		{ "[limits] hello_timeout_ms",
		  offsetof(struct daemon_limits, hello_timeout_ms) },
		{ "[limits] namespace_idle_ms",
		  offsetof(struct daemon_limits, namespace_idle_ms) },
		{ "[limits] max_blocks_per_session",
		  offsetof(struct daemon_limits, max_blocks_per_session) },
		{ "[limits] max_blocks_per_uid",
		  offsetof(struct daemon_limits, max_blocks_per_uid) },
		{ "[limits] max_retained_blocks_per_session",
		  offsetof(struct daemon_limits, max_retained_blocks_per_session) },
		{ "[limits] max_retain_ttl_ms",
		  offsetof(struct daemon_limits, max_retain_ttl_ms) },
		{ "[limits] retain_budget_percent",
		  offsetof(struct daemon_limits, retain_budget_percent) },
		{ "[limits] max_schedule_segments",
		  offsetof(struct daemon_limits, max_schedule_segments) },
		{ "[limits] max_schedule_decode",
		  offsetof(struct daemon_limits, max_schedule_decode) },
	};
	size_t i;
	int r = 0;

	if (a->log_level != b->log_level)
		r = sd_bus_message_append(reply, "s", "[daemon] log_level");
	if (r >= 0 && strcmp(a->policy, b->policy))
		r = sd_bus_message_append(reply, "s", "[policy] name");
	/* What was loaded, not what was written: "" and the default may agree. */
	if (r >= 0 && strcmp(a->cost_from, b->cost_from))
		r = sd_bus_message_append(reply, "s", "[policy] cost_file");
	if (r >= 0 && a->sched.mode != b->sched.mode)
		r = sd_bus_message_append(reply, "s", "[scheduler] mode");
	if (r >= 0 && a->sched.order != b->sched.order)
		r = sd_bus_message_append(reply, "s", "[scheduler] order");
	if (r >= 0 && a->sched.tpot_target_us != b->sched.tpot_target_us)
		r = sd_bus_message_append(reply, "s", "[scheduler] tpot_target_us");
	if (r >= 0 && a->sched.fixed_budget_tokens != b->sched.fixed_budget_tokens)
		r = sd_bus_message_append(reply, "s", "[scheduler] fixed_budget_tokens");
	for (i = 0; r >= 0 && i < sizeof(limits) / sizeof(limits[0]); i++)
		if (*(const uint32_t *)((const char *)&a->limits + limits[i].off) !=
		    *(const uint32_t *)((const char *)&b->limits + limits[i].off))
			r = sd_bus_message_append(reply, "s", limits[i].key);
	return r;
}

static int method_reload_config(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct daemon *d = userdata;
	struct daemon_config *before;
	sd_bus_message *reply = NULL;
	char err[CFG_ERR_MAX] = "";
	int r;

	r = check_admin(m, "ReloadConfig", e);
	if (r < 0)
		return r;
	log_action(m, "ReloadConfig(%s)", d->cfg.config_path);
	before = malloc(sizeof(*before));
	if (!before)
		return -ENOMEM;
	*before = d->cfg;
	r = daemon_reload_config(d, err, sizeof(err));
	if (r == -EBUSY) {
		r = sd_bus_error_setf(e, AC_BUS_ERROR_NEEDS_RESTART,
				      "Nothing applied: %s", err);
		goto out;
	}
	if (r == -EINVAL || r == -ENOENT) {
		r = sd_bus_error_setf(e, AC_BUS_ERROR_INVALID_CONFIG,
				      "Nothing applied: %s", err);
		goto out;
	}
	if (r < 0) {
		r = sd_bus_error_set_errnof(e, r, "Reload failed: %s", err);
		goto out;
	}
	r = sd_bus_message_new_method_return(m, &reply);
	if (r < 0)
		goto out;
	r = sd_bus_message_open_container(reply, 'a', "s");
	if (r >= 0)
		r = append_changed(reply, before, &d->cfg);
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r >= 0)
		r = sd_bus_send(NULL, reply, NULL);
	if (strcmp(before->policy, d->cfg.policy))
		sd_bus_emit_properties_changed(sd_bus_message_get_bus(m), AC_BUS_PATH,
					       AC_BUS_INTERFACE, "Policy", NULL);
	if (strcmp(before->cost_from, d->cfg.cost_from))
		sd_bus_emit_properties_changed(sd_bus_message_get_bus(m), AC_BUS_PATH,
					       AC_BUS_INTERFACE, "CostFile", NULL);
	if (before->sched.mode != d->cfg.sched.mode)
		sd_bus_emit_properties_changed(sd_bus_message_get_bus(m), AC_BUS_PATH,
					       AC_BUS_INTERFACE, "SchedulerMode", NULL);
out:
	sd_bus_message_unref(reply);
	free(before);
	return r;
}

/*
 * Every method is UNPRIVILEGED to sd-bus: its own default (CAP_SYS_ADMIN
 * only) is not our rule. Reads are open; mutations go through check_admin().
 */
#define EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define CONST SD_BUS_VTABLE_PROPERTY_CONST
/* No getter: sd-bus appends a basic type from the field at the offset. */
#define D_U32(name, field, flags) \
	SD_BUS_PROPERTY(name, "u", NULL, offsetof(struct daemon, field), flags)
#define D_U64(name, field) \
	SD_BUS_PROPERTY(name, "t", NULL, offsetof(struct daemon, field), EMITS)
/* The same in a struct daemon_pool that starts @base bytes into userdata. */
#define P_U32(name, field, base, flags) \
	SD_BUS_PROPERTY(name, "u", NULL, \
			(base) + offsetof(struct daemon_pool, field), flags)
#define P_U64(name, field, base) \
	SD_BUS_PROPERTY(name, "t", NULL, \
			(base) + offsetof(struct daemon_pool, field), EMITS)

/*
 * A pool's members. sd-bus hands a getter or a method userdata plus the
 * member's offset, so theirs get the struct daemon_pool at @base.
 */
#define POOL_MEMBERS(base) \
	P_U32("NBlocks", cache.nblocks, base, CONST), \
	P_U32("FreeBlocks", cache.nfree, base, EMITS), \
	P_U32("WritingBlocks", cache.nwriting, base, EMITS), \
	P_U32("CachedBlocks", cache.ncached, base, EMITS), \
	P_U32("PinnedBlocks", cache.npinned, base, EMITS), \
	P_U32("RetainedBlocks", retained_blocks, base, EMITS), \
	P_U32("Namespaces", cache.nlive, base, EMITS), \
	P_U64("Lookups", cache.ctr.lookups, base), \
	P_U64("LookupKeys", cache.ctr.lookup_keys, base), \
	P_U64("LookupHits", cache.ctr.lookup_hits, base), \
	P_U64("Evictions", cache.ctr.evictions, base), \
	P_U64("Flushed", cache.ctr.flushed, base), \
	P_U64("Commits", cache.ctr.commits, base), \
	P_U64("Dedups", cache.ctr.dedups, base), \
	P_U64("QuotaRefusals", cache.ctr.quota_refusals, base), \
	SD_BUS_PROPERTY("HitRate", "d", get_hit_rate, base, EMITS), \
	SD_BUS_PROPERTY("RecomputedTokens", "t", get_recomputed, base, EMITS), \
	SD_BUS_PROPERTY("RetainBudgetBlocks", "u", get_retention, base, 0), \
	SD_BUS_PROPERTY("RetainedSoftBlocks", "u", get_retention, base, 0), \
	SD_BUS_PROPERTY("RetainResumed", "t", get_retention, base, 0), \
	SD_BUS_PROPERTY("RetainExpiredUnused", "t", get_retention, base, 0), \
	SD_BUS_PROPERTY("RetainDropped", "t", get_retention, base, 0), \
	SD_BUS_PROPERTY("RetainDeclined", "t", get_retention, base, 0), \
	SD_BUS_PROPERTY("RetainHoldMs", "t", get_retention, base, 0), \
	SD_BUS_METHOD_WITH_ARGS_OFFSET("EvictBlocks", SD_BUS_ARGS("u", count), \
				       SD_BUS_RESULT("u", evicted), \
				       method_evict_blocks, base, \
				       SD_BUS_VTABLE_UNPRIVILEGED)

static const sd_bus_vtable daemon_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Version", "s", get_version, 0, CONST),
	SD_BUS_PROPERTY("Uptime", "t", get_uptime, 0, 0),
	SD_BUS_PROPERTY("Pools", AC_BUS_POOLS_SIG, get_pools, 0, CONST),
	SD_BUS_PROPERTY("Policies", "as", get_policies, 0, CONST),
	SD_BUS_PROPERTY("Policy", "s", get_policy, 0, EMITS),
	SD_BUS_PROPERTY("CostFile", "s", get_cost_file, 0, EMITS),
	SD_BUS_PROPERTY("SchedulerMode", "s", get_sched_mode, 0, EMITS),
	D_U32("Sessions", nsessions, EMITS),
	D_U64("SessionsRefused", ctr.sessions_refused),
	D_U64("HelloTimeouts", ctr.hello_timeouts),
	/* Pool 0's, as on its own object. */
	POOL_MEMBERS(offsetof(struct daemon, pools)),
	/* They move as time passes, with no event to announce it. */
	SD_BUS_PROPERTY("WindowQueryTokens", "t", get_window, 0, 0),
	SD_BUS_PROPERTY("WindowHitTokens", "t", get_window, 0, 0),
	SD_BUS_METHOD_WITH_ARGS("ListSessions", SD_BUS_NO_ARGS,
				SD_BUS_RESULT(AC_BUS_SESSIONS_SIG, sessions),
				method_list_sessions, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ListNamespaces", SD_BUS_NO_ARGS,
				SD_BUS_RESULT(AC_BUS_NAMESPACES_SIG, namespaces),
				method_list_namespaces, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ListSessionsPage", SD_BUS_ARGS("t", cursor, "u", max),
				SD_BUS_RESULT(AC_BUS_SESSIONS_SIG, sessions, "t", next),
				method_list_sessions_page, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ListNamespacesPage", SD_BUS_ARGS("u", cursor, "u", max),
				SD_BUS_RESULT(AC_BUS_NAMESPACES_SIG, namespaces, "u", next),
				method_list_namespaces_page, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("SetPolicy", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT,
				method_set_policy, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("FlushNamespace", SD_BUS_ARGS("u", namespace),
				SD_BUS_RESULT("u", evicted, "u", pinned_kept),
				method_flush_namespace, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("UnregisterNamespace", SD_BUS_ARGS("u", namespace),
				SD_BUS_RESULT("u", evicted, "u", pinned_kept),
				method_unregister_namespace, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ReloadConfig", SD_BUS_NO_ARGS,
				SD_BUS_RESULT("as", changed),
				method_reload_config, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_VTABLE_END
};

/* AC_BUS_POOL_INTERFACE at AC_BUS_POOL_PATH/N; userdata: pool N. */
static const sd_bus_vtable pool_vtable[] = {
	SD_BUS_VTABLE_START(0),
	P_U32("Index", index, 0, CONST),
	POOL_MEMBERS(0),
	SD_BUS_VTABLE_END
};

/* ---- loop integration ------------------------------------------------ */

static void bus_drop(struct bus *b)
{
	b->bus = sd_bus_flush_close_unref(b->bus);
	b->watch = NULL;	/* the loop frees a watch that returned <= 0 */
	b->ticks_down = 0;
}

/* Runs every queued message; returns the events to wait for, or -errno. */
static int bus_process(struct bus *b)
{
	int r;

	do
		r = sd_bus_process(b->bus, NULL);
	while (r > 0);
	if (r < 0)
		return r;
	r = sd_bus_get_events(b->bus);
	if (r < 0)
		return r;
	b->watch_events = (uint32_t)r;
	return r ? r : POLLIN;
}

static int on_bus_ready(struct loop_watch *w, uint32_t revents, void *userdata)
{
	struct bus *b = userdata;
	int r;

	r = bus_process(b);
	if (r < 0) {
		log_warning_errno(r, "D-Bus connection lost, retrying every %d s: %m",
				  BUS_RECONNECT_TICKS);
		bus_drop(b);
		return 0;
	}
	return r;
}

static void seen_read(const struct daemon *d, struct bus_seen *s)
{
	/* Compared whole with memcmp: padding and string tails too. */
	memset(s, 0, sizeof(*s));
	for (uint32_t i = 0; i < d->npools; i++) {
		const struct cache *c = &d->pools[i].cache;
		struct pool_seen *p = &s->pool[i];

		p->nfree = c->nfree;
		p->nwriting = c->nwriting;
		p->ncached = c->ncached;
		p->npinned = c->npinned;
		p->retained = d->pools[i].retained_blocks;
		p->nns = c->nlive;
		p->lookups = c->ctr.lookups;
		p->lookup_keys = c->ctr.lookup_keys;
		p->lookup_hits = c->ctr.lookup_hits;
		p->evictions = c->ctr.evictions;
		p->flushed = c->ctr.flushed;
		p->commits = c->ctr.commits;
		p->dedups = c->ctr.dedups;
		p->quota_refusals = c->ctr.quota_refusals;
	}
	s->nsessions = d->nsessions;
	s->sessions_refused = d->ctr.sessions_refused;
	s->hello_timeouts = d->ctr.hello_timeouts;
	snprintf(s->policy, sizeof(s->policy), "%s",
		 cache_policy_name(&d->pools[0].cache));
	s->sched_mode = d->cfg.sched.mode;
	snprintf(s->cost_from, sizeof(s->cost_from), "%s", d->cfg.cost_from);
}

#define CHANGED(now, was, field, ...) do { \
	if ((now)->field != (was)->field) { \
		const char *const l[] = { __VA_ARGS__ }; \
		for (size_t k = 0; k < sizeof(l) / sizeof(l[0]); k++) \
			names[n++] = l[k]; \
	} \
} while (0)

/* Appends the names of POOL_MEMBERS that moved to @names at @n. */
static size_t pool_changes(const struct pool_seen *now,
			   const struct pool_seen *was, const char **names,
			   size_t n)
{
	CHANGED(now, was, nfree, "FreeBlocks");
	CHANGED(now, was, nwriting, "WritingBlocks");
	CHANGED(now, was, ncached, "CachedBlocks");
	CHANGED(now, was, npinned, "PinnedBlocks");
	CHANGED(now, was, retained, "RetainedBlocks");
	CHANGED(now, was, nns, "Namespaces");
	CHANGED(now, was, lookups, "Lookups");
	CHANGED(now, was, lookup_keys, "LookupKeys", "HitRate", "RecomputedTokens");
	CHANGED(now, was, lookup_hits, "LookupHits");
	CHANGED(now, was, evictions, "Evictions");
	CHANGED(now, was, flushed, "Flushed");
	CHANGED(now, was, commits, "Commits");
	CHANGED(now, was, dedups, "Dedups");
	CHANGED(now, was, quota_refusals, "QuotaRefusals");
	return n;
}

/*
 * The names of the daemon object's properties that moved since @was,
 * NULL terminated; the count is returned.
 */
static size_t daemon_changes(const struct bus_seen *now,
			     const struct bus_seen *was, const char **names)
{
	size_t n = pool_changes(&now->pool[0], &was->pool[0], names, 0);

	CHANGED(now, was, sched_mode, "SchedulerMode");
	CHANGED(now, was, nsessions, "Sessions");
	CHANGED(now, was, sessions_refused, "SessionsRefused");
	CHANGED(now, was, hello_timeouts, "HelloTimeouts");
	if (strcmp(now->policy, was->policy))
		names[n++] = "Policy";
	if (strcmp(now->cost_from, was->cost_from))
		names[n++] = "CostFile";
	names[n] = NULL;
	return n;
}
#undef CHANGED

/* Object path of pool @i's object. */
static void pool_path(uint32_t i, char *buf, size_t len)
{
	snprintf(buf, len, AC_BUS_POOL_PATH "/%u", i);
}

/*
 * One PropertiesChanged for each object with properties that moved
 * between @was and @now. @b->bus is up.
 */
static int emit_changes(struct bus *b, const struct bus_seen *now,
			const struct bus_seen *was)
{
	const char *names[32];
	char path[64];
	size_t n;
	int r;

	if (daemon_changes(now, was, names)) {
		r = sd_bus_emit_properties_changed_strv(b->bus, AC_BUS_PATH,
							AC_BUS_INTERFACE,
							(char **)names);
		if (r < 0)
			return r;
	}
	for (uint32_t i = 0; i < b->d->npools; i++) {
		n = pool_changes(&now->pool[i], &was->pool[i], names, 0);
		if (!n)
			continue;
		names[n] = NULL;
		pool_path(i, path, sizeof(path));
		r = sd_bus_emit_properties_changed_strv(b->bus, path,
							AC_BUS_POOL_INTERFACE,
							(char **)names);
		if (r < 0)
			return r;
	}
	return 0;
}

static int bus_connect(struct bus *b);

/*
 * Once a second: one PropertiesChanged with every property that moved and
 * a new STATUS= line, both only when something moved, so an idle daemon
 * stays silent; and a reconnect attempt while the bus is gone.
 */
static int on_bus_tick(struct loop_timer *t, void *userdata)
{
	struct bus *b = userdata;
	struct bus_seen now, was = b->seen;
	bool moved;
	uint32_t prev;
	int r;

	seen_read(b->d, &now);
	moved = memcmp(&now, &was, sizeof(now)) != 0;
	b->seen = now;
	if (moved)
		daemon_notify_status(b->d);
	if (!b->bus) {
		if (++b->ticks_down < BUS_RECONNECT_TICKS)
			return 0;
		b->ticks_down = 0;
		r = bus_connect(b);
		if (r < 0)
			log_debug("D-Bus still unreachable: %s", strerror(-r));
		else
			log_notice("D-Bus connection restored");
		return 0;
	}
	prev = b->watch_events;
	r = 0;
	if (moved)
		r = emit_changes(b, &now, &was);
	if (r >= 0)
		r = bus_process(b);
	if (r < 0) {
		log_warning_errno(r, "D-Bus connection lost, retrying every %d s: %m",
				  BUS_RECONNECT_TICKS);
		loop_remove_watch(b->watch);
		bus_drop(b);
		return 0;
	}
	/* A signal that did not fit in the socket needs POLLOUT to go out. */
	if (b->watch && (uint32_t)r != prev)
		loop_watch_set_events(b->watch, (uint32_t)r);
	return 0;
}

static int bus_connect(struct bus *b)
{
	const char *address = b->d->cfg.dbus_address;
	sd_bus *bus = NULL;
	int r;

	if (!*address)
		address = getenv(AC_BUS_ADDRESS_ENV);
	if (address && *address) {
		r = sd_bus_new(&bus);
		if (r < 0)
			goto fail;
		r = sd_bus_set_address(bus, address);
		if (r < 0)
			goto fail;
		r = sd_bus_set_bus_client(bus, 1);
		if (r < 0)
			goto fail;
		r = sd_bus_set_description(bus, "asymcached");
		if (r < 0)
			goto fail;
		r = sd_bus_start(bus);
	} else {
		r = sd_bus_open_system_with_description(&bus, "asymcached");
	}
	if (r < 0)
		goto fail;
	r = sd_bus_add_object_vtable(bus, NULL, AC_BUS_PATH, AC_BUS_INTERFACE,
				     daemon_vtable, b->d);
	for (uint32_t i = 0; r >= 0 && i < b->d->npools; i++) {
		char path[64];

		pool_path(i, path, sizeof(path));
		r = sd_bus_add_object_vtable(bus, NULL, path, AC_BUS_POOL_INTERFACE,
					     pool_vtable, &b->d->pools[i]);
	}
	if (r < 0)
		goto fail;
	r = sd_bus_request_name(bus, AC_BUS_NAME, 0);
	if (r < 0)
		goto fail;
	b->bus = bus;
	r = sd_bus_get_events(bus);
	b->watch_events = r > 0 ? (uint32_t)r : POLLIN;
	r = loop_add_watch(b->d, sd_bus_get_fd(bus), b->watch_events, on_bus_ready, b,
			   &b->watch);
	if (r < 0) {
		b->bus = NULL;
		goto fail;
	}
	seen_read(b->d, &b->seen);
	log_info("D-Bus: %s on %s", AC_BUS_NAME,
		 address && *address ? address : "the system bus");
	return 0;
fail:
	sd_bus_flush_close_unref(bus);
	return r;
}

int bus_open(struct daemon *d, struct bus **ret_bus)
{
	struct bus *b;
	int r;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->d = d;
	bus_started_ns = now_ns();
	r = bus_connect(b);
	if (r < 0)
		log_warning_errno(r, "D-Bus admin interface not available yet, retrying every %d s: %m",
				  BUS_RECONNECT_TICKS);
	r = loop_add_timer(d, BUS_TICK_NS, on_bus_tick, b, &b->timer);
	if (r < 0)
		goto out_close;
	*ret_bus = b;
	return 0;
out_close:
	loop_remove_watch(b->watch);
	sd_bus_flush_close_unref(b->bus);
	free(b);
	return r;
}

struct bus *bus_close(struct bus *b)
{
	if (!b)
		return NULL;
	if (b->timer)
		loop_remove_timer(b->timer);
	if (b->watch)
		loop_remove_watch(b->watch);
	if (b->bus)
		sd_bus_release_name(b->bus, AC_BUS_NAME);
	sd_bus_flush_close_unref(b->bus);
	free(b);
	return NULL;
}
