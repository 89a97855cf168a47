/* SPDX-License-Identifier: MIT */
/*
 * ac_tokenizer_from_gguf: the tokenizer built from the SmolLM2 GGUF's
 * metadata encodes every reference string as the fixture's vocabulary does
 * (the fixture was written from the same file), and a file that is not a
 * GGUF is refused with its name.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "gguf_vocab.h"

static const char *model_path(char *buf, size_t len)
{
	const char *root = getenv("AC_SOURCE_ROOT");

	snprintf(buf, len, "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf",
		 root ? root : ".");
	return buf;
}

Test(gguf_vocab, same_ids_as_the_fixture)
{
	struct ac_chat_format chat = { 0 };
	struct ac_tokenizer *tok = NULL, *ref;
	struct json_object **cases;
	struct fixture f;
	char path[512], err[256] = "";
	size_t n;

	if (access(model_path(path, sizeof(path)), R_OK) != 0)
		cr_skip_test("%s is not there (scripts/fetch-model.sh)", path);
	cr_assert_eq(ac_tokenizer_from_gguf(path, &tok, &chat, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_not_null(chat.default_system, "the chat template's system prompt");
	fixture_load(&f);
	ref = fixture_tokenizer(&f);
	cases = fixture_jsonl("expected.jsonl", &n);
	for (size_t i = 0; i < n; i++) {
		const char *text = json_object_get_string(
			json_object_object_get(cases[i], "text"));
		size_t len = strlen(text), na = 0, nb = 0;
		int32_t *a = malloc(sizeof(*a) * (len + 1));
		int32_t *b = malloc(sizeof(*b) * (len + 1));
		int ra = ac_tokenizer_encode(tok, text, len, AC_TOK_PARSE_SPECIAL,
					     a, len + 1, &na);
		int rb = ac_tokenizer_encode(ref, text, len, AC_TOK_PARSE_SPECIAL,
					     b, len + 1, &nb);

		cr_assert_eq(ra, rb, "case %zu", i);
		cr_assert_eq(na, nb, "case %zu", i);
		cr_assert_arr_eq(a, b, na * sizeof(*a), "case %zu", i);
		free(a);
		free(b);
	}
	fixture_jsonl_free(cases, n);
	ac_tokenizer_free(ref);
	fixture_free(&f);
	ac_tokenizer_free(tok);
	ac_chat_format_release(&chat);
}

Test(gguf_vocab, not_a_gguf_is_refused_by_name)
{
	struct ac_chat_format chat = { 0 };
	struct ac_tokenizer *tok = NULL;
	char err[256] = "";
	char path[] = "/tmp/ac-vocab-XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "not a model file at all", 23), 23);
	close(fd);
	cr_assert_lt(ac_tokenizer_from_gguf(path, &tok, &chat, err, sizeof(err)), 0);
	cr_assert_null(tok);
	cr_assert_not_null(strstr(err, path), "message \"%s\" lacks the path", err);
	unlink(path);
}
