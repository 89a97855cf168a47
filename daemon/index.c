/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "index.h"

int index_init(struct index *ix, uint32_t max_entries, uint64_t seed)
{
	uint64_t nslots = 8;

	memset(ix, 0, sizeof(*ix));
	if (max_entries == 0 || max_entries > (1U << 31))
		return -EINVAL;
	while (nslots < 2ULL * max_entries)
		nslots <<= 1;
	ix->slots = malloc(nslots * sizeof(*ix->slots));
	if (!ix->slots)
		return -ENOMEM;
	/* All-ones block marks an empty slot. */
	memset(ix->slots, 0xff, nslots * sizeof(*ix->slots));
	ix->mask = (uint32_t)(nslots - 1);
	ix->max_entries = max_entries;
	ix->seed = seed;
	return 0;
}

void index_fini(struct index *ix)
{
	free(ix->slots);
	memset(ix, 0, sizeof(*ix));
}

uint32_t index_bucket(const struct index *ix, uint32_t ns,
		      const struct ac_key *key)
{
	uint8_t buf[20];

	memcpy(buf, key->b, 16);
	memcpy(buf + 16, &ns, 4);
	return (uint32_t)XXH3_64bits_withSeed(buf, sizeof(buf), ix->seed) &
	       ix->mask;
}

static bool slot_is(const struct index_slot *s, uint32_t ns,
		    const struct ac_key *key)
{
	return s->ns == ns && memcmp(s->key.b, key->b, 16) == 0;
}

uint32_t index_find(const struct index *ix, uint32_t ns,
		    const struct ac_key *key)
{
	uint32_t i = index_bucket(ix, ns, key);

	/* Load <= 1/2 guarantees an empty slot ends every probe. */
	for (;; i = (i + 1) & ix->mask) {
		const struct index_slot *s = &ix->slots[i];

		if (s->block == INDEX_NONE)
			return INDEX_NONE;
		if (slot_is(s, ns, key))
			return s->block;
	}
}

uint32_t *index_find_ref(struct index *ix, uint32_t ns,
			 const struct ac_key *key)
{
	uint32_t i = index_bucket(ix, ns, key);

	for (;; i = (i + 1) & ix->mask) {
		struct index_slot *s = &ix->slots[i];

		if (s->block == INDEX_NONE)
			return NULL;
		if (slot_is(s, ns, key))
			return &s->block;
	}
}

int index_insert(struct index *ix, uint32_t ns, const struct ac_key *key,
		 uint32_t block)
{
	uint32_t i;

	if (block == INDEX_NONE)
		return -EINVAL;
	i = index_bucket(ix, ns, key);
	for (;; i = (i + 1) & ix->mask) {
		struct index_slot *s = &ix->slots[i];

		if (s->block == INDEX_NONE)
			break;
		if (slot_is(s, ns, key))
			return -EEXIST;
	}
	if (ix->count >= ix->max_entries)
		return -ENOSPC;
	ix->slots[i].key = *key;
	ix->slots[i].ns = ns;
	ix->slots[i].block = block;
	ix->count++;
	return 0;
}

int index_delete(struct index *ix, uint32_t ns, const struct ac_key *key)
{
	uint32_t i = index_bucket(ix, ns, key), j, home;

	for (;; i = (i + 1) & ix->mask) {
		if (ix->slots[i].block == INDEX_NONE)
			return -ENOENT;
		if (slot_is(&ix->slots[i], ns, key))
			break;
	}
	/*
	 * Backward shift: walk the cluster after the hole and move back every
	 * entry whose home bucket does not lie cyclically in (i, j], i.e. an
	 * entry that the hole would otherwise cut off from its home.
	 */
	for (j = (i + 1) & ix->mask;; j = (j + 1) & ix->mask) {
		struct index_slot *s = &ix->slots[j];

		if (s->block == INDEX_NONE)
			break;
		home = index_bucket(ix, s->ns, &s->key);
		if (((j - home) & ix->mask) >= ((j - i) & ix->mask)) {
			ix->slots[i] = *s;
			i = j;
		}
	}
	memset(&ix->slots[i], 0xff, sizeof(ix->slots[i]));
	ix->count--;
	return 0;
}
