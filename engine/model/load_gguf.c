/* SPDX-License-Identifier: MIT */
/* A llama.cpp GGUF checkpoint into struct ac_weights. */
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "model_internal.h"
#include "weights.h"

/* llama.cpp's defaults for the optional keys. */
#define DEFAULT_ROPE_THETA	10000.0
#define LLAMA3_LOW_FREQ		1.0
#define LLAMA3_HIGH_FREQ	4.0
#define LLAMA3_ORIG_CTX		8192

/*
 * What a lookup's @rc means for @key: 0 to use the value, 1 for an optional
 * key that is absent, else the error, with a message saying what @want-ed.
 */
static int meta_status(const struct ac_gguf *g, const char *key, int rc,
		       bool required, const char *want, char *err,
		       size_t errlen)
{
	if (rc == -ENOENT && !required)
		return 1;
	if (rc == -ENOENT)
		return ac_model_err(err, errlen, -ENOENT,
				    "%s: missing metadata key %s",
				    ac_gguf_path(g), key);
	if (rc)
		return ac_model_err(err, errlen, -EINVAL,
				    "%s: metadata key %s: expected %s",
				    ac_gguf_path(g), key, want);
	return 0;
}

static int get_u32(const struct ac_gguf *g, const char *key, bool required,
		   uint32_t *out, char *err, size_t errlen)
{
	uint64_t v;
	int rc = ac_gguf_get_uint(g, key, &v);

	if (rc == 0 && v > UINT32_MAX)
		rc = -ERANGE;
	rc = meta_status(g, key, rc, required,
			 "an unsigned integer below 2^32", err, errlen);
	if (rc == 0)
		*out = (uint32_t)v;
	return rc < 0 ? rc : 0;
}

static int get_f32(const struct ac_gguf *g, const char *key, bool required,
		   float *out, char *err, size_t errlen)
{
	double v;
	int rc = meta_status(g, key, ac_gguf_get_float(g, key, &v), required,
			     "a number", err, errlen);

	if (rc == 0)
		*out = (float)v;
	return rc < 0 ? rc : 0;
}

/* The name for logs: general.name, else the file's base name. */
static void set_name(const struct ac_gguf *g, struct ac_model_config *c)
{
	const char *s;
	uint64_t len;
	char *tmp;

	if (ac_gguf_get_str(g, "general.name", &s, &len) == 0) {
		snprintf(c->name, sizeof(c->name), "%.*s",
			 (int)(len < sizeof(c->name) ? len : sizeof(c->name) - 1), s);
		return;
	}
	tmp = strdup(ac_gguf_path(g));
	snprintf(c->name, sizeof(c->name), "%s", tmp ? basename(tmp) : "gguf");
	free(tmp);
}

static int read_vocab(const struct ac_gguf *g, struct ac_model_config *c,
		      char *err, size_t errlen)
{
	enum ac_gguf_type elem;
	int64_t idx;
	uint64_t n;

	if (ac_gguf_find(g, "llama.vocab_size") >= 0)
		return get_u32(g, "llama.vocab_size", true, &c->vocab, err,
			       errlen);
	if (ac_gguf_get_arr(g, "tokenizer.ggml.tokens", &idx, &elem, &n) == 0 &&
	    n <= UINT32_MAX) {
		c->vocab = (uint32_t)n;
		return 0;
	}
	return ac_model_err(err, errlen, -ENOENT,
			    "%s: missing metadata key llama.vocab_size (and no tokenizer.ggml.tokens array)",
			    ac_gguf_path(g));
}

static int read_head_dim(const struct ac_gguf *g, struct ac_model_config *c,
			 char *err, size_t errlen)
{
	uint32_t vlen = 0;
	int rc;

	if (ac_gguf_find(g, "llama.attention.key_length") >= 0) {
		if ((rc = get_u32(g, "llama.attention.key_length", true,
				  &c->head_dim, err, errlen)) ||
		    (rc = get_u32(g, "llama.attention.value_length", false,
				  &vlen, err, errlen)))
			return rc;
		if (vlen && vlen != c->head_dim)
			return ac_model_err(err, errlen, -EINVAL,
					    "%s: llama.attention.value_length %u differs from key_length %u",
					    ac_gguf_path(g), vlen, c->head_dim);
		return 0;
	}
	if (c->n_heads == 0 || c->hidden % c->n_heads)
		return ac_model_err(err, errlen, -EINVAL,
				    "%s: llama.embedding_length %u is not a multiple of llama.attention.head_count %u",
				    ac_gguf_path(g), c->hidden, c->n_heads);
	c->head_dim = c->hidden / c->n_heads;
	return 0;
}

/*
 * llama.cpp's converter folds Llama-3 rope scaling into a rope_freqs.weight
 * tensor of per-frequency divisors instead of metadata. Recognise it by
 * recomputing the divisors from the Llama-3 parameters and comparing.
 */
