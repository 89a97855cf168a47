/* SPDX-License-Identifier: MIT */
/* The prompts file of engine_logits (prompts.h): JSON lines via json-c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "prompts.h"

static void prompt_release(struct el_prompt *p)
{
	free(p->name);
	free(p->ids);
	free(p->text);
	for (size_t i = 0; i < p->n_msgs; i++) {
		free((char *)p->msgs[i].role);
		free((char *)p->msgs[i].content);
	}
	free(p->msgs);
}

void el_prompts_free(struct el_prompts *p)
{
	for (size_t i = 0; p && i < p->n; i++)
		prompt_release(&p->v[i]);
	if (p) {
		free(p->v);
		p->v = NULL;
		p->n = 0;
	}
}

static int get_string(json_object *o, const char *key, char **ret)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return -EINVAL;
	*ret = strdup(json_object_get_string(v));
	return *ret ? 0 : -ENOMEM;
}

static int get_ids(json_object *o, struct el_prompt *p)
{
	json_object *a, *e;
	size_t n;

	if (!json_object_object_get_ex(o, "ids", &a) ||
	    !json_object_is_type(a, json_type_array))
		return -EINVAL;
	n = json_object_array_length(a);
	if (!n || n > INT32_MAX)
		return -EINVAL;
	p->ids = malloc(n * sizeof(*p->ids));
	if (!p->ids)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int64_t id;

		e = json_object_array_get_idx(a, i);
		if (!json_object_is_type(e, json_type_int))
			return -EINVAL;
		id = json_object_get_int64(e);
		if (id < 0 || id > INT32_MAX)
			return -EINVAL;
		p->ids[i] = (int32_t)id;
	}
	p->n_ids = (uint32_t)n;
	return 0;
}

static int get_messages(json_object *a, struct el_prompt *p)
{
	size_t n = json_object_array_length(a);
	int r;

	p->msgs = calloc(n ? n : 1, sizeof(*p->msgs));
	if (!p->msgs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(a, i);
		char *role = NULL, *content = NULL;

		if (!json_object_is_type(m, json_type_object))
			return -EINVAL;
		r = get_string(m, "role", &role);
		if (!r)
			r = get_string(m, "content", &content);
		p->msgs[i].role = role;
		p->msgs[i].content = content;
		p->n_msgs = i + 1;
		if (r < 0)
			return r;
	}
	return 0;
}

/* One line into @p; on error *@field says what was wrong. */
static int parse_line(const char *line, struct el_prompt *p,
		      const char **field)
{
	json_object *o, *v;
	int64_t n_gen;
	int r;

	*field = "not a JSON object";
	o = json_tokener_parse(line);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EINVAL;
	}
	*field = "missing or bad \"name\" (a string)";
	r = get_string(o, "name", &p->name);
	if (!r) {
		*field = "missing or bad \"ids\" (a non-empty array of ids >= 0)";
		r = get_ids(o, p);
	}
	if (!r) {
		*field = "missing or bad \"n_gen\" (an integer in 1..65536)";
		r = -EINVAL;
		if (json_object_object_get_ex(o, "n_gen", &v) &&
		    json_object_is_type(v, json_type_int)) {
			n_gen = json_object_get_int64(v);
			if (n_gen >= 1 && n_gen <= 65536) {
				p->n_gen = (uint32_t)n_gen;
				r = 0;
			}
		}
	}
	if (!r && json_object_object_get_ex(o, "text", &v)) {
		*field = "bad \"text\" (a string)";
		r = get_string(o, "text", &p->text);
	}
	if (!r && json_object_object_get_ex(o, "messages", &v)) {
		*field = "bad \"messages\" (an array of {role, content} strings, not with \"text\")";
		r = json_object_is_type(v, json_type_array) && !p->text ?
			get_messages(v, p) : -EINVAL;
	}
	json_object_put(o);
	return r;
}

int el_prompts_read(const char *path, struct el_prompts *ret, char *err,
		    size_t errlen)
{
	struct el_prompts ps = { 0 };
	const char *field = "";
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;
	FILE *f;
	int r = 0;

	f = fopen(path, "r");
	if (!f) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		struct el_prompt *v;

		lineno++;
		if (len <= 1)
			continue;
		v = realloc(ps.v, (ps.n + 1) * sizeof(*v));
		if (!v) {
			r = -ENOMEM;
			break;
		}
		ps.v = v;
		memset(&ps.v[ps.n], 0, sizeof(ps.v[0]));
		r = parse_line(line, &ps.v[ps.n], &field);
		ps.n++;
		if (r < 0) {
			snprintf(err, errlen, "%s:%zu: %s", path,
				 lineno, field);
			break;
		}
	}
	if (!r && ferror(f)) {
		r = -EIO;
		snprintf(err, errlen, "%s: read error", path);
	}
	if (!r && !ps.n) {
		r = -EINVAL;
		snprintf(err, errlen, "%s: no prompt in the file", path);
	}
	free(line);
	fclose(f);
	if (r < 0)
		el_prompts_free(&ps);
	else
		*ret = ps;
	return r;
}
