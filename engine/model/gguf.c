/* SPDX-License-Identifier: MIT */
/*
 * GGUF layout: "GGUF", u32 version, u64 tensor count, u64 kv count; the
 * key/values (string key, u32 type, value); the tensor infos (string name,
 * u32 n_dims, u64 ne[n_dims], u32 type, u64 offset); padding to the
 * alignment; the tensor data, each offset relative to its start. Strings are
 * u64 length + bytes; arrays are u32 element type + u64 count + elements.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "model_internal.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "GGUF and safetensors are read in place as little-endian");

#define GGUF_MAGIC		"GGUF"
#define GGUF_DEFAULT_ALIGN	32u
#define GGUF_MAX_DEPTH		4	/* arrays of arrays of ... */
#define GGUF_MAX_KEY		65535u	/* the specification's limit */

struct kv {
	char *key;
	enum ac_gguf_type type;
	const uint8_t *val;		/* the value's bytes in the mapping */
	enum ac_gguf_type elem;		/* arrays: element type */
	uint64_t n;			/* arrays: element count */
	const uint8_t **elems;		/* arrays of strings/arrays: each start */
};

struct ac_gguf {
	char *path;
	struct ac_map map;
	uint32_t version;
	uint64_t alignment;
	uint64_t n_kv;
	struct kv *kv;
	uint64_t n_tensors;
	struct ac_gguf_tensor *tensors;
};

/* A bounds-checked cursor over the header. */
struct cur {
	const struct ac_gguf *g;
	const uint8_t *p, *end;
	char *err;
	size_t errlen;
	char what[160];			/* what is being read, for messages */
};

static int truncated(struct cur *c, uint64_t need)
{
	return ac_model_err(c->err, c->errlen, -EBADMSG,
			    "%s: truncated header: %s needs %llu bytes at offset %llu, file has %llu",
			    c->g->path, c->what, (unsigned long long)need,
			    (unsigned long long)(c->p - c->g->map.data),
			    (unsigned long long)c->g->map.size);
}

static int take(struct cur *c, uint64_t n, const uint8_t **at)
{
	if (n > (uint64_t)(c->end - c->p))
		return truncated(c, n);
	*at = c->p;
	c->p += n;
	return 0;
}

/* A fixed-size field into @v: the mapping promises no alignment. */
static int rd(struct cur *c, void *v, uint64_t n)
{
	const uint8_t *at = NULL;
	int rc = take(c, n, &at);

	if (!rc)
		memcpy(v, at, n);
	return rc;
}

static int rd_u32(struct cur *c, uint32_t *v)
{
	return rd(c, v, sizeof(*v));
}

static int rd_u64(struct cur *c, uint64_t *v)
{
	return rd(c, v, sizeof(*v));
}

static int rd_str(struct cur *c, const uint8_t **s, uint64_t *len)
{
	int rc = rd_u64(c, len);

	return rc ? rc : take(c, *len, s);
}

static int dup_str(struct cur *c, char **out)
{
	const uint8_t *s;
	uint64_t len;
	int rc = rd_str(c, &s, &len);

	if (rc)
		return rc;
	if (len > GGUF_MAX_KEY || memchr(s, 0, len))
		return ac_model_err(c->err, c->errlen, -EBADMSG,
				    "%s: %s: name of %llu bytes holds NUL or exceeds %u",
				    c->g->path, c->what,
				    (unsigned long long)len, GGUF_MAX_KEY);
	*out = strndup((const char *)s, len);
	return *out ? 0 : -ENOMEM;
}

static uint32_t scalar_size(enum ac_gguf_type t)
{
	switch (t) {
	case AC_GGUF_UINT8:
	case AC_GGUF_INT8:
	case AC_GGUF_BOOL:
		return 1;
	case AC_GGUF_UINT16:
	case AC_GGUF_INT16:
		return 2;
	case AC_GGUF_UINT32:
	case AC_GGUF_INT32:
	case AC_GGUF_FLOAT32:
		return 4;
	case AC_GGUF_UINT64:
	case AC_GGUF_INT64:
	case AC_GGUF_FLOAT64:
		return 8;
	default:
		return 0;
	}
}

