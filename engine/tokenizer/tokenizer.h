/* SPDX-License-Identifier: MIT */
/*
 * Byte-level BPE tokenizer (GPT-2 family) for the engine.
 *
 * The vocabulary arrives as plain arrays, shaped like the GGUF metadata the
 * model loader reads (tokenizer.ggml.tokens, .merges, .token_type,
 * .bos_token_id, .eos_token_id, .pre), so this layer depends on no model
 * file format. A tokenizer is immutable after ac_tokenizer_create(): any
 * number of threads may encode and decode with it at once.
 *
 * Byte-level BPE spells any byte sequence, valid UTF-8 or not, and decodes
 * it back unchanged, as long as the vocabulary has a token for every byte
 * value. SmolLM2's lacks 21 (0x04 0x06 0x13 0x14 0x16 0x1d 0xc0 0xc1 0xf1
 * 0xf2 0xf5..0xff), which it never saw in training; Hugging Face
 * tokenizers silently drops such bytes. Here encoding fails with -EILSEQ
 * on them unless the caller asks for the drop (AC_TOK_DROP_UNKNOWN).
 */
#ifndef AC_ENGINE_TOKENIZER_H
#define AC_ENGINE_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* GGUF token types (tokenizer.ggml.token_type values). */
enum ac_token_type {
	AC_TOKEN_UNDEFINED = 0,
	AC_TOKEN_NORMAL = 1,
	AC_TOKEN_UNKNOWN = 2,
	AC_TOKEN_CONTROL = 3,		/* <|im_start|>: parsed on request */
	AC_TOKEN_USER_DEFINED = 4,	/* always matched verbatim in text */
	AC_TOKEN_UNUSED = 5,
	AC_TOKEN_BYTE = 6,
};

struct ac_tokenizer_vocab {
	const char *const *tokens;	/* NUL-terminated, byte-level form */
	uint32_t n_tokens;
	const char *const *merges;	/* "left right", index = rank */
	uint32_t n_merges;
	const int32_t *token_types;	/* enum ac_token_type; NULL: all normal */
	int32_t bos_id;			/* -1: the model has none */
	int32_t eos_id;			/* -1: the model has none */
	const char *pre;		/* pre-tokenizer name, e.g. "smollm" */
};

struct ac_tokenizer;

/* Encode flags. */
#define AC_TOK_ADD_BOS		(1u << 0)	/* prepend bos_id, if any */
#define AC_TOK_PARSE_SPECIAL	(1u << 1)	/* control tokens in text */
#define AC_TOK_DROP_UNKNOWN	(1u << 2)	/* skip bytes with no token */

/* Decode flags. */
#define AC_TOK_SKIP_SPECIAL	(1u << 0)	/* control tokens give no bytes */

/*
 * Builds a tokenizer; copies everything it keeps. Returns 0, -ENOMEM,
 * -EINVAL for a malformed vocabulary (a merge that is not "a b" of two
 * tokens whose concatenation is a token, a bad token type, a bos/eos out
 * of range) or -EOPNOTSUPP for an unknown pre-tokenizer; @err (may be
 * NULL) then names the field and index at fault. A token string listed
 * twice keeps its first id for encoding and lookup.
 */
int ac_tokenizer_create(const struct ac_tokenizer_vocab *v,
			struct ac_tokenizer **out, char *err, size_t errlen);
void ac_tokenizer_free(struct ac_tokenizer *tok);

/* Pre-tokenizer names ac_tokenizer_create() accepts, NULL-terminated. */
const char *const *ac_tokenizer_pre_names(void);

/*
 * Encodes @len bytes of @text (NULL is fine when @len is 0). Writes up to
 * @cap ids and sets *@n_out to the number the text needs; returns 0, or
 * -ENOSPC when that is more than @cap (the first @cap ids are written),
 * -EILSEQ for a byte no token spells (see above), -EINVAL for bad
 * arguments, -ENOMEM, or -E2BIG if the regex engine gave up on the input.
 * @len + 1 ids always suffice.
 */
int ac_tokenizer_encode(const struct ac_tokenizer *tok, const char *text,
			size_t len, unsigned flags, int32_t *ids, size_t cap,
			size_t *n_out);

/*
 * Offset of the first byte of @text that no token spells, or @len when
 * there is none: where an -EILSEQ from ac_tokenizer_encode() comes from.
 * Special tokens are spelled by their own token and are not looked at.
 */
size_t ac_tokenizer_unknown_byte(const struct ac_tokenizer *tok,
				 const char *text, size_t len, unsigned flags);

/*
 * The bytes token @id decodes to (not NUL-terminated; they may be part of
 * a UTF-8 character), valid as long as @tok. Returns 0 or -EINVAL.
 */
int ac_tokenizer_token_bytes(const struct ac_tokenizer *tok, int32_t id,
			     const char **bytes, size_t *len);

/*
 * Decodes @n ids to bytes, as ac_tokenizer_encode() sizes its output:
 * 0, -ENOSPC with *@n_out the size needed, or -EINVAL for an id out of
 * range. Output is not NUL-terminated.
 */
int ac_tokenizer_decode(const struct ac_tokenizer *tok, const int32_t *ids,
			size_t n, unsigned flags, char *out, size_t cap,
			size_t *n_out);

/* The id of the token spelled @text (byte-level form), or -ENOENT. */
int ac_tokenizer_find(const struct ac_tokenizer *tok, const char *text,
		      size_t len, int32_t *id);

/* The token's vocabulary string, or NULL when @id is out of range. */
const char *ac_tokenizer_token_text(const struct ac_tokenizer *tok, int32_t id);
/* enum ac_token_type of @id; AC_TOKEN_UNDEFINED when out of range. */
int ac_tokenizer_token_type(const struct ac_tokenizer *tok, int32_t id);
uint32_t ac_tokenizer_n_vocab(const struct ac_tokenizer *tok);
int32_t ac_tokenizer_bos(const struct ac_tokenizer *tok);
int32_t ac_tokenizer_eos(const struct ac_tokenizer *tok);
/* The longest ac_tokenizer_token_bytes() of any token. */
size_t ac_tokenizer_max_token_bytes(const struct ac_tokenizer *tok);

/*
 * Streaming detokenizer: a token may end inside a UTF-8 character, so the
 * stream holds back an incomplete tail until the next token completes it.
 * Bytes that can never become valid UTF-8 are passed through as they are,
 * so a stream loses nothing. Zero-initialise or call _init().
 */
struct ac_detok_stream {
	unsigned flags;		/* decode flags */
	uint8_t n_pend;
	uint8_t pend[3];
};

/* The most a stream holds back between pushes. */
#define AC_DETOK_STREAM_SLACK	3u

void ac_detok_stream_init(struct ac_detok_stream *s, unsigned flags);
/*
 * Appends token @id and writes out every byte that is now final. Returns
 * 0, -EINVAL for a bad id, or -ENOSPC (nothing consumed) when @cap cannot
 * hold the held tail plus this token's bytes; a @cap of
 * ac_tokenizer_max_token_bytes() + AC_DETOK_STREAM_SLACK always can.
 */
int ac_detok_stream_push(struct ac_detok_stream *s,
			 const struct ac_tokenizer *tok, int32_t id,
			 char *out, size_t cap, size_t *n_out);
/*
 * Ends the stream: writes the held tail (at most AC_DETOK_STREAM_SLACK
 * bytes, never valid UTF-8 on its own) and resets it. 0 or -ENOSPC.
 */
int ac_detok_stream_flush(struct ac_detok_stream *s, char *out, size_t cap,
			  size_t *n_out);

#endif
