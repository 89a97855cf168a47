/* SPDX-License-Identifier: MIT */
/*
 * The systemd unit as built (packaging/asymcached.service in the build
 * tree): what systemd would run for it, run here against the real daemon.
 */
#include <criterion/criterion.h>
#include <errno.h>
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
