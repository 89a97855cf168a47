/* SPDX-License-Identifier: MIT */
/* Building a tokenizer from vocabulary arrays, queries on it, freeing it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "tok-internal.h"

/* Far above any real vocabulary; keeps every size below in 32 bits. */
#define TOK_VOCAB_MAX	(1u << 24)
#define TOK_TEXT_MAX	(1u << 30)

static bool is_verbatim(int32_t type)
{
	return type == AC_TOKEN_CONTROL || type == AC_TOKEN_USER_DEFINED;
}

static int copy_texts(struct ac_tokenizer *tok, const struct ac_tokenizer_vocab *v,
		      char *err, size_t errlen)
{
	size_t total = 0;

	for (uint32_t i = 0; i < v->n_tokens; i++) {
		if (!v->tokens[i])
			return ac_model_err(err, errlen, -EINVAL,
					    "tokenizer.ggml.tokens[%u]: NULL", i);
		total += strlen(v->tokens[i]) + 1;
		if (total > TOK_TEXT_MAX)
			return ac_model_err(err, errlen, -EINVAL,
					    "tokenizer.ggml.tokens: over %u bytes",
					    TOK_TEXT_MAX);
	}
	tok->text = malloc(total);
	tok->text_off = malloc((v->n_tokens + 1) * sizeof(*tok->text_off));
	if (!tok->text || !tok->text_off)
		return -ENOMEM;
	total = 0;
	for (uint32_t i = 0; i < v->n_tokens; i++) {
		size_t len = strlen(v->tokens[i]) + 1;

		tok->text_off[i] = total;
		memcpy(tok->text + total, v->tokens[i], len);
		total += len;
	}
	tok->text_off[v->n_tokens] = total;
	return 0;
}

static int copy_types(struct ac_tokenizer *tok, const struct ac_tokenizer_vocab *v,
		      char *err, size_t errlen)
{
	tok->types = malloc(v->n_tokens * sizeof(*tok->types));
	if (!tok->types)
		return -ENOMEM;
	for (uint32_t i = 0; i < v->n_tokens; i++) {
		int32_t t = v->token_types ? v->token_types[i] : AC_TOKEN_NORMAL;

		if (t < AC_TOKEN_UNDEFINED || t > AC_TOKEN_BYTE)
			return ac_model_err(err, errlen, -EINVAL,
					    "tokenizer.ggml.token_type[%u]: unknown type %d",
					    i, t);
		tok->types[i] = t;
	}
	return 0;
}

/* Code points back to bytes; verbatim tokens decode to their own text. */
static int build_bytes(struct ac_tokenizer *tok)
{
	uint16_t cp_of_byte[256];
	int16_t byte_of_cp[324];
	size_t total = tok->text_off[tok->n_vocab];
	uint32_t at = 0;

	tok_byte_map(cp_of_byte);
	memset(byte_of_cp, 0xff, sizeof(byte_of_cp));
	for (unsigned b = 0; b < 256; b++)
		byte_of_cp[cp_of_byte[b]] = b;

	/* Decoding never lengthens a string, so the text size bounds it. */
	tok->bytes = malloc(total ? total : 1);
	tok->bytes_off = malloc((tok->n_vocab + 1) * sizeof(*tok->bytes_off));
	if (!tok->bytes || !tok->bytes_off)
		return -ENOMEM;
	for (uint32_t id = 0; id < tok->n_vocab; id++) {
		size_t len;
		const uint8_t *p = (const uint8_t *)tok_text(tok, id, &len);
		const uint8_t *end = p + len;

		tok->bytes_off[id] = at;
		if (is_verbatim(tok->types[id])) {
			memcpy(tok->bytes + at, p, len);
			at += len;
		} else {
			while (p < end) {
				const uint8_t *c = p;
				int32_t cp = tok_utf8_next(&p, end);

				/* Outside the byte map: keep the text as is. */
				if (cp >= 0 && cp < 324 && byte_of_cp[cp] >= 0) {
					tok->bytes[at++] = byte_of_cp[cp];
				} else {
					memcpy(tok->bytes + at, c, p - c);
					at += p - c;
				}
			}
		}
		if (at - tok->bytes_off[id] > tok->max_bytes)
			tok->max_bytes = at - tok->bytes_off[id];
	}
	tok->bytes_off[tok->n_vocab] = at;
	return 0;
}

