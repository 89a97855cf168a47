/* SPDX-License-Identifier: MIT */
/*
 * asymcachectl internals: the command table, the bus helpers every command
 * shares, and the formatting helpers for tables and units.
 *
 * Commands return an exit status from enum ctl_exit, never -errno: the
 * status is the tool's contract with scripts (documented in asymcachectl(1)).
 */
#ifndef AC_CTL_H
#define AC_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-bus.h>
#include <json-c/json.h>

#define AC_BUS_NAMES_ONLY
#include "bus.h"

enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILURE = 1,		/* anything not listed below */
	CTL_EXIT_USAGE = 2,		/* bad command line */
	CTL_EXIT_UNREACHABLE = 3,	/* no bus, or the daemon is not on it */
	CTL_EXIT_DENIED = 4,		/* caller may not do this */
	CTL_EXIT_NOT_FOUND = 5,		/* no such namespace or policy */
	CTL_EXIT_NEEDS_RESTART = 6,	/* reload: a changed value needs a restart */
	CTL_EXIT_BAD_CONFIG = 7,	/* reload: the config file is invalid */
};

struct ctl {
	sd_bus *bus;
	const char *address;	/* --address or $AC_DBUS_ADDRESS; NULL: system bus */
	bool json;
};

struct ctl_cmd {
	const char *name;
	int (*run)(struct ctl *c, int argc, char **argv);
	const char *args;
	const char *summary;
	/*
	 * With usage set, the command's only options are --help and --json:
	 * the dispatcher parses those and checks for min_args to max_args
	 * operands, which the command finds from argv[optind]. Without, the
	 * command parses its own options.
	 */
	int min_args, max_args;
	const char *usage;
};

int cmd_status(struct ctl *c, int argc, char **argv);
int cmd_stats(struct ctl *c, int argc, char **argv);
int cmd_sessions(struct ctl *c, int argc, char **argv);
int cmd_namespaces(struct ctl *c, int argc, char **argv);
int cmd_policy(struct ctl *c, int argc, char **argv);
int cmd_flush(struct ctl *c, int argc, char **argv);
int cmd_unregister(struct ctl *c, int argc, char **argv);
int cmd_evict(struct ctl *c, int argc, char **argv);
int cmd_reload(struct ctl *c, int argc, char **argv);
int cmd_top(struct ctl *c, int argc, char **argv);

/* What the daemon's properties say at one moment. */
struct ctl_pool {
	uint32_t id;
	char *backend;
	int32_t device;
	uint64_t bytes;
	uint32_t block_bytes;
	uint32_t nblocks;
};

struct ctl_snapshot {
	char *version;
	char *policy;
	char *cost_file;	/* "" built-in model; NULL: daemon predates it */
	char *scheduler_mode;	/* NULL: daemon predates it */
	char **policies;	/* NULL-terminated */
	struct ctl_pool *pools;
	size_t npools;
	uint64_t uptime_usec;
	uint32_t nblocks;
	uint32_t free_blocks;
	uint32_t writing_blocks;
	uint32_t cached_blocks;
	uint32_t pinned_blocks;
	uint32_t retained_blocks;	/* held by TTL retentions (also pinned) */
	uint32_t sessions;
	uint32_t namespaces;
	uint64_t lookups;
	uint64_t lookup_keys;
	uint64_t lookup_hits;
	uint64_t evictions;
	uint64_t flushed;
	uint64_t commits;
	uint64_t dedups;
	uint64_t recomputed_tokens;
	double hit_rate;	/* since start */
	/* TTL retention; all 0 from a daemon that predates them. */
	uint32_t retain_budget_blocks;	/* pinned retentions' ceiling */
	uint32_t retained_soft_blocks;	/* soft: hints to the policy */
	uint64_t retain_resumed;	/* ended by Resume in time */
	uint64_t retain_expired_unused;	/* ended by their TTL */
	uint64_t retain_dropped;	/* gave way to an Alloc */
	uint64_t retain_declined;	/* not worth the space */
	uint64_t retain_hold_ms;	/* time held, summed */
	/* Tokens looked up and found in the last 300 s, as /metrics. */
	uint64_t window_query_tokens;
	uint64_t window_hit_tokens;
	uint64_t taken_usec;	/* CLOCK_MONOTONIC when read, for rates */
};

struct ctl_session {
	uint64_t id;
	uint32_t pid;
	uint32_t uid;
	char *name;
	uint32_t pins;
	uint32_t writing;
	uint32_t retained;
};

