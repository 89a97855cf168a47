/* SPDX-License-Identifier: MIT */
/*
 * The interface daemon.h gives the admin side: counters, sessions,
 * namespaces, policy switch, flush, evict, reload, and the loop hooks
 * (watch, timer, prepare) that sd-bus and the watchdog plug into.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "core.h"
#include "cost_check.h"
#include "daemon.h"
#include "dtest.h"
#include "hooks.h"
#include "lifecycle.h"
#include "session.h"

static struct daemon d;
static char conf[64], sock[64];
static char *argv_[DT_HOST_ARGV_LEN];

static void setup(void)
{
	char err[CFG_ERR_MAX];
	enum cfg_action action;
	int n;

	snprintf(conf, sizeof(conf), "/tmp/acd-admin-%d.conf", (int)getpid());
	snprintf(sock, sizeof(sock), "/tmp/acd-admin-%d.sock", (int)getpid());
	dt_write_file(conf, "[policy]\nname = lru\n[daemon]\nlog_level = crit\n");
	n = dt_host_argv(argv_, conf, sock, "--pool-bytes=1M");
	memset(&d, 0, sizeof(d));
	cr_assert_eq(cfg_from_cmdline(&d.cfg, n, argv_, &action, err,
				      sizeof(err)), 0, "%s", err);
	d.argc = n;
	d.argv = argv_;
}

static void teardown(void)
{
	unlink(conf);
	unlink(sock);
}

TestSuite(admin, .init = setup, .fini = teardown, .timeout = 30);

static int count_sessions(const struct daemon_session_info *i, void *data)
{
	int *n = data;

	if (strcmp(i->name, "s-one") == 0) {
		cr_expect_eq(i->pins, 2);
		cr_expect_eq(i->pinned_blocks, 1);
		cr_expect_eq(i->writing, 1);
		cr_expect_eq(i->pid, 4242);
		cr_expect_eq(i->uid, 0);
	}
	(*n)++;
	return 0;
}

static int check_ns(const struct daemon_ns_info *i, void *data)
{
	cr_expect_str_eq(i->layout->model_id, "admin-model");
	cr_expect_eq(i->bytes_per_block, 16384);
	/* The host pool and the built-in model (Llama-3-8B's layout). */
	cr_expect_str_eq(i->cost_from, "");
	cr_expect_str_eq(i->cost_mismatch, "llama-3-8b has 32 layers, not 2; 8 kv heads, "
			 "not 2; 128 head dim, not 64");
	*(uint32_t *)data = i->cached;
	return 0;
}

