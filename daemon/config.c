/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ac_config.h"
#include "chunk.h"
#include "config.h"
#include "log.h"
#include "metrics_http.h"
#include "policy.h"
#include "retain.h"

#define GIB (1024ULL * 1024 * 1024)

enum cfg_type {
	CFG_STR,
	CFG_SIZE,
	CFG_U32,
	CFG_INT,
	CFG_MODE,
	CFG_LOGLEVEL,
	CFG_BACKEND,
	CFG_GROUP,
	CFG_POLICY,
	CFG_PATH,
	CFG_SCHED_MODE,
	CFG_SCHED_ORDER,
	CFG_QUOTA,
};

struct cfg_key {
	const char *section;
	const char *key;
	enum cfg_type type;
	size_t offset;
	size_t size;		/* strings: buffer size; numbers: field size */
	uint64_t min;
	uint64_t max;
	uint64_t align;		/* sizes: required multiple, 0 for none */
};

#define F(field) offsetof(struct daemon_config, field), \
	sizeof(((struct daemon_config *)0)->field)

/*
 * One table drives parsing, range checks and the error messages, so a key
 * documented in docs/daemon.md exists exactly once here.
 */
static const struct cfg_key cfg_keys[] = {
	{ "daemon", "socket", CFG_PATH, F(socket_path), 2, 107, 0 },
	{ "daemon", "socket_mode", CFG_MODE, F(socket_mode), 0, 0777, 0 },
	{ "daemon", "socket_dir_mode", CFG_MODE, F(socket_dir_mode), 0, 0777, 0 },
	{ "daemon", "log_level", CFG_LOGLEVEL, F(log_level), 0, 7, 0 },
	{ "daemon", "dbus_address", CFG_STR, F(dbus_address), 0, 511, 0 },
	{ "metrics", "listen", CFG_STR, F(metrics_listen), 0, 63, 0 },
	{ "pool", "backend", CFG_BACKEND, F(backend), 0, 2, 0 },
	{ "pool", "gpu", CFG_INT, F(gpu), 0, 1023, 0 },
	{ "pool", "bytes", CFG_SIZE, F(pool_bytes), 256, 1ULL << 40, 0 },
	{ "pool", "block_bytes", CFG_SIZE, F(block_bytes), 256, GIB, 256 },
	{ "pool", "group", CFG_GROUP, F(group), 0, 63, 0 },
	{ "policy", "name", CFG_POLICY, F(policy), 1, 31, 0 },
	/* Empty is the default (the installed model), as the man page says. */
	{ "policy", "cost_file", CFG_PATH, F(cost_file), 0, PATH_MAX - 1, 0 },
	{ "limits", "max_packet", CFG_SIZE, F(limits.max_packet),
	  1024, 64ULL << 20, 0 },
	{ "limits", "max_keys_per_lookup", CFG_U32,
	  F(limits.max_keys_per_lookup), 1, 1U << 20, 0 },
	{ "limits", "max_pins_per_session", CFG_U32,
	  F(limits.max_pins_per_session), 1, (1U << 31) - 1, 0 },
	{ "limits", "max_writing_per_session", CFG_U32,
	  F(limits.max_writing_per_session), 1, (1U << 31) - 1, 0 },
	{ "limits", "max_sessions", CFG_U32, F(limits.max_sessions), 1,
	  65536, 0 },
	{ "limits", "max_sessions_per_uid", CFG_U32,
	  F(limits.max_sessions_per_uid), 1, 65536, 0 },
	{ "limits", "hello_timeout_ms", CFG_U32, F(limits.hello_timeout_ms),
	  10, 600000, 0 },
	{ "limits", "namespace_idle_ms", CFG_U32,
	  F(limits.namespace_idle_ms), 0, 604800000, 0 },
	{ "limits", "max_blocks_per_session", CFG_QUOTA,
	  F(limits.max_blocks_per_session), 1, (1U << 31) - 1, 0 },
	{ "limits", "max_blocks_per_uid", CFG_QUOTA,
	  F(limits.max_blocks_per_uid), 1, (1U << 31) - 1, 0 },
	{ "limits", "max_retained_blocks_per_session", CFG_U32,
	  F(limits.max_retained_blocks_per_session), 0, (1U << 31) - 1, 0 },
	{ "limits", "max_retain_ttl_ms", CFG_U32, F(limits.max_retain_ttl_ms),
	  1, 86400000, 0 },
	{ "limits", "retain_budget_percent", CFG_U32,
	  F(limits.retain_budget_percent), 0, 100, 0 },
	{ "limits", "max_schedule_segments", CFG_U32,
	  F(limits.max_schedule_segments), 1, 65536, 0 },
	{ "limits", "max_schedule_decode", CFG_U32,
	  F(limits.max_schedule_decode), 0, 1U << 20, 0 },
	{ "scheduler", "mode", CFG_SCHED_MODE, F(sched.mode), 0, 1, 0 },
	{ "scheduler", "order", CFG_SCHED_ORDER, F(sched.order), 0, 0, 0 },
	{ "scheduler", "tpot_target_us", CFG_U32, F(sched.tpot_target_us),
	  1000, 10000000, 0 },
	{ "scheduler", "fixed_budget_tokens", CFG_U32,
	  F(sched.fixed_budget_tokens), 1, 1U << 20, 0 },
};

