/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

static char path[64];

static void write_conf(const char *text)
{
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/acd-cfg-%d.conf", (int)getpid());
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static int load(struct daemon_config *cfg, char *err, size_t len,
		const char *extra1, const char *extra2)
{
	char *argv[] = { "asymcached", "-c", path, (char *)extra1,
			 (char *)extra2, NULL };
	enum cfg_action action;
	int argc = 3 + (extra1 != NULL) + (extra2 != NULL);

	err[0] = '\0';
	return cfg_from_cmdline(cfg, argc, argv, &action, err, len);
}

static void cleanup(void)
{
	if (path[0])
		unlink(path);
}

TestSuite(config, .fini = cleanup, .timeout = 30);

/* The settings that both the defaults and every key below are checked on. */
static void expect_settings(const struct daemon_config *cfg,
			    const struct daemon_config *want)
{
	const struct daemon_limits *l = &cfg->limits, *wl = &want->limits;

	cr_assert_str_eq(cfg->socket_path, want->socket_path);
	cr_assert_eq(cfg->socket_mode, want->socket_mode);
	cr_assert_eq(cfg->socket_dir_mode, want->socket_dir_mode);
	cr_assert_eq(cfg->log_level, want->log_level);
	cr_assert_eq(cfg->backend, want->backend);
	cr_assert_eq(cfg->pool_bytes, want->pool_bytes);
	cr_assert_eq(cfg->block_bytes, want->block_bytes);
	cr_assert_str_eq(cfg->group, want->group);
	cr_assert_str_eq(cfg->policy, want->policy);
	cr_assert_eq(l->max_packet, wl->max_packet);
	cr_assert_eq(l->max_keys_per_lookup, wl->max_keys_per_lookup);
	cr_assert_eq(l->max_pins_per_session, wl->max_pins_per_session);
	cr_assert_eq(l->max_writing_per_session, wl->max_writing_per_session);
	cr_assert_eq(l->max_sessions, wl->max_sessions);
	cr_assert_eq(cfg->foreground, want->foreground);
}

Test(config, defaults_from_an_empty_file)
{
	static const struct daemon_config want = {
		.socket_path = "/run/asymcache/asymcached.sock",
		.socket_mode = 0660,
		.socket_dir_mode = 0755,
		.log_level = LOG_INFO,
		.backend = CFG_BACKEND_AUTO,
		.pool_bytes = 1ULL << 30,
		.block_bytes = 2ULL << 20,
		.group = "asymcache",
		.policy = "asym",	/* the default when built */
		.limits = {
			.max_packet = 1U << 20,
			.max_keys_per_lookup = 8192,
			.max_pins_per_session = 1U << 20,
			.max_writing_per_session = 65536,
			.max_sessions = 1024,
		},
		.foreground = false,
	};
	struct daemon_config cfg;
	char err[CFG_ERR_MAX];

	write_conf("");
	cr_assert_eq(load(&cfg, err, sizeof(err), NULL, NULL), 0, "%s", err);
	expect_settings(&cfg, &want);
}

Test(config, every_key_parses)
{
	static const struct daemon_config want = {
		.socket_path = "/tmp/x.sock",
		.socket_mode = 0600,
		.socket_dir_mode = 0750,
		.log_level = LOG_DEBUG,
		.backend = CFG_BACKEND_HOST,
		.pool_bytes = 64ULL << 20,
		.block_bytes = 64ULL << 10,
		.group = "root",
		.policy = "lru",
		.limits = {
			.max_packet = 2U << 20,
			.max_keys_per_lookup = 4096,
			.max_pins_per_session = 100,
			.max_writing_per_session = 50,
			.max_sessions = 7,
		},
		.foreground = true,
	};
	struct daemon_config cfg;
	char err[CFG_ERR_MAX];

	write_conf("# comment\n"
		   "[daemon]\n"
		   "socket = /tmp/x.sock\n"
		   "socket_mode = 0600\n"
		   "socket_dir_mode = 0750\n"
		   "log_level = debug\n"
		   "dbus_address = unix:path=/tmp/bus\n"
		   "\n"
		   "[pool]\n"
		   "backend = host\n"
		   "gpu = 3\n"
		   "bytes = 64M\n"
		   "block_bytes = 64KiB\n"
		   "group = root\n"
		   "[policy]\n"
		   "name = lru\n"
		   "[limits]\n"
		   "max_packet = 2M\n"
		   "max_keys_per_lookup = 4096\n"
		   "max_pins_per_session = 100\n"
		   "max_writing_per_session = 50\n"
		   "max_sessions = 7\n"
		   "[metrics]\n"
		   "listen = [::1]:9464\n");
	cr_assert_eq(load(&cfg, err, sizeof(err), "--foreground", NULL), 0,
		     "%s", err);
	expect_settings(&cfg, &want);
	/* The two keys whose defaults the test above leaves alone. */
	cr_assert_str_eq(cfg.dbus_address, "unix:path=/tmp/bus");
	cr_assert_eq(cfg.gpu, 3);
	cr_assert_str_eq(cfg.metrics_listen, "[::1]:9464");
}

/* A quota is a count of blocks or a share of the pool, resolved late. */
Test(config, block_quotas_in_blocks_or_a_share)
{
	struct daemon_config cfg;
	char err[CFG_ERR_MAX];

	cfg_defaults(&cfg);
	cr_assert_eq(cfg_quota_blocks(cfg.limits.max_blocks_per_session, 1000), 500);
	cr_assert_eq(cfg_quota_blocks(cfg.limits.max_blocks_per_uid, 1000), 750);
	write_conf("[limits]\nmax_blocks_per_session = 300\nmax_blocks_per_uid = 10%\n");
	cr_assert_eq(load(&cfg, err, sizeof(err), NULL, NULL), 0, "%s", err);
	cr_assert_eq(cfg_quota_blocks(cfg.limits.max_blocks_per_session, 1000), 300);
	cr_assert_eq(cfg_quota_blocks(cfg.limits.max_blocks_per_uid, 1000), 100);
	/* A share of a tiny pool still leaves one block. */
	cr_assert_eq(cfg_quota_blocks(cfg.limits.max_blocks_per_uid, 5), 1);
}

Test(config, flags_override_the_file)
{
	struct daemon_config cfg;
	char err[CFG_ERR_MAX];

	write_conf("[pool]\nbytes = 64M\nbackend = cuda\n");
	cr_assert_eq(load(&cfg, err, sizeof(err), "--pool-bytes=128M",
			  "--backend=host"), 0, "%s", err);
	cr_assert_eq(cfg.pool_bytes, 128ULL << 20);
	cr_assert_eq(cfg.backend, CFG_BACKEND_HOST);
}

struct bad_case {
	const char *text;
	const char *message;	/* after "PATH:" */
};

static const struct bad_case bad_cases[] = {
	{ "[pool]\nbytes = 12Q\n",
	  "2: [pool] bytes: '12Q' is not a size" },
	{ "[pool]\n\n# x\nblock_bytes = 1000\n",
	  "4: [pool] block_bytes: 1000 is not a multiple of 256" },
	{ "[pool]\nblock_bytes = 2G\n",
	  "2: [pool] block_bytes: 2G is out of range" },
	{ "[pool]\nbackend = gpu\n",
	  "2: [pool] backend: 'gpu' is not one of auto, host, cuda" },
	{ "[pool]\ngpu = -1\n",
	  "2: [pool] gpu: '-1' is not a non-negative integer" },
	{ "[pool]\ngroup = no-such-group-xyz\n",
	  "2: [pool] group: no group named 'no-such-group-xyz'" },
	{ "[daemon]\nlog_level = loud\n",
	  "2: [daemon] log_level: 'loud' is not a level" },
	{ "[daemon]\nsocket = relative.sock\n",
	  "2: [daemon] socket: 'relative.sock' is not an absolute path" },
	{ "[daemon]\nsocket_mode = 0999\n",
	  "2: [daemon] socket_mode: '0999' is not an octal mode" },
	{ "[daemon]\nsocket_mode = 01777\n",
	  "2: [daemon] socket_mode: 01777 is out of range" },
	{ "[limits]\nmax_sessions = 0\n",
	  "2: [limits] max_sessions: 0 is out of range [1, 65536]" },
	{ "[limits]\nmax_sessions = 99999999999999999999999\n",
	  "2: [limits] max_sessions: '99999999999999999999999' is not a non-negative integer" },
	{ "[limits]\nmax_packet = 100\n",
	  "2: [limits] max_packet: 100 is out of range" },
	{ "[pool.1]\nbytes = 12Q\n",
	  "2: [pool.1] bytes: '12Q' is not a size" },
	{ "[pool.1]\ncolour = red\n",
	  "2: [pool.1] colour: unknown key (a tenant pool takes bytes, block_bytes and group)" },
	{ "[pool.9]\nbytes = 1M\n",
	  "1: [pool.9]: unknown section" },
	{ "[pool.1]\nbytes = 1M\nbytes = 2M\n",
	  "3: [pool.1] bytes: set twice" },
	{ "[pool.1]\nbytes = 1M\nblock_bytes = 16K\n",
	  "2: [pool.1] group: a tenant pool needs bytes, block_bytes and group" },
	{ "[pool.2]\nbytes = 1M\nblock_bytes = 16K\ngroup = root\n",
	  "2: [pool.2] bytes: pools are numbered from 1 without a gap: [pool.1] is missing" },
	{ "[limits]\nmax_blocks_per_session = 0%\n",
	  "2: [limits] max_blocks_per_session: '0%' is not a share of the pool in 1%..100%" },
	{ "[limits]\nmax_blocks_per_uid = 101%\n",
	  "2: [limits] max_blocks_per_uid: '101%' is not a share of the pool in 1%..100%" },
	{ "[limits]\nmax_blocks_per_uid = half\n",
	  "2: [limits] max_blocks_per_uid: 'half' is neither a count of blocks nor a share like 50%" },
	{ "[limits]\nmax_blocks_per_session = 0\n",
	  "2: [limits] max_blocks_per_session: 0 is out of range [1, 2147483647]" },
	{ "[policy]\nname = nope\n",
	  "2: [policy] name: no policy named 'nope'" },
	{ "[pool]\ncolour = red\n",
	  "2: [pool] colour: unknown key" },
	{ "[metrics]\nlisten = 127.0.0.1\n",
	  "2: [metrics] listen: '127.0.0.1': the port is not a number from 0 to 65535" },
	{ "[metrics]\nlisten = example.com:9464\n",
	  "2: [metrics] listen: 'example.com:9464': not an IPv4 address, [IPv6] address or localhost" },
	{ "[metrics]\nlisten = 70000\n",
	  "2: [metrics] listen: '70000': the port is not a number from 0 to 65535" },
	{ "[metrics]\nlisten = ::1:9464\n",
	  "2: [metrics] listen: '::1:9464': not an IPv4 address" },
	{ "[bogus]\nx = 1\n",
	  "1: [bogus]: unknown section" },
	{ "[pool]\nbytes = 1G\n\n  [empty-and-unknown]\n",
	  "4: [empty-and-unknown]: unknown section" },
	{ "[pool]\nbytes = 1G\nbytes = 2G\n",
	  "3: [pool] bytes: set twice" },
	{ "[pool]\nthis line is not ini\n",
	  "2: syntax error" },
	{ "[pool]\nbytes = 1K\n",
	  "2: [pool] bytes: 1024 is smaller than block_bytes 2097152" },
	{ "[limits]\nmax_packet = 1M\nmax_keys_per_lookup = 1048576\n",
	  "3: [limits] max_keys_per_lookup: 1048576 keys need packets" },
};

Test(config, bad_values_name_file_line_and_key)
{
	struct daemon_config cfg;
	char err[CFG_ERR_MAX], want[CFG_ERR_MAX];
	unsigned int i;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		write_conf(bad_cases[i].text);
		cr_assert_lt(load(&cfg, err, sizeof(err), NULL, NULL), 0,
			     "case %u accepted", i);
		snprintf(want, sizeof(want), "%s:%s", path,
			 bad_cases[i].message);
		cr_assert_eq(strncmp(err, want, strlen(want)), 0,
			     "case %u: got '%s', want '%s...'", i, err, want);
	}
}

