/* SPDX-License-Identifier: MIT */
/*
 * End-to-end protocol tests against the real asymcached binary on a
 * temporary socket, with raw protocol v1 packets.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "th_proto.h"

#define NS_BLOCK "16K"	/* 2 layers * 2 * 2 heads * 16 tokens * 64 * fp16 */

static struct harness h;

/*
 * The protocol's mechanics on the whole pool from one session: the quotas
 * on blocks held (50% a session by default) have their own suite.
 */
static void start_default(void)
{
	static char conf[64];
	const char *extra[] = { "-c", conf, NULL };

	snprintf(conf, sizeof(conf), "/tmp/acd-e2e-%d.conf", (int)getpid());
	cr_assert_eq(th_write_file(conf, "[limits]\nmax_blocks_per_session = 100%\n"
					 "max_blocks_per_uid = 100%\n"), 0);
	cr_assert_eq(harness_start(&h, "1M", NS_BLOCK, extra), 0,
		     "daemon did not start");
	unlink(conf);
}

static void stop_default(void)
{
	cr_expect_eq(harness_stop(&h), 0, "daemon exit status");
}

TestSuite(daemon, .init = start_default, .fini = stop_default,
	  .timeout = 60);

static void keys_of(uint8_t *keys, uint64_t seed, uint32_t first, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		hc_key(keys + 16 * i, seed, first + i);
}

Test(daemon, hello_attach_gives_sealed_memfd)
{
	uint64_t bytes = 0;
	uint32_t nblocks = 0;
	struct stat st;
	int fd, mfd = -1, seals;
	uint8_t *p;

	fd = hc_connect(h.sock);
	cr_assert_geq(fd, 0);
	cr_assert_eq(hc_hello(fd, "t-attach"), 0);
	cr_assert_eq(hc_attach(fd, &mfd, &bytes, &nblocks), 0);
	cr_assert_geq(mfd, 0, "no SCM_RIGHTS fd on the attach reply");
	cr_assert_eq(nblocks, 64);
	cr_assert_eq(bytes, 1 << 20);
	cr_assert_eq(fstat(mfd, &st), 0);
	cr_assert_eq((uint64_t)st.st_size, bytes);
	seals = fcntl(mfd, F_GET_SEALS);
	cr_assert(seals & F_SEAL_SHRINK);
	cr_assert(seals & F_SEAL_GROW);
	cr_assert(seals & F_SEAL_SEAL);
	cr_assert_eq(ftruncate(mfd, 4096), -1, "a client shrank the pool");
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	cr_assert_neq(p, MAP_FAILED);
	p[bytes - 1] = 0x5a;
	cr_assert_eq(p[bytes - 1], 0x5a);
	munmap(p, bytes);
	close(mfd);
	close(fd);
}

Test(daemon, first_request_must_be_hello)
{
	Asymcache__V1__StatsReply st;
	Response *resp = NULL;
	int fd;

	fd = hc_connect(h.sock);
	cr_assert_geq(fd, 0);
	cr_assert_eq(hc_stats(fd, &st), EPROTO);
	cr_assert_eq(hc_recv(fd, &resp, NULL), 0);
	cr_assert_null(resp, "session stayed open after a non-hello start");
	close(fd);
}

Test(daemon, wrong_protocol_version_is_refused)
{
	Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Hello hl;
	Response *resp;
	int fd;

	fd = hc_connect(h.sock);
	th_proto_hello(&req, &hl, 2, "future");
	req.id = 7;
	cr_assert_eq(hc_call(fd, &req, &resp, NULL), 0);
	cr_assert_eq(resp->body_case, ASYMCACHE__V1__RESPONSE__BODY_ERROR);
	cr_assert_eq(resp->error->code, EPROTONOSUPPORT);
	cr_assert_eq(resp->id, 7);
	hc_free(resp);
	close(fd);
}