#define NKEYS (sizeof(cfg_keys) / sizeof(cfg_keys[0]))
_Static_assert(NKEYS <= CFG_MAX_KEYS, "raise CFG_MAX_KEYS");

static int key_index(const char *section, const char *key)
{
	unsigned int i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(cfg_keys[i].section, section) == 0 &&
		    strcmp(cfg_keys[i].key, key) == 0)
			return (int)i;
	return -1;
}

static int fail(char *err, size_t errlen, int r, const char *where,
		const char *section, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

static int fail(char *err, size_t errlen, int r, const char *where,
		const char *section, const char *key, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || !errlen)
		return r;
	n = snprintf(err, errlen, "%s: [%s] %s: ", where, section, key);
	if (n < 0 || (size_t)n >= errlen)
		return r;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - n, fmt, ap);
	va_end(ap);
	return r;
}

void cfg_defaults(struct daemon_config *cfg)
{
	unsigned int i;

	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->config_path, sizeof(cfg->config_path),
		 "%s/asymcache/asymcached.conf", AC_SYSCONFDIR);
	snprintf(cfg->socket_path, sizeof(cfg->socket_path), "%s",
		 CFG_DEFAULT_SOCKET);
	cfg->socket_mode = 0660;
	cfg->socket_dir_mode = 0755;	/* as packaging/tmpfiles.conf */
	cfg->log_level = LOG_INFO;
	cfg->backend = CFG_BACKEND_AUTO;
	cfg->gpu = 0;
	cfg->pool_bytes = GIB;
	cfg->block_bytes = 2ULL << 20;
	snprintf(cfg->group, sizeof(cfg->group), "%s", CFG_DEFAULT_GROUP);
	cfg->group_is_default = true;
	cfg->limits.max_packet = 1U << 20;
	cfg->limits.max_keys_per_lookup = 8192;
	cfg->limits.max_pins_per_session = 1U << 20;
	cfg->limits.max_writing_per_session = 65536;
	cfg->limits.max_sessions = 1024;
	/* A quarter: one user's processes cannot hold every slot. */
	cfg->limits.max_sessions_per_uid = 256;
	cfg->limits.hello_timeout_ms = 5000;
	/*
	 * Ten minutes: a restarting engine finds its cache, and a table of
	 * 255 does not fill with layouts nobody runs any more.
	 */
	cfg->limits.namespace_idle_ms = 600000;
	/*
	 * Shares of the pool, so they hold for any pool size: one session
	 * cannot hold more than half of the pool pinned or WRITING, one user
	 * (all its sessions) not more than three quarters, so another user
	 * always finds a quarter it can be given.
	 */
	cfg->limits.max_blocks_per_session = CFG_QUOTA_PCT | 50;
	cfg->limits.max_blocks_per_uid = CFG_QUOTA_PCT | 75;
	cfg->limits.max_retained_blocks_per_session = 65536;
	cfg->limits.max_retain_ttl_ms = 600000;
	cfg->limits.retain_budget_percent = AC_RETAIN_BUDGET_PERCENT;
	cfg->limits.max_schedule_segments = 1024;
	cfg->limits.max_schedule_decode = 4096;
	cfg->sched.mode = CFG_SCHED_ADAPTIVE;
	cfg->sched.order = -1;
	cfg->sched.tpot_target_us = AC_CHUNK_TPOT_TARGET_US;
	cfg->sched.fixed_budget_tokens = 2048;
	for (i = 0; i < NKEYS; i++)
		snprintf(cfg->origin[i], CFG_WHERE_MAX, "default");
}

uint32_t cfg_quota_blocks(uint32_t q, uint32_t nblocks)
{
	uint64_t b;

	if (!(q & CFG_QUOTA_PCT))
		return q;
	b = (uint64_t)nblocks * (q & ~CFG_QUOTA_PCT) / 100;
	return b ? (uint32_t)b : 1;
}

