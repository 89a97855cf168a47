/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cost_model.h"

void ac_cost_anchors_h200(struct ac_cost_anchors *ret)
{
	*ret = (struct ac_cost_anchors){
		.gemm_flops = 760e12,
		/* FlexAttention on the multi-segment shape: the one anchor
		 * measured on holes, inside FA2's 333 and cuDNN's 612. */
		.attn_flops = 357e12,
		.hbm_bytes_s = 4.25e12,
		.decode_bytes_s = 4.01e12,
		.pad_rows = 64,
		.pad_ctx = 4096,
	};
}

void ac_cost_layout_llama3_8b(struct ac_cost_layout *ret)
{
	*ret = (struct ac_cost_layout){
		.kv = {
			.num_layers = 32,
			.num_kv_heads = 8,
			.head_dim = 128,
			.block_tokens = 16,
			.dtype = AC_DTYPE_BF16,
		},
		.hidden = 4096,
		.ffn = 14336,
		.num_q_heads = 32,
		.vocab = 128256,
	};
}

static int layout_check(const struct ac_cost_layout *l)
{
	if (ac_kv_layout_check(&l->kv) < 0)
		return -EINVAL;
	if (!l->hidden || l->hidden > (1u << 20) || !l->ffn ||
	    l->ffn > (1u << 22))
		return -EINVAL;
	if (!l->num_q_heads || l->num_q_heads > 1024 ||
	    l->num_q_heads % l->kv.num_kv_heads)
		return -EINVAL;
	if (l->vocab > (1u << 24))
		return -EINVAL;
	return 0;
}

double ac_cost_layer_params(const struct ac_cost_layout *l)
{
	double kv = (double)l->kv.num_kv_heads * l->kv.head_dim;
	double q = (double)l->num_q_heads * l->kv.head_dim;

	return (double)l->hidden * (q + 2 * kv) + q * l->hidden +
	       3.0 * l->hidden * l->ffn;
}

int ac_cost_model_derive(const struct ac_cost_anchors *a,
			 const struct ac_cost_layout *l,
			 struct ac_cost_model *ret)
{
	double lin_params, all_params, pair_flops;
	int r;

	r = layout_check(l);
	if (r < 0)
		return r;
	if (!(a->gemm_flops > 0) || !(a->attn_flops > 0) ||
	    !(a->hbm_bytes_s > 0) || !(a->decode_bytes_s > 0))
		return -EINVAL;
	lin_params = ac_cost_layer_params(l) * l->kv.num_layers;
	/* Embedding plus untied LM head. */
	all_params = lin_params + 2.0 * l->vocab * l->hidden;
	/* QK^T and PV: two multiply-adds per head dim, per query head. */
	pair_flops = 4.0 * l->num_q_heads * l->kv.head_dim * l->kv.num_layers;

	memset(ret, 0, sizeof(*ret));
	snprintf(ret->gpu, sizeof(ret->gpu), "derived");
	snprintf(ret->model, sizeof(ret->model), "derived");
	ret->layout = *l;
	ret->linear_s = 2.0 * lin_params / a->gemm_flops;
	ret->attn_s = pair_flops / a->attn_flops;
	ret->segment_s = (double)a->pad_rows * a->pad_ctx * pair_flops /
			 a->attn_flops;
	ret->iteration_s = all_params * ac_dtype_size(l->kv.dtype) /
			   a->hbm_bytes_s;
	ret->decode_ctx_s = (double)ac_kv_token_bytes(&l->kv) /
			    a->decode_bytes_s;
	snprintf(ret->source, sizeof(ret->source),
		 "derived: linear_s = 2*%.0f linear params / %.3g FLOP/s; "
		 "attn_s = 4*q_heads*head_dim*layers / %.3g FLOP/s; "
		 "segment_s = %u padded rows * %u keys * attn FLOPs per pair / %.3g FLOP/s; "
		 "iteration_s = %.0f params * %u B / %.3g B/s; "
		 "decode_ctx_s = %llu KV bytes per token / %.3g B/s",
		 lin_params, a->gemm_flops, a->attn_flops, a->pad_rows,
		 a->pad_ctx, a->attn_flops, all_params,
		 ac_dtype_size(l->kv.dtype), a->hbm_bytes_s,
		 (unsigned long long)ac_kv_token_bytes(&l->kv),
		 a->decode_bytes_s);
	return 0;
}

