/* SPDX-License-Identifier: MIT */
/*
 * The trace reader. It refuses rather than skips: a dropped or misread
 * request would change every hit rate computed from the trace without a
 * word, so the first bad record stops the read with its line and field.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"
#include "trace_ids.h"

/* What ac_trace_read() builds, and where it is in the file. */
struct reader {
	struct ac_trace t;
	size_t cap;		/* of t.reqs */
	size_t pool_n, pool_cap;
	size_t line;
	size_t prev_line;	/* of the last request, for the order check */
	uint32_t prev_ts;
	size_t tok_n, tok_cap;
	int ids_from;		/* 0: not yet known; 1: hash_ids; 2: tokens */
	struct ac_trace_idmap ids;
	struct ac_trace_error *err;
};

static __attribute__((format(printf, 3, 4)))
int refuse(struct reader *rd, int r, const char *fmt, ...)
{
	struct ac_trace_error *err = rd->err;
	va_list ap;
	int n = 0;

	if (!err)
		return r;
	err->line = rd->line;
	if (rd->line)
		n = snprintf(err->why, sizeof(err->why), "line %zu: ", rd->line);
	va_start(ap, fmt);
	vsnprintf(err->why + n, sizeof(err->why) - n, fmt, ap);
	va_end(ap);
	return r;
}

static int system_error(struct reader *rd, int r)
{
	char buf[96];

	/* GNU strerror_r: thread-safe, may return a static string. */
	return refuse(rd, r, "%s", strerror_r(-r, buf, sizeof(buf)));
}

static int get_u32(struct reader *rd, struct json_object *o, const char *key,
		   uint32_t *ret)
{
	struct json_object *v;
	int64_t x;

	if (!json_object_object_get_ex(o, key, &v))
		return refuse(rd, -EINVAL, "%s: missing", key);
	if (!json_object_is_type(v, json_type_int))
		return refuse(rd, -EINVAL, "%s: not an integer", key);
	x = json_object_get_int64(v);
	if (x < 0 || x > UINT32_MAX)
		return refuse(rd, -EINVAL, "%s: %" PRId64 " is not in 0..%u",
			      key, x, UINT32_MAX);
	*ret = (uint32_t)x;
	return 0;
}

/* An optional unsigned field: absent leaves *ret as it is. */
static int opt_u32(struct reader *rd, struct json_object *o, const char *key,
		   uint32_t *ret)
{
	if (!json_object_object_get_ex(o, key, NULL))
		return 0;
	return get_u32(rd, o, key, ret);
}

/* An optional duration in ms (integer or not), as seconds; absent: -1. */
static int opt_ms(struct reader *rd, struct json_object *o, const char *key,
		  double *ret)
{
	struct json_object *v;
	double x;

	*ret = -1;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int) &&
	    !json_object_is_type(v, json_type_double))
		return refuse(rd, -EINVAL, "%s: not a number", key);
	x = json_object_get_double(v);
	if (!(x >= 0) || x > 1e12)
		return refuse(rd, -EINVAL, "%s: %g is not a duration in ms",
			      key, x);
	*ret = x / 1000;
	return 0;
}

static int pool_reserve(struct reader *rd, size_t n)
{
	size_t cap;
	uint32_t *p;

	if (rd->pool_n + n <= rd->pool_cap)
		return 0;
	cap = (rd->pool_cap ? rd->pool_cap * 2 : 1 << 16) + n;
	p = realloc(rd->t.hash_pool, cap * sizeof(*p));
	if (!p)
		return system_error(rd, -ENOMEM);
	rd->t.hash_pool = p;
	rd->pool_cap = cap;
	return 0;
}

static int parse_ids(struct reader *rd, struct json_object *o,
		     struct ac_trace_req *r)
{
	uint32_t bt = rd->t.block_tokens, want = (r->input + bt - 1) / bt;
	struct json_object *ids;
	size_t n;
	int ret;

	if (!json_object_object_get_ex(o, "hash_ids", &ids))
		return refuse(rd, -EINVAL, "hash_ids: missing");
	if (!json_object_is_type(ids, json_type_array))
		return refuse(rd, -EINVAL, "hash_ids: not an array");
	n = json_object_array_length(ids);
	/* Every prompt block has an id, the partial last one included. */
	if (n != want)
		return refuse(rd, -EINVAL, "hash_ids: %zu ids for input_length"
			      " %u, want %u (one per %u tokens)", n, r->input,
			      want, bt);
	ret = pool_reserve(rd, n);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(ids, i);
		int64_t x;

		if (!json_object_is_type(v, json_type_int))
			return refuse(rd, -EINVAL, "hash_ids[%zu]: not an"
				      " integer", i);
		x = json_object_get_int64(v);
		/* UINT32_MAX stays free: users size tables max_hash + 1. */
		if (x < 0 || x >= UINT32_MAX)
			return refuse(rd, -EINVAL, "hash_ids[%zu]: %" PRId64
				      " is not in 0..%u", i, x, UINT32_MAX - 1);
		rd->t.hash_pool[rd->pool_n + i] = (uint32_t)x;
		if ((uint32_t)x > rd->t.max_hash)
			rd->t.max_hash = (uint32_t)x;
	}
	r->nhash = (uint32_t)n;
	/* An offset until the pool stops moving; ac_trace_read() fixes it. */
	r->hash = (uint32_t *)(uintptr_t)rd->pool_n;
	rd->pool_n += n;
	return 0;
}

