/* SPDX-License-Identifier: MIT */
/*
 * Prompt spans to Mooncake hash ids, and the JSON-lines writer. The
 * reader (workload/trace.c) is the one owner of the format; the test reads
 * every generator's output back through it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"	/* workload/: AC_TRACE_BLOCK_TOKENS */
#include "wl.h"

struct wl_key {
	uint64_t digest;
	uint32_t parent;
	uint32_t id;		/* WL_NONE: empty slot */
};

void wl_trace_init(struct wl_trace *t)
{
	memset(t, 0, sizeof(*t));
}

void wl_trace_free(struct wl_trace *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->recs[i].ids);
	free(t->recs);
	free(t->map);
	memset(t, 0, sizeof(*t));
}

static size_t slot_of(const struct wl_trace *t, uint32_t parent, uint64_t d)
{
	size_t mask = t->map_cap - 1;
	size_t h = wl_mix(d ^ ((uint64_t)parent << 17)) & mask;

	while (t->map[h].id != WL_NONE &&
	       (t->map[h].digest != d || t->map[h].parent != parent))
		h = (h + 1) & mask;
	return h;
}

static int map_grow(struct wl_trace *t)
{
	struct wl_key *old = t->map;
	size_t ocap = t->map_cap, cap = ocap ? ocap * 2 : 1 << 12;

	t->map = malloc(cap * sizeof(*t->map));
	if (!t->map) {
		t->map = old;
		return -ENOMEM;
	}
	t->map_cap = cap;
	for (size_t i = 0; i < cap; i++)
		t->map[i].id = WL_NONE;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].id != WL_NONE)
			t->map[slot_of(t, old[i].parent, old[i].digest)] = old[i];
	free(old);
	return 0;
}

static int intern(struct wl_trace *t, uint32_t parent, uint64_t digest,
		  uint32_t *ret)
{
	size_t h;
	int r;

	if (2 * (t->map_n + 1) > t->map_cap) {
		r = map_grow(t);
		if (r < 0)
			return r;
	}
	h = slot_of(t, parent, digest);
	if (t->map[h].id == WL_NONE) {
		/* The reader keeps UINT32_MAX free. */
		if (t->next_id == UINT32_MAX - 1)
			return -EOVERFLOW;
		t->map[h] = (struct wl_key){ .digest = digest, .parent = parent,
					     .id = t->next_id++ };
		t->map_n++;
	}
	*ret = t->map[h].id;
	return 0;
}

int wl_trace_add(struct wl_trace *t, const struct wl_span *spans,
		 uint32_t nspans, const struct wl_rec *proto)
{
	const uint32_t bt = AC_TRACE_BLOCK_TOKENS;
	uint64_t input = 0;
	struct wl_rec *rec;
	uint32_t nb, sp = 0, off = 0, parent = WL_NONE;
	int r;

	for (uint32_t i = 0; i < nspans; i++)
		input += spans[i].len;
	if (!input || input > UINT32_MAX || !proto)
		return -EINVAL;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		struct wl_rec *p = realloc(t->recs, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		t->recs = p;
		t->cap = cap;
	}
	rec = &t->recs[t->n];
	*rec = *proto;
	rec->input = (uint32_t)input;
	rec->seq = t->n;
	nb = (uint32_t)((input + bt - 1) / bt);
	rec->ids = malloc(nb * sizeof(*rec->ids));
	if (!rec->ids)
		return -ENOMEM;
	rec->nids = nb;
	for (uint32_t k = 0; k < nb; k++) {
		uint32_t left = bt;
		uint64_t d = 0xb10c;

		/* Digest the pieces of content the block's tokens are. */
		while (left && sp < nspans) {
			uint32_t take = spans[sp].len - off;

			if (take > left)
				take = left;
			if (take) {
				d = wl_mix(d ^ spans[sp].content);
				d = wl_mix(d ^ ((uint64_t)off << 32 | take));
			}
			left -= take;
			off += take;
			if (off == spans[sp].len) {
				sp++;
				off = 0;
			}
		}
		r = intern(t, parent, d, &rec->ids[k]);
		if (r < 0) {
			free(rec->ids);
			return r;
		}
		parent = rec->ids[k];
	}
	t->n++;
	return 0;
}

static int cmp_rec(const void *a, const void *b)
{
	const struct wl_rec *x = a, *y = b;

	if (x->ts_ms != y->ts_ms)
		return x->ts_ms < y->ts_ms ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int wl_trace_write(struct wl_trace *t, FILE *f)
{
	qsort(t->recs, t->n, sizeof(*t->recs), cmp_rec);
	for (size_t i = 0; i < t->n; i++) {
		const struct wl_rec *q = &t->recs[i];

		fprintf(f, "{\"timestamp\": %" PRIu64 ", \"input_length\": %u, "
			"\"output_length\": %u, \"hash_ids\": [", q->ts_ms,
			q->input, q->output);
		for (uint32_t k = 0; k < q->nids; k++)
			fprintf(f, k ? ", %u" : "%u", q->ids[k]);
		fputc(']', f);
		if (q->ns)
			fprintf(f, ", \"namespace\": %u", q->ns);
		if (q->program != WL_NONE)
			fprintf(f, ", \"program\": %u, \"turn\": %u",
				q->program, q->turn);
		if (q->tool_ms >= 0)
			fprintf(f, ", \"tool_ms\": %" PRId64, q->tool_ms);
		if (q->tool_expect_ms >= 0)
			fprintf(f, ", \"tool_expect_ms\": %" PRId64,
				q->tool_expect_ms);
		fputs("}\n", f);
	}
	if (fflush(f) || ferror(f))
		return -EIO;
	return 0;
}
