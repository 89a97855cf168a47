/* SPDX-License-Identifier: MIT */
/*
 * The prompts engine_logits runs, read from the JSON-lines file that
 * tools/hfref/hfref.py writes, so the engine and Hugging Face start from
 * the very same token ids. One object a line:
 *
 *	{"name": "capital", "ids": [1, 2, ...], "n_gen": 32,
 *	 "messages": [{"role": "user", "content": "..."}]}   (chat prompt)
 *	{"name": "plain", "ids": [...], "n_gen": 32, "text": "..."}
 *
 * "messages" or "text" are optional: with one, engine_logits also encodes
 * the prompt with the engine's own chat renderer and tokenizer and says
 * whether that gives the same ids.
 */
#ifndef AC_BENCH_ENGINE_PROMPTS_H
#define AC_BENCH_ENGINE_PROMPTS_H

#include <stddef.h>
#include <stdint.h>

#include "chat.h"

struct el_prompt {
	char *name;
	int32_t *ids;
	uint32_t n_ids;
	uint32_t n_gen;
	char *text;			/* NULL unless a plain prompt */
	struct ac_chat_msg *msgs;	/* NULL unless a chat prompt */
	size_t n_msgs;
};

struct el_prompts {
	struct el_prompt *v;
	size_t n;
};

/*
 * Reads @path. Returns 0, -ENOMEM, the errno of opening or reading it, or
 * -EINVAL for a line that is not an object of the shape above; @err then
 * names the file, the line and the field.
 */
int el_prompts_read(const char *path, struct el_prompts *ret, char *err,
		    size_t errlen);
void el_prompts_free(struct el_prompts *p);

#endif