static int bad_type(struct cur *c, uint32_t t)
{
	return ac_model_err(c->err, c->errlen, -EBADMSG,
			    "%s: %s: unknown value type %u", c->g->path,
			    c->what, t);
}

static int skip_value(struct cur *c, uint32_t t, int depth);

static int skip_array(struct cur *c, int depth, uint32_t *elem, uint64_t *n)
{
	const uint8_t *at = NULL;
	uint32_t sz;
	int rc;

	if (depth > GGUF_MAX_DEPTH)
		return ac_model_err(c->err, c->errlen, -EBADMSG,
				    "%s: %s: arrays nested deeper than %d",
				    c->g->path, c->what, GGUF_MAX_DEPTH);
	if ((rc = rd_u32(c, elem)) || (rc = rd_u64(c, n)))
		return rc;
	sz = scalar_size(*elem);
	if (sz) {
		if (*n > (uint64_t)(c->end - c->p) / sz)
			return truncated(c, *n * (uint64_t)sz);
		return take(c, *n * sz, &at);
	}
	if (*elem != AC_GGUF_STRING && *elem != AC_GGUF_ARRAY)
		return bad_type(c, *elem);
	for (uint64_t i = 0; i < *n; i++)
		if ((rc = skip_value(c, *elem, depth + 1)))
			return rc;
	return 0;
}

static int skip_value(struct cur *c, uint32_t t, int depth)
{
	const uint8_t *s;
	uint64_t len, n;
	uint32_t elem;

	if (t == AC_GGUF_STRING)
		return rd_str(c, &s, &len);
	if (t == AC_GGUF_ARRAY)
		return skip_array(c, depth, &elem, &n);
	if (!scalar_size(t))
		return bad_type(c, t);
	return take(c, scalar_size(t), &s);
}

/* Parses one key/value; arrays of strings or arrays get an element index. */
static int parse_kv(struct cur *c, struct kv *kv, uint64_t i)
{
	uint32_t t, elem;
	struct cur sub;
	uint64_t n;
	int rc;

	snprintf(c->what, sizeof(c->what), "metadata key #%llu",
		 (unsigned long long)i);
	if ((rc = dup_str(c, &kv->key)))
		return rc;
	snprintf(c->what, sizeof(c->what), "metadata value #%llu (%.100s)",
		 (unsigned long long)i, kv->key);
	if ((rc = rd_u32(c, &t)))
		return rc;
	kv->type = t;
	kv->val = c->p;
	if (t != AC_GGUF_ARRAY)
		return skip_value(c, t, 0);

	if ((rc = skip_array(c, 1, &elem, &n)))
		return rc;
	kv->elem = elem;
	kv->n = n;
	if (scalar_size(elem))
		return 0;
	/* Second pass over the validated bytes records where each starts. */
	kv->elems = malloc((n ? n : 1) * sizeof(*kv->elems));
	if (!kv->elems)
		return -ENOMEM;
	sub = *c;
	sub.p = kv->val + 12;
	for (uint64_t j = 0; j < n; j++) {
		kv->elems[j] = sub.p;
		skip_value(&sub, elem, 2);
	}
	return 0;
}

