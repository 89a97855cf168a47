/* SPDX-License-Identifier: MIT */
/*
 * Fixtures shared by the suites that drive the daemon core in process
 * (no asymcached child): config files and the command line they parse.
 */
#ifndef AC_TEST_DTEST_H
#define AC_TEST_DTEST_H

#include <stdint.h>

struct cache;

/* Slots dt_host_argv() fills, the NULL included. */
#define DT_HOST_ARGV_LEN	10

/* Write @text to @path, replacing it; asserts (Criterion) it could. */
void dt_write_file(const char *path, const char *text);

/*
 * The command line of an asymcached on a host pool that reads @conf,
 * listens on @sock and has no group, with @pool_bytes_opt (a whole
 * "--pool-bytes=..." option) and 16 KiB blocks. @argv holds at least
 * DT_HOST_ARGV_LEN slots and keeps the pointers it is given. Returns argc.
 */
int dt_host_argv(char **argv, char *conf, char *sock,
		 const char *pool_bytes_opt);

/*
 * Register the suites' small namespace (2 layers, 2 KV heads of 64, fp16,
 * 16-token blocks) as @model_id in @c; asserts it works. Returns its id.
 */
uint32_t dt_register_ns(struct cache *c, const char *model_id);

#endif /* AC_TEST_DTEST_H */