Test(daemon, lookup_alloc_commit_lookup_release)
{
	uint8_t keys[8 * 16];
	uint32_t blocks[8], got[8], hits = 99, nseg = 0, ded = 9, rel = 0;
	Asymcache__V1__StatsReply st;
	uint32_t ns;
	int fd;

	fd = hc_session(h.sock, "t-cycle", &ns);
	cr_assert_geq(fd, 0);
	keys_of(keys, 1, 0, 8);
	cr_assert_eq(hc_lookup(fd, ns, keys, 8, got, &hits, &nseg), 0);
	cr_assert_eq(hits, 0);
	cr_assert_eq(nseg, 1);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(got[i], 0xffffffffu);
	cr_assert_eq(hc_alloc(fd, ns, 8, blocks), 0);
	cr_assert_eq(hc_stats(fd, &st), 0);
	cr_assert_eq(st.writing_blocks, 8);
	cr_assert_eq(st.session_writing, 8);
	cr_assert_eq(hc_commit_chain(fd, ns, keys, blocks, 8, 0, NULL, got,
				     &ded), 0);
	cr_assert_eq(ded, 0);
	cr_assert_arr_eq(got, blocks, sizeof(got));
	cr_assert_eq(hc_lookup(fd, ns, keys, 8, got, &hits, &nseg), 0);
	cr_assert_eq(hits, 8);
	cr_assert_eq(nseg, 1);
	cr_assert_arr_eq(got, blocks, sizeof(got));
	cr_assert_eq(hc_stats(fd, &st), 0);
	cr_assert_eq(st.cached_blocks, 8);
	cr_assert_eq(st.pinned_blocks, 8);
	cr_assert_eq(st.session_pins, 16, "commit pin + lookup pin");
	cr_assert_eq(st.writing_blocks, 0);
	/* Each block twice: the commit pin and the lookup pin. */
	cr_assert_eq(hc_release(fd, blocks, 8, &rel), 0);
	cr_assert_eq(hc_release(fd, blocks, 8, &rel), 0);
	cr_assert_eq(rel, 8);
	cr_assert_eq(hc_stats(fd, &st), 0);
	cr_assert_eq(st.pinned_blocks, 0);
	cr_assert_eq(st.session_pins, 0);
	cr_assert_eq(st.cached_blocks, 8);
	cr_assert_eq(hc_release(fd, blocks, 1, &rel), EPERM,
		     "released a pin it did not hold");
	close(fd);
}

Test(daemon, segment_map_has_holes)
{
	uint8_t keys[6 * 16];
	uint32_t b[2], got[6], hits, nseg;
	uint32_t ns;
	int fd;

	fd = hc_session(h.sock, "t-holes", &ns);
	keys_of(keys, 2, 0, 6);
	cr_assert_eq(hc_alloc(fd, ns, 2, b), 0);
	cr_assert_eq(hc_commit_chain(fd, ns, keys, b, 2, 0, NULL, NULL, NULL), 0);
	cr_assert_eq(hc_alloc(fd, ns, 2, b), 0);
	cr_assert_eq(hc_commit_chain(fd, ns, keys + 3 * 16, b, 2, 3,
				     keys + 2 * 16, NULL, NULL), 0);
	cr_assert_eq(hc_lookup(fd, ns, keys, 6, got, &hits, &nseg), 0);
	cr_assert_eq(hits, 4);
	cr_assert_eq(nseg, 4, "hit,hole,hit,hole");
	cr_assert_eq(got[2], 0xffffffffu);
	cr_assert_eq(got[5], 0xffffffffu);
	cr_assert_neq(got[3], 0xffffffffu);
	close(fd);
}