int cfg_parse_size(const char *s, uint64_t *ret)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	switch (toupper((unsigned char)*end)) {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	default: break;
	}
	if (shift && (strcasecmp(end, "iB") == 0 || strcasecmp(end, "B") == 0))
		end += strlen(end);
	else if (!shift && strcasecmp(end, "B") == 0)
		end++;
	if (*end)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*ret = (uint64_t)v << shift;
	return 0;
}

static int parse_u64(const char *s, int base, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno)
		return -ERANGE;
	if (*end)
		return -EINVAL;
	*ret = v;
	return 0;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if (!isprint((unsigned char)*s))
			return false;
	return true;
}

static int set_number(const struct cfg_key *k, void *field, uint64_t v,
		      const char *value, const char *where, char *err,
		      size_t errlen)
{
	if (v < k->min || v > k->max)
		return fail(err, errlen, -EINVAL, where, k->section, k->key,
			    "%s is out of range [%llu, %llu]", value,
			    (unsigned long long)k->min,
			    (unsigned long long)k->max);
	if (k->align && v % k->align)
		return fail(err, errlen, -EINVAL, where, k->section, k->key,
			    "%s is not a multiple of %llu", value,
			    (unsigned long long)k->align);
	if (k->size == sizeof(uint64_t))
		*(uint64_t *)field = v;
	else if (k->size == sizeof(uint32_t))
		*(uint32_t *)field = (uint32_t)v;
	else
		return -EINVAL;
	return 0;
}

/* N of a "pool.N" section (1..CFG_MAX_POOLS-1), or 0. */
static unsigned tenant_section(const char *name, size_t len)
{
	if (len == 6 && strncmp(name, "pool.", 5) == 0 && name[5] >= '1' &&
	    name[5] < '0' + CFG_MAX_POOLS)
		return (unsigned)(name[5] - '0');
	return 0;
}

/*
 * A key of [pool.N]: bytes, block_bytes and group as [pool] checks them,
 * into cfg->tenant[N - 1].
 */
