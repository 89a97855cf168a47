/* SPDX-License-Identifier: MIT */
/*
 * ChatML prompts, the format SmolLM2-Instruct (and Qwen, and others) use:
 *
 *	<|im_start|>ROLE\nCONTENT<|im_end|>\n   per message, then
 *	<|im_start|>assistant\n                 for a generation prompt.
 *
 * A model's tokenizer.chat_template is Jinja; rather than run Jinja, the
 * engine recognises a ChatML template and takes from it the one thing that
 * varies, the system prompt it inserts when the first message is not a
 * system message.
 */
#ifndef AC_ENGINE_CHAT_H
#define AC_ENGINE_CHAT_H

#include <stdbool.h>
#include <stddef.h>

struct ac_chat_msg {
	const char *role;	/* "system", "user", "assistant", ... */
	const char *content;
};

struct ac_chat_format {
	char *default_system;	/* NULL: the template inserts none */
};

/*
 * Fills @fmt from tokenizer.chat_template text @tmpl. Returns 0, -EINVAL
 * (NULL argument), -ENOMEM, or -EOPNOTSUPP when @tmpl is not a ChatML
 * template of the shape above; @err (may be NULL) then says why.
 */
int ac_chat_format_from_template(const char *tmpl, struct ac_chat_format *fmt,
				 char *err, size_t errlen);
void ac_chat_format_release(struct ac_chat_format *fmt);

/*
 * Renders @n messages (and the assistant header when
 * @add_generation_prompt) into @out, NUL-terminated. *@n_out is the
 * length without the NUL. Returns 0, -EINVAL for a NULL role or content,
 * or -ENOSPC when @cap is below *@n_out + 1 (out may be NULL then).
 * Content is copied verbatim: encode the prompt with
 * AC_TOK_PARSE_SPECIAL and a "<|im_end|>" typed by a user becomes a real
 * control token.
 */
int ac_chat_render(const struct ac_chat_format *fmt,
		   const struct ac_chat_msg *msgs, size_t n,
		   bool add_generation_prompt, char *out, size_t cap,
		   size_t *n_out);

#endif
