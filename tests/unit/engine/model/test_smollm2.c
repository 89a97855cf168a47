/* SPDX-License-Identifier: MIT */
/*
 * The real SmolLM2-135M-Instruct GGUF that scripts/fetch-model.sh puts in
 * models/; skipped when it has not been fetched.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtest.h"

static char *model_path(void)
{
	const char *root = getenv("AC_SOURCE_ROOT");
	char *p;

	cr_assert(asprintf(&p, "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf",
			   root ? root : ".") > 0);
	if (access(p, R_OK) != 0) {
		free(p);
		return NULL;
	}
	return p;
}

static void all_finite(const struct ac_weights *w, enum ac_wkind k, uint32_t l)
{
	const void *t = ac_weights_tensor(w, k, l);
	uint64_t rows, cols;
	double sq = 0;

	ac_weights_shape(&w->cfg, k, &rows, &cols);
	for (uint64_t i = 0; i < rows * cols; i++) {
		float x = ac_weights_get(w, t, i);

		cr_assert(isfinite(x), "%s layer %u elem %llu", ac_wkind_name(k), l,
			  (unsigned long long)i);
		sq += (double)x * x;
	}
	cr_assert_gt(sq, 0, "%s layer %u is all zeros", ac_wkind_name(k), l);
}

Test(model_smollm2, config_and_weights)
{
	char *path = model_path(), err[512] = "";
	struct ac_weights *w;

	if (!path)
		cr_skip_test("models/SmolLM2-135M-Instruct.Q4_1.gguf absent (scripts/fetch-model.sh)");
	cr_assert_eq(ac_weights_load(path, AC_DTYPE_BF16, 0, &w, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(w->cfg.n_layers, 30);
	cr_assert_eq(w->cfg.hidden, 576);
	cr_assert_eq(w->cfg.ffn, 1536);
	cr_assert_eq(w->cfg.n_heads, 9);
	cr_assert_eq(w->cfg.n_kv_heads, 3);
	cr_assert_eq(w->cfg.head_dim, 64);
	cr_assert_eq(w->cfg.vocab, 49152);
	cr_assert_eq(w->cfg.max_ctx, 8192);
	cr_assert_float_eq(w->cfg.rope_theta, 100000.0f, 1e-3);
	cr_assert_float_eq(w->cfg.rms_eps, 1e-5f, 1e-9);
	cr_assert(w->cfg.tie_embeddings);
	cr_assert_eq(w->output, w->tok_embd);
	for (int k = 0; k < AC_WK_COUNT; k++) {
		all_finite(w, k, 0);
		if (k < AC_WK_LAYER_COUNT)
			all_finite(w, k, 29);
	}
	ac_weights_free(w);
	free(path);
}

Test(model_smollm2, tokenizer_metadata)
{
	char *path = model_path(), err[512] = "";
	enum ac_gguf_type et;
	struct ac_gguf *g;
	const char *s;
	uint64_t n, len;
	int64_t idx, v;

	if (!path)
		cr_skip_test("models/SmolLM2-135M-Instruct.Q4_1.gguf absent (scripts/fetch-model.sh)");
	cr_assert_eq(ac_gguf_open(path, &g, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(ac_gguf_get_str(g, "tokenizer.ggml.model", &s, &len), 0);
	cr_assert_eq(len, 4);
	cr_assert_eq(memcmp(s, "gpt2", 4), 0);
	cr_assert_eq(ac_gguf_get_arr(g, "tokenizer.ggml.tokens", &idx, &et, &n), 0);
	cr_assert_eq(et, AC_GGUF_STRING);
	cr_assert_eq(n, 49152);
	cr_assert_eq(ac_gguf_arr_str(g, idx, 1, &s, &len), 0);
	cr_assert_eq(len, strlen("<|im_start|>"));
	cr_assert_eq(memcmp(s, "<|im_start|>", len), 0);
	cr_assert_eq(ac_gguf_get_arr(g, "tokenizer.ggml.token_type", &idx, &et, &n), 0);
	cr_assert_eq(n, 49152);
	cr_assert_eq(ac_gguf_arr_int(g, idx, 0, &v), 0);
	cr_assert_eq(v, 3, "<|endoftext|> is a control token");
	cr_assert_eq(ac_gguf_get_arr(g, "tokenizer.ggml.merges", &idx, &et, &n), 0);
	cr_assert_eq(n, 48900);
	ac_gguf_close(g);
	free(path);
}
