/* SPDX-License-Identifier: MIT */
/*
 * asymcachectl against the real daemon on a private bus: every command's
 * tables and JSON are checked against what the daemon itself reports to a
 * client (Stats over the control socket) after known lookups, commits and
 * evictions.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <systemd/sd-bus.h>

#include "harness.h"
#include "th_cost.h"
#include "prom.h"

static struct henv env;

static void teardown(void)
{
	henv_stop(&env);
}

TestSuite(admin, .fini = teardown, .timeout = 120);

/* An integer a test expects at @path (dotted, as hjson_u64() reads it). */
struct jfield {
	const char *path;
	uint64_t want;
};

/* A list of { path, value } pairs, and asymcachectl's words, in place. */
#define FIELDS(...)	((const struct jfield[]){ __VA_ARGS__, { NULL, 0 } })
#define ARGV(...)	((char *const[]){ __VA_ARGS__, NULL })

/* Expects each field of @f (ending with a NULL path) in @j, in order. */
static void expect_fields(struct json_object *j, const struct jfield *f)
{
	for (; f->path; f++) {
		uint64_t got = hjson_u64(j, f->path);

		cr_expect_eq(got, f->want, "%s: %" PRIu64 ", expected %" PRIu64,
			     f->path, got, f->want);
	}
}

#define EXPECT_FIELDS(j, ...)	expect_fields((j), FIELDS(__VA_ARGS__))

/* The JSON asymcachectl @argv prints as @uid; fails the test unless it exits 0. */
static struct json_object *ctl_jsonv(uid_t uid, char *const argv[])
{
	char *out = NULL, *err = NULL;
	struct json_object *o;
	int rc;

	rc = run_ctlv(&env, uid, argv, &out, &err);
	cr_assert_eq(rc, 0, "asymcachectl %s failed (%d): %s", argv[0], rc, err);
	o = hjson(out);
	free(out);
	free(err);
	return o;
}

#define ctl_json(uid, ...)	ctl_jsonv((uid), ARGV(__VA_ARGS__))

/* Runs asymcachectl @argv as @uid and expects the fields @f in its JSON. */
static void expect_ctl_fields(uid_t uid, char *const argv[],
			      const struct jfield *f)
{
	struct json_object *j = ctl_jsonv(uid, argv);

	expect_fields(j, f);
	json_object_put(j);
}

/* The string member @key of @j (NULL when there is none). */
static const char *jstr(struct json_object *j, const char *key)
{
	return json_object_get_string(json_object_object_get(j, key));
}

/* Runs asymcachectl @argv as root and expects the string @key of its JSON. */
static void expect_ctl_str(char *const argv[], const char *key,
			   const char *want)
{
	struct json_object *j = ctl_jsonv(0, argv);

	cr_expect_str_eq(jstr(j, key), want);
	json_object_put(j);
}

/* asymcachectl @argv, as root against @e, must exit @status saying @needle. */
static void expect_ctl_error(const struct henv *e, char *const argv[],
			     int status, const char *needle)
{
	char *err = NULL;
	int rc = run_ctlv(e, 0, argv, NULL, &err);

	cr_expect_eq(rc, status, "%s", err);
	cr_expect(strstr(err, needle), "%s", err);
	free(err);
}

/* The first line of @text that starts with @label, or fail. */
static const char *line_of(const char *text, const char *label)
{
	const char *p = text;
	size_t n = strlen(label);

	while (p && *p) {
		if (strncmp(p, label, n) == 0)
			return p;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	cr_assert_fail("no line starting with '%s' in:\n%s", label, text);
	return NULL;
}

static struct json_object *find_by(struct json_object *arr, const char *key, const char *val)
{
	size_t i;

	for (i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i), *v;

		if (json_object_object_get_ex(o, key, &v) &&
		    strcmp(json_object_get_string(v), val) == 0)
			return o;
	}
	cr_assert_fail("no entry with %s=%s", key, val);
	return NULL;
}

Test(admin, every_view_matches_the_daemon_state)
{
	struct hclient a, b;
	struct ac_key keys[8];
	uint32_t blocks[8], found[8], wr[3];
	struct ac_segment seg[8];
	struct ac_lookup_result res = { .blocks = found, .segments = seg, .max_segments = 8 };
	struct ac_stats s;
	struct json_object *j, *sess, *ns;
	char *out = NULL;
	unsigned long id;
	unsigned int pins, writing, cached, n;
	int pid, rc;
	char user[32], client[64];

	henv_start(&env, NULL);
	hclient_open(&env, "worker-a", &a);
	hclient_open(&env, "worker-b", &b);
	/* a publishes 6 blocks and keeps 4 pinned. */
	hkeys(&a, 1, 8, keys);
	hpublish(&a, keys, 6, blocks);
	cr_assert_eq(ac_release(a.c, blocks, 2, NULL), 0);
	/* b finds the 6 and misses 2, then holds 3 blocks in WRITING. */
	cr_assert_eq(ac_lookup(b.c, b.ns, keys, 8, &res), 0);
	cr_assert_eq(res.hits, 6);
	cr_assert_eq(ac_alloc(b.c, b.ns, 3, wr), 0);
	hstats(&b, &s);
	cr_assert_eq(s.cached_blocks, 6);
	cr_assert_eq(s.writing_blocks, 3);
	cr_assert_eq(s.pinned_blocks, 6);

	j = ctl_json(0, "--json", "status");
	EXPECT_FIELDS(j,
		{ "blocks.total", s.nblocks },
		{ "blocks.free", s.free_blocks },
		{ "blocks.writing", s.writing_blocks },
		{ "blocks.cached", s.cached_blocks },
		{ "blocks.pinned", s.pinned_blocks },
		{ "lookups", s.lookups },
		{ "lookup_keys", s.lookup_keys },
		{ "lookup_hits", s.lookup_hits },
		{ "commits", s.commits },
		{ "sessions", 2 },
		{ "namespaces", 1 },
		/* 2 misses of 16-token blocks. */
		{ "recomputed_tokens", 2 * H_BLOCK_TOKENS });
	cr_expect_str_eq(jstr(j, "policy"), "asym");
	cr_expect_eq(hjson_u64(json_object_array_get_idx(json_object_object_get(j, "pools"), 0),
			       "nblocks"), s.nblocks);
	json_object_put(j);

	/* Human status: aligned table with units. */
	rc = run_ctl(&env, 0, &out, NULL, "status", NULL);
	cr_assert_eq(rc, 0);
	cr_expect(strstr(out, "Policy:     asym"), "%s", out);
	cr_expect(strstr(out, "Hit rate:   75.0 % (6 of 8 keys)"), "%s", out);
	cr_expect(strstr(out, "4.00 MiB"), "pool size in MiB: %s", out);
	cr_assert_eq(sscanf(line_of(out, "cached "), "cached %u", &cached), 1);
	cr_expect_eq(cached, s.cached_blocks);
	cr_assert_eq(sscanf(line_of(out, "writing "), "writing %u", &n), 1);
	cr_expect_eq(n, s.writing_blocks);
	cr_expect(strstr(line_of(out, "cached "), "384 KiB"), "6 x 64 KiB: %s", out);
	free(out);

	/* stats table */
	rc = run_ctl(&env, 0, &out, NULL, "stats", NULL);
	cr_assert_eq(rc, 0);
	cr_assert_eq(sscanf(line_of(out, "lookup hits"), "lookup hits %u", &n), 1);
	cr_expect_eq(n, 6);
	cr_expect(strstr(line_of(out, "hit rate"), "75.0 %"), "%s", out);
	free(out);

	/* sessions: pins and WRITING blocks per client. */
	sess = ctl_json(0, "sessions", "--json");
	cr_assert_eq(json_object_array_length(sess), 2);
	j = find_by(sess, "client", "worker-a");
	EXPECT_FIELDS(j,
		{ "pins", 4 },
		{ "writing", 0 },
		{ "pid", (uint64_t)getpid() },
		{ "uid", 0 },
		{ "id", ac_client_session_id(a.c) });
	j = find_by(sess, "client", "worker-b");
	EXPECT_FIELDS(j,
		{ "pins", 6 },
		{ "writing", 3 });
	json_object_put(sess);
	rc = run_ctl(&env, 0, &out, NULL, "sessions", NULL);
	cr_assert_eq(rc, 0);
	line_of(out, "ID");
	{
		const char *l = strstr(out, "worker-b");

		cr_assert(l, "%s", out);
		while (l > out && l[-1] != '\n')
			l--;
		cr_assert_eq(sscanf(l, "%lu %d %31s %u %u %u %63s", &id, &pid, user, &pins,
				    &writing, &n, client), 7, "%s", l);
		cr_expect_eq(n, 0, "worker-b retains nothing: %s", l);
		cr_expect_eq(id, ac_client_session_id(b.c));
		cr_expect_eq(pid, getpid());
		cr_expect_str_eq(user, "root");
		cr_expect_eq(pins, 6);
		cr_expect_eq(writing, 3);
	}
	cr_expect(strstr(out, "2 sessions."), "%s", out);
	free(out);

	/* namespaces */
	ns = ctl_json(0, "namespaces", "--json");
	cr_assert_eq(json_object_array_length(ns), 1);
	j = json_object_array_get_idx(ns, 0);
	cr_expect_str_eq(jstr(j, "model"), "test-llama");
	cr_expect_str_eq(jstr(j, "dtype"), "fp16");
	EXPECT_FIELDS(j,
		{ "id", a.ns },
		{ "layers", 2 },
		{ "kv_heads", 2 },
		{ "head_dim", 64 },
		{ "block_tokens", H_BLOCK_TOKENS },
		/* 2 layers x K,V x 2 heads x 16 tokens x 64 dims x 2 bytes */
		{ "bytes_per_block", 2 * 2 * 2 * 16 * 64 * 2 },
		{ "cached_blocks", 6 },
		{ "pinned_blocks", 6 });
	json_object_put(ns);
	rc = run_ctl(&env, 0, &out, NULL, "namespaces", NULL);
	cr_assert_eq(rc, 0);
	cr_expect(strstr(out, "test-llama"), "%s", out);
	cr_expect(strstr(out, "96.0 KiB"), "6 x 16 KiB cached: %s", out);
	free(out);

	hclient_close(&b);
	hclient_close(&a);
}

Test(admin, evict_and_flush_spare_pinned_blocks)
{
	struct hclient a, b;
	struct ac_key ka[8], kb[4];
	uint32_t ba[8], bb[4], found[4];
	struct ac_segment seg[4];
	struct ac_lookup_result res = { .blocks = found, .segments = seg, .max_segments = 4 };
	struct ac_stats s;
	struct json_object *j;
	char nsid[16];

	henv_start(&env, NULL);
	hclient_open(&env, "loader", &a);
	hclient_open(&env, "holder", &b);
	hpublish_prompt(&a, 10, 8, ka, ba);
	cr_assert_eq(ac_release(a.c, ba, 8, NULL), 0);
	hpublish_prompt(&b, 20, 4, kb, bb);

	expect_ctl_fields(0, ARGV("evict", "--json", "3"),
			  FIELDS({ "requested", 3 }, { "evicted", 3 }));
	hstats(&a, &s);
	cr_expect_eq(s.cached_blocks, 9);
	cr_expect_eq(s.evictions, 3);

	/* By model id: the one namespace; pinned blocks stay. */
	expect_ctl_fields(0, ARGV("--json", "flush", "test-llama"),
			  FIELDS({ "namespace", a.ns }, { "evicted", 5 },
				 { "pinned_kept", 4 }));
	hstats(&a, &s);
	cr_expect_eq(s.cached_blocks, 4);
	cr_expect_eq(s.pinned_blocks, 4);

	/* Nothing unpinned is left: evict finds nothing, the holder keeps all. */
	expect_ctl_fields(0, ARGV("--json", "evict", "100"),
			  FIELDS({ "evicted", 0 }));
	cr_assert_eq(ac_lookup(b.c, b.ns, kb, 4, &res), 0);
	cr_expect_eq(res.hits, 4);
	cr_expect_arr_eq(found, bb, sizeof(bb));

	/* Human output of the same commands. */
	snprintf(nsid, sizeof(nsid), "%u", a.ns);
	{
		char *out = NULL;

		cr_expect_eq(run_ctl(&env, 0, &out, NULL, "evict", "1", NULL), 0);
		cr_expect_str_eq(out, "Evicted 0 of 1 requested block.\n");
		free(out);
		cr_expect_eq(run_ctl(&env, 0, &out, NULL, "flush", nsid, NULL), 0);
		cr_expect(strstr(out, "evicted 0 blocks, kept 4 pinned."), "%s", out);
		free(out);
		cr_expect_eq(run_ctl(&env, 0, &out, NULL, "policy", NULL), 0);
		cr_expect_str_eq(out, "* asym\n  lru\n  pensieve\n");
		free(out);
		cr_expect_eq(run_ctl(&env, 0, &out, NULL, "policy", "lru", NULL), 0);
		cr_expect_str_eq(out, "Policy switched from asym to lru.\n");
		free(out);
		j = ctl_json(0, "policy", "--json", "asym");
		cr_expect_str_eq(jstr(j, "previous"), "lru");
		cr_expect_str_eq(jstr(j, "policy"), "asym");
		json_object_put(j);
		expect_ctl_fields(0, ARGV("stats", "--json"),
				  FIELDS({ "evictions", 3 }, { "flushed", 5 },
					 { "blocks.cached", 4 }));
	}

	/* Documented exit codes. */
	expect_ctl_error(&env, ARGV("flush", "999"), 5, "No namespace with id 999");
	cr_expect_eq(run_ctl(&env, 0, NULL, NULL, "flush", "no-such-model", NULL), 5);
	cr_expect_eq(run_ctl(&env, 0, NULL, NULL, "evict", "abc", NULL), 2);
	cr_expect_eq(run_ctl(&env, 0, NULL, NULL, "evict", "0", NULL), 2);
	cr_expect_eq(run_ctl(&env, 0, NULL, NULL, "evict", "-3", NULL), 2);
	cr_expect_eq(run_ctl(&env, 0, NULL, NULL, "evict", "99999999999", NULL), 2);
	cr_expect_eq(run_ctl(&env, 0, NULL, NULL, "evict", NULL), 2);
	cr_expect_eq(run_ctl(&env, 0, NULL, NULL, "policy", "no-such-policy", NULL), 5);
	cr_expect_eq(run_ctl(&env, 0, NULL, NULL, "status", "extra", NULL), 2);
	cr_expect_eq(run_ctl(&env, 0, NULL, NULL, "frobnicate", NULL), 2);
	cr_expect_eq(run_ctl(&env, 0, NULL, NULL, "stats", "--json", "--prometheus", NULL), 2);
	/* None of that changed anything. */
	hstats(&a, &s);
	cr_expect_eq(s.cached_blocks, 4);
	cr_expect_str_eq(s.policy, "asym");

	hclient_close(&b);
	hclient_close(&a);
}