static int tenant_set(struct daemon_config *cfg, unsigned n,
		      const char *section, const char *key, const char *value,
		      const char *where, char *err, size_t errlen)
{
	static const char *const keys[] = { "bytes", "block_bytes", "group" };
	struct cfg_tenant *t = &cfg->tenant[n - 1];
	struct cfg_tenant saved = *t;
	struct daemon_config *tmp;
	unsigned i;
	int r;

	for (i = 0; i < 3 && strcmp(keys[i], key); i++)
		;
	if (i == 3)
		return fail(err, errlen, -ENOENT, where, section, key,
			    "unknown key (a tenant pool takes bytes, block_bytes and group)");
	if (t->seen & (1u << i))
		return fail(err, errlen, -EINVAL, where, section, key,
			    "set twice");
	/* [pool]'s setter, on a scratch copy: one set of checks for both. */
	tmp = malloc(sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	cfg_defaults(tmp);
	r = cfg_set(tmp, "pool", key, value, where, err, errlen);
	if (r == 0) {
		/* The messages name the section the line is in. */
		if (i == 0)
			t->bytes = tmp->pool_bytes;
		else if (i == 1)
			t->block_bytes = tmp->block_bytes;
		else
			snprintf(t->group, sizeof(t->group), "%s", tmp->group);
		if (!t->set)
			snprintf(t->where, sizeof(t->where), "%s", where);
		t->set = true;
		t->seen |= 1u << i;
	} else {
		*t = saved;
		if (err && errlen) {
			char *p = strstr(err, "[pool]");

			/* "[pool] key:" becomes "[pool.N] key:". */
			if (p && strlen(err) + 2 < errlen) {
				memmove(p + 7, p + 5, strlen(p + 5) + 1);
				memcpy(p, "[pool.", 6);
				p[6] = (char)('0' + n);
			}
		}
	}
	free(tmp);
	return r;
}

int cfg_set(struct daemon_config *cfg, const char *section, const char *key,
	    const char *value, const char *where, char *err, size_t errlen)
{
	const struct cfg_key *k;
	void *field;
	uint64_t v;
	unsigned n;
	int i, r;

	n = tenant_section(section, strlen(section));
	if (n)
		return tenant_set(cfg, n, section, key, value, where, err,
				  errlen);
	i = key_index(section, key);
	if (i < 0)
		return fail(err, errlen, -ENOENT, where, section, key,
			    "unknown key");
	k = &cfg_keys[i];
	field = (char *)cfg + k->offset;

	switch (k->type) {
	case CFG_SIZE:
		r = cfg_parse_size(value, &v);
		if (r < 0)
			return fail(err, errlen, -EINVAL, where, section, key,
				    "'%s' is not a size (N, NK, NM, NG, NT)",
				    value);
		r = set_number(k, field, v, value, where, err, errlen);
		break;
	case CFG_U32:
	case CFG_INT:
		r = parse_u64(value, 10, &v);
		if (r < 0)
			return fail(err, errlen, -EINVAL, where, section, key,
				    "'%s' is not a non-negative integer",
				    value);
		if (k->type == CFG_INT) {
			if (v < k->min || v > k->max)
				return fail(err, errlen, -EINVAL, where,
					    section, key,
					    "%s is out of range [%llu, %llu]",
					    value, (unsigned long long)k->min,
					    (unsigned long long)k->max);
			*(int *)field = (int)v;
			r = 0;
		} else {
			r = set_number(k, field, v, value, where, err, errlen);
		}
		break;
	case CFG_MODE:
		r = parse_u64(value, 8, &v);
		if (r < 0)
			return fail(err, errlen, -EINVAL, where, section, key,
				    "'%s' is not an octal mode", value);
		r = set_number(k, field, v, value, where, err, errlen);
		break;
	case CFG_LOGLEVEL:
		r = log_level_from_string(value);
		if (r < 0)
			return fail(err, errlen, -EINVAL, where, section, key,
				    "'%s' is not a level (emerg, alert, crit, err, warning, notice, info, debug or 0-7)",
				    value);
		*(int *)field = r;
		r = 0;
		break;
	case CFG_BACKEND:
		if (strcmp(value, "auto") == 0)
			*(int *)field = CFG_BACKEND_AUTO;
		else if (strcmp(value, "host") == 0)
			*(int *)field = CFG_BACKEND_HOST;
		else if (strcmp(value, "cuda") == 0)
			*(int *)field = CFG_BACKEND_CUDA;
		else
			return fail(err, errlen, -EINVAL, where, section, key,
				    "'%s' is not one of auto, host, cuda",
				    value);
		r = 0;
		break;
	case CFG_POLICY:
		if (strlen(value) > k->max || !*value)
			return fail(err, errlen, -EINVAL, where, section, key,
				    "name must be 1..%llu bytes",
				    (unsigned long long)k->max);
		if (!ac_policy_find(value))
			return fail(err, errlen, -EINVAL, where, section, key,
				    "no policy named '%s'", value);
		snprintf(field, k->size, "%s", value);
		r = 0;
		break;
	case CFG_QUOTA: {
		size_t len = strlen(value);

		if (len > 1 && value[len - 1] == '%') {
			char num[16] = "";

			if (len - 1 < sizeof(num))
				memcpy(num, value, len - 1);
			if (parse_u64(num, 10, &v) < 0 || v < 1 || v > 100)
				return fail(err, errlen, -EINVAL, where, section,
					    key, "'%s' is not a share of the pool in 1%%..100%%",
					    value);
			*(uint32_t *)field = CFG_QUOTA_PCT | (uint32_t)v;
			r = 0;
			break;
		}
		if (parse_u64(value, 10, &v) < 0)
			return fail(err, errlen, -EINVAL, where, section, key,
				    "'%s' is neither a count of blocks nor a share like 50%%",
				    value);
		r = set_number(k, field, v, value, where, err, errlen);
		break;
	}
	case CFG_SCHED_MODE:
		if (strcmp(value, "adaptive") == 0)
			*(int *)field = CFG_SCHED_ADAPTIVE;
		else if (strcmp(value, "fixed") == 0)
			*(int *)field = CFG_SCHED_FIXED;
		else
			return fail(err, errlen, -EINVAL, where, section, key,
				    "'%s' is not one of adaptive, fixed",
				    value);
		r = 0;
		break;
	case CFG_SCHED_ORDER: {
		enum ac_chunk_order o;

		if (!*value) {
			*(int *)field = -1;
		} else if (ac_chunk_order_parse(value, &o) < 0) {
			return fail(err, errlen, -EINVAL, where, section, key,
				    "'%s' is not one of fcfs, srpt, hrrn, program (or empty: the mode's)",
				    value);
		} else {
			*(int *)field = (int)o;
		}
		r = 0;
		break;
	}
	case CFG_GROUP: {
		struct group gr, *res = NULL;
		char buf[4096];

		if (strlen(value) > k->max || !printable(value))
			return fail(err, errlen, -EINVAL, where, section, key,
				    "'%s' is not a group name", value);
		if (*value) {
			r = getgrnam_r(value, &gr, buf, sizeof(buf), &res);
			if (r || !res)
				return fail(err, errlen, -EINVAL, where,
					    section, key, "no group named '%s'",
					    value);
		}
		snprintf(field, k->size, "%s", value);
		cfg->group_is_default = false;
		r = 0;
		break;
	}
	case CFG_PATH:
		if (value[0] != '/' && (value[0] || k->min))
			return fail(err, errlen, -EINVAL, where, section, key,
				    "'%s' is not an absolute path", value);
		/* fallthrough */
	case CFG_STR:
		if (strlen(value) > k->max || strlen(value) < k->min)
			return fail(err, errlen, -EINVAL, where, section, key,
				    "must be %llu..%llu bytes long",
				    (unsigned long long)k->min,
				    (unsigned long long)k->max);
		if (!printable(value))
			return fail(err, errlen, -EINVAL, where, section, key,
				    "contains unprintable characters");
		snprintf(field, k->size, "%s", value);
		r = 0;
		break;
	default:
		r = -EINVAL;
	}
	if (r == 0)
		snprintf(cfg->origin[i], CFG_WHERE_MAX, "%s", where);
	return r;
}

struct ini_ctx {
	struct daemon_config *cfg;
	const char *path;
	char *err;
	size_t errlen;
	int r;
	int lineno;
	FILE *f;
	bool seen[NKEYS];
};

/*
 * Messages quote what the file said; a binary file's control bytes must
 * not reach a terminal or the journal raw. Rewrites @s (a NUL-ended
 * message in a buffer of @cap) with every byte outside 0x20..0x7e as \xNN,
 * cut to fit.
 */
static void escape_message(char *s, size_t cap)
{
	char out[CFG_ERR_MAX];
	size_t i, o = 0;

	for (i = 0; s[i] && o + 5 < sizeof(out); i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x20 && ch < 0x7f)
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, sizeof(out) - o,
					      "\\x%02x", ch);
	}
	out[o] = '\0';
	snprintf(s, cap, "%s", out);
}

