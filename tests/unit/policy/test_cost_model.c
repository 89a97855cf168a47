/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cost_model.h"

static const char good[] =
	"{ \"version\": 1, \"gpu\": \"g\", \"model\": \"m\","
	"  \"layout\": { \"num_layers\": 2, \"hidden\": 64, \"ffn\": 128,"
	"    \"num_q_heads\": 4, \"num_kv_heads\": 2, \"head_dim\": 16,"
	"    \"dtype_bytes\": 2, \"block_tokens\": 16 },"
	"  \"coefficients\": { \"linear_s_per_token\": 1e-6,"
	"    \"attn_s_per_pair\": 1e-9, \"segment_s\": 1e-5,"
	"    \"iteration_s\": 1e-4, \"decode_s_per_ctx_token\": 2e-9 },"
	"  \"source\": \"test\" }\n";

static char *edit(const char *from, const char *to)
{
	const char *at = strstr(good, from);
	char *s;

	cr_assert_not_null(at, "fixture lacks %s", from);
	s = malloc(sizeof(good) + strlen(to));
	memcpy(s, good, (size_t)(at - good));
	strcpy(s + (at - good), to);
	strcat(s, at + strlen(from));
	return s;
}

Test(policy_cost_model, parse_good)
{
	struct ac_cost_model m;

	cr_assert_eq(ac_cost_model_parse(good, strlen(good), &m), 0);
	cr_assert_str_eq(m.gpu, "g");
	cr_assert_eq(m.layout.kv.num_kv_heads, 2);
	cr_assert_eq(m.linear_s, 1e-6);
	cr_assert_eq(m.segment_s, 1e-5);
	cr_assert_eq(ac_kv_token_bytes(&m.layout.kv), 2ull * 2 * 2 * 16 * 2);
}

Test(policy_cost_model, bad_files_are_refused_and_change_nothing)
{
	static const char *const bad[][2] = {
		{ "\"version\": 1", "\"version\": 2" },
		{ "\"version\": 1", "\"version\": \"1\"" },
		{ "\"gpu\": \"g\",", "" },
		{ "\"num_kv_heads\": 2", "\"num_kv_heads\": 3" },
		{ "\"num_layers\": 2", "\"num_layers\": -2" },
		{ "\"num_layers\": 2", "\"num_layers\": 99999999999" },
		{ "\"dtype_bytes\": 2", "\"dtype_bytes\": 3" },
		{ "\"block_tokens\": 16", "\"block_tokens\": 0" },
		{ "1e-6", "0" },
		{ "1e-9", "-1e-9" },
		{ "1e-5", "\"fast\"" },
		{ "1e-4", "7.0" },
		{ "\"iteration_s\": 1e-4,", "" },
		{ "\"source\": \"test\" }", "\"source\": 5 }" },
		{ "}\n", "} x" },
		{ "{ \"version\"", "[ \"version\"" },
	};
	struct ac_cost_model m, before;

	memset(&m, 0x5a, sizeof(m));
	before = m;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char *s = edit(bad[i][0], bad[i][1]);

		cr_expect_eq(ac_cost_model_parse(s, strlen(s), &m), -EINVAL,
			     "case %zu accepted: %s", i, s);
		free(s);
	}
	cr_assert_eq(memcmp(&m, &before, sizeof(m)), 0);
	cr_assert_eq(ac_cost_model_parse(good, 10, &m), -EINVAL);
	cr_assert_eq(ac_cost_model_parse(NULL, 0, &m), -EINVAL);
	cr_assert_eq(ac_cost_model_parse(good, AC_COST_FILE_MAX + 1, &m),
		     -EFBIG);
	cr_assert_eq(ac_cost_model_load("/nonexistent/x.json", &m), -ENOENT);
	cr_assert_eq(ac_cost_model_load("/", &m), -EINVAL);
}

