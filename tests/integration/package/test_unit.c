/* SPDX-License-Identifier: MIT */
/*
 * The systemd unit as built (packaging/asymcached.service in the build
 * tree): what systemd would run for it, run here against the real daemon.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdbool.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "th_daemon.h"

static char unit_path[512];

static void unit_find(void)
{
	cr_assert_eq(th_build_path(unit_path, sizeof(unit_path), "packaging/asymcached.service"),
		     0, "AC_BUILD_ROOT is not set (run through meson test)");
}

/* The value of the unit's first @key= line, malloc()ed; NULL without one. */
static char *unit_value(const char *key)
{
	char line[1024], *v = NULL;
	size_t n = strlen(key);
	FILE *f = fopen(unit_path, "r");

	cr_assert(f, "%s: %s", unit_path, strerror(errno));
	while (!v && fgets(line, sizeof(line), f))
		if (strncmp(line, key, n) == 0 && line[n] == '=') {
			line[strcspn(line, "\n")] = '\0';
			v = strdup(line + n + 1);
		}
	fclose(f);
	return v;
}

/*
 * systemctl reload runs ExecReload= as the service's user, which the bus
 * policy does not let call ReloadConfig: the command must reach the daemon
 * without D-Bus. Run with $MAINPID set as systemd sets it, it reloads.
 */
Test(unit, exec_reload_reloads_the_daemon)
{
	struct th_daemon_opts o = { .tag = "ac-unit", .notify = true,
				    .args = (const char *const[]){ "--backend", "host",
					"--pool-bytes", "1M", "--block-bytes", "64K",
					"--group", "", NULL } };
	struct th_daemon d = { 0 };
	char cmd[1024], *reload;
	int st;

	unit_find();
	reload = unit_value("ExecReload");
	cr_assert(reload, "%s has no ExecReload=", unit_path);
	cr_expect_null(strstr(reload, "asymcachectl"),
		       "ExecReload goes through D-Bus as the service user: %s", reload);
	cr_assert_eq(th_daemon_start(&d, &o), 0, "daemon did not start");
	cr_assert(th_notify_wait(d.notify, "READY=1", 1, 5000, NULL, 0) >= 0);
	snprintf(cmd, sizeof(cmd), "MAINPID=%d; %s", (int)d.pid, reload);
	st = system(cmd);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "'%s' failed: %d", reload, st);
	cr_expect_eq(th_notify_wait(d.notify, "RELOADING=1", 1, 5000, NULL, 0), 1,
		     "'%s' did not make the daemon reload", reload);
	cr_expect_eq(th_notify_wait(d.notify, "READY=1", 1, 5000, NULL, 0), 1,
		     "no READY=1 after the reload");
	cr_expect_eq(th_daemon_stop(&d), 0);
	th_daemon_cleanup(&d);
	free(reload);
}

/* Every @key= value of the unit, each on its own line, malloc()ed. */
static char *unit_values(const char *key)
{
	char line[1024], *all = calloc(1, 1);
	size_t n = strlen(key), len = 0, l;
	FILE *f = fopen(unit_path, "r");

	cr_assert(f && all, "%s: %s", unit_path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, n) == 0 && line[n] == '=') {
			l = strlen(line + n + 1);
			all = realloc(all, len + l + 1);
			cr_assert(all);
			memcpy(all + len, line + n + 1, l + 1);
			len += l;
		}
	fclose(f);
	return all;
}

/* @key= has a line that is exactly @value. */
static bool unit_has(const char *key, const char *value)
{
	char *all = unit_values(key), *p = all, *nl;
	bool found = false;

	for (; !found && *p; p = nl + 1) {
		nl = strchr(p, '\n');
		found = strncmp(p, value, (size_t)(nl - p)) == 0 && value[nl - p] == '\0';
	}
	free(all);
	return found;
}

/*
 * The sandbox: systemd-analyze rates the shipped unit at most 2.0 (it
 * rated 6.5 with the network families /metrics needs; timesyncd is 2.3).
 * It does so with the GPU reachable (the NVIDIA device groups allowed,
 * not PrivateDevices=), with no capability at all, and with /metrics on
 * loopback allowed ([metrics] listen's default address).
 */
