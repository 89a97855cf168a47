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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
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
	struct rlimit rl;

	(void)arg;
	/*
	 * The soft limit only: valgrind, when the suite runs under it, keeps
	 * its own descriptors between the soft and the hard limit.
	 */
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		_exit(90);
	rl.rlim_cur = 128;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		_exit(90);
}

/*
 * With its fd table full (RLIMIT_NOFILE 128, 220 peers: the rest wait in
 * the backlog), the daemon used to re-arm accept at once: a
 * whole CPU and tens of MB/s of log. It must back off, log once per
 * interval, and take clients again once descriptors are free.
 */
Test(admission, full_fd_table_backs_off_and_recovers)
{
	int fds[220], n = 0, i, fd;
	unsigned long long t0, t1;
	long hz = sysconf(_SC_CLK_TCK);

	cr_assert_eq(harness_start_setup(&h, "1M", NS_BLOCK, NULL, low_nofile,
					 NULL), 0);
	for (i = 0; i < 220; i++) {
		fds[n] = hc_connect(h.sock);
		if (fds[n] >= 0)
			n++;
	}
	cr_assert_gt(n, 128, "the backlog should queue past the daemon's limit");
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

/* Waits at most @ms for each receive, so a missing close fails, not hangs. */
static void recv_timeout(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000,
			      .tv_usec = (ms % 1000) * 1000 };

	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)),
		     0);
}

/* The next packet is an Error{@code} with request id 0, then EOF. */
static int expect_refusal(int fd, int code)
{
	Response *resp = NULL;
	int r;

	r = hc_recv(fd, &resp, NULL);
	if (r < 0 || !resp)
		return 1;
	if (resp->id != 0 ||
	    resp->body_case != ASYMCACHE__V1__RESPONSE__BODY_ERROR ||
	    resp->error->code != code) {
		hc_free(resp);
		return 2;
	}
	hc_free(resp);
	if (hc_recv(fd, &resp, NULL) != 0 || resp)
		return 3;
	return 0;
}

static void start_with(const char *conf_text)
{
	static char conf[64];
	const char *extra[] = { "-c", conf, NULL };

	snprintf(conf, sizeof(conf), "/tmp/acd-adm-%d.conf", (int)getpid());
	cr_assert_eq(th_write_file(conf, conf_text), 0);
	cr_assert_eq(harness_start(&h, "1M", NS_BLOCK, extra), 0);
	unlink(conf);
}

