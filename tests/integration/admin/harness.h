/* SPDX-License-Identifier: MIT */
/*
 * The admin tests' world: a private dbus-daemon (configured like Debian's
 * system bus, plus the shipped policy file), the real asymcached on a
 * temporary socket with a fake NOTIFY_SOCKET, real libasymcache clients,
 * and asymcachectl run as a user would, as root or as nobody.
 */
#ifndef AC_TEST_ADMIN_HARNESS_H
#define AC_TEST_ADMIN_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <asymcache/asymcache.h>

#define H_BLOCK_TOKENS	16u
#define H_NOBODY	65534

struct henv {
	char dir[64];
	char bus_addr[128];
	char sock[96];
	char conf[96];		/* the daemon's config file */
	char notify[96];
	int notify_fd;
	/*
	 * A thread drains the notify socket as systemd would: sd_notify()
	 * blocks once a datagram socket's queue is full, and a daemon stuck
	 * there would look like a bus bug.
	 */
	pthread_t notify_thread;
	bool notify_running;
	pthread_mutex_t notify_mu;
	pthread_cond_t notify_cv;
	char **notify_msgs;
	size_t notify_n;
	size_t notify_cursor;
	pid_t dbus_pid;
	pid_t daemon_pid;
};

struct henv_opts {
	bool permissive_bus;	/* let everyone call everything on the bus */
	uint64_t watchdog_usec;	/* 0: no WATCHDOG_USEC */
	const char *config;	/* config file text; NULL: a default one */
	bool address_in_config;	/* bus address in [daemon], a dead one in the env */
};

/* Brings everything up and waits for READY=1. Fails the test on error. */
void henv_start(struct henv *e, const struct henv_opts *o);
void henv_stop_daemon(struct henv *e);
/* (Re)starts / stops the private dbus-daemon on the same socket path. */
void henv_start_bus(struct henv *e);
void henv_stop_bus(struct henv *e);
void henv_stop(struct henv *e);

/*
 * Reads notify datagrams not yet read by an earlier call until @want of
 * them contain @needle or @timeout_ms pass. Returns how many matched and
 * copies the last match into @buf.
 */
int henv_notify_wait(struct henv *e, const char *needle, int want, int timeout_ms,
		     char *buf, size_t len);

/*
 * Runs asymcachectl with @argv (NULL terminated, without argv[0]) against
 * the private bus, as @uid (0 or H_NOBODY). Output is malloc()ed and NUL
 * terminated. Returns the exit status (or 128 + signal).
 */
int run_ctl(const struct henv *e, uid_t uid, char **out, char **err, ...);
int run_ctlv(const struct henv *e, uid_t uid, char *const argv[], char **out,
	     char **err);
/* A supplementary group asymcachectl gets when run as nobody (0: none). */
extern gid_t h_extra_gid;
/*
 * Makes group asymcache-admin (gid @gid) exist for this test process and
 * its children only. false, with the reason, when the kernel refuses.
 */
bool h_fake_admin_group(gid_t gid, char *why, size_t len);

/* A libasymcache client with pool 0 attached and the test namespace. */
struct hclient {
	struct ac_client *c;
	struct ac_pool *pool;
	uint32_t ns;
	struct ac_key_seed seed;
};

void hclient_open(const struct henv *e, const char *name, struct hclient *hc);
void hclient_close(struct hclient *hc);
/* The keys of a chain of @n full blocks of prompt @prompt. */
void hkeys(const struct hclient *hc, uint32_t prompt, size_t n, struct ac_key *keys);
/* alloc + commit a chain: the blocks end up CACHED and pinned once. */
void hpublish(struct hclient *hc, const struct ac_key *keys, size_t n,
	      uint32_t *blocks);
void hstats(struct hclient *hc, struct ac_stats *s);

/* json-c helpers: parse @text, fail the test when it is not JSON. */
struct json_object;
struct json_object *hjson(const char *text);
uint64_t hjson_u64(struct json_object *o, const char *path);

#endif /* AC_TEST_ADMIN_HARNESS_H */