Test(policy_cost_model, shipped_h200_file_is_the_derivation)
{
	const char *root = getenv("AC_SOURCE_ROOT");
	struct ac_cost_model file, def;
	char path[4096];

	cr_assert_not_null(root, "run through meson test");
	snprintf(path, sizeof(path), "%s/policy/costs/h200-llama-3-8b.json",
		 root);
	cr_assert_eq(ac_cost_model_load(path, &file), 0);
	ac_cost_model_default(&def);
	cr_assert_str_eq(file.gpu, "NVIDIA H200");
	cr_assert_eq(memcmp(&file.layout, &def.layout, sizeof(def.layout)), 0);
	cr_assert_float_eq(file.linear_s, def.linear_s, def.linear_s * 1e-12);
	cr_assert_float_eq(file.attn_s, def.attn_s, def.attn_s * 1e-12);
	cr_assert_float_eq(file.segment_s, def.segment_s, def.segment_s * 1e-12);
	cr_assert_float_eq(file.iteration_s, def.iteration_s, 1e-15);
	cr_assert_float_eq(file.decode_ctx_s, def.decode_ctx_s, 1e-20);
	cr_assert_not_null(strstr(file.source, "NOT MEASURED"));
	/* The numbers the H200 anchors give for Llama-3-8B. */
	cr_assert_float_eq(def.linear_s, 2 * 6979321856.0 / 760e12, 1e-15);
	cr_assert_float_eq(def.attn_s, 4.0 * 32 * 128 * 32 / 357e12, 1e-20);
	cr_assert_float_eq(def.decode_ctx_s, 131072 / 4.01e12, 1e-20);
	cr_assert_eq(ac_cost_knee_tokens(&def), 206);
}

Test(policy_cost_model, shipped_measured_file_loads)
{
	const char *root = getenv("AC_SOURCE_ROOT");
	struct ac_cost_model m, def;
	char path[4096];

	cr_assert_not_null(root, "run through meson test");
	snprintf(path, sizeof(path),
		 "%s/policy/costs/h200-llama-3-8b-measured.json", root);
	cr_assert_eq(ac_cost_model_load(path, &m), 0);
	ac_cost_model_default(&def);
	cr_assert_not_null(strstr(m.source, "MEASURED"));
	cr_assert_eq(memcmp(&m.layout, &def.layout, sizeof(m.layout)), 0);
	/* Same order of magnitude as the derivation, or a unit slipped. */
	cr_assert_gt(m.linear_s, def.linear_s / 3);
	cr_assert_lt(m.linear_s, def.linear_s * 3);
	cr_assert_gt(m.attn_s, def.attn_s / 3);
	cr_assert_lt(m.attn_s, def.attn_s * 3);
}

Test(policy_cost_model, json_round_trip)
{
	struct ac_cost_model m, back;
	char *s;

	ac_cost_model_default(&m);
	cr_assert_eq(ac_cost_model_to_json(&m, &s), 0);
	cr_assert_eq(ac_cost_model_parse(s, strlen(s), &back), 0);
	free(s);
	cr_assert_eq(back.linear_s, m.linear_s);
	cr_assert_eq(back.decode_ctx_s, m.decode_ctx_s);
	cr_assert_str_eq(back.source, m.source);
}

Test(policy_cost_model, formulas)
{
	struct ac_cost_model m;
	struct ac_cost_iter it = { 0 };
	double a, b;

	cr_assert_eq(ac_cost_model_parse(good, strlen(good), &m), 0);
	/* 10 tokens at 100: 10 lin + 10*(100+5) pairs + 1 segment. */
	a = ac_cost_recompute_s(&m, 10, 100, 1);
	cr_assert_float_eq(a, 10e-6 + 1050e-9 + 1e-5, 1e-15);
	b = ac_cost_recompute_s(&m, 10, 1000, 1);
	cr_assert_gt(b, a, "later positions cost more");
	cr_assert_float_eq(ac_cost_iter_s(&m, &it), 0, 0);
	/* Below the knee the weight stream dominates. */
	it.decode_tokens = 3;
	it.decode_ctx = 1000;
	cr_assert_float_eq(ac_cost_iter_s(&m, &it), 1e-4 + 2e-6, 1e-15);
	cr_assert_eq(ac_cost_knee_tokens(&m), 100);
	it.prefill_tokens = 997;
	it.prefill_pairs = 5000;
	it.segments = 2;
	cr_assert_float_eq(ac_cost_iter_s(&m, &it),
			   1000e-6 + 5000e-9 + 2e-5 + 2e-6, 1e-15);
}

