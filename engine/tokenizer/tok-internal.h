/* SPDX-License-Identifier: MIT */
/* Shared by the tokenizer's own files and its white-box tests only. */
#ifndef AC_ENGINE_TOK_INTERNAL_H
#define AC_ENGINE_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer.h"

#define TOK_PRE_STAGES_MAX	2u

/* Open-addressing index from a token's string to its id. */
struct str_index {
	int32_t *slots;		/* id, or -1 when empty */
	uint32_t mask;
};

/* A merge (left id, right id) -> (rank, merged id). */
struct pair_slot {
	uint64_t key;		/* left << 32 | right; PAIR_EMPTY when free */
	uint32_t rank;
	int32_t merged;
};

struct pair_index {
	struct pair_slot *slots;
	uint32_t mask;
};

#define PAIR_EMPTY	UINT64_MAX

/* A token matched verbatim in text before pre-tokenization. */
struct special {
	int32_t id;
	uint32_t len;
	const char *text;
	bool control;		/* only with AC_TOK_PARSE_SPECIAL */
};

struct pretok {
	pcre2_code *re[TOK_PRE_STAGES_MAX];
	unsigned n;
};

struct ac_tokenizer {
	uint32_t n_vocab;
	char *text;			/* vocabulary strings, NUL-separated */
	uint32_t *text_off;		/* n_vocab + 1 */
	char *bytes;			/* what each token decodes to */
	uint32_t *bytes_off;		/* n_vocab + 1 */
	int32_t *types;
	int32_t bos, eos;
	size_t max_bytes;
	int32_t byte_tok[256];		/* the token of each lone byte */
	struct str_index index;
	struct pair_index merges;
	struct special *specials;	/* by first byte, then longest first */
	uint32_t n_specials;
	uint16_t special_at[257];	/* specials[special_at[b]..[b+1]] */
	struct pretok pre;
};

/* GPT-2's byte <-> printable code point mapping. */
void tok_byte_map(uint16_t cp_of_byte[256]);

/*
 * The length of the UTF-8 sequence @lead starts: 1 to 4, or 0 for a byte
 * no valid sequence starts with (a continuation byte, C0, C1, F5..FF).
 */
static inline unsigned tok_utf8_len(uint8_t lead)
{
	if (lead < 0x80)
		return 1;
	if (lead >= 0xc2 && lead <= 0xdf)
		return 2;
	if (lead >= 0xe0 && lead <= 0xef)
		return 3;
	if (lead >= 0xf0 && lead <= 0xf4)
		return 4;
	return 0;
}

/* Lenient UTF-8 step: the code point at *p, or -1 for an invalid byte. */
int32_t tok_utf8_next(const uint8_t **p, const uint8_t *end);

uint64_t tok_hash(const void *p, size_t n);
int tok_str_index_build(struct ac_tokenizer *tok);
int32_t tok_str_index_find(const struct ac_tokenizer *tok, const char *s,
			   size_t n);
int tok_pair_index_init(struct pair_index *pi, uint32_t n);
/* Inserts unless present; a present pair keeps its (earlier) rank. */
void tok_pair_index_put(struct pair_index *pi, int32_t l, int32_t r,
			uint32_t rank, int32_t merged);
const struct pair_slot *tok_pair_index_find(const struct pair_index *pi,
					    int32_t l, int32_t r);

int tok_pretok_init(struct pretok *pre, const char *name, char *err,
		    size_t errlen);
void tok_pretok_fini(struct pretok *pre);

/*
 * Splits @n bytes at @p into pre-tokens and calls @piece on each, in order;
 * stops at and returns the first non-zero @piece result. @md must have been
 * created for at least one ovector pair.
 */
typedef int (*tok_piece_fn)(void *ctx, const uint8_t *p, size_t n);
int tok_pretok_split(const struct pretok *pre, pcre2_match_data *md,
		     const uint8_t *p, size_t n, tok_piece_fn piece, void *ctx);

static inline const char *tok_text(const struct ac_tokenizer *tok, int32_t id,
				   size_t *len)
{
	*len = tok->text_off[id + 1] - tok->text_off[id] - 1;
	return tok->text + tok->text_off[id];
}

#endif
