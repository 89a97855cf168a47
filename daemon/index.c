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
	/* Two seed words derived from one: both halves of the key are keyed. */
	ix->seed = XXH3_64bits_withSeed("asymcache-index-a", 17, seed);
	ix->seed2 = XXH3_64bits_withSeed("asymcache-index-b", 17, seed);
	return 0;
}

void index_fini(struct index *ix)
{
	free(ix->slots);
	memset(ix, 0, sizeof(*ix));
}

/*
 * Keys are digests already; what the bucket function must add is a secret:
 * with a per-index seed a client cannot aim keys at one bucket. One 64x64
 * -> 128-bit multiply of the seeded halves, folded (wyhash's "mum"), mixes
 * every input bit into the low bits we mask, at a fraction of the cost of
 * a general hash (the bucket is computed for every key of every Lookup).
 */
uint32_t index_bucket(const struct index *ix, uint32_t ns,
		      const struct ac_key *key)
{
	uint64_t a, b;
	__uint128_t m;

	memcpy(&a, key->b, 8);
	memcpy(&b, key->b + 8, 8);
	a ^= ix->seed;
	b ^= ix->seed2 ^ ((uint64_t)ns * 0x9e3779b97f4a7c15ULL);
	m = (__uint128_t)a * b;
	a = (uint64_t)m ^ (uint64_t)(m >> 64);
	/* Second round: one product alone maps a == 0 to 0 for every b. */
	m = (__uint128_t)(a ^ 0xe7037ed1a0b428dbULL) *
	    (b ^ ix->seed ^ 0xa0761d6478bd642fULL);
	return (uint32_t)((uint64_t)m ^ (uint64_t)(m >> 64)) & ix->mask;
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