Test(unit, sandbox_scores_at_most_2_with_the_gpu_reachable)
{
	char cmd[1024], *out = NULL, *p;
	size_t cap = 0;
	double score;
	FILE *f;
	int st;

	unit_find();
	if (system("command -v systemd-analyze >/dev/null 2>&1") != 0)
		cr_skip_test("no systemd-analyze");
	if (system("systemd-analyze --help 2>/dev/null | grep -q -- --offline") != 0)
		cr_skip_test("this systemd-analyze cannot rate a unit offline (systemd < 250)");
	snprintf(cmd, sizeof(cmd), "systemd-analyze security --offline=yes --no-pager '%s' 2>&1",
		 unit_path);
	f = popen(cmd, "r");
	cr_assert(f);
	cr_assert_gt(getdelim(&out, &cap, '\0', f), 0, "%s printed nothing", cmd);
	st = pclose(f);
	p = strstr(out, "Overall exposure level for asymcached.service: ");
	cr_assert(p && WIFEXITED(st), "'%s' failed (%d):\n%s", cmd, st, out);
	score = strtod(p + strlen("Overall exposure level for asymcached.service: "), NULL);
	cr_expect_leq(score, 2.0, "the unit rates %.1f:\n%s", score, out);
	free(out);

	cr_expect(unit_has("DevicePolicy", "closed"));
	cr_expect(unit_has("DeviceAllow", "char-nvidia-frontend rw"), "/dev/nvidia0.., nvidiactl");
	cr_expect(unit_has("DeviceAllow", "char-nvidia rw"), "major 195 as newer drivers name it");
	cr_expect(unit_has("DeviceAllow", "char-nvidia-uvm rw"), "/dev/nvidia-uvm");
	cr_expect(!unit_has("PrivateDevices", "yes"), "PrivateDevices= hides /dev/nvidia*");
	cr_expect(unit_has("CapabilityBoundingSet", ""), "the daemon needs no capability");
	cr_expect(unit_has("SystemCallFilter", "@system-service"));
	cr_expect(unit_has("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
		  "/metrics needs AF_INET and AF_INET6");
	cr_expect(unit_has("IPAddressAllow", "localhost"), "/metrics on loopback is refused");
	cr_expect(!unit_has("PrivateNetwork", "yes"), "PrivateNetwork= takes /metrics away");
}

/* @cmd's whole output, malloc()ed; fails the test when it does not exit 0. */
static char *cmd_output(const char *cmd)
{
	char chunk[4096], *out = calloc(1, 1);
	size_t len = 0, n;
	FILE *p = popen(cmd, "r");
	int st;

	cr_assert(p && out, "popen %s", cmd);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0) {
		out = realloc(out, len + n + 1);
		memcpy(out + len, chunk, n);
		len += n;
		out[len] = '\0';
	}
	st = pclose(p);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "'%s' failed", cmd);
	return out;
}

/* Where `meson install` would put the source file ending in @suffix. */
static const char *installed_to(struct json_object *installed, const char *suffix)
{
	size_t n = strlen(suffix);

	json_object_object_foreach(installed, src, dst) {
		size_t l = strlen(src);

		if (l >= n && strcmp(src + l - n, suffix) == 0)
			return json_object_get_string(dst);
	}
	cr_assert_fail("%s is not installed", suffix);
	return NULL;
}

static const char *build_option(struct json_object *opts, const char *name)
{
	size_t i;

	for (i = 0; i < json_object_array_length(opts); i++) {
		struct json_object *o = json_object_array_get_idx(opts, i), *v;

		if (strcmp(json_object_get_string(json_object_object_get(o, "name")), name) == 0) {
			v = json_object_object_get(o, "value");
			return json_object_get_string(v);
		}
	}
	cr_assert_fail("no build option %s", name);
	return NULL;
}

/*
 * A source install (meson install, any prefix) puts the D-Bus policy where
 * the system bus reads it (dbus-1.pc's datadir) and the configuration in
 * the configured sysconfdir, which is also where the daemon and the unit
 * look for it.
 */
Test(install, dbus_policy_and_config_land_where_they_are_read)
{
	char cmd[1024], root[512], want[1024], *text, *help, *dbus;
	struct json_object *installed, *opts;
	const char *prefix, *sysconfdir, *conf, *exec;

	cr_assert_eq(th_build_path(root, sizeof(root), "."), 0);
	snprintf(cmd, sizeof(cmd), "meson introspect '%s' --installed", root);
	text = cmd_output(cmd);
	installed = json_tokener_parse(text);
	free(text);
	snprintf(cmd, sizeof(cmd), "meson introspect '%s' --buildoptions", root);
	text = cmd_output(cmd);
	opts = json_tokener_parse(text);
	free(text);
	cr_assert(installed && opts, "meson introspect gave no JSON");

	if (system("pkg-config --exists dbus-1") == 0) {
		dbus = cmd_output("pkg-config --variable=datadir dbus-1");
		dbus[strcspn(dbus, "\n")] = '\0';
		snprintf(want, sizeof(want), "%s/dbus-1/system.d/org.asymcache.Daemon1.conf", dbus);
		cr_expect_str_eq(installed_to(installed, "packaging/dbus/org.asymcache.Daemon1.conf"),
				 want, "the system bus does not read the policy there");
		snprintf(want, sizeof(want),
			 "%s/dbus-1/system-services/org.asymcache.Daemon1.service", dbus);
		cr_expect_str_eq(installed_to(installed, "packaging/dbus/org.asymcache.Daemon1.service"),
				 want);
		free(dbus);
	}

	prefix = build_option(opts, "prefix");
	sysconfdir = build_option(opts, "sysconfdir");
	if (sysconfdir[0] == '/')
		snprintf(want, sizeof(want), "%s/asymcache/asymcached.conf", sysconfdir);
	else
		snprintf(want, sizeof(want), "%s/%s/asymcache/asymcached.conf", prefix, sysconfdir);
	conf = installed_to(installed, "packaging/asymcached.conf");
	cr_expect_str_eq(conf, want);
	/* The daemon's default and the unit's --config are that file. */
	snprintf(cmd, sizeof(cmd), "'%s/daemon/asymcached' --help", root);
	help = cmd_output(cmd);
	snprintf(want, sizeof(want), "(default %s)", conf);
	cr_expect(strstr(help, want), "asymcached --help names another default: %s", help);
	free(help);
	unit_find();
	exec = unit_value("ExecStart");
	snprintf(want, sizeof(want), "--config=%s", conf);
	cr_expect(exec && strstr(exec, want), "ExecStart=%s", exec);
	free((char *)exec);
	json_object_put(installed);
	json_object_put(opts);
}
