/* SPDX-License-Identifier: MIT */
/*
 * The daemon inside the shipped unit's system call sandbox, built the way
 * systemd builds it but without systemd: the calls its SystemCallFilter=
 * lines allow (groups expanded by systemd-analyze, so by the same tables
 * systemd would use on this host) and the socket families of
 * RestrictAddressFamilies=, loaded with seccomp in the daemon's process
 * before exec. systemd makes a call outside the filter fail with EPERM;
 * here it kills the daemon (SIGSYS), so that the first one shows at once
 * instead of as some feature quietly failing.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <seccomp.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "harness.h"

#define MAX_NAMES	2048
#define MAX_GROUPS	64
#define MAX_FAMILIES	8

/* systemd-analyze syscall-filter: each group and its members. */
struct group {
	char *name;
	char **members;
	size_t n;
};

static struct group groups[MAX_GROUPS];
static size_t ngroups;
/* What the unit lets the daemon call, and with which socket families. */
static char *allowed[MAX_NAMES];
static size_t nallowed;
static int families[MAX_FAMILIES];
static size_t nfamilies;
static struct henv env;

static void teardown(void)
{
	henv_stop(&env);
}

/* The whole output of @cmd, malloc()ed; NULL when it does not exit 0. */
static char *run_output(const char *cmd)
{
	char chunk[4096], *out = calloc(1, 1);
	size_t len = 0, n;
	FILE *p = popen(cmd, "r");

	cr_assert(p && out);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0) {
		out = realloc(out, len + n + 1);
		cr_assert(out);
		memcpy(out + len, chunk, n);
		len += n;
		out[len] = '\0';
	}
	if (pclose(p) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/*
 * "@group" at the start of a line opens a group; its members are the
 * indented lines below it ("#" lines are comments). The listing ends with
 * the calls of no group, under a comment at the start of a line.
 */
static void groups_read(void)
{
	char *text = run_output("systemd-analyze syscall-filter 2>/dev/null"), *save, *line;
	struct group *g = NULL;

	if (!text)
		cr_skip_test("systemd-analyze syscall-filter did not run");
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *w = line + strspn(line, " \t");

		if (line[0] == '@') {
			cr_assert_lt(ngroups, MAX_GROUPS);
			g = &groups[ngroups++];
			g->name = strdup(line);
		} else if (line[0] != ' ' && line[0] != '\t') {
			g = NULL;
		} else if (g && *w && *w != '#') {
			g->members = realloc(g->members, (g->n + 1) * sizeof(*g->members));
			cr_assert(g->members);
			g->members[g->n++] = strdup(w);
		}
	}
	free(text);
	cr_assert_gt(ngroups, 10, "systemd-analyze syscall-filter listed no groups");
}

static const struct group *group_find(const char *name)
{
	size_t i;

	for (i = 0; i < ngroups; i++)
		if (strcmp(groups[i].name, name) == 0)
			return &groups[i];
	cr_assert_fail("the unit names %s, which systemd-analyze does not know", name);
	return NULL;
}

static bool is_allowed(const char *name, size_t *at)
{
	size_t i;

	for (i = 0; i < nallowed; i++)
		if (strcmp(allowed[i], name) == 0) {
			if (at)
				*at = i;
			return true;
		}
	return false;
}

/* Adds (@allow) or removes one call or @group, recursively. */
static void apply(const char *name, bool allow, int depth)
{
	size_t i;

	cr_assert_lt(depth, 8, "groups nest too deep at %s", name);
	if (name[0] == '@') {
		const struct group *g = group_find(name);

		for (i = 0; i < g->n; i++)
			apply(g->members[i], allow, depth + 1);
		return;
	}
	if (allow && !is_allowed(name, NULL)) {
		cr_assert_lt(nallowed, MAX_NAMES);
		allowed[nallowed++] = strdup(name);
	} else if (!allow && is_allowed(name, &i)) {
		free(allowed[i]);
		allowed[i] = allowed[--nallowed];
	}
}

static int family_of(const char *name)
{
	static const struct {
		const char *name;
		int af;
	} known[] = { { "AF_UNIX", AF_UNIX }, { "AF_INET", AF_INET }, { "AF_INET6", AF_INET6 },
		      { "AF_NETLINK", AF_NETLINK }, { "AF_PACKET", AF_PACKET } };
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(known[i].name, name) == 0)
			return known[i].af;
	cr_assert_fail("RestrictAddressFamilies= names %s, unknown to this test", name);
	return -1;
}

/*
 * Reads the unit's filter lines as systemd does: the first line is an
 * allow list (a "~" one would be a deny list, which the unit must not
 * use), later lines add to it or, with "~", take away.
 */