Test(daemon, commit_dedups_across_sessions)
{
	uint8_t key[16];
	uint32_t ba, bb, got = 0, ded = 0, nsa, nsb;
	Asymcache__V1__StatsReply st;
	int a, b;

	a = hc_session(h.sock, "t-a", &nsa);
	b = hc_session(h.sock, "t-b", &nsb);
	cr_assert_eq(nsa, nsb, "identical layouts share a namespace");
	hc_key(key, 3, 0);
	cr_assert_eq(hc_alloc(a, nsa, 1, &ba), 0);
	cr_assert_eq(hc_alloc(b, nsb, 1, &bb), 0);
	cr_assert_neq(ba, bb);
	cr_assert_eq(hc_commit_chain(a, nsa, key, &ba, 1, 0, NULL, &got, &ded), 0);
	cr_assert_eq(got, ba);
	cr_assert_eq(hc_commit_chain(b, nsb, key, &bb, 1, 0, NULL, &got, &ded), 0);
	cr_assert_eq(got, ba, "dedup must answer the existing block");
	cr_assert_eq(ded, 1);
	cr_assert_eq(hc_stats(b, &st), 0);
	cr_assert_eq(st.writing_blocks, 0, "the duplicate went back to FREE");
	cr_assert_eq(st.cached_blocks, 1);
	cr_assert_eq(st.session_pins, 1);
	cr_assert_eq(st.dedups, 1);
	close(a);
	close(b);
}

Test(daemon, commit_validates_before_any_effect)
{
	uint8_t keys[2 * 16];
	uint32_t mine[2], theirs, nsa, nsb, pair[2];
	Asymcache__V1__StatsReply st;
	int a, b;

	a = hc_session(h.sock, "t-val-a", &nsa);
	b = hc_session(h.sock, "t-val-b", &nsb);
	keys_of(keys, 4, 0, 2);
	cr_assert_eq(hc_alloc(a, nsa, 2, mine), 0);
	cr_assert_eq(hc_alloc(b, nsb, 1, &theirs), 0);
	/* Second entry is another session's WRITING block. */
	pair[0] = mine[0];
	pair[1] = theirs;
	cr_assert_eq(hc_commit_chain(a, nsa, keys, pair, 2, 0, NULL, NULL,
				     NULL), EPERM);
	/* The same block twice. */
	pair[1] = mine[0];
	cr_assert_eq(hc_commit_chain(a, nsa, keys, pair, 2, 0, NULL, NULL,
				     NULL), EINVAL);
	/* Out of range. */
	pair[1] = 1000000;
	cr_assert_eq(hc_commit_chain(a, nsa, keys, pair, 2, 0, NULL, NULL,
				     NULL), EINVAL);
	cr_assert_eq(hc_stats(a, &st), 0);
	cr_assert_eq(st.cached_blocks, 0, "a refused commit published a block");
	cr_assert_eq(st.session_writing, 2);
	cr_assert_eq(st.writing_blocks, 3);
	/* Releasing the other session's WRITING block is refused too. */
	cr_assert_eq(hc_release(a, &theirs, 1, NULL), EPERM);
	cr_assert_eq(hc_commit_chain(a, nsa, keys, mine, 2, 0, NULL, NULL,
				     NULL), 0);
	close(a);
	close(b);
}

Test(daemon, closed_session_releases_everything)
{
	uint8_t keys[4 * 16];
	uint32_t b[6], ns, ns2;
	Asymcache__V1__StatsReply st;
	int a, obs;

	obs = hc_session(h.sock, "t-observer", &ns2);
	a = hc_session(h.sock, "t-dying", &ns);
	keys_of(keys, 5, 0, 4);
	cr_assert_eq(hc_alloc(a, ns, 6, b), 0);
	cr_assert_eq(hc_commit_chain(a, ns, keys, b, 4, 0, NULL, NULL, NULL), 0);
	cr_assert_eq(hc_stats(obs, &st), 0);
	cr_assert_eq(st.pinned_blocks, 4);
	cr_assert_eq(st.writing_blocks, 2);
	cr_assert_eq(st.sessions, 2);
	close(a);
	cr_assert_eq(hc_stats_when_sessions(obs, 1, &st), 0);
	cr_assert_eq(st.sessions, 1);
	cr_assert_eq(st.pinned_blocks, 0, "pins survived their session");
	cr_assert_eq(st.writing_blocks, 0, "WRITING survived its owner");
	cr_assert_eq(st.cached_blocks, 4, "committed blocks stay cached");
	cr_assert_eq(st.free_blocks, 60);
	close(obs);
}