static void refused_as_nobody(const char *expect_in_err)
{
	static const char *const mutating[][3] = {
		{ "policy", "lru", NULL },
		{ "evict", "1", NULL },
		{ "flush", "1", NULL },
		{ "unregister", "1", NULL },
		{ "reload", NULL, NULL },
	};
	struct hclient a;
	struct ac_key k[4];
	uint32_t blk[4];
	struct ac_stats s;
	struct json_object *j;
	size_t i;

	hclient_open(&env, "victim", &a);
	hpublish_prompt(&a, 5, 4, k, blk);
	cr_assert_eq(ac_release(a.c, blk, 4, NULL), 0);

	/*
	 * Reading is open to everyone, but the lists show others' sessions
	 * and namespaces to admins only (they gave pids, uids and names).
	 */
	expect_ctl_fields(H_NOBODY, ARGV("--json", "status"),
			  FIELDS({ "blocks.cached", 4 }));
	j = ctl_json(H_NOBODY, "--json", "sessions");
	cr_expect_eq(json_object_array_length(j), 0, "nobody saw root's session");
	json_object_put(j);
	j = ctl_json(H_NOBODY, "--json", "namespaces");
	cr_expect_eq(json_object_array_length(j), 0, "nobody saw root's namespace");
	json_object_put(j);
	j = ctl_json(0, "--json", "sessions");
	cr_expect_eq(json_object_array_length(j), 1);
	json_object_put(j);

	for (i = 0; i < sizeof(mutating) / sizeof(mutating[0]); i++) {
		char *err = NULL;
		int rc = run_ctlv(&env, H_NOBODY, (char *const *)mutating[i], NULL, &err);

		cr_expect_eq(rc, 4, "%s as nobody: exit %d, %s", mutating[i][0], rc, err);
		cr_expect(strstr(err, expect_in_err), "%s as nobody: %s", mutating[i][0], err);
		free(err);
	}
	hstats(&a, &s);
	cr_expect_eq(s.cached_blocks, 4, "nothing was evicted");
	cr_expect_eq(s.evictions, 0);
	cr_expect_str_eq(s.policy, "asym");
	/* Root still may. */
	cr_expect_eq(run_ctl(&env, 0, NULL, NULL, "evict", "1", NULL), 0);
	hstats(&a, &s);
	cr_expect_eq(s.cached_blocks, 3);
	hclient_close(&a);
}

Test(admin, nobody_is_refused_by_the_shipped_bus_policy)
{
	henv_start(&env, NULL);
	/* dbus-daemon refuses before the daemon sees the call. */
	refused_as_nobody("Rejected send message");
}

Test(admin, nobody_is_refused_by_the_daemon_itself)
{
	struct henv_opts o = { .permissive_bus = true };

	/* A bus that lets everyone through: the daemon's own check holds. */
	henv_start(&env, &o);
	refused_as_nobody("needs root or membership of group asymcache-admin");
}

/*
 * Churns the pool from another process: publishes and releases chains so
 * that allocation keeps evicting, until @ms pass. Exit 0 when every call
 * either worked or ran out of space.
 */
static void churn(const struct henv *e, int ms)
{
	struct hclient c;
	struct timespec t0, t;
	uint32_t prompt = 1000;

	hclient_open(e, "churn", &c);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct ac_key k[6];
		uint32_t blk[6], wr[6];
		struct ac_commit_entry ent[6] = { 0 };
		int r, i;

		hkeys(&c, prompt++, 6, k);
		r = ac_alloc(c.c, c.ns, 6, wr);
		if (r == -ENOSPC)
			continue;
		if (r < 0)
			_exit(1);
		for (i = 0; i < 6; i++) {
			ent[i].key = k[i];
			ent[i].block = wr[i];
			ent[i].position = (uint32_t)i;
			if (i)
				ent[i].parent = k[i - 1];
		}
		if (ac_commit(c.c, c.ns, ent, 6, blk, NULL) < 0)
			_exit(2);
		if (ac_release(c.c, blk, 6, NULL) < 0)
			_exit(3);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
	hclient_close(&c);
	_exit(0);
}

Test(admin, set_policy_under_load_keeps_every_pinned_block)
{
	static const char *const policies[] = { "lru", "pensieve", "asym" };
	struct hclient h;
	struct ac_key k[8];
	uint32_t blk[8], found[8];
	struct ac_segment seg[8];
	struct ac_lookup_result res = { .blocks = found, .segments = seg, .max_segments = 8 };
	const struct ac_pool_info *pi;
	struct ac_stats s;
	uint8_t *base;
	int i, status;
	size_t off;
	pid_t pid;

	henv_start(&env, NULL);
	hclient_open(&env, "holder", &h);
	hpublish_prompt(&h, 77, 8, k, blk);
	/* Mark the pinned blocks' bytes: a reuse would overwrite them. */
	base = ac_pool_base(h.pool);
	pi = ac_pool_info(h.pool);
	for (i = 0; i < 8; i++)
		memset(base + (size_t)blk[i] * pi->block_bytes, 0xa0 + i, pi->block_bytes);

	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0)
		churn(&env, 2500);
	for (i = 0; i < 24; i++) {
		char *err = NULL;
		int rc = run_ctl(&env, 0, NULL, &err, "policy", (char *)policies[i % 3], NULL);

		cr_expect_eq(rc, 0, "policy %s: %s", policies[i % 3], err);
		free(err);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "churn failed: %d", status);

	hstats(&h, &s);
	cr_expect_gt(s.evictions, 0, "the load never evicted: the test proves nothing");
	cr_expect_str_eq(s.policy, "asym");
	cr_assert_eq(ac_lookup(h.c, h.ns, k, 8, &res), 0);
	cr_expect_eq(res.hits, 8);
	cr_expect_arr_eq(found, blk, sizeof(blk));
	for (i = 0; i < 8; i++)
		for (off = 0; off < pi->block_bytes; off += 4093)
			cr_assert_eq(base[(size_t)blk[i] * pi->block_bytes + off], 0xa0 + i,
				     "pinned block %u was overwritten", blk[i]);
	hclient_close(&h);
}

/* Runs top in a pseudo-terminal; returns its output, writes @keys after the first frame. */
static char *run_top_pty(const char *const *args, const char *keys, int *ret_status)
{
	char ctl[256], *argv[12], *buf = calloc(1, 1), chunk[4096];
	size_t len = 0;
	bool sent = !keys;
	int master, n = 0;
	pid_t pid;

	snprintf(ctl, sizeof(ctl), "%s/tools/asymcachectl/asymcachectl", getenv("AC_BUILD_ROOT"));
	argv[n++] = ctl;
	while (*args && n < 11)
		argv[n++] = (char *)*args++;
	argv[n] = NULL;
	pid = forkpty(&master, NULL, NULL, NULL);
	cr_assert(pid >= 0, "forkpty: %s", strerror(errno));
	if (pid == 0) {
		setenv("AC_DBUS_ADDRESS", env.bus.addr, 1);
		setenv("TERM", "xterm", 1);
		execv(ctl, argv);
		_exit(127);
	}
	for (;;) {
		struct pollfd p = { .fd = master, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 10000) <= 0)
			break;
		r = read(master, chunk, sizeof(chunk));
		if (r <= 0)
			break;	/* EIO once the child closed the terminal */
		buf = realloc(buf, len + (size_t)r + 1);
		memcpy(buf + len, chunk, (size_t)r);
		len += (size_t)r;
		buf[len] = '\0';
		if (!sent && strstr(buf, "Press q to quit.")) {
			cr_assert_eq(write(master, keys, strlen(keys)), (ssize_t)strlen(keys));
			sent = true;
		}
	}
	close(master);
	cr_assert_eq(waitpid(pid, ret_status, 0), pid);
	return buf;
}

/*
 * A container or chroot without /dev/pts (or with no free pty) cannot give
 * top a terminal; the test is then skipped, not failed.
 */
static bool pty_available(char *why, size_t len)
{
	int master, slave;

	if (openpty(&master, &slave, NULL, NULL, NULL) < 0) {
		snprintf(why, len, "openpty: %s", strerror(errno));
		return false;
	}
	close(slave);
	close(master);
	return true;
}

/* @text parsed into @p as an exposition, and promtool's check where it is installed. */
static void prom_checked(const char *text, struct prom *p)
{
	char why[256];
	int tool;

	cr_assert_eq(prom_parse(text, p, why, sizeof(why)), 0, "%s\n%s", why, text);
	tool = prom_promtool(text, why, sizeof(why));
	cr_assert(tool == 0 || tool == -ENOENT, "promtool check metrics: %s\n%s", why, text);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle))) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

Test(admin, top_refreshes_in_a_terminal_and_quits_on_q)
{
	static const char *const frames[] = { "top", "--interval=0.2", "--iterations=3", NULL };
	static const char *const live[] = { "top", "--interval=0.3", NULL };
	struct hclient a;
	struct ac_key k[4];
	uint32_t blk[4];
	char *out, why[128];
	int status;

	if (!pty_available(why, sizeof(why)))
		cr_skip_test("no pseudo-terminal for top: %s", why);
	henv_start(&env, NULL);
	hclient_open(&env, "top-watcher", &a);
	hpublish_prompt(&a, 3, 4, k, blk);

	out = run_top_pty(frames, NULL, &status);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "top exit %d: %s", status, out);
	cr_expect_eq(count(out, "\033[H\033[2J"), 3, "three cleared frames: %s", out);
	cr_expect_eq(count(out, "asymcached 0.1.0  up "), 3, "%s", out);
	cr_expect(strstr(out, "4 cached  4 pinned"), "%s", out);
	cr_expect(strstr(out, "Rates   lookups 0.0 /s"), "rates after the first frame: %s", out);
	cr_expect(strstr(out, "top-watcher"), "session list: %s", out);
	cr_expect(strstr(out, "\033[?25h"), "cursor restored: %s", out);
	free(out);

	/* Runs until q, whatever the interval. */
	out = run_top_pty(live, "q", &status);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "top exit %d: %s", status, out);
	cr_expect_geq(count(out, "Press q to quit."), 1, "%s", out);
	free(out);
	hclient_close(&a);
}

Test(admin, top_json_without_a_terminal)
{
	struct hclient a;
	struct ac_key k[4];
	uint32_t blk[4];
	char *out, *line, *save = NULL;
	int lines = 0;

	henv_start(&env, NULL);
	hclient_open(&env, "top-watcher", &a);
	hpublish_prompt(&a, 3, 4, k, blk);

	/* --json: one object per line. */
	cr_assert_eq(run_ctl(&env, 0, &out, NULL, "top", "--json", "--interval=0.1",
			     "--iterations=2", NULL), 0);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct json_object *j = hjson(line);

		cr_expect_eq(hjson_u64(j, "blocks.cached"), 4);
		cr_expect_eq(json_object_array_length(json_object_object_get(j, "session_list")), 1);
		json_object_put(j);
		lines++;
	}
	cr_expect_eq(lines, 2);
	free(out);
	cr_expect_eq(run_ctl(&env, 0, NULL, NULL, "top", "--interval=0", NULL), 2);
	hclient_close(&a);
}

