/* SPDX-License-Identifier: MIT */
/*
 * The tokenizer's API beyond the reference ids: flags, sizing, lookups,
 * bytes that are not UTF-8, streaming, long inputs, and the vocabulary
 * errors ac_tokenizer_create() must report.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "tok-internal.h"

static struct fixture fx;
static struct ac_tokenizer *tok;

static void setup(void)
{
	fixture_load(&fx);
	tok = fixture_tokenizer(&fx);
}

static void teardown(void)
{
	ac_tokenizer_free(tok);
	fixture_free(&fx);
}

TestSuite(tok_api, .init = setup, .fini = teardown);

/* Encodes into a fresh array of len + 1 ids (the documented bound). */
static int32_t *enc(const char *s, size_t len, unsigned flags, size_t *n)
{
	int32_t *ids = malloc((len + 1) * sizeof(*ids));

	cr_assert_not_null(ids);
	cr_assert_eq(ac_tokenizer_encode(tok, s, len, flags, ids, len + 1, n), 0);
	cr_assert_leq(*n, len + 1);
	return ids;
}

static void assert_round_trip(const char *s, size_t len, unsigned flags)
{
	size_t n, m;
	int32_t *ids = enc(s, len, flags, &n);
	char *out = malloc(len + 1);

	cr_assert_not_null(out);
	cr_assert_eq(ac_tokenizer_decode(tok, ids, n, 0, out, len + 1, &m), 0);
	cr_assert_eq(m, len);
	cr_assert_eq(memcmp(out, s, len), 0);
	free(out);
	free(ids);
}

static int32_t id_of(const char *s)
{
	int32_t id = -1;

	cr_assert_eq(ac_tokenizer_find(tok, s, strlen(s), &id), 0, "%s", s);
	return id;
}

Test(tok_api, queries)
{
	cr_assert_eq(ac_tokenizer_n_vocab(tok), 49152);
	cr_assert_eq(ac_tokenizer_bos(tok), 1);
	cr_assert_eq(ac_tokenizer_eos(tok), 2);
	cr_assert_eq(id_of("<|im_start|>"), 1);
	cr_assert_eq(id_of("<|im_end|>"), 2);
	cr_assert_str_eq(ac_tokenizer_token_text(tok, 2), "<|im_end|>");
	cr_assert_eq(ac_tokenizer_token_type(tok, 2), AC_TOKEN_CONTROL);
	cr_assert_eq(ac_tokenizer_token_type(tok, id_of("Ġthe")), AC_TOKEN_NORMAL);
	cr_assert_null(ac_tokenizer_token_text(tok, 49152));
	cr_assert_null(ac_tokenizer_token_text(tok, -1));
	cr_assert_eq(ac_tokenizer_token_type(tok, 49152), AC_TOKEN_UNDEFINED);

	int32_t id = 7;

	cr_assert_eq(ac_tokenizer_find(tok, "no such token!", 14, &id), -ENOENT);
	cr_assert_eq(id, 7);
	cr_assert_eq(ac_tokenizer_find(tok, "", 0, &id), -ENOENT);
	cr_assert_eq(ac_tokenizer_find(NULL, "a", 1, &id), -EINVAL);
	cr_assert_eq(ac_tokenizer_find(tok, NULL, 1, &id), -EINVAL);

	const char *b;
	size_t len;

	cr_assert_eq(ac_tokenizer_token_bytes(tok, id_of("Ġthe"), &b, &len), 0);
	cr_assert_eq(len, 4);
	cr_assert_eq(memcmp(b, " the", 4), 0);
	cr_assert_eq(ac_tokenizer_token_bytes(tok, id_of("Ċ"), &b, &len), 0);
	cr_assert(len == 1 && b[0] == '\n');
	cr_assert_eq(ac_tokenizer_token_bytes(tok, 1, &b, &len), 0);
	cr_assert(len == 12 && !memcmp(b, "<|im_start|>", 12));
	cr_assert_eq(ac_tokenizer_token_bytes(tok, 49152, &b, &len), -EINVAL);
	cr_assert_geq(ac_tokenizer_max_token_bytes(tok), 16);

	const char *const *pre = ac_tokenizer_pre_names();

	cr_assert_str_eq(pre[0], "smollm");
	while (*pre)
		pre++;
}