struct ctl_namespace {
	uint32_t id;
	char *model;
	uint32_t layers;
	uint32_t kv_heads;
	uint32_t head_dim;
	char *dtype;
	uint32_t block_tokens;
	uint64_t bytes_per_block;
	uint32_t cached;
	uint32_t pinned;
	char *cost_file;	/* "" for the built-in model */
	char *cost_mismatch;	/* "" when the model fits this namespace */
	uint64_t evictions;	/* blocks the policy evicted */
	uint64_t window_queries;	/* tokens looked up in the last 300 s */
	uint64_t window_hits;	/* ... and found */
};

/* Connects unless connected; on failure prints why and returns the status. */
int ctl_connect(struct ctl *c);
/* Prints "asymcachectl: Failed to WHAT: reason" and maps to a status. */
int ctl_fail(const sd_bus_error *e, int r, const char *what);
int ctl_call(struct ctl *c, const char *method, sd_bus_message **ret_reply,
	     const char *what, const char *types, ...);
/* The same on another object (a pool's: AC_BUS_POOL_PATH "/N"). */
int ctl_call_at(struct ctl *c, const char *path, const char *iface,
		const char *method, sd_bus_message **ret_reply,
		const char *what, const char *types, ...);

int ctl_snapshot_fetch(struct ctl *c, struct ctl_snapshot *s);
/*
 * Pool @pool's members (blocks, counters, retention) from its Pool1
 * object, read over what @s holds: the daemon's snapshot for one pool's
 * view (version, sessions, uptime and the 300 s window stay the daemon's),
 * or a zeroed one for the pool's members alone. @s is left to the caller.
 */
int ctl_pool_read(struct ctl *c, uint32_t pool, struct ctl_snapshot *s);
void ctl_snapshot_clear(struct ctl_snapshot *s);
int ctl_sessions_fetch(struct ctl *c, struct ctl_session **ret, size_t *ret_n);
void ctl_sessions_free(struct ctl_session *s, size_t n);
int ctl_namespaces_fetch(struct ctl *c, struct ctl_namespace **ret,
			 size_t *ret_n);
void ctl_namespaces_free(struct ctl_namespace *ns, size_t n);

json_object *ctl_snapshot_json(const struct ctl_snapshot *s);
json_object *ctl_sessions_json(const struct ctl_session *s, size_t n);
json_object *ctl_namespaces_json(const struct ctl_namespace *ns, size_t n);
void ctl_print_json(json_object *o);
/* Human renderings shared by status/sessions/top. */
void ctl_print_sessions(const struct ctl_session *s, size_t n, FILE *f);
void ctl_print_pools(const struct ctl_snapshot *s, FILE *f);

/*
 * A wrong command line: "asymcachectl: WHY" and a pointer to the
 * command's --help (the whole help would bury the reason) on stderr.
 * Returns CTL_EXIT_USAGE. @cmd NULL: the global options.
 */
int ctl_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
struct option;
/*
 * What getopt_long refused (it returned @o, '?' or ':'; the optstring
 * starts with ':' and opterr is 0), said as ctl_usage_error() does.
 */
int ctl_bad_option(const char *cmd, const struct option *opts, char **argv, int o);
/* Prints the usage, to stdout for --help: returns the exit status. */
int ctl_help_or_usage(const char *cmd, const char *usage, bool help);

/* Units for people. Each writes into buf and returns it. */
#define CTL_FMT_MAX 32
char *fmt_bytes(char buf[static CTL_FMT_MAX], uint64_t bytes);
char *fmt_pct(char buf[static CTL_FMT_MAX], double num, double den);
char *fmt_duration(char buf[static CTL_FMT_MAX], uint64_t usec);
char *fmt_u64(char buf[static CTL_FMT_MAX], uint64_t v);
char *fmt_rate(char buf[static CTL_FMT_MAX], double per_sec);
const char *uid_name(uint32_t uid, char buf[static CTL_FMT_MAX]);

/* Aligned tables: columns whose header starts with '>' are right-aligned. */
struct table;
struct table *table_new(size_t ncols, ...);
int table_row(struct table *t, ...);
void table_print(const struct table *t, FILE *f);
struct table *table_free(struct table *t);

int parse_u32(const char *s, uint32_t *ret);
int parse_seconds(const char *s, uint64_t *ret_usec);

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)

#define _cleanup_msg_ _cleanup_(sd_bus_message_unrefp)
#define _cleanup_bus_error_ _cleanup_(sd_bus_error_free)

static inline void json_object_putp(json_object **o)
{
	json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_object_putp)

static inline void table_freep(struct table **t)
{
	table_free(*t);
}
#define _cleanup_table_ _cleanup_(table_freep)

#endif /* AC_CTL_H */
