/* SPDX-License-Identifier: MIT */
/*
 * The admin tests' world: a private dbus-daemon (configured like Debian's
 * system bus, plus the shipped policy file), the real asymcached on a
 * temporary socket with a fake NOTIFY_SOCKET (both started by tests/lib),
 * real libasymcache clients, and asymcachectl run as a user would, as root
 * or as nobody.
 */
#ifndef AC_TEST_ADMIN_HARNESS_H
#define AC_TEST_ADMIN_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <asymcache/asymcache.h>

#include "th_bus.h"
#include "th_daemon.h"

#define H_BLOCK_TOKENS	16u
#define H_NOBODY	65534

/* One private bus and one daemon, both from tests/lib. */
struct henv {
	struct th_bus bus;
	struct th_daemon d;	/* d.sock, d.conf, d.dir, d.pid */
};

struct henv_opts {
	bool permissive_bus;	/* let everyone call everything on the bus */
	uint64_t watchdog_usec;	/* 0: no WATCHDOG_USEC */
	const char *config;	/* config file text; NULL: a default one */
	bool address_in_config;	/* bus address in [daemon], a dead one in the env */
	/* Runs in the daemon's process before exec (th_daemon_opts). */
	void (*child_setup)(void *arg);
	void *child_arg;
};

/*
 * Brings everything up and waits for READY=1. Fails the test on error.
 * th_notify_wait(e->d.notify, ...) reads what the daemon says after.
 */
void henv_start(struct henv *e, const struct henv_opts *o);
/* SIGTERM; expects (Criterion) a clean exit. */
void henv_stop_daemon(struct henv *e);
/* (Re)starts / stops the private dbus-daemon on the same socket path. */
void henv_start_bus(struct henv *e);
void henv_stop_bus(struct henv *e);
/* Stops what runs and removes both folders (kept with AC_KEEP_TEST_DIRS). */
void henv_stop(struct henv *e);

/*
 * Runs asymcachectl with @argv (NULL terminated, without argv[0]) against
 * the private bus, as @uid (0 or H_NOBODY). Output is malloc()ed and NUL
 * terminated. Returns the exit status (or 128 + signal).
 */
int run_ctl(const struct henv *e, uid_t uid, char **out, char **err, ...);
int run_ctlv(const struct henv *e, uid_t uid, char *const argv[], char **out,
	     char **err);
/* The port the daemon logged for [metrics] listen = 0. */
int henv_metrics_port(const struct henv *e);
/* Sends @request to 127.0.0.1:@port; the whole answer, malloc()ed. */
char *h_http_get(int port, const char *request);

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
/* The same with pool @pool alone attached (ac_release(), ac_stats(): it). */
void hclient_open_pool(const struct henv *e, const char *name, uint32_t pool,
		       struct hclient *hc);
void hclient_close(struct hclient *hc);
/* The keys of a chain of @n full blocks of prompt @prompt. */
void hkeys(const struct hclient *hc, uint32_t prompt, size_t n, struct ac_key *keys);
/* alloc + commit a chain: the blocks end up CACHED and pinned once. */
void hpublish(struct hclient *hc, const struct ac_key *keys, size_t n,
	      uint32_t *blocks);
/* hkeys() of @n blocks of prompt @prompt into @keys, then hpublish() them. */
void hpublish_prompt(struct hclient *hc, uint32_t prompt, size_t n,
		     struct ac_key *keys, uint32_t *blocks);
void hstats(struct hclient *hc, struct ac_stats *s);

/* json-c helpers: parse @text, fail the test when it is not JSON. */
struct json_object;
struct json_object *hjson(const char *text);
uint64_t hjson_u64(struct json_object *o, const char *path);

#endif /* AC_TEST_ADMIN_HARNESS_H */
