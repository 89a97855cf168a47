/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "errmsg.h"

#define IM_START	"<|im_start|>"
#define IM_END		"<|im_end|>"
#define SYSTEM_HEAD	IM_START "system\n"
#define GEN_PROMPT	IM_START "assistant\n"

static int unsupported(char *err, size_t errlen, const char *why)
{
	return ac_model_err(err, errlen, -EOPNOTSUPP,
			    "tokenizer.chat_template: %s", why);
}

/* The template must say each of these, in some spelling, to be ChatML. */
static bool mentions(const char *t, const char *a, const char *b)
{
	return strstr(t, a) || (b && strstr(t, b));
}

int ac_chat_format_from_template(const char *tmpl, struct ac_chat_format *fmt,
				 char *err, size_t errlen)
{
	const char *sys, *end, *bad;
	char *copy;

	if (err && errlen)
		err[0] = '\0';
	if (!tmpl || !fmt)
		return -EINVAL;
	fmt->default_system = NULL;
	if (!strstr(tmpl, IM_START) || !strstr(tmpl, IM_END))
		return unsupported(err, errlen, "no <|im_start|>/<|im_end|>: not ChatML");
	if (!mentions(tmpl, "message['role']", "message.role") ||
	    !mentions(tmpl, "message['content']", "message.content"))
		return unsupported(err, errlen,
				   "messages are not rendered as role and content");
	if (!strstr(tmpl, "add_generation_prompt") || !strstr(tmpl, GEN_PROMPT))
		return unsupported(err, errlen,
				   "no '<|im_start|>assistant\\n' generation prompt");
	/* Templates with tools, images or thinking need more than this. */
	if (strstr(tmpl, "tools") || strstr(tmpl, "tool_calls") ||
	    strstr(tmpl, "<think>"))
		return unsupported(err, errlen, "tool or reasoning markup");

	sys = strstr(tmpl, SYSTEM_HEAD);
	if (!sys)
		return 0;
	sys += strlen(SYSTEM_HEAD);
	end = strstr(sys, IM_END);
	bad = strpbrk(sys, "'\"\\{}");
	/* Inside a Jinja string literal: no quote, escape or expression. */
	if (!end || (bad && bad < end))
		return unsupported(err, errlen,
				   "the default system prompt is not one plain literal");
	copy = strndup(sys, end - sys);
	if (!copy)
		return -ENOMEM;
	fmt->default_system = copy;
	return 0;
}

void ac_chat_format_release(struct ac_chat_format *fmt)
{
	if (!fmt)
		return;
	free(fmt->default_system);
	fmt->default_system = NULL;
}

struct sink {
	char *out;
	size_t cap, n;
};

static void put(struct sink *s, const char *p)
{
	size_t len = strlen(p);

	if (len && s->n < s->cap)
		memcpy(s->out + s->n, p, len < s->cap - s->n ? len : s->cap - s->n);
	s->n += len;
}

static void put_msg(struct sink *s, const char *role, const char *content)
{
	put(s, IM_START);
	put(s, role);
	put(s, "\n");
	put(s, content);
	put(s, IM_END "\n");
}

int ac_chat_render(const struct ac_chat_format *fmt,
		   const struct ac_chat_msg *msgs, size_t n,
		   bool add_generation_prompt, char *out, size_t cap,
		   size_t *n_out)
{
	struct sink s = { .out = out, .cap = cap };

	if (!fmt || !n_out || (!msgs && n) || (!out && cap))
		return -EINVAL;
	*n_out = 0;
	for (size_t i = 0; i < n; i++)
		if (!msgs[i].role || !msgs[i].content)
			return -EINVAL;

	/* As the template does: only a first non-system message adds it. */
	if (n && fmt->default_system && strcmp(msgs[0].role, "system"))
		put_msg(&s, "system", fmt->default_system);
	for (size_t i = 0; i < n; i++)
		put_msg(&s, msgs[i].role, msgs[i].content);
	if (add_generation_prompt)
		put(&s, GEN_PROMPT);

	*n_out = s.n;
	if (s.n >= cap)
		return -ENOSPC;
	out[s.n] = '\0';
	return 0;
}