Test(tok_api, empty_and_null)
{
	size_t n = 99;
	int32_t id;

	cr_assert_eq(ac_tokenizer_encode(tok, "", 0, 0, NULL, 0, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(ac_tokenizer_encode(tok, NULL, 0, AC_TOK_PARSE_SPECIAL, NULL, 0, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(ac_tokenizer_encode(tok, NULL, 0, AC_TOK_ADD_BOS, &id, 1, &n), 0);
	cr_assert(n == 1 && id == 1);
	cr_assert_eq(ac_tokenizer_encode(tok, NULL, 3, 0, &id, 1, &n), -EINVAL);
	cr_assert_eq(ac_tokenizer_encode(NULL, "a", 1, 0, &id, 1, &n), -EINVAL);
	cr_assert_eq(ac_tokenizer_encode(tok, "a", 1, 0, &id, 1, NULL), -EINVAL);
	cr_assert_eq(ac_tokenizer_encode(tok, "a", 1, 0, NULL, 1, &n), -EINVAL);
	cr_assert_eq(ac_tokenizer_encode(tok, "a", 1, 1u << 7, &id, 1, &n), -EINVAL);

	char out[4];

	cr_assert_eq(ac_tokenizer_decode(tok, NULL, 0, 0, NULL, 0, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(ac_tokenizer_decode(tok, NULL, 1, 0, out, 4, &n), -EINVAL);
	id = -3;
	cr_assert_eq(ac_tokenizer_decode(tok, &id, 1, 0, out, 4, &n), -EINVAL);
	id = 49152;
	cr_assert_eq(ac_tokenizer_decode(tok, &id, 1, 0, out, 4, &n), -EINVAL);
	cr_assert_eq(ac_tokenizer_decode(NULL, &id, 1, 0, out, 4, &n), -EINVAL);

	ac_tokenizer_free(NULL);
}

Test(tok_api, sizing)
{
	const char *s = "The quick brown fox jumps over the lazy dog.";
	size_t n, full;
	int32_t *all = enc(s, strlen(s), 0, &full);
	int32_t part[3] = { -1, -1, -1 };

	cr_assert_gt(full, 3);
	cr_assert_eq(ac_tokenizer_encode(tok, s, strlen(s), 0, NULL, 0, &n), -ENOSPC);
	cr_assert_eq(n, full);
	cr_assert_eq(ac_tokenizer_encode(tok, s, strlen(s), 0, part, 3, &n), -ENOSPC);
	cr_assert_eq(n, full);
	cr_assert_arr_eq(part, all, sizeof(part));

	char small[5];
	size_t m;

	cr_assert_eq(ac_tokenizer_decode(tok, all, full, 0, small, 5, &m), -ENOSPC);
	cr_assert_eq(m, strlen(s));
	cr_assert_eq(memcmp(small, s, 5), 0);
	cr_assert_eq(ac_tokenizer_decode(tok, all, full, 0, NULL, 0, &m), -ENOSPC);
	cr_assert_eq(m, strlen(s));
	free(all);
}

Test(tok_api, bos_is_prepended_only_on_request)
{
	size_t n1, n2;
	int32_t *a = enc("Hi there", 8, 0, &n1);
	int32_t *b = enc("Hi there", 8, AC_TOK_ADD_BOS, &n2);

	cr_assert_eq(n2, n1 + 1);
	cr_assert_eq(b[0], 1);
	cr_assert_arr_eq(b + 1, a, n1 * sizeof(*a));
	for (size_t i = 0; i < n1; i++)
		cr_assert_neq(a[i], 1);
	free(a);
	free(b);
}

static bool has_control(const int32_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ac_tokenizer_token_type(tok, ids[i]) == AC_TOKEN_CONTROL)
			return true;
	return false;
}

Test(tok_api, specials_on_and_off)
{
	const char *s = "<|im_start|>user\nhi<|im_end|>\n<|endoftext|>";
	size_t n, len = strlen(s);
	int32_t *on = enc(s, len, AC_TOK_PARSE_SPECIAL, &n);

	cr_assert_eq(on[0], 1);
	cr_assert_eq(on[n - 3], 2);
	cr_assert_eq(on[n - 1], 0);
	free(on);

	int32_t *off = enc(s, len, 0, &n);

	cr_assert_not(has_control(off, n), "control token from text without PARSE_SPECIAL");
	cr_assert_gt(n, 10);
	free(off);
	assert_round_trip(s, len, 0);
	assert_round_trip(s, len, AC_TOK_PARSE_SPECIAL);

	/* A special cut short, or with a NUL in the middle, is text. */
	on = enc("<|im_end|", 9, AC_TOK_PARSE_SPECIAL, &n);
	cr_assert_not(has_control(on, n));
	free(on);
	on = enc("<|im_\0end|>", 11, AC_TOK_PARSE_SPECIAL, &n);
	cr_assert_not(has_control(on, n));
	free(on);
	assert_round_trip("<|im_\0end|>", 11, AC_TOK_PARSE_SPECIAL);

	/* Adjacent specials and a special at the very end. */
	on = enc("<|im_end|><|im_end|>x<|im_start|>", 33, AC_TOK_PARSE_SPECIAL, &n);
	cr_assert_eq(n, 4);
	cr_assert(on[0] == 2 && on[1] == 2 && on[3] == 1);
	free(on);
}

Test(tok_api, decode_can_skip_control_tokens)
{
	const char *s = "<|im_start|>assistant\nOK<|im_end|>";
	size_t n, m;
	int32_t *ids = enc(s, strlen(s), AC_TOK_PARSE_SPECIAL, &n);
	char out[64];

	cr_assert_eq(ac_tokenizer_decode(tok, ids, n, AC_TOK_SKIP_SPECIAL, out,
					 sizeof(out), &m), 0);
	cr_assert_eq(m, strlen("assistant\nOK"));
	cr_assert_eq(memcmp(out, "assistant\nOK", m), 0);

	struct ac_detok_stream st;
	size_t at = 0;

	ac_detok_stream_init(&st, AC_TOK_SKIP_SPECIAL);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(ac_detok_stream_push(&st, tok, ids[i], out + at,
						  sizeof(out) - at, &m), 0);
		at += m;
	}
	cr_assert_eq(at, strlen("assistant\nOK"));
	free(ids);
}

Test(tok_api, invalid_utf8_round_trips)
{
	/* Only bytes SmolLM2 has tokens for; see unknown_bytes below. */
	static const struct { const char *s; size_t n; } cases[] = {
		{ "\x80", 1 },				/* a lone continuation */
		{ "\x80\xbf\x90", 3 },
		{ "abc\x80" "def", 7 },
		{ "\xe2\x82", 2 },			/* a euro sign cut short */
		{ "x\xe2\x82 y", 5 },
		{ "\xed\xa0\x80", 3 },			/* a surrogate */
		{ "\xe0\x80\xaf", 3 },			/* overlong '/' */
		{ "\xf4\x90\x80\x80", 4 },		/* past U+10FFFF */
		{ "\xf0\x9f\x98", 3 },			/* emoji cut short */
		{ "12\xe9" "34", 5 },
		{ "  \xa0  ", 5 },
		{ "<|im_end|>\x9f<|im_start|>", 23 },
		{ "caf\xe9", 4 },			/* Latin-1 */
		{ "\0\0\0", 3 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_round_trip(cases[i].s, cases[i].n, 0);
		assert_round_trip(cases[i].s, cases[i].n, AC_TOK_PARSE_SPECIAL);
	}
}

Test(tok_api, unknown_bytes)
{
	/* The 21 byte values SmolLM2's vocabulary has no token for. */
	static const uint8_t none[] = {
		0x04, 0x06, 0x13, 0x14, 0x16, 0x1d, 0xc0, 0xc1, 0xf1, 0xf2,
		0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
	};
	size_t k = 0, n;
	int32_t ids[8];

	for (unsigned b = 0; b < 256; b++) {
		char c = b;
		bool missing = k < sizeof(none) && none[k] == b;

		k += missing;
		cr_assert_eq(ac_tokenizer_unknown_byte(tok, &c, 1, 0), missing ? 0 : 1,
			     "byte 0x%02x", b);
		cr_assert_eq(ac_tokenizer_encode(tok, &c, 1, 0, ids, 8, &n),
			     missing ? -EILSEQ : 0, "byte 0x%02x", b);
	}
	cr_assert_eq(ac_tokenizer_unknown_byte(tok, "ab\xff", 3, 0), 2);
	cr_assert_eq(ac_tokenizer_unknown_byte(tok, NULL, 0, 0), 0);
	cr_assert_eq(ac_tokenizer_encode(tok, "!\x1d!", 3, 0, ids, 8, &n), -EILSEQ);
	cr_assert_eq(ac_tokenizer_encode(tok, "!\x1d!", 3, AC_TOK_DROP_UNKNOWN,
					 ids, 8, &n), 0);
	/* The neighbours of a dropped byte merge, as in Hugging Face. */
	cr_assert_eq(n, 1);
	cr_assert_eq(ids[0], id_of("!!"));
	/* Invalid UTF-8 is a piece of its own, so nothing merges across it. */
	cr_assert_eq(ac_tokenizer_encode(tok, "!\xff!", 3, AC_TOK_DROP_UNKNOWN,
					 ids, 8, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert(ids[0] == id_of("!") && ids[1] == id_of("!"));
}

Test(tok_api, random_bytes_round_trip)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	char buf[96];

	for (int iter = 0; iter < 2000; iter++) {
		size_t len;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		len = x % sizeof(buf);
		for (size_t i = 0; i < len; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			/* Lean on bytes that make and break UTF-8 and specials. */
			static const char pick[] = "a <|>\n\t1\xe2\x82\xac\xf0\x9f\x98\x80\xed\xc3";
			buf[i] = (x >> 32) % 3 ? pick[(x >> 8) % (sizeof(pick) - 1)]
					       : (char)(x >> 40);
		}
		unsigned flags = iter & 1 ? AC_TOK_PARSE_SPECIAL : 0;
		size_t bad = ac_tokenizer_unknown_byte(tok, buf, len, flags);

		if (bad == len) {
			assert_round_trip(buf, len, flags);
			continue;
		}
		/* Drop what cannot be spelt; the rest must come back. */
		char kept[sizeof(buf)], out[sizeof(buf)];
		int32_t ids[sizeof(buf) + 1];
		size_t nk = 0, n, m;

		for (size_t i = 0; i < len; i++)
			if (ac_tokenizer_unknown_byte(tok, buf + i, 1, 0) == 1)
				kept[nk++] = buf[i];
		cr_assert_eq(ac_tokenizer_encode(tok, buf, len, flags, ids,
						 len + 1, &n), -EILSEQ);
		cr_assert_eq(ac_tokenizer_encode(tok, buf, len,
						 flags | AC_TOK_DROP_UNKNOWN,
						 ids, len + 1, &n), 0);
		cr_assert_eq(ac_tokenizer_decode(tok, ids, n, 0, out, sizeof(out),
						 &m), 0);
		cr_assert_eq(m, nk);
		cr_assert_eq(memcmp(out, kept, nk), 0);
	}
}

Test(tok_api, stream_holds_split_characters)
{
	/* "€" is E2 82 AC; give its bytes as three separate byte tokens. */
	int32_t b[3];
	char out[64];
	size_t m;
	struct ac_detok_stream st;
	const char *txt;
	size_t len;

	/* Byte-level spelling of E2, 82, AC: â, Ĥ (0x82 -> U+0124), ¬. */
	cr_assert_eq(ac_tokenizer_find(tok, "\xc3\xa2", 2, &b[0]), 0);
	cr_assert_eq(ac_tokenizer_find(tok, "\xc4\xa4", 2, &b[1]), 0);
	cr_assert_eq(ac_tokenizer_find(tok, "\xc2\xac", 2, &b[2]), 0);
	cr_assert_eq(ac_tokenizer_token_bytes(tok, b[1], &txt, &len), 0);
	cr_assert(len == 1 && (uint8_t)txt[0] == 0x82);

	ac_detok_stream_init(&st, 0);
	cr_assert_eq(ac_detok_stream_push(&st, tok, b[0], out, sizeof(out), &m), 0);
	cr_assert_eq(m, 0);
	cr_assert_eq(ac_detok_stream_push(&st, tok, b[1], out, sizeof(out), &m), 0);
	cr_assert_eq(m, 0);
	cr_assert_eq(ac_detok_stream_push(&st, tok, b[2], out, sizeof(out), &m), 0);
	cr_assert_eq(m, 3);
	cr_assert_eq(memcmp(out, "\xe2\x82\xac", 3), 0);

	/* A tail that never completes comes out at the next token or flush. */
	cr_assert_eq(ac_detok_stream_push(&st, tok, b[0], out, sizeof(out), &m), 0);
	cr_assert_eq(m, 0);
	cr_assert_eq(ac_detok_stream_push(&st, tok, id_of("Ġthe"), out, sizeof(out), &m), 0);
	cr_assert_eq(m, 5);
	cr_assert_eq(memcmp(out, "\xe2 the", 5), 0);
	cr_assert_eq(ac_detok_stream_push(&st, tok, b[0], out, sizeof(out), &m), 0);
	cr_assert_eq(ac_detok_stream_push(&st, tok, b[1], out, sizeof(out), &m), 0);
	cr_assert_eq(ac_detok_stream_flush(&st, out, 1, &m), -ENOSPC);
	cr_assert_eq(ac_detok_stream_flush(&st, out, sizeof(out), &m), 0);
	cr_assert_eq(m, 2);
	cr_assert_eq(memcmp(out, "\xe2\x82", 2), 0);
	cr_assert_eq(ac_detok_stream_flush(&st, out, sizeof(out), &m), 0);
	cr_assert_eq(m, 0);

	/* A lead byte a wrong second byte rules out is not held. */
	int32_t e0, x80;

	cr_assert_eq(ac_tokenizer_find(tok, "\xc3\xa0", 2, &e0), 0);	/* E0 */
	cr_assert_eq(ac_tokenizer_find(tok, "\xc4\xa2", 2, &x80), 0);	/* 80 */
	cr_assert_eq(ac_detok_stream_push(&st, tok, e0, out, sizeof(out), &m), 0);
	cr_assert_eq(m, 0);
	cr_assert_eq(ac_detok_stream_push(&st, tok, x80, out, sizeof(out), &m), 0);
	cr_assert_eq(m, 2);

	/* Too little room: an error, and nothing is lost. */
	cr_assert_eq(ac_detok_stream_push(&st, tok, b[0], out, sizeof(out), &m), 0);
	cr_assert_eq(ac_detok_stream_push(&st, tok, id_of("Ġthe"), out, 2, &m), -ENOSPC);
	cr_assert_eq(ac_detok_stream_push(&st, tok, id_of("Ġthe"), out, sizeof(out), &m), 0);
	cr_assert_eq(m, 5);
	cr_assert_eq(ac_detok_stream_push(&st, tok, 49152, out, sizeof(out), &m), -EINVAL);
}

Test(tok_api, long_inputs)
{
	/* Long single pieces stress the merge loop and the regex engine. */
	static const char unit[] = "Tokenizers split text; BPE merges bytes. "
				   "Ünïcödé, 日本語, emoji 😀 and 12345.\n\t";
	size_t len = 100 * 1024;
	char *s = malloc(len);
	int32_t *ids;
	size_t n;

	cr_assert_not_null(s);
	for (size_t i = 0; i < len; i++)
		s[i] = unit[i % (sizeof(unit) - 1)];
	assert_round_trip(s, len, AC_TOK_PARSE_SPECIAL);

	memset(s, ' ', len);
	ids = enc(s, len, 0, &n);
	cr_assert_lt(n, len / 8, "spaces should merge into long tokens");
	free(ids);
	assert_round_trip(s, len, 0);
	memset(s, 'a', len);
	assert_round_trip(s, len, 0);
	memset(s, '7', len);
	ids = enc(s, len, 0, &n);
	cr_assert_eq(n, len, "digits stay one token each");
	free(ids);
	memset(s, '\x80', len);
	assert_round_trip(s, len, 0);
	memset(s, '\xff', len);
	ids = malloc((len + 1) * sizeof(*ids));
	cr_assert_not_null(ids);
	cr_assert_eq(ac_tokenizer_encode(tok, s, len, AC_TOK_DROP_UNKNOWN, ids,
					 len + 1, &n), 0);
	cr_assert_eq(n, 0);
	free(ids);
	free(s);
}

/* White box: the pieces the smollm and gpt2 pre-tokenizers cut. */
struct pieces {
	char buf[256];
	size_t n;
};

static int collect(void *ctx, const uint8_t *p, size_t n)
{
	struct pieces *pc = ctx;

	pc->n += snprintf(pc->buf + pc->n, sizeof(pc->buf) - pc->n, "[%.*s]",
			  (int)n, (const char *)p);
	return 0;
}

static void assert_pieces(const char *pre_name, const char *s, const char *want)
{
	struct pretok pre;
	struct pieces pc = { .n = 0 };
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);

	cr_assert_not_null(md);
	cr_assert_eq(tok_pretok_init(&pre, pre_name, NULL, 0), 0);
	cr_assert_eq(tok_pretok_split(&pre, md, (const uint8_t *)s, strlen(s),
				      collect, &pc), 0);
	cr_assert_str_eq(pc.buf, want, "%s on '%s'", pre_name, s);
	tok_pretok_fini(&pre);
	pcre2_match_data_free(md);
}

Test(tok_api, pre_tokenizer_pieces)
{
	assert_pieces("smollm", "a 12", "[a][ ][1][2]");
	assert_pieces("gpt2", "a 12", "[a][ 12]");
	assert_pieces("smollm", "Hello  world", "[Hello][ ][ world]");
	assert_pieces("smollm", "I'LL don't", "[I]['][LL][ don]['t]");
	assert_pieces("smollm", "x  \n", "[x][  \n]");
	assert_pieces("starcoder", "v1.2", "[v][1][.][2]");

	struct pretok pre;
	char err[128];

	cr_assert_eq(tok_pretok_init(&pre, "llama3", err, sizeof(err)), -EOPNOTSUPP);
	cr_assert(strstr(err, "tokenizer.ggml.pre") && strstr(err, "llama3"), "%s", err);
}

/*
 * A hand-made vocabulary: the 256 byte tokens, a few merges, one control
 * and one user-defined token. Small enough to break one field at a time.
 */
struct tiny {
	char byte_tok[256][3];
	const char *tokens[262];
	int32_t types[262];
	const char *merges[4];
	struct ac_tokenizer_vocab v;
};

static void tiny_init(struct tiny *t)
{
	unsigned next = 256;

	memset(t, 0, sizeof(*t));
	for (unsigned b = 0; b < 256; b++) {
		bool self = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) ||
			    (b >= 0xae);
		unsigned cp = self ? b : next++;

		if (cp < 0x80) {
			t->byte_tok[b][0] = cp;
		} else {
			t->byte_tok[b][0] = 0xc0 | cp >> 6;
			t->byte_tok[b][1] = 0x80 | (cp & 0x3f);
		}
		t->tokens[b] = t->byte_tok[b];
		t->types[b] = AC_TOKEN_NORMAL;
	}
	t->tokens[256] = "he";
	t->tokens[257] = "ll";
	t->tokens[258] = "hell";
	t->tokens[259] = "hello";
	t->tokens[260] = "<ctl>";
	t->tokens[261] = "<user>";
	for (unsigned i = 256; i < 260; i++)
		t->types[i] = AC_TOKEN_NORMAL;
	t->types[260] = AC_TOKEN_CONTROL;
	t->types[261] = AC_TOKEN_USER_DEFINED;
	t->merges[0] = "h e";
	t->merges[1] = "l l";
	t->merges[2] = "he ll";
	t->merges[3] = "hell o";
	t->v = (struct ac_tokenizer_vocab){
		.tokens = t->tokens, .n_tokens = 262,
		.merges = t->merges, .n_merges = 4,
		.token_types = t->types, .bos_id = 260, .eos_id = -1,
		.pre = "smollm",
	};
}

static void tiny_ids(struct ac_tokenizer *t, const char *s, unsigned flags,
		     const int32_t *want, size_t n_want)
{
	int32_t ids[64];
	size_t n;

	cr_assert_eq(ac_tokenizer_encode(t, s, strlen(s), flags, ids, 64, &n), 0);
	cr_assert_eq(n, n_want, "'%s': %zu ids", s, n);
	cr_assert_arr_eq(ids, want, n * sizeof(*ids), "'%s'", s);
}

Test(tok_tiny, merges_and_verbatim_tokens)
{
	struct tiny t;
	struct ac_tokenizer *tk;
	char err[256];

	tiny_init(&t);
	cr_assert_eq(ac_tokenizer_create(&t.v, &tk, err, sizeof(err)), 0, "%s", err);
	tiny_ids(tk, "hello", 0, (int32_t[]){ 259 }, 1);
	tiny_ids(tk, "hellhe", 0, (int32_t[]){ 258, 256 }, 2);
	tiny_ids(tk, "lll", 0, (int32_t[]){ 257, 'l' }, 2);
	/* User-defined tokens are always matched; control ones on request. */
	tiny_ids(tk, "a<user>b", 0, (int32_t[]){ 'a', 261, 'b' }, 3);
	tiny_ids(tk, "<ctl>", AC_TOK_PARSE_SPECIAL, (int32_t[]){ 260 }, 1);
	tiny_ids(tk, "<ctl>", 0, (int32_t[]){ '<', 'c', 't', 'l', '>' }, 5);
	tiny_ids(tk, "hi", AC_TOK_ADD_BOS, (int32_t[]){ 260, 'h', 'i' }, 3);
	ac_tokenizer_free(tk);

	/* A vocabulary without a byte's token still builds; that byte fails. */
	t.tokens['A'] = "AA";
	cr_assert_eq(ac_tokenizer_create(&t.v, &tk, err, sizeof(err)), 0, "%s", err);
	int32_t one[2];
	size_t n1;

	cr_assert_eq(ac_tokenizer_encode(tk, "hAh", 3, 0, one, 2, &n1), -EILSEQ);
	cr_assert_eq(ac_tokenizer_unknown_byte(tk, "hAh", 3, 0), 1);
	t.tokens['A'] = t.byte_tok['A'];
	cr_assert_eq(ac_tokenizer_eos(tk), -1);
	ac_tokenizer_free(tk);

	/* No types at all: everything is normal, nothing is verbatim. */
	t.v.token_types = NULL;
	cr_assert_eq(ac_tokenizer_create(&t.v, &tk, err, sizeof(err)), 0, "%s", err);
	tiny_ids(tk, "<user>", AC_TOK_PARSE_SPECIAL,
		 (int32_t[]){ '<', 'u', 's', 'e', 'r', '>' }, 6);
	ac_tokenizer_free(tk);

	/* A repeated string keeps its first id. */
	tiny_init(&t);
	t.tokens[261] = "hello";
	t.types[261] = AC_TOKEN_NORMAL;
	cr_assert_eq(ac_tokenizer_create(&t.v, &tk, err, sizeof(err)), 0, "%s", err);
	int32_t id;

	cr_assert_eq(ac_tokenizer_find(tk, "hello", 5, &id), 0);
	cr_assert_eq(id, 259);
	ac_tokenizer_free(tk);
}

static void assert_create_fails(struct tiny *t, int rc, const char *what)
{
	struct ac_tokenizer *tk = (struct ac_tokenizer *)1;
	char err[256];

	cr_assert_eq(ac_tokenizer_create(&t->v, &tk, err, sizeof(err)), rc,
		     "expected %d for %s", rc, what);
	cr_assert_null(tk);
	cr_assert(strstr(err, what), "error '%s' does not name %s", err, what);
}

Test(tok_tiny, bad_vocabularies_are_named)
{
	struct tiny t;

	tiny_init(&t);
	t.merges[1] = "ll";
	assert_create_fails(&t, -EINVAL, "tokenizer.ggml.merges[1]");
	tiny_init(&t);
	t.merges[2] = "he ll o";
	assert_create_fails(&t, -EINVAL, "tokenizer.ggml.merges[2]");
	tiny_init(&t);
	t.merges[3] = "hello o";	/* "helloo" is no token */
	assert_create_fails(&t, -EINVAL, "tokenizer.ggml.merges[3]");
	tiny_init(&t);
	t.merges[0] = "x q";
	assert_create_fails(&t, -EINVAL, "tokenizer.ggml.merges[0]");
	tiny_init(&t);
	t.merges[0] = NULL;
	assert_create_fails(&t, -EINVAL, "tokenizer.ggml.merges[0]");
	tiny_init(&t);
	t.tokens[7] = NULL;
	assert_create_fails(&t, -EINVAL, "tokenizer.ggml.tokens[7]");
	tiny_init(&t);
	t.types[9] = 42;
	assert_create_fails(&t, -EINVAL, "tokenizer.ggml.token_type[9]");
	tiny_init(&t);
	t.v.bos_id = 262;
	assert_create_fails(&t, -EINVAL, "tokenizer.ggml.bos_token_id");
	tiny_init(&t);
	t.v.eos_id = -2;
	assert_create_fails(&t, -EINVAL, "tokenizer.ggml.eos_token_id");
	tiny_init(&t);
	t.v.pre = "qwen2";
	assert_create_fails(&t, -EOPNOTSUPP, "tokenizer.ggml.pre 'qwen2'");
	tiny_init(&t);
	t.v.n_tokens = 0;
	assert_create_fails(&t, -EINVAL, "tokenizer.ggml.tokens");
	tiny_init(&t);
	t.v.merges = NULL;
	assert_create_fails(&t, -EINVAL, "tokenizer.ggml.merges");

	struct ac_tokenizer *tk;

	cr_assert_eq(ac_tokenizer_create(NULL, &tk, NULL, 0), -EINVAL);
	tiny_init(&t);
	cr_assert_eq(ac_tokenizer_create(&t.v, NULL, NULL, 0), -EINVAL);
	/* No error buffer is fine. */
	t.v.pre = "nope";
	cr_assert_eq(ac_tokenizer_create(&t.v, &tk, NULL, 0), -EOPNOTSUPP);
}