static int parse_tensor(struct cur *c, struct ac_gguf_tensor *t, uint64_t i,
			uint64_t *offset)
{
	uint64_t nel = 1;
	int rc;

	snprintf(c->what, sizeof(c->what), "tensor info #%llu",
		 (unsigned long long)i);
	if ((rc = dup_str(c, (char **)&t->name)))
		return rc;
	snprintf(c->what, sizeof(c->what), "tensor info #%llu (%.100s)",
		 (unsigned long long)i, t->name);
	if ((rc = rd_u32(c, &t->n_dims)))
		return rc;
	if (t->n_dims < 1 || t->n_dims > AC_GGUF_MAX_DIMS)
		return ac_model_err(c->err, c->errlen, -EBADMSG,
				    "%s: tensor %s: %u dimensions, expected 1..%d",
				    c->g->path, t->name, t->n_dims,
				    AC_GGUF_MAX_DIMS);
	for (uint32_t d = 0; d < AC_GGUF_MAX_DIMS; d++) {
		t->ne[d] = 1;
		if (d < t->n_dims && (rc = rd_u64(c, &t->ne[d])))
			return rc;
		if (t->ne[d] == 0 || t->ne[d] > (UINT64_C(1) << 62) / nel)
			return ac_model_err(c->err, c->errlen, -EBADMSG,
					    "%s: tensor %s: dimension %u is %llu (zero or overflowing)",
					    c->g->path, t->name, d,
					    (unsigned long long)t->ne[d]);
		nel *= t->ne[d];
	}
	if ((rc = rd_u32(c, &t->type)) || (rc = rd_u64(c, offset)))
		return rc;
	if (ac_ggml_block_elems(t->type)) {
		if (t->ne[0] % ac_ggml_block_elems(t->type))
			return ac_model_err(c->err, c->errlen, -EBADMSG,
					    "%s: tensor %s: row of %llu elements is not a whole number of %s blocks (%u)",
					    c->g->path, t->name,
					    (unsigned long long)t->ne[0],
					    ac_ggml_type_name(t->type),
					    ac_ggml_block_elems(t->type));
		t->size = nel / ac_ggml_block_elems(t->type) *
			  ac_ggml_block_bytes(t->type);
	}
	return 0;
}

static int read_alignment(struct ac_gguf *g, char *err, size_t errlen)
{
	int64_t i = ac_gguf_find(g, "general.alignment");
	uint64_t a;

	g->alignment = GGUF_DEFAULT_ALIGN;
	if (i < 0)
		return 0;
	if (ac_gguf_get_uint(g, "general.alignment", &a) ||
	    g->kv[i].type != AC_GGUF_UINT32 || a == 0 || (a & (a - 1)))
		return ac_model_err(err, errlen, -EBADMSG,
				    "%s: general.alignment must be a power-of-two uint32",
				    g->path);
	g->alignment = a;
	return 0;
}

/* Checks each tensor's offset and extent, and points it at its data. */
static int place_tensors(struct ac_gguf *g, uint64_t header_end,
			 const uint64_t *offsets, char *err, size_t errlen)
{
	uint64_t start = (header_end + g->alignment - 1) / g->alignment *
			 g->alignment;
	uint64_t avail = g->map.size > start ? g->map.size - start : 0;

	for (uint64_t i = 0; i < g->n_tensors; i++) {
		struct ac_gguf_tensor *t = &g->tensors[i];
		uint64_t off = offsets[i];

		if (off % g->alignment)
			return ac_model_err(err, errlen, -EBADMSG,
					    "%s: tensor %s: data offset %llu is not a multiple of the alignment %llu",
					    g->path, t->name,
					    (unsigned long long)off,
					    (unsigned long long)g->alignment);
		for (uint64_t j = 0; j < i; j++)
			if (strcmp(g->tensors[j].name, t->name) == 0)
				return ac_model_err(err, errlen, -EBADMSG,
						    "%s: tensor %s appears twice",
						    g->path, t->name);
		if (!ac_ggml_block_elems(t->type))
			continue;	/* size unknown: left with data NULL */
		if (off > avail || t->size > avail - off)
			return ac_model_err(err, errlen, -EBADMSG,
					    "%s: tensor %s: truncated data: needs bytes %llu..%llu of the data section, file holds %llu",
					    g->path, t->name,
					    (unsigned long long)off,
					    (unsigned long long)(off + t->size),
					    (unsigned long long)avail);
		t->data = g->map.data + start + off;
	}
	return 0;
}