Test(admin, prometheus_text_parses_strictly_and_matches)
{
	static const struct ac_ns_layout other = {
		.model_id = "other-model",
		.kv = { .num_layers = 1, .num_kv_heads = 2, .head_dim = 64,
			.dtype = AC_DTYPE_FP16, .block_tokens = H_BLOCK_TOKENS },
	};
	struct hclient a, b = { 0 };
	struct ac_key k[6], kb[3];
	uint32_t blk[6], blkb[3], found[6];
	struct ac_segment seg[6];
	struct ac_lookup_result res = { .blocks = found, .segments = seg, .max_segments = 6 };
	struct ac_stats s;
	struct prom p;
	char *out = NULL, why[256], lab[128];
	int rc;

	henv_start(&env, NULL);
	hclient_open(&env, "scraped", &a);
	hkeys(&a, 8, 6, k);
	hpublish(&a, k, 4, blk);
	cr_assert_eq(ac_lookup(a.c, a.ns, k, 6, &res), 0);
	/* A second namespace whose blocks are the only unpinned ones. */
	cr_assert_eq(ac_connect(env.d.sock, "other", &b.c), 0);
	cr_assert_eq(ac_attach(b.c, 0, &b.pool), 0);
	cr_assert_eq(ac_register_namespace(b.c, b.pool, &other, &b.ns), 0);
	cr_assert_eq(ac_key_seed_init(&b.seed, &other, NULL, 0, AC_HASH_SHA256), 0);
	hkeys(&b, 9, 3, kb);
	hpublish(&b, kb, 3, blkb);
	cr_assert_eq(ac_release(b.c, blkb, 3, NULL), 0);
	cr_assert_eq(run_ctl(&env, 0, NULL, NULL, "evict", "2", NULL), 0);
	hstats(&a, &s);
	cr_assert_eq(s.evictions, 2);

	rc = run_ctl(&env, 0, &out, NULL, "stats", "--prometheus", NULL);
	cr_assert_eq(rc, 0);
	prom_checked(out, &p);
	cr_expect_eq(prom_value(&p, "asymcache_up", NULL), 1.0);
	cr_expect_eq(prom_value(&p, "asymcache_blocks", "pool=\"0\",state=\"cached\""), s.cached_blocks);
	cr_expect_eq(prom_value(&p, "asymcache_blocks", "pool=\"0\",state=\"free\""), s.free_blocks);
	cr_expect_eq(prom_value(&p, "asymcache_blocks", "pool=\"0\",state=\"writing\""), s.writing_blocks);
	cr_expect_eq(prom_value(&p, "asymcache_pool_blocks", "pool=\"0\""), s.nblocks);
	cr_expect_eq(prom_value(&p, "asymcache_pinned_blocks", "pool=\"0\""), s.pinned_blocks);
	cr_expect_eq(prom_value(&p, "asymcache_lookups_total", "pool=\"0\""), s.lookups);
	cr_expect_eq(prom_value(&p, "asymcache_lookup_keys_total", "pool=\"0\""), s.lookup_keys);
	cr_expect_eq(prom_value(&p, "asymcache_lookup_hits_total", "pool=\"0\""), s.lookup_hits);
	cr_expect_eq(prom_value(&p, "asymcache_evictions_total", "pool=\"0\""), s.evictions);
	cr_expect_eq(prom_value(&p, "asymcache_commits_total", "pool=\"0\""), s.commits);
	cr_expect_eq(prom_value(&p, "asymcache_sessions", NULL), 2);
	cr_expect_eq(prom_value(&p, "asymcache_pool_bytes",
				"pool=\"0\",backend=\"host\",device=\"-1\""), 4 << 20);
	cr_expect_eq(prom_value(&p, "asymcache_info", "version=\"0.1.0\",policy=\"asym\""), 1);
	/* The hit ratio is the last 300 s of /metrics, per namespace, in tokens. */
	cr_expect(isnan(prom_value(&p, "asymcache_hit_ratio", NULL)),
		  "a ratio over the daemon's whole life");
	cr_expect_eq(prom_value(&p, "asymcache_prefix_cache_window_queries", NULL),
		     6 * H_BLOCK_TOKENS);
	cr_expect_eq(prom_value(&p, "asymcache_prefix_cache_window_hits", NULL),
		     4 * H_BLOCK_TOKENS);
	snprintf(lab, sizeof(lab), "namespace=\"%u\",model=\"test-llama\"", a.ns);
	cr_expect_float_eq(prom_value(&p, "asymcache_prefix_cache_window_hit_ratio", lab),
			   4.0 / 6.0, 1e-6);
	cr_expect_eq(prom_value(&p, "asymcache_namespace_evictions_total", lab), 0);
	snprintf(lab, sizeof(lab), "namespace=\"%u\",model=\"other-model\"", b.ns);
	cr_expect_eq(prom_value(&p, "asymcache_prefix_cache_window_hit_ratio", lab), 0);
	cr_expect_eq(prom_value(&p, "asymcache_namespace_evictions_total", lab), 2);
	prom_free(&p);
	free(out);
	out = NULL;
	cr_assert_eq(run_ctl(&env, 0, &out, NULL, "stats", NULL), 0);
	{
		const char *l = line_of(out, "hit rate, last 300 s (tokens) ") + 30;

		cr_expect(strncmp(l + strspn(l, " "), "66.7 %\n", 7) == 0, "%s", out);
	}
	free(out);
	out = NULL;
	{
		struct json_object *j = ctl_json(0, "--json", "namespaces"), *o;

		o = find_by(j, "model", "other-model");
		cr_expect_eq(hjson_u64(o, "evictions"), 2);
		cr_expect_eq(hjson_u64(o, "window_query_tokens"), 0);
		o = find_by(j, "model", "test-llama");
		cr_expect_eq(hjson_u64(o, "evictions"), 0);
		cr_expect_eq(hjson_u64(o, "window_query_tokens"), 6 * H_BLOCK_TOKENS);
		cr_expect_eq(hjson_u64(o, "window_hit_tokens"), 4 * H_BLOCK_TOKENS);
		json_object_put(j);
	}
	ac_disconnect(b.c);

	/* The parser is strict: it rejects what Prometheus would. */
	cr_expect_neq(prom_parse("# TYPE a counter\na 1\n# TYPE a counter\na 2\n", &p, why,
				 sizeof(why)), 0);
	cr_expect_neq(prom_parse("a{x=\"1} 2\n", &p, why, sizeof(why)), 0);
	cr_expect_neq(prom_parse("a 1\nb 1\na 2\n", &p, why, sizeof(why)), 0);
	cr_expect_neq(prom_parse("1a 1\n", &p, why, sizeof(why)), 0);
	cr_expect_neq(prom_parse("a one\n", &p, why, sizeof(why)), 0);

	/* Down: the scrape says so and the exit status is 3. */
	hclient_close(&a);
	henv_stop_daemon(&env);
	rc = run_ctl(&env, 0, &out, NULL, "stats", "--prometheus", NULL);
	cr_expect_eq(rc, 3);
	cr_assert_eq(prom_parse(out, &p, why, sizeof(why)), 0, "%s\n%s", why, out);
	cr_expect_eq(prom_value(&p, "asymcache_up", NULL), 0.0);
	prom_free(&p);
	free(out);
	cr_expect_eq(run_ctl(&env, 0, NULL, NULL, "status", NULL), 3);
}

Test(admin, notify_ready_status_and_watchdog)
{
	struct henv_opts o = { .watchdog_usec = 200000 };
	struct hclient a;
	struct ac_key k[5];
	uint32_t blk[5];
	char msg[1024];

	/* henv_start already waited for READY=1 on the fake NOTIFY_SOCKET. */
	henv_start(&env, &o);
	/* Pings at half the period: >= 4 in 1.5 s even on a loaded CI box. */
	cr_expect_geq(th_notify_wait(env.d.notify, "WATCHDOG=1", 4, 1500, NULL, 0), 4);
	hclient_open(&env, "noisy", &a);
	hpublish_prompt(&a, 9, 5, k, blk);
	/* The one-second tick sees the change and says so. */
	cr_expect_eq(th_notify_wait(env.d.notify, "5 cached", 1, 3000, msg, sizeof(msg)), 1);
	cr_expect(strstr(msg, "STATUS="), "%s", msg);
	cr_expect(strstr(msg, "1 sessions"), "%s", msg);
	hclient_close(&a);
	kill(env.d.pid, SIGTERM);
	cr_expect_eq(th_notify_wait(env.d.notify, "STOPPING=1", 1, 5000, NULL, 0), 1);
}

static void write_conf(const char *path, const char *text)
{
	int r = th_write_file(path, text);

	cr_assert_eq(r, 0, "%s: %s", path, strerror(-r));
}

/* The lines of the daemon's log (its stderr, a file) holding @a and @b. */
static unsigned int daemon_log_lines(const char *a, const char *b)
{
	char line[2048];
	unsigned int n = 0;
	FILE *f = fopen(env.d.log, "r");

	cr_assert(f, "%s: %s", env.d.log, strerror(errno));
	while (fgets(line, sizeof(line), f))
		n += strstr(line, a) && strstr(line, b);
	fclose(f);
	return n;
}

static bool daemon_logged(const char *a, const char *b)
{
	return daemon_log_lines(a, b) > 0;
}

Test(admin, reload_applies_what_it_can_and_refuses_the_rest)
{
	static const char base[] = "[pool]\nbackend = host\nbytes = 4M\nblock_bytes = 64K\n";
	char text[512], *out = NULL;
	struct json_object *j, *changed;
	int rc;

	henv_start(&env, NULL);
	snprintf(text, sizeof(text), "%s[policy]\nname = lru\n[limits]\nmax_sessions = 10\n", base);
	write_conf(env.d.conf, text);
	j = ctl_json(0, "--json", "reload");
	changed = json_object_object_get(j, "changed");
	cr_assert_eq(json_object_array_length(changed), 2, "%s", json_object_to_json_string(j));
	cr_expect_str_eq(json_object_get_string(json_object_array_get_idx(changed, 0)),
			 "[policy] name");
	cr_expect_str_eq(json_object_get_string(json_object_array_get_idx(changed, 1)),
			 "[limits] max_sessions");
	json_object_put(j);
	expect_ctl_str(ARGV("--json", "policy"), "policy", "lru");

	rc = run_ctl(&env, 0, &out, NULL, "reload", NULL);
	cr_expect_eq(rc, 0);
	cr_expect_str_eq(out, "Reloaded; nothing changed.\n");
	free(out);

	/* A pool size change needs a restart: refused whole, policy untouched. */
	write_conf(env.d.conf, "[pool]\nbackend = host\nbytes = 8M\nblock_bytes = 64K\n"
		   "[policy]\nname = pensieve\n");
	expect_ctl_error(&env, ARGV("reload"), 6, "[pool] bytes");
	/* The operator reading the journal learns it too, not only the caller. */
	cr_expect(daemon_logged("reload refused, keeping the running configuration: ",
				"[pool] bytes changed"), "refused reload not in the log");
	/* A broken file: named with its line, nothing applied. */
	write_conf(env.d.conf, "[pool]\nbackend = host\nbytes = 4M\nblock_bytes = 64K\n"
		   "[policy]\nname = pensieve\nbogus_key = 1\n");
	expect_ctl_error(&env, ARGV("reload"), 7, "asymcached.conf:7");
	cr_expect(daemon_logged("reload refused, keeping the running configuration: ",
				"asymcached.conf:7"), "refused reload not in the log");
	expect_ctl_str(ARGV("--json", "policy"), "policy", "lru");
}

/* The test talks to the bus itself; asymcachectl's names, spelled out. */
#define AC_BUS_NAME		"org.asymcache.Daemon1"
#define AC_BUS_PATH		"/org/asymcache/Daemon1"
#define AC_BUS_INTERFACE	"org.asymcache.Daemon1"

struct prop_seen {
	const char *name;
	int seen;
};

static int on_prop_changed(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct prop_seen *w = userdata;
	const char *iface, *name;

	if (sd_bus_message_read(m, "s", &iface) < 0 ||
	    sd_bus_message_enter_container(m, 'a', "{sv}") < 0)
		return 0;
	while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
		if (sd_bus_message_read(m, "s", &name) < 0)
			return 0;
		if (strcmp(name, w->name) == 0)
			w->seen++;
		sd_bus_message_skip(m, "v");
		sd_bus_message_exit_container(m);
	}
	return 0;
}

/* From now on, @w counts PropertiesChanged signals naming its property. */
static sd_bus_slot *watch_prop(sd_bus *bus, struct prop_seen *w)
{
	sd_bus_slot *slot = NULL;

	cr_assert_geq(sd_bus_match_signal(bus, &slot, AC_BUS_NAME, AC_BUS_PATH,
					  "org.freedesktop.DBus.Properties",
					  "PropertiesChanged", on_prop_changed, w), 0);
	return slot;
}

