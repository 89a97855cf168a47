/* SPDX-License-Identifier: MIT */
/*
 * ChatML rendering against the model's own template as jinja2 renders it
 * (data/chat.jsonl from tools/tokref/tokref.py), and the template
 * recognition around it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "fixture.h"

static struct fixture fx;

static void setup(void)
{
	fixture_load(&fx);
}

static void teardown(void)
{
	fixture_free(&fx);
}

TestSuite(tok_chat, .init = setup, .fini = teardown);

Test(tok_chat, default_system_from_template)
{
	struct ac_chat_format fmt;
	char err[128];

	cr_assert_eq(ac_chat_format_from_template(fx.chat_template, &fmt, err,
						  sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(fmt.default_system,
			 "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
	ac_chat_format_release(&fmt);
	cr_assert_null(fmt.default_system);
	ac_chat_format_release(&fmt);
}

Test(tok_chat, renders_like_jinja)
{
	struct ac_chat_format fmt;
	struct json_object **cases;
	size_t n_cases;

	cr_assert_eq(ac_chat_format_from_template(fx.chat_template, &fmt, NULL, 0), 0);
	cases = fixture_jsonl("chat.jsonl", &n_cases);
	cr_assert_geq(n_cases, 20);
	for (size_t i = 0; i < n_cases; i++) {
		struct json_object *jm, *jg, *jp;
		struct ac_chat_msg msgs[8];
		size_t n, len, need;
		char *out;

		cr_assert(json_object_object_get_ex(cases[i], "messages", &jm));
		cr_assert(json_object_object_get_ex(cases[i], "add_generation_prompt", &jg));
		cr_assert(json_object_object_get_ex(cases[i], "prompt", &jp));
		n = json_object_array_length(jm);
		cr_assert_leq(n, 8);
		for (size_t k = 0; k < n; k++) {
			struct json_object *m = json_object_array_get_idx(jm, k), *r, *c;

			cr_assert(json_object_object_get_ex(m, "role", &r));
			cr_assert(json_object_object_get_ex(m, "content", &c));
			msgs[k].role = json_object_get_string(r);
			msgs[k].content = json_object_get_string(c);
		}
		len = json_object_get_string_len(jp);
		cr_assert_eq(ac_chat_render(&fmt, msgs, n, json_object_get_boolean(jg),
					    NULL, 0, &need), -ENOSPC);
		cr_assert_eq(need, len, "chat.jsonl line %zu", i + 1);
		out = malloc(need + 1);
		cr_assert_not_null(out);
		cr_assert_eq(ac_chat_render(&fmt, msgs, n, json_object_get_boolean(jg),
					    out, need + 1, &need), 0);
		cr_assert_str_eq(out, json_object_get_string(jp),
				 "chat.jsonl line %zu", i + 1);
		/* One byte short: the NUL has no room. */
		cr_assert_eq(ac_chat_render(&fmt, msgs, n, json_object_get_boolean(jg),
					    out, need, &need), -ENOSPC);
		free(out);
	}
	fixture_jsonl_free(cases, n_cases);
	ac_chat_format_release(&fmt);
}

Test(tok_chat, prompt_encodes_with_control_tokens)
{
	struct ac_tokenizer *tok = fixture_tokenizer(&fx);
	struct ac_chat_format fmt;
	struct ac_chat_msg m = { "user", "Hi" };
	char prompt[512];
	int32_t ids[512];
	size_t len, n, starts = 0, ends = 0;

	cr_assert_eq(ac_chat_format_from_template(fx.chat_template, &fmt, NULL, 0), 0);
	cr_assert_eq(ac_chat_render(&fmt, &m, 1, true, prompt, sizeof(prompt), &len), 0);
	cr_assert_eq(ac_tokenizer_encode(tok, prompt, len, AC_TOK_PARSE_SPECIAL,
					 ids, 512, &n), 0);
	for (size_t i = 0; i < n; i++) {
		starts += ids[i] == ac_tokenizer_bos(tok);
		ends += ids[i] == ac_tokenizer_eos(tok);
	}
	cr_assert_eq(starts, 3);
	cr_assert_eq(ends, 2);
	cr_assert_eq(ids[0], 1);
	ac_chat_format_release(&fmt);
	ac_tokenizer_free(tok);
}

Test(tok_chat, bad_arguments)
{
	struct ac_chat_format fmt = { NULL };
	struct ac_chat_msg bad[] = { { "user", NULL } }, bad2[] = { { NULL, "x" } };
	char out[64];
	size_t n = 5;

	cr_assert_eq(ac_chat_render(&fmt, bad, 1, false, out, sizeof(out), &n), -EINVAL);
	cr_assert_eq(ac_chat_render(&fmt, bad2, 1, false, out, sizeof(out), &n), -EINVAL);
	cr_assert_eq(ac_chat_render(&fmt, NULL, 1, false, out, sizeof(out), &n), -EINVAL);
	cr_assert_eq(ac_chat_render(NULL, NULL, 0, false, out, sizeof(out), &n), -EINVAL);
	cr_assert_eq(ac_chat_render(&fmt, NULL, 0, false, out, sizeof(out), NULL), -EINVAL);
	cr_assert_eq(ac_chat_render(&fmt, NULL, 0, false, out, sizeof(out), &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_str_eq(out, "");
	cr_assert_eq(ac_chat_format_from_template(NULL, &fmt, NULL, 0), -EINVAL);
	cr_assert_eq(ac_chat_format_from_template("x", NULL, NULL, 0), -EINVAL);
}

static void assert_unsupported(const char *tmpl, const char *why)
{
	struct ac_chat_format fmt;
	char err[160];

	cr_assert_eq(ac_chat_format_from_template(tmpl, &fmt, err, sizeof(err)),
		     -EOPNOTSUPP, "%s", tmpl);
	cr_assert_null(fmt.default_system);
	cr_assert(strstr(err, "tokenizer.chat_template") && strstr(err, why),
		  "'%s' lacks '%s'", err, why);
}

Test(tok_chat, templates_it_does_not_know)
{
	/* Llama 3 style headers. */
	assert_unsupported("{% for message in messages %}<|start_header_id|>"
			   "{{ message['role'] }}<|end_header_id|>\n\n"
			   "{{ message['content'] }}<|eot_id|>{% endfor %}",
			   "not ChatML");
	assert_unsupported("<|im_start|>{{ messages }}<|im_end|>", "role and content");
	assert_unsupported("{% for message in messages %}<|im_start|>"
			   "{{ message['role'] }}\n{{ message['content'] }}"
			   "<|im_end|>\n{% endfor %}", "generation prompt");
	assert_unsupported("{{ '<|im_start|>system\nHi {{ name }}<|im_end|>\n' }}"
			   "{{ message.role }}{{ message.content }}"
			   "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
			   "plain literal");
}

Test(tok_chat, chatml_without_default_system)
{
	struct ac_chat_format fmt;
	struct ac_chat_msg m = { "user", "yo" };
	char out[128];
	size_t n;

	cr_assert_eq(ac_chat_format_from_template(
		"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
		"message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
		"{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
		&fmt, NULL, 0), 0);
	cr_assert_null(fmt.default_system);
	cr_assert_eq(ac_chat_render(&fmt, &m, 1, true, out, sizeof(out), &n), 0);
	cr_assert_str_eq(out, "<|im_start|>user\nyo<|im_end|>\n<|im_start|>assistant\n");
}
