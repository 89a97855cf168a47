/* SPDX-License-Identifier: MIT */
/*
 * What the engine's integration suites share: a real asymcached on a
 * private D-Bus, a second session that peeks at the pool, evictions forced
 * through the admin interface.
 */
#ifndef AC_TEST_ENGINE_ENV_H
#define AC_TEST_ENGINE_ENV_H

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>

#include "runner.h"
#include "th_bus.h"
#include "th_daemon.h"

/* A prompt's chain as the runner keys it. */
struct ac_runner_probe {
	uint32_t ns;
	size_t nkeys;
	struct ac_key keys[256];
};

struct env {
	struct th_bus bus;
	struct th_daemon d;
	struct ac_client *peek;		/* a second session: Lookup, Stats */
	struct ac_pool *pool;		/* its mapping of the pool */
};

/* A daemon (lru, @pool: its [pool] section) on a private bus, and a peek session. */
void env_start(struct env *e, const char *pool);
void env_stop(struct env *e);
/* EvictBlocks(@n) through the admin interface; how many went. */
uint32_t env_evict(struct env *e, uint32_t n);
/* A client connection to the env's private bus (one a call). */
sd_bus *env_bus_open(struct env *e);
/* A 't' property of the daemon's object. */
uint64_t env_bus_u64(struct env *e, const char *prop);
/* Waits up to @ms for @what in the file at @path; whether it came. */
/*
 * The factor meson's timeouts get (AC_TIMEOUT_MULT, set by make valgrind):
 * under valgrind the engines run tens of times slower, and waits or
 * arrival spans sized for them natively fail on time alone.
 */
int env_time_mult(void);
/* Whether @what appears in @path within @ms (times env_time_mult()). */
bool env_wait_for_text(const char *path, const char *what, int ms);
/*
 * Leave exactly the blocks @keep[i] of @p's chain cached (the evicted
 * ones NaN-filled); the peek session must have attached (env_peek_register).
 */
uint32_t env_keep_only(struct env *e, struct ac_runner_probe *p,
		       const bool *keep);
void env_runner(struct ac_model *m, const struct ac_runner_opts *ro,
		struct ac_runner **ret);
/* The peeking session attaches and registers the same namespace. */
void env_peek_register(struct env *e, struct ac_model *m,
		       const struct ac_runner_opts *ro);

#endif
