/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtest.h"

TestSuite(model_gguf, .init = mt_dir_init, .fini = mt_dir_fini);

/* All six decoded types over the tensor kinds. */
static const uint32_t six[AC_WK_COUNT] = {
	[AC_WK_ATTN_NORM] = AC_GGML_F32, [AC_WK_Q] = AC_GGML_F32,
	[AC_WK_K] = AC_GGML_F16, [AC_WK_V] = AC_GGML_BF16,
	[AC_WK_O] = AC_GGML_Q4_0, [AC_WK_FFN_NORM] = AC_GGML_F32,
	[AC_WK_GATE] = AC_GGML_Q4_1, [AC_WK_UP] = AC_GGML_Q8_0,
	[AC_WK_DOWN] = AC_GGML_Q4_0, [AC_WK_TOK_EMBD] = AC_GGML_Q8_0,
	[AC_WK_OUTPUT_NORM] = AC_GGML_F32, [AC_WK_OUTPUT] = AC_GGML_Q4_1,
};

static const uint32_t all_f32[AC_WK_COUNT] = { 0 };

/* @w holds @m's values within @tol (relative); frees @w. */
static void expect_decoded(struct ac_weights *w, const struct mt_model *m,
			   double tol)
{
	cr_assert_leq(mt_model_diff(w, m, 1e-30), tol);
	ac_weights_free(w);
}

/* @path's weights in @dtype; the test stops on a refusal, with its message. */
static struct ac_weights *load_gguf(const char *path, enum ac_dtype dtype)
{
	struct ac_weights *w = NULL;
	char err[256] = "";

