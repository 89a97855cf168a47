/* SPDX-License-Identifier: MIT */
/*
 * Structured session logging: with stderr being "the journal" (JOURNAL_STREAM
 * naming fd 2's device:inode), session messages reach the journal socket with
 * ASYMCACHE_SESSION= and ASYMCACHE_CLIENT_PID= fields. The journal is faked:
 * a private mount namespace gets its own tmpfs on /run, where the test binds
 * /run/systemd/journal/socket and reads the native protocol datagrams that
 * sd_journal_send() writes. Needs CAP_SYS_ADMIN and / a mount point; skips
 * without them.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

static int fake_journal(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (unshare(CLONE_NEWNS) < 0)
		return -errno;
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") < 0)
		return -errno;
	if (mkdir("/run/systemd", 0755) < 0 ||
	    mkdir("/run/systemd/journal", 0755) < 0)
		return -errno;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	strcpy(sa.sun_path, "/run/systemd/journal/socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return fd;
}

/*
 * In the daemon's process, stderr already on its log: JOURNAL_STREAM names
 * that log, as systemd names the journal stream it hands a service, or a
 * stream that is not stderr.
 */
static void journal_stream(void *arg)
{
	bool journal = *(bool *)arg;
	struct stat st;
	char env[64];

	if (!journal || fstat(STDERR_FILENO, &st) < 0) {
		setenv("JOURNAL_STREAM", "1:1", 1);
		return;
	}
	snprintf(env, sizeof(env), "%llu:%llu",
		 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
}

/* Reads every queued datagram into @buf, NUL-separated; returns bytes. */
static size_t drain(int fd, char *buf, size_t size)
{
	size_t n = 0;

	for (int tries = 0; tries < 100; tries++) {
		ssize_t r = recv(fd, buf + n, size - n - 1, 0);

		if (r > 0) {
			n += (size_t)r;
			buf[n++] = '\0';
			tries = 0;
			continue;
		}
		usleep(10000);
	}
	return n;
}

static bool has_record(const char *buf, size_t n, const char *needle1,
		       const char *needle2)
{
	for (size_t off = 0; off < n; off += strlen(buf + off) + 1)
		if (strstr(buf + off, needle1) && strstr(buf + off, needle2))
			return true;
	return false;
}

static void run_case(bool journal)
{
	struct harness h;
	static char buf[1 << 16];
	char want[64], pidf[64], line[1024];
	int jfd, cfd, prefixed = 0;
	FILE *log;
	size_t n;

	jfd = fake_journal();
	/*
	 * EPERM: no CAP_SYS_ADMIN. EINVAL: / is not a mount point (a chroot,
	 * as in a package builder or a bare debootstrap root), so it cannot
	 * be made private and /run cannot be replaced for this test alone.
	 */
	if (jfd == -EPERM || jfd == -EINVAL)
		cr_skip_test("no private mount namespace here: %s", strerror(-jfd));
	cr_assert_geq(jfd, 0, "fake journal: %s", strerror(-jfd));
	cr_assert_eq(harness_start_setup(&h, "4M", "64K", NULL,
					 journal_stream, &journal), 0,
		     "daemon did not start");

	cfd = hc_connect(h.sock);
	cr_assert_geq(cfd, 0);
	cr_assert_eq(hc_hello(cfd, "journal-test"), 0);
	close(cfd);
	usleep(100000);
	/*
	 * The lines that stay on stderr: "<N>" for journald under the journal,
	 * a time stamp (test_cli.c) elsewhere.
	 */
	log = fopen(h.log, "r");
	cr_assert(log, "%s: %s", h.log, strerror(errno));
	while (fgets(line, sizeof(line), log))
		prefixed += line[0] == '<' && line[1] >= '0' && line[1] <= '7' && line[2] == '>';
	fclose(log);
	if (journal)
		cr_expect_gt(prefixed, 0, "no <N> line on the journal stream");
	else
		cr_expect_eq(prefixed, 0, "<N> prefixes outside the journal");
	cr_assert_eq(harness_stop(&h), 0, "SIGTERM must exit 0");

	n = drain(jfd, buf, sizeof(buf));
	/* the first accepted session of a fresh daemon is number 2: the
	 * start-up probe above took number 1 */
	snprintf(want, sizeof(want), "ASYMCACHE_SESSION=2\n");
	snprintf(pidf, sizeof(pidf), "ASYMCACHE_CLIENT_PID=%d\n", getpid());
	if (journal) {
		cr_assert(has_record(buf, n, "hello from 'journal-test'", want),
			  "no journal record of the hello with %s", want);
		cr_assert(has_record(buf, n, "hello from 'journal-test'", pidf),
			  "the hello record lacks %s", pidf);
		cr_assert(has_record(buf, n, "PRIORITY=6\n", "hello from"),
			  "hello is not logged at info level");
		cr_assert(has_record(buf, n, "closed:", want),
			  "no journal record of the close");
	} else {
		cr_assert_eq(n, 0, "stderr is not the journal, yet %zu bytes went there", n);
	}
	close(jfd);
}

Test(journal, session_messages_carry_structured_fields, .timeout = 60)
{
	run_case(true);
}

Test(journal, stale_journal_stream_falls_back_to_stderr, .timeout = 60)
{
	run_case(false);
}
