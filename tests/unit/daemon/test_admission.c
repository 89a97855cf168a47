/* SPDX-License-Identifier: MIT */
/*
 * Admission control against the real asymcached: what a peer that cannot
 * or will not behave costs the daemon and the clients that do.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define NS_BLOCK "16K"

static struct harness h;

TestSuite(admission, .timeout = 60);

/* utime + stime of @pid in clock ticks, from /proc/PID/stat. */
static unsigned long long cpu_ticks(pid_t pid)
{
	unsigned long long ut = 0, st = 0;
	char path[64], buf[1024], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* Fields after the command name, which may hold spaces. */
	p = strrchr(buf, ')');
	cr_assert_not_null(p);
	cr_assert_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
			    "%*u %llu %llu", &ut, &st), 2);
	return ut + st;
}

static size_t count_lines(const char *path, const char *needle)
{
	char line[1024];
	size_t n = 0;
	FILE *f = fopen(path, "r");

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

static void low_nofile(void *arg)
{
	struct rlimit rl = { .rlim_cur = 32, .rlim_max = 32 };

	(void)arg;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		_exit(90);
}

/*
 * With its fd table full, the daemon used to re-arm accept at once: a
 * whole CPU and tens of MB/s of log. It must back off, log once per
 * interval, and take clients again once descriptors are free.
 */
Test(admission, full_fd_table_backs_off_and_recovers)
{
	int fds[48], n = 0, i, fd;
	unsigned long long t0, t1;
	long hz = sysconf(_SC_CLK_TCK);

	cr_assert_eq(harness_start_setup(&h, "1M", NS_BLOCK, NULL, low_nofile,
					 NULL), 0);
	for (i = 0; i < 48; i++) {
		fds[n] = hc_connect(h.sock);
		if (fds[n] >= 0)
			n++;
	}
	cr_assert_gt(n, 32, "the backlog should queue past the daemon's limit");
	usleep(200 * 1000);
	t0 = cpu_ticks(h.pid);
	sleep(2);
	t1 = cpu_ticks(h.pid);
	cr_expect_leq((t1 - t0) * 1000 / (unsigned long long)hz, 200,
		      "the daemon used %llu ms of CPU in 2 s with a full fd table",
		      (t1 - t0) * 1000 / (unsigned long long)hz);
	cr_expect_leq(count_lines(h.log, "accept:"), 2,
		      "the accept failure is logged more than once per interval");
	for (i = 0; i < n; i++)
		close(fds[i]);
	fd = hc_connect(h.sock);
	cr_assert_geq(fd, 0);
	cr_assert_eq(hc_hello(fd, "after-emfile"), 0,
		     "the daemon did not take clients again");
	close(fd);
	cr_assert_eq(harness_stop(&h), 0);
}
