/* SPDX-License-Identifier: MIT */
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
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "harness.h"

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

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert(f, "cannot write %s: %s", path, strerror(errno));
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

/*
 * Debian's system bus defaults (deny own, deny method calls, allow replies
 * and signals), so that only the shipped policy file opens anything.
 */
static void write_bus_conf(const struct henv *e, const char *path, bool permissive)
{
	char text[4096], policy[512];

	if (permissive)
		snprintf(policy, sizeof(policy),
			 "  <policy context=\"default\">\n"
			 "    <allow own=\"org.asymcache.Daemon1\"/>\n"
			 "    <allow send_destination=\"org.asymcache.Daemon1\"/>\n"
			 "  </policy>\n");
	else
		snprintf(policy, sizeof(policy), "  <include>%s/packaging/dbus/org.asymcache.Daemon1.conf</include>\n",
			 source_root());
	snprintf(text, sizeof(text),
		 "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
		 " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
		 "<busconfig>\n"
		 "  <type>system</type>\n"
		 "  <listen>unix:path=%s/bus</listen>\n"
		 "  <auth>EXTERNAL</auth>\n"
		 "  <policy context=\"default\">\n"
		 "    <allow user=\"*\"/>\n"
		 "    <deny own=\"*\"/>\n"
		 "    <deny send_type=\"method_call\"/>\n"
		 "    <allow send_type=\"signal\"/>\n"
		 "    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
		 "    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
		 "    <allow receive_type=\"method_call\"/>\n"
		 "    <allow receive_type=\"method_return\"/>\n"
		 "    <allow receive_type=\"error\"/>\n"
		 "    <allow receive_type=\"signal\"/>\n"
		 "    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus\"/>\n"
		 "    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus.Introspectable\"/>\n"
		 "    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus.Properties\"/>\n"
		 "  </policy>\n"
		 "%s"
		 "</busconfig>\n", e->dir, policy);
	write_file(path, text);
}

static void wait_for_path(const char *path, pid_t pid, const char *what)
{
	uint64_t end = mono_ms() + 10000;
	struct stat st;
	int status;

	while (stat(path, &st) < 0) {
		cr_assert(waitpid(pid, &status, WNOHANG) == 0, "%s exited early", what);
		cr_assert(mono_ms() < end, "%s did not create %s", what, path);
		usleep(10000);
	}
}

static void redirect_log(const struct henv *e, const char *name)
{
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/%s.log", e->dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
}

static void *notify_drain(void *userdata);
static void stop_pid(pid_t *pid);

