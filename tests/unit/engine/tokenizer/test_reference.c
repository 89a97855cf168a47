/* SPDX-License-Identifier: MIT */
/*
 * The C tokenizer against Hugging Face tokenizers: every case in
 * data/expected.jsonl (tools/tokref/tokref.py) must give identical ids,
 * decode back to its text, and stream back to it chunk by valid chunk.
 * A "lossy" case holds bytes no token spells: it must fail with -EILSEQ,
 * and with AC_TOK_DROP_UNKNOWN give HF's ids and decode to "kept_hex".
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

static struct fixture fx;
static struct ac_tokenizer *tok;
static struct json_object **cases;
static size_t n_cases;

static void setup(void)
{
	fixture_load(&fx);
	tok = fixture_tokenizer(&fx);
	cases = fixture_jsonl("expected.jsonl", &n_cases);
}

static void teardown(void)
{
	fixture_jsonl_free(cases, n_cases);
	ac_tokenizer_free(tok);
	fixture_free(&fx);
}

TestSuite(tok_reference, .init = setup, .fini = teardown);

struct ref_case {
	const char *text;
	size_t len;
	unsigned flags;
	struct json_object *ids;
	bool lossy;
	char *want;		/* what decoding must give back */
	size_t want_len;
	int32_t *got;		/* encode_case(): the ids, n of them */
	size_t n;
	char *out;		/* room for the text, for decoding into */
};

static void get_case(size_t i, struct ref_case *c)
{
	struct json_object *t, *ps, *lossy, *hex;

	cr_assert(json_object_object_get_ex(cases[i], "text", &t));
	cr_assert(json_object_object_get_ex(cases[i], "parse_special", &ps));
	cr_assert(json_object_object_get_ex(cases[i], "ids", &c->ids));
	c->text = json_object_get_string(t);
	c->len = json_object_get_string_len(t);
	c->flags = json_object_get_boolean(ps) ? AC_TOK_PARSE_SPECIAL : 0;
	c->lossy = json_object_object_get_ex(cases[i], "lossy", &lossy) &&
		   json_object_get_boolean(lossy);
	c->want = malloc(c->len + 1);
	cr_assert_not_null(c->want);
	if (!c->lossy) {
		memcpy(c->want, c->text, c->len);
		c->want_len = c->len;
		return;
	}
	c->flags |= AC_TOK_DROP_UNKNOWN;
	cr_assert(json_object_object_get_ex(cases[i], "kept_hex", &hex));
	const char *h = json_object_get_string(hex);

	c->want_len = strlen(h) / 2;
	cr_assert_leq(c->want_len, c->len);
	for (size_t k = 0; k < c->want_len; k++) {
		unsigned v;

		cr_assert_eq(sscanf(h + 2 * k, "%2x", &v), 1);
		c->want[k] = v;
	}
}

/* Case @i, encoded; its ids in c->got. put_case() frees it. */
static void encode_case(size_t i, struct ref_case *c)
{
	get_case(i, c);
	c->got = malloc((c->len + 1) * sizeof(*c->got));
	c->out = malloc(c->len + 1);
	cr_assert(c->got && c->out);
	cr_assert_eq(ac_tokenizer_encode(tok, c->text, c->len, c->flags,
					 c->got, c->len + 1, &c->n), 0,
		     "line %zu", i + 1);
}

static void put_case(struct ref_case *c)
{
	free(c->want);
	free(c->got);
	free(c->out);
}

Test(tok_reference, fixture_is_whole)
{
	/* Guards against a truncated fixture passing vacuously. */
	cr_assert_eq(fx.n_tokens, 49152);
	cr_assert_eq(fx.n_merges, 48900);
	cr_assert_geq(n_cases, 500);
}

Test(tok_reference, ids_match_hugging_face)
{
	size_t bad = 0;

	for (size_t i = 0; i < n_cases; i++) {
		struct ref_case c;
		size_t n, want;

		encode_case(i, &c);
		want = json_object_array_length(c.ids);
		bool same = c.n == want;

		for (size_t k = 0; same && k < c.n; k++)
			same = c.got[k] == json_object_get_int(
					json_object_array_get_idx(c.ids, k));
		if (!same) {
			bad++;
			cr_log_error("expected.jsonl line %zu: %zu ids, want %zu: %s",
				     i + 1, c.n, want,
				     json_object_to_json_string(cases[i]));
		}
		if (c.lossy) {
			cr_assert_eq(ac_tokenizer_encode(tok, c.text, c.len,
					c.flags & ~AC_TOK_DROP_UNKNOWN, c.got,
					c.len + 1, &n), -EILSEQ, "line %zu", i + 1);
			cr_assert_lt(ac_tokenizer_unknown_byte(tok, c.text,
					c.len, c.flags), c.len);
		} else {
			cr_assert_eq(ac_tokenizer_unknown_byte(tok, c.text,
					c.len, c.flags), c.len);
		}
		put_case(&c);
	}
	cr_assert_eq(bad, 0, "%zu of %zu cases differ", bad, n_cases);
}

Test(tok_reference, decode_round_trips)
{
	for (size_t i = 0; i < n_cases; i++) {
		struct ref_case c;
		size_t m;

		encode_case(i, &c);
		cr_assert_eq(ac_tokenizer_decode(tok, c.got, c.n, 0, c.out,
						 c.len + 1, &m), 0);
		cr_assert_eq(m, c.want_len, "line %zu", i + 1);
		cr_assert_eq(memcmp(c.out, c.want, m), 0, "line %zu", i + 1);
		put_case(&c);
	}
}

Test(tok_reference, stream_gives_whole_characters)
{
	size_t cap = ac_tokenizer_max_token_bytes(tok) + AC_DETOK_STREAM_SLACK;
	char *chunk = malloc(cap);

	cr_assert_not_null(chunk);
	for (size_t i = 0; i < n_cases; i++) {
		struct ac_detok_stream st;
		struct ref_case c;
		size_t m, at = 0;

		encode_case(i, &c);
		ac_detok_stream_init(&st, 0);
		for (size_t k = 0; k < c.n; k++) {
			cr_assert_eq(ac_detok_stream_push(&st, tok, c.got[k], chunk,
							  cap, &m), 0);
			/*
			 * The reference texts are valid UTF-8, so every
			 * chunk must be too: no character split in two.
			 * (Dropping bytes can break characters.)
			 */
			cr_assert(c.lossy || test_utf8_valid(chunk, m),
				  "line %zu token %zu: split character", i + 1, k);
			cr_assert_leq(at + m, c.want_len);
			memcpy(c.out + at, chunk, m);
			at += m;
		}
		cr_assert_eq(ac_detok_stream_flush(&st, chunk, cap, &m), 0);
		cr_assert(c.lossy || m == 0, "line %zu: held bytes at the end", i + 1);
		memcpy(c.out + at, chunk, m);
		at += m;
		cr_assert_eq(at, c.want_len);
		cr_assert_eq(memcmp(c.out, c.want, at), 0);
		put_case(&c);
	}
	free(chunk);
}
