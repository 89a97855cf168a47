/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "harness.h"
#include "th_fs.h"

gid_t h_extra_gid;

static const char *build_root(void)
{
	const char *r = getenv("AC_BUILD_ROOT");

	cr_assert(r, "AC_BUILD_ROOT is not set (run through meson test)");
	return r;
}

static const char *source_root(void)
{
	const char *r = getenv("AC_SOURCE_ROOT");

	cr_assert(r, "AC_SOURCE_ROOT is not set (run through meson test)");
	return r;
}

/* AC_ADMIN_VALGRIND=DIR: the daemon and asymcachectl under valgrind. */
static const char *valgrind_dir(void)
{
	return getenv("AC_ADMIN_VALGRIND");
}

void henv_start_bus(struct henv *e)
{
	char log[128];
	int r = th_bus_start(&e->bus);

	snprintf(log, sizeof(log), "%s/dbus.log", e->bus.dir);
	if (r < 0)
		th_dump_file(log, stderr);
	cr_assert_eq(r, 0, "dbus-daemon did not start: %s", strerror(-r));
}

void henv_stop_bus(struct henv *e)
{
	th_bus_stop(&e->bus);
}

void henv_start(struct henv *e, const struct henv_opts *o)
{
	static const struct henv_opts none;
	char policy[512], config[1024], env[160];
	const char *envv[] = { env, NULL };
	struct th_daemon_opts dopts = {
		.tag = "ac-admin", .config = config, .env = envv,
		.notify = true, .valgrind_dir = valgrind_dir(),
	};
	int r;

	if (!o)
		o = &none;
	memset(e, 0, sizeof(*e));
	/* Only the shipped policy file opens the bus, unless told otherwise. */
	if (o->permissive_bus)
		snprintf(policy, sizeof(policy),
			 "  <policy context=\"default\">\n"
			 "    <allow own=\"org.asymcache.Daemon1\"/>\n"
			 "    <allow send_destination=\"org.asymcache.Daemon1\"/>\n"
			 "  </policy>\n");
	else
		snprintf(policy, sizeof(policy),
			 "  <include>%s/packaging/dbus/org.asymcache.Daemon1.conf</include>\n",
			 source_root());
	r = th_bus_init(&e->bus, "ac-admin-bus", policy);
	cr_assert_eq(r, 0, "bus folder: %s", strerror(-r));
	henv_start_bus(e);

	snprintf(config, sizeof(config), "%s%s%s",
		 o->config ? o->config : "[pool]\nbackend = host\nbytes = 4M\nblock_bytes = 64K\n"
		 "[policy]\nname = asym\n",
		 o->address_in_config ? "[daemon]\ndbus_address = " : "",
		 o->address_in_config ? e->bus.addr : "");
	/* The config's address must win over the environment's. */
	snprintf(env, sizeof(env), "AC_DBUS_ADDRESS=%s",
		 o->address_in_config ? "unix:path=/nonexistent/bus" : e->bus.addr);
	dopts.watchdog_usec = o->watchdog_usec;
	dopts.child_setup = o->child_setup;
	dopts.child_arg = o->child_arg;
	r = th_daemon_start(&e->d, &dopts);
	if (r < 0)
		th_dump_file(e->d.log, stderr);
	cr_assert_eq(r, 0, "asymcached never sent READY=1: %s (see %s/daemon.log)",
		     strerror(-r), e->d.dir);
}

void henv_stop_daemon(struct henv *e)
{
	int code = th_daemon_stop(&e->d);

	if (code != 0)
		th_dump_file(e->d.log, stderr);
	cr_expect_eq(code, 0, "asymcached exit status %d", code);
}

void henv_stop(struct henv *e)
{
	th_daemon_cleanup(&e->d);
	th_bus_cleanup(&e->bus);
}

static char *slurp_append(char *buf, size_t *len, const char *data, size_t n)
{
	char *nb = realloc(buf, *len + n + 1);

	cr_assert(nb);
	memcpy(nb + *len, data, n);
	*len += n;
	nb[*len] = '\0';
	return nb;
}

/* One read from *@fd onto @buf; at EOF or error, close *@fd and set -1. */
static char *slurp_read(int *fd, char *buf, size_t *len)
{
	char chunk[4096];
	ssize_t r = read(*fd, chunk, sizeof(chunk));

	if (r > 0)
		return slurp_append(buf, len, chunk, (size_t)r);
	close(*fd);
	*fd = -1;
	return buf;
}

/*
 * nobody may not be able to reach the build tree (a checkout under a folder
 * only root enters, as mktemp -d makes): it runs a copy of asymcachectl in
 * a folder of its own that everyone may enter. asymcachectl links only
 * system libraries, so the copy runs as the original does.
 */
