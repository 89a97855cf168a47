/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AC_BUS_NAMES_ONLY
#include "bus.h"
#include "engine_env.h"

void env_start(struct env *e, const char *pool)
{
	static const char policy[] =
		"  <policy context=\"default\">\n"
		"    <allow own=\"org.asymcache.Daemon1\"/>\n"
		"    <allow send_destination=\"org.asymcache.Daemon1\"/>\n"
		"  </policy>\n";
	char env[160], config[256];
	const char *envv[] = { env, NULL };
	struct th_daemon_opts o = { .tag = "ac-engine", .config = config,
				    .env = envv, .notify = true };
	int r;

	memset(e, 0, sizeof(*e));
	cr_assert_eq(th_bus_init(&e->bus, "ac-engine-bus", policy), 0);
	cr_assert_eq(th_bus_start(&e->bus), 0, "dbus-daemon did not start");
	/* lru: the blocks a Lookup touched last are evicted last. */
	snprintf(config, sizeof(config), "%s[policy]\nname = lru\n", pool);
	snprintf(env, sizeof(env), "AC_DBUS_ADDRESS=%s", e->bus.addr);
	r = th_daemon_start(&e->d, &o);
	if (r < 0)
		th_dump_file(e->d.log, stderr);
	cr_assert_eq(r, 0, "asymcached did not start: %s", strerror(-r));
	cr_assert_eq(ac_connect(e->d.sock, "test-peek", &e->peek), 0);
}

void env_stop(struct env *e)
{
	ac_disconnect(e->peek);
	cr_expect_eq(th_daemon_stop(&e->d), 0, "asymcached exit status");
	th_daemon_cleanup(&e->d);
	th_bus_cleanup(&e->bus);
}

/*
 * A connection a call: one held across a long test was found closed by the
 * time it was used (ENOTCONN) on a loaded machine.
 */
sd_bus *env_bus_open(struct env *e)
{
	sd_bus *bus = NULL;

	cr_assert_geq(sd_bus_new(&bus), 0);
	cr_assert_geq(sd_bus_set_address(bus, e->bus.addr), 0);
	cr_assert_geq(sd_bus_set_bus_client(bus, 1), 0);
	cr_assert_geq(sd_bus_start(bus), 0);
	return bus;
}

uint64_t env_bus_u64(struct env *e, const char *prop)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	sd_bus *bus = env_bus_open(e);
	uint64_t v = 0;
	int r;

	r = sd_bus_get_property_trivial(bus, AC_BUS_NAME, AC_BUS_PATH,
					AC_BUS_INTERFACE, prop, &err, 't', &v);
	cr_assert_geq(r, 0, "%s: %s", prop, err.message ? err.message : "");
	sd_bus_error_free(&err);
	sd_bus_flush_close_unref(bus);
	return v;
}

int env_time_mult(void)
{
	const char *mult = getenv("AC_TIMEOUT_MULT");
	long k = mult ? strtol(mult, NULL, 10) : 1;

	return k > 1 && k <= 100 ? (int)k : 1;
}

bool env_wait_for_text(const char *path, const char *what, int ms)
{
	static char buf[65536];

	for (ms *= env_time_mult(); ms > 0; ms -= 50) {
		FILE *f = fopen(path, "r");
		size_t n = 0;

		if (f) {
			n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
		}
		buf[n] = 0;
		if (strstr(buf, what))
			return true;
		usleep(50 * 1000);
	}
	return false;
}

uint32_t env_evict(struct env *e, uint32_t n)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	uint32_t evicted = 0;
	sd_bus *admin = NULL;
	int r;

	admin = env_bus_open(e);
	r = sd_bus_call_method(admin, AC_BUS_NAME, AC_BUS_PATH,
			       AC_BUS_INTERFACE, "EvictBlocks", &err, &reply,
			       "u", n);
	cr_assert_geq(r, 0, "EvictBlocks: %s", err.message ? err.message : "");
	cr_assert_geq(sd_bus_message_read(reply, "u", &evicted), 0);
	sd_bus_message_unref(reply);
	sd_bus_error_free(&err);
	sd_bus_flush_close_unref(admin);
	return evicted;
}

/*
 * Leave exactly the prompt blocks @keep[i] cached: touch them through a
 * Lookup (lru makes them the newest), release, then evict every other
 * cached block. The evicted prompt blocks are filled with NaN: the daemon
 * does not clear a freed block, and a block handed out again must never
 * pass for recomputed KV.
 */
uint32_t env_keep_only(struct env *e, struct ac_runner_probe *p,
			  const bool *keep)
{
	struct ac_key sel[256];
	uint32_t blocks[256], all[256], nsel = 0, nkeep = 0;
	struct ac_segment segs[257];
	struct ac_lookup_result res = { .blocks = blocks, .segments = segs,
					.max_segments = 257 };
	struct ac_lookup_result resall = { .blocks = all, .segments = segs,
					   .max_segments = 257 };
	const struct ac_pool_info *pi = ac_pool_info(e->pool);
	struct ac_stats st;

	/* Where every prompt block lives now (all cached: just generated). */
	cr_assert_eq(ac_lookup(e->peek, p->ns, p->keys, p->nkeys, &resall), 0);
	cr_assert_eq(resall.hits, p->nkeys);
	cr_assert_eq(ac_release(e->peek, all, p->nkeys, NULL), 0);
	for (uint32_t i = 0; i < p->nkeys; i++)
		if (keep[i])
			sel[nsel++] = p->keys[i];
	if (nsel) {
		cr_assert_eq(ac_lookup(e->peek, p->ns, sel, nsel, &res), 0);
		cr_assert_eq(res.hits, nsel, "a block to keep was not cached");
		cr_assert_eq(ac_release(e->peek, blocks, nsel, NULL), 0);
	}
	cr_assert_eq(ac_stats(e->peek, &st), 0);
	cr_assert_geq(st.cached_blocks, nsel);
	if (st.cached_blocks > nsel)
		cr_assert_eq(env_evict(e, st.cached_blocks - nsel),
			     st.cached_blocks - nsel);
	for (uint32_t i = 0; i < p->nkeys; i++) {
		nkeep += keep[i];
		if (!keep[i])
			memset((char *)ac_pool_base(e->pool) +
				       (size_t)all[i] * pi->block_bytes,
			       0xff, pi->block_bytes);
	}
	return nkeep;
}

void env_runner(struct ac_model *m, const struct ac_runner_opts *ro,
		   struct ac_runner **ret)
{
	int r = ac_runner_create(m, ro, ret);

	cr_assert_eq(r, 0, "runner: %s", ac_strerror(r));
}

/* The peeking session attaches and registers the same namespace. */
void env_peek_register(struct env *e, struct ac_model *m,
			  const struct ac_runner_opts *ro)
{
	struct ac_ns_layout nsl = { .model_id = ro->model_id };
	uint32_t ns;

	ac_model_kv_layout(m, ro->block_tokens, &nsl.kv);
	cr_assert_eq(ac_attach(e->peek, 0, &e->pool), 0);
	cr_assert_eq(ac_register_namespace(e->peek, e->pool, &nsl, &ns), 0);
}

