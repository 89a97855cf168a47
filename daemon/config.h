/* SPDX-License-Identifier: MIT */
/*
 * asymcached configuration: compiled-in defaults, then the INI file, then
 * command-line flags, each value checked by the same setter so a flag and
 * a file line are held to the same ranges. docs/daemon.md is the reference.
 */
#ifndef AC_DAEMON_CONFIG_H
#define AC_DAEMON_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cost_model.h"

#define CFG_DEFAULT_SOCKET	"/run/asymcache/asymcached.sock"
#define CFG_DEFAULT_GROUP	"asymcache"
#define CFG_ERR_MAX		512
#define CFG_MAX_KEYS		32
/* Installed calibration the daemon prefers over the built-in model. */
#define CFG_DEFAULT_COST_FILE	AC_DATADIR "/asymcache/costs/h200-llama-3-8b-measured.json"
#define CFG_WHERE_MAX		96

enum cfg_backend {
	CFG_BACKEND_AUTO,
	CFG_BACKEND_HOST,
	CFG_BACKEND_CUDA,
};

/*
 * A quota on blocks held: a count of blocks, or CFG_QUOTA_PCT | P for P%
 * (1..100) of the pool, resolved by cfg_quota_blocks() once the pool's
 * size is known.
 */
#define CFG_QUOTA_PCT	0x80000000u

/*
 * Tenant pools: [pool.1] .. [pool.7], each its own memory, cache and
 * namespaces, attached only by root, the daemon's user and members of its
 * group. Pool 0 is [pool]; backend and gpu are [pool]'s for all.
 */
#define CFG_MAX_POOLS	8

struct cfg_tenant {
	bool set;			/* the section appeared */
	uint64_t bytes;
	uint64_t block_bytes;
	char group[64];
	unsigned seen;			/* keys set, for "set twice" */
	char where[CFG_WHERE_MAX];	/* its first line, for messages */
};

struct daemon_limits {
	uint32_t max_packet;
	uint32_t max_keys_per_lookup;
	uint32_t max_pins_per_session;
	uint32_t max_writing_per_session;
	uint32_t max_sessions;
	uint32_t max_sessions_per_uid;
	uint32_t hello_timeout_ms;
	uint32_t namespace_idle_ms;	/* 0: never collected */
	/* Blocks held (WRITING + pinned by it), per session and per uid. */
	uint32_t max_blocks_per_session;	/* a quota: CFG_QUOTA_PCT */
	uint32_t max_blocks_per_uid;		/* a quota: CFG_QUOTA_PCT */
	uint32_t max_retained_blocks_per_session;
	uint32_t max_retain_ttl_ms;
	uint32_t retain_budget_percent;	/* of the pool, pinned retentions */
	uint32_t max_schedule_segments;
	uint32_t max_schedule_decode;
};

enum cfg_sched_mode {
	CFG_SCHED_ADAPTIVE,
	CFG_SCHED_FIXED,
};

struct daemon_scheduler {
	int mode;			/* enum cfg_sched_mode */
	int order;			/* enum ac_chunk_order; -1: the mode's */
	uint32_t tpot_target_us;
	uint32_t fixed_budget_tokens;
};

struct daemon_config {
	char config_path[PATH_MAX];
	bool foreground;

	/* [daemon] */
	char socket_path[108];		/* sizeof(sun_path) */
	uint32_t socket_mode;
	uint32_t socket_dir_mode;	/* when the daemon makes the folder */
	int log_level;
	char dbus_address[512];

	/* [metrics] */
	char metrics_listen[64];	/* "": no HTTP endpoint */

	/* [pool] */
	int backend;			/* enum cfg_backend */
	int gpu;
	uint64_t pool_bytes;
	uint64_t block_bytes;
	char group[64];
	bool group_is_default;		/* not named by file or flag */
	/* [pool.N]: tenant[N - 1]; pools 1..npools-1 are set, in order. */
	struct cfg_tenant tenant[CFG_MAX_POOLS - 1];
	uint32_t npools;		/* 1 + tenant pools, after cfg_finish */

	/* [policy] */
	char policy[32];		/* resolved: never empty after cfg_finish */
	char cost_file[PATH_MAX];	/* empty: installed default or built-in */
	/*
	 * Loaded by cfg_finish, so a bad file fails start-up or a reload
	 * before anything is applied. cost_from names what was loaded.
	 */
	struct ac_cost_model cost;
	char cost_from[PATH_MAX];

	/* [scheduler] */
	struct daemon_scheduler sched;

	/* [limits] */
	struct daemon_limits limits;

	/* Where each key got its value ("FILE:LINE", "--flag", "default"). */
	char origin[CFG_MAX_KEYS][CFG_WHERE_MAX];
};

/* What the command line asked for besides settings. */
enum cfg_action {
	CFG_ACTION_RUN,
	CFG_ACTION_HELP,
	CFG_ACTION_VERSION,
	/* Set with a negative return: the command line itself is wrong. */
	CFG_ACTION_USAGE,
};

void cfg_defaults(struct daemon_config *cfg);

/*
 * Sets one key, as the INI file would. @where names the origin for error
 * messages ("FILE:LINE" or "--flag"). On error writes
 * "WHERE: [section] key: why" to @err and returns -EINVAL (-ENOENT for an
 * unknown key).
 */
int cfg_set(struct daemon_config *cfg, const char *section, const char *key,
	    const char *value, const char *where, char *err, size_t errlen);

/*
 * Parses @path into @cfg. A missing file is -ENOENT (the caller decides
 * whether the default path may be absent); any bad line is -EINVAL with
 * "FILE:LINE: [section] key: why" in @err.
 */
int cfg_load_file(struct daemon_config *cfg, const char *path, char *err,
		  size_t errlen);

/*
 * The whole start-up sequence: defaults, file (-c or the default path),
 * flags, cross-checks. Returns 0 and sets *ret_action, or -errno with the
 * message in @err; *ret_action is CFG_ACTION_USAGE when the command line
 * itself is wrong (an unknown option, a missing argument, a stray word),
 * which asymcached reports with a hint at --help and exit status 2.
 * getopt state is reset, so it may be called repeatedly.
 */
int cfg_from_cmdline(struct daemon_config *cfg, int argc, char **argv,
		     enum cfg_action *ret_action, char *err, size_t errlen);

/* Checks that span keys (block_bytes <= bytes, ...) and resolves defaults. */
int cfg_finish(struct daemon_config *cfg, char *err, size_t errlen);

/* Size with optional K/M/G/T suffix (binary multiples, optional "B"/"iB"). */
int cfg_parse_size(const char *s, uint64_t *ret);

/* Quota @q (see CFG_QUOTA_PCT) in blocks of a pool of @nblocks; >= 1. */
uint32_t cfg_quota_blocks(uint32_t q, uint32_t nblocks);

const char *cfg_backend_to_string(int backend);
void cfg_print_help(const char *prog);

#endif /* AC_DAEMON_CONFIG_H */