/*
 * Debian's libinih is built without INI_HANDLER_LINENO; inih reads one line
 * per reader call and hands it to the handler before reading on, so
 * counting reader calls gives the line of every key.
 */
/* A section is known when the key table has a key in it. */
static bool known_section(const char *name, size_t len)
{
	unsigned int i;

	if (tenant_section(name, len))
		return true;
	for (i = 0; i < sizeof(cfg_keys) / sizeof(cfg_keys[0]); i++)
		if (strlen(cfg_keys[i].section) == len &&
		    strncmp(cfg_keys[i].section, name, len) == 0)
			return true;
	return false;
}

static char *cfg_ini_reader(char *str, int num, void *stream)
{
	struct ini_ctx *ctx = stream;
	const char *p, *end;
	long before;
	char *r;

	before = ftell(ctx->f);
	r = fgets(str, num, ctx->f);
	if (!r)
		return r;
	ctx->lineno++;
	/*
	 * fgets() stops at no NUL, so a line holding one is longer than its
	 * string: its value would be cut short in silence.
	 */
	if (before >= 0 && ftell(ctx->f) - before != (long)strlen(str) &&
	    ctx->r == 0) {
		snprintf(ctx->err, ctx->errlen, "%s:%d: a NUL byte in the line",
			 ctx->path, ctx->lineno);
		ctx->r = -EINVAL;
	}
	/*
	 * inih reports no section header to the handler, so an unknown
	 * section without keys would pass unnoticed: check headers here.
	 */
	for (p = str; *p == ' ' || *p == '\t'; p++)
		;
	if (*p == '[' && ctx->r == 0) {
		end = strchr(p, ']');
		if (end && !known_section(p + 1, (size_t)(end - p - 1))) {
			snprintf(ctx->err, ctx->errlen,
				 "%s:%d: [%.*s]: unknown section", ctx->path,
				 ctx->lineno, (int)(end - p - 1), p + 1);
			ctx->r = -EINVAL;
		}
	}
	return r;
}

static int cfg_ini_handler(void *user, const char *section, const char *name,
			   const char *value)
{
	struct ini_ctx *ctx = user;
	int lineno = ctx->lineno;
	char where[CFG_WHERE_MAX];
	int i, r;

	/* Report the first problem only: later ones may be its echo. */
	if (ctx->r < 0)
		return 0;
	snprintf(where, sizeof(where), "%s:%d", ctx->path, lineno);
	if (tenant_section(section, strlen(section))) {
		r = cfg_set(ctx->cfg, section, name, value, where, ctx->err,
			    ctx->errlen);
		if (r < 0)
			ctx->r = r == -ENOENT ? -EINVAL : r;
		return r < 0 ? 0 : 1;
	}
	i = key_index(section, name);
	if (i >= 0 && ctx->seen[i]) {
		ctx->r = fail(ctx->err, ctx->errlen, -EINVAL, where, section,
			      name, "set twice (first at %s)",
			      ctx->cfg->origin[i]);
		return 0;
	}
	r = cfg_set(ctx->cfg, section, name, value, where, ctx->err,
		    ctx->errlen);
	if (r < 0) {
		ctx->r = r == -ENOENT ? -EINVAL : r;
		return 0;
	}
	ctx->seen[i] = true;
	return 1;
}