static sd_bus *test_bus(void)
{
	sd_bus *bus = NULL;

	cr_assert_geq(sd_bus_new(&bus), 0);
	cr_assert_geq(sd_bus_set_address(bus, env.bus.addr), 0);
	cr_assert_geq(sd_bus_set_bus_client(bus, 1), 0);
	cr_assert_geq(sd_bus_start(bus), 0);
	return bus;
}

/* Waits up to 6 s (the daemon emits once a second) for w->seen to grow. */
static bool wait_changed(sd_bus *bus, struct prop_seen *w)
{
	int before = w->seen, i;

	for (i = 0; i < 60 && w->seen == before; i++) {
		while (sd_bus_process(bus, NULL) > 0)
			;
		if (w->seen == before)
			sd_bus_wait(bus, 100000);
	}
	return w->seen > before;
}

static uint32_t bus_u32(sd_bus *bus, const char *prop)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	uint32_t v = UINT32_MAX;

	cr_assert_geq(sd_bus_get_property_trivial(bus, AC_BUS_NAME, AC_BUS_PATH,
						  AC_BUS_INTERFACE, prop, &e, 'u', &v),
		      0, "%s: %s", prop, e.message);
	sd_bus_error_free(&e);
	return v;
}

static char *bus_str(sd_bus *bus, const char *prop)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	char *v = NULL;

	cr_assert_geq(sd_bus_get_property_string(bus, AC_BUS_NAME, AC_BUS_PATH,
						 AC_BUS_INTERFACE, prop, &e, &v),
		      0, "%s: %s", prop, e.message);
	sd_bus_error_free(&e);
	return v;
}

Test(admin, properties_changed_follows_the_cache)
{
	sd_bus *bus;
	sd_bus_slot *slot = NULL;
	struct prop_seen w = { .name = "CachedBlocks" };
	struct hclient a;
	struct ac_key k[3];
	uint32_t blk[3];

	henv_start(&env, NULL);
	bus = test_bus();
	slot = watch_prop(bus, &w);
	hclient_open(&env, "signals", &a);
	hpublish_prompt(&a, 4, 3, k, blk);
	cr_expect(wait_changed(bus, &w),
		  "no PropertiesChanged for CachedBlocks within 6 s");
	cr_expect_eq(bus_u32(bus, "CachedBlocks"), 3);
	sd_bus_slot_unref(slot);
	sd_bus_flush_close_unref(bus);
	hclient_close(&a);
}

/* A wrong command line says what is wrong and where help is, not the whole help. */
Test(admin, wrong_command_lines_say_why)
{
	static const struct {
		const char *argv[4];
		const char *err;
	} cases[] = {
		{ { "--bogus" }, "asymcachectl: unknown option --bogus\n"
		  "Try 'asymcachectl --help' for more information.\n" },
		{ { "-x", "status" }, "asymcachectl: unknown option -x\n"
		  "Try 'asymcachectl --help' for more information.\n" },
		{ { "--json=1", "status" }, "asymcachectl: option --json takes no argument\n"
		  "Try 'asymcachectl --help' for more information.\n" },
		{ { "--address" }, "asymcachectl: option --address needs an argument\n"
		  "Try 'asymcachectl --help' for more information.\n" },
		{ { NULL }, "asymcachectl: missing command\n"
		  "Try 'asymcachectl --help' for more information.\n" },
		{ { "frobnicate" }, "asymcachectl: unknown command 'frobnicate'\n"
		  "Try 'asymcachectl --help' for more information.\n" },
		{ { "stats", "--prometheus", "--json" },
		  "asymcachectl: --prometheus and --json exclude each other\n"
		  "Try 'asymcachectl stats --help' for more information.\n" },
		{ { "stats", "--bogus" }, "asymcachectl: unknown option --bogus\n"
		  "Try 'asymcachectl stats --help' for more information.\n" },
		{ { "status", "extra" }, "asymcachectl: unexpected argument 'extra'\n"
		  "Try 'asymcachectl status --help' for more information.\n" },
		{ { "evict" }, "asymcachectl: evict needs N\n"
		  "Try 'asymcachectl evict --help' for more information.\n" },
		{ { "status", "-q" }, "asymcachectl: unknown option -q\n"
		  "Try 'asymcachectl status --help' for more information.\n" },
		{ { "top", "--interval" }, "asymcachectl: option --interval needs an argument\n"
		  "Try 'asymcachectl top --help' for more information.\n" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL, *err = NULL;
		int rc = run_ctlv(NULL, 0, (char *const *)cases[i].argv, &out, &err);

		cr_expect_eq(rc, 2, "case %zu: exit %d", i, rc);
		cr_expect_str_eq(err, cases[i].err, "case %zu", i);
		cr_expect_str_eq(out, "", "case %zu: stdout", i);
		free(out);
		free(err);
	}
}

Test(admin, help_version_and_unreachable_daemon)
{
	static const char *const cmds[] = { "status", "stats", "sessions", "namespaces",
					    "policy", "flush", "unregister", "evict",
					    "reload", "top" };
	char *out = NULL, *err = NULL, want[64];
	size_t i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		cr_expect_eq(run_ctl(NULL, 0, &out, NULL, cmds[i], "--help", NULL), 0);
		snprintf(want, sizeof(want), "Usage: asymcachectl %s", cmds[i]);
		cr_expect(strncmp(out, want, strlen(want)) == 0, "%s", out);
		free(out);
	}
	cr_expect_eq(run_ctl(NULL, 0, &out, NULL, "--help", NULL), 0);
	cr_expect(strstr(out, "Exit status"), "%s", out);
	free(out);
	cr_expect_eq(run_ctl(NULL, 0, &out, NULL, "--version", NULL), 0);
	cr_expect_str_eq(out, "asymcachectl 0.1.0\n");
	free(out);
	cr_expect_eq(run_ctl(NULL, 0, NULL, NULL, NULL), 2);
	cr_expect_eq(run_ctl(NULL, 0, NULL, NULL, "--bogus", NULL), 2);
	/* A bus with nobody on it, named with --address. */
	expect_ctl_error(NULL, ARGV("--address=unix:path=/nonexistent/bus", "status"),
			 3, "Failed to connect to unix:path=/nonexistent/bus");
	henv_start(&env, NULL);
	henv_stop_daemon(&env);
	cr_expect_eq(run_ctl(&env, 0, NULL, &err, "sessions", NULL), 3);
	free(err);
}

/* What bash completion offers after @line (words separated by spaces). */
static char *complete(const char *line)
{
	char cmd[2048], *out = NULL, chunk[1024];
	size_t len = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "PATH='%s/tools/asymcachectl':$PATH AC_DBUS_ADDRESS='%s' bash -c '"
		 "source \"%s/completions/asymcachectl\"; "
		 "COMP_WORDS=(%s); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); "
		 "_asymcachectl; echo \"${COMPREPLY[*]}\"'",
		 getenv("AC_BUILD_ROOT"), env.bus.addr, getenv("AC_SOURCE_ROOT"), line);
	p = popen(cmd, "r");
	cr_assert(p);
	out = calloc(1, 1);
	while (fgets(chunk, sizeof(chunk), p)) {
		out = realloc(out, len + strlen(chunk) + 1);
		memcpy(out + len, chunk, strlen(chunk) + 1);
		len += strlen(chunk);
	}
	cr_assert_eq(pclose(p), 0);
	return out;
}

/* The whole reply to completing @line must be @want. */
static void expect_completion(const char *line, const char *want)
{
	char *out = complete(line);

	cr_expect_str_eq(out, want, "completing [%s]: [%s]", line, out);
	free(out);
}

Test(admin, bash_completion_offers_commands_policies_and_namespaces)
{
	struct hclient a;
	char *out;

	henv_start(&env, NULL);
	hclient_open(&env, "completed", &a);
	expect_completion("asymcachectl st", "status stats\n");
	expect_completion("asymcachectl --json t", "top\n");
	expect_completion("asymcachectl stats --p", "--prometheus --pool\n");
	expect_completion("asymcachectl stats --po", "--pool\n");
	/* Live values come from the daemon. */
	expect_completion("asymcachectl policy \"\"", "asym lru pensieve\n");
	expect_completion("asymcachectl flush te", "test-llama\n");
	out = complete("asymcachectl flush \"\"");
	cr_expect(strstr(out, "test-llama") && strchr(out, '1'), "%s", out);
	free(out);
	hclient_close(&a);
}

Test(admin, bus_address_from_the_config_and_reconnect_after_bus_restart)
{
	struct henv_opts o = { .address_in_config = true };
	char *err = NULL;
	int i, rc = -1;

	/* The daemon's environment names a dead bus: only the config works. */
	henv_start(&env, &o);
	expect_ctl_str(ARGV("--json", "status"), "policy", "asym");

	/* The bus goes away and comes back: the daemon finds it again. */
	henv_stop_bus(&env);
	cr_expect_eq(run_ctl(&env, 0, NULL, NULL, "status", NULL), 3);
	henv_start_bus(&env);
	for (i = 0; i < 40 && rc != 0; i++) {
		free(err);
		err = NULL;
		rc = run_ctl(&env, 0, NULL, &err, "status", NULL);
		if (rc != 0)
			usleep(250000);
	}
	cr_expect_eq(rc, 0, "the daemon never came back on the bus: %s", err);
	free(err);
	/* Still serving clients all along. */
	{
		struct hclient a;
		struct ac_key k[2];
		uint32_t blk[2];

		hclient_open(&env, "after-restart", &a);
		hpublish_prompt(&a, 12, 2, k, blk);
		expect_ctl_fields(0, ARGV("--json", "status"),
				  FIELDS({ "blocks.cached", 2 }));
		hclient_close(&a);
	}
}

Test(admin, a_member_of_asymcache_admin_may_steer)
{
	struct hclient a;
	struct ac_key k[4];
	uint32_t blk[4];
	struct ac_stats s;
	char why[128], *err = NULL;
	int rc;

	if (!h_fake_admin_group(4242, why, sizeof(why)))
		cr_skip_test("cannot give this test its own /etc/group: %s", why);
	henv_start(&env, NULL);
	hclient_open(&env, "steered", &a);
	hpublish_prompt(&a, 6, 4, k, blk);
	cr_assert_eq(ac_release(a.c, blk, 4, NULL), 0);

	/* nobody, with asymcache-admin as a supplementary group. */
	h_extra_gid = 4242;
	rc = run_ctl(&env, H_NOBODY, NULL, &err, "policy", "lru", NULL);
	cr_expect_eq(rc, 0, "%s", err);
	free(err);
	cr_expect_eq(run_ctl(&env, H_NOBODY, NULL, NULL, "evict", "2", NULL), 0);
	/* Another supplementary group does not do. */
	h_extra_gid = 4243;
	cr_expect_eq(run_ctl(&env, H_NOBODY, NULL, NULL, "evict", "1", NULL), 4);
	h_extra_gid = 0;
	hstats(&a, &s);
	cr_expect_str_eq(s.policy, "lru");
	cr_expect_eq(s.evictions, 2);
	cr_expect_eq(s.cached_blocks, 2);
	hclient_close(&a);
}

/* ---- retention, cost file and scheduler on the admin side ---- */

static void expect_bus_str(sd_bus *bus, const char *prop, const char *want)
{
	char *v = bus_str(bus, prop);

	cr_expect_str_eq(v, want, "%s", prop);
	free(v);
}

/*
 * Every view of the retained count, compared with what the daemon told the
 * client itself (ac_retained) and with @want.
 */
static void expect_retained_everywhere(sd_bus *bus, struct hclient *a,
				       const char *client, uint32_t want)
{
	struct json_object *j, *sess;
	struct prom p;
	uint32_t total = UINT32_MAX, mine = UINT32_MAX, n;
	char *out = NULL, why[256], user[32], name[64];
	unsigned long id;
	unsigned int pins, writing;
	int pid;
	const char *l;

	cr_assert_eq(ac_retained(a->c, &total, &mine), 0);
	cr_assert_eq(total, want);
	cr_assert_eq(mine, want);

	j = ctl_json(0, "status", "--json");
	cr_expect_eq(hjson_u64(j, "blocks.retained"), want, "status --json");
	/* A retained block is pinned by the daemon: never more retained than pinned. */
	cr_expect_geq(hjson_u64(j, "blocks.pinned"), want);
	json_object_put(j);

	cr_assert_eq(run_ctl(&env, 0, &out, NULL, "status", NULL), 0);
	cr_assert_eq(sscanf(line_of(out, "  retained "), " retained %u", &n), 1, "%s", out);
	cr_expect_eq(n, want, "status: %s", out);
	free(out);

	cr_assert_eq(run_ctl(&env, 0, &out, NULL, "stats", NULL), 0);
	cr_assert_eq(sscanf(line_of(out, "retained blocks"), "retained blocks %u", &n), 1,
		     "%s", out);
	cr_expect_eq(n, want, "stats: %s", out);
	free(out);

	cr_assert_eq(run_ctl(&env, 0, &out, NULL, "stats", "--prometheus", NULL), 0);
	cr_assert_eq(prom_parse(out, &p, why, sizeof(why)), 0, "%s\n%s", why, out);
	cr_expect_eq(prom_value(&p, "asymcache_retained_blocks", "pool=\"0\""), (double)want,
		     "%s", out);
	prom_free(&p);
	free(out);

	cr_expect_eq(bus_u32(bus, "RetainedBlocks"), want, "D-Bus RetainedBlocks");

	sess = ctl_json(0, "sessions", "--json");
	cr_expect_eq(hjson_u64(find_by(sess, "client", client), "retained"), want);
	json_object_put(sess);
	cr_assert_eq(run_ctl(&env, 0, &out, NULL, "sessions", NULL), 0);
	cr_expect(strstr(line_of(out, "ID"), "RETAINED"), "%s", out);
	l = strstr(out, client);
	cr_assert(l, "%s", out);
	while (l > out && l[-1] != '\n')
		l--;
	cr_assert_eq(sscanf(l, "%lu %d %31s %u %u %u %63s", &id, &pid, user, &pins,
			    &writing, &n, name), 7, "%s", l);
	cr_expect_eq(n, want, "sessions: %s", out);
	cr_expect_str_eq(name, client);
	free(out);
}