/* "tokens": the literal prompt; sets input when the record had none. */
static int parse_tokens(struct reader *rd, struct json_object *toks,
			struct ac_trace_req *r, bool have_input)
{
	size_t n;

	if (!json_object_is_type(toks, json_type_array))
		return refuse(rd, -EINVAL, "tokens: not an array");
	n = json_object_array_length(toks);
	if (!n || n > UINT32_MAX)
		return refuse(rd, -EINVAL, "tokens: %zu ids (a prompt has"
			      " 1..%u)", n, UINT32_MAX);
	if (have_input && n != r->input)
		return refuse(rd, -EINVAL, "tokens: %zu ids for input_length"
			      " %u", n, r->input);
	if (rd->tok_n + n > rd->tok_cap) {
		size_t cap = (rd->tok_cap ? rd->tok_cap * 2 : 1 << 16) + n;
		int32_t *p = realloc(rd->t.token_pool, cap * sizeof(*p));

		if (!p)
			return system_error(rd, -ENOMEM);
		rd->t.token_pool = p;
		rd->tok_cap = cap;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(toks, i);
		int64_t x;

		if (!json_object_is_type(v, json_type_int))
			return refuse(rd, -EINVAL, "tokens[%zu]: not an"
				      " integer", i);
		x = json_object_get_int64(v);
		if (x < 0 || x > INT32_MAX)
			return refuse(rd, -EINVAL, "tokens[%zu]: %" PRId64
				      " is not in 0..%d", i, x, INT32_MAX);
		rd->t.token_pool[rd->tok_n + i] = (int32_t)x;
	}
	r->input = (uint32_t)n;
	r->tokens = (int32_t *)(uintptr_t)(rd->tok_n + 1);
	rd->tok_n += n;
	return 0;
}

/* Ids for a record that has only tokens: one per block of its prefix. */
static int derive_ids(struct reader *rd, struct ac_trace_req *r)
{
	uint32_t bt = rd->t.block_tokens, n = (r->input + bt - 1) / bt;
	const int32_t *tok = rd->t.token_pool + ((uintptr_t)r->tokens - 1);
	int ret = pool_reserve(rd, n);

	if (ret < 0)
		return ret;
	ret = ac_trace_ids_derive(&rd->ids, tok, r->input, bt,
				  rd->t.hash_pool + rd->pool_n);
	if (ret < 0)
		return system_error(rd, ret);
	for (uint32_t i = 0; i < n; i++)
		if (rd->t.hash_pool[rd->pool_n + i] > rd->t.max_hash)
			rd->t.max_hash = rd->t.hash_pool[rd->pool_n + i];
	r->nhash = n;
	r->hash = (uint32_t *)(uintptr_t)rd->pool_n;
	rd->pool_n += n;
	return 0;
}

static int parse_record(struct reader *rd, struct json_object *o)
{
	struct ac_trace_req *r = &rd->t.reqs[rd->t.n];
	uint32_t ts;
	int ret;

	if (!json_object_is_type(o, json_type_object))
		return refuse(rd, -EINVAL, "not a JSON object");
	struct json_object *toks = NULL, *ids = NULL;
	bool have_input;

	memset(r, 0, sizeof(*r));
	json_object_object_get_ex(o, "tokens", &toks);
	json_object_object_get_ex(o, "hash_ids", &ids);
	have_input = json_object_object_get_ex(o, "input_length", NULL);
	ret = get_u32(rd, o, "timestamp", &ts);
	if (ret == 0 && (have_input || !toks))
		ret = get_u32(rd, o, "input_length", &r->input);
	if (ret == 0)
		ret = get_u32(rd, o, "output_length", &r->output);
	if (ret == 0 && toks)
		ret = parse_tokens(rd, toks, r, have_input);
	if (ret < 0)
		return ret;
	/* One file names its blocks one way, or ids of both kinds collide. */
	if (toks && !ids) {
		if (rd->ids_from == 1)
			return refuse(rd, -EINVAL, "hash_ids: missing (earlier"
				      " records give them: give them in every"
				      " record or in none)");
		rd->ids_from = 2;
	} else {
		if (rd->ids_from == 2 && ids)
			return refuse(rd, -EINVAL, "hash_ids: given, but earlier"
				      " records derive them from tokens: give"
				      " them in every record or in none");
		rd->ids_from = 1;
	}
	if (!r->input)
		return refuse(rd, -EINVAL, "input_length: 0 (a request has a"
			      " prompt)");
	/* Replays take requests in file order as arrival order. */
	if (rd->t.n && ts < rd->prev_ts)
		return refuse(rd, -EINVAL, "timestamp: %u is earlier than %u"
			      " on line %zu (the trace is in arrival order)",
			      ts, rd->prev_ts, rd->prev_line);
	ret = toks && !ids ? derive_ids(rd, r) : parse_ids(rd, o, r);
	if (ret < 0)
		return ret;
	r->program = AC_TRACE_NONE;
	ret = opt_u32(rd, o, "namespace", &r->ns);
	if (ret == 0)
		ret = opt_u32(rd, o, "program", &r->program);
	if (ret == 0)
		ret = opt_u32(rd, o, "turn", &r->turn);
	if (ret == 0)
		ret = opt_ms(rd, o, "tool_ms", &r->tool_s);
	if (ret == 0)
		ret = opt_ms(rd, o, "tool_expect_ms", &r->tool_expect_s);
	if (ret < 0)
		return ret;
	if (r->program == AC_TRACE_NONE && json_object_object_get_ex(o, "program", NULL))
		return refuse(rd, -EINVAL, "program: %u is reserved",
			      AC_TRACE_NONE);
	if (r->program != AC_TRACE_NONE)
		rd->t.nprogram++;
	r->arrival_s = ts / 1000.0;
	rd->prev_ts = ts;
	rd->prev_line = rd->line;
	rd->t.n++;
	return 0;
}

