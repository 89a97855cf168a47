/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the daemon's request decoder and dispatcher:
 *   fuzz-dispatch -max_len=4096 corpus/
 * Any crash, sanitizer report or broken cache invariant is a finding.
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