Test(admin, retained_blocks_show_in_every_view)
{
	struct prop_seen w = { .name = "RetainedBlocks" };
	sd_bus_slot *slot = NULL;
	struct hclient a, b;
	struct ac_key k[5];
	uint32_t blk[5], released = 0;
	uint64_t handle = 0;
	sd_bus *bus;

	henv_start(&env, NULL);
	bus = test_bus();
	slot = watch_prop(bus, &w);
	hclient_open(&env, "agent", &a);
	/* A bystander, so a per-session count cannot pass for the total. */
	hclient_open(&env, "bystander", &b);
	hpublish_prompt(&a, 11, 5, k, blk);
	expect_retained_everywhere(bus, &a, "agent", 0);

	/* 3 of 5 kept over a tool call; the client lets go of all its pins. */
	cr_assert_eq(ac_retain(a.c, a.ns, blk, 3, 60000, &handle), 0);
	cr_assert_eq(ac_release(a.c, blk, 5, NULL), 0);
	cr_expect(wait_changed(bus, &w), "no PropertiesChanged for RetainedBlocks");
	expect_retained_everywhere(bus, &a, "agent", 3);

	cr_assert_eq(ac_resume(a.c, handle, &released), 0);
	cr_expect_eq(released, 3);
	cr_expect(wait_changed(bus, &w), "no PropertiesChanged after the resume");
	expect_retained_everywhere(bus, &a, "agent", 0);
	/* A second resume is refused and changes nothing. */
	cr_expect_eq(ac_resume(a.c, handle, &released), -ENOENT);
	cr_expect_eq(bus_u32(bus, "RetainedBlocks"), 0);

	sd_bus_slot_unref(slot);
	sd_bus_flush_close_unref(bus);
	hclient_close(&b);
	hclient_close(&a);
}

static uint64_t bus_u64(sd_bus *bus, const char *prop)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	uint64_t v = UINT64_MAX;

	cr_assert_geq(sd_bus_get_property_trivial(bus, AC_BUS_NAME, AC_BUS_PATH,
						  AC_BUS_INTERFACE, prop, &e, 't', &v),
		      0, "%s: %s", prop, e.message);
	sd_bus_error_free(&e);
	return v;
}

/* A row of `asymcachectl stats`: its value, as the text after the name. */
static const char *stats_row(const char *out, const char *name)
{
	const char *l = line_of(out, name);

	cr_assert(l, "no row '%s' in:\n%s", name, out);
	l += strlen(name);
	while (*l == ' ')
		l++;
	return l;
}

/*
 * How retentions ended, the budget and the hold time, the same in
 * `asymcachectl stats` (text, --json, --prometheus) and on the bus.
 */
Test(admin, retention_budget_outcomes_and_hold_time_show)
{
	struct hclient a;
	struct ac_key k[4];
	struct json_object *j;
	struct prom p;
	uint32_t blk[4], released = 0, nblocks, budget;
	uint64_t h1 = 0, h2 = 0;
	char *out = NULL, why[256];
	sd_bus *bus;

	henv_start(&env, NULL);
	bus = test_bus();
	hclient_open(&env, "agent", &a);
	hpublish_prompt(&a, 13, 4, k, blk);
	nblocks = bus_u32(bus, "NBlocks");
	budget = bus_u32(bus, "RetainBudgetBlocks");
	cr_expect_eq(budget, nblocks, "all %u blocks, the default", nblocks);
	/* One resumed after 50 ms, one left to run out after 100 ms. */
	cr_assert_eq(ac_retain(a.c, a.ns, blk, 2, 60000, &h1), 0);
	cr_assert_eq(ac_retain(a.c, a.ns, blk + 2, 2, 100, &h2), 0);
	cr_assert_eq(ac_release(a.c, blk, 4, NULL), 0);
	usleep(50000);
	cr_assert_eq(ac_resume(a.c, h1, &released), 0);
	usleep(200000);
	cr_assert_eq(ac_resume(a.c, h2, &released), -ENOENT);

	cr_expect_eq(bus_u64(bus, "RetainResumed"), 1);
	cr_expect_eq(bus_u64(bus, "RetainExpiredUnused"), 1);
	cr_expect_eq(bus_u64(bus, "RetainDropped"), 0);
	cr_expect_eq(bus_u64(bus, "RetainDeclined"), 0);
	cr_expect_eq(bus_u32(bus, "RetainedSoftBlocks"), 0);
	/* 50 ms and 100 ms held; the timer's 10 ms tick may add to the second. */
	cr_expect_geq(bus_u64(bus, "RetainHoldMs"), 150);
	cr_expect_lt(bus_u64(bus, "RetainHoldMs"), 1000);

	cr_assert_eq(run_ctl(&env, 0, &out, NULL, "stats", NULL), 0);
	cr_expect_eq(strtoul(stats_row(out, "retention budget "), NULL, 10), budget,
		     "%s", out);
	cr_expect_eq(strncmp(stats_row(out, "retention budget used"), "0.0 %", 5), 0,
		     "%s", out);
	cr_expect_eq(strtoul(stats_row(out, "retentions resumed"), NULL, 10), 1);
	cr_expect_eq(strtoul(stats_row(out, "retentions expired unused"), NULL, 10), 1);
	cr_expect_eq(strtoul(stats_row(out, "retentions dropped for alloc"), NULL, 10), 0);
	/* The mean of 50 and 100 ms: 75 ms, more on a slow machine. */
	{
		char unit[8] = "";
		double ms = 0;

		cr_assert_eq(sscanf(stats_row(out, "retention hold (mean)"), "%lf %7s",
				    &ms, unit), 2, "%s", out);
		cr_expect_str_eq(unit, "ms", "%s", out);
		cr_expect(ms >= 75 && ms < 1000, "%s", out);
	}
	free(out);

	j = ctl_json(0, "stats", "--json");
	cr_expect_eq(hjson_u64(j, "retention.budget_blocks"), budget);
	cr_expect_eq(hjson_u64(j, "retention.resumed"), 1);
	cr_expect_eq(hjson_u64(j, "retention.expired_unused"), 1);
	cr_expect_eq(hjson_u64(j, "retention.soft_blocks"), 0);
	cr_expect_geq(hjson_u64(j, "retention.hold_ms"), 150);
	json_object_put(j);

	cr_assert_eq(run_ctl(&env, 0, &out, NULL, "stats", "--prometheus", NULL), 0);
	cr_assert_eq(prom_parse(out, &p, why, sizeof(why)), 0, "%s\n%s", why, out);
	cr_expect_eq(prom_value(&p, "asymcache_retain_budget_blocks", "pool=\"0\""), budget);
	cr_expect_eq(prom_value(&p, "asymcache_retentions_ended_total",
				"pool=\"0\",outcome=\"resumed\""), 1);
	cr_expect_eq(prom_value(&p, "asymcache_retentions_ended_total",
				"pool=\"0\",outcome=\"expired_unused\""), 1);
	cr_expect_eq(prom_value(&p, "asymcache_retentions_ended_total",
				"pool=\"0\",outcome=\"dropped\""), 0);
	cr_expect_geq(prom_value(&p, "asymcache_retain_hold_seconds_total", "pool=\"0\""), 0.15);
	prom_free(&p);
	free(out);

	sd_bus_flush_close_unref(bus);
	hclient_close(&a);
}

/* The installed calibration the daemon falls back to, if there is one. */
static const char *default_cost_in_use(void)
{
	static const char path[] = AC_DATADIR "/asymcache/costs/h200-llama-3-8b-measured.json";

	return access(path, F_OK) == 0 ? path : "";
}

Test(admin, cost_file_and_scheduler_mode_on_the_bus)
{
	static const char base[] = "[pool]\nbackend = host\nbytes = 4M\nblock_bytes = 64K\n";
	struct prop_seen w = { .name = "CostFile" };
	struct henv_opts o = { 0 };
	struct json_object *j, *changed;
	sd_bus_slot *slot = NULL;
	char cost[512], text[1024], *out = NULL, want[600];
	sd_bus *bus;
	size_t i;
	bool saw_cost = false, saw_mode = false;

	snprintf(cost, sizeof(cost), "%s/policy/costs/h200-llama-3-8b-measured.json",
		 getenv("AC_SOURCE_ROOT"));
	cr_assert_eq(access(cost, R_OK), 0, "%s", cost);
	snprintf(text, sizeof(text), "%s[policy]\nname = asym\ncost_file = %s\n"
		 "[scheduler]\nmode = fixed\n", base, cost);
	o.config = text;
	henv_start(&env, &o);
	bus = test_bus();

	expect_bus_str(bus, "CostFile", cost);
	expect_bus_str(bus, "SchedulerMode", "fixed");
	j = ctl_json(0, "status", "--json");
	cr_expect_str_eq(jstr(j, "cost_file"), cost);
	cr_expect_str_eq(jstr(j, "scheduler_mode"),
			 "fixed");
	json_object_put(j);
	cr_assert_eq(run_ctl(&env, 0, &out, NULL, "status", NULL), 0);
	snprintf(want, sizeof(want), "Cost file:  %s\n", cost);
	cr_expect(strstr(out, want), "%s", out);
	cr_expect(strstr(out, "Scheduler:  fixed\n"), "%s", out);
	free(out);

	/* Reload to no cost file and the adaptive scheduler: both reported. */
	slot = watch_prop(bus, &w);
	snprintf(text, sizeof(text), "%s[policy]\nname = asym\n", base);
	write_conf(env.d.conf, text);
	j = ctl_json(0, "--json", "reload");
	changed = json_object_object_get(j, "changed");
	for (i = 0; i < json_object_array_length(changed); i++) {
		const char *k = json_object_get_string(json_object_array_get_idx(changed, i));

		saw_cost |= strcmp(k, "[policy] cost_file") == 0;
		saw_mode |= strcmp(k, "[scheduler] mode") == 0;
	}
	/* Unless the installed default is that very file, the model changed. */
	if (strcmp(default_cost_in_use(), cost))
		cr_expect(saw_cost, "%s", json_object_to_json_string(j));
	cr_expect(saw_mode, "%s", json_object_to_json_string(j));
	json_object_put(j);
	cr_expect(wait_changed(bus, &w), "no PropertiesChanged for CostFile");
	expect_bus_str(bus, "CostFile", default_cost_in_use());
	expect_bus_str(bus, "SchedulerMode", "adaptive");
	cr_assert_eq(run_ctl(&env, 0, &out, NULL, "status", NULL), 0);
	if (!*default_cost_in_use())
		cr_expect(strstr(out, "Cost file:  none (built-in model)\n"), "%s", out);
	cr_expect(strstr(out, "Scheduler:  adaptive\n"), "%s", out);
	free(out);

	/* A cost file that does not load: refused whole, the old one stays. */
	snprintf(text, sizeof(text), "%s[policy]\nname = asym\ncost_file = %s/nonexistent.json\n"
		 "[scheduler]\nmode = fixed\n", base, env.d.dir);
	write_conf(env.d.conf, text);
	cr_expect_eq(run_ctl(&env, 0, NULL, NULL, "reload", NULL), 7);
	expect_bus_str(bus, "CostFile", default_cost_in_use());
	expect_bus_str(bus, "SchedulerMode", "adaptive");

	sd_bus_slot_unref(slot);
	sd_bus_flush_close_unref(bus);
}

/*
 * A cost file made for another model's layout is used all the same, but
 * the log says so once per namespace (and again when a reload brings
 * another file), and asymcachectl namespaces shows the file and the misfit
 * for each namespace. The pool is in host memory: no GPU to compare.
 */
