/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "trace_ids.h"

static int grow(struct ac_trace_idmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 1024;
	uint64_t *h = malloc(cap * sizeof(*h));
	uint32_t *id = malloc(cap * sizeof(*id));

	if (!h || !id) {
		free(h);
		free(id);
		return -ENOMEM;
	}
	memset(id, 0xff, cap * sizeof(*id));
	for (size_t i = 0; i < m->cap; i++) {
		size_t j;

		if (m->id[i] == UINT32_MAX)
			continue;
		for (j = m->hash[i] & (cap - 1); id[j] != UINT32_MAX;
		     j = (j + 1) & (cap - 1))
			;
		h[j] = m->hash[i];
		id[j] = m->id[i];
	}
	free(m->hash);
	free(m->id);
	m->hash = h;
	m->id = id;
	m->cap = cap;
	return 0;
}

/* The id of @h, numbered in first-seen order. */
static int lookup(struct ac_trace_idmap *m, uint64_t h, uint32_t *ret)
{
	size_t j;

	if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
		return -ENOMEM;
	for (j = h & (m->cap - 1); m->id[j] != UINT32_MAX;
	     j = (j + 1) & (m->cap - 1))
		if (m->hash[j] == h) {
			*ret = m->id[j];
			return 0;
		}
	/* UINT32_MAX stays free, as for ids read from a file. */
	if (m->n >= UINT32_MAX - 1)
		return -EOVERFLOW;
	m->hash[j] = h;
	m->id[j] = (uint32_t)m->n++;
	*ret = m->id[j];
	return 0;
}

int ac_trace_ids_derive(struct ac_trace_idmap *m, const int32_t *tokens,
			uint32_t n, uint32_t block_tokens, uint32_t *ids)
{
	uint64_t h = 0;

	for (uint32_t b = 0; (uint64_t)b * block_tokens < n; b++) {
		uint32_t at = b * block_tokens, len = n - at;
		int r;

		if (len > block_tokens)
			len = block_tokens;
		/* 64-bit chained hashes: a collision in a trace is ~n^2/2^64. */
		h = XXH3_64bits_withSeed(tokens + at, len * sizeof(*tokens), h);
		r = lookup(m, h, &ids[b]);
		if (r < 0)
			return r;
	}
	return 0;
}

void ac_trace_idmap_free(struct ac_trace_idmap *m)
{
	free(m->hash);
	free(m->id);
	memset(m, 0, sizeof(*m));
}
