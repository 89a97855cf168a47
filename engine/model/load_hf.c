/* SPDX-License-Identifier: MIT */
/*
 * A Hugging Face LlamaForCausalLM directory into struct ac_weights:
 * config.json, then model.safetensors or the shards that
 * model.safetensors.index.json maps each tensor to.
 *
 * safetensors: u64 header length N, N bytes of JSON
 * {"name": {"dtype": "BF16", "shape": [r, c], "data_offsets": [b, e]}, ...},
 * then the data; offsets are relative to the byte after the header.
 */
#include <errno.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gguf.h"		/* the element decoders */
#include "model_internal.h"
#include "weights.h"

#define ST_MAX_HEADER	(100u << 20)	/* the format's own limit */

struct st_file {
	char *name;		/* as the index names it */
	char *path;
	struct ac_map map;
	json_object *hdr;
	uint64_t data_off;	/* 8 + N */
};

struct hf {
	const char *dir;
	struct st_file *files;
	size_t n_files;
	json_object *index;	/* weight_map, or NULL for one file */
	float *row;
	char *err;
	size_t errlen;
};

static char *join(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

/* Parses JSON text of @len bytes; the message names @path. */
static int parse_json(const char *path, const char *text, size_t len,
		      json_object **out, char *err, size_t errlen)
{
	json_tokener *tok = json_tokener_new();
	enum json_tokener_error e;
	json_object *o;

	*out = NULL;
	if (!tok)
		return ac_model_err(err, errlen, -ENOMEM, "%s: out of memory", path);
	o = json_tokener_parse_ex(tok, text, (int)len);
	e = json_tokener_get_error(tok);
	if (e == json_tokener_continue)
		e = json_tokener_error_parse_eof;
	else if (e == json_tokener_success && tok->char_offset < (int)len)
		e = json_tokener_error_parse_unexpected;
	json_tokener_free(tok);
	if (e != json_tokener_success || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return ac_model_err(err, errlen, -EBADMSG,
				    "%s: not a JSON object: %s", path,
				    e != json_tokener_success ?
				    json_tokener_error_desc(e) : "wrong type");
	}
	*out = o;
	return 0;
}

static int read_json(const char *path, json_object **out, char *err,
		     size_t errlen)
{
	struct ac_map m;
	int rc = ac_map_file(path, &m, err, errlen);

	if (rc)
		return rc;
	if (m.size > INT32_MAX)
		rc = ac_model_err(err, errlen, -EBADMSG, "%s: too large", path);
	else
		rc = parse_json(path, (const char *)m.data, m.size, out, err,
				errlen);
	ac_map_release(&m);
	return rc;
}

/* ---- config.json ---- */

/*
 * @key's value into @v: 0, or 1 when an optional key is absent or null,
 * or -ENOENT with a message when a required one is.
 */
static int cfg_get(const char *path, json_object *cfg, const char *key,
		   bool required, json_object **v, char *err, size_t errlen)
{
	if (json_object_object_get_ex(cfg, key, v) &&
	    !json_object_is_type(*v, json_type_null))
		return 0;
	if (!required)
		return 1;
	return ac_model_err(err, errlen, -ENOENT, "%s: missing key %s", path,
			    key);
}

static int cfg_u32(const char *path, json_object *cfg, const char *key,
		   bool required, uint32_t *out, char *err, size_t errlen)
{
	json_object *v;
	int64_t x;
	int rc = cfg_get(path, cfg, key, required, &v, err, errlen);

	if (rc)
		return rc < 0 ? rc : 0;
	x = json_object_get_int64(v);
	if (!json_object_is_type(v, json_type_int) || x < 0 || x > UINT32_MAX)
		return ac_model_err(err, errlen, -EINVAL,
				    "%s: key %s = %s, expected an integer in 0..2^32-1",
				    path, key, json_object_to_json_string(v));
	*out = (uint32_t)x;
	return 0;
}

static int cfg_f32(const char *path, json_object *cfg, const char *key,
		   bool required, float *out, char *err, size_t errlen)
{
	json_object *v;
	int rc = cfg_get(path, cfg, key, required, &v, err, errlen);

	if (rc)
		return rc < 0 ? rc : 0;
	if (!json_object_is_type(v, json_type_int) &&
	    !json_object_is_type(v, json_type_double))
		return ac_model_err(err, errlen, -EINVAL,
				    "%s: key %s = %s, expected a number",
				    path, key, json_object_to_json_string(v));
	*out = (float)json_object_get_double(v);
	return 0;
}

static const char *cfg_str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int cfg_scaling(const char *path, json_object *cfg,
		       struct ac_rope_scaling *s, char *err, size_t errlen)
{
	json_object *rs;
	const char *type;
	int rc;

	if (!json_object_object_get_ex(cfg, "rope_scaling", &rs) ||
	    json_object_is_type(rs, json_type_null))
		return 0;
	if (!json_object_is_type(rs, json_type_object))
		return ac_model_err(err, errlen, -EINVAL,
				    "%s: rope_scaling is not an object", path);
	/* transformers renamed "type" to "rope_type"; both occur. */
	type = cfg_str(rs, "rope_type");
	if (!type)
		type = cfg_str(rs, "type");
	if (!type)
		return ac_model_err(err, errlen, -ENOENT,
				    "%s: missing key rope_scaling.rope_type", path);
	if (strcmp(type, "default") == 0)
		return 0;
	if (strcmp(type, "llama3") != 0)
		return ac_model_err(err, errlen, -EOPNOTSUPP,
				    "%s: rope_scaling.rope_type \"%s\" is not supported (default, llama3)",
				    path, type);
	s->type = AC_ROPE_SCALING_LLAMA3;
	if ((rc = cfg_f32(path, rs, "factor", true, &s->factor, err, errlen)) ||
	    (rc = cfg_f32(path, rs, "low_freq_factor", true, &s->low_freq_factor, err, errlen)) ||
	    (rc = cfg_f32(path, rs, "high_freq_factor", true, &s->high_freq_factor, err, errlen)) ||
	    (rc = cfg_u32(path, rs, "original_max_position_embeddings", true,
			  &s->original_max_position_embeddings, err, errlen)))
		return rc;
	return 0;
}

static int read_config(const char *dir, struct ac_model_config *c, char *err,
		       size_t errlen)
{
	char *path = join(dir, "config.json"), *tmp;
	json_object *cfg = NULL, *tie;
	const char *type, *name;
	int rc;

	memset(c, 0, sizeof(*c));
	if (!path)
		return ac_model_err(err, errlen, -ENOMEM, "%s: out of memory", dir);
	if ((rc = read_json(path, &cfg, err, errlen)))
		goto out;
	type = cfg_str(cfg, "model_type");
	if (!type) {
		rc = ac_model_err(err, errlen, -ENOENT,
				  "%s: missing key model_type", path);
		goto out;
	}
	if (strcmp(type, "llama") != 0) {
		rc = ac_model_err(err, errlen, -EOPNOTSUPP,
				  "%s: model_type \"%s\", expected \"llama\"",
				  path, type);
		goto out;
	}
	strcpy(c->arch, "llama");
	name = cfg_str(cfg, "_name_or_path");
	if (name && *name) {
		snprintf(c->name, sizeof(c->name), "%s", name);
	} else if ((tmp = strdup(dir))) {
		snprintf(c->name, sizeof(c->name), "%s", basename(tmp));
		free(tmp);
	}
	c->rope_theta = 10000.0f;	/* transformers' LlamaConfig default */
	if ((rc = cfg_u32(path, cfg, "num_hidden_layers", true, &c->n_layers, err, errlen)) ||
	    (rc = cfg_u32(path, cfg, "hidden_size", true, &c->hidden, err, errlen)) ||
	    (rc = cfg_u32(path, cfg, "intermediate_size", true, &c->ffn, err, errlen)) ||
	    (rc = cfg_u32(path, cfg, "num_attention_heads", true, &c->n_heads, err, errlen)) ||
	    (rc = cfg_u32(path, cfg, "vocab_size", true, &c->vocab, err, errlen)) ||
	    (rc = cfg_u32(path, cfg, "max_position_embeddings", true, &c->max_ctx, err, errlen)) ||
	    (rc = cfg_f32(path, cfg, "rms_norm_eps", true, &c->rms_eps, err, errlen)) ||
	    (rc = cfg_f32(path, cfg, "rope_theta", false, &c->rope_theta, err, errlen)))
		goto out;
	c->n_kv_heads = c->n_heads;
	if (c->n_heads && c->hidden % c->n_heads == 0)
		c->head_dim = c->hidden / c->n_heads;
	if ((rc = cfg_u32(path, cfg, "num_key_value_heads", false, &c->n_kv_heads, err, errlen)) ||
	    (rc = cfg_u32(path, cfg, "head_dim", false, &c->head_dim, err, errlen)) ||
	    (rc = cfg_scaling(path, cfg, &c->rope_scaling, err, errlen)))
		goto out;
	if (json_object_object_get_ex(cfg, "tie_word_embeddings", &tie)) {
		if (!json_object_is_type(tie, json_type_boolean)) {
			rc = ac_model_err(err, errlen, -EINVAL,
					  "%s: key tie_word_embeddings is not a boolean",
					  path);
			goto out;
		}
		c->tie_embeddings = json_object_get_boolean(tie);
	}
	if (!c->head_dim) {
		rc = ac_model_err(err, errlen, -EINVAL,
				  "%s: hidden_size %u is not a multiple of num_attention_heads %u and head_dim is absent",
				  path, c->hidden, c->n_heads);
		goto out;
	}
	rc = ac_model_config_check_file(path, c, err, errlen);
out:
	json_object_put(cfg);
	free(path);
	return rc;
}

/* ---- safetensors files ---- */

static int st_open(struct st_file *f, char *err, size_t errlen)
{
	uint64_t n;
	int rc = ac_map_file(f->path, &f->map, err, errlen);

	if (rc)
		return rc;
	if (f->map.size < 8)
		return ac_model_err(err, errlen, -EBADMSG,
				    "%s: truncated header: %zu bytes, the length field alone needs 8",
				    f->path, f->map.size);
	memcpy(&n, f->map.data, 8);
	if (n > ST_MAX_HEADER || n > f->map.size - 8)
		return ac_model_err(err, errlen, -EBADMSG,
				    "%s: truncated header: length field says %llu bytes, file has %zu after it",
				    f->path, (unsigned long long)n,
				    f->map.size - 8);
	f->data_off = 8 + n;
	return parse_json(f->path, (const char *)f->map.data + 8, n, &f->hdr,
			  err, errlen);
}

static void st_close(struct st_file *f)
{
	json_object_put(f->hdr);
	ac_map_release(&f->map);
	free(f->path);
	free(f->name);
}

/* The shard @name, opened on first use. */
static int hf_file(struct hf *h, const char *name, struct st_file **out)
{
	struct st_file *f, *grown;
	int rc;

	for (size_t i = 0; i < h->n_files; i++) {
		if (strcmp(h->files[i].name, name) == 0) {
			*out = &h->files[i];
			return 0;
		}
	}
	/* The index must not send us outside the directory. */
	if (!*name || strchr(name, '/') || strcmp(name, "..") == 0)
		return ac_model_err(h->err, h->errlen, -EINVAL,
				    "%s/model.safetensors.index.json: shard name \"%s\" is not a file in the directory",
				    h->dir, name);
	grown = realloc(h->files, (h->n_files + 1) * sizeof(*grown));
	if (!grown)
		return ac_model_err(h->err, h->errlen, -ENOMEM, "out of memory");
	h->files = grown;
	f = &h->files[h->n_files];
	memset(f, 0, sizeof(*f));
	f->name = strdup(name);
	f->path = join(h->dir, name);
	h->n_files++;
	if (!f->name || !f->path)
		return ac_model_err(h->err, h->errlen, -ENOMEM, "out of memory");
	if ((rc = st_open(f, h->err, h->errlen)))
		return rc;
	*out = f;
	return 0;
}

static int hf_open_index(struct hf *h)
{
	char *path = join(h->dir, "model.safetensors.index.json");
	json_object *idx = NULL, *map;
	struct stat st;
	int rc = 0;

	if (!path)
		return ac_model_err(h->err, h->errlen, -ENOMEM, "out of memory");
	if (stat(path, &st) != 0)
		goto out;	/* no index: one model.safetensors */
	if ((rc = read_json(path, &idx, h->err, h->errlen)))
		goto out;
	if (!json_object_object_get_ex(idx, "weight_map", &map) ||
	    !json_object_is_type(map, json_type_object)) {
		rc = ac_model_err(h->err, h->errlen, -ENOENT,
				  "%s: missing object weight_map", path);
		goto out;
	}
	h->index = json_object_get(map);
out:
	json_object_put(idx);
	free(path);
	return rc;
}

/* safetensors spells these dtypes as ggml names its types. */
static const uint32_t st_types[] = { AC_GGML_F32, AC_GGML_F16, AC_GGML_BF16 };

static int st_tensor_json(struct hf *h, const char *name, struct st_file **f,
			  json_object **t)
{
	const char *shard = "model.safetensors";
	json_object *v;
	int rc;

	if (h->index) {
		if (!json_object_object_get_ex(h->index, name, &v))
			return ac_model_err(h->err, h->errlen, -ENOENT,
					    "%s/model.safetensors.index.json: tensor %s is missing from weight_map",
					    h->dir, name);
		if (!json_object_is_type(v, json_type_string))
			return ac_model_err(h->err, h->errlen, -EINVAL,
					    "%s/model.safetensors.index.json: weight_map[%s] is not a file name",
					    h->dir, name);
		shard = json_object_get_string(v);
	}
	if ((rc = hf_file(h, shard, f)))
		return rc;
	if (!json_object_object_get_ex((*f)->hdr, name, t))
		return ac_model_err(h->err, h->errlen, -ENOENT,
				    "%s: tensor %s is missing", (*f)->path, name);
	if (!json_object_is_type(*t, json_type_object))
		return ac_model_err(h->err, h->errlen, -EBADMSG,
				    "%s: tensor %s: header entry is not an object",
				    (*f)->path, name);
	return 0;
}

static int st_u64_pair(json_object *a, size_t n, uint64_t *out)
{
	if (!json_object_is_type(a, json_type_array) ||
	    json_object_array_length(a) != n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);

		if (!json_object_is_type(e, json_type_int) ||
		    json_object_get_int64(e) < 0)
			return -1;
		out[i] = (uint64_t)json_object_get_int64(e);
	}
	return 0;
}