Test(admin, cost_file_that_does_not_fit_a_namespace_is_named)
{
	static const struct ac_ns_layout llama = {
		.model_id = "llama-3-8b-instruct",
		.kv = { .num_layers = 32, .num_kv_heads = 8, .head_dim = 128,
			.dtype = AC_DTYPE_BF16, .block_tokens = 16 },
	};
#define SHAPE "32 layers, not 2; 8 kv heads, not 2; 128 head dim, not 64"
	static const char misfit[] = "test-model has " SHAPE;
	static const struct ac_ns_layout small = {
		.model_id = "small-model",
		.kv = { .num_layers = 2, .num_kv_heads = 2, .head_dim = 64,
			.dtype = AC_DTYPE_FP16, .block_tokens = 16 },
	};
	struct henv_opts o = { 0 };
	struct hclient a, b;
	struct ac_client *c;
	struct ac_pool *pool;
	struct json_object *j, *ns;
	char cost[256], cost2[256], text[1024], want[1024], *out = NULL;
	uint32_t llama_ns, small_ns;

	snprintf(cost, sizeof(cost), "/tmp/ac-cost-%d.json", (int)getpid());
	snprintf(cost2, sizeof(cost2), "/tmp/ac-cost2-%d.json", (int)getpid());
	cr_assert_eq(th_write_cost_file(cost, "test-gpu", 2e-5, 5e-8, 1e-4), 0);
	cr_assert_eq(th_write_cost_file(cost2, "test-gpu", 3e-5, 5e-8, 1e-4), 0);
	snprintf(text, sizeof(text), "[pool]\nbackend = host\nbytes = 8M\nblock_bytes = 2M\n"
		 "[policy]\ncost_file = %s\n", cost);
	o.config = text;
	henv_start(&env, &o);
	cr_expect(daemon_logged("the pool is in host memory", "test-gpu"));

	/* Two clients of one namespace: one warning. */
	hclient_open(&env, "small-a", &a);
	hclient_open(&env, "small-b", &b);
	cr_assert_eq(a.ns, b.ns);
	cr_assert_eq(ac_connect(env.d.sock, "llama", &c), 0);
	cr_assert_eq(ac_attach(c, 0, &pool), 0);
	cr_assert_eq(ac_register_namespace(c, pool, &llama, &llama_ns), 0);
	snprintf(want, sizeof(want), "namespace %u (test-llama): %s was made for test-model, "
		 "which has " SHAPE ": ", a.ns, cost);
	cr_expect_eq(daemon_log_lines(want, "asymcache-calibrate"), 1, "see %s", env.d.log);
	cr_expect_eq(daemon_log_lines("(llama-3-8b-instruct)", "was made for"), 0);

	cr_assert_eq(run_ctl(&env, 0, &out, NULL, "namespaces", NULL), 0);
	cr_expect(strstr(out, "COST-FILE"), "%s", out);
	snprintf(want, sizeof(want), "%s*\n", strrchr(cost, '/') + 1);
	cr_expect(strstr(out, want), "the misfit is not marked:\n%s", out);
	snprintf(want, sizeof(want), "%s\n", strrchr(cost, '/') + 1);
	cr_expect(strstr(out, want), "the namespace it fits is marked:\n%s", out);
	snprintf(want, sizeof(want), "Cost file: %s\n", cost);
	cr_expect(strstr(out, want), "%s", out);
	snprintf(want, sizeof(want), "* namespace %u (test-llama): %s;", a.ns, misfit);
	cr_expect(strstr(out, want), "%s", out);
	free(out);
	j = ctl_json(0, "--json", "namespaces");
	cr_assert_eq(json_object_array_length(j), 2);
	ns = find_by(j, "model", "test-llama");
	cr_expect_str_eq(jstr(ns, "cost_file"), cost);
	cr_expect_str_eq(jstr(ns, "cost_mismatch"), misfit);
	ns = find_by(j, "model", "llama-3-8b-instruct");
	cr_expect_str_eq(jstr(ns, "cost_file"), cost);
	cr_expect_str_eq(jstr(ns, "cost_mismatch"), "");
	json_object_put(j);

	/* A reload that keeps the file says nothing; another file warns again. */
	cr_expect_eq(run_ctl(&env, 0, NULL, NULL, "reload", NULL), 0);
	cr_expect_eq(daemon_log_lines("(test-llama): ", "was made for"), 1);
	snprintf(text, sizeof(text), "[pool]\nbackend = host\nbytes = 8M\nblock_bytes = 2M\n"
		 "[policy]\ncost_file = %s\n", cost2);
	write_conf(env.d.conf, text);
	cr_expect_eq(run_ctl(&env, 0, NULL, NULL, "reload", NULL), 0);
	snprintf(want, sizeof(want), "namespace %u (test-llama): %s was made for", a.ns, cost2);
	cr_expect_eq(daemon_log_lines(want, SHAPE), 1);
	cr_expect_eq(daemon_log_lines("(llama-3-8b-instruct)", "was made for"), 0);

	/* A namespace that ends leaves its slot to the next: checked too. */
	cr_assert_eq(ac_unregister_namespace(a.c, a.ns, NULL, NULL), 0);
	cr_assert_eq(ac_register_namespace(c, pool, &small, &small_ns), 0);
	snprintf(want, sizeof(want), "namespace %u (small-model): %s was made for", small_ns,
		 cost2);
	cr_expect_eq(daemon_log_lines(want, SHAPE), 1, "see %s", env.d.log);
#undef SHAPE

	ac_disconnect(c);
	hclient_close(&b);
	hclient_close(&a);
	unlink(cost);
	unlink(cost2);
}

/* The body of a 200 answer with Content-Type @type, checked against Content-Length. */
static const char *http_body(const char *answer, const char *type)
{
	const char *body = strstr(answer, "\r\n\r\n"), *cl;

	cr_assert(strncmp(answer, "HTTP/1.1 200 OK\r\n", 17) == 0, "%.200s", answer);
	cr_assert(body);
	body += 4;
	cr_expect(strstr(answer, type), "not %s: %.300s", type, answer);
	cl = strstr(answer, "Content-Length: ");
	cr_assert(cl && cl < body);
	cr_expect_eq((size_t)atol(cl + 16), strlen(body), "Content-Length");
	return body;
}

/* Every asymcache_* series the shipped Grafana dashboard queries is served. */
static void dashboard_names_exist(const struct prom *p)
{
	char path[512];
	struct json_object *dash, *panels;
	size_t i, j, checked = 0;

	snprintf(path, sizeof(path), "%s/packaging/grafana-asymcache.json", getenv("AC_SOURCE_ROOT"));
	dash = json_object_from_file(path);
	cr_assert(dash, "%s does not parse", path);
	panels = json_object_object_get(dash, "panels");
	cr_assert_gt(json_object_array_length(panels), 0);
	for (i = 0; i < json_object_array_length(panels); i++) {
		struct json_object *t = json_object_object_get(json_object_array_get_idx(panels, i),
							       "targets");

		for (j = 0; j < json_object_array_length(t); j++) {
			const char *e = json_object_get_string(
				json_object_object_get(json_object_array_get_idx(t, j), "expr"));

			while ((e = strstr(e, "asymcache_"))) {
				size_t n = strspn(e, "abcdefghijklmnopqrstuvwxyz_"), k;
				bool found = false;

				for (k = 0; k < p->n && !found; k++)
					found = strlen(p->s[k].name) == n &&
						strncmp(p->s[k].name, e, n) == 0;
				cr_expect(found, "the dashboard queries %.*s, which /metrics lacks",
					  (int)n, e);
				checked++;
				e += n;
			}
		}
	}
	cr_expect_gt(checked, 10);
	json_object_put(dash);
}

/*
 * Scraping the real daemon: real clients look up a chain with a hole and
 * a missing suffix, and /metrics counts it in blocks and tokens, per
 * namespace and model, in both formats, with histograms that hold.
 */
