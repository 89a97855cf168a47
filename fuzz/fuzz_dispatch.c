/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the daemon's request decoder and dispatcher:
 *   mkdir -p /tmp/c && cp fuzz/corpus/dispatch/* /tmp/c
 *   BUILD/fuzz/fuzz-dispatch -max_len=4096 /tmp/c
 * (configure BUILD with CC=clang). The seeds are framed sequences of valid
 * requests (see fuzz_core.h); without them the fuzzer rarely gets past the
 * decoder. Any crash, sanitizer report or broken cache invariant is a
 * finding.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fuzz_core_init() < 0)
		abort();
	if (fuzz_core_run(data, size) < 0)
		abort();
	return 0;
}
