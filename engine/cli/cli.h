/* SPDX-License-Identifier: MIT */
#ifndef AC_ENGINE_CLI_H
#define AC_ENGINE_CLI_H

#include <stddef.h>

#include "chat.h"
#include "tokenizer.h"

/*
 * The tokenizer and chat format of a GGUF model. @chat stays empty (no
 * default system prompt) when the file has no chat template.
 */
int cli_tokenizer_from_gguf(const char *path, struct ac_tokenizer **ret,
			    struct ac_chat_format *chat, char *err,
			    size_t errlen);

int cli_generate_main(int argc, char **argv);

#endif