static int read_rope_freqs(const struct ac_gguf *g, struct ac_model_config *c,
			   char *err, size_t errlen)
{
	const struct ac_gguf_tensor *t = ac_gguf_find_tensor(g, "rope_freqs.weight");
	struct ac_rope_scaling *s = &c->rope_scaling;
	uint32_t half = c->head_dim / 2, orig = LLAMA3_ORIG_CTX;
	double factor = 0;
	float f;
	int rc;

	if (!t)
		return 0;
	if (t->type != AC_GGML_F32 || t->ne[0] != half || t->n_dims != 1 ||
	    !t->data)
		return ac_model_err(err, errlen, -EINVAL,
				    "%s: tensor rope_freqs.weight: expected F32 [%u]",
				    ac_gguf_path(g), half);
	if ((rc = get_u32(g, "llama.rope.scaling.original_context_length",
			  false, &orig, err, errlen)))
		return rc;
	for (uint32_t i = 0; i < half; i++) {
		memcpy(&f, (const float *)t->data + i, sizeof(f));
		factor = fmax(factor, f);
	}
	for (uint32_t i = 0; i < half; i++) {
		double freq = pow(c->rope_theta, -2.0 * i / c->head_dim);
		double wavelen = 2 * M_PI / freq, want, smooth;

		if (wavelen < orig / LLAMA3_HIGH_FREQ) {
			want = 1.0;
		} else if (wavelen > orig / LLAMA3_LOW_FREQ) {
			want = factor;
		} else {
			smooth = (orig / wavelen - LLAMA3_LOW_FREQ) /
				 (LLAMA3_HIGH_FREQ - LLAMA3_LOW_FREQ);
			want = 1.0 / ((1 - smooth) / factor + smooth);
		}
		memcpy(&f, (const float *)t->data + i, sizeof(f));
		if (!(fabs(f - want) <= 1e-4 * want))
			return ac_model_err(err, errlen, -EOPNOTSUPP,
					    "%s: tensor rope_freqs.weight[%u] = %g, Llama-3 scaling (factor %g, low %g, high %g, original %u) gives %g",
					    ac_gguf_path(g), i, f, factor,
					    LLAMA3_LOW_FREQ, LLAMA3_HIGH_FREQ,
					    orig, want);
	}
	s->type = AC_ROPE_SCALING_LLAMA3;
	s->factor = (float)factor;
	s->low_freq_factor = LLAMA3_LOW_FREQ;
	s->high_freq_factor = LLAMA3_HIGH_FREQ;
	s->original_max_position_embeddings = orig;
	return 0;
}

static int read_rope(const struct ac_gguf *g, struct ac_model_config *c,
		     char *err, size_t errlen)
{
	const char *type;
	uint64_t len;
	int rc;

	c->rope_theta = DEFAULT_ROPE_THETA;
	if ((rc = get_f32(g, "llama.rope.freq_base", false, &c->rope_theta,
			  err, errlen)))
		return rc;
	rc = ac_gguf_get_str(g, "llama.rope.scaling.type", &type, &len);
	if (rc == -EINVAL)
		return ac_model_err(err, errlen, -EINVAL,
				    "%s: metadata key llama.rope.scaling.type: expected a string",
				    ac_gguf_path(g));
	if (rc == 0 && !(len == 4 && memcmp(type, "none", 4) == 0))
		return ac_model_err(err, errlen, -EOPNOTSUPP,
				    "%s: llama.rope.scaling.type \"%.*s\" is not supported (none, or Llama-3 via rope_freqs.weight)",
				    ac_gguf_path(g), (int)(len > 32 ? 32 : len),
				    type);
	return read_rope_freqs(g, c, err, errlen);
}