/* A byte with no token stays -1: encoding reports or drops it. */
static void find_byte_tokens(struct ac_tokenizer *tok)
{
	uint16_t cp_of_byte[256];

	tok_byte_map(cp_of_byte);
	for (unsigned b = 0; b < 256; b++) {
		/* Every mapped code point is below U+0800: two bytes at most. */
		char s[2];
		size_t n = 1;
		unsigned cp = cp_of_byte[b];

		if (cp < 0x80) {
			s[0] = cp;
		} else {
			s[0] = 0xc0 | cp >> 6;
			s[1] = 0x80 | (cp & 0x3f);
			n = 2;
		}
		tok->byte_tok[b] = tok_str_index_find(tok, s, n);
		if (tok->byte_tok[b] < 0)
			tok->byte_tok[b] = -1;
	}
}

static int build_merges(struct ac_tokenizer *tok,
			const struct ac_tokenizer_vocab *v, char *err,
			size_t errlen)
{
	char *buf = NULL;
	size_t cap = 0;
	int rc;

	rc = tok_pair_index_init(&tok->merges, v->n_merges);
	if (rc)
		return rc;
	for (uint32_t r = 0; r < v->n_merges; r++) {
		const char *m = v->merges[r], *sp;
		size_t len, ll;
		int32_t a, b, ab;

		if (!m)
			return ac_model_err(err, errlen, -EINVAL,
					    "tokenizer.ggml.merges[%u]: NULL", r);
		len = strlen(m);
		/* The left part is never empty, so a leading space belongs to it. */
		sp = len > 1 ? strchr(m + 1, ' ') : NULL;
		if (!sp || sp[1] == '\0' || strchr(sp + 1, ' ')) {
			rc = ac_model_err(err, errlen, -EINVAL,
					  "tokenizer.ggml.merges[%u] '%.64s': not two tokens split by one space",
					  r, m);
			goto out;
		}
		ll = sp - m;
		if (len > cap) {
			char *nb = realloc(buf, len);

			if (!nb) {
				rc = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap = len;
		}
		memcpy(buf, m, ll);
		memcpy(buf + ll, sp + 1, len - ll - 1);
		a = tok_str_index_find(tok, m, ll);
		b = tok_str_index_find(tok, sp + 1, len - ll - 1);
		ab = tok_str_index_find(tok, buf, len - 1);
		if (a < 0 || b < 0 || ab < 0) {
			rc = ac_model_err(err, errlen, -EINVAL,
					  "tokenizer.ggml.merges[%u] '%.64s': its %s is not a token",
					  r, m, a < 0 ? "left" : b < 0 ? "right" : "left+right");
			goto out;
		}
		tok_pair_index_put(&tok->merges, a, b, r, ab);
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

static int cmp_special(const void *pa, const void *pb)
{
	const struct special *a = pa, *b = pb;
	uint8_t fa = a->text[0], fb = b->text[0];

	if (fa != fb)
		return fa < fb ? -1 : 1;
	if (a->len != b->len)
		return a->len > b->len ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static int build_specials(struct ac_tokenizer *tok, char *err, size_t errlen)
{
	uint32_t n = 0;

	for (uint32_t id = 0; id < tok->n_vocab; id++) {
		size_t len;

		tok_text(tok, id, &len);
		n += is_verbatim(tok->types[id]) && len > 0;
	}
	if (n > UINT16_MAX)
		return ac_model_err(err, errlen, -EINVAL,
				    "tokenizer.ggml.token_type: %u control/user-defined tokens, at most %u",
				    n, UINT16_MAX);
	tok->specials = calloc(n ? n : 1, sizeof(*tok->specials));
	if (!tok->specials)
		return -ENOMEM;
	for (uint32_t id = 0; id < tok->n_vocab; id++) {
		size_t len;
		const char *s = tok_text(tok, id, &len);

		if (!is_verbatim(tok->types[id]) || !len)
			continue;
		tok->specials[tok->n_specials++] = (struct special){
			.id = id, .len = len, .text = s,
			.control = tok->types[id] == AC_TOKEN_CONTROL,
		};
	}
	qsort(tok->specials, n, sizeof(*tok->specials), cmp_special);
	for (unsigned b = 0, i = 0; b <= 256; b++) {
		while (i < n && (uint8_t)tok->specials[i].text[0] < b)
			i++;
		tok->special_at[b] = i;
	}
	return 0;
}

static int check_id(const struct ac_tokenizer_vocab *v, int32_t id,
		    const char *field, char *err, size_t errlen)
{
	if (id < -1 || (id >= 0 && (uint32_t)id >= v->n_tokens))
		return ac_model_err(err, errlen, -EINVAL,
				    "%s %d: out of range for %u tokens", field, id,
				    v->n_tokens);
	return 0;
}

int ac_tokenizer_create(const struct ac_tokenizer_vocab *v,
			struct ac_tokenizer **out, char *err, size_t errlen)
{
	struct ac_tokenizer *tok;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!v || !v->pre)
		return ac_model_err(err, errlen, -EINVAL, "tokenizer vocabulary: NULL");
	if (!v->tokens || !v->n_tokens || v->n_tokens > TOK_VOCAB_MAX)
		return ac_model_err(err, errlen, -EINVAL,
				    "tokenizer.ggml.tokens: %u tokens, need 1..%u",
				    v->tokens ? v->n_tokens : 0, TOK_VOCAB_MAX);
	if ((v->n_merges && !v->merges) || v->n_merges > TOK_VOCAB_MAX)
		return ac_model_err(err, errlen, -EINVAL,
				    "tokenizer.ggml.merges: %u merges, need 0..%u",
				    v->merges ? v->n_merges : 0, TOK_VOCAB_MAX);
	rc = check_id(v, v->bos_id, "tokenizer.ggml.bos_token_id", err, errlen);
	if (!rc)
		rc = check_id(v, v->eos_id, "tokenizer.ggml.eos_token_id", err,
			      errlen);
	if (rc)
		return rc;

	tok = calloc(1, sizeof(*tok));
	if (!tok)
		return -ENOMEM;
	tok->n_vocab = v->n_tokens;
	tok->bos = v->bos_id;
	tok->eos = v->eos_id;

	rc = tok_pretok_init(&tok->pre, v->pre, err, errlen);
	if (!rc)
		rc = copy_texts(tok, v, err, errlen);
	if (!rc)
		rc = copy_types(tok, v, err, errlen);
	if (!rc)
		rc = tok_str_index_build(tok);
	if (!rc)
		rc = build_bytes(tok);
	if (!rc) {
		find_byte_tokens(tok);
		rc = build_merges(tok, v, err, errlen);
	}
	if (!rc)
		rc = build_specials(tok, err, errlen);
	if (rc) {
		if (rc == -ENOMEM && err && errlen && !err[0])
			ac_model_err(err, errlen, rc, "tokenizer: out of memory");
		ac_tokenizer_free(tok);
		return rc;
	}
	*out = tok;
	return 0;
}

void ac_tokenizer_free(struct ac_tokenizer *tok)
{
	if (!tok)
		return;
	tok_pretok_fini(&tok->pre);
	free(tok->specials);
	free(tok->merges.slots);
	free(tok->index.slots);
	free(tok->types);
	free(tok->bytes_off);
	free(tok->bytes);
	free(tok->text_off);
	free(tok->text);
	free(tok);
}

int ac_tokenizer_find(const struct ac_tokenizer *tok, const char *text,
		      size_t len, int32_t *id)
{
	int32_t r;

	if (!tok || !id || (!text && len))
		return -EINVAL;
	r = tok_str_index_find(tok, text ? text : "", len);
	if (r < 0)
		return r;
	*id = r;
	return 0;
}

const char *ac_tokenizer_token_text(const struct ac_tokenizer *tok, int32_t id)
{
	size_t len;

	if (!tok || id < 0 || (uint32_t)id >= tok->n_vocab)
		return NULL;
	return tok_text(tok, id, &len);
}

int ac_tokenizer_token_type(const struct ac_tokenizer *tok, int32_t id)
{
	if (!tok || id < 0 || (uint32_t)id >= tok->n_vocab)
		return AC_TOKEN_UNDEFINED;
	return tok->types[id];
}

uint32_t ac_tokenizer_n_vocab(const struct ac_tokenizer *tok)
{
	return tok ? tok->n_vocab : 0;
}

int32_t ac_tokenizer_bos(const struct ac_tokenizer *tok)
{
	return tok ? tok->bos : -1;
}

int32_t ac_tokenizer_eos(const struct ac_tokenizer *tok)
{
	return tok ? tok->eos : -1;
}

size_t ac_tokenizer_max_token_bytes(const struct ac_tokenizer *tok)
{
	return tok ? tok->max_bytes : 0;
}
