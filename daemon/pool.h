/* SPDX-License-Identifier: MIT */
/*
 * The block pool's memory. The daemon never reads or writes KV bytes: a
 * backend (pool_backend.h) only creates the memory and exports it to
 * clients, either as a sealed memfd (host) or as a CUDA IPC handle (cuda).
 * This picks the backend and sizes the pool in whole blocks.
 */
#ifndef AC_DAEMON_POOL_H
#define AC_DAEMON_POOL_H

#include <stdint.h>

#include "pool_backend.h"

/* Backend by name, or NULL ("auto" is resolved by pool_pick). */
const struct pool_ops *pool_find(const char *name);
/*
 * Resolves @backend ("auto", "host", "cuda") to a usable backend: auto is
 * cuda when a device is present, else host. -ENODEV if a named backend
 * cannot run here.
 */
int pool_pick(const char *backend, const struct pool_ops **ret_ops);

int pool_create(struct pool *p, const struct pool_ops *ops, uint64_t bytes,
		uint64_t block_bytes, int device);
void pool_destroy(struct pool *p);

#endif /* AC_DAEMON_POOL_H */