#define DEFAULT_PREFIX \
	"NOT MEASURED: derived from H200 anchors (bf16 GEMM " \
	"760 TFLOP/s, multi-segment attention 357 TFLOP/s, HBM 4.25 TB/s, " \
	"decode KV read 4.01 TB/s) and Llama-3-8B's shape (32 layers, hidden " \
	"4096, FFN 14336, 32 q heads, 8 kv heads, head dim 128, bf16); to be " \
	"replaced by an asymcache-calibrate run on the GPU. "

void ac_cost_model_default(struct ac_cost_model *ret)
{
	struct ac_cost_anchors a;
	struct ac_cost_layout l;

	ac_cost_anchors_h200(&a);
	ac_cost_layout_llama3_8b(&l);
	/* Cannot fail: both inputs are constants checked by the tests. */
	(void)ac_cost_model_derive(&a, &l, ret);
	snprintf(ret->gpu, sizeof(ret->gpu), "NVIDIA H200");
	snprintf(ret->model, sizeof(ret->model), "llama-3-8b");
	memmove(ret->source + sizeof(DEFAULT_PREFIX) - 1, ret->source,
		sizeof(ret->source) - sizeof(DEFAULT_PREFIX));
	memcpy(ret->source, DEFAULT_PREFIX, sizeof(DEFAULT_PREFIX) - 1);
	ret->source[sizeof(ret->source) - 1] = 0;
}

static const struct {
	const char *key;
	size_t off;
} layout_keys[] = {
	{ "num_layers", offsetof(struct ac_cost_layout, kv.num_layers) },
	{ "hidden", offsetof(struct ac_cost_layout, hidden) },
	{ "ffn", offsetof(struct ac_cost_layout, ffn) },
	{ "num_q_heads", offsetof(struct ac_cost_layout, num_q_heads) },
	{ "num_kv_heads", offsetof(struct ac_cost_layout, kv.num_kv_heads) },
	{ "head_dim", offsetof(struct ac_cost_layout, kv.head_dim) },
	{ "block_tokens", offsetof(struct ac_cost_layout, kv.block_tokens) },
	{ "vocab", offsetof(struct ac_cost_layout, vocab) },
};

/* The file's "dtype_bytes": cost depends on the element size alone. */
static int dtype_from_bytes(int64_t bytes, enum ac_dtype *ret)
{
	if (bytes == 2)
		*ret = AC_DTYPE_BF16;
	else if (bytes == 4)
		*ret = AC_DTYPE_FP32;
	else
		return -EINVAL;
	return 0;
}

static const struct {
	const char *key;
	size_t off;
	bool positive;
} coef_keys[] = {
	{ "linear_s_per_token", offsetof(struct ac_cost_model, linear_s), true },
	{ "attn_s_per_pair", offsetof(struct ac_cost_model, attn_s), false },
	{ "segment_s", offsetof(struct ac_cost_model, segment_s), false },
	{ "iteration_s", offsetof(struct ac_cost_model, iteration_s), false },
	{ "decode_s_per_ctx_token", offsetof(struct ac_cost_model, decode_ctx_s), false },
};

/*
 * @key of @o into *@ret when it is there and of @type (a double may be
 * written as an integer); an absent @optional key leaves *@ret NULL.
 */
static int member(struct json_object *o, const char *key,
		  enum json_type type, bool optional, struct json_object **ret)
{
	struct json_object *v;

	*ret = NULL;
	if (!json_object_object_get_ex(o, key, &v))
		return optional ? 0 : -EINVAL;
	if (!json_object_is_type(v, type) &&
	    !(type == json_type_double && json_object_is_type(v, json_type_int)))
		return -EINVAL;
	*ret = v;
	return 0;
}