static int load_tensor(struct hf *h, struct ac_weights *w, enum ac_wkind k,
		       uint32_t layer)
{
	json_object *t, *v = NULL;
	struct st_file *f = NULL;
	const char *dtype = "?";
	uint64_t rows, cols, shape[2], got[2], off[2], esize = 0, avail;
	uint32_t type = 0;
	bool vec = k == AC_WK_ATTN_NORM || k == AC_WK_FFN_NORM ||
		   k == AC_WK_OUTPUT_NORM;
	void *dst = ac_weights_tensor(w, k, layer);
	const uint8_t *src;
	char name[96];
	int rc;

	ac_weights_hf_name(k, layer, name, sizeof(name));
	ac_weights_shape(&w->cfg, k, &rows, &cols);
	if ((rc = st_tensor_json(h, name, &f, &t)))
		return rc;

	if (json_object_object_get_ex(t, "dtype", &v) &&
	    json_object_is_type(v, json_type_string))
		dtype = json_object_get_string(v);
	for (int i = 0; i < 3; i++) {
		if (strcmp(dtype, ac_ggml_type_name(st_types[i])) == 0) {
			type = st_types[i];
			esize = ac_ggml_block_bytes(type);
		}
	}
	if (!esize)
		return ac_model_err(h->err, h->errlen, -EOPNOTSUPP,
				    "%s: tensor %s: dtype %s, expected BF16, F16 or F32",
				    f->path, name, dtype);

	shape[0] = vec ? cols : rows;
	shape[1] = cols;
	if (!json_object_object_get_ex(t, "shape", &v) ||
	    st_u64_pair(v, vec ? 1 : 2, got) ||
	    got[0] != shape[0] || (!vec && got[1] != shape[1])) {
		if (vec)
			return ac_model_err(h->err, h->errlen, -EINVAL,
					    "%s: tensor %s: shape %s, expected [%llu]",
					    f->path, name,
					    v ? json_object_to_json_string(v) : "missing",
					    (unsigned long long)cols);
		return ac_model_err(h->err, h->errlen, -EINVAL,
				    "%s: tensor %s: shape %s, expected [%llu, %llu]",
				    f->path, name,
				    v ? json_object_to_json_string(v) : "missing",
				    (unsigned long long)rows,
				    (unsigned long long)cols);
	}

	avail = f->map.size - f->data_off;
	if (!json_object_object_get_ex(t, "data_offsets", &v) ||
	    st_u64_pair(v, 2, off) || off[1] < off[0])
		return ac_model_err(h->err, h->errlen, -EBADMSG,
				    "%s: tensor %s: data_offsets missing or not [begin, end]",
				    f->path, name);
	if (off[1] - off[0] != rows * cols * esize)
		return ac_model_err(h->err, h->errlen, -EINVAL,
				    "%s: tensor %s: %llu data bytes, %s [%llu, %llu] needs %llu",
				    f->path, name,
				    (unsigned long long)(off[1] - off[0]), dtype,
				    (unsigned long long)rows,
				    (unsigned long long)cols,
				    (unsigned long long)(rows * cols * esize));
	if (off[1] > avail)
		return ac_model_err(h->err, h->errlen, -EBADMSG,
				    "%s: tensor %s: truncated data: needs bytes %llu..%llu after the header, file holds %llu",
				    f->path, name, (unsigned long long)off[0],
				    (unsigned long long)off[1],
				    (unsigned long long)avail);

	src = f->map.data + f->data_off + off[0];
	for (uint64_t r = 0; r < rows; r++) {
		ac_ggml_dequantize(type, src + r * cols * esize, h->row, cols);
		ac_weights_store(w, dst, r * cols, h->row, cols);
	}
	return 0;
}

