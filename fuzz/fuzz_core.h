/* SPDX-License-Identifier: MIT */
/*
 * Shared by the libFuzzer harness and the Criterion replay test: a daemon
 * core with a small host pool and no sockets, driven packet by packet
 * through dispatch_packet(), with the cache invariants checked after each.
 */
#ifndef AC_FUZZ_CORE_H
#define AC_FUZZ_CORE_H

#include <stddef.h>
#include <stdint.h>

/* Once per process. 0 or -errno. */
int fuzz_core_init(void);
void fuzz_core_fini(void);

/*
 * Input format: byte 0 picks the policy; then packets, each a 2-byte
 * little-endian length and that many bytes. Each input runs in a fresh
 * session that has already said hello, attached and registered a
 * namespace (so the fuzzer reaches every handler), and is closed at the
 * end. Returns 0, or -1 when an invariant broke.
 */
int fuzz_core_run(const uint8_t *data, size_t size);

/* Valid packed Requests of every body type, for seeding and mutation. */
size_t fuzz_core_sample(unsigned int which, uint8_t *buf, size_t cap);
#define FUZZ_CORE_NSAMPLES 9

#endif