Test(config, bad_flags_name_the_flag)
{
	struct daemon_config cfg;
	char err[CFG_ERR_MAX];

	write_conf("");
	cr_assert_lt(load(&cfg, err, sizeof(err), "--block-bytes=3", NULL), 0);
	cr_assert_str_eq(err,
			 "--block-bytes: [pool] block_bytes: 3 is out of range [256, 1073741824]");
	cr_assert_lt(load(&cfg, err, sizeof(err), "--policy=zzz", NULL), 0);
	cr_assert_str_eq(err, "--policy: [policy] name: no policy named 'zzz'");
	cr_assert_lt(load(&cfg, err, sizeof(err), "--no-such-flag", NULL), 0);
	cr_assert_not_null(strstr(err, "--no-such-flag"), "%s", err);
	cr_assert_lt(load(&cfg, err, sizeof(err), "stray", NULL), 0);
	cr_assert_not_null(strstr(err, "stray"));
}

Test(config, missing_explicit_file_is_an_error)
{
	struct daemon_config cfg;
	char err[CFG_ERR_MAX];
	char *argv[] = { "asymcached", "-c", "/nonexistent/a.conf", NULL };
	enum cfg_action action;

	cr_assert_eq(cfg_from_cmdline(&cfg, 3, argv, &action, err,
				      sizeof(err)), -ENOENT);
	cr_assert_not_null(strstr(err, "/nonexistent/a.conf"));
}