static int read_config(const struct ac_gguf *g, struct ac_model_config *c,
		       char *err, size_t errlen)
{
	const char *arch;
	uint64_t len;
	int rc;

	memset(c, 0, sizeof(*c));
	rc = ac_gguf_get_str(g, "general.architecture", &arch, &len);
	if (rc)
		return ac_model_err(err, errlen, rc == -ENOENT ? -ENOENT : -EINVAL,
				    "%s: metadata key general.architecture %s",
				    ac_gguf_path(g),
				    rc == -ENOENT ? "is missing" : "is not a string");
	if (len != 5 || memcmp(arch, "llama", 5))
		return ac_model_err(err, errlen, -EOPNOTSUPP,
				    "%s: general.architecture \"%.*s\", expected \"llama\"",
				    ac_gguf_path(g), (int)(len > 32 ? 32 : len),
				    arch);
	strcpy(c->arch, "llama");
	set_name(g, c);
	if ((rc = get_u32(g, "llama.block_count", true, &c->n_layers, err, errlen)) ||
	    (rc = get_u32(g, "llama.embedding_length", true, &c->hidden, err, errlen)) ||
	    (rc = get_u32(g, "llama.feed_forward_length", true, &c->ffn, err, errlen)) ||
	    (rc = get_u32(g, "llama.attention.head_count", true, &c->n_heads, err, errlen)) ||
	    (rc = get_u32(g, "llama.context_length", true, &c->max_ctx, err, errlen)) ||
	    (rc = get_f32(g, "llama.attention.layer_norm_rms_epsilon", true, &c->rms_eps, err, errlen)))
		return rc;
	c->n_kv_heads = c->n_heads;
	if ((rc = get_u32(g, "llama.attention.head_count_kv", false,
			  &c->n_kv_heads, err, errlen)) ||
	    (rc = read_vocab(g, c, err, errlen)) ||
	    (rc = read_head_dim(g, c, err, errlen)) ||
	    (rc = read_rope(g, c, err, errlen)))
		return rc;
	c->tie_embeddings = !ac_gguf_find_tensor(g, "output.weight");
	return ac_model_config_check_file(ac_gguf_path(g), c, err, errlen);
}

static int load_tensor(const struct ac_gguf *g, struct ac_weights *w,
		       enum ac_wkind k, uint32_t layer, float *row,
		       char *err, size_t errlen)
{
	const struct ac_gguf_tensor *t;
	uint64_t rows, cols, row_bytes;
	bool permute = k == AC_WK_Q || k == AC_WK_K;
	void *dst = ac_weights_tensor(w, k, layer);
	char name[96];

	ac_weights_gguf_name(k, layer, name, sizeof(name));
	ac_weights_shape(&w->cfg, k, &rows, &cols);
	t = ac_gguf_find_tensor(g, name);
	if (!t)
		return ac_model_err(err, errlen, -ENOENT,
				    "%s: tensor %s is missing (expected [%llu, %llu])",
				    ac_gguf_path(g), name,
				    (unsigned long long)cols,
				    (unsigned long long)rows);
	if (t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != 1 ||
	    t->ne[3] != 1)
		return ac_model_err(err, errlen, -EINVAL,
				    "%s: tensor %s: shape [%llu, %llu, %llu, %llu], expected [%llu, %llu] (ggml order, row length first)",
				    ac_gguf_path(g), name,
				    (unsigned long long)t->ne[0],
				    (unsigned long long)t->ne[1],
				    (unsigned long long)t->ne[2],
				    (unsigned long long)t->ne[3],
				    (unsigned long long)cols,
				    (unsigned long long)rows);
	if (!ac_ggml_can_decode(t->type) || !t->data)
		return ac_model_err(err, errlen, -EOPNOTSUPP,
				    "%s: tensor %s: type %s (%u) is not decoded here (F32, F16, BF16, Q8_0, Q4_0, Q4_1)",
				    ac_gguf_path(g), name,
				    ac_ggml_type_name(t->type) ? ac_ggml_type_name(t->type) : "unknown",
				    t->type);
	row_bytes = cols / ac_ggml_block_elems(t->type) *
		    ac_ggml_block_bytes(t->type);
	for (uint64_t r = 0; r < rows; r++) {
		uint64_t to = permute ? ac_unpermute_row(r, w->cfg.head_dim) : r;

		ac_ggml_dequantize(t->type, (const uint8_t *)t->data + r * row_bytes,
				   row, cols);
		ac_weights_store(w, dst, to * cols, row, cols);
	}
	return 0;
}

int ac_weights_load_gguf(const char *path, enum ac_dtype dtype,
			 struct ac_weights **out, char *err, size_t errlen)
{
	struct ac_model_config cfg;
	struct ac_weights *w = NULL;
	struct ac_gguf *g;
	float *row = NULL;
	enum ac_wkind k;
	uint32_t l;
	int rc;

	*out = NULL;
	if ((rc = ac_gguf_open(path, &g, err, errlen)))
		return rc;
	if ((rc = read_config(g, &cfg, err, errlen)) ||
	    (rc = ac_weights_create(&cfg, dtype, &w, err, errlen)))
		goto out;
	row = malloc(sizeof(float) * ac_weights_max_cols(&cfg));
	if (!row) {
		rc = ac_model_err(err, errlen, -ENOMEM, "%s: out of memory", path);
		goto out;
	}
	for (uint64_t i = 0; !rc && ac_weights_nth(&cfg, i, &k, &l); i++)
		rc = load_tensor(g, w, k, l, row, err, errlen);
out:
	free(row);
	ac_gguf_close(g);
	if (rc) {
		ac_weights_free(w);
		return rc;
	}
	*out = w;
	return 0;
}