Test(admin, metrics_endpoint_counts_what_clients_did)
{
	struct henv_opts o = {
		.config = "[pool]\nbackend = host\nbytes = 4M\nblock_bytes = 64K\n"
			  "[metrics]\nlisten = 0\n",
	};
	struct hclient a;
	struct ac_key k[6], q[5], other[1];
	uint32_t blk[6], found[5];
	struct ac_segment seg[5];
	struct ac_lookup_result res = { .blocks = found, .segments = seg, .max_segments = 5 };
	char *ans, why[256], lab[128];
	const char *body;
	struct prom p;
	double t = H_BLOCK_TOKENS;
	int port;

	henv_start(&env, &o);
	port = henv_metrics_port(&env);
	hclient_open(&env, "scraped", &a);
	hpublish_prompt(&a, 8, 4, k, blk);
	hkeys(&a, 9, 1, other);
	/* hit hit MISS hit miss: one hole, one missing suffix block. */
	q[0] = k[0];
	q[1] = k[1];
	q[2] = other[0];
	q[3] = k[3];
	hkeys(&a, 10, 1, &q[4]);
	cr_assert_eq(ac_lookup(a.c, a.ns, q, 5, &res), 0);
	cr_assert_eq(ac_release(a.c, found, 2, NULL), 0);
	cr_assert_eq(ac_release(a.c, &found[3], 1, NULL), 0);

	ans = h_http_get(port, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	body = http_body(ans, "Content-Type: text/plain; version=0.0.4; charset=utf-8");
	prom_checked(body, &p);
	snprintf(lab, sizeof(lab), "namespace=\"%u\",model=\"test-llama\"", a.ns);
	cr_expect_eq(prom_value(&p, "asymcache_up", NULL), 1);
	cr_expect_eq(prom_value(&p, "asymcache_lookups_total", lab), 1);
	cr_expect_eq(prom_value(&p, "asymcache_lookup_blocks_total", lab), 5);
	cr_expect_eq(prom_value(&p, "asymcache_lookup_hit_blocks_total", lab), 3);
	cr_expect_eq(prom_value(&p, "asymcache_lookup_holes_total", lab), 1);
	cr_expect_eq(prom_value(&p, "asymcache_prefix_cache_queries_total", lab), 5 * t);
	cr_expect_eq(prom_value(&p, "asymcache_prefix_cache_hits_total", lab), 3 * t);
	cr_expect_eq(prom_value(&p, "asymcache_recomputed_tokens_total", lab), 2 * t);
	cr_expect_float_eq(prom_value(&p, "asymcache_prefix_cache_window_hit_ratio", lab),
			   3.0 / 5.0, 1e-9);
	cr_expect_eq(prom_value(&p, "asymcache_prefix_cache_window_queries", NULL), 5 * t);
	cr_expect_eq(prom_value(&p, "asymcache_namespace_cached_blocks", lab), 4);
	cr_expect_eq(prom_value(&p, "asymcache_blocks", "pool=\"0\",state=\"cached\""), 4);
	cr_expect_eq(prom_value(&p, "asymcache_pool_blocks", "pool=\"0\""), 64);
	cr_expect_eq(prom_value(&p, "asymcache_commits_total", "pool=\"0\""), 4);
	/* 32 tokens to recompute: in the le=64 bucket, not in le=16. */
	snprintf(why, sizeof(why), "%s,le=\"16\"", lab);
	cr_expect_eq(prom_value(&p, "asymcache_lookup_recomputed_tokens_bucket", why), 0);
	snprintf(why, sizeof(why), "%s,le=\"64\"", lab);
	cr_expect_eq(prom_value(&p, "asymcache_lookup_recomputed_tokens_bucket", why), 1);
	cr_expect_eq(prom_value(&p, "asymcache_lookup_recomputed_tokens_sum", lab), 2 * t);
	cr_expect_eq(prom_value(&p, "asymcache_request_duration_seconds_count", "op=\"lookup\""), 1);
	cr_expect_eq(prom_value(&p, "asymcache_request_duration_seconds_count", "op=\"commit\""),
		     1);
	cr_expect_eq(prom_value(&p, "asymcache_request_duration_seconds_count", "op=\"hello\""), 1);
	cr_expect_gt(prom_value(&p, "asymcache_request_duration_seconds_sum", "op=\"lookup\""), 0);
	dashboard_names_exist(&p);
	prom_free(&p);
	free(ans);

	/* OpenMetrics when the scraper asks for it, as Prometheus does. */
	ans = h_http_get(port, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: "
		       "application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n\r\n");
	body = http_body(ans, "Content-Type: application/openmetrics-text; version=1.0.0; "
			      "charset=utf-8");
	cr_assert_eq(prom_parse_openmetrics(body, &p, why, sizeof(why)), 0, "%s\n%s", why, body);
	cr_expect_eq(prom_value(&p, "asymcache_prefix_cache_hits_total", lab), 3 * t);
	cr_expect_eq(prom_value(&p, "asymcache_build_info", "version=\"0.1.0\""), 1);
	prom_free(&p);
	free(ans);

	/* What is not a scrape gets its status, and the daemon carries on. */
	ans = h_http_get(port, "POST /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
	cr_expect(strncmp(ans, "HTTP/1.1 405 ", 13) == 0, "%.100s", ans);
	cr_expect(strstr(ans, "Allow: GET, HEAD\r\n"), "%.200s", ans);
	free(ans);
	ans = h_http_get(port, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	cr_expect(strncmp(ans, "HTTP/1.1 404 ", 13) == 0, "%.100s", ans);
	free(ans);
	ans = h_http_get(port, "GET /metrics HTTP/1.1\r\n\r\n");
	cr_expect(strncmp(ans, "HTTP/1.1 400 ", 13) == 0, "%.100s", ans);
	free(ans);
	ans = h_http_get(port, "HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
	cr_expect(strncmp(ans, "HTTP/1.1 200 ", 13) == 0, "%.100s", ans);
	cr_expect(strstr(ans, "\r\n\r\n") && !strstr(ans, "\r\n\r\n")[4], "HEAD has a body");
	free(ans);
	ans = h_http_get(port, "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\nGET /metrics HTTP/1.1\r\n");
	cr_expect(strncmp(ans, "HTTP/1.1 400 ", 13) == 0, "pipelined: %.100s", ans);
	free(ans);
	hclient_close(&a);
}

/* Off unless configured: no [metrics] listen, no socket. */
Test(admin, metrics_endpoint_is_off_by_default)
{
	char line[1024];
	bool said = false;
	FILE *f;

	henv_start(&env, NULL);
	f = fopen(env.d.log, "r");
	cr_assert(f);
	while (fgets(line, sizeof(line), f))
		said |= strstr(line, "metrics on http") != NULL;
	fclose(f);
	cr_expect(!said, "a metrics endpoint without [metrics] listen");
}

/* An admin ends a namespace over D-Bus, whoever uses it. */
Test(admin, unregister_namespace_over_the_bus)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	struct hclient a;
	struct ac_key k[3];
	struct ac_stats s;
	uint32_t blk[3], evicted = 0, kept = 0;
	sd_bus *bus;

	henv_start(&env, NULL);
	bus = test_bus();
	hclient_open(&env, "user", &a);
	hpublish_prompt(&a, 6, 3, k, blk);
	cr_assert_eq(ac_release(a.c, blk, 2, NULL), 0);
	cr_expect_eq(bus_u32(bus, "Namespaces"), 1);
	cr_assert_geq(sd_bus_call_method(bus, AC_BUS_NAME, AC_BUS_PATH,
					 AC_BUS_INTERFACE, "UnregisterNamespace",
					 &e, &reply, "u", a.ns),
		      0, "UnregisterNamespace: %s", e.message);
	cr_assert_geq(sd_bus_message_read(reply, "uu", &evicted, &kept), 0);
	cr_expect_eq(evicted, 2);
	cr_expect_eq(kept, 1);
	sd_bus_message_unref(reply);
	reply = NULL;
	cr_expect_eq(bus_u32(bus, "Namespaces"), 0);
	cr_expect_lt(sd_bus_call_method(bus, AC_BUS_NAME, AC_BUS_PATH,
					AC_BUS_INTERFACE, "UnregisterNamespace",
					&e, &reply, "u", a.ns), 0);
	cr_expect_str_eq(e.name, "org.asymcache.Daemon1.Error.NoSuchNamespace");
	sd_bus_error_free(&e);
	/* The client's pinned block goes with its release. */
	cr_assert_eq(ac_release(a.c, blk + 2, 1, NULL), 0);
	hstats(&a, &s);
	cr_expect_eq(s.cached_blocks, 0);
	/* asymcachectl: by model id, then an id that does not exist. */
	cr_assert_eq(ac_register_namespace(a.c, a.pool, &(struct ac_ns_layout){
		.model_id = "test-llama", .kv = { .num_layers = 2, .num_kv_heads = 2,
		.head_dim = 64, .dtype = AC_DTYPE_FP16, .block_tokens = H_BLOCK_TOKENS } },
		&a.ns), 0);
	expect_ctl_fields(0, ARGV("--json", "unregister", "test-llama"),
			  FIELDS({ "evicted", 0 }, { "pinned_kept", 0 }));
	expect_ctl_error(&env, ARGV("unregister", "999"), 5, "No namespace with id 999");
	cr_expect_eq(bus_u32(bus, "Namespaces"), 0);
	sd_bus_flush_close_unref(bus);
	hclient_close(&a);
}

/* Quota refusals, refused peers and Hello timeouts are counted on the bus. */
Test(admin, refusals_are_counted_on_the_bus)
{
	struct hclient a;
	struct ac_stats s;
	uint32_t *blk;
	sd_bus *bus;
	int r;

	henv_start(&env, NULL);
	bus = test_bus();
	hclient_open(&env, "greedy", &a);
	hstats(&a, &s);
	blk = calloc(s.nblocks, sizeof(*blk));
	cr_assert_not_null(blk);
	cr_expect_eq(bus_u64(bus, "QuotaRefusals"), 0);
	/* The default quota: half the pool a session. */
	r = ac_alloc(a.c, a.ns, s.nblocks / 2 + 1, blk);
	cr_expect_eq(r, -EDQUOT, "alloc past half the pool: %s", ac_strerror(r));
	cr_expect(strstr(ac_client_last_error(a.c), "max_blocks_per_session"),
		  "%s", ac_client_last_error(a.c));
	cr_expect_eq(bus_u64(bus, "QuotaRefusals"), 1);
	cr_expect_eq(bus_u64(bus, "SessionsRefused"), 0);
	cr_expect_eq(bus_u64(bus, "HelloTimeouts"), 0);
	free(blk);
	sd_bus_flush_close_unref(bus);
	hclient_close(&a);
}

/* Reads @reply's page of sessions: their ids (at most @cap), and the next cursor. */
static size_t read_session_page(sd_bus_message *reply, uint64_t *ids, size_t cap,
				uint64_t *ret_next)
{
	const char *name;
	uint32_t pid, uid, pins, writing, retained;
	uint64_t id;
	size_t n = 0;

	cr_assert_geq(sd_bus_message_enter_container(reply, 'a', "(tuusuuu)"), 0);
	while (sd_bus_message_read(reply, "(tuusuuu)", &id, &pid, &uid, &name,
				   &pins, &writing, &retained) > 0) {
		cr_assert_lt(n, cap);
		ids[n++] = id;
	}
	cr_assert_geq(sd_bus_message_exit_container(reply), 0);
	cr_assert_geq(sd_bus_message_read(reply, "t", ret_next), 0);
	return n;
}

/* Pages of a list follow each other without a gap or a row twice. */
Test(admin, lists_come_in_pages_that_asymcachectl_follows)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	struct hclient a[5];
	struct ac_ns_layout l = { .model_id = "paged-model",
				  .kv = { .num_layers = 1, .num_kv_heads = 1,
					  .head_dim = 64, .dtype = AC_DTYPE_FP16,
					  .block_tokens = 16 } };
	uint64_t ids[8], cursor = 0, next;
	uint32_t ns, ncur = 0, nnext, rows = 0;
	struct json_object *j;
	size_t n = 0, got;
	sd_bus *bus;

	henv_start(&env, NULL);
	bus = test_bus();
	for (int i = 0; i < 5; i++)
		hclient_open(&env, "paged", &a[i]);
	do {
		sd_bus_message *reply = NULL;

		cr_assert_geq(sd_bus_call_method(bus, AC_BUS_NAME, AC_BUS_PATH,
						 AC_BUS_INTERFACE, "ListSessionsPage",
						 &e, &reply, "tu", cursor, 2),
			      0, "ListSessionsPage: %s", e.message);
		got = read_session_page(reply, ids + n, 8 - n, &next);
		sd_bus_message_unref(reply);
		cr_assert_leq(got, 2, "a page of 2 gave %zu rows", got);
		n += got;
		cursor = next;
	} while (cursor);
	cr_expect_eq(n, 5);
	for (size_t i = 1; i < n; i++)
		cr_expect_lt(ids[i], ids[i - 1], "not newest first, or a row twice");

	/* Three namespaces, pages of two. */
	cr_assert_eq(ac_register_namespace(a[0].c, a[0].pool, &l, &ns), 0);
	l.kv.head_dim = 128;
	cr_assert_eq(ac_register_namespace(a[0].c, a[0].pool, &l, &ns), 0);
	do {
		sd_bus_message *reply = NULL;
		const char *sig;

		cr_assert_geq(sd_bus_call_method(bus, AC_BUS_NAME, AC_BUS_PATH,
						 AC_BUS_INTERFACE, "ListNamespacesPage",
						 &e, &reply, "uu", ncur, 2),
			      0, "ListNamespacesPage: %s", e.message);
		cr_assert_geq(sd_bus_message_enter_container(reply, 'a',
							     "(usuuusutuussttt)"), 0);
		got = 0;
		while (sd_bus_message_peek_type(reply, NULL, &sig) > 0) {
			cr_assert_geq(sd_bus_message_skip(reply, "(usuuusutuussttt)"), 0);
			got++;
		}
		cr_assert_geq(sd_bus_message_exit_container(reply), 0);
		cr_assert_geq(sd_bus_message_read(reply, "u", &nnext), 0);
		sd_bus_message_unref(reply);
		cr_assert_leq(got, 2);
		rows += got;
		ncur = nnext;
	} while (ncur);
	cr_expect_eq(rows, 3);
	/* asymcachectl follows the pages: every row once. */
	j = ctl_json(0, "--json", "sessions");
	cr_expect_eq(json_object_array_length(j), 5);
	json_object_put(j);
	j = ctl_json(0, "--json", "namespaces");
	cr_expect_eq(json_object_array_length(j), 3);
	json_object_put(j);
	sd_bus_error_free(&e);
	sd_bus_flush_close_unref(bus);
	for (int i = 0; i < 5; i++)
		hclient_close(&a[i]);
}

/* ---- every pool a full pool on the bus -------------------------------- */

#define AC_BUS_POOL_INTERFACE	"org.asymcache.Pool1"
#define AC_BUS_ERROR_NOT_PERMITTED_NAME "org.asymcache.Daemon1.Error.NotPermitted"
#define TWO_POOLS_CONF \
	"[pool]\nbackend = host\nbytes = 4M\nblock_bytes = 64K\n" \
	"[policy]\nname = asym\n" \
	"[pool.1]\nbytes = 1M\nblock_bytes = 64K\ngroup = root\n" \
	"[limits]\nretain_budget_percent = 25\n"

static const char *pool_path(uint32_t pool)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%s/pool/%u", AC_BUS_PATH, pool);
	return buf;
}

/* Property @prop ('u' or 't') of pool @pool's object, as a uint64_t. */
static uint64_t pool_prop(sd_bus *bus, uint32_t pool, const char *prop, char type)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	uint32_t u = UINT32_MAX;
	uint64_t t = UINT64_MAX;

	cr_assert_geq(sd_bus_get_property_trivial(bus, AC_BUS_NAME, pool_path(pool),
						  AC_BUS_POOL_INTERFACE, prop, &e,
						  type, type == 'u' ? (void *)&u : (void *)&t),
		      0, "pool %u %s: %s", pool, prop, e.message);
	sd_bus_error_free(&e);
	return type == 'u' ? u : t;
}

/* EvictBlocks(@n) on pool @pool's object: evicted, or -1 with @e set. */
static int64_t pool_evict(sd_bus *bus, uint32_t pool, uint32_t n, sd_bus_error *e)
{
	sd_bus_message *reply = NULL;
	uint32_t evicted = 0;

	if (sd_bus_call_method(bus, AC_BUS_NAME, pool_path(pool), AC_BUS_POOL_INTERFACE,
			       "EvictBlocks", e, &reply, "u", n) < 0)
		return -1;
	cr_assert_geq(sd_bus_message_read(reply, "u", &evicted), 0);
	sd_bus_message_unref(reply);
	return evicted;
}

/* Exit 0 when nobody's EvictBlocks on pool @pool is refused with @err_name. */
static int nobody_evicts(const char *addr, uint32_t pool, const char *err_name)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus *bus = NULL;
	gid_t g = H_NOBODY;

	if (setgroups(1, &g) < 0 || setgid(H_NOBODY) < 0 || setuid(H_NOBODY) < 0)
		return 10;
	if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, addr) < 0 ||
	    sd_bus_set_bus_client(bus, 1) < 0 || sd_bus_start(bus) < 0)
		return 11;
	if (sd_bus_call_method(bus, AC_BUS_NAME, pool_path(pool), AC_BUS_POOL_INTERFACE,
			       "EvictBlocks", &e, NULL, "u", 1) >= 0)
		return 12;
	if (!sd_bus_error_has_name(&e, err_name)) {
		fprintf(stderr, "nobody's EvictBlocks: %s: %s\n", e.name, e.message);
		return 13;
	}
	return 0;
}

