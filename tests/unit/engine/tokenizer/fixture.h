/* SPDX-License-Identifier: MIT */
/* The SmolLM2 vocabulary fixture in data/, as the GGUF glue will pass it. */
#ifndef TOK_TEST_FIXTURE_H
#define TOK_TEST_FIXTURE_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

struct fixture {
	char *vocab_buf, *merges_buf;
	const char **tokens, **merges;
	uint32_t n_tokens, n_merges;
	int32_t *types;
	struct json_object *meta;
	struct ac_tokenizer_vocab vocab;
	const char *chat_template;
};

/* Loads data/ or fails the current test. */
void fixture_load(struct fixture *f);
void fixture_free(struct fixture *f);
/* A tokenizer over the fixture; fails the current test on error. */
struct ac_tokenizer *fixture_tokenizer(const struct fixture *f);

/* data/NAME parsed one JSON object a line; fails the test on error. */
struct json_object **fixture_jsonl(const char *name, size_t *n);
void fixture_jsonl_free(struct json_object **v, size_t n);

/* Reads a whole file; NULL on error. */
char *fixture_read(const char *name, size_t *len);

/* Strict UTF-8 check, independent of the tokenizer's own. */
int test_utf8_valid(const char *p, size_t n);

#endif