static bool blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isspace((unsigned char)s[i]))
			return false;
	return true;
}

static int parse_line(struct reader *rd, struct json_tokener *tok,
		      const char *line, size_t len)
{
	enum json_tokener_error jerr;
	struct json_object *o;
	size_t end;
	int ret;

	if (rd->t.n == rd->cap) {
		size_t cap = rd->cap ? rd->cap * 2 : 1024;
		struct ac_trace_req *p = realloc(rd->t.reqs, cap * sizeof(*p));

		if (!p)
			return system_error(rd, -ENOMEM);
		rd->t.reqs = p;
		rd->cap = cap;
	}
	json_tokener_reset(tok);
	o = json_tokener_parse_ex(tok, line, (int)len);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_continue)
		return refuse(rd, -EINVAL, "JSON ends before the line does");
	if (jerr != json_tokener_success)
		return refuse(rd, -EINVAL, "not JSON (%s)",
			      json_tokener_error_desc(jerr));
	end = json_tokener_get_parse_end(tok);
	if (!blank(line + end, len - end)) {
		json_object_put(o);
		return refuse(rd, -EINVAL, "text after the JSON object");
	}
	ret = parse_record(rd, o);
	json_object_put(o);
	return ret;
}

int ac_trace_read(FILE *f, size_t limit, struct ac_trace *ret,
		  struct ac_trace_error *err)
{
	struct reader rd = {
		.t.block_tokens = AC_TRACE_BLOCK_TOKENS,
		.err = err,
	};
	struct json_tokener *tok = json_tokener_new();
	char *line = NULL;
	size_t cap = 0;
	int r = 0;

	if (err)
		memset(err, 0, sizeof(*err));
	if (!tok)
		return system_error(&rd, -ENOMEM);
	while (!limit || rd.t.n < limit) {
		ssize_t len = getline(&line, &cap, f);

		if (len < 0) {
			/* getline() says -1 for EOF, a read error and ENOMEM. */
			if (ferror(f))
				r = system_error(&rd, errno ? -errno : -EIO);
			else if (!feof(f))
				r = system_error(&rd, -ENOMEM);
			break;
		}
		rd.line++;
		if (len > INT32_MAX) {
			r = refuse(&rd, -EINVAL, "longer than %d bytes",
				   INT32_MAX);
			break;
		}
		if (blank(line, len))
			continue;
		r = parse_line(&rd, tok, line, len);
		if (r < 0)
			break;
	}
	free(line);
	json_tokener_free(tok);
	ac_trace_idmap_free(&rd.ids);
	if (r == 0 && !rd.t.n) {
		rd.line = 0;
		r = refuse(&rd, -ENODATA, "no requests");
	}
	if (r < 0) {
		ac_trace_free(&rd.t);
		return r;
	}
	for (size_t i = 0; i < rd.t.n; i++) {
		struct ac_trace_req *q = &rd.t.reqs[i];

		q->hash = rd.t.hash_pool + (uintptr_t)q->hash;
		/* Offsets are stored + 1, so that 0 stays "no tokens". */
		if (q->tokens)
			q->tokens = rd.t.token_pool + ((uintptr_t)q->tokens - 1);
		q->session = (uint32_t)i;
		q->prev = q->next = AC_TRACE_NONE;
	}
	*ret = rd.t;
	return 0;
}

int ac_trace_load(const char *path, size_t limit, struct ac_trace *ret,
		  struct ac_trace_error *err)
{
	FILE *f = fopen(path, "re");
	int r;

	if (!f) {
		r = -errno;
		if (err) {
			char buf[96];

			err->line = 0;
			snprintf(err->why, sizeof(err->why), "%s",
				 strerror_r(-r, buf, sizeof(buf)));
		}
		return r;
	}
	r = ac_trace_read(f, limit, ret, err);
	fclose(f);
	return r;
}

void ac_trace_free(struct ac_trace *t)
{
	free(t->reqs);
	free(t->hash_pool);
	free(t->token_pool);
	memset(t, 0, sizeof(*t));
}
