/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif

#include "mtest.h"

char *mt_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *dir;

	cr_assert(asprintf(&dir, "%s/ac-model-XXXXXX", base ? base : "/tmp") > 0);
	cr_assert_not_null(mkdtemp(dir));
	return dir;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	return remove(path);
}

void mt_rmdir(char *dir)
{
	if (!dir)
		return;
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

char *mt_dir;

void mt_dir_init(void)
{
	mt_dir = mt_tmpdir();
}

void mt_dir_fini(void)
{
	mt_rmdir(mt_dir);
	mt_dir = NULL;
}

struct ac_model_config mt_tiny(void)
{
	struct ac_model_config c;

	cr_assert_eq(ac_model_config_preset("tiny", &c), 0);
	return c;
}

char *mt_path(const char *dir, const char *name)
{
	char *p;

	cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

void mt_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f, "cannot create %s", path);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

void mt_truncate(const char *path, uint64_t len)
{
	cr_assert_eq(truncate(path, (off_t)len), 0);
}

uint64_t mt_file_size(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/* xorshift64*: any decent generator unrelated to the library's will do. */
uint64_t mt_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

double mt_uniform(uint64_t *s)
{
	return (double)(mt_rand(s) >> 11) / (double)(1ull << 52) - 1.0;
}

/* A sign bit, @ebits of biased exponent and @mbits of mantissa (IEEE 754). */
static double small_float(uint16_t x, int ebits, int mbits)
{
	int emax = (1 << ebits) - 1, bias = emax >> 1;
	int sign = x >> 15, e = (x >> mbits) & emax, m = x & ((1 << mbits) - 1);
	double v;

	if (e == emax)
		v = m ? NAN : INFINITY;
	else if (e == 0)
		v = ldexp(m, 1 - bias - mbits);
	else
		v = ldexp((1 << mbits) + m, e - bias - mbits);
	return sign ? -v : v;
}

double mt_half(uint16_t h)
{
	return small_float(h, 5, 10);
}

double mt_bf16(uint16_t b)
{
	return small_float(b, 8, 7);
}

uint16_t mt_rand_half(uint64_t *s)
{
	uint64_t r = mt_rand(s);
	/* One in eight subnormal, to exercise that path of the decoder. */
	uint16_t e = (r & 7) == 0 ? 0 : (uint16_t)(1 + (r >> 3) % 20);

	return (uint16_t)(((r >> 20) & 1) << 15 | e << 10 | ((r >> 24) & 1023));
}

uint16_t mt_rand_bf16(uint64_t *s)
{
	uint64_t r = mt_rand(s);
	uint16_t e = (uint16_t)(120 + r % 13);

	return (uint16_t)(((r >> 20) & 1) << 15 | e << 7 | ((r >> 24) & 127));
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

uint64_t mt_ggml_bytes(uint32_t type, uint64_t n)
{
	switch (type) {
	case AC_GGML_F32: return 4 * n;
	case AC_GGML_F16:
	case AC_GGML_BF16: return 2 * n;
	case AC_GGML_Q8_0: return n / 32 * 34;
	case AC_GGML_Q4_0: return n / 32 * 18;
	case AC_GGML_Q4_1: return n / 32 * 20;
	}
	cr_assert_fail("type %u", type);
	return 0;
}

void *mt_ggml_random(uint32_t type, uint64_t n, uint64_t *s, double *out,
		     size_t *bytes)
{
	uint8_t *b = malloc(mt_ggml_bytes(type, n) + 1);

	cr_assert_not_null(b);
	*bytes = mt_ggml_bytes(type, n);
	for (uint64_t i = 0; i < n; i++) {
		uint8_t *blk;
		double d, m;
		uint16_t h;
		float f;

		switch (type) {
		case AC_GGML_F32:
			f = (float)(4 * mt_uniform(s));
			memcpy(b + 4 * i, &f, 4);
			out[i] = f;
			break;
		case AC_GGML_F16:
			h = mt_rand_half(s);
			put16(b + 2 * i, h);
			out[i] = mt_half(h);
			break;
		case AC_GGML_BF16:
			h = mt_rand_bf16(s);
			put16(b + 2 * i, h);
			out[i] = mt_bf16(h);
			break;
		case AC_GGML_Q8_0:
			if (i % 32)
				break;
			blk = b + i / 32 * 34;
			h = mt_rand_half(s);
			put16(blk, h);
			d = mt_half(h);
			for (int j = 0; j < 32; j++) {
				blk[2 + j] = (uint8_t)mt_rand(s);
				out[i + j] = d * (int8_t)blk[2 + j];
			}
			break;
		case AC_GGML_Q4_0:
		case AC_GGML_Q4_1:
			if (i % 32)
				break;
			blk = b + i / 32 * (type == AC_GGML_Q4_0 ? 18 : 20);
			h = mt_rand_half(s);
			put16(blk, h);
			d = mt_half(h);
			m = 0;
			if (type == AC_GGML_Q4_1) {
				h = mt_rand_half(s);
				put16(blk + 2, h);
				m = mt_half(h);
				blk += 2;
			}
			/* Low nibbles are elements 0..15, high ones 16..31. */
			for (int j = 0; j < 16; j++) {
				uint8_t q = (uint8_t)mt_rand(s);
				int lo = q & 15, hi = q >> 4;

				blk[2 + j] = q;
				if (type == AC_GGML_Q4_0) {
					out[i + j] = d * (lo - 8);
					out[i + j + 16] = d * (hi - 8);
				} else {
					out[i + j] = d * lo + m;
					out[i + j + 16] = d * hi + m;
				}
			}
			break;
		default:
			cr_assert_fail("type %u", type);
		}
	}
	return b;
}

/* ---- GGUF writer ---- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		cr_assert_not_null(b->p);
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void put_s(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void put_u32(struct buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(struct buf *b, uint64_t v) { put(b, &v, 8); }

static void put_str(struct buf *b, const char *s)
{
	put_u64(b, strlen(s));
	put(b, s, strlen(s));
}

struct mt_tensor {
	char *name;
	uint32_t type, n_dims;
	uint64_t ne[4];
	void *data;
	size_t bytes;
};

struct mt_gguf {
	uint32_t version;
	struct buf kv;
	uint64_t n_kv;
	struct mt_tensor t[128];
	uint32_t n_t;
};

struct mt_gguf *mt_gguf_new(uint32_t version)
{
	struct mt_gguf *w = calloc(1, sizeof(*w));

	cr_assert_not_null(w);
	w->version = version;
	return w;
}

void mt_gguf_kv_raw(struct mt_gguf *w, const char *key, uint32_t type,
		    const void *val, size_t len)
{
	put_str(&w->kv, key);
	put_u32(&w->kv, type);
	put(&w->kv, val, len);
	w->n_kv++;
}

void mt_gguf_kv_u32(struct mt_gguf *w, const char *key, uint32_t v)
{
	mt_gguf_kv_raw(w, key, AC_GGUF_UINT32, &v, 4);
}

void mt_gguf_kv_f32(struct mt_gguf *w, const char *key, float v)
{
	mt_gguf_kv_raw(w, key, AC_GGUF_FLOAT32, &v, 4);
}

void mt_gguf_kv_str(struct mt_gguf *w, const char *key, const char *s)
{
	struct buf b = { 0 };

	put_str(&b, s);
	mt_gguf_kv_raw(w, key, AC_GGUF_STRING, b.p, b.len);
	free(b.p);
}

void mt_gguf_kv_arr_str(struct mt_gguf *w, const char *key,
			const char *const *s, uint64_t n)
{
	struct buf b = { 0 };

	put_u32(&b, AC_GGUF_STRING);
	put_u64(&b, n);
	for (uint64_t i = 0; i < n; i++)
		put_str(&b, s[i]);
	mt_gguf_kv_raw(w, key, AC_GGUF_ARRAY, b.p, b.len);
	free(b.p);
}

void mt_gguf_kv_arr_i32(struct mt_gguf *w, const char *key, const int32_t *v,
			uint64_t n)
{
	struct buf b = { 0 };

	put_u32(&b, AC_GGUF_INT32);
	put_u64(&b, n);
	put(&b, v, 4 * n);
	mt_gguf_kv_raw(w, key, AC_GGUF_ARRAY, b.p, b.len);
	free(b.p);
}

void mt_gguf_tensor(struct mt_gguf *w, const char *name, uint32_t type,
		    uint32_t n_dims, const uint64_t *ne, const void *data,
		    size_t bytes)
{
	struct mt_tensor *t = &w->t[w->n_t++];

	cr_assert_leq(w->n_t, 128);
	t->name = strdup(name);
	t->type = type;
	t->n_dims = n_dims;
	memcpy(t->ne, ne, n_dims * sizeof(*ne));
	t->data = malloc(bytes + 1);
	memcpy(t->data, data, bytes);
	t->bytes = bytes;
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

void mt_gguf_write(struct mt_gguf *w, const char *path, uint64_t alignment)
{
	struct buf b = { 0 };
	uint64_t off = 0;
	static const uint8_t zeros[256];

	put(&b, "GGUF", 4);
	put_u32(&b, w->version);
	put_u64(&b, w->n_t);
	put_u64(&b, w->n_kv);
	put(&b, w->kv.p, w->kv.len);
	for (uint32_t i = 0; i < w->n_t; i++) {
		struct mt_tensor *t = &w->t[i];

		put_str(&b, t->name);
		put_u32(&b, t->n_dims);
		for (uint32_t d = 0; d < t->n_dims; d++)
			put_u64(&b, t->ne[d]);
		put_u32(&b, t->type);
		put_u64(&b, off);
		off = align_up(off + t->bytes, alignment);
	}
	put(&b, zeros, align_up(b.len, alignment) - b.len);
	for (uint32_t i = 0; i < w->n_t; i++) {
		put(&b, w->t[i].data, w->t[i].bytes);
		put(&b, zeros, align_up(w->t[i].bytes, alignment) - w->t[i].bytes);
	}
	mt_write_file(path, b.p, b.len);
	free(b.p);
}

void mt_gguf_free(struct mt_gguf *w)
{
	for (uint32_t i = 0; i < w->n_t; i++) {
		free(w->t[i].name);
		free(w->t[i].data);
	}
	free(w->kv.p);
	free(w);
}

void mt_gguf_llama_kv(struct mt_gguf *w, const struct ac_model_config *c,
		      const char *skip)
{
	const struct {
		const char *key;
		uint32_t u;
		float f;
		bool is_f;
	} kv[] = {
		{ "llama.block_count", c->n_layers },
		{ "llama.context_length", c->max_ctx },
		{ "llama.embedding_length", c->hidden },
		{ "llama.feed_forward_length", c->ffn },
		{ "llama.attention.head_count", c->n_heads },
		{ "llama.attention.head_count_kv", c->n_kv_heads },
		{ "llama.rope.freq_base", 0, c->rope_theta, true },
		{ "llama.attention.layer_norm_rms_epsilon", 0, c->rms_eps, true },
		{ "llama.vocab_size", c->vocab },
		{ c->head_dim * c->n_heads != c->hidden ?
		  "llama.attention.key_length" : NULL, c->head_dim },
	};

	mt_gguf_kv_str(w, "general.architecture", "llama");
	mt_gguf_kv_str(w, "general.name", c->name);
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
		if (!kv[i].key || (skip && strcmp(skip, kv[i].key) == 0))
			continue;
		if (kv[i].is_f)
			mt_gguf_kv_f32(w, kv[i].key, kv[i].f);
		else
			mt_gguf_kv_u32(w, kv[i].key, kv[i].u);
	}
}

void mt_patch(const char *path, const char *from, const char *to)
{
	uint64_t n = mt_file_size(path);
	char *b = malloc(n + 1), *at = NULL;
	FILE *f = fopen(path, "rb");

	cr_assert_eq(strlen(from), strlen(to));
	cr_assert_not_null(f);
	cr_assert_eq(fread(b, 1, n, f), n);
	fclose(f);
	for (uint64_t i = 0; i + strlen(from) <= n && !at; i++)
		if (memcmp(b + i, from, strlen(from)) == 0)
			at = b + i;
	cr_assert_not_null(at, "%s: no \"%s\" to patch", path, from);
	memcpy(at, to, strlen(to));
	mt_write_file(path, b, n);
	free(b);
}

static int count_lines_or_entries(const char *path, bool dir,
				  const char *needle)
{
	char line[4096];
	int n = 0;
	FILE *f;

	if (dir) {
		struct dirent *e;
		DIR *d = opendir(path);

		cr_assert_not_null(d);
		while ((e = readdir(d)))
			n++;
		closedir(d);
		return n;
	}
	f = fopen(path, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		n += !needle || strstr(line, needle);
	fclose(f);
	return n;
}

int mt_open_fds(void)
{
	return count_lines_or_entries("/proc/self/fd", true, NULL);
}

int mt_mappings(void)
{
	/*
	 * Under valgrind and ASan the tool's own allocator maps and unmaps
	 * behind our back, so only mappings of the test's files (named in
	 * maps) are counted there; natively every mapping is, which covers
	 * the weights' anonymous one too.
	 */
#ifdef __SANITIZE_ADDRESS__
	return count_lines_or_entries("/proc/self/maps", false, "/ac-model-");
#endif
#ifdef RUNNING_ON_VALGRIND
	if (RUNNING_ON_VALGRIND)
		return count_lines_or_entries("/proc/self/maps", false, "/ac-model-");
#endif
	return count_lines_or_entries("/proc/self/maps", false, NULL);
}

struct mt_leaks mt_leak_probe(void)
{
	return (struct mt_leaks){ mt_open_fds(), mt_mappings() };
}

void mt_expect_refused(int rc, const struct ac_weights *w, const char *err,
		       int want, const char *file, const char *what1,
		       const char *what2, struct mt_leaks before)
{
	cr_assert_eq(rc, want, "rc %d (%s), expected %d", rc, err, want);
	cr_assert_null(w);
	cr_assert_not_null(strstr(err, file), "message \"%s\" lacks \"%s\"", err, file);
	cr_assert_not_null(strstr(err, what1), "message \"%s\" lacks \"%s\"", err, what1);
	if (what2)
		cr_assert_not_null(strstr(err, what2), "message \"%s\" lacks \"%s\"", err, what2);
	cr_assert_eq(mt_open_fds(), before.fds, "descriptor leaked");
	cr_assert_eq(mt_mappings(), before.maps, "mapping leaked");
}

/* ---- test models ---- */

static const struct {
	const char *gguf, *hf;
} names[AC_WK_COUNT] = {
	[AC_WK_ATTN_NORM] = { "blk.%u.attn_norm.weight", "model.layers.%u.input_layernorm.weight" },
	[AC_WK_Q] = { "blk.%u.attn_q.weight", "model.layers.%u.self_attn.q_proj.weight" },
	[AC_WK_K] = { "blk.%u.attn_k.weight", "model.layers.%u.self_attn.k_proj.weight" },
	[AC_WK_V] = { "blk.%u.attn_v.weight", "model.layers.%u.self_attn.v_proj.weight" },
	[AC_WK_O] = { "blk.%u.attn_output.weight", "model.layers.%u.self_attn.o_proj.weight" },
	[AC_WK_FFN_NORM] = { "blk.%u.ffn_norm.weight", "model.layers.%u.post_attention_layernorm.weight" },
	[AC_WK_GATE] = { "blk.%u.ffn_gate.weight", "model.layers.%u.mlp.gate_proj.weight" },
	[AC_WK_UP] = { "blk.%u.ffn_up.weight", "model.layers.%u.mlp.up_proj.weight" },
	[AC_WK_DOWN] = { "blk.%u.ffn_down.weight", "model.layers.%u.mlp.down_proj.weight" },
	[AC_WK_TOK_EMBD] = { "token_embd.weight", "model.embed_tokens.weight" },
	[AC_WK_OUTPUT_NORM] = { "output_norm.weight", "model.norm.weight" },
	[AC_WK_OUTPUT] = { "output.weight", "lm_head.weight" },
};

/* Rows and columns as the task spells them out, not via the library. */
static void shape(const struct ac_model_config *c, int k, uint64_t *rows,
		  uint64_t *cols)
{
	uint64_t q = c->n_heads * c->head_dim, kv = c->n_kv_heads * c->head_dim;

	*rows = 1, *cols = c->hidden;	/* the norms */
	if (k == AC_WK_Q)
		*rows = q;
	else if (k == AC_WK_K || k == AC_WK_V)
		*rows = kv;
	else if (k == AC_WK_O)
		*rows = c->hidden, *cols = q;
	else if (k == AC_WK_GATE || k == AC_WK_UP)
		*rows = c->ffn;
	else if (k == AC_WK_DOWN)
		*rows = c->hidden, *cols = c->ffn;
	else if (k == AC_WK_TOK_EMBD || k == AC_WK_OUTPUT)
		*rows = c->vocab;
}

static bool is_vec(int k)
{
	return k == AC_WK_ATTN_NORM || k == AC_WK_FFN_NORM ||
	       k == AC_WK_OUTPUT_NORM;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void tname(const char *fmt, uint32_t layer, char *buf, size_t len)
{
	snprintf(buf, len, fmt, layer);
}
#pragma GCC diagnostic pop

static uint32_t n_tensor_layers(const struct ac_model_config *c, int k)
{
	if (k == AC_WK_OUTPUT && c->tie_embeddings)
		return 0;
	return k < AC_WK_LAYER_COUNT ? c->n_layers : 1;
}

void mt_llama_gguf(const char *path, const struct ac_model_config *c,
		   const uint32_t types[AC_WK_COUNT], uint64_t seed,
		   const struct mt_spoil *spoil, struct mt_model *m)
{
	static const struct mt_spoil none;
	struct mt_gguf *w = mt_gguf_new(3);
	uint64_t s = seed * 2 + 1;

	if (!spoil)
		spoil = &none;
	cr_assert_leq(c->n_layers, 8);
	memset(m, 0, sizeof(*m));
	m->cfg = *c;
	mt_gguf_llama_kv(w, c, spoil->skip);
	for (int k = 0; k < AC_WK_COUNT; k++) {
		for (uint32_t l = 0; l < n_tensor_layers(c, k); l++) {
			uint64_t rows, cols, hd = c->head_dim;
			double *dec, *exp;
			char name[96];
			size_t bytes;
			void *data;

			shape(c, k, &rows, &cols);
			dec = malloc(rows * cols * sizeof(double));
			exp = malloc(rows * cols * sizeof(double));
			data = mt_ggml_random(types[k], rows * cols, &s, dec, &bytes);
			if (k == AC_WK_Q || k == AC_WK_K) {
				/*
				 * The file pairs RoPE dims adjacently (2i, 2i+1);
				 * Hugging Face pairs (i, i + hd/2).
				 */
				for (uint64_t r = 0; r < rows; r++) {
					uint64_t h = r / hd, i = r % hd;
					uint64_t src = i < hd / 2 ? h * hd + 2 * i :
						       h * hd + 2 * (i - hd / 2) + 1;

					memcpy(exp + r * cols, dec + src * cols,
					       cols * sizeof(double));
				}
			} else {
				memcpy(exp, dec, rows * cols * sizeof(double));
			}
			tname(names[k].gguf, l, name, sizeof(name));
			if (spoil->reshape && strcmp(spoil->reshape, name) == 0)
				mt_gguf_tensor(w, name, types[k], 2,
					       (uint64_t[]){ rows, cols }, data,
					       bytes);
			else if (spoil->retype && strcmp(spoil->retype, name) == 0)
				/* Q5_0 blocks are 22 bytes a 32; others any. */
				mt_gguf_tensor(w, name, spoil->retype_to,
					       is_vec(k) ? 1 : 2,
					       (uint64_t[]){ cols, rows }, data,
					       spoil->retype_to == 6 ?
					       rows * cols / 32 * 22 : rows * cols);
			else if (!spoil->skip || strcmp(spoil->skip, name) != 0)
				mt_gguf_tensor(w, name, types[k],
					       is_vec(k) ? 1 : 2,
					       (uint64_t[]){ cols, rows }, data,
					       bytes);
			m->t[k][l] = exp;
			free(dec);
			free(data);
		}
	}
	if (spoil->extra)
		spoil->extra(w, c);
	mt_gguf_write(w, path, 32);
	mt_gguf_free(w);
}

static void shard_name(unsigned i, unsigned n, char *buf, size_t len)
{
	if (n == 1)
		snprintf(buf, len, "model.safetensors");
	else
		snprintf(buf, len, "model-%05u-of-%05u.safetensors", i + 1, n);
}

void mt_llama_hf(const char *dir, const struct ac_model_config *c,
		 const char *dtype, unsigned shards, uint64_t seed,
		 struct mt_model *m)
{
	struct buf hdr[8] = { 0 }, data[8] = { 0 }, idx = { 0 };
	uint32_t type = strcmp(dtype, "F32") == 0 ? AC_GGML_F32 :
			strcmp(dtype, "F16") == 0 ? AC_GGML_F16 : AC_GGML_BF16;
	uint64_t s = seed * 2 + 1, total = 0;
	unsigned at = 0;
	char *path, text[2048], file[64];

	cr_assert(shards >= 1 && shards <= 8);
	memset(m, 0, sizeof(*m));
	m->cfg = *c;
	for (unsigned i = 0; i < shards; i++)
		put(&hdr[i], "{", 1);
	put_s(&idx, "{\"metadata\": {}, \"weight_map\": {");
	for (int k = 0; k < AC_WK_COUNT; k++) {
		for (uint32_t l = 0; l < n_tensor_layers(c, k); l++, at++) {
			unsigned sh = at % shards;
			uint64_t rows, cols;
			char name[96];
			size_t bytes;
			double *dec;
			void *raw;
			int n;

			shape(c, k, &rows, &cols);
			dec = malloc(rows * cols * sizeof(double));
			raw = mt_ggml_random(type, rows * cols, &s, dec, &bytes);
			tname(names[k].hf, l, name, sizeof(name));
			if (is_vec(k))
				n = snprintf(text, sizeof(text),
					     "%s\"%s\": {\"dtype\": \"%s\", \"shape\": [%llu], \"data_offsets\": [%zu, %zu]}",
					     hdr[sh].len > 1 ? ", " : "", name, dtype,
					     (unsigned long long)cols, data[sh].len,
					     data[sh].len + bytes);
			else
				n = snprintf(text, sizeof(text),
					     "%s\"%s\": {\"dtype\": \"%s\", \"shape\": [%llu, %llu], \"data_offsets\": [%zu, %zu]}",
					     hdr[sh].len > 1 ? ", " : "", name, dtype,
					     (unsigned long long)rows,
					     (unsigned long long)cols,
					     data[sh].len, data[sh].len + bytes);
			put(&hdr[sh], text, (size_t)n);
			put(&data[sh], raw, bytes);
			shard_name(sh, shards, file, sizeof(file));
			n = snprintf(text, sizeof(text), "%s\"%s\": \"%s\"",
				     at ? ", " : "", name, file);
			put(&idx, text, (size_t)n);
			total += bytes;
			m->t[k][l] = dec;
			free(raw);
		}
	}
	put(&idx, "}}", 2);

	for (unsigned i = 0; i < shards; i++) {
		struct buf f = { 0 };
		uint64_t n;

		put_s(&hdr[i], ", \"__metadata__\": {\"format\": \"pt\"}}");
		/* The reference writer pads the header to 8 bytes with spaces. */
		while (hdr[i].len % 8)
			put(&hdr[i], " ", 1);
		n = hdr[i].len;
		put(&f, &n, 8);
		put(&f, hdr[i].p, hdr[i].len);
		put(&f, data[i].p, data[i].len);
		shard_name(i, shards, file, sizeof(file));
		path = mt_path(dir, file);
		mt_write_file(path, f.p, f.len);
		free(path);
		free(f.p);
		free(hdr[i].p);
		free(data[i].p);
	}
	if (shards > 1) {
		path = mt_path(dir, "model.safetensors.index.json");
		mt_write_file(path, idx.p, idx.len);
		free(path);
	}
	free(idx.p);

	snprintf(text, sizeof(text),
		 "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\",\n"
		 " \"_name_or_path\": \"%s\", \"hidden_size\": %u, \"intermediate_size\": %u,\n"
		 " \"num_hidden_layers\": %u, \"num_attention_heads\": %u,\n"
		 " \"num_key_value_heads\": %u, \"head_dim\": %u, \"vocab_size\": %u,\n"
		 " \"max_position_embeddings\": %u, \"rms_norm_eps\": %.9g,\n"
		 " \"rope_theta\": %.9g, \"tie_word_embeddings\": %s,\n"
		 " \"torch_dtype\": \"bfloat16\", \"rope_scaling\": ",
		 c->name, c->hidden, c->ffn, c->n_layers, c->n_heads,
		 c->n_kv_heads, c->head_dim, c->vocab, c->max_ctx,
		 (double)c->rms_eps, (double)c->rope_theta,
		 c->tie_embeddings ? "true" : "false");
	if (c->rope_scaling.type == AC_ROPE_SCALING_LLAMA3)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
			 "{\"rope_type\": \"llama3\", \"factor\": %.9g, \"low_freq_factor\": %.9g,"
			 " \"high_freq_factor\": %.9g, \"original_max_position_embeddings\": %u}}\n",
			 (double)c->rope_scaling.factor,
			 (double)c->rope_scaling.low_freq_factor,
			 (double)c->rope_scaling.high_freq_factor,
			 c->rope_scaling.original_max_position_embeddings);
	else
		strcat(text, "null}\n");
	path = mt_path(dir, "config.json");
	mt_write_file(path, text, strlen(text));
	free(path);
	(void)total;
}

void mt_model_free(struct mt_model *m)
{
	for (int k = 0; k < AC_WK_COUNT; k++)
		for (int l = 0; l < 8; l++)
			free(m->t[k][l]);
	memset(m, 0, sizeof(*m));
}

static double loaded(const struct ac_weights *w, const void *t, uint64_t i)
{
	uint16_t b;
	float f;

	if (w->dtype == AC_DTYPE_FP32) {
		memcpy(&f, (const float *)t + i, 4);
		return f;
	}
	memcpy(&b, (const uint16_t *)t + i, 2);
	return mt_bf16(b);
}

void mt_expect_config(const struct ac_model_config *got,
		      const struct ac_model_config *want)
{
	cr_assert_eq(got->n_layers, want->n_layers);
	cr_assert_eq(got->hidden, want->hidden);
	cr_assert_eq(got->ffn, want->ffn);
	cr_assert_eq(got->n_heads, want->n_heads);
	cr_assert_eq(got->n_kv_heads, want->n_kv_heads);
	cr_assert_eq(got->head_dim, want->head_dim);
	cr_assert_eq(got->vocab, want->vocab);
	cr_assert_eq(got->max_ctx, want->max_ctx);
	cr_assert_eq(got->rms_eps, want->rms_eps);
	cr_assert_eq(got->rope_theta, want->rope_theta);
	cr_assert_eq(got->tie_embeddings, want->tie_embeddings);
	cr_assert_eq(got->rope_scaling.type, want->rope_scaling.type);
	cr_assert_str_eq(got->name, want->name);
}

double mt_model_diff(const struct ac_weights *w, const struct mt_model *m,
		     double floor)
{
	const struct ac_model_config *c = &m->cfg;
	double worst = 0;

	for (int k = 0; k < AC_WK_COUNT; k++) {
		uint32_t n = k < AC_WK_LAYER_COUNT ? c->n_layers : 1;

		for (uint32_t l = 0; l < n; l++) {
			int src = k == AC_WK_OUTPUT && c->tie_embeddings ?
				  AC_WK_TOK_EMBD : k;
			const void *t = ac_weights_tensor(w, k, l);
			uint64_t rows, cols;

			cr_assert_not_null(t, "tensor %d/%u", k, l);
			shape(c, k, &rows, &cols);
			for (uint64_t i = 0; i < rows * cols; i++) {
				double e = m->t[src][l][i];
				double d = fabs(loaded(w, t, i) - e) /
					   (fabs(e) + floor);

				worst = d > worst ? d : worst;
			}
		}
	}
	return worst;
}