Test(daemon, alloc_is_all_or_nothing_and_evicts_unpinned_only)
{
	uint8_t keys[64 * 16];
	uint32_t b[64], pinned[8], got[64], ns, hits, i;
	Asymcache__V1__StatsReply st;
	int fd;

	fd = hc_session(h.sock, "t-evict", &ns);
	keys_of(keys, 6, 0, 64);
	cr_assert_eq(hc_alloc(fd, ns, 64, b), 0);
	cr_assert_eq(hc_alloc(fd, ns, 1, got), ENOSPC);
	cr_assert_eq(hc_commit_chain(fd, ns, keys, b, 64, 0, NULL, NULL,
				     NULL), 0);
	/* Keep the first 8 pinned, release the other 56. */
	memcpy(pinned, b, sizeof(pinned));
	cr_assert_eq(hc_release(fd, b + 8, 56, NULL), 0);
	cr_assert_eq(hc_alloc(fd, ns, 57, got), ENOSPC,
		     "only 56 blocks are evictable");
	cr_assert_eq(hc_stats(fd, &st), 0);
	cr_assert_eq(st.cached_blocks, 64, "a refused alloc evicted blocks");
	cr_assert_eq(st.evictions, 0);
	cr_assert_eq(hc_alloc(fd, ns, 20, got), 0);
	for (i = 0; i < 20; i++)
		for (int j = 0; j < 8; j++)
			cr_assert_neq(got[i], pinned[j], "a pinned block was reused");
	cr_assert_eq(hc_stats(fd, &st), 0);
	cr_assert_eq(st.evictions, 20);
	cr_assert_eq(st.cached_blocks, 44);
	cr_assert_eq(hc_lookup(fd, ns, keys, 8, NULL, &hits, NULL), 0);
	cr_assert_eq(hits, 8, "pinned blocks must stay resident");
	close(fd);
}

Test(daemon, bad_fields_get_errors_and_change_nothing)
{
	uint8_t keys[32];
	uint32_t ns, b;
	Asymcache__V1__StatsReply st;
	int fd;

	memset(keys, 0, sizeof(keys));
	fd = hc_session(h.sock, "t-bad", &ns);
	cr_assert_eq(hc_lookup(fd, ns + 100, keys, 1, NULL, NULL, NULL), ENOENT);
	cr_assert_eq(hc_alloc(fd, ns, 0, &b), EINVAL);
	cr_assert_eq(hc_register(fd, "m", 1, 1, 64, 1, 3, NULL), EINVAL,
		     "block_tokens 3 is not a power of two");
	cr_assert_eq(hc_register(fd, "m", 1, 1, 64, 9, 16, NULL), EINVAL);
	cr_assert_eq(hc_register(fd, "m", 0, 1, 64, 1, 16, NULL), ERANGE);
	cr_assert_eq(hc_register(fd, "m", 64, 8, 128, 1, 16, NULL), E2BIG);
	cr_assert_eq(hc_register(fd, "", 1, 1, 64, 1, 16, NULL), EINVAL);
	{
		uint8_t *many = calloc(8193, 16);

		cr_assert_eq(hc_lookup(fd, ns, many, 8193, NULL, NULL, NULL),
			     E2BIG, "max_keys_per_lookup is 8192");
		free(many);
	}
	cr_assert_eq(hc_alloc(fd, ns, 65537, &b), EINVAL,
		     "count above max_writing_per_session");
	cr_assert_eq(hc_stats(fd, &st), 0);
	cr_assert_eq(st.free_blocks, 64);
	close(fd);
}