void henv_start_bus(struct henv *e)
{
	char busconf[128], busfile[96];

	snprintf(busconf, sizeof(busconf), "%s/bus.conf", e->dir);
	snprintf(busfile, sizeof(busfile), "%s/bus", e->dir);
	unlink(busfile);
	e->dbus_pid = fork();
	cr_assert(e->dbus_pid >= 0);
	if (e->dbus_pid == 0) {
		char arg[160];

		/* A test killed by its timeout takes its bus and daemon along. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		redirect_log(e, "dbus");
		snprintf(arg, sizeof(arg), "--config-file=%s", busconf);
		execlp("dbus-daemon", "dbus-daemon", arg, "--nofork", "--nopidfile",
		       (char *)NULL);
		_exit(127);
	}
	wait_for_path(busfile, e->dbus_pid, "dbus-daemon");
}

void henv_stop_bus(struct henv *e)
{
	stop_pid(&e->dbus_pid);
}

/*
 * AC_ADMIN_VALGRIND=DIR runs the daemon and asymcachectl under valgrind,
 * one log per process in DIR; a memory error makes asymcachectl exit 99.
 */
static void exec_tool(const char *path, char **argv)
{
	const char *vg = getenv("AC_ADMIN_VALGRIND");
	char *args[40], logopt[160];
	int n = 0;

	if (vg && *vg) {
		snprintf(logopt, sizeof(logopt), "--log-file=%s/vg-%%p.log", vg);
		args[n++] = "valgrind";
		args[n++] = "--error-exitcode=99";
		args[n++] = "--leak-check=full";
		args[n++] = "--errors-for-leak-kinds=definite";
		args[n++] = logopt;
		while (*argv && n < 39)
			args[n++] = *argv++;
		args[n] = NULL;
		execvp("valgrind", args);
		_exit(127);
	}
	execv(path, argv);
	_exit(127);
}

void henv_start(struct henv *e, const struct henv_opts *o)
{
	static const struct henv_opts none;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char busconf[128], daemon[256], text[1024];

	if (!o)
		o = &none;
	memset(e, 0, sizeof(*e));
	e->notify_fd = -1;
	snprintf(e->dir, sizeof(e->dir), "/tmp/ac-admin-XXXXXX");
	cr_assert(mkdtemp(e->dir), "mkdtemp: %s", strerror(errno));
	/* nobody must reach the bus socket inside. */
	cr_assert_eq(chmod(e->dir, 0755), 0);
	snprintf(e->bus_addr, sizeof(e->bus_addr), "unix:path=%s/bus", e->dir);
	snprintf(e->sock, sizeof(e->sock), "%s/ac.sock", e->dir);
	snprintf(e->conf, sizeof(e->conf), "%s/asymcached.conf", e->dir);
	snprintf(e->notify, sizeof(e->notify), "%s/notify", e->dir);
	snprintf(busconf, sizeof(busconf), "%s/bus.conf", e->dir);
	write_bus_conf(e, busconf, o->permissive_bus);
	snprintf(text, sizeof(text), "%s%s%s",
		 o->config ? o->config : "[pool]\nbackend = host\nbytes = 4M\nblock_bytes = 64K\n"
		 "[policy]\nname = asym\n",
		 o->address_in_config ? "[daemon]\ndbus_address = " : "",
		 o->address_in_config ? e->bus_addr : "");
	write_file(e->conf, text);

	e->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert(e->notify_fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", e->notify);
	cr_assert_eq(bind(e->notify_fd, (struct sockaddr *)&sa, sizeof(sa)), 0,
		     "bind notify socket: %s", strerror(errno));
	pthread_mutex_init(&e->notify_mu, NULL);
	pthread_cond_init(&e->notify_cv, NULL);
	e->notify_running = true;
	cr_assert_eq(pthread_create(&e->notify_thread, NULL, notify_drain, e), 0);

	henv_start_bus(e);

	snprintf(daemon, sizeof(daemon), "%s/daemon/asymcached", build_root());
	e->daemon_pid = fork();
	cr_assert(e->daemon_pid >= 0);
	if (e->daemon_pid == 0) {
		char pid[16], usec[24];

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		redirect_log(e, "daemon");
		/* The config's address must win over the environment's. */
		setenv("AC_DBUS_ADDRESS", o->address_in_config ? "unix:path=/nonexistent/bus" :
		       e->bus_addr, 1);
		setenv("NOTIFY_SOCKET", e->notify, 1);
		if (o->watchdog_usec) {
			snprintf(usec, sizeof(usec), "%llu", (unsigned long long)o->watchdog_usec);
			snprintf(pid, sizeof(pid), "%d", (int)getpid());
			setenv("WATCHDOG_USEC", usec, 1);
			setenv("WATCHDOG_PID", pid, 1);
		} else {
			unsetenv("WATCHDOG_USEC");
			unsetenv("WATCHDOG_PID");
		}
		exec_tool(daemon, (char *[]){ daemon, "-c", e->conf, "--socket", e->sock, NULL });
	}
	cr_assert_eq(henv_notify_wait(e, "READY=1", 1, 15000, NULL, 0), 1,
		     "asymcached never sent READY=1 (see %s/daemon.log)", e->dir);
}

static void *notify_drain(void *userdata)
{
	struct henv *e = userdata;

	for (;;) {
		struct pollfd p = { .fd = e->notify_fd, .events = POLLIN };
		char msg[1024], **v;
		ssize_t n;
		bool stop;

		pthread_mutex_lock(&e->notify_mu);
		stop = !e->notify_running;
		pthread_mutex_unlock(&e->notify_mu);
		if (stop)
			return NULL;
		if (poll(&p, 1, 50) <= 0)
			continue;
		n = recv(e->notify_fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);
		if (n <= 0)
			continue;
		msg[n] = '\0';
		pthread_mutex_lock(&e->notify_mu);
		v = realloc(e->notify_msgs, (e->notify_n + 1) * sizeof(*v));
		if (v) {
			e->notify_msgs = v;
			v[e->notify_n] = strdup(msg);
			if (v[e->notify_n])
				e->notify_n++;
		}
		pthread_cond_broadcast(&e->notify_cv);
		pthread_mutex_unlock(&e->notify_mu);
	}
}

int henv_notify_wait(struct henv *e, const char *needle, int want, int timeout_ms,
		     char *buf, size_t len)
{
	struct timespec end;
	int seen = 0;

	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += timeout_ms / 1000;
	end.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&e->notify_mu);
	while (seen < want) {
		if (e->notify_cursor < e->notify_n) {
			const char *msg = e->notify_msgs[e->notify_cursor++];

			if (strstr(msg, needle)) {
				seen++;
				if (buf && len)
					snprintf(buf, len, "%s", msg);
			}
			continue;
		}
		if (pthread_cond_timedwait(&e->notify_cv, &e->notify_mu, &end) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&e->notify_mu);
	return seen;
}

static void stop_pid(pid_t *pid)
{
	uint64_t end;
	int status;

	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	end = mono_ms() + 10000;
	while (waitpid(*pid, &status, WNOHANG) == 0) {
		if (mono_ms() > end) {
			kill(*pid, SIGKILL);
			waitpid(*pid, &status, 0);
			break;
		}
		usleep(10000);
	}
	*pid = 0;
}

void henv_stop_daemon(struct henv *e)
{
	stop_pid(&e->daemon_pid);
}

void henv_stop(struct henv *e)
{
	char cmd[128];

	if (!e->dir[0])
		return;

	stop_pid(&e->daemon_pid);
	stop_pid(&e->dbus_pid);
	if (e->notify_running) {
		pthread_mutex_lock(&e->notify_mu);
		e->notify_running = false;
		pthread_mutex_unlock(&e->notify_mu);
		pthread_join(e->notify_thread, NULL);
		while (e->notify_n)
			free(e->notify_msgs[--e->notify_n]);
		free(e->notify_msgs);
		e->notify_msgs = NULL;
	}
	if (e->notify_fd >= 0)
		close(e->notify_fd);
	e->notify_fd = -1;
	/* Keep the logs of a failed run for whoever reads the report. */
	if (e->dir[0] && !getenv("AC_KEEP_TEST_DIRS")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", e->dir);
	}
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

int run_ctlv(const struct henv *e, uid_t uid, char *const argv[], char **out,
	     char **err)
{
	char ctl[256], *args[32];
	int po[2], pe[2], status, n = 0;
	char *bo = calloc(1, 1), *be = calloc(1, 1);
	size_t lo = 0, le = 0;
	uint64_t end;
	pid_t pid;

	snprintf(ctl, sizeof(ctl), "%s/tools/asymcachectl/asymcachectl", build_root());
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
			setenv("AC_DBUS_ADDRESS", e->bus_addr, 1);
		if (uid != 0) {
			gid_t g = h_extra_gid;

			if (setgroups(g ? 1 : 0, &g) < 0 || setgid(H_NOBODY) < 0 ||
			    setuid(uid) < 0)
				_exit(126);
		}
		exec_tool(ctl, args);
	}
	close(po[1]);
	close(pe[1]);
	end = mono_ms() + 30000;
	while (po[0] >= 0 || pe[0] >= 0) {
		struct pollfd p[2] = { { .fd = po[0], .events = POLLIN },
				       { .fd = pe[0], .events = POLLIN } };

		if (mono_ms() > end) {
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
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
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
	if (mount(path, "/etc/group", NULL, MS_BIND, NULL) < 0) {
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
	.kv.num_layers = 2,
	.kv.num_kv_heads = 2,
	.kv.head_dim = 64,
	.kv.dtype = AC_DTYPE_FP16,
	.kv.block_tokens = H_BLOCK_TOKENS,
};

void hclient_open(const struct henv *e, const char *name, struct hclient *hc)
{
	int r;

	memset(hc, 0, sizeof(*hc));
	r = ac_connect(e->sock, name, &hc->c);
	cr_assert_eq(r, 0, "ac_connect: %s", ac_strerror(r));
	r = ac_attach(hc->c, 0, &hc->pool);
	cr_assert_eq(r, 0, "ac_attach: %s", ac_strerror(r));
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