static void unit_read(void)
{
	char path[512], line[1024];
	const char *root = getenv("AC_BUILD_ROOT");
	bool first = true;
	FILE *f;

	cr_assert(root, "AC_BUILD_ROOT is not set (run through meson test)");
	snprintf(path, sizeof(path), "%s/packaging/asymcached.service", root);
	f = fopen(path, "r");
	cr_assert(f, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *v, *w, *save;
		bool deny;

		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "SystemCallFilter=", 17) == 0) {
			v = line + 17;
			deny = *v == '~';
			cr_assert(!(first && deny), "%s: the first SystemCallFilter= is a deny list",
				  path);
			first = false;
			for (w = strtok_r(v + deny, " ", &save); w; w = strtok_r(NULL, " ", &save))
				apply(w, !deny, 0);
		} else if (strncmp(line, "RestrictAddressFamilies=", 24) == 0) {
			v = line + 24;
			cr_assert_neq(*v, '~', "RestrictAddressFamilies= is a deny list");
			for (w = strtok_r(v, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
				cr_assert_lt(nfamilies, MAX_FAMILIES);
				families[nfamilies++] = family_of(w);
			}
		}
	}
	fclose(f);
	cr_assert(!first, "%s has no SystemCallFilter=", path);
	cr_assert_gt(nfamilies, 0, "%s has no RestrictAddressFamilies=", path);
}

/* In the daemon's process, just before exec. */
static void sandbox(void *arg)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	size_t i;
	int nr, r = ctx ? 0 : -ENOMEM;

	(void)arg;
	for (i = 0; i < nallowed && r == 0; i++) {
		nr = seccomp_syscall_resolve_name(allowed[i]);
		/* Groups list calls of other architectures too. */
		if (nr == __NR_SCMP_ERROR || strcmp(allowed[i], "socket") == 0)
			continue;
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	}
	if (is_allowed("socket", NULL))
		for (i = 0; i < nfamilies && r == 0; i++)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
					     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i]));
	if (r == 0)
		r = seccomp_load(ctx);
	if (r < 0) {
		fprintf(stderr, "test-sandbox: seccomp: %s\n", strerror(-r));
		_exit(126);
	}
	seccomp_release(ctx);
}

/*
 * Everything the daemon does for its users, inside the filter: clients
 * publish and find blocks, Prometheus scrapes /metrics, admins use the
 * bus, SIGHUP reloads, SIGTERM stops it cleanly.
 */
Test(sandbox, the_daemon_runs_inside_the_units_syscall_filter, .fini = teardown)
{
	struct henv_opts o = {
		.config = "[pool]\nbackend = host\nbytes = 4M\nblock_bytes = 64K\n"
			  "[policy]\nname = asym\n[metrics]\nlisten = 0\n",
		.child_setup = sandbox,
	};
	struct hclient a;
	struct ac_key k[4];
	uint32_t blk[4], found[4];
	struct ac_segment seg[4];
	struct ac_lookup_result res = { .blocks = found, .segments = seg, .max_segments = 4 };
	char *out = NULL, *ans;

	/*
	 * Under valgrind (the admin harness's, or make valgrind's wrapper,
	 * which follows this test into the daemon) the calls are valgrind's,
	 * and it cannot load a seccomp filter at all.
	 */
	if (getenv("AC_ADMIN_VALGRIND") || RUNNING_ON_VALGRIND)
		cr_skip_test("valgrind's own system calls are not the daemon's");
	groups_read();
	unit_read();
	cr_assert(is_allowed("io_uring_enter", NULL), "the filter takes away the event loop");
#ifdef __SANITIZE_ADDRESS__
	/* LeakSanitizer stops the world with ptrace at exit: its call, not the daemon's. */
	apply("ptrace", true, 0);
#endif

	henv_start(&env, &o);
	hclient_open(&env, "sandboxed", &a);
	hpublish_prompt(&a, 1, 4, k, blk);
	cr_assert_eq(ac_lookup(a.c, a.ns, k, 4, &res), 0);
	cr_expect_eq(res.hits, 4);
	cr_assert_eq(ac_release(a.c, found, 4, NULL), 0);
	hclient_close(&a);

	ans = h_http_get(henv_metrics_port(&env), "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
	cr_expect(strncmp(ans, "HTTP/1.1 200 OK\r\n", 17) == 0, "%.200s", ans);
	cr_expect(strstr(ans, "\nasymcache_up 1\n"), "%.300s", ans);
	free(ans);

	cr_expect_eq(run_ctl(&env, 0, &out, NULL, "status", NULL), 0);
	free(out);
	cr_expect_eq(run_ctl(&env, 0, NULL, NULL, "policy", "lru", NULL), 0);
	cr_assert_eq(kill(env.d.pid, SIGHUP), 0);
	cr_expect_eq(th_notify_wait(env.d.notify, "RELOADING=1", 1, 5000, NULL, 0), 1);
	cr_expect_eq(th_notify_wait(env.d.notify, "READY=1", 1, 5000, NULL, 0), 1);
	cr_expect(th_daemon_alive(&env.d), "the daemon died (SIGSYS: a call outside the filter)");
	henv_stop_daemon(&env);
}
