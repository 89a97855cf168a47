/* SPDX-License-Identifier: MIT */
/*
 * Block index: (namespace, 128-bit key) -> block id.
 *
 * Open addressing with linear probing and backward-shift deletion: no
 * tombstones, so probe lengths never degrade after churn, and every
 * operation is O(1) expected at the load factor we keep (<= 1/2: the table
 * has at least twice as many slots as it may hold entries).
 *
 * Keys come from clients and are not trusted to be uniformly distributed,
 * so the bucket is a keyed mix of (key, ns) under a per-index random seed:
 * a client cannot aim keys at one bucket without knowing the seed.
 */
#ifndef AC_DAEMON_INDEX_H
#define AC_DAEMON_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include <asymcache/abi.h>

#define INDEX_NONE UINT32_MAX

struct index_slot {
	struct ac_key key;
	uint32_t ns;
	uint32_t block;		/* INDEX_NONE: empty slot */
};

struct index {
	struct index_slot *slots;
	uint32_t mask;		/* nslots - 1, nslots a power of two */
	uint32_t count;
	uint32_t max_entries;
	uint64_t seed, seed2;
};

/* Room for @max_entries keys; @seed randomizes bucket placement. */
int index_init(struct index *ix, uint32_t max_entries, uint64_t seed);
void index_fini(struct index *ix);

/* Block of (ns, key), or INDEX_NONE. */
uint32_t index_find(const struct index *ix, uint32_t ns,
		    const struct ac_key *key);
/* 0, -EEXIST if (ns, key) is present, -ENOSPC at max_entries, -EINVAL. */
int index_insert(struct index *ix, uint32_t ns, const struct ac_key *key,
		 uint32_t block);
/* Where the block of (ns, key) is stored, to update in place; or NULL. */
uint32_t *index_find_ref(struct index *ix, uint32_t ns,
			 const struct ac_key *key);
/* 0 or -ENOENT. */
int index_delete(struct index *ix, uint32_t ns, const struct ac_key *key);

/* The home bucket of (ns, key): exposed so tests can craft collisions. */
uint32_t index_bucket(const struct index *ix, uint32_t ns,
		      const struct ac_key *key);
/* Number of slots (for tests and stats). */
static inline uint32_t index_nslots(const struct index *ix)
{
	return ix->mask + 1;
}

#endif /* AC_DAEMON_INDEX_H */
