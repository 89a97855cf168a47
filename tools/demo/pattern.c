/* SPDX-License-Identifier: MIT */
/*
 * The demo's stand-ins for a model: the tokens of a hash id and the KV
 * bytes of a block are both pure functions of what names them, so any
 * client can check a hit that another client wrote, byte for byte.
 */
#include <string.h>

#include "demo.h"

/* Deterministic tokens of one hash block: equal ids give equal tokens. */
void demo_hash_tokens(uint32_t id, int32_t *out)
{
	uint64_t x = 0x9e3779b97f4a7c15ull ^ ((uint64_t)id * 0xbf58476d1ce4e5b9ull);

	for (int i = 0; i < AC_TRACE_BLOCK_TOKENS; i++) {
		x ^= x >> 30;
		x *= 0xbf58476d1ce4e5b9ull;
		x ^= x >> 27;
		x *= 0x94d049bb133111ebull;
		x ^= x >> 31;
		out[i] = (int32_t)(x % 128256);
	}
}

static uint16_t kv_word(const struct ac_key *k, uint64_t i)
{
	uint64_t x;

	memcpy(&x, k->b, sizeof(x));
	x ^= i * 0x9e3779b97f4a7c15ull;
	x ^= x >> 29;
	return (uint16_t)x;
}

void demo_block_write(void *base, uint32_t block_bytes, uint32_t block,
		      const struct ac_kv_layout *kv, const struct ac_key *k)
{
	uint16_t *p = (uint16_t *)((char *)base + (uint64_t)block * block_bytes);
	uint64_t n = ac_kv_block_bytes(kv) / 2;

	for (uint64_t i = 0; i < n; i++)
		p[i] = kv_word(k, i);
}

bool demo_block_ok(const void *base, uint32_t block_bytes, uint32_t block,
		   const struct ac_kv_layout *kv, const struct ac_key *k)
{
	const uint16_t *p = (const uint16_t *)((const char *)base +
					       (uint64_t)block * block_bytes);
	uint64_t n = ac_kv_block_bytes(kv) / 2;

	for (uint64_t i = 0; i < n; i++)
		if (p[i] != kv_word(k, i))
			return false;
	return true;
}
