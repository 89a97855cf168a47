/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the engine's Hugging Face loader (load_hf.c): the
 * input is model.safetensors (8-byte header length, JSON header, tensor
 * bytes) beside a fixed config.json of a one-layer model in a scratch
 * folder, loaded as the engine loads a downloaded model. A crash or a
 * sanitizer report is a finding.
 *
 * model.safetensors is a symlink to a memfd that each input rewrites: a
 * file rewritten on the disk cost a truncate and block I/O per input,
 * which held the harness to about 3,000 executions a second.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memfile.h"
#include "weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The shape fuzz/seeds.py writes its safetensors seeds for. */
static const char config_json[] =
	"{\"model_type\": \"llama\", \"num_hidden_layers\": 1,"
	" \"hidden_size\": 16, \"intermediate_size\": 32,"
	" \"num_attention_heads\": 2, \"num_key_value_heads\": 1,"
	" \"vocab_size\": 16, \"max_position_embeddings\": 64,"
	" \"rms_norm_eps\": 1e-5, \"tie_word_embeddings\": true}\n";

static char dir[64], st_path[96];
static struct memfile st;

static void write_all(const char *path, const void *data, size_t size)
{
	FILE *f = fopen(path, "we");

	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f))
		abort();
}

static void cleanup(void)
{
	char p[96];

	snprintf(p, sizeof(p), "%s/config.json", dir);
	unlink(p);
	unlink(st_path);
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ac_weights *w = NULL;
	char err[256];

	if (!dir[0]) {
		char p[96];

		snprintf(dir, sizeof(dir), "%s/ac-fuzz-st-XXXXXX",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (!mkdtemp(dir))
			abort();
		snprintf(p, sizeof(p), "%s/config.json", dir);
		write_all(p, config_json, strlen(config_json));
		snprintf(st_path, sizeof(st_path), "%s/model.safetensors", dir);
		if (symlink(memfile_put(&st, data, 0), st_path) < 0)
			abort();
		atexit(cleanup);
	}
	memfile_put(&st, data, size);
	if (ac_weights_load_safetensors(dir, AC_DTYPE_FP32, &w, err,
					sizeof(err)) == 0)
		ac_weights_free(w);
	return 0;
}