/* What @st is when it cannot be a config file, or NULL when it can. */
static const char *cfg_file_kind(const struct stat *st)
{
	if (S_ISREG(st->st_mode))
		return NULL;
	if (S_ISCHR(st->st_mode))
		return st->st_rdev == makedev(1, 3) ? NULL : "character device";
	if (S_ISBLK(st->st_mode))
		return "block device";
	if (S_ISFIFO(st->st_mode))
		return "FIFO";
	if (S_ISSOCK(st->st_mode))
		return "socket";
	return "special file";
}

int cfg_load_file(struct daemon_config *cfg, const char *path, char *err,
		  size_t errlen)
{
	struct ini_ctx ctx = {
		.cfg = cfg, .path = path, .err = err, .errlen = errlen,
	};
	const char *kind;
	struct stat st;
	FILE *f;
	int fd, r;

	/* Not blocking: opening a FIFO waits for a writer that may never come. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		snprintf(err, errlen, "%s: cannot open: %s", path,
			 strerror(-r));
		return r;
	}
	/* A folder opens and reads as empty: every key would keep its default. */
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%s: is a directory, not a configuration file",
			 path);
		return -EISDIR;
	}
	/*
	 * Nor anything but a regular file or /dev/null (no config): /dev/zero
	 * or /dev/urandom read as one endless line or endless garbage and the
	 * daemon never started (or, on a reload, stopped serving), a FIFO
	 * blocked it.
	 */
	kind = cfg_file_kind(&st);
	if (kind) {
		close(fd);
		snprintf(err, errlen, "%s: is a %s, not a configuration file (a regular file, or /dev/null for none)",
			 path, kind);
		return -EINVAL;
	}
	f = fdopen(fd, "re");
	if (!f) {
		r = -errno;
		close(fd);
		snprintf(err, errlen, "%s: cannot open: %s", path,
			 strerror(-r));
		return r;
	}
	ctx.f = f;
	r = ini_parse_stream(cfg_ini_reader, &ctx, cfg_ini_handler, &ctx);
	fclose(f);
	if (ctx.r < 0) {
		escape_message(err, errlen);
		return ctx.r;
	}
	if (r > 0) {
		snprintf(err, errlen,
			 "%s:%d: syntax error (expected [section] or key = value)",
			 path, r);
		return -EINVAL;
	}
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot read", path);
		return -EIO;
	}
	snprintf(cfg->config_path, sizeof(cfg->config_path), "%s", path);
	return 0;
}

const char *cfg_backend_to_string(int backend)
{
	switch (backend) {
	case CFG_BACKEND_AUTO: return "auto";
	case CFG_BACKEND_HOST: return "host";
	case CFG_BACKEND_CUDA: return "cuda";
	default: return "?";
	}
}

/*
 * A named cost file must load; the installed calibration is used when it
 * exists (a broken install is an error too, not a silent fallback), and
 * only without either does the built-in derived model apply. The model is
 * loaded into a copy first so a bad file leaves cfg->cost untouched.
 */
static int cfg_load_cost(struct daemon_config *cfg, char *err, size_t errlen)
{
	struct ac_cost_model m;
	const char *path = cfg->cost_file;
	int i = key_index("policy", "cost_file");
	int r;

	if (!path[0]) {
		if (access(CFG_DEFAULT_COST_FILE, F_OK) < 0) {
			ac_cost_model_default(&cfg->cost);
			snprintf(cfg->cost_from, sizeof(cfg->cost_from),
				 "built-in");
			return 0;
		}
		path = CFG_DEFAULT_COST_FILE;
	}
	r = ac_cost_model_load(path, &m);
	if (r < 0)
		return fail(err, errlen, -EINVAL, cfg->origin[i], "policy",
			    "cost_file", "cannot load '%s': %s", path,
			    r == -EINVAL ? "not a valid cost model (see docs/policy.md)" :
			    strerror(-r));
	cfg->cost = m;
	snprintf(cfg->cost_from, sizeof(cfg->cost_from), "%s", path);
	return 0;
}