int ac_weights_load_safetensors(const char *dir, enum ac_dtype dtype,
				struct ac_weights **out, char *err,
				size_t errlen)
{
	struct hf h = { .dir = dir, .err = err, .errlen = errlen };
	struct ac_model_config cfg;
	struct ac_weights *w = NULL;
	enum ac_wkind k;
	uint32_t l;
	int rc;

	*out = NULL;
	if ((rc = read_config(dir, &cfg, err, errlen)) ||
	    (rc = ac_weights_create(&cfg, dtype, &w, err, errlen)) ||
	    (rc = hf_open_index(&h)))
		goto out;
	h.row = malloc(sizeof(float) * ac_weights_max_cols(&cfg));
	if (!h.row) {
		rc = ac_model_err(err, errlen, -ENOMEM, "%s: out of memory", dir);
		goto out;
	}
	/* A tied checkpoint's lm_head, if present at all, is ignored like
	 * transformers ignores it: it is not among the tensors visited. */
	for (uint64_t i = 0; !rc && ac_weights_nth(&cfg, i, &k, &l); i++)
		rc = load_tensor(&h, w, k, l);
out:
	for (size_t i = 0; i < h.n_files; i++)
		st_close(&h.files[i]);
	free(h.files);
	free(h.row);
	json_object_put(h.index);
	if (rc) {
		ac_weights_free(w);
		return rc;
	}
	*out = w;
	return 0;
}