static void ctl_copy_for_nobody(const char *ctl, char *dir, size_t dlen,
				char *copy, size_t clen)
{
	char buf[1 << 16];
	int in, outfd;
	ssize_t r;

	cr_assert_eq(th_dir_make(dir, dlen, "ac-ctl"), 0, "temporary folder for asymcachectl");
	snprintf(copy, clen, "%s/asymcachectl", dir);
	in = open(ctl, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(in, 0, "%s: %s", ctl, strerror(errno));
	outfd = open(copy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	cr_assert_geq(outfd, 0, "%s: %s", copy, strerror(errno));
	while ((r = read(in, buf, sizeof(buf))) > 0)
		cr_assert_eq(write(outfd, buf, (size_t)r), r, "copying asymcachectl");
	cr_assert_eq(r, 0, "reading %s: %s", ctl, strerror(errno));
	close(in);
	cr_assert_eq(close(outfd), 0);
}

int run_ctlv(const struct henv *e, uid_t uid, char *const argv[], char **out,
	     char **err)
{
	char ctl[256], copy_dir[TH_DIR_MAX] = "", *args[32];
	int po[2], pe[2], status, n = 0;
	char *bo = calloc(1, 1), *be = calloc(1, 1);
	size_t lo = 0, le = 0;
	uint64_t end;
	pid_t pid;

	snprintf(ctl, sizeof(ctl), "%s/tools/asymcachectl/asymcachectl", build_root());
	if (uid != 0) {
		char copy[sizeof(ctl)];

		ctl_copy_for_nobody(ctl, copy_dir, sizeof(copy_dir), copy, sizeof(copy));
		snprintf(ctl, sizeof(ctl), "%s", copy);
	}
	args[n++] = ctl;
	while (argv[n - 1] && n < 31) {
		args[n] = argv[n - 1];
		n++;
	}
	args[n] = NULL;
	cr_assert(pipe2(po, O_CLOEXEC) == 0 && pipe2(pe, O_CLOEXEC) == 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		dup2(po[1], STDOUT_FILENO);
		dup2(pe[1], STDERR_FILENO);
		if (e)
			setenv("AC_DBUS_ADDRESS", e->bus.addr, 1);
		if (uid != 0) {
			gid_t g = h_extra_gid;

			if (setgroups(g ? 1 : 0, &g) < 0 || setgid(H_NOBODY) < 0 ||
			    setuid(uid) < 0)
				_exit(126);
		}
		th_exec(ctl, args, valgrind_dir());
	}
	close(po[1]);
	close(pe[1]);
	end = th_now_ms() + 30000;
	while (po[0] >= 0 || pe[0] >= 0) {
		struct pollfd p[2] = { { .fd = po[0], .events = POLLIN },
				       { .fd = pe[0], .events = POLLIN } };

		if (th_now_ms() > end) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(p, 2, 1000) <= 0)
			continue;
		if (p[0].revents)
			bo = slurp_read(&po[0], bo, &lo);
		if (p[1].revents)
			be = slurp_read(&pe[0], be, &le);
	}
	if (po[0] >= 0)
		close(po[0]);
	if (pe[0] >= 0)
		close(pe[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	if (copy_dir[0])
		th_dir_remove(copy_dir);
	if (out)
		*out = bo;
	else
		free(bo);
	if (err)
		*err = be;
	else
		free(be);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool h_fake_admin_group(gid_t gid, char *why, size_t len)
{
	char line[64], path[] = "/tmp/ac-admin-group-XXXXXX";
	FILE *in, *out;
	int fd, c;

	/*
	 * A mount namespace of this test process only: a copy of /etc/group
	 * with the admin group is bind-mounted over the real one, for us and
	 * for the bus and daemon we start. The machine's file is untouched.
	 */
	if (unshare(CLONE_NEWNS) < 0) {
		snprintf(why, len, "unshare(CLONE_NEWNS): %s", strerror(errno));
		return false;
	}
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0) {
		snprintf(why, len, "making / private: %s", strerror(errno));
		return false;
	}
	fd = mkstemp(path);
	cr_assert(fd >= 0);
	out = fdopen(fd, "w");
	in = fopen("/etc/group", "r");
	cr_assert(out && in);
	while ((c = fgetc(in)) != EOF)
		fputc(c, out);
	fclose(in);
	snprintf(line, sizeof(line), "asymcache-admin:x:%u:\n", (unsigned int)gid);
	fputs(line, out);
	fclose(out);
	chmod(path, 0644);
	if (mount(path, "/etc/group", "none", MS_BIND, NULL) < 0) {
		snprintf(why, len, "bind-mounting over /etc/group: %s", strerror(errno));
		unlink(path);
		return false;
	}
	unlink(path);	/* the mount keeps the inode */
	return true;
}

int run_ctl(const struct henv *e, uid_t uid, char **out, char **err, ...)
{
	char *argv[32];
	va_list ap;
	int n = 0;

	va_start(ap, err);
	while (n < 31 && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	return run_ctlv(e, uid, argv, out, err);
}

static const struct ac_ns_layout test_layout = {
	.model_id = "test-llama",
	.kv = { .num_layers = 2, .num_kv_heads = 2, .head_dim = 64,
		.dtype = AC_DTYPE_FP16, .block_tokens = H_BLOCK_TOKENS },
};

void hclient_open(const struct henv *e, const char *name, struct hclient *hc)
{
	hclient_open_pool(e, name, 0, hc);
}

void hclient_open_pool(const struct henv *e, const char *name, uint32_t pool,
		       struct hclient *hc)
{
	int r;

	memset(hc, 0, sizeof(*hc));
	r = ac_connect(e->d.sock, name, &hc->c);
	cr_assert_eq(r, 0, "ac_connect: %s", ac_strerror(r));
	r = ac_attach(hc->c, pool, &hc->pool);
	cr_assert_eq(r, 0, "ac_attach(%u): %s", pool, ac_strerror(r));
	r = ac_register_namespace(hc->c, hc->pool, &test_layout, &hc->ns);
	cr_assert_eq(r, 0, "ac_register_namespace: %s", ac_strerror(r));
	r = ac_key_seed_init(&hc->seed, &test_layout, NULL, 0, AC_HASH_SHA256);
	cr_assert_eq(r, 0);
}

void hclient_close(struct hclient *hc)
{
	ac_disconnect(hc->c);
	hc->c = NULL;
}

void hkeys(const struct hclient *hc, uint32_t prompt, size_t n, struct ac_key *keys)
{
	size_t ntok = n * H_BLOCK_TOKENS, nkeys = n, i;
	int32_t *tok = malloc(ntok * sizeof(*tok));
	int r;

	cr_assert(tok);
	for (i = 0; i < ntok; i++)
		tok[i] = (int32_t)(prompt * 7919u + (uint32_t)i * 31u);
	r = ac_keys_compute(&hc->seed, tok, ntok, H_BLOCK_TOKENS, keys, &nkeys);
	cr_assert_eq(r, 0);
	cr_assert_eq(nkeys, n);
	free(tok);
}

void hpublish(struct hclient *hc, const struct ac_key *keys, size_t n, uint32_t *blocks)
{
	struct ac_commit_entry *ent = calloc(n, sizeof(*ent));
	uint32_t *wr = calloc(n, sizeof(*wr));
	size_t i;
	int r;

	cr_assert(ent && wr);
	r = ac_alloc(hc->c, hc->ns, (uint32_t)n, wr);
	cr_assert_eq(r, 0, "ac_alloc(%zu): %s", n, ac_strerror(r));
	for (i = 0; i < n; i++) {
		ent[i].key = keys[i];
		ent[i].block = wr[i];
		ent[i].position = (uint32_t)i;
		if (i)
			ent[i].parent = keys[i - 1];
	}
	r = ac_commit(hc->c, hc->ns, ent, n, blocks, NULL);
	cr_assert_eq(r, 0, "ac_commit: %s", ac_strerror(r));
	free(ent);
	free(wr);
}

void hpublish_prompt(struct hclient *hc, uint32_t prompt, size_t n,
		     struct ac_key *keys, uint32_t *blocks)
{
	hkeys(hc, prompt, n, keys);
	hpublish(hc, keys, n, blocks);
}

void hstats(struct hclient *hc, struct ac_stats *s)
{
	int r = ac_stats(hc->c, s);

	cr_assert_eq(r, 0, "ac_stats: %s", ac_strerror(r));
}

struct json_object *hjson(const char *text)
{
	struct json_object *o = json_tokener_parse(text);

	cr_assert(o, "not JSON: %s", text);
	return o;
}

uint64_t hjson_u64(struct json_object *o, const char *path)
{
	char buf[128], *save = NULL, *part;
	struct json_object *cur = o;

	snprintf(buf, sizeof(buf), "%s", path);
	for (part = strtok_r(buf, ".", &save); part; part = strtok_r(NULL, ".", &save))
		cr_assert(json_object_object_get_ex(cur, part, &cur), "no %s in JSON", path);
	cr_assert(json_object_is_type(cur, json_type_int), "%s is not an integer", path);
	return json_object_get_uint64(cur);
}

int henv_metrics_port(const struct henv *e)
{
	char line[1024];
	const char *p;
	int port = -1;
	FILE *f = fopen(e->d.log, "r");

	cr_assert(f, "%s: %s", e->d.log, strerror(errno));
	while (fgets(line, sizeof(line), f))
		if ((p = strstr(line, "metrics on http://127.0.0.1:")))
			port = atoi(p + strlen("metrics on http://127.0.0.1:"));
	fclose(f);
	cr_assert_gt(port, 0, "the daemon did not log its metrics address");
	return port;
}

char *h_http_get(int port, const char *request)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char *buf = calloc(1, 1), chunk[4096];
	size_t len = 0;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s",
		     strerror(errno));
	cr_assert_eq(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		buf = realloc(buf, len + (size_t)n + 1);
		memcpy(buf + len, chunk, (size_t)n);
		len += (size_t)n;
		buf[len] = '\0';
	}
	close(fd);
	return buf;
}