int cfg_finish(struct daemon_config *cfg, char *err, size_t errlen)
{
	const struct daemon_limits *l = &cfg->limits;
	uint64_t nblocks, need;
	struct sockaddr_storage ss;
	const char *why;
	socklen_t len;
	int i;

	if (cfg->metrics_listen[0] &&
	    metrics_addr_parse(cfg->metrics_listen, &ss, &len, &why) < 0) {
		i = key_index("metrics", "listen");
		return fail(err, errlen, -EINVAL, cfg->origin[i], "metrics", "listen",
			    "'%s': %s", cfg->metrics_listen, why);
	}
	if (cfg->block_bytes > cfg->pool_bytes) {
		i = key_index("pool", "bytes");
		return fail(err, errlen, -EINVAL, cfg->origin[i], "pool",
			    "bytes", "%llu is smaller than block_bytes %llu",
			    (unsigned long long)cfg->pool_bytes,
			    (unsigned long long)cfg->block_bytes);
	}
	nblocks = cfg->pool_bytes / cfg->block_bytes;
	/* UINT32_MAX is AC_NO_BLOCK on the wire; stay well below it. */
	if (nblocks > (1ULL << 31) - 1) {
		i = key_index("pool", "block_bytes");
		return fail(err, errlen, -EINVAL, cfg->origin[i], "pool",
			    "block_bytes", "gives %llu blocks, more than 2^31-1",
			    (unsigned long long)nblocks);
	}
	cfg->npools = 1;
	for (unsigned n = 1; n < CFG_MAX_POOLS; n++) {
		struct cfg_tenant *t = &cfg->tenant[n - 1];
		char sec[8];

		if (!t->set)
			continue;
		snprintf(sec, sizeof(sec), "pool.%u", n);
		if (n != cfg->npools)
			return fail(err, errlen, -EINVAL, t->where, sec, "bytes",
				    "pools are numbered from 1 without a gap: [pool.%u] is missing",
				    cfg->npools);
		if (!t->bytes || !t->block_bytes || !t->group[0])
			return fail(err, errlen, -EINVAL, t->where, sec,
				    !t->bytes ? "bytes" : !t->block_bytes ?
				    "block_bytes" : "group",
				    "a tenant pool needs bytes, block_bytes and group");
		if (t->block_bytes > t->bytes ||
		    t->bytes / t->block_bytes > (1ULL << 31) - 1)
			return fail(err, errlen, -EINVAL, t->where, sec, "bytes",
				    "%llu is not 1 to 2^31-1 blocks of %llu",
				    (unsigned long long)t->bytes,
				    (unsigned long long)t->block_bytes);
		cfg->npools++;
	}
	/* A Lookup carries 16 bytes a key plus framing (64 bytes is ample). */
	need = 16ULL * l->max_keys_per_lookup + 64;
	if (need > l->max_packet) {
		i = key_index("limits", "max_keys_per_lookup");
		return fail(err, errlen, -EINVAL, cfg->origin[i], "limits",
			    "max_keys_per_lookup",
			    "%u keys need packets of %llu bytes, more than max_packet %u",
			    l->max_keys_per_lookup, (unsigned long long)need,
			    l->max_packet);
	}
	if (!cfg->policy[0])
		snprintf(cfg->policy, sizeof(cfg->policy), "%s",
			 ac_policy_find("asym") ? "asym" : "lru");
	if (!ac_policy_find(cfg->policy)) {
		i = key_index("policy", "name");
		return fail(err, errlen, -EINVAL, cfg->origin[i], "policy",
			    "name", "no policy named '%s'", cfg->policy);
	}
	return cfg_load_cost(cfg, err, errlen);
}

enum {
	OPT_SOCKET = 0x100,
	OPT_BACKEND,
	OPT_POOL_BYTES,
	OPT_BLOCK_BYTES,
	OPT_GROUP,
	OPT_POLICY,
	OPT_LOG_LEVEL,
	OPT_GPU,
	OPT_DBUS_ADDRESS,
	OPT_VERSION,
};

static const struct option cfg_options[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "backend", required_argument, NULL, OPT_BACKEND },
	{ "gpu", required_argument, NULL, OPT_GPU },
	{ "pool-bytes", required_argument, NULL, OPT_POOL_BYTES },
	{ "block-bytes", required_argument, NULL, OPT_BLOCK_BYTES },
	{ "group", required_argument, NULL, OPT_GROUP },
	{ "policy", required_argument, NULL, OPT_POLICY },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "dbus-address", required_argument, NULL, OPT_DBUS_ADDRESS },
	{ "foreground", no_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ 0 },
};