Test(config, help_and_version)
{
	struct daemon_config cfg;
	char err[CFG_ERR_MAX];
	char *h[] = { "asymcached", "--help", NULL };
	char *v[] = { "asymcached", "--version", NULL };
	enum cfg_action action;

	cr_assert_eq(cfg_from_cmdline(&cfg, 2, h, &action, err, sizeof(err)), 0);
	cr_assert_eq(action, CFG_ACTION_HELP);
	cr_assert_eq(cfg_from_cmdline(&cfg, 2, v, &action, err, sizeof(err)), 0);
	cr_assert_eq(action, CFG_ACTION_VERSION);
}

Test(config, sizes)
{
	static const struct {
		const char *s;
		int r;
		uint64_t v;
	} cases[] = {
		{ "0", 0, 0 }, { "4096", 0, 4096 }, { "4K", 0, 4096 },
		{ "4k", 0, 4096 }, { "2M", 0, 2 << 20 }, { "2MiB", 0, 2 << 20 },
		{ "2MB", 0, 2 << 20 }, { "1G", 0, 1ULL << 30 },
		{ "1T", 0, 1ULL << 40 }, { "512B", 0, 512 },
		{ "", -EINVAL, 0 }, { "M", -EINVAL, 0 }, { "-1", -EINVAL, 0 },
		{ "1X", -EINVAL, 0 }, { "1 M", -EINVAL, 0 },
		{ "99999999999T", -ERANGE, 0 },
		{ "999999999999999999999", -ERANGE, 0 },
	};
	unsigned int i;
	uint64_t v;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 0;
		cr_assert_eq(cfg_parse_size(cases[i].s, &v), cases[i].r,
			     "'%s'", cases[i].s);
		if (cases[i].r == 0)
			cr_assert_eq(v, cases[i].v, "'%s'", cases[i].s);
	}
}

