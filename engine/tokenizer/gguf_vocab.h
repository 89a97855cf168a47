/* SPDX-License-Identifier: MIT */
/*
 * A tokenizer and chat format from a GGUF file's tokenizer.* metadata: the
 * glue between the GGUF reader (engine/model) and the tokenizer, shared by
 * asymcache-engine and the benchmarks.
 */
#ifndef AC_TOKENIZER_GGUF_VOCAB_H
#define AC_TOKENIZER_GGUF_VOCAB_H

#include <stddef.h>

#include "chat.h"
#include "tokenizer.h"

/*
 * The byte-level BPE of @path (tokenizer.ggml.tokens, merges, token_type,
 * bos/eos ids, pre) and its ChatML format. @chat stays empty (no default
 * system prompt) when the file has no chat template. -errno with a message
 * in @err naming the file and what is missing or malformed.
 */
int ac_tokenizer_from_gguf(const char *path, struct ac_tokenizer **ret,
			   struct ac_chat_format *chat, char *err,
			   size_t errlen);

#endif /* AC_TOKENIZER_GGUF_VOCAB_H */