/* Flag -> the INI key it overrides; one setter checks both. */
static const struct {
	int opt;
	const char *section;
	const char *key;
	const char *flag;
} cfg_flag_keys[] = {
	{ OPT_SOCKET, "daemon", "socket", "--socket" },
	{ OPT_LOG_LEVEL, "daemon", "log_level", "--log-level" },
	{ OPT_DBUS_ADDRESS, "daemon", "dbus_address", "--dbus-address" },
	{ OPT_BACKEND, "pool", "backend", "--backend" },
	{ OPT_GPU, "pool", "gpu", "--gpu" },
	{ OPT_POOL_BYTES, "pool", "bytes", "--pool-bytes" },
	{ OPT_BLOCK_BYTES, "pool", "block_bytes", "--block-bytes" },
	{ OPT_GROUP, "pool", "group", "--group" },
	{ OPT_POLICY, "policy", "name", "--policy" },
};

void cfg_print_help(const char *prog)
{
	printf("%s [OPTIONS...]\n\n"
	       "AsymCache KV block pool daemon.\n\n"
	       "  -c --config=FILE        Configuration file (default %s/asymcache/asymcached.conf)\n"
	       "     --socket=PATH        Control socket path\n"
	       "     --backend=auto|host|cuda\n"
	       "                          Pool memory backend\n"
	       "     --gpu=N              CUDA device ordinal\n"
	       "     --pool-bytes=SIZE    Pool size (K, M, G, T suffixes)\n"
	       "     --block-bytes=SIZE   Block size\n"
	       "     --group=NAME         Group allowed to attach (\"\" for root only)\n"
	       "     --policy=NAME        Eviction policy\n"
	       "     --log-level=LEVEL    emerg..debug or 0-7\n"
	       "     --dbus-address=ADDR  Private D-Bus address instead of the system bus\n"
	       "  -f --foreground         Do not daemonize (the daemon never forks; accepted\n"
	       "                          for compatibility with supervisors that pass it)\n"
	       "  -h --help               Show this help\n"
	       "     --version            Show the version\n",
	       prog, AC_SYSCONFDIR);
}

int cfg_from_cmdline(struct daemon_config *cfg, int argc, char **argv,
		     enum cfg_action *ret_action, char *err, size_t errlen)
{
	const char *config_path = NULL;
	bool explicit_path = false;
	unsigned int j;
	int c, r;

	cfg_defaults(cfg);
	*ret_action = CFG_ACTION_RUN;

	/*
	 * Pass 1: find -c, --help and --version; flags apply after the file.
	 * The leading ':' makes getopt tell a missing argument (':') from an
	 * unknown option ('?').
	 */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:fh", cfg_options, NULL)) >= 0) {
		switch (c) {
		case 'c':
			config_path = optarg;
			explicit_path = true;
			break;
		case 'h':
			*ret_action = CFG_ACTION_HELP;
			return 0;
		case OPT_VERSION:
			*ret_action = CFG_ACTION_VERSION;
			return 0;
		case '?':
			*ret_action = CFG_ACTION_USAGE;
			if (optopt)
				snprintf(err, errlen, "unknown option -%c", optopt);
			else
				snprintf(err, errlen, "unknown option %s", argv[optind - 1]);
			return -EINVAL;
		case ':':
			*ret_action = CFG_ACTION_USAGE;
			snprintf(err, errlen, "option %s needs an argument",
				 argv[optind - 1]);
			return -EINVAL;
		default:
			break;
		}
	}
	if (optind < argc) {
		*ret_action = CFG_ACTION_USAGE;
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}

	if (!config_path)
		config_path = cfg->config_path;
	r = cfg_load_file(cfg, config_path, err, errlen);
	if (r == -ENOENT && !explicit_path) {
		/* No file at the default path: run on defaults and flags. */
		err[0] = '\0';
	} else if (r < 0) {
		return r;
	}

	optind = 0;
	while ((c = getopt_long(argc, argv, ":c:fh", cfg_options, NULL)) >= 0) {
		if (c == 'f') {
			cfg->foreground = true;
			continue;
		}
		for (j = 0; j < sizeof(cfg_flag_keys) / sizeof(cfg_flag_keys[0]);
		     j++) {
			if (cfg_flag_keys[j].opt != c)
				continue;
			r = cfg_set(cfg, cfg_flag_keys[j].section,
				    cfg_flag_keys[j].key, optarg,
				    cfg_flag_keys[j].flag, err, errlen);
			if (r < 0)
				return r;
		}
	}
	optind = 0;
	return cfg_finish(cfg, err, errlen);
}
