/* SPDX-License-Identifier: MIT */
/*
 * asymcache-engine tokenize: chats as JSON lines ({"timestamp": ms,
 * "system": text, "user": text, "output_length": n}) rendered with the
 * model's chat template and tokenized, written as a replay trace with
 * literal "tokens". Equal system prompts and documents give equal token
 * prefixes, which is what the pool shares.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: asymcache-engine tokenize -m MODEL.gguf [CHATS [TRACE]]\n"
"\n"
"Reads chats as JSON lines (\"timestamp\" ms, \"system\" and \"user\" text,\n"
"\"output_length\"), renders each with the model's chat template,\n"
"tokenizes it and writes a replay trace with literal \"tokens\"\n"
"(stdin and stdout by default).\n");
}

static int get_text(struct json_object *o, const char *k, const char **ret)
{
	struct json_object *v;

	*ret = NULL;
	if (!json_object_object_get_ex(o, k, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -EINVAL;
	*ret = json_object_get_string(v);
	return 0;
}

static int get_uint(struct json_object *o, const char *k, int64_t *ret)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -EINVAL;
	*ret = json_object_get_int64(v);
	return *ret >= 0 && *ret <= UINT32_MAX ? 0 : -EINVAL;
}

/* One chat line to one trace line; the message names the field. */
static int convert(const struct cli_model *cm, const char *line,
		   FILE *out, const char **why)
{
	struct json_object *o = json_tokener_parse(line), *rec = NULL, *arr;
	struct ac_chat_msg msgs[2];
	const char *sys, *user;
	char *text = NULL;
	int32_t *ids = NULL;
	size_t len = 0, n = 0, nm = 0;
	int64_t ts, outlen;
	int r = -EINVAL;

	*why = "not a JSON object";
	if (!o || !json_object_is_type(o, json_type_object))
		goto out;
	*why = "timestamp: missing or not an integer in 0..2^32-1";
	if (get_uint(o, "timestamp", &ts) < 0)
		goto out;
	*why = "output_length: missing or not an integer in 0..2^32-1";
	if (get_uint(o, "output_length", &outlen) < 0)
		goto out;
	*why = "system: not a string";
	if (get_text(o, "system", &sys) < 0)
		goto out;
	*why = "user: missing or not a string";
	if (get_text(o, "user", &user) < 0 || !user)
		goto out;
	if (sys)
		msgs[nm++] = (struct ac_chat_msg){ "system", sys };
	msgs[nm++] = (struct ac_chat_msg){ "user", user };
	*why = "the chat template failed";
	ac_chat_render(&cm->chat, msgs, nm, true, NULL, 0, &len);
	text = malloc(len + 1);
	ids = malloc(sizeof(*ids) * (len + 2));
	r = -ENOMEM;
	if (!text || !ids)
		goto out;
	r = ac_chat_render(&cm->chat, msgs, nm, true, text, len + 1, &len);
	if (r < 0)
		goto out;
	*why = "tokenization failed";
	r = ac_tokenizer_encode(cm->tok, text, len, AC_TOK_PARSE_SPECIAL, ids,
				len + 2, &n);
	if (r < 0)
		goto out;
	r = -ENOMEM;
	rec = json_object_new_object();
	arr = json_object_new_array_ext((int)n);
	if (!rec || !arr) {
		json_object_put(arr);
		goto out;
	}
	json_object_object_add(rec, "timestamp", json_object_new_int64(ts));
	json_object_object_add(rec, "input_length", json_object_new_int64((int64_t)n));
	json_object_object_add(rec, "output_length", json_object_new_int64(outlen));
	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, json_object_new_int(ids[i]));
	json_object_object_add(rec, "tokens", arr);
	fprintf(out, "%s\n", json_object_to_json_string_ext(rec,
			JSON_C_TO_STRING_PLAIN));
	r = 0;
out:
	json_object_put(o);
	json_object_put(rec);
	free(text);
	free(ids);
	return r;
}

int cli_tokenize_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *model = NULL, *why;
	FILE *in = stdin, *out = stdout;
	struct cli_model cm = { 0 };
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t got;
	int c, r = -EINVAL;

	while ((c = getopt_long(argc, argv, "m:h", lo, NULL)) != -1) {
		switch (c) {
		case 'm': model = optarg; break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, "Try 'asymcache-engine tokenize --help'.\n");
			return 2;
		}
	}
	if (!model || argc - optind > 2) {
		fprintf(stderr, "asymcache-engine: tokenize takes -m MODEL.gguf and at most CHATS and TRACE\n");
		return 2;
	}
	if (optind < argc && !(in = fopen(argv[optind], "re"))) {
		fprintf(stderr, "asymcache-engine: %s: %s\n", argv[optind],
			strerror(errno));
		return 1;
	}
	if (optind + 1 < argc && !(out = fopen(argv[optind + 1], "we"))) {
		fprintf(stderr, "asymcache-engine: %s: %s\n", argv[optind + 1],
			strerror(errno));
		goto out;
	}
	/* The tokenizer is all that is needed: the smallest model rows. */
	r = cli_model_open(model, 1, AC_FWD_CPU, 1, &cm);
	if (r < 0)
		goto out;
	if (!cm.tok) {
		fprintf(stderr, "asymcache-engine: %s has no tokenizer (a .gguf file has one)\n",
			model);
		r = -EINVAL;
		goto out;
	}
	while ((got = getline(&line, &cap, in)) > 0) {
		lineno++;
		if (strspn(line, " \t\r\n") == (size_t)got)
			continue;
		r = convert(&cm, line, out, &why);
		if (r < 0) {
			fprintf(stderr, "asymcache-engine: %s: line %zu: %s\n",
				optind < argc ? argv[optind] : "stdin", lineno,
				r == -ENOMEM ? strerror(ENOMEM) : why);
			goto out;
		}
	}
	r = fflush(out) ? -errno : 0;
out:
	cli_model_close(&cm);
	free(line);
	if (in != stdin)
		fclose(in);
	if (out != stdout && fclose(out) && !r)
		r = -errno;
	return r < 0 ? 1 : 0;
}
