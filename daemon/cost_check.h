/* SPDX-License-Identifier: MIT */
/*
 * Whether the cost model in use was made for what the daemon runs it on:
 * the pool's GPU and each namespace's KV layout. A model that does not
 * fit is still used (its coefficients are a better guess than none), but
 * the operator is told once per namespace and cost model, in the log and
 * in ListNamespaces (asymcachectl namespaces).
 */
#ifndef AC_DAEMON_COST_CHECK_H
#define AC_DAEMON_COST_CHECK_H

#include <stddef.h>

#include "cache.h"
#include "cost_model.h"

struct daemon;

/*
 * Empties @buf when @m fits @kv and the GPU @gpu ("" for a pool in host
 * memory: nothing to compare), else says what differs.
 */
void cost_mismatch(const struct ac_cost_model *m, const char *gpu,
		   const struct ac_kv_layout *kv, char *buf, size_t len);

/* At start and whenever a reload changed the model. */
void daemon_cost_check_pool(const struct daemon *d);
/* A namespace the daemon has just created. */
void daemon_cost_check_ns(const struct daemon *d, const struct cache_ns *ns);
/* The pool and every namespace: after a reload changed the model. */
void daemon_cost_check_all(const struct daemon *d);

#endif /* AC_DAEMON_COST_CHECK_H */