static int get_string(struct json_object *o, const char *key, char *dst,
		      size_t size, bool required)
{
	struct json_object *v;
	const char *s;
	int r;

	r = member(o, key, json_type_string, !required, &v);
	if (r < 0 || !v)
		return r;
	s = json_object_get_string(v);
	if (strlen(s) >= size)
		return -EINVAL;
	strcpy(dst, s);
	return 0;
}

static int parse_obj(struct json_object *root, struct ac_cost_model *m)
{
	struct json_object *lay, *coef, *v;
	int r;

	if (!json_object_is_type(root, json_type_object))
		return -EINVAL;
	if (member(root, "version", json_type_int, false, &v) < 0 ||
	    json_object_get_int64(v) != 1)
		return -EINVAL;
	r = get_string(root, "gpu", m->gpu, sizeof(m->gpu), true);
	if (r < 0)
		return r;
	r = get_string(root, "model", m->model, sizeof(m->model), true);
	if (r < 0)
		return r;
	r = get_string(root, "source", m->source, sizeof(m->source), false);
	if (r < 0)
		return r;

	if (member(root, "layout", json_type_object, false, &lay) < 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(layout_keys) / sizeof(*layout_keys); i++) {
		const char *key = layout_keys[i].key;
		int64_t x;

		/* vocab only matters for the derivation. */
		if (member(lay, key, json_type_int, !strcmp(key, "vocab"), &v) < 0)
			return -EINVAL;
		if (!v)
			continue;
		x = json_object_get_int64(v);
		if (x < 0 || x > UINT32_MAX)
			return -EINVAL;
		*(uint32_t *)((char *)&m->layout + layout_keys[i].off) =
			(uint32_t)x;
	}
	if (member(lay, "dtype_bytes", json_type_int, false, &v) < 0 ||
	    dtype_from_bytes(json_object_get_int64(v), &m->layout.kv.dtype) < 0)
		return -EINVAL;
	r = layout_check(&m->layout);
	if (r < 0)
		return r;

	if (member(root, "coefficients", json_type_object, false, &coef) < 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(coef_keys) / sizeof(*coef_keys); i++) {
		double x;

		if (member(coef, coef_keys[i].key, json_type_double, false,
			   &v) < 0)
			return -EINVAL;
		x = json_object_get_double(v);
		/* A second per token would be a unit error, not a GPU. */
		if (!isfinite(x) || x < 0 || x > 1.0 ||
		    (coef_keys[i].positive && x == 0))
			return -EINVAL;
		*(double *)((char *)m + coef_keys[i].off) = x;
	}
	return 0;
}

int ac_cost_model_parse(const char *json, size_t len,
			struct ac_cost_model *ret)
{
	struct json_tokener *tok;
	struct json_object *root;
	struct ac_cost_model m = { 0 };
	int r;

	if (!json || !ret)
		return -EINVAL;
	if (len > AC_COST_FILE_MAX || len > INT32_MAX)
		return -EFBIG;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, json, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) < len) {
		/* Trailing whitespace is fine; anything else is not. */
		size_t end = root ? json_tokener_get_parse_end(tok) : 0;

		r = -EINVAL;
		if (root) {
			while (end < len && strchr(" \t\r\n", json[end]) &&
			       json[end])
				end++;
			if (end == len)
				r = 0;
		}
		if (r < 0)
			goto out;
	}
	r = parse_obj(root, &m);
	if (r == 0)
		*ret = m;
out:
	json_object_put(root);
	json_tokener_free(tok);
	return r;
}

int ac_cost_model_load(const char *path, struct ac_cost_model *ret)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t got = 0;
	int fd, r;

	if (!path || !ret)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out_close;
	}
	if (st.st_size > AC_COST_FILE_MAX) {
		r = -EFBIG;
		goto out_close;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out_close;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out_free;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = 0;
	r = ac_cost_model_parse(buf, got, ret);
out_free:
	free(buf);
out_close:
	close(fd);
	return r;
}