static int parse(struct ac_gguf *g, char *err, size_t errlen)
{
	struct cur c = { .g = g, .p = g->map.data, .end = g->map.data,
			 .err = err, .errlen = errlen };
	const uint8_t *magic;
	uint64_t *offsets = NULL;
	int rc;

	/* An empty file maps to NULL, and NULL + 0 is undefined (UBSan). */
	if (!g->map.size)
		return ac_model_err(err, errlen, -EBADMSG,
				    "%s: not a GGUF file (empty)", g->path);
	c.end = g->map.data + g->map.size;

	snprintf(c.what, sizeof(c.what), "the magic");
	if ((rc = take(&c, 4, &magic)))
		return rc;
	if (memcmp(magic, GGUF_MAGIC, 4))
		return ac_model_err(err, errlen, -EBADMSG,
				    "%s: not a GGUF file (magic %02x%02x%02x%02x)",
				    g->path, magic[0], magic[1], magic[2],
				    magic[3]);
	snprintf(c.what, sizeof(c.what), "the version and counts");
	if ((rc = rd_u32(&c, &g->version)))
		return rc;
	if (g->version != 2 && g->version != 3)
		return ac_model_err(err, errlen, -EOPNOTSUPP,
				    "%s: GGUF version %u, expected 2 or 3",
				    g->path, g->version);
	if ((rc = rd_u64(&c, &g->n_tensors)) || (rc = rd_u64(&c, &g->n_kv)))
		return rc;
	/* Each entry takes at least 12 bytes: cap counts before allocating. */
	if (g->n_kv > g->map.size / 12 || g->n_tensors > g->map.size / 12)
		return ac_model_err(err, errlen, -EBADMSG,
				    "%s: truncated header: %llu keys and %llu tensors cannot fit in %llu bytes",
				    g->path, (unsigned long long)g->n_kv,
				    (unsigned long long)g->n_tensors,
				    (unsigned long long)g->map.size);
	g->kv = calloc(g->n_kv ? g->n_kv : 1, sizeof(*g->kv));
	g->tensors = calloc(g->n_tensors ? g->n_tensors : 1,
			    sizeof(*g->tensors));
	offsets = calloc(g->n_tensors ? g->n_tensors : 1, sizeof(*offsets));
	if (!g->kv || !g->tensors || !offsets) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < g->n_kv; i++) {
		if ((rc = parse_kv(&c, &g->kv[i], i)))
			goto out;
		for (uint64_t j = 0; j < i; j++) {
			if (strcmp(g->kv[j].key, g->kv[i].key) == 0) {
				rc = ac_model_err(err, errlen, -EBADMSG,
						  "%s: metadata key %s appears twice",
						  g->path, g->kv[i].key);
				goto out;
			}
		}
	}
	if ((rc = read_alignment(g, err, errlen)))
		goto out;
	for (uint64_t i = 0; i < g->n_tensors; i++)
		if ((rc = parse_tensor(&c, &g->tensors[i], i, &offsets[i])))
			goto out;
	rc = place_tensors(g, (uint64_t)(c.p - g->map.data), offsets, err,
			   errlen);
out:
	if (rc == -ENOMEM)
		ac_model_err(err, errlen, rc, "%s: out of memory reading the header",
			     g->path);
	free(offsets);
	return rc;
}

int ac_gguf_open(const char *path, struct ac_gguf **out, char *err,
		 size_t errlen)
{
	struct ac_gguf *g;
	int rc;

	*out = NULL;
	g = calloc(1, sizeof(*g));
	if (!g || !(g->path = strdup(path))) {
		free(g);
		return ac_model_err(err, errlen, -ENOMEM, "%s: out of memory",
				    path);
	}
	rc = ac_map_file(path, &g->map, err, errlen);
	if (!rc)
		rc = parse(g, err, errlen);
	if (rc) {
		ac_gguf_close(g);
		return rc;
	}
	*out = g;
	return 0;
}

void ac_gguf_close(struct ac_gguf *g)
{
	if (!g)
		return;
	for (uint64_t i = 0; g->kv && i < g->n_kv; i++) {
		free(g->kv[i].key);
		free(g->kv[i].elems);
	}
	for (uint64_t i = 0; g->tensors && i < g->n_tensors; i++)
		free((char *)g->tensors[i].name);
	free(g->kv);
	free(g->tensors);
	ac_map_release(&g->map);
	free(g->path);
	free(g);
}

const char *ac_gguf_path(const struct ac_gguf *g)
{
	return g->path;
}

uint32_t ac_gguf_version(const struct ac_gguf *g)
{
	return g->version;
}

uint64_t ac_gguf_alignment(const struct ac_gguf *g)
{
	return g->alignment;
}

uint64_t ac_gguf_kv_count(const struct ac_gguf *g)
{
	return g->n_kv;
}

