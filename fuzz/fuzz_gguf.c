/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the engine's GGUF reader (engine/model/gguf.c)
 * and the Llama loader on top of it (load_gguf.c): a model file is input
 * from whoever published it. Every key, array element and tensor a file
 * that opens declares is read back; a file that opens is then loaded as a
 * model. A crash, a sanitizer report or an allocation past libFuzzer's
 * -rss_limit_mb is a finding.
 */
#include <stdlib.h>

#include "gguf.h"
#include "memfile.h"
#include "weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const struct ac_gguf *g)
{
	uint64_t i, n = ac_gguf_kv_count(g);

	for (i = 0; i < n; i++) {
		const char *key = ac_gguf_kv_key(g, i), *s;
		enum ac_gguf_type elem;
		uint64_t u, len, k;
		int64_t idx, iv;
		double d;
		bool b;

		(void)ac_gguf_get_uint(g, key, &u);
		(void)ac_gguf_get_int(g, key, &iv);
		(void)ac_gguf_get_float(g, key, &d);
		(void)ac_gguf_get_bool(g, key, &b);
		(void)ac_gguf_get_str(g, key, &s, &len);
		if (ac_gguf_get_arr(g, key, &idx, &elem, &len) < 0)
			continue;
		/* The first elements are enough to reach every reader. */
		for (k = 0; k < len && k < 64; k++) {
			(void)ac_gguf_arr_str(g, idx, k, &s, &u);
			(void)ac_gguf_arr_int(g, idx, k, &iv);
			(void)ac_gguf_arr_float(g, idx, k, &d);
		}
	}
}

/* Each tensor's bytes lie in the file: touch the first and the last. */
static void touch_tensors(const struct ac_gguf *g)
{
	uint64_t i, n = ac_gguf_tensor_count(g);
	volatile uint8_t sink = 0;

	for (i = 0; i < n; i++) {
		const struct ac_gguf_tensor *t = ac_gguf_tensor(g, i);

		if (!t || ac_gguf_find_tensor(g, t->name) == NULL)
			abort();
		/* A type of unknown size is left without data. */
		if (t->data && t->size) {
			sink ^= ((const uint8_t *)t->data)[0];
			sink ^= ((const uint8_t *)t->data)[t->size - 1];
		}
	}
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct memfile mf;
	const char *path = memfile_put(&mf, data, size);
	struct ac_weights *w = NULL;
	struct ac_gguf *g = NULL;
	char err[256];

	if (ac_gguf_open(path, &g, err, sizeof(err)) < 0)
		return 0;
	walk(g);
	touch_tensors(g);
	ac_gguf_close(g);
	if (ac_weights_load_gguf(path, AC_DTYPE_FP32, &w, err, sizeof(err)) == 0)
		ac_weights_free(w);
	return 0;
}