int ac_cost_model_to_json(const struct ac_cost_model *m, char **ret_json)
{
	struct json_object *root, *lay, *coef;
	const char *s;
	int r = -ENOMEM;

	if (!m || !ret_json)
		return -EINVAL;
	root = json_object_new_object();
	lay = json_object_new_object();
	coef = json_object_new_object();
	if (!root || !lay || !coef) {
		json_object_put(lay);
		json_object_put(coef);
		goto out;
	}
	json_object_object_add(root, "version", json_object_new_int(1));
	json_object_object_add(root, "gpu", json_object_new_string(m->gpu));
	json_object_object_add(root, "model", json_object_new_string(m->model));
	for (size_t i = 0; i < sizeof(layout_keys) / sizeof(*layout_keys); i++)
		json_object_object_add(lay, layout_keys[i].key,
			json_object_new_int64(*(const uint32_t *)
				((const char *)&m->layout + layout_keys[i].off)));
	json_object_object_add(lay, "dtype_bytes",
		json_object_new_int64(ac_dtype_size(m->layout.kv.dtype)));
	json_object_object_add(root, "layout", lay);
	for (size_t i = 0; i < sizeof(coef_keys) / sizeof(*coef_keys); i++)
		json_object_object_add(coef, coef_keys[i].key,
			json_object_new_double(*(const double *)
				((const char *)m + coef_keys[i].off)));
	json_object_object_add(root, "coefficients", coef);
	json_object_object_add(root, "source",
			       json_object_new_string(m->source));
	s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
					   JSON_C_TO_STRING_NOSLASHESCAPE);
	*ret_json = s ? strdup(s) : NULL;
	r = *ret_json ? 0 : -ENOMEM;
out:
	json_object_put(root);
	return r;
}

double ac_cost_recompute_s(const struct ac_cost_model *m, uint32_t tokens,
			   uint64_t pos_tokens, uint32_t segments)
{
	double t = tokens;

	return m->linear_s * t + m->attn_s * t * ((double)pos_tokens + t / 2) +
	       m->segment_s * segments;
}

double ac_cost_iter_s(const struct ac_cost_model *m,
		      const struct ac_cost_iter *it)
{
	double lin = m->linear_s * (double)(it->prefill_tokens +
					    it->decode_tokens);

	if (!it->prefill_tokens && !it->decode_tokens)
		return 0;
	return fmax(m->iteration_s, lin) + m->attn_s * it->prefill_pairs +
	       m->segment_s * it->segments +
	       m->decode_ctx_s * (double)it->decode_ctx;
}

uint32_t ac_cost_knee_tokens(const struct ac_cost_model *m)
{
	double k = ceil(m->iteration_s / m->linear_s - 1e-9);

	if (!(k >= 1))
		return 1;
	return k > 1e6 ? 1000000 : (uint32_t)k;
}

/* Solve the k x k system a x = b in place (partial pivoting). */
static int solve(double a[3][3], double b[3], int k)
{
	for (int c = 0; c < k; c++) {
		int piv = c;

		for (int r = c + 1; r < k; r++)
			if (fabs(a[r][c]) > fabs(a[piv][c]))
				piv = r;
		if (!(fabs(a[piv][c]) > 1e-12))
			return -EINVAL;
		for (int j = 0; j < k; j++) {
			double t = a[c][j];

			a[c][j] = a[piv][j];
			a[piv][j] = t;
		}
		double t = b[c];

		b[c] = b[piv];
		b[piv] = t;
		for (int r = 0; r < k; r++) {
			double f;

			if (r == c)
				continue;
			f = a[r][c] / a[c][c];
			for (int j = c; j < k; j++)
				a[r][j] -= f * a[c][j];
			b[r] -= f * b[c];
		}
	}
	for (int c = 0; c < k; c++)
		b[c] /= a[c][c];
	return 0;
}

