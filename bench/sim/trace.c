/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

static int get_u32(struct json_object *o, const char *key, uint32_t *ret)
{
	struct json_object *v;
	int64_t x;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -EINVAL;
	x = json_object_get_int64(v);
	if (x < 0 || x > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)x;
	return 0;
}

static int parse_line(const char *line, struct sim_trace *t, size_t *pool_n,
		      size_t *pool_cap)
{
	struct json_object *o, *ids;
	struct sim_req *r = &t->reqs[t->n];
	uint32_t ts;
	size_t n;
	int ret = -EINVAL;

	o = json_tokener_parse(line);
	if (!o)
		return -EINVAL;
	if (get_u32(o, "timestamp", &ts) < 0 ||
	    get_u32(o, "input_length", &r->input) < 0 ||
	    get_u32(o, "output_length", &r->output) < 0)
		goto out;
	if (!json_object_object_get_ex(o, "hash_ids", &ids) ||
	    !json_object_is_type(ids, json_type_array))
		goto out;
	n = json_object_array_length(ids);
	/* Every prompt block has an id; a 0-token prompt is not a request. */
	if (!r->input || n != (r->input + 511) / 512)
		goto out;
	if (*pool_n + n > *pool_cap) {
		size_t cap = (*pool_cap ? *pool_cap * 2 : 1 << 16) + n;
		uint32_t *p = realloc(t->hash_pool, cap * sizeof(*p));

		if (!p) {
			ret = -ENOMEM;
			goto out;
		}
		t->hash_pool = p;
		*pool_cap = cap;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(ids, i);
		int64_t x;

		if (!json_object_is_type(v, json_type_int))
			goto out;
		x = json_object_get_int64(v);
		if (x < 0 || x >= UINT32_MAX)
			goto out;
		t->hash_pool[*pool_n + i] = (uint32_t)x;
		if ((uint32_t)x > t->max_hash)
			t->max_hash = (uint32_t)x;
	}
	r->arrival_s = ts / 1000.0;
	r->nhash = (uint32_t)n;
	r->hash = (uint32_t *)(uintptr_t)*pool_n;	/* fixed up at the end */
	*pool_n += n;
	t->n++;
	ret = 0;
out:
	json_object_put(o);
	return ret;
}

int sim_trace_load(const char *path, size_t limit, struct sim_trace *ret)
{
	struct sim_trace t = { .block_tokens = 512 };
	size_t cap = 0, pool_n = 0, pool_cap = 0, len = 0;
	char *line = NULL;
	FILE *f;
	int r = 0;

	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (getline(&line, &len, f) > 0) {
		if (limit && t.n == limit)
			break;
		if (line[0] == '\n')
			continue;
		if (t.n == cap) {
			struct sim_req *p;

			cap = cap ? cap * 2 : 1024;
			p = realloc(t.reqs, cap * sizeof(*p));
			if (!p) {
				r = -ENOMEM;
				goto out;
			}
			t.reqs = p;
		}
		memset(&t.reqs[t.n], 0, sizeof(t.reqs[t.n]));
		r = parse_line(line, &t, &pool_n, &pool_cap);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < t.n; i++) {
		t.reqs[i].hash = t.hash_pool + (uintptr_t)t.reqs[i].hash;
		t.reqs[i].session = (uint32_t)i;
		t.reqs[i].prev = t.reqs[i].next = UINT32_MAX;
		/* The trace is sorted; arrival order is what the sim needs. */
		if (i && t.reqs[i].arrival_s < t.reqs[i - 1].arrival_s) {
			r = -EINVAL;
			goto out;
		}
	}
	if (!t.n)
		r = -ENODATA;
out:
	free(line);
	fclose(f);
	if (r < 0) {
		sim_trace_free(&t);
		return r;
	}
	*ret = t;
	return 0;
}

void sim_trace_free(struct sim_trace *t)
{
	free(t->reqs);
	free(t->hash_pool);
	memset(t, 0, sizeof(*t));
}

int sim_trace_link_turns(struct sim_trace *t)
{
	uint32_t *last = malloc(((size_t)t->max_hash + 1) * sizeof(*last));

	if (!last)
		return -ENOMEM;
	for (size_t h = 0; h <= t->max_hash; h++)
		last[h] = UINT32_MAX;
	for (size_t i = 0; i < t->n; i++) {
		struct sim_req *q = &t->reqs[i];

		q->prev = q->next = UINT32_MAX;
		q->session = (uint32_t)i;
		/* Longest earlier prefix first; k >= 2 skips a bare system prompt. */
		for (uint32_t k = q->nhash - 1; k >= 2 && k < q->nhash; k--) {
			uint32_t j = last[q->hash[k - 1]];
			struct sim_req *p;

			if (j == UINT32_MAX)
				continue;
			p = &t->reqs[j];
			if (k + 1 >= p->nhash && p->next == UINT32_MAX) {
				p->next = (uint32_t)i;
				q->prev = j;
				q->session = p->session;
			}
			break;
		}
		for (uint32_t k = 0; k < q->nhash; k++)
			last[q->hash[k]] = (uint32_t)i;
	}
	free(last);
	return 0;
}