Test(daemon, unparsable_packet_closes_only_that_session)
{
	static const uint8_t junk[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f,
					0x12, 0x34 };
	uint8_t key[16];
	uint32_t ns, b, hits;
	Response *resp = NULL;
	Asymcache__V1__StatsReply st;
	int good, bad;

	good = hc_session(h.sock, "t-good", &ns);
	bad = hc_session(h.sock, "t-bad", &ns);
	hc_key(key, 7, 0);
	cr_assert_eq(hc_alloc(good, ns, 1, &b), 0);
	cr_assert_eq(hc_commit_chain(good, ns, key, &b, 1, 0, NULL, NULL, NULL), 0);
	cr_assert_eq(th_send(bad, junk, sizeof(junk)), 0);
	cr_assert_eq(hc_recv(bad, &resp, NULL), 0);
	cr_assert_null(resp, "an unparsable packet must close the session");
	cr_assert_eq(hc_lookup(good, ns, key, 1, NULL, &hits, NULL), 0);
	cr_assert_eq(hits, 1);
	cr_assert_eq(hc_stats(good, &st), 0);
	cr_assert_eq(st.session_pins, 2);
	close(bad);
	close(good);
}

Test(daemon, oversized_packet_gets_emsgsize)
{
	uint8_t *big = calloc(1, (2 << 20));
	Response *resp = NULL;
	Asymcache__V1__StatsReply st;
	uint32_t ns;
	int fd, sz = 4 << 20;

	fd = hc_session(h.sock, "t-big", &ns);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
	cr_assert_eq(th_send(fd, big, (2 << 20)), 0);
	cr_assert_eq(hc_recv(fd, &resp, NULL), 0);
	cr_assert_not_null(resp);
	cr_assert_eq(resp->body_case, ASYMCACHE__V1__RESPONSE__BODY_ERROR);
	cr_assert_eq(resp->error->code, EMSGSIZE);
	hc_free(resp);
	cr_assert_eq(hc_stats(fd, &st), 0, "the session survives");
	free(big);
	close(fd);
}

Test(daemon, second_daemon_does_not_steal_a_live_socket)
{
	char cmd[512];
	int r;

	snprintf(cmd, sizeof(cmd),
		 "%s -c /dev/null --socket %s --backend host --group '' "
		 "--pool-bytes 1M --block-bytes 16K 2>/dev/null",
		 harness_daemon_path(), h.sock);
	r = system(cmd);
	cr_assert(WIFEXITED(r) && WEXITSTATUS(r) == 1);
	cr_assert_eq(access(h.sock, F_OK), 0, "the live socket was removed");
	r = hc_connect(h.sock);
	cr_assert_geq(r, 0);
	close(r);
}