Test(admin, counters_sessions_namespaces_flush_evict)
{
	struct daemon_block_counts bc;
	struct cache_commit_entry e[3];
	struct session *s1, *s2;
	uint32_t ns, ids[4], out[3], ded, n = 0, cached = 0;
	int nsess = 0;

	cr_assert_eq(daemon_core_init(&d), 0);
	s1 = session_new(&d, -1, 4242, 0, 0);
	s2 = session_new(&d, -1, 4343, 0, 0);
	cr_assert(s1 && s2);
	snprintf(s1->name, sizeof(s1->name), "s-one");
	ns = dt_register_ns(&d.pools[0].cache, "admin-model");
	cr_assert_eq(cache_alloc(&d.pools[0].cache, &s1->cs, ns, 4, ids), 0);
	for (int i = 0; i < 3; i++) {
		memset(&e[i], 0, sizeof(e[i]));
		memset(e[i].key.b, i + 1, 16);
		e[i].block = ids[i];
	}
	cr_assert_eq(cache_commit(&d.pools[0].cache, &s1->cs, ns, e, 3, out, &ded), 0);
	cr_assert_eq(cache_release(&d.pools[0].cache, &s1->cs, ids, 2, &n), 0);
	cr_assert_eq(cache_blk_pin(&d.pools[0].cache, &s1->cs, ids[2]), 0);

	daemon_get_block_counts(&d.pools[0], &bc);
	cr_assert_eq(bc.nblocks, 64);
	cr_assert_eq(bc.writing, 1);
	cr_assert_eq(bc.cached, 3);
	cr_assert_eq(bc.pinned, 1);
	cr_assert_eq(bc.evictable, 2);
	cr_assert_eq(bc.free, 60);
	cr_assert_eq(daemon_foreach_session(&d, count_sessions, &nsess), 0);
	cr_assert_eq(nsess, 2);
	cr_assert_eq(daemon_foreach_namespace(&d, check_ns, &cached), 0);
	cr_assert_eq(cached, 3);
	cr_assert_str_eq(daemon_backend_name(&d), "host");

	cr_assert_eq(daemon_set_policy(&d, "no-such"), -ENOENT);
	cr_assert_eq(daemon_set_policy(&d, "asym"), 0);
	cr_assert_str_eq(daemon_policy_name(&d), "asym");
	cr_assert_eq(daemon_evict(&d.pools[0], 1, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(daemon_flush_namespace(&d, ns, &n), 0);
	cr_assert_eq(n, 1, "one unpinned block was left");
	cr_assert_eq(daemon_flush_namespace(&d, ns + 5, &n), -ENOENT);
	daemon_get_block_counts(&d.pools[0], &bc);
	cr_assert_eq(bc.cached, 1, "the pinned block stays");
	cr_assert_eq(daemon_cache_counters(&d.pools[0])->evictions, 1);
	cr_assert_eq(daemon_cache_counters(&d.pools[0])->flushed, 1);

	session_free(s1);
	session_free(s2);
	daemon_get_block_counts(&d.pools[0], &bc);
	cr_assert_eq(bc.writing, 0);
	cr_assert_eq(bc.pinned, 0);
	daemon_core_fini(&d);
}

Test(admin, reload_applies_live_keys_and_refuses_restart_keys)
{
	char err[CFG_ERR_MAX] = "";

	cr_assert_eq(daemon_core_init(&d), 0);
	cr_assert_str_eq(daemon_policy_name(&d), "lru");
	dt_write_file(conf, "[policy]\nname = pensieve\n[limits]\nmax_sessions = 9\n");
	cr_assert_eq(daemon_reload_config(&d, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(daemon_policy_name(&d), "pensieve");
	cr_assert_eq(d.cfg.limits.max_sessions, 9);

	dt_write_file(conf, "[pool]\nbackend = cuda\n");
	cr_assert_eq(daemon_reload_config(&d, err, sizeof(err)), 0,
		     "--backend=host on the command line still wins: %s", err);
	cr_assert_str_eq(daemon_policy_name(&d), "asym",
			 "a key removed from the file returns to its default");
	dt_write_file(conf, "[daemon]\nsocket_mode = 0600\n[policy]\nname = lru\n");
	cr_assert_eq(daemon_reload_config(&d, err, sizeof(err)), -EBUSY);
	cr_assert_not_null(strstr(err, "[daemon] socket_mode"), "%s", err);
	cr_assert_str_eq(daemon_policy_name(&d), "asym",
			 "a refused reload applied part of itself");
	cr_assert_eq(d.cfg.limits.max_sessions, 1024, "back to the default");
	dt_write_file(conf, "[daemon]\ndbus_address = unix:path=/nonexistent\n");
	cr_assert_eq(daemon_reload_config(&d, err, sizeof(err)), -EBUSY);
	cr_assert_not_null(strstr(err, "[daemon] dbus_address"), "%s", err);
	dt_write_file(conf, "[limits]\nmax_sessions = 0\n");
	cr_assert_eq(daemon_reload_config(&d, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, ":2: [limits] max_sessions"), "%s", err);
	cr_assert_eq(d.cfg.limits.max_sessions, 1024);
	daemon_core_fini(&d);
}

struct hooks {
	int fds[2];
	int watch_calls, timer_calls, prepare_calls;
	struct loop_watch *w;
};

static int on_readable(struct loop_watch *w, uint32_t revents, void *data)
{
	struct hooks *h = data;
	char c;

	cr_expect(revents & POLLIN);
	if (read(h->fds[0], &c, 1) != 1)
		return -EIO;
	h->watch_calls++;
	if (h->watch_calls == 3) {
		/* Removing itself from inside its callback must be safe. */
		loop_remove_watch(w);
		return POLLIN;
	}
	return POLLIN;
}

static int on_tick(struct loop_timer *t, void *data)
{
	struct hooks *h = data;

	h->timer_calls++;
	if (write(h->fds[1], "x", 1) != 1)
		return -EIO;
	return h->timer_calls < 5 ? 0 : -1;
}

static int on_stop(struct loop_timer *t, void *data)
{
	daemon_request_stop(data, 0);
	return -1;
}

static void on_prepare(struct daemon *dd, void *data)
{
	((struct hooks *)data)->prepare_calls++;
}

Test(admin, loop_hooks_watch_timer_prepare_and_stop)
{
	struct hooks h = { .fds = { -1, -1 } };

	cr_assert_eq(pipe(h.fds), 0);
	cr_assert_eq(daemon_start(&d), 0);
	cr_assert_eq(loop_add_watch(&d, h.fds[0], POLLIN, on_readable, &h,
				    &h.w), 0);
	cr_assert_eq(loop_add_timer(&d, 10 * 1000 * 1000, on_tick, &h, NULL), 0);
	cr_assert_eq(loop_add_timer(&d, 300 * 1000 * 1000, on_stop, &d, NULL), 0);
	cr_assert_eq(loop_add_prepare(&d, on_prepare, &h), 0);
	cr_assert_eq(loop_add_watch(&d, -1, POLLIN, on_readable, &h, NULL),
		     -EINVAL);
	cr_assert_eq(daemon_run(&d), 0);
	daemon_stop(&d);
	cr_assert_eq(h.timer_calls, 5, "a timer that returned < 0 fired again");
	cr_assert_eq(h.watch_calls, 3, "the removed watch fired again");
	cr_assert_gt(h.prepare_calls, 5);
	cr_assert_neq(access(sock, F_OK), 0, "socket left after stop");
	close(h.fds[0]);
	close(h.fds[1]);
}

/* The pool's GPU counts only when there is one (a CUDA pool). */
Test(admin, cost_mismatch_names_the_gpu_and_the_layout)
{
	struct ac_cost_model m;
	struct ac_kv_layout kv;
	char buf[320];

	ac_cost_model_default(&m);
	kv = m.layout.kv;
	cost_mismatch(&m, "", &kv, buf, sizeof(buf));
	cr_expect_str_empty(buf);
	cost_mismatch(&m, "NVIDIA H200", &kv, buf, sizeof(buf));
	cr_expect_str_empty(buf);
	cost_mismatch(&m, "NVIDIA A100-SXM4-80GB", &kv, buf, sizeof(buf));
	cr_expect_str_eq(buf, "measured on NVIDIA H200, the pool is on NVIDIA A100-SXM4-80GB");
	kv.num_kv_heads = 4;
	cost_mismatch(&m, "NVIDIA A100-SXM4-80GB", &kv, buf, sizeof(buf));
	cr_expect_str_eq(buf, "measured on NVIDIA H200, the pool is on NVIDIA A100-SXM4-80GB; "
			 "llama-3-8b has 8 kv heads, not 4");
	cost_mismatch(&m, "", &kv, buf, sizeof(buf));
	cr_expect_str_eq(buf, "llama-3-8b has 8 kv heads, not 4");
}