const char *ac_gguf_kv_key(const struct ac_gguf *g, uint64_t i)
{
	return i < g->n_kv ? g->kv[i].key : NULL;
}

enum ac_gguf_type ac_gguf_kv_type(const struct ac_gguf *g, uint64_t i)
{
	return g->kv[i].type;
}

int64_t ac_gguf_find(const struct ac_gguf *g, const char *key)
{
	for (uint64_t i = 0; i < g->n_kv; i++)
		if (g->kv[i].key && strcmp(g->kv[i].key, key) == 0)
			return (int64_t)i;
	return -ENOENT;
}

/*
 * One scalar at @p of type @t, as whichever of the three views converts:
 * *is_int says whether it is an integer (then *u or *s holds it, *neg says
 * which), and *f always holds it as a double.
 */
struct num {
	bool is_int, is_float, is_bool, neg;
	uint64_t u;
	int64_t s;
	double f;
};

static int read_num(enum ac_gguf_type t, const uint8_t *p, struct num *v)
{
	union {
		uint8_t u8; int8_t i8; uint16_t u16; int16_t i16;
		uint32_t u32; int32_t i32; uint64_t u64; int64_t i64;
		float f32; double f64;
	} x;
	int64_t s = 0;

	memset(v, 0, sizeof(*v));
	if (!scalar_size(t))
		return -EINVAL;
	memcpy(&x, p, scalar_size(t));
	switch (t) {
	case AC_GGUF_BOOL:
		v->is_bool = true;
		v->u = x.u8 != 0;
		return 0;
	case AC_GGUF_FLOAT32:
		v->is_float = true;
		v->f = x.f32;
		return 0;
	case AC_GGUF_FLOAT64:
		v->is_float = true;
		v->f = x.f64;
		return 0;
	case AC_GGUF_UINT8: v->u = x.u8; break;
	case AC_GGUF_UINT16: v->u = x.u16; break;
	case AC_GGUF_UINT32: v->u = x.u32; break;
	case AC_GGUF_UINT64: v->u = x.u64; break;
	case AC_GGUF_INT8: s = x.i8; goto sig;
	case AC_GGUF_INT16: s = x.i16; goto sig;
	case AC_GGUF_INT32: s = x.i32; goto sig;
	case AC_GGUF_INT64: s = x.i64; goto sig;
	default:
		return -EINVAL;
	}
	v->is_int = true;
	v->s = v->u > INT64_MAX ? INT64_MAX : (int64_t)v->u;
	v->f = (double)v->u;
	return 0;
sig:
	v->is_int = true;
	v->neg = s < 0;
	v->s = s;
	v->u = s < 0 ? 0 : (uint64_t)s;
	v->f = (double)s;
	return 0;
}

static const struct kv *lookup(const struct ac_gguf *g, const char *key)
{
	int64_t i = ac_gguf_find(g, key);

	return i < 0 ? NULL : &g->kv[i];
}

/* The typed answers a caller can ask a scalar for. */
enum want { WANT_UINT, WANT_INT, WANT_FLOAT, WANT_BOOL };

/*
 * Stores @v in @out, whose type @w names; -EINVAL where it does not
 * convert (a negative or oversize integer, a bool read as a number).
 */
static int convert(const struct num *v, enum want w, void *out)
{
	switch (w) {
	case WANT_UINT:
		if (!v->is_int || v->neg)
			return -EINVAL;
		*(uint64_t *)out = v->u;
		return 0;
	case WANT_INT:
		if (!v->is_int || (!v->neg && v->u > INT64_MAX))
			return -EINVAL;
		*(int64_t *)out = v->s;
		return 0;
	case WANT_FLOAT:
		if (v->is_bool)
			return -EINVAL;
		*(double *)out = v->f;
		return 0;
	case WANT_BOOL:
		if (!v->is_bool)
			return -EINVAL;
		*(bool *)out = v->u != 0;
		return 0;
	}
	return -EINVAL;
}

static int get_scalar(const struct ac_gguf *g, const char *key, enum want w,
		      void *out)
{
	const struct kv *kv = lookup(g, key);
	struct num v;
	int rc;

	if (!kv)
		return -ENOENT;
	rc = read_num(kv->type, kv->val, &v);
	return rc ? rc : convert(&v, w, out);
}