Test(daemon, socket_mode_is_0660)
{
	struct stat st;

	cr_assert_eq(stat(h.sock, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 0777, 0660);
}

/* Suites that need their own daemon configuration. */
TestSuite(daemon_solo, .timeout = 60);

Test(daemon_solo, stale_socket_is_replaced_and_sigterm_exits_0)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/acd-stale-XXXXXX", sock[100], cmd[256];
	const char *extra[] = { "--socket", sock, NULL };
	int fd;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/s.sock", dir);
	/* A socket file nobody listens on, as a crashed daemon leaves it. */
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	cr_assert_eq(harness_start(&h, "1M", NS_BLOCK, extra), 0);
	fd = hc_connect(sock);
	cr_assert_geq(fd, 0, "the stale socket was not replaced");
	cr_assert_eq(hc_hello(fd, "t-stale"), 0);
	close(fd);
	cr_assert_str_eq(h.sock, sock);
	cr_assert_eq(harness_stop(&h), 0, "SIGTERM must exit 0");
	cr_assert_neq(access(sock, F_OK), 0, "socket left behind");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

Test(daemon_solo, sigterm_answers_in_flight_and_releases)
{
	uint32_t ns, b[4];
	int fd, st;

	cr_assert_eq(harness_start(&h, "1M", NS_BLOCK, NULL), 0);
	fd = hc_session(h.sock, "t-term", &ns);
	cr_assert_eq(hc_alloc(fd, ns, 4, b), 0);
	st = harness_stop(&h);
	cr_assert_eq(st, 0);
	close(fd);
}

Test(daemon_solo, bad_config_refuses_to_start)
{
	char cmd[512];
	int r;

	snprintf(cmd, sizeof(cmd),
		 "%s -c /dev/null --socket /tmp/never.sock --backend host "
		 "--group '' --pool-bytes 1M --block-bytes 1000 2>&1 | "
		 "grep -q -- '--block-bytes: \\[pool\\] block_bytes: 1000 is not a multiple of 256'",
		 harness_daemon_path());
	r = system(cmd);
	cr_assert(WIFEXITED(r) && WEXITSTATUS(r) == 0,
		  "missing or wrong error message");
	snprintf(cmd, sizeof(cmd),
		 "%s -c /dev/null --socket /tmp/never.sock --pool-bytes 1Q "
		 "2>/dev/null", harness_daemon_path());
	r = system(cmd);
	cr_assert(WIFEXITED(r) && WEXITSTATUS(r) == 1);
}

Test(daemon_solo, peer_outside_the_group_is_refused)
{
	char conf[128];
	const char *extra[] = { "-c", conf, NULL };
	Response *resp = NULL;
	pid_t pid;
	int st, fd;

	if (geteuid() != 0)
		cr_skip_test("needs root to run a peer as nobody");
	snprintf(conf, sizeof(conf), "/tmp/acd-conf-%d.conf", (int)getpid());
	cr_assert_eq(th_write_file(conf, "[daemon]\nsocket_mode = 0666\n"), 0);
	cr_assert_eq(harness_start(&h, "1M", NS_BLOCK, extra), 0);
	cr_assert_eq(chmod(h.dir, 0755), 0);
	pid = fork();
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(10);
		fd = hc_connect(h.sock);
		if (fd < 0)
			_exit(11);
		/* Refused at accept: Error{EACCES} (id 0), then EOF. */
		if (hc_recv(fd, &resp, NULL) != 0 || !resp ||
		    resp->body_case != ASYMCACHE__V1__RESPONSE__BODY_ERROR ||
		    resp->error->code != EACCES)
			_exit(12);
		hc_free(resp);
		if (hc_recv(fd, &resp, NULL) != 0 || resp)
			_exit(13);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st));
	cr_assert_eq(WEXITSTATUS(st), 0, "child step %d failed",
		     WEXITSTATUS(st));
	unlink(conf);
	cr_assert_eq(harness_stop(&h), 0);
}

/*
 * A supervisor that never reads its notify socket must not freeze the
 * daemon: the receive queue holds 10 datagrams, each SIGHUP sends three.
 */