	cr_assert_eq(ac_weights_load_gguf(path, dtype, &w, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(w->dtype, dtype);
	return w;
}

Test(model_gguf, metadata_of_every_type)
{
	char *path = mt_path(mt_dir, "meta.gguf");
	struct mt_gguf *w = mt_gguf_new(3);
	static const char *const toks[] = { "<s>", "", "h\xc3\xa9llo", "\xc4\xa0the" };
	static const int32_t types[] = { 3, 1, 1, -6 };
	uint8_t u8 = 200, b = 1;
	int8_t i8 = -100;
	uint16_t u16 = 65000;
	int16_t i16 = -30000;
	int32_t i32 = -2000000000;
	uint64_t u64 = UINT64_C(18000000000000000000);
	int64_t i64 = -INT64_C(9000000000000000000);
	double f64 = -2.5e-300;
	/* An array of two arrays of one u8 each: nested arrays parse. */
	uint8_t nested[] = { 9, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
			     0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7,
			     0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 8 };
	struct ac_gguf *g;
	enum ac_gguf_type et;
	const char *s;
	uint64_t u, n, len;
	int64_t v, idx;
	double f;
	bool bo;
	char err[256];

	mt_gguf_kv_raw(w, "t.u8", AC_GGUF_UINT8, &u8, 1);
	mt_gguf_kv_raw(w, "t.i8", AC_GGUF_INT8, &i8, 1);
	mt_gguf_kv_raw(w, "t.u16", AC_GGUF_UINT16, &u16, 2);
	mt_gguf_kv_raw(w, "t.i16", AC_GGUF_INT16, &i16, 2);
	mt_gguf_kv_u32(w, "t.u32", 4000000000u);
	mt_gguf_kv_raw(w, "t.i32", AC_GGUF_INT32, &i32, 4);
	mt_gguf_kv_f32(w, "t.f32", 0.125f);
	mt_gguf_kv_raw(w, "t.bool", AC_GGUF_BOOL, &b, 1);
	mt_gguf_kv_str(w, "t.str", "llama");
	mt_gguf_kv_raw(w, "t.u64", AC_GGUF_UINT64, &u64, 8);
	mt_gguf_kv_raw(w, "t.i64", AC_GGUF_INT64, &i64, 8);
	mt_gguf_kv_raw(w, "t.f64", AC_GGUF_FLOAT64, &f64, 8);
	mt_gguf_kv_arr_str(w, "tokenizer.ggml.tokens", toks, 4);
	mt_gguf_kv_arr_i32(w, "tokenizer.ggml.token_type", types, 4);
	mt_gguf_kv_raw(w, "t.nested", AC_GGUF_ARRAY, nested, sizeof(nested));
	mt_gguf_write(w, path, 32);
	mt_gguf_free(w);

	cr_assert_eq(ac_gguf_open(path, &g, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(ac_gguf_version(g), 3);
	cr_assert_eq(ac_gguf_alignment(g), 32);
	cr_assert_eq(ac_gguf_kv_count(g), 15);
	cr_assert_str_eq(ac_gguf_kv_key(g, 8), "t.str");
	cr_assert_eq(ac_gguf_kv_type(g, 8), AC_GGUF_STRING);
	cr_assert_eq(ac_gguf_tensor_count(g), 0);

	cr_assert_eq(ac_gguf_get_uint(g, "t.u8", &u), 0);
	cr_assert_eq(u, 200);
	cr_assert_eq(ac_gguf_get_int(g, "t.i8", &v), 0);
	cr_assert_eq(v, -100);
	cr_assert_eq(ac_gguf_get_uint(g, "t.i8", &u), -EINVAL, "negative as uint");
	cr_assert_eq(ac_gguf_get_uint(g, "t.u16", &u), 0);
	cr_assert_eq(u, 65000);
	cr_assert_eq(ac_gguf_get_int(g, "t.i16", &v), 0);
	cr_assert_eq(v, -30000);
	cr_assert_eq(ac_gguf_get_uint(g, "t.u32", &u), 0);
	cr_assert_eq(u, 4000000000u);
	cr_assert_eq(ac_gguf_get_int(g, "t.i32", &v), 0);
	cr_assert_eq(v, -2000000000);
	cr_assert_eq(ac_gguf_get_float(g, "t.f32", &f), 0);
	cr_assert_eq(f, 0.125);
	cr_assert_eq(ac_gguf_get_float(g, "t.u32", &f), 0, "ints widen to float");
	cr_assert_eq(f, 4e9);
	cr_assert_eq(ac_gguf_get_uint(g, "t.f32", &u), -EINVAL);
	cr_assert_eq(ac_gguf_get_bool(g, "t.bool", &bo), 0);
	cr_assert(bo);
	cr_assert_eq(ac_gguf_get_bool(g, "t.u8", &bo), -EINVAL);
	cr_assert_eq(ac_gguf_get_str(g, "t.str", &s, &len), 0);
	cr_assert_eq(len, 5);
	cr_assert_eq(memcmp(s, "llama", 5), 0);
	cr_assert_eq(ac_gguf_get_str(g, "t.u8", &s, &len), -EINVAL);
	cr_assert_eq(ac_gguf_get_uint(g, "t.u64", &u), 0);
	cr_assert_eq(u, UINT64_C(18000000000000000000));
	cr_assert_eq(ac_gguf_get_int(g, "t.u64", &v), -EINVAL, "past INT64_MAX");
	cr_assert_eq(ac_gguf_get_int(g, "t.i64", &v), 0);
	cr_assert_eq(v, -INT64_C(9000000000000000000));
	cr_assert_eq(ac_gguf_get_float(g, "t.f64", &f), 0);
	cr_assert_eq(f, -2.5e-300);
	cr_assert_eq(ac_gguf_get_uint(g, "no.such.key", &u), -ENOENT);

	cr_assert_eq(ac_gguf_get_arr(g, "tokenizer.ggml.tokens", &idx, &et, &n), 0);
	cr_assert_eq(et, AC_GGUF_STRING);
	cr_assert_eq(n, 4);
	for (uint64_t i = 0; i < n; i++) {
		cr_assert_eq(ac_gguf_arr_str(g, idx, i, &s, &len), 0);
		cr_assert_eq(len, strlen(toks[i]));
		cr_assert_eq(memcmp(s, toks[i], len), 0);
	}
	cr_assert_eq(ac_gguf_arr_str(g, idx, 4, &s, &len), -ERANGE);
	cr_assert_eq(ac_gguf_arr_int(g, idx, 0, &v), -EINVAL);
	cr_assert_eq(ac_gguf_get_arr(g, "tokenizer.ggml.token_type", &idx, &et, &n), 0);
	cr_assert_eq(et, AC_GGUF_INT32);
	cr_assert_eq(n, 4);
	for (uint64_t i = 0; i < n; i++) {
		cr_assert_eq(ac_gguf_arr_int(g, idx, i, &v), 0);
		cr_assert_eq(v, types[i]);
	}
	cr_assert_eq(ac_gguf_arr_float(g, idx, 3, &f), 0);
	cr_assert_eq(f, -6.0);
	cr_assert_eq(ac_gguf_get_arr(g, "t.nested", &idx, &et, &n), 0);
	cr_assert_eq(et, AC_GGUF_ARRAY);
	cr_assert_eq(n, 2);
	cr_assert_eq(ac_gguf_arr_int(g, idx, 1, &v), -EINVAL);
	cr_assert_eq(ac_gguf_get_arr(g, "t.str", &idx, &et, &n), -EINVAL);
	cr_assert_eq(ac_gguf_find(g, "t.f64"), 11);
	ac_gguf_close(g);
	ac_gguf_close(NULL);
	free(path);
}

Test(model_gguf, six_types_dequantize_like_float64)
{
	struct ac_model_config c = mt_tiny();
	char *path = mt_path(mt_dir, "six.gguf"), err[256] = "";
	const struct ac_gguf_tensor *t;
	struct ac_weights *w;
	struct mt_model m;
	struct ac_gguf *g;

	mt_llama_gguf(path, &c, six, 1, NULL, &m);

	/* The table records what was written. */
	cr_assert_eq(ac_gguf_open(path, &g, err, sizeof(err)), 0, "%s", err);
	t = ac_gguf_find_tensor(g, "blk.1.ffn_gate.weight");
	cr_assert_not_null(t);
	cr_assert_eq(t->type, AC_GGML_Q4_1);
	cr_assert_eq(t->n_dims, 2);
	cr_assert_eq(t->ne[0], c.hidden);
	cr_assert_eq(t->ne[1], c.ffn);
	cr_assert_eq(t->size, (uint64_t)c.hidden * c.ffn / 32 * 20);
	cr_assert_str_eq(ac_ggml_type_name(t->type), "Q4_1");
	cr_assert_null(ac_gguf_find_tensor(g, "blk.2.ffn_gate.weight"));
	ac_gguf_close(g);

	/* Each decode is one float rounding of the exact value. */
	w = load_gguf(path, AC_DTYPE_FP32);
	cr_assert_not(w->cfg.tie_embeddings);
	cr_assert_neq(w->output, w->tok_embd);
	expect_decoded(w, &m, 0x1p-24);

	w = load_gguf(path, AC_DTYPE_BF16);
	expect_decoded(w, &m, 0x1p-8);
	mt_model_free(&m);
	free(path);
}

Test(model_gguf, config_from_llama_keys)
{
	struct ac_model_config c = mt_tiny();
	char *path = mt_path(mt_dir, "cfg.gguf"), err[256] = "";
	struct ac_weights *w;
	struct mt_model m;

	c.tie_embeddings = true;
	c.head_dim = 32;	/* != hidden / n_heads: needs key_length */
	c.rope_theta = 500000.0f;
	c.rms_eps = 1e-6f;
	mt_llama_gguf(path, &c, six, 2, NULL, &m);
	cr_assert_eq(ac_weights_load(path, AC_DTYPE_FP32, 0, &w, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_str_eq(w->cfg.arch, "llama");
	/* The tiny preset's name and no rope scaling; head_dim, eps, theta. */
	mt_expect_config(&w->cfg, &c);
	/* No output.weight: the output projection is the embedding. */
	cr_assert_eq(w->output, w->tok_embd);
	expect_decoded(w, &m, 0x1p-24);
	mt_model_free(&m);
	free(path);
}

/*
 * llama.cpp's converter reorders each head's Q/K rows so that RoPE pairs
 * are adjacent: Hugging Face row i pairs with i + hd/2 and is written at
 * 2i, its partner at 2i + 1. Rows tagged with their file index show the
 * loader puts them back.
 */
Test(model_gguf, q_and_k_rows_back_in_hf_order)
{
	struct ac_model_config c = mt_tiny();
	char *path = mt_path(mt_dir, "perm.gguf");
	struct mt_gguf *g = mt_gguf_new(3);
	uint32_t hd = c.head_dim, q_rows = c.n_heads * hd;
	uint32_t kv_rows = c.n_kv_heads * hd;
	struct ac_weights *w;
	char name[64];

	mt_gguf_llama_kv(g, &c, NULL);
	for (int k = 0; k < AC_WK_COUNT; k++) {
		for (uint32_t l = 0; l < (k < AC_WK_LAYER_COUNT ? c.n_layers : 1); l++) {
			uint64_t rows, cols;
			float *v;

			cr_assert_eq(ac_weights_shape(&c, k, &rows, &cols), 0);
			v = calloc(rows * cols, sizeof(float));
			for (uint64_t r = 0; r < rows; r++)
				for (uint64_t i = 0; i < cols; i++)
					v[r * cols + i] = (float)(r * 1000 + i);
			if (k == AC_WK_TOK_EMBD)
				snprintf(name, sizeof(name), "token_embd.weight");
			else if (k == AC_WK_OUTPUT_NORM)
				snprintf(name, sizeof(name), "output_norm.weight");
			else if (k == AC_WK_OUTPUT)
				snprintf(name, sizeof(name), "output.weight");
			else
				snprintf(name, sizeof(name), "blk.%u.%s.weight", l,
					 (const char *[]){ "attn_norm", "attn_q", "attn_k",
							   "attn_v", "attn_output", "ffn_norm",
							   "ffn_gate", "ffn_up", "ffn_down" }[k]);
			mt_gguf_tensor(g, name, AC_GGML_F32, rows == 1 ? 1 : 2,
				       (uint64_t[]){ cols, rows }, v,
				       rows * cols * sizeof(float));
			free(v);
		}
	}
	mt_gguf_write(g, path, 32);
	mt_gguf_free(g);

	w = load_gguf(path, AC_DTYPE_FP32);
	for (uint32_t l = 0; l < c.n_layers; l++) {
		const float *q = w->layers[l].wq, *kk = w->layers[l].wk;
		const float *v = w->layers[l].wv;

		for (uint32_t h = 0; h < q_rows / hd; h++) {
			for (uint32_t i = 0; i < hd / 2; i++) {
				cr_assert_eq(q[(h * hd + i) * c.hidden], (h * hd + 2 * i) * 1000.0f);
				cr_assert_eq(q[(h * hd + i + hd / 2) * c.hidden + 5],
					     (h * hd + 2 * i + 1) * 1000.0f + 5);
			}
		}
		for (uint32_t h = 0; h < kv_rows / hd; h++) {
			for (uint32_t i = 0; i < hd / 2; i++) {
				cr_assert_eq(kk[(h * hd + i) * c.hidden + 1],
					     (h * hd + 2 * i) * 1000.0f + 1);
				cr_assert_eq(kk[(h * hd + i + hd / 2) * c.hidden],
					     (h * hd + 2 * i + 1) * 1000.0f);
			}
		}
		/* V is not rotated and keeps its order. */
		for (uint32_t r = 0; r < kv_rows; r++)
			cr_assert_eq(v[r * c.hidden + 3], r * 1000.0f + 3);
	}
	ac_weights_free(w);
	free(path);
}

/*
 * Llama 3.1's rope scaling as Meta defines it (factor 8, low 1, high 4,
 * original 8192): per-frequency divisors, which llama.cpp's converter
 * stores as rope_freqs.weight instead of metadata.
 */
static float llama3_divisor(const struct ac_model_config *c, uint32_t i)
{
	double inv_freq = 1.0 / pow(c->rope_theta, (2.0 * i) / c->head_dim);
	double wavelen = 2 * M_PI / inv_freq;
	double lo_wavelen = 8192 / 1.0, hi_wavelen = 8192 / 4.0, smooth;

	if (wavelen < hi_wavelen)
		return 1.0f;
	if (wavelen > lo_wavelen)
		return 8.0f;
	smooth = (8192 / wavelen - 1.0) / (4.0 - 1.0);
	/* scaled freq = (1 - smooth) * f / 8 + smooth * f */
	return (float)(1.0 / ((1 - smooth) / 8 + smooth));
}

static float bump;	/* added to one divisor to spoil the table */

static void add_rope_freqs(struct mt_gguf *w, const struct ac_model_config *c)
{
	float f[64];

	for (uint32_t i = 0; i < c->head_dim / 2; i++)
		f[i] = llama3_divisor(c, i) + (i == 4 ? bump : 0);
	mt_gguf_tensor(w, "rope_freqs.weight", AC_GGML_F32, 1,
		       (uint64_t[]){ c->head_dim / 2 }, f, c->head_dim / 2 * 4);
}

static void add_linear(struct mt_gguf *w, const struct ac_model_config *c)
{
	mt_gguf_kv_str(w, "llama.rope.scaling.type", "linear");
}

Test(model_gguf, llama3_rope_scaling_from_rope_freqs)
{
	struct ac_model_config c = mt_tiny();
	struct mt_spoil s = { .extra = add_rope_freqs };
	struct mt_spoil lin = { .extra = add_linear };
	char *path = mt_path(mt_dir, "rope.gguf"), err[512] = "";
	struct ac_weights *w;
	struct mt_model m;
	int n_smooth = 0;

	c.rope_theta = 500000.0f;
	c.max_ctx = 131072;
	/* head_dim 16 at theta 5e5 spans all three bands of the formula. */
	for (uint32_t i = 0; i < c.head_dim / 2; i++)
		n_smooth += llama3_divisor(&c, i) != 1.0f && llama3_divisor(&c, i) != 8.0f;
	cr_assert_geq(n_smooth, 1);
	cr_assert_eq(llama3_divisor(&c, 0), 1.0f);
	cr_assert_eq(llama3_divisor(&c, c.head_dim / 2 - 1), 8.0f);

	mt_llama_gguf(path, &c, six, 4, &s, &m);
	mt_model_free(&m);
	w = load_gguf(path, AC_DTYPE_FP32);
	cr_assert_eq(w->cfg.rope_scaling.type, AC_ROPE_SCALING_LLAMA3);
	cr_assert_eq(w->cfg.rope_scaling.factor, 8.0f);
	cr_assert_eq(w->cfg.rope_scaling.low_freq_factor, 1.0f);
	cr_assert_eq(w->cfg.rope_scaling.high_freq_factor, 4.0f);
	cr_assert_eq(w->cfg.rope_scaling.original_max_position_embeddings, 8192);
	ac_weights_free(w);

	bump = 0.01f;
	mt_llama_gguf(path, &c, six, 4, &s, &m);
	mt_model_free(&m);
	cr_assert_eq(ac_weights_load_gguf(path, AC_DTYPE_FP32, &w, err, sizeof(err)),
		     -EOPNOTSUPP, "%s", err);
	cr_assert_not_null(strstr(err, "rope_freqs.weight[4]"), "%s", err);

	mt_llama_gguf(path, &c, six, 4, &lin, &m);
	mt_model_free(&m);
	cr_assert_eq(ac_weights_load_gguf(path, AC_DTYPE_FP32, &w, err, sizeof(err)),
		     -EOPNOTSUPP, "%s", err);
	cr_assert_not_null(strstr(err, "\"linear\""), "%s", err);
	free(path);
}

Test(model_gguf, version_2_and_wider_alignment)
{
	struct ac_model_config c = mt_tiny();
	char *path = mt_path(mt_dir, "v2.gguf"), err[256] = "";
	struct mt_gguf *g = mt_gguf_new(2);
	float v[64 * 2];
	struct ac_gguf *f;

	for (int i = 0; i < 128; i++)
		v[i] = (float)i;
	mt_gguf_llama_kv(g, &c, NULL);
	mt_gguf_kv_u32(g, "general.alignment", 64);
	mt_gguf_tensor(g, "a", AC_GGML_F32, 1, (uint64_t[]){ 3 }, v, 12);
	mt_gguf_tensor(g, "b", AC_GGML_F32, 2, (uint64_t[]){ 64, 2 }, v, sizeof(v));
	mt_gguf_write(g, path, 64);
	mt_gguf_free(g);
	cr_assert_eq(ac_gguf_open(path, &f, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(ac_gguf_version(f), 2);
	cr_assert_eq(ac_gguf_alignment(f), 64);
	cr_assert_eq(((const float *)ac_gguf_find_tensor(f, "b")->data)[100], 100.0f);
	cr_assert_eq((uintptr_t)ac_gguf_find_tensor(f, "b")->data % 64, 0);
	ac_gguf_close(f);
	free(path);
}

/* ---- bad files: right errno, message naming file and what, no leaks ---- */

static void expect_fail(const char *path, int want, const char *what1,
			const char *what2, struct mt_leaks before)
{
	struct ac_weights *w = (struct ac_weights *)&w;
	char err[512] = "";
	int rc = ac_weights_load_gguf(path, AC_DTYPE_FP32, &w, err, sizeof(err));

	mt_expect_refused(rc, w, err, want, path, what1, what2, before);
}

static char *spoilt(const char *name, const struct mt_spoil *s, const uint32_t *types)
{
	struct ac_model_config c = mt_tiny();
	char *path = mt_path(mt_dir, name);
	struct mt_model m;

	mt_llama_gguf(path, &c, types, 3, s, &m);
	mt_model_free(&m);
	return path;
}

/* A GGUF of @types, spoilt by @s, must fail to load with @want. */
static void expect_spoilt_fails(const char *name, struct mt_spoil s,
				const uint32_t *types, int want,
				const char *what1, const char *what2)
{
	char *path = spoilt(name, &s, types);

	expect_fail(path, want, what1, what2, mt_leak_probe());
	free(path);
}

Test(model_gguf, truncated_header)
{
	char *path = spoilt("th.gguf", NULL, six);
	struct mt_leaks p = mt_leak_probe();

	mt_truncate(path, 450);
	expect_fail(path, -EBADMSG, "truncated header", "metadata", p);
	/* Too short to hold the entries it announces. */
	mt_truncate(path, 200);
	expect_fail(path, -EBADMSG, "truncated header", "21 tensors", p);
	mt_truncate(path, 6);
	expect_fail(path, -EBADMSG, "truncated header", "version", p);
	free(path);
}

Test(model_gguf, truncated_tensor_data)
{
	char *path = spoilt("td.gguf", NULL, six);
	struct mt_leaks p = mt_leak_probe();

	/* The last tensor written is output.weight. */
	mt_truncate(path, mt_file_size(path) - 7);
	expect_fail(path, -EBADMSG, "output.weight", "truncated data", p);
	free(path);
}

/*
 * A file spoilt one way at a time: a tensor of the wrong shape, of a type
 * not decoded or unknown, a tensor or a config key missing. Each is refused
 * with its errno and a message naming the tensor or key and the fault.
 */
Test(model_gguf, spoilt_files_are_refused)
{
	static const struct {
		const char *file;
		struct mt_spoil spoil;
		const uint32_t *types;
		int want;
		const char *what1, *what2;
	} cases[] = {
		{ "ws.gguf", { .reshape = "blk.1.attn_k.weight" }, six,
		  -EINVAL, "blk.1.attn_k.weight", "expected [64, 32]" },
		{ "q5.gguf", { .retype = "blk.0.ffn_up.weight", .retype_to = 6 },
		  all_f32, -EOPNOTSUPP, "blk.0.ffn_up.weight", "Q5_0" },
		{ "t99.gguf", { .retype = "output_norm.weight", .retype_to = 99 },
		  all_f32, -EOPNOTSUPP, "output_norm.weight", "unknown (99)" },
		{ "mt.gguf", { .skip = "blk.1.ffn_up.weight" }, six,
		  -ENOENT, "blk.1.ffn_up.weight", "missing" },
		{ "mk.gguf", { .skip = "llama.block_count" }, six,
		  -ENOENT, "llama.block_count", "missing" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_spoilt_fails(cases[i].file, cases[i].spoil,
				    cases[i].types, cases[i].want,
				    cases[i].what1, cases[i].what2);
}

Test(model_gguf, not_gguf_and_bad_version)
{
	char *path = spoilt("bv.gguf", NULL, six);
	struct mt_leaks p = mt_leak_probe();

	mt_patch(path, "GGUF\x03", "GGUF\x01");
	expect_fail(path, -EOPNOTSUPP, "version 1", NULL, p);
	mt_patch(path, "GGUF", "GGML");
	expect_fail(path, -EBADMSG, "not a GGUF", NULL, p);
	/*
	 * Empty: its mapping is NULL, and the reader computed NULL + 0, which
	 * is undefined (fuzz-gguf's UBSan found it); it is refused first now.
	 */
	mt_truncate(path, 0);
	expect_fail(path, -EBADMSG, "not a GGUF file (empty)", NULL, p);
	free(path);
}

Test(model_gguf, missing_file)
{
	char *path = mt_path(mt_dir, "absent.gguf");

	expect_fail(path, -ENOENT, "cannot open", NULL, mt_leak_probe());
	free(path);
}