int ac_gguf_get_uint(const struct ac_gguf *g, const char *key, uint64_t *out)
{
	return get_scalar(g, key, WANT_UINT, out);
}

int ac_gguf_get_int(const struct ac_gguf *g, const char *key, int64_t *out)
{
	return get_scalar(g, key, WANT_INT, out);
}

int ac_gguf_get_float(const struct ac_gguf *g, const char *key, double *out)
{
	return get_scalar(g, key, WANT_FLOAT, out);
}

int ac_gguf_get_bool(const struct ac_gguf *g, const char *key, bool *out)
{
	return get_scalar(g, key, WANT_BOOL, out);
}

static void str_at(const uint8_t *p, const char **s, uint64_t *len)
{
	memcpy(len, p, 8);
	*s = (const char *)p + 8;
}

int ac_gguf_get_str(const struct ac_gguf *g, const char *key, const char **s,
		    uint64_t *len)
{
	const struct kv *kv = lookup(g, key);

	if (!kv)
		return -ENOENT;
	if (kv->type != AC_GGUF_STRING)
		return -EINVAL;
	str_at(kv->val, s, len);
	return 0;
}

int ac_gguf_get_arr(const struct ac_gguf *g, const char *key, int64_t *idx,
		    enum ac_gguf_type *elem, uint64_t *n)
{
	int64_t i = ac_gguf_find(g, key);

	if (i < 0)
		return (int)i;
	if (g->kv[i].type != AC_GGUF_ARRAY)
		return -EINVAL;
	*idx = i;
	*elem = g->kv[i].elem;
	*n = g->kv[i].n;
	return 0;
}

static const struct kv *arr(const struct ac_gguf *g, int64_t idx, uint64_t i,
			    int *rc)
{
	const struct kv *kv;

	*rc = -EINVAL;
	if (idx < 0 || (uint64_t)idx >= g->n_kv)
		return NULL;
	kv = &g->kv[idx];
	if (kv->type != AC_GGUF_ARRAY)
		return NULL;
	*rc = -ERANGE;
	if (i >= kv->n)
		return NULL;
	*rc = 0;
	return kv;
}

int ac_gguf_arr_str(const struct ac_gguf *g, int64_t idx, uint64_t i,
		    const char **s, uint64_t *len)
{
	int rc;
	const struct kv *kv = arr(g, idx, i, &rc);

	if (!kv)
		return rc;
	if (kv->elem != AC_GGUF_STRING)
		return -EINVAL;
	str_at(kv->elems[i], s, len);
	return 0;
}

static int arr_scalar(const struct ac_gguf *g, int64_t idx, uint64_t i,
		      enum want w, void *out)
{
	int rc;
	const struct kv *kv = arr(g, idx, i, &rc);
	struct num v;
	uint32_t sz;

	if (!kv)
		return rc;
	sz = scalar_size(kv->elem);
	if (!sz)
		return -EINVAL;
	/* Elements follow the u32 type and u64 count. */
	rc = read_num(kv->elem, kv->val + 12 + i * sz, &v);
	return rc ? rc : convert(&v, w, out);
}

int ac_gguf_arr_int(const struct ac_gguf *g, int64_t idx, uint64_t i,
		    int64_t *out)
{
	return arr_scalar(g, idx, i, WANT_INT, out);
}

int ac_gguf_arr_float(const struct ac_gguf *g, int64_t idx, uint64_t i,
		      double *out)
{
	return arr_scalar(g, idx, i, WANT_FLOAT, out);
}

uint64_t ac_gguf_tensor_count(const struct ac_gguf *g)
{
	return g->n_tensors;
}

const struct ac_gguf_tensor *ac_gguf_tensor(const struct ac_gguf *g,
					    uint64_t i)
{
	return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const struct ac_gguf_tensor *ac_gguf_find_tensor(const struct ac_gguf *g,
						 const char *name)
{
	for (uint64_t i = 0; i < g->n_tensors; i++)
		if (strcmp(g->tensors[i].name, name) == 0)
			return &g->tensors[i];
	return NULL;
}
