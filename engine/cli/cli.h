/* SPDX-License-Identifier: MIT */
/* asymcache-engine's commands and what they share. */
#ifndef AC_ENGINE_CLI_H
#define AC_ENGINE_CLI_H

#include <stdint.h>

#include "gguf_vocab.h"
#include "runner.h"

int cli_generate_main(int argc, char **argv);
int cli_replay_main(int argc, char **argv);
int cli_tokenize_main(int argc, char **argv);

/* A model ready to serve: weights on the backend, tokenizer if the file has one. */
struct cli_model {
	struct ac_model *m;
	const struct ac_model_config *cfg;
	struct ac_tokenizer *tok;	/* NULL for shapes (seeded weights) */
	struct ac_chat_format chat;
};

/*
 * Load @src (a .gguf file, a Hugging Face directory or a shape name) for
 * @device with room for @max_rows rows a pass; errors are printed.
 */
int cli_model_open(const char *src, uint64_t seed, enum ac_fwd_backend device,
		   uint32_t max_rows, struct cli_model *cm);
void cli_model_close(struct cli_model *cm);

/* Option values; each prints what it expected and returns -EINVAL. */
int cli_parse_reuse(const char *s, enum ac_reuse *r);
int cli_parse_device(const char *s, enum ac_fwd_backend *d);
int cli_parse_order(const char *s, enum ac_order *o);
/* adaptive -> 0; fixed:N -> N. */
int cli_parse_chunking(const char *s, uint32_t *chunk_tokens);
const char *cli_reuse_name(enum ac_reuse r);
const char *cli_order_name(enum ac_order o);

/* What ac_runner_create()'s error means to a user of @socket. */
void cli_runner_error(const char *socket, int e);

#endif
