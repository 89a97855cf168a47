/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for asymcached's configuration parser (daemon/config.c
 * over libinih): any file an operator could write. A refusal must come
 * with a message; a crash, a sanitizer report or a file accepted with an
 * empty error path is a finding. cfg_finish() runs only for files that
 * name no cost file, so the fuzzer never makes it open arbitrary paths.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "memfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct memfile mf;
	static struct daemon_config cfg;
	char err[CFG_ERR_MAX] = "";
	const char *path = memfile_put(&mf, data, size);
	int r;

	cfg_defaults(&cfg);
	r = cfg_load_file(&cfg, path, err, sizeof(err));
	if (r < 0) {
		/* Every refusal says why, and the message is one line. */
		if (!err[0] || strchr(err, '\n'))
			abort();
		return 0;
	}
	if (!cfg.cost_file[0])
		(void)cfg_finish(&cfg, err, sizeof(err));
	return 0;
}