/* A peer that never says Hello held its slot for good. */
Test(admission, silent_peer_is_closed_at_the_hello_deadline)
{
	Asymcache__V1__StatsReply st;
	Response *resp = NULL;
	struct timespec t0, t1;
	int fd, ok;
	long ms;

	start_with("[limits]\nhello_timeout_ms = 300\n");
	fd = hc_connect(h.sock);
	cr_assert_geq(fd, 0);
	recv_timeout(fd, 3000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(hc_recv(fd, &resp, NULL), 0,
		     "a peer without Hello was not closed");
	cr_assert_null(resp);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	cr_expect_geq(ms, 250, "closed before its deadline (%ld ms)", ms);
	close(fd);
	/* A client that says Hello in time is not touched by the deadline. */
	ok = hc_connect(h.sock);
	cr_assert_eq(hc_hello(ok, "in-time"), 0);
	usleep(600 * 1000);
	cr_assert_eq(hc_stats(ok, &st), 0, "a session with Hello was closed");
	cr_assert_eq(st.sessions, 1);
	close(ok);
	cr_assert_eq(harness_stop(&h), 0);
}

/* Peers the group check refuses used to stay open until their Hello. */
Test(admission, unauthorised_peer_is_closed_at_accept)
{
	Asymcache__V1__StatsReply st;
	pid_t pid;
	int status, fd;

	if (geteuid() != 0)
		cr_skip_test("needs root to run a peer as nobody");
	start_with("[daemon]\nsocket_mode = 0666\n");
	cr_assert_eq(chmod(h.dir, 0755), 0);
	fd = hc_connect(h.sock);
	cr_assert_eq(hc_hello(fd, "member"), 0);
	pid = fork();
	if (pid == 0) {
		int c[8], i, r;

		if (setgid(65534) || setuid(65534))
			_exit(10);
		for (i = 0; i < 8; i++) {
			c[i] = hc_connect(h.sock);
			if (c[i] < 0)
				_exit(11);
			recv_timeout(c[i], 3000);
		}
		/* Without sending a byte: the refusal comes at accept. */
		for (i = 0; i < 8; i++) {
			r = expect_refusal(c[i], EACCES);
			if (r)
				_exit(20 + r);
		}
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	cr_assert_eq(WEXITSTATUS(status), 0, "child step %d",
		     WEXITSTATUS(status));
	cr_assert_eq(hc_stats(fd, &st), 0);
	cr_assert_eq(st.sessions, 1, "refused peers hold session slots");
	cr_expect_leq(count_lines(h.log, "refusing pid"), 2,
		      "each refusal was logged");
	close(fd);
	cr_assert_eq(harness_stop(&h), 0);
}

Test(admission, per_uid_session_cap)
{
	int a, b, c, d;

	start_with("[limits]\nmax_sessions_per_uid = 2\n");
	a = hc_connect(h.sock);
	b = hc_connect(h.sock);
	cr_assert_eq(hc_hello(a, "a"), 0);
	cr_assert_eq(hc_hello(b, "b"), 0);
	c = hc_connect(h.sock);
	recv_timeout(c, 3000);
	cr_assert_eq(expect_refusal(c, EUSERS), 0,
		     "a third session of one uid was admitted");
	close(c);
	close(a);
	/* The slot comes back with the session. */
	usleep(100 * 1000);
	d = hc_connect(h.sock);
	cr_assert_eq(hc_hello(d, "d"), 0);
	close(b);
	close(d);
	cr_assert_eq(harness_stop(&h), 0);
}

/* docs/protocol.md: a client name is 1..64 printable bytes. */
Test(admission, empty_client_name_is_refused)
{
	int fd;

	cr_assert_eq(harness_start(&h, "1M", NS_BLOCK, NULL), 0);
	fd = hc_connect(h.sock);
	cr_assert_eq(hc_hello(fd, ""), EINVAL);
	cr_assert_eq(hc_hello(fd, "x"), 0, "the session survives the refusal");
	close(fd);
	cr_assert_eq(harness_stop(&h), 0);
}

/* Sends @pkt as is; the reply's Error code, or 0 when it is no Error. */
static int raw_error(int fd, const uint8_t *pkt, size_t len)
{
	Response *resp = NULL;
	int code = 0;

	cr_assert_eq(th_send(fd, pkt, len), 0);
	cr_assert_eq(hc_recv(fd, &resp, NULL), 0);
	cr_assert_not_null(resp, "the session was closed");
	if (resp->body_case == ASYMCACHE__V1__RESPONSE__BODY_ERROR)
		code = resp->error->code;
	hc_free(resp);
	return code;
}

/*
 * A NUL inside client_name or model_id: protobuf-c cut the string at it,
 * so "ab\0cd" was admitted as "ab". The packets are written byte by byte,
 * as an attacker would, whatever type the .proto gives the fields.
 */
Test(admission, nul_in_client_name_or_model_id_is_refused)
{
	static const uint8_t hello_nul[] = {
		0x08, 0x01,			/* id 1 */
		0x12, 0x09,			/* hello, 9 bytes */
		0x08, 0x01,			/* protocol_version 1 */
		0x12, 0x05, 'a', 'b', 0x00, 'c', 'd',	/* client_name */
	};
	static const uint8_t register_nul[] = {
		0x08, 0x02,			/* id 2 */
		0x22, 0x11,			/* register_namespace, 17 bytes */
		0x12, 0x0f,			/* layout, 15 bytes */
		0x0a, 0x03, 'm', 0x00, 'x',	/* model_id */
		0x10, 0x02, 0x18, 0x02,		/* 2 layers, 2 kv heads */
		0x20, 0x40, 0x28, 0x02,		/* head_dim 64, fp16 */
		0x30, 0x10,			/* 16 tokens a block */
	};
	Asymcache__V1__StatsReply st;
	int fd;

	cr_assert_eq(harness_start(&h, "1M", NS_BLOCK, NULL), 0);
	fd = hc_connect(h.sock);
	recv_timeout(fd, 3000);
	cr_assert_eq(raw_error(fd, hello_nul, sizeof(hello_nul)), EINVAL,
		     "a client name with a NUL byte was accepted");
	cr_assert_eq(hc_hello(fd, "x"), 0, "the session survives the refusal");
	cr_assert_eq(hc_attach(fd, NULL, NULL, NULL), 0);
	cr_assert_eq(raw_error(fd, register_nul, sizeof(register_nul)), EINVAL,
		     "a model_id with a NUL byte was accepted");
	cr_assert_eq(hc_stats(fd, &st), 0);
	close(fd);
	cr_assert_eq(harness_stop(&h), 0);
}