Test(daemon_solo, unread_notify_socket_never_blocks_the_loop)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[64];
	int nfd, fd, i;

	snprintf(path, sizeof(path), "/tmp/acd-notify-%d", (int)getpid());
	unlink(path);
	nfd = socket(AF_UNIX, SOCK_DGRAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cr_assert_eq(bind(nfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setenv("NOTIFY_SOCKET", path, 1);
	cr_assert_eq(harness_start(&h, "1M", NS_BLOCK, NULL), 0);
	unsetenv("NOTIFY_SOCKET");
	for (i = 0; i < 12; i++) {
		kill(h.pid, SIGHUP);
		usleep(20 * 1000);
	}
	fd = hc_connect(h.sock);
	cr_assert_geq(fd, 0);
	cr_assert_eq(hc_hello(fd, "t-notify"), 0, "the loop froze");
	close(fd);
	cr_assert_eq(harness_stop(&h), 0);
	close(nfd);
	unlink(path);
}

Test(daemon_solo, max_sessions_and_sighup_reload)
{
	char conf[64];
	const char *extra[] = { "-c", conf, NULL };
	Asymcache__V1__StatsReply st;
	Response *resp = NULL;
	int a, b, c, i;

	snprintf(conf, sizeof(conf), "/tmp/acd-hup-%d.conf", (int)getpid());
	cr_assert_eq(th_write_file(conf, "[limits]\nmax_sessions = 2\n"
				 "[policy]\nname = lru\n"), 0);
	cr_assert_eq(harness_start(&h, "1M", NS_BLOCK, extra), 0);
	a = hc_connect(h.sock);
	b = hc_connect(h.sock);
	cr_assert_eq(hc_hello(a, "t-a"), 0);
	cr_assert_eq(hc_hello(b, "t-b"), 0);
	c = hc_connect(h.sock);
	cr_assert_geq(c, 0);
	/* The third is refused at accept: Error{EUSERS} (id 0), then EOF. */
	cr_assert_eq(hc_recv(c, &resp, NULL), 0);
	cr_assert_not_null(resp, "max_sessions 2 admitted a third session");
	cr_assert_eq(resp->body_case, ASYMCACHE__V1__RESPONSE__BODY_ERROR);
	cr_assert_eq(resp->error->code, EUSERS);
	hc_free(resp);
	cr_assert_eq(hc_recv(c, &resp, NULL), 0);
	cr_assert_null(resp, "the refused peer stays open");
	close(c);
	cr_assert_eq(hc_stats(a, &st), 0);
	cr_assert_eq(st.sessions, 2);

	cr_assert_eq(th_write_file(conf, "[limits]\nmax_sessions = 2\n"
				 "[policy]\nname = pensieve\n"), 0);
	kill(h.pid, SIGHUP);
	for (i = 0; i < 200; i++) {
		Request req = ASYMCACHE__V1__REQUEST__INIT;
		Asymcache__V1__Stats s0 = ASYMCACHE__V1__STATS__INIT;
		bool done;

		req.id = 5000 + i;
		req.body_case = ASYMCACHE__V1__REQUEST__BODY_STATS;
		req.stats = &s0;
		cr_assert_eq(hc_call(a, &req, &resp, NULL), 0);
		done = strcmp(resp->stats->policy, "pensieve") == 0;
		hc_free(resp);
		if (done)
			break;
		usleep(10 * 1000);
	}
	cr_assert_lt(i, 200, "SIGHUP did not switch the policy");
	/* A bad file on reload keeps the running configuration. */
	cr_assert_eq(th_write_file(conf, "[policy]\nname = nope\n"), 0);
	kill(h.pid, SIGHUP);
	usleep(100 * 1000);
	cr_assert_eq(hc_stats(b, &st), 0, "a bad reload took the daemon down");
	close(a);
	close(b);
	cr_assert_eq(harness_stop(&h), 0);
	unlink(conf);
}

/* A request already sent when SIGTERM arrives is still answered. */
Test(daemon_solo, request_racing_sigterm_is_answered)
{
	Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Stats st = ASYMCACHE__V1__STATS__INIT;
	uint8_t buf[64];
	Response *resp;
	size_t n;
	int i, fd, r, answered = 0;

	req.body_case = ASYMCACHE__V1__REQUEST__BODY_STATS;
	req.stats = &st;
	for (i = 0; i < 8; i++) {
		cr_assert_eq(harness_start(&h, "1M", NS_BLOCK, NULL), 0);
		fd = hc_connect(h.sock);
		cr_assert_eq(hc_hello(fd, "t-race"), 0);
		req.id = 100 + i;
		n = asymcache__v1__request__pack(&req, buf);
		/* Signal first, request right after: both race the loop. */
		kill(h.pid, SIGTERM);
		r = th_send(fd, buf, n);
		/*
		 * EPIPE: the daemon shut its read side before the request
		 * left, so nothing was in flight. A request that was sent
		 * must be answered, not dropped.
		 */
		if (r == 0) {
			resp = NULL;
			cr_assert_eq(hc_recv(fd, &resp, NULL), 0);
			cr_assert_not_null(resp, "a sent request was dropped");
			cr_assert_eq(resp->id, 100 + i);
			cr_assert_eq(resp->body_case,
				     ASYMCACHE__V1__RESPONSE__BODY_STATS);
			hc_free(resp);
			answered++;
		} else {
			cr_assert_eq(r, -EPIPE);
		}
		close(fd);
		cr_assert_eq(harness_stop(&h), 0);
	}
	cr_log_info("%d of 8 racing requests were sent and answered", answered);
}
