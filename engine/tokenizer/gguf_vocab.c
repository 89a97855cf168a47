/* SPDX-License-Identifier: MIT */
/* A tokenizer and chat format from a GGUF file's tokenizer.* metadata. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "gguf_vocab.h"

/* GGUF strings are not NUL-terminated: the tokenizer gets copies. */
static void free_strs(const char **v, uint32_t n)
{
	for (uint32_t i = 0; v && i < n; i++)
		free((char *)v[i]);
	free(v);
}

static char *get_str(const struct ac_gguf *g, const char *key)
{
	const char *s;
	uint64_t len;

	return ac_gguf_get_str(g, key, &s, &len) < 0 ? NULL : strndup(s, len);
}

/* String array @key, each element a malloc()ed NUL-terminated copy. */
static int str_array(const struct ac_gguf *g, const char *key,
		     const char ***ret, uint32_t *ret_n)
{
	enum ac_gguf_type et;
	const char **v;
	int64_t idx;
	uint64_t n, len;
	int r;

	r = ac_gguf_get_arr(g, key, &idx, &et, &n);
	if (r < 0)
		return r;
	if (n > UINT32_MAX)
		return -EINVAL;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++) {
		const char *p;

		r = ac_gguf_arr_str(g, idx, i, &p, &len);
		if (r == 0 && !(v[i] = strndup(p, len)))
			r = -ENOMEM;
		if (r < 0) {
			free_strs(v, (uint32_t)i);
			return r;
		}
	}
	*ret = v;
	*ret_n = (uint32_t)n;
	return 0;
}

static int32_t get_id(const struct ac_gguf *g, const char *key)
{
	uint64_t v;

	return ac_gguf_get_uint(g, key, &v) < 0 || v > INT32_MAX ? -1
								 : (int32_t)v;
}

int ac_tokenizer_from_gguf(const char *path, struct ac_tokenizer **ret,
			    struct ac_chat_format *chat, char *err,
			    size_t errlen)
{
	struct ac_tokenizer_vocab v = { 0 };
	const char **tokens = NULL, **merges = NULL;
	char *pre = NULL, *tmpl = NULL;
	int32_t *types = NULL;
	struct ac_tokenizer *tok = NULL;
	struct ac_gguf *g = NULL;
	enum ac_gguf_type et;
	uint64_t n;
	int64_t idx;
	int r;

	r = ac_gguf_open(path, &g, err, errlen);
	if (r < 0)
		return r;
	r = str_array(g, "tokenizer.ggml.tokens", &tokens, &v.n_tokens);
	if (!r)
		r = str_array(g, "tokenizer.ggml.merges", &merges, &v.n_merges);
	if (r < 0) {
		snprintf(err, errlen, "%s: no byte-level BPE vocabulary "
			 "(tokenizer.ggml.tokens/merges): %s", path,
			 strerror(-r));
		goto out;
	}
	if (ac_gguf_get_arr(g, "tokenizer.ggml.token_type", &idx, &et, &n) ==
		    0 && n == v.n_tokens) {
		types = calloc(n, sizeof(*types));
		if (!types) {
			r = -ENOMEM;
			goto out;
		}
		for (uint64_t i = 0; i < n; i++) {
			int64_t t;

			r = ac_gguf_arr_int(g, idx, i, &t);
			if (r < 0)
				goto out;
			types[i] = (int32_t)t;
		}
	}
	pre = get_str(g, "tokenizer.ggml.pre");
	v.tokens = tokens;
	v.merges = merges;
	v.token_types = types;
	v.bos_id = get_id(g, "tokenizer.ggml.bos_token_id");
	v.eos_id = get_id(g, "tokenizer.ggml.eos_token_id");
	v.pre = pre ? pre : "default";
	r = ac_tokenizer_create(&v, &tok, err, errlen);
	if (r < 0)
		goto out;
	memset(chat, 0, sizeof(*chat));
	/* No template: the caller renders no chat, prompts still work. */
	tmpl = get_str(g, "tokenizer.chat_template");
	if (tmpl)
		r = ac_chat_format_from_template(tmpl, chat, err, errlen);
	if (r == 0) {
		*ret = tok;
		tok = NULL;
	}
out:
	ac_tokenizer_free(tok);
	free_strs(tokens, v.n_tokens);
	free_strs(merges, v.n_merges);
	free(pre);
	free(tmpl);
	free(types);
	ac_gguf_close(g);
	return r;
}