static void expect_nobody_cannot_evict(uint32_t pool, const char *err_name)
{
	int st;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(nobody_evicts(env.bus.addr, pool, err_name));
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "nobody's EvictBlocks on pool %u: step %d", pool,
		  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/*
 * Both pools in use: a tenant of pool 1 (@t) publishes 6 blocks and keeps
 * 3 of them over a tool call, its own pins gone; a client of pool 0 (@m)
 * publishes 2 and releases them. Returns the retention's handle.
 */
static uint64_t two_pools_in_use(struct hclient *t, struct hclient *m)
{
	struct ac_key kt[6], km[2];
	uint32_t bt[6], bm[2];
	uint64_t handle = 0;

	hclient_open_pool(&env, "tenant", 1, t);
	hclient_open(&env, "main", m);
	hpublish_prompt(t, 30, 6, kt, bt);
	hpublish_prompt(m, 31, 2, km, bm);
	cr_assert_eq(ac_release(m->c, bm, 2, NULL), 0);
	cr_assert_eq(ac_retain(t->c, t->ns, bt, 3, 60000, &handle), 0);
	cr_assert_eq(ac_release(t->c, bt, 6, NULL), 0);
	return handle;
}

/*
 * A tenant pool has what pool 0 has on the bus, on its own object:
 * blocks, counters, TTL retention and EvictBlocks, each about that pool
 * alone; pool 0's object reads as the daemon's object does.
 */
Test(admin, every_pool_has_an_object_with_pool_0s_members)
{
	struct henv_opts o = { .config = TWO_POOLS_CONF };
	sd_bus_error e = SD_BUS_ERROR_NULL;
	struct prop_seen w = { .name = "CachedBlocks" };
	sd_bus_slot *slot = NULL;
	struct hclient t, m;
	uint32_t released = 0;
	uint64_t handle;
	sd_bus *bus;

	henv_start(&env, &o);
	bus = test_bus();
	cr_assert_geq(sd_bus_match_signal(bus, &slot, AC_BUS_NAME, pool_path(1),
					  "org.freedesktop.DBus.Properties",
					  "PropertiesChanged", on_prop_changed, &w), 0);
	handle = two_pools_in_use(&t, &m);
	cr_expect(wait_changed(bus, &w), "no PropertiesChanged on pool 1's object");

	cr_expect_eq(pool_prop(bus, 1, "Index", 'u'), 1);
	cr_expect_eq(pool_prop(bus, 1, "NBlocks", 'u'), 16);
	cr_expect_eq(pool_prop(bus, 1, "CachedBlocks", 'u'), 6);
	cr_expect_eq(pool_prop(bus, 1, "PinnedBlocks", 'u'), 3);
	cr_expect_eq(pool_prop(bus, 1, "RetainedBlocks", 'u'), 3);
	cr_expect_eq(pool_prop(bus, 1, "Namespaces", 'u'), 1);
	cr_expect_eq(pool_prop(bus, 1, "Commits", 't'), 6);
	cr_expect_eq(pool_prop(bus, 1, "RetainBudgetBlocks", 'u'), 4, "25%% of 16");
	/* Pool 0 is untouched by the tenant, on both of its objects. */
	cr_expect_eq(bus_u32(bus, "NBlocks"), 64);
	cr_expect_eq(bus_u32(bus, "CachedBlocks"), 2);
	cr_expect_eq(bus_u32(bus, "RetainedBlocks"), 0);
	cr_expect_eq(bus_u64(bus, "Commits"), 2);
	cr_expect_eq(pool_prop(bus, 0, "Index", 'u'), 0);
	cr_expect_eq(pool_prop(bus, 0, "NBlocks", 'u'), 64);
	cr_expect_eq(pool_prop(bus, 0, "CachedBlocks", 'u'), 2);
	cr_expect_eq(pool_prop(bus, 0, "Commits", 't'), 2);
	cr_expect_eq(pool_prop(bus, 0, "RetainedBlocks", 'u'), 0);

	/* The admin's eviction, pool by pool: the retained 3 stay. */
	cr_expect_eq(pool_evict(bus, 1, 100, &e), 3, "%s", e.message);
	cr_expect_eq(pool_prop(bus, 1, "CachedBlocks", 'u'), 3);
	cr_expect_eq(pool_prop(bus, 1, "Evictions", 't'), 3);
	cr_expect_eq(bus_u32(bus, "CachedBlocks"), 2, "pool 1's eviction took pool 0's");
	cr_expect_eq(bus_u64(bus, "Evictions"), 0);
	cr_expect_eq(pool_evict(bus, 0, 1, &e), 1, "%s", e.message);
	cr_expect_eq(bus_u32(bus, "CachedBlocks"), 1);
	cr_expect_eq(pool_prop(bus, 1, "CachedBlocks", 'u'), 3);
	cr_expect_eq(pool_evict(bus, 1, 0, &e), -1);
	cr_expect(sd_bus_error_has_name(&e, SD_BUS_ERROR_INVALID_ARGS), "%s", e.name);
	sd_bus_error_free(&e);
	expect_nobody_cannot_evict(1, SD_BUS_ERROR_ACCESS_DENIED);

	/* Retention's outcomes count where the retention was. */
	cr_assert_eq(ac_resume(t.c, handle, &released), 0);
	cr_expect_eq(released, 3);
	cr_expect_eq(pool_prop(bus, 1, "RetainResumed", 't'), 1);
	cr_expect_eq(pool_prop(bus, 1, "RetainedBlocks", 'u'), 0);
	cr_expect_eq(bus_u64(bus, "RetainResumed"), 0);
	/* asymcachectl evict --pool: the same method, pool by pool. */
	{
		char *err = NULL;

		cr_expect_eq(run_ctl(&env, H_NOBODY, NULL, &err, "evict", "--pool", "1",
				     "1", NULL), 4, "nobody's evict --pool 1: %s", err);
		free(err);
		err = NULL;
		cr_expect_neq(run_ctl(&env, 0, NULL, &err, "evict", "--pool", "5", "1",
				      NULL), 0, "a pool that does not exist");
		cr_expect_neq(strstr(err ? err : "", "is there such a pool?"), NULL,
			      "%s", err);
		free(err);
	}
	expect_ctl_fields(0, ARGV("--json", "evict", "--pool", "1", "100"),
			  FIELDS({ "pool", 1 }, { "requested", 100 }, { "evicted", 3 }));
	cr_expect_eq(pool_prop(bus, 1, "CachedBlocks", 'u'), 0);
	cr_expect_eq(bus_u32(bus, "CachedBlocks"), 1, "pool 0 kept its block");

	sd_bus_slot_unref(slot);
	sd_bus_flush_close_unref(bus);
	hclient_close(&m);
	hclient_close(&t);
}

/*
 * Pool 1 of two_pools_in_use() with its 3 unretained blocks evicted: the
 * samples both expositions (/metrics, stats --prometheus) must carry.
 */
static const struct sample {
	const char *name, *labels;
	double value;
} two_pools_samples[] = {
	{ "asymcache_pool_blocks", "pool=\"0\"", 64 },
	{ "asymcache_pool_blocks", "pool=\"1\"", 16 },
	{ "asymcache_blocks", "pool=\"0\",state=\"cached\"", 2 },
	{ "asymcache_blocks", "pool=\"0\",state=\"evictable\"", 2 },
	{ "asymcache_blocks", "pool=\"0\",state=\"free\"", 62 },
	{ "asymcache_blocks", "pool=\"1\",state=\"cached\"", 3 },
	{ "asymcache_blocks", "pool=\"1\",state=\"pinned\"", 3 },
	{ "asymcache_blocks", "pool=\"1\",state=\"evictable\"", 0 },
	{ "asymcache_blocks", "pool=\"1\",state=\"free\"", 13 },
	{ "asymcache_retained_blocks", "pool=\"0\"", 0 },
	{ "asymcache_retained_blocks", "pool=\"1\"", 3 },
	{ "asymcache_evictions_total", "pool=\"0\"", 0 },
	{ "asymcache_evictions_total", "pool=\"1\"", 3 },
	{ "asymcache_commits_total", "pool=\"0\"", 2 },
	{ "asymcache_commits_total", "pool=\"1\"", 6 },
	{ "asymcache_flushed_blocks_total", "pool=\"1\"", 0 },
	{ "asymcache_dedups_total", "pool=\"1\"", 0 },
	{ NULL },
};

static void expect_samples(const struct prom *p, const struct sample *want,
			   const char *where)
{
	for (; want->name; want++)
		cr_expect_eq(prom_value(p, want->name, want->labels), want->value,
			     "%s: %s{%s}", where, want->name, want->labels);
}

/*
 * /metrics and asymcachectl stats --prometheus have every pool's blocks
 * and counters, each sample labelled by its pool; stats --pool shows one.
 */
Test(admin, metrics_and_ctl_stats_have_every_pool)
{
	struct henv_opts o = { .config = TWO_POOLS_CONF "[metrics]\nlisten = 0\n" };
	sd_bus_error e = SD_BUS_ERROR_NULL;
	struct hclient t, m;
	char *ans, *out = NULL;
	struct json_object *j;
	const char *body;
	struct prom p;
	sd_bus *bus;

	henv_start(&env, &o);
	bus = test_bus();
	two_pools_in_use(&t, &m);
	/* Pool 1: 3 of 6 retained (pinned), the other 3 unpinned and evicted. */
	cr_assert_eq(pool_evict(bus, 1, 100, &e), 3, "%s", e.message);

	ans = h_http_get(henv_metrics_port(&env), "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
	body = http_body(ans, "Content-Type: text/plain; version=0.0.4; charset=utf-8");
	prom_checked(body, &p);
	expect_samples(&p, two_pools_samples, "/metrics");
	/* No pool beyond those configured, and no sample without its pool. */
	cr_expect(isnan(prom_value(&p, "asymcache_pool_blocks", "pool=\"2\"")));
	cr_expect(isnan(prom_value(&p, "asymcache_pool_blocks", NULL)));
	prom_free(&p);
	free(ans);

	/* asymcachectl's textfile exposition: every pool, labelled as /metrics. */
	cr_assert_eq(run_ctl(&env, 0, &out, NULL, "stats", "--prometheus", NULL), 0);
	prom_checked(out, &p);
	expect_samples(&p, two_pools_samples, "stats --prometheus");
	cr_expect_eq(prom_value(&p, "asymcache_retain_budget_blocks", "pool=\"1\""), 4);
	cr_expect_eq(prom_value(&p, "asymcache_sessions", NULL), 2);
	prom_free(&p);
	free(out);

	/* stats --pool: that pool's blocks and counters, the daemon's sessions. */
	j = ctl_json(0, "stats", "--pool", "1", "--json");
	cr_expect_eq(hjson_u64(j, "pool"), 1);
	cr_expect_eq(hjson_u64(j, "blocks.total"), 16);
	cr_expect_eq(hjson_u64(j, "blocks.cached"), 3);
	cr_expect_eq(hjson_u64(j, "blocks.retained"), 3);
	cr_expect_eq(hjson_u64(j, "evictions"), 3);
	cr_expect_eq(hjson_u64(j, "commits"), 6);
	cr_expect_eq(hjson_u64(j, "sessions"), 2);
	json_object_put(j);
	j = ctl_json(0, "stats", "--json");
	cr_expect_eq(hjson_u64(j, "pool"), 0);
	cr_expect_eq(hjson_u64(j, "blocks.total"), 64);
	cr_expect_eq(hjson_u64(j, "commits"), 2);
	json_object_put(j);
	cr_assert_eq(run_ctl(&env, 0, &out, NULL, "stats", "--pool", "1", NULL), 0);
	cr_expect(strstr(out, "evictions"), "%s", out);
	free(out);
	out = NULL;
	cr_expect_neq(run_ctl(&env, 0, NULL, &out, "stats", "--pool", "7", NULL), 0,
		      "a pool that does not exist");
	cr_expect(strstr(out ? out : "", "is there such a pool?"), "%s", out);
	free(out);
	out = NULL;
	cr_expect_eq(run_ctl(&env, 0, NULL, &out, "stats", "--pool", "one", NULL), 2);
	cr_expect(strstr(out ? out : "", "--pool wants a pool number, not 'one'"), "%s", out);
	free(out);
	out = NULL;
	cr_expect_eq(run_ctl(&env, 0, NULL, &out, "stats", "--prometheus", "--pool", "1", NULL),
		     2);
	cr_expect(strstr(out ? out : "", "every pool"), "%s", out);
	free(out);
	sd_bus_error_free(&e);
	sd_bus_flush_close_unref(bus);
	hclient_close(&m);
	hclient_close(&t);
}

/* Past the bus policy, the daemon's own check guards every pool's object. */
Test(admin, nobody_cannot_evict_in_a_tenant_pool_past_a_permissive_bus)
{
	struct henv_opts o = { .config = TWO_POOLS_CONF, .permissive_bus = true };

	henv_start(&env, &o);
	expect_nobody_cannot_evict(1, AC_BUS_ERROR_NOT_PERMITTED_NAME);
	expect_nobody_cannot_evict(0, AC_BUS_ERROR_NOT_PERMITTED_NAME);
}
