/* SPDX-License-Identifier: MIT */
/*
 * The two lookups encoding leans on: token string -> id (specials, bytes,
 * merge operands, ac_tokenizer_find) and merge pair -> rank. Both are
 * open-addressing tables with linear probing, at most half full.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "tok-internal.h"

uint64_t tok_hash(const void *p, size_t n)
{
	return XXH3_64bits(p, n);
}

static uint32_t table_size(uint32_t n)
{
	uint32_t size = 16;

	while (size < 2 * (uint64_t)n)
		size <<= 1;
	return size;
}

/* The slot holding @s, or the empty one where it would go. */
static uint32_t str_probe(const struct ac_tokenizer *tok, const char *s,
			  size_t n)
{
	const struct str_index *ix = &tok->index;
	uint32_t h = tok_hash(s, n) & ix->mask;

	while (ix->slots[h] >= 0) {
		size_t olen;
		const char *o = tok_text(tok, ix->slots[h], &olen);

		if (olen == n && !memcmp(o, s, n))
			break;
		h = (h + 1) & ix->mask;
	}
	return h;
}

int tok_str_index_build(struct ac_tokenizer *tok)
{
	struct str_index *ix = &tok->index;
	uint32_t size = table_size(tok->n_vocab);

	ix->slots = malloc(size * sizeof(*ix->slots));
	if (!ix->slots)
		return -ENOMEM;
	memset(ix->slots, 0xff, size * sizeof(*ix->slots));
	ix->mask = size - 1;

	for (uint32_t id = 0; id < tok->n_vocab; id++) {
		size_t len;
		const char *s = tok_text(tok, id, &len);
		uint32_t h = str_probe(tok, s, len);

		/* A repeated string keeps its first id. */
		if (ix->slots[h] < 0)
			ix->slots[h] = id;
	}
	return 0;
}

int32_t tok_str_index_find(const struct ac_tokenizer *tok, const char *s,
			   size_t n)
{
	int32_t id = tok->index.slots[str_probe(tok, s, n)];

	return id >= 0 ? id : -ENOENT;
}

static uint32_t pair_hash(uint64_t key)
{
	/* Ids are dense small integers: mix before masking. */
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return (uint32_t)key;
}

int tok_pair_index_init(struct pair_index *pi, uint32_t n)
{
	uint32_t size = table_size(n);

	pi->slots = malloc(size * sizeof(*pi->slots));
	if (!pi->slots)
		return -ENOMEM;
	for (uint32_t i = 0; i < size; i++)
		pi->slots[i].key = PAIR_EMPTY;
	pi->mask = size - 1;
	return 0;
}

static uint64_t pair_key(int32_t l, int32_t r)
{
	return (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
}

/* The slot holding @key, or the empty one where it would go. */
static struct pair_slot *pair_probe(const struct pair_index *pi, uint64_t key)
{
	uint32_t h = pair_hash(key) & pi->mask;

	while (pi->slots[h].key != PAIR_EMPTY && pi->slots[h].key != key)
		h = (h + 1) & pi->mask;
	return &pi->slots[h];
}

void tok_pair_index_put(struct pair_index *pi, int32_t l, int32_t r,
			uint32_t rank, int32_t merged)
{
	uint64_t key = pair_key(l, r);
	struct pair_slot *slot = pair_probe(pi, key);

	/* A pair already there keeps its earlier rank. */
	if (slot->key == PAIR_EMPTY)
		*slot = (struct pair_slot){ .key = key, .rank = rank,
					    .merged = merged };
}

const struct pair_slot *tok_pair_index_find(const struct pair_index *pi,
					    int32_t l, int32_t r)
{
	const struct pair_slot *slot = pair_probe(pi, pair_key(l, r));

	return slot->key == PAIR_EMPTY ? NULL : slot;
}