/* @a and @b hold the same settings (the keys the shipped file lists). */
static void expect_same_settings(const struct daemon_config *a, const struct daemon_config *b)
{
	cr_expect_str_eq(a->socket_path, b->socket_path);
	cr_expect_eq(a->socket_mode, b->socket_mode);
	cr_expect_eq(a->socket_dir_mode, b->socket_dir_mode);
	cr_expect_eq(a->log_level, b->log_level);
	cr_expect_eq(a->backend, b->backend);
	cr_expect_eq(a->pool_bytes, b->pool_bytes);
	cr_expect_eq(a->block_bytes, b->block_bytes);
	cr_expect_str_eq(a->group, b->group);
	cr_expect_str_eq(a->policy, b->policy);
	cr_expect_arr_eq(&a->limits, &b->limits, sizeof(a->limits));
}

/*
 * The config file packaging ships must parse and match the defaults, as
 * shipped and with every "#key = default" line uncommented: an operator
 * who uncomments a key gets it in its own section (a comment once split
 * [daemon] and put socket_dir_mode and log_level under [pool]).
 */
Test(config, shipped_example_matches_the_defaults)
{
	struct daemon_config shipped, uncommented, defaults;
	char file[512], line[1024], err[CFG_ERR_MAX];
	const char *root = getenv("AC_SOURCE_ROOT");
	unsigned int keys = 0;
	FILE *in, *out;

	if (!root)
		cr_skip_test("AC_SOURCE_ROOT not set");
	snprintf(file, sizeof(file), "%s/packaging/asymcached.conf", root);
	if (access(file, R_OK) != 0)
		cr_skip_test("packaging/asymcached.conf has not landed");
	cfg_defaults(&shipped);
	cr_assert_eq(cfg_load_file(&shipped, file, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_eq(cfg_finish(&shipped, err, sizeof(err)), 0, "%s", err);
	cfg_defaults(&defaults);
	cr_assert_eq(cfg_finish(&defaults, err, sizeof(err)), 0, "%s", err);
	expect_same_settings(&shipped, &defaults);

	snprintf(path, sizeof(path), "/tmp/acd-cfg-%d.conf", (int)getpid());
	in = fopen(file, "r");
	out = fopen(path, "w");
	cr_assert(in && out);
	while (fgets(line, sizeof(line), in)) {
		bool key = line[0] == '#' && line[1] >= 'a' && line[1] <= 'z';

		/* The group is looked up: only where the packages made it. */
		if (key && strncmp(line, "#group = asymcache", 18) == 0 && !getgrnam("asymcache"))
			key = false;

		keys += key;
		fputs(line + key, out);
	}
	fclose(in);
	fclose(out);
	cr_assert_gt(keys, 20, "the shipped file lists %u keys", keys);
	cfg_defaults(&uncommented);
	cr_assert_eq(cfg_load_file(&uncommented, path, err, sizeof(err)), 0,
		     "%s uncommented: %s", file, err);
	cr_assert_eq(cfg_finish(&uncommented, err, sizeof(err)), 0, "%s", err);
	expect_same_settings(&uncommented, &defaults);
}

static void write_bytes(const char *bytes, size_t n)
{
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/acd-cfg-%d.conf", (int)getpid());
	f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(bytes, 1, n, f), n);
	fclose(f);
}

/* A folder read as an empty file, so every key silently kept its default. */
Test(config, a_directory_is_not_a_config_file)
{
	struct daemon_config cfg;
	char err[CFG_ERR_MAX];
	char *argv[] = { "asymcached", "-c", "/tmp", NULL };
	enum cfg_action action;

	cr_assert_eq(cfg_from_cmdline(&cfg, 3, argv, &action, err,
				      sizeof(err)), -EISDIR);
	cr_assert_str_eq(err, "/tmp: is a directory, not a configuration file");
}

/*
 * /dev/zero read as one endless line and the daemon never started; a FIFO
 * blocked it in open(). Anything but a regular file or /dev/null is named
 * and refused at once.
 */
Test(config, only_a_regular_file_or_dev_null_is_a_config_file)
{
	struct daemon_config cfg;
	char err[CFG_ERR_MAX], fifo[64];
	char *argv[] = { "asymcached", "-c", "/dev/zero", NULL };
	enum cfg_action action;

	cr_assert_eq(cfg_from_cmdline(&cfg, 3, argv, &action, err,
				      sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "/dev/zero: is a character device, not a configuration file (a regular file, or /dev/null for none)");
	snprintf(fifo, sizeof(fifo), "/tmp/acd-cfg-fifo-%d", (int)getpid());
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	argv[2] = fifo;
	cr_assert_eq(cfg_from_cmdline(&cfg, 3, argv, &action, err,
				      sizeof(err)), -EINVAL);
	unlink(fifo);
	cr_assert_neq(strstr(err, ": is a FIFO, not a configuration file"), NULL,
		      "%s", err);
	argv[2] = "/dev/null";
	cr_assert_eq(cfg_from_cmdline(&cfg, 3, argv, &action, err,
				      sizeof(err)), 0, "%s", err);
}

/* "socket = /tmp/a\0b" used to configure /tmp/a. */
Test(config, nul_bytes_are_an_error_not_a_cut)
{
	static const char text[] = "[daemon]\nsocket = /tmp/a\0b.sock\n";
	struct daemon_config cfg;
	char err[CFG_ERR_MAX];

	write_bytes(text, sizeof(text) - 1);
	cr_assert_eq(load(&cfg, err, sizeof(err), NULL, NULL), -EINVAL);
	cr_assert(strstr(err, ":2: a NUL byte in the line"), "%s", err);
}

/* A binary file's bytes were echoed raw into the log. */
Test(config, control_bytes_are_escaped_in_messages)
{
	static const char text[] = "[daemon]\nlog_level = \x01\x1b[31mred\n";
	struct daemon_config cfg;
	char err[CFG_ERR_MAX];
	const char *p;

	write_bytes(text, sizeof(text) - 1);
	cr_assert_eq(load(&cfg, err, sizeof(err), NULL, NULL), -EINVAL);
	for (p = err; *p; p++)
		cr_assert((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f,
			  "byte 0x%02x in '%s'", (unsigned char)*p, err);
	cr_assert(strstr(err, "'\\x01\\x1b[31mred'"), "%s", err);
}