/* Least squares over the columns in @use, scaled to unit norm first. */
static int fit_subset(const struct ac_cost_sample *s, size_t n,
		      const bool use[3], double out[3])
{
	double a[3][3] = { { 0 } }, b[3] = { 0 }, scale[3] = { 0 };
	int idx[3], k = 0;

	for (int j = 0; j < 3; j++)
		if (use[j])
			idx[k++] = j;
	for (size_t i = 0; i < n; i++) {
		double x[3] = { s[i].tokens, s[i].pairs, s[i].segments };

		for (int j = 0; j < 3; j++)
			scale[j] += x[j] * x[j];
	}
	for (int j = 0; j < 3; j++) {
		out[j] = 0;
		scale[j] = scale[j] > 0 ? sqrt(scale[j]) : 1;
	}
	for (size_t i = 0; i < n; i++) {
		double x[3] = { s[i].tokens / scale[0], s[i].pairs / scale[1],
				s[i].segments / scale[2] };

		for (int r = 0; r < k; r++) {
			for (int c = 0; c < k; c++)
				a[r][c] += x[idx[r]] * x[idx[c]];
			b[r] += x[idx[r]] * s[i].seconds;
		}
	}
	if (solve(a, b, k) < 0)
		return -EINVAL;
	for (int r = 0; r < k; r++)
		out[idx[r]] = b[r] / scale[idx[r]];
	return 0;
}

int ac_cost_fit(const struct ac_cost_sample *s, size_t n,
		double *ret_linear_s, double *ret_attn_s,
		double *ret_segment_s)
{
	bool use[3] = { true, true, true };
	double x[3];

	if (!s || n < 3 || !ret_linear_s || !ret_attn_s || !ret_segment_s)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isfinite(s[i].seconds) || s[i].seconds < 0 ||
		    !isfinite(s[i].tokens) || !isfinite(s[i].pairs) ||
		    !isfinite(s[i].segments))
			return -EINVAL;
	/* Active set: a negative coefficient is noise, pin it to zero. */
	for (int round = 0; round < 4; round++) {
		int worst = -1;

		if (fit_subset(s, n, use, x) < 0)
			return -EINVAL;
		for (int j = 0; j < 3; j++)
			if (use[j] && x[j] < 0 && (worst < 0 || x[j] < x[worst]))
				worst = j;
		if (worst < 0)
			break;
		use[worst] = false;
		x[worst] = 0;
	}
	if (!(x[0] > 0) && !(x[1] > 0) && !(x[2] > 0))
		return -EINVAL;
	*ret_linear_s = x[0] > 0 ? x[0] : 0;
	*ret_attn_s = x[1] > 0 ? x[1] : 0;
	*ret_segment_s = x[2] > 0 ? x[2] : 0;
	return 0;
}

/* Appends "@what A, not B" to @why when @a != @b; false then. */
static bool same(const char *what, uint32_t a, uint32_t b, char *why, size_t len, size_t *at)
{
	int n;

	if (a == b)
		return true;
	if (why && *at < len) {
		n = snprintf(why + *at, len - *at, "%s%u%s%s, not %u", *at ? "; " : "", a,
			     what[0] == '-' ? "" : " ", what, b);
		*at += n > 0 ? (size_t)n : 0;
	}
	return false;
}

bool ac_cost_model_fits(const struct ac_cost_model *m, const struct ac_kv_layout *kv,
			char *why, size_t len)
{
	const struct ac_kv_layout *c = &m->layout.kv;
	size_t at = 0;
	bool fits = true;

	if (why && len)
		why[0] = '\0';
	fits &= same("layers", c->num_layers, kv->num_layers, why, len, &at);
	fits &= same("kv heads", c->num_kv_heads, kv->num_kv_heads, why, len, &at);
	fits &= same("head dim", c->head_dim, kv->head_dim, why, len, &at);
	/* bf16 and fp16 cost the same: a cost file only says dtype_bytes. */
	fits &= same("-byte elements", ac_dtype_size(c->dtype), ac_dtype_size(kv->dtype), why,
		     len, &at);
	return fits;
}
