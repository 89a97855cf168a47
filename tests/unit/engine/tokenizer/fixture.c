/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

char *fixture_read(const char *name, size_t *len)
{
	char path[4096];
	FILE *fp;
	char *buf = NULL;
	long size;

	snprintf(path, sizeof(path), "%s/%s", TOK_DATA_DIR, name);
	fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	if (fseek(fp, 0, SEEK_END) || (size = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET))
		goto out;
	buf = malloc(size + 1);
	if (buf && fread(buf, 1, size, fp) != (size_t)size) {
		free(buf);
		buf = NULL;
		goto out;
	}
	if (buf) {
		buf[size] = '\0';
		*len = size;
	}
out:
	fclose(fp);
	return buf;
}

/* Cuts @buf at each '\n' in place; the last line must end with one. */
static const char **split_lines(char *buf, size_t len, uint32_t *n)
{
	uint32_t count = 0, i = 0;
	const char **lines;
	char *p = buf;

	for (size_t k = 0; k < len; k++)
		count += buf[k] == '\n';
	lines = malloc((count ? count : 1) * sizeof(*lines));
	cr_assert_not_null(lines);
	while (i < count) {
		char *nl = strchr(p, '\n');

		*nl = '\0';
		lines[i++] = p;
		p = nl + 1;
	}
	*n = count;
	return lines;
}

void fixture_load(struct fixture *f)
{
	size_t len;
	struct json_object *tt, *exc, *v;

	memset(f, 0, sizeof(*f));
	f->vocab_buf = fixture_read("vocab.txt", &len);
	cr_assert_not_null(f->vocab_buf, "cannot read %s/vocab.txt", TOK_DATA_DIR);
	f->tokens = split_lines(f->vocab_buf, len, &f->n_tokens);
	f->merges_buf = fixture_read("merges.txt", &len);
	cr_assert_not_null(f->merges_buf, "cannot read %s/merges.txt", TOK_DATA_DIR);
	f->merges = split_lines(f->merges_buf, len, &f->n_merges);

	f->meta = json_object_from_file(TOK_DATA_DIR "/meta.json");
	cr_assert_not_null(f->meta, "cannot parse meta.json");
	cr_assert(json_object_object_get_ex(f->meta, "tokenizer.ggml.token_type", &tt));
	cr_assert(json_object_object_get_ex(tt, "default", &v));
	f->types = malloc(f->n_tokens * sizeof(*f->types));
	cr_assert_not_null(f->types);
	for (uint32_t i = 0; i < f->n_tokens; i++)
		f->types[i] = json_object_get_int(v);
	cr_assert(json_object_object_get_ex(tt, "except", &exc));
	json_object_object_foreach(exc, key, val) {
		long id = strtol(key, NULL, 10);

		cr_assert(id >= 0 && id < f->n_tokens);
		f->types[id] = json_object_get_int(val);
	}

	f->vocab.tokens = f->tokens;
	f->vocab.n_tokens = f->n_tokens;
	f->vocab.merges = f->merges;
	f->vocab.n_merges = f->n_merges;
	f->vocab.token_types = f->types;
	cr_assert(json_object_object_get_ex(f->meta, "tokenizer.ggml.bos_token_id", &v));
	f->vocab.bos_id = json_object_get_int(v);
	cr_assert(json_object_object_get_ex(f->meta, "tokenizer.ggml.eos_token_id", &v));
	f->vocab.eos_id = json_object_get_int(v);
	cr_assert(json_object_object_get_ex(f->meta, "tokenizer.ggml.pre", &v));
	f->vocab.pre = json_object_get_string(v);
	cr_assert(json_object_object_get_ex(f->meta, "tokenizer.chat_template", &v));
	f->chat_template = json_object_get_string(v);
}

void fixture_free(struct fixture *f)
{
	json_object_put(f->meta);
	free(f->types);
	free(f->tokens);
	free(f->merges);
	free(f->vocab_buf);
	free(f->merges_buf);
	memset(f, 0, sizeof(*f));
}

struct ac_tokenizer *fixture_tokenizer(const struct fixture *f)
{
	struct ac_tokenizer *tok = NULL;
	char err[256];
	int rc = ac_tokenizer_create(&f->vocab, &tok, err, sizeof(err));

	cr_assert_eq(rc, 0, "ac_tokenizer_create: %d %s", rc, err);
	return tok;
}

struct json_object **fixture_jsonl(const char *name, size_t *n)
{
	size_t len;
	uint32_t nl;
	char *buf = fixture_read(name, &len);
	const char **lines;
	struct json_object **v;

	cr_assert_not_null(buf, "cannot read %s/%s", TOK_DATA_DIR, name);
	lines = split_lines(buf, len, &nl);
	v = calloc(nl ? nl : 1, sizeof(*v));
	cr_assert_not_null(v);
	for (uint32_t i = 0; i < nl; i++) {
		v[i] = json_tokener_parse(lines[i]);
		cr_assert_not_null(v[i], "%s line %u: bad JSON", name, i + 1);
	}
	free(lines);
	free(buf);
	*n = nl;
	return v;
}

void fixture_jsonl_free(struct json_object **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_object_put(v[i]);
	free(v);
}

int test_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned c = p[i], need, lo = 0x80, hi = 0xbf;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3;
		else
			return 0;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
		else if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
		if (i + need >= n)
			return 0;
		if (p[i + 1] < lo || p[i + 1] > hi)
			return 0;
		for (unsigned k = 2; k <= need; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
		i += need + 1;
	}
	return 1;
}
