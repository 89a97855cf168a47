/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the engine's tokenizer (engine/tokenizer): any
 * bytes a user may send as a prompt, encoded with the SmolLM2 vocabulary
 * of the tokenizer tests (tests/unit/engine/tokenizer/data: one token and
 * one merge a line, token types and bos/eos in meta.json), with and
 * without special-token parsing. Encoding must never write past the ids
 * it was given; ids it returns must decode, and where the input is valid
 * UTF-8 the decoding must give the input back.
 */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *slurp(const char *name, size_t *len)
{
	char path[4096];
	long n;
	char *buf;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", TOK_DATA_DIR, name);
	f = fopen(path, "rb");
	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET))
		abort();
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		abort();
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

/* One entry a line, cut in place. */
static const char **lines(char *buf, size_t len, uint32_t *n)
{
	const char **v;
	uint32_t count = 0, i = 0;
	char *p = buf, *nl;

	for (size_t k = 0; k < len; k++)
		count += buf[k] == '\n';
	v = calloc(count ? count : 1, sizeof(*v));
	if (!v)
		abort();
	while (i < count && (nl = strchr(p, '\n'))) {
		*nl = '\0';
		v[i++] = p;
		p = nl + 1;
	}
	*n = i;
	return v;
}

/* The vocabulary, kept for the process (and freed at exit for LSan). */
static struct {
	char *vb, *mb;
	struct ac_tokenizer_vocab v;
	struct json_object *meta;
	int32_t *types;
	struct ac_tokenizer *tok;
} fx;

static void unload(void)
{
	ac_tokenizer_free(fx.tok);
	json_object_put(fx.meta);
	free(fx.types);
	free((void *)fx.v.tokens);
	free((void *)fx.v.merges);
	free(fx.vb);
	free(fx.mb);
}

static struct ac_tokenizer *load(void)
{
	struct ac_tokenizer_vocab v = { 0 };
	struct ac_tokenizer *tok = NULL;
	struct json_object *meta, *tt, *x;
	char *vb, *mb, err[256];
	size_t vl, ml;
	int32_t *types;

	vb = slurp("vocab.txt", &vl);
	mb = slurp("merges.txt", &ml);
	v.tokens = lines(vb, vl, &v.n_tokens);
	v.merges = lines(mb, ml, &v.n_merges);
	meta = json_object_from_file(TOK_DATA_DIR "/meta.json");
	if (!meta || !json_object_object_get_ex(meta, "tokenizer.ggml.token_type", &tt) ||
	    !json_object_object_get_ex(tt, "default", &x))
		abort();
	types = malloc(v.n_tokens * sizeof(*types));
	if (!types)
		abort();
	for (uint32_t i = 0; i < v.n_tokens; i++)
		types[i] = json_object_get_int(x);
	if (!json_object_object_get_ex(tt, "except", &x))
		abort();
	json_object_object_foreach(x, key, val) {
		long id = strtol(key, NULL, 10);

		if (id >= 0 && id < (long)v.n_tokens)
			types[id] = json_object_get_int(val);
	}
	v.token_types = types;
	json_object_object_get_ex(meta, "tokenizer.ggml.bos_token_id", &x);
	v.bos_id = json_object_get_int(x);
	json_object_object_get_ex(meta, "tokenizer.ggml.eos_token_id", &x);
	v.eos_id = json_object_get_int(x);
	json_object_object_get_ex(meta, "tokenizer.ggml.pre", &x);
	v.pre = json_object_get_string(x);
	if (ac_tokenizer_create(&v, &tok, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz-tokenizer: %s\n", err);
		abort();
	}
	fx.vb = vb;
	fx.mb = mb;
	fx.v = v;
	fx.meta = meta;
	fx.types = types;
	fx.tok = tok;
	atexit(unload);
	return tok;
}

static bool utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t k, len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 :
				(c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		uint32_t cp;

		if (!len || i + len > n)
			return false;
		cp = len == 1 ? c : c & (0x7f >> len);
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ac_tokenizer *tok;
	size_t n = 0, cap = size + 1, got = 0;
	int32_t *ids;
	char *back;
	int r;

	if (!tok)
		tok = load();
	/* Exactly @cap ids: ASan sees a write past them. */
	ids = malloc(cap * sizeof(*ids));
	back = malloc(4 * size + 16);
	if (!ids || !back)
		abort();
	r = ac_tokenizer_encode(tok, (const char *)data, size, 0, ids, cap, &n);
	if (r == 0 && utf8_valid(data, size)) {
		r = ac_tokenizer_decode(tok, ids, n, 0, back, 4 * size + 16, &got);
		if (r < 0 || got != size || memcmp(back, data, size))
			abort();
	}
	/* A cap too small must be refused with the count, not overrun. */
	if (size > 1)
		(void)ac_tokenizer_encode(tok, (const char *)data, size, 0, ids, 1, &n);
	free(ids);
	free(back);
	return 0;
}
