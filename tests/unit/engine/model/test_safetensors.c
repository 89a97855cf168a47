/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mtest.h"

TestSuite(model_safetensors, .init = mt_dir_init, .fini = mt_dir_fini);

static void load_ok(const struct mt_model *m, enum ac_dtype dtype, double tol)
{
	struct ac_weights *w;
	char err[512] = "";

	cr_assert_eq(ac_weights_load_safetensors(mt_dir, dtype, &w, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(w->dtype, dtype);
	mt_expect_config(&w->cfg, &m->cfg);
	cr_assert_leq(mt_model_diff(w, m, 1e-30), tol);
	ac_weights_free(w);
}

Test(model_safetensors, one_file_each_dtype)
{
	static const char *dtypes[] = { "F32", "F16", "BF16" };
	struct ac_model_config c = mt_tiny();

	for (int i = 0; i < 3; i++) {
		struct mt_model m;

		mt_llama_hf(mt_dir, &c, dtypes[i], 1, (uint64_t)i, &m);
		/* F32, F16 and BF16 all fit fp32 exactly. */
		load_ok(&m, AC_DTYPE_FP32, 0);
		load_ok(&m, AC_DTYPE_BF16, strcmp(dtypes[i], "BF16") ? 0x1p-8 : 0);
		mt_model_free(&m);
	}
}

Test(model_safetensors, sharded_with_index_tied_llama3_scaling)
{
	struct ac_model_config c = mt_tiny();
	struct ac_weights *w;
	struct mt_model m;
	char err[512] = "";

	c.tie_embeddings = true;
	c.rope_theta = 500000.0f;
	c.rope_scaling = (struct ac_rope_scaling){ AC_ROPE_SCALING_LLAMA3, 8, 1, 4, 256 };
	mt_llama_hf(mt_dir, &c, "BF16", 3, 7, &m);
	load_ok(&m, AC_DTYPE_BF16, 0);
	cr_assert_eq(ac_weights_load(mt_dir, AC_DTYPE_FP32, 0, &w, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(w->output, w->tok_embd);
	cr_assert_eq(w->cfg.rope_scaling.factor, 8.0f);
	cr_assert_eq(w->cfg.rope_scaling.low_freq_factor, 1.0f);
	cr_assert_eq(w->cfg.rope_scaling.high_freq_factor, 4.0f);
	cr_assert_eq(w->cfg.rope_scaling.original_max_position_embeddings, 256);
	ac_weights_free(w);
	mt_model_free(&m);
}

/* ---- bad directories ---- */

static void expect_fail(int want, const char *file, const char *what1,
			const char *what2)
{
	struct ac_weights *w = (struct ac_weights *)&w;
	struct mt_leaks before = mt_leak_probe();
	char err[512] = "";
	int rc = ac_weights_load_safetensors(mt_dir, AC_DTYPE_FP32, &w, err, sizeof(err));

	mt_expect_refused(rc, w, err, want, file, what1, what2, before);
}

static char *one_file(unsigned shards)
{
	struct ac_model_config c = mt_tiny();
	struct mt_model m;

	mt_llama_hf(mt_dir, &c, "F32", shards, 11, &m);
	mt_model_free(&m);
	/* Tensors go round-robin; lm_head, the last, lands in the first. */
	return mt_path(mt_dir, shards == 1 ? "model.safetensors" :
				       "model-00001-of-00002.safetensors");
}

/*
 * Replaces @from with @to in file @name of a one-file model (NULL: its
 * tensors); loading must then fail with @want, naming that file.
 */
static void expect_patched_fails(const char *name, const char *from,
				 const char *to, int want, const char *what1,
				 const char *what2)
{
	char *st = one_file(1), *path = name ? mt_path(mt_dir, name) : st;

	mt_patch(path, from, to);
	expect_fail(want, path, what1, what2);
	if (path != st)
		free(path);
	free(st);
}

Test(model_safetensors, truncated_header)
{
	char *st = one_file(1);

	mt_truncate(st, 300);
	expect_fail(-EBADMSG, st, "truncated header", NULL);
	mt_truncate(st, 5);
	expect_fail(-EBADMSG, st, "truncated header", NULL);
	free(st);
}

Test(model_safetensors, truncated_tensor_data)
{
	char *st = one_file(2);

	/* The shard's last tensor is the last one written: lm_head. */
	mt_truncate(st, mt_file_size(st) - 3);
	expect_fail(-EBADMSG, st, "lm_head.weight", "truncated data");
	free(st);
}

Test(model_safetensors, wrong_shape)
{
	expect_patched_fails(NULL, "\"shape\": [64]", "\"shape\": [65]", -EINVAL,
			     "model.layers.0.input_layernorm.weight",
			     "expected [64]");
}

Test(model_safetensors, unknown_dtype)
{
	expect_patched_fails(NULL, "\"F32\"", "\"F64\"", -EOPNOTSUPP,
			     "model.layers.0.input_layernorm.weight",
			     "dtype F64");
}

Test(model_safetensors, missing_tensor)
{
	expect_patched_fails(NULL, "\"model.norm.weight\"",
			     "\"model.norX.weight\"", -ENOENT,
			     "model.norm.weight", "missing");
}

Test(model_safetensors, missing_from_index)
{
	char *st = one_file(2), *idx = mt_path(mt_dir, "model.safetensors.index.json");

	mt_patch(idx, "\"model.norm.weight\"", "\"model.norX.weight\"");
	expect_fail(-ENOENT, idx, "model.norm.weight", "weight_map");
	mt_patch(idx, "model-00001-of", "../00001-of-00");
	expect_fail(-EINVAL, idx, "../00001-of-00", "not a file in the directory");
	free(st);
	free(idx);
}

Test(model_safetensors, missing_config_key)
{
	expect_patched_fails("config.json", "\"hidden_size\"", "\"hidden_sizX\"",
			     -ENOENT, "hidden_size", "missing");
}

Test(model_safetensors, broken_config_json)
{
	expect_patched_fails("config.json", "\"model_type\": \"llama\",",
			     "\"model_type\": \"llama\"]", -EBADMSG,
			     "not a JSON object", NULL);
}

Test(model_safetensors, broken_header_json)
{
	expect_patched_fails(NULL, "{\"model.", "[\"model.", -EBADMSG,
			     "not a JSON object", NULL);
}

Test(model_safetensors, no_config)
{
	char *cfg = mt_path(mt_dir, "config.json");

	expect_fail(-ENOENT, cfg, "cannot open", NULL);
	free(cfg);
}