Test(policy_cost_model, fit_recovers_coefficients)
{
	struct ac_cost_sample s[64];
	double lin, attn, seg;
	unsigned seed = 1;

	for (int i = 0; i < 64; i++) {
		double T = 16 + (i % 8) * 64, p = (i / 8) * 1024.0;
		double segs = 1 + i % 3;
		double noise = 1 + ((double)(rand_r(&seed) % 200) - 100) * 1e-5;

		s[i].tokens = T;
		s[i].pairs = T * (p + T / 2);
		s[i].segments = segs;
		s[i].seconds = (2e-5 * T + 1.5e-9 * s[i].pairs + 4e-4 * segs) *
			       noise;
	}
	cr_assert_eq(ac_cost_fit(s, 64, &lin, &attn, &seg), 0);
	cr_assert_float_eq(lin, 2e-5, 2e-7);
	cr_assert_float_eq(attn, 1.5e-9, 1.5e-11);
	cr_assert_float_eq(seg, 4e-4, 4e-5);
	/* Degenerate: every sample the same shape. */
	for (int i = 0; i < 64; i++)
		s[i] = s[0];
	cr_assert_eq(ac_cost_fit(s, 64, &lin, &attn, &seg), -EINVAL);
	cr_assert_eq(ac_cost_fit(s, 2, &lin, &attn, &seg), -EINVAL);
	s[1].seconds = NAN;
	cr_assert_eq(ac_cost_fit(s, 3, &lin, &attn, &seg), -EINVAL);
}

Test(policy_cost_model, fit_clamps_negative_noise)
{
	struct ac_cost_sample s[16];
	double lin, attn, seg;

	/* No segment cost at all: the fit must not go negative. */
	for (int i = 0; i < 16; i++) {
		double T = 32 + i * 32;

		s[i].tokens = T;
		s[i].pairs = T * (i * 100 + T / 2);
		s[i].segments = 1 + i % 2;
		s[i].seconds = 1e-5 * T + 1e-9 * s[i].pairs -
			       (i % 2 ? 1e-7 : 0);
	}
	cr_assert_eq(ac_cost_fit(s, 16, &lin, &attn, &seg), 0);
	cr_assert_geq(seg, 0);
	cr_assert_float_eq(lin, 1e-5, 1e-7);
}

/* Which layouts a model was made for: the shape, not the block size. */
Test(policy_cost_model, fits_the_layouts_it_was_made_for)
{
	struct ac_cost_model m;
	struct ac_kv_layout kv;
	char why[160];

	ac_cost_model_default(&m);
	kv = m.layout.kv;
	cr_expect(ac_cost_model_fits(&m, &kv, why, sizeof(why)));
	cr_expect_str_empty(why);
	kv.block_tokens = 64;
	kv.dtype = AC_DTYPE_FP16;
	cr_expect(ac_cost_model_fits(&m, &kv, NULL, 0), "block size and bf16/fp16 do not count");

	kv.num_layers = 30;
	kv.num_kv_heads = 3;
	kv.head_dim = 64;
	kv.dtype = AC_DTYPE_FP32;
	cr_expect_not(ac_cost_model_fits(&m, &kv, why, sizeof(why)));
	cr_expect_str_eq(why, "32 layers, not 30; 8 kv heads, not 3; 128 head dim, not 64; "
			 "2-byte elements, not 4");
	kv = m.layout.kv;
	kv.head_dim = 96;
	cr_expect_not(ac_cost_model_fits(&m, &kv, why, sizeof(why)));
	cr_expect_str_eq(why, "128 head dim, not 96");
	/* A short buffer is cut, never overrun. */
	kv.num_layers = 30;
	cr_expect_not(ac_cost_model_fits(&m, &kv, why, 8));
	cr_expect_eq(strlen(why), 7);
}
