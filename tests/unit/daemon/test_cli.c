/* SPDX-License-Identifier: MIT */
/*
 * asymcached as an operator meets it by hand: a wrong command line says
 * why and points at --help (exit 2, no log prefix), and the log outside
 * the journal carries the time, the process and the level by name.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* Runs asymcached with @args; its stderr into *@err. Returns the exit status. */
static int run_daemon(const char *const *args, char **err)
{
	const char *argv[16] = { harness_daemon_path() };
	char *buf = calloc(1, 1);
	size_t len = 0, n = 1;
	int p[2], status;
	ssize_t r;
	pid_t pid;

	while (*args && n < 15)
		argv[n++] = *args++;
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		unsetenv("JOURNAL_STREAM");
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		char chunk[4096];

		r = read(p[0], chunk, sizeof(chunk));
		if (r <= 0)
			break;
		buf = realloc(buf, len + (size_t)r + 1);
		memcpy(buf + len, chunk, (size_t)r);
		len += (size_t)r;
		buf[len] = '\0';
	}
	close(p[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	*err = buf;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Test(cli, wrong_command_lines_exit_2_with_a_hint)
{
	static const struct {
		const char *args[4];
		const char *err;
	} cases[] = {
		{ { "--bogus" }, "asymcached: unknown option --bogus\n" },
		{ { "-x" }, "asymcached: unknown option -x\n" },
		{ { "--socket" }, "asymcached: option --socket needs an argument\n" },
		{ { "-c" }, "asymcached: option -c needs an argument\n" },
		{ { "-c", "/dev/null", "stray" }, "asymcached: unexpected argument 'stray'\n" },
	};
	static const char hint[] = "Try 'asymcached --help' for more information.\n";
	char want[256], *err;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_expect_eq(run_daemon(cases[i].args, &err), 2, "case %zu", i);
		snprintf(want, sizeof(want), "%s%s", cases[i].err, hint);
		cr_expect_str_eq(err, want, "case %zu", i);
		free(err);
	}
}

Test(cli, a_bad_setting_is_a_failure_not_a_usage_error)
{
	static const char *const args[] = { "-c", "/dev/null", "--pool-bytes", "1Q", NULL };
	char *err;

	cr_expect_eq(run_daemon(args, &err), 1);
	cr_expect(strstr(err, " err: --pool-bytes: [pool] bytes: '1Q' is not a size"), "%s", err);
	cr_expect_null(strstr(err, "<3>"), "a log prefix outside the journal: %s", err);
	free(err);
}

/*
 * Every line of a running daemon's log, stderr being a file: local time
 * with milliseconds and the UTC offset, asymcached[PID], the level's name.
 */
Test(cli, log_lines_outside_the_journal_are_stamped)
{
	static const char *const levels = "(emerg|alert|crit|err|warning|notice|info|debug)";
	char pattern[256], tag[48], line[1024];
	struct harness h;
	int lines = 0;
	regex_t re;
	FILE *f;

	snprintf(pattern, sizeof(pattern),
		 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}"
		 "[+-][0-9]{4} asymcached\\[[0-9]+\\] %s: [^ ]", levels);
	cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	cr_assert_eq(harness_start(&h, "1M", "64K", NULL), 0);
	snprintf(tag, sizeof(tag), " asymcached[%d] ", (int)h.pid);
	f = fopen(h.log, "r");
	cr_assert(f, "%s: %s", h.log, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		cr_expect_eq(regexec(&re, line, 0, NULL, 0), 0, "not stamped: %s", line);
		cr_expect(strstr(line, tag), "not the daemon's pid %d: %s", (int)h.pid, line);
		lines++;
	}
	fclose(f);
	cr_expect_gt(lines, 0, "the daemon logged nothing at start");
	regfree(&re);
	cr_assert_eq(harness_stop(&h), 0);
}

/* Whether the file at @path has a line holding @needle. */
static bool file_has(const char *path, const char *needle)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/*
 * Without systemd nothing runs tmpfiles.d: the daemon makes the socket's
 * folder itself, with [daemon] socket_dir_mode and [pool] group.
 */
Test(cli, a_missing_socket_folder_is_made_with_the_configured_mode)
{
	const struct group *gr = getgrnam("nogroup");
	char top[TH_DIR_MAX], sock[128], run[96], conf[256];
	struct th_daemon d = { 0 };
	struct th_daemon_opts o = { .tag = "ac-cli" };
	const char *args[] = { "--socket", sock, "--backend", "host", "--pool-bytes", "1M",
			       "--block-bytes", "64K", NULL };
	struct stat st;

	cr_assert_eq(th_dir_make(top, sizeof(top), "ac-rundir"), 0);
	snprintf(run, sizeof(run), "%s/run", top);
	snprintf(sock, sizeof(sock), "%s/asymcached.sock", run);
	snprintf(conf, sizeof(conf), "[daemon]\nsocket_dir_mode = 0750\n[pool]\ngroup = %s\n",
		 gr ? gr->gr_name : "");
	o.config = conf;
	o.args = args;
	cr_assert_eq(th_daemon_start(&d, &o), 0, "daemon did not start");
	cr_assert_eq(stat(run, &st), 0, "%s: %s", run, strerror(errno));
	cr_expect(S_ISDIR(st.st_mode));
	cr_expect_eq(st.st_mode & 07777, 0750, "mode %o", st.st_mode & 07777);
	cr_expect_eq(st.st_uid, geteuid());
	if (gr)
		cr_expect_eq(st.st_gid, gr->gr_gid, "group %d, want nogroup", (int)st.st_gid);
	cr_expect(file_has(d.log, "made "), "the daemon did not say it made %s", run);
	cr_expect_eq(th_daemon_stop(&d), 0);
	th_daemon_cleanup(&d);
	/* An existing folder is left as it is. */
	memset(&d, 0, sizeof(d));
	cr_assert_eq(chmod(run, 0711), 0);
	cr_assert_eq(th_daemon_start(&d, &o), 0, "daemon did not start again");
	cr_assert_eq(stat(run, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0711, "an existing folder was changed");
	cr_expect_eq(th_daemon_stop(&d), 0);
	th_daemon_cleanup(&d);

	/* Only the last component: a missing parent is named, not made. */
	snprintf(sock, sizeof(sock), "%s/no/such/asymcached.sock", top);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(th_daemon_start(&d, &o), -ECHILD, "started without the socket's parent");
	cr_expect(WIFEXITED(d.wstatus) && WEXITSTATUS(d.wstatus) == 1);
	cr_expect(file_has(d.log, "its parent folder does not exist"), "no reason in the log");
	th_daemon_cleanup(&d);
	th_dir_remove(top);
}
