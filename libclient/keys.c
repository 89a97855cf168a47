/* SPDX-License-Identifier: MIT */
/*
 * Content keys. The chain is key_i = H(key_{i-1} || tokens of block i),
 * key_{-1} = H(namespace identity || salt), H truncated to 128 bits. The
 * exact bytes are specified in docs/libclient.md and pinned by golden
 * values computed with Python's hashlib in tests/unit/libclient.
 */
#include <errno.h>
#include <string.h>

/*
 * The one-shot SHA256_* functions keep their context on the stack: EVP
 * would fetch the algorithm from a provider and allocate a context, which
 * costs more than hashing one 80-byte block. OpenSSL 3 marks them
 * deprecated but keeps them.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
/* XXH3_state_t on the stack needs the static-linking-only definitions. */
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "asymcache/asymcache.h"
#include "client-internal.h"

/* Identity bytes: "asymcache-ns-v1" + 7 length-prefixed/fixed fields. */
#define SEED_TAG	"asymcache-ns-v1"
#define SEED_MAX	(sizeof(SEED_TAG) - 1 + 4 + AC_MODEL_ID_MAX + 5 * 4 + \
			 4 + AC_SALT_MAX)
/* Tokens hashed per update when the host must byte-swap them. */
#define SWAP_CHUNK	256

static uint8_t *put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
	return p + 4;
}

static void xxh3_digest(const void *a, size_t alen, const void *b,
			size_t blen, struct ac_key *out)
{
	XXH3_state_t st;
	XXH128_hash_t h;
	XXH128_canonical_t c;

	/* The canonical (big-endian) form, the one xxhsum prints. */
	XXH3_INITSTATE(&st);
	XXH3_128bits_reset(&st);
	XXH3_128bits_update(&st, a, alen);
	if (blen)
		XXH3_128bits_update(&st, b, blen);
	h = XXH3_128bits_digest(&st);
	XXH128_canonicalFromHash(&c, h);
	memcpy(out->b, c.digest, AC_KEY_BYTES);
}

static void sha_digest(const void *a, size_t alen, const void *b,
		       size_t blen, struct ac_key *out)
{
	SHA256_CTX ctx;
	uint8_t md[SHA256_DIGEST_LENGTH];

	SHA256_Init(&ctx);
	SHA256_Update(&ctx, a, alen);
	if (blen)
		SHA256_Update(&ctx, b, blen);
	SHA256_Final(md, &ctx);
	memcpy(out->b, md, AC_KEY_BYTES);
}

int client_layout_check(const struct ac_ns_layout *l)
{
	size_t idlen;

	if (!l || !l->model_id)
		return -EINVAL;
	idlen = strnlen(l->model_id, AC_MODEL_ID_MAX + 1);
	if (idlen == 0 || idlen > AC_MODEL_ID_MAX)
		return -EINVAL;
	/* The client's contract is -EINVAL for any bad layout. */
	return ac_kv_layout_check(&l->kv) < 0 ? -EINVAL : 0;
}

int ac_key_seed_init(struct ac_key_seed *seed,
		     const struct ac_ns_layout *layout,
		     const void *salt, size_t salt_len, enum ac_hash hash)
{
	uint8_t buf[SEED_MAX], *p = buf;
	size_t idlen;
	int r;

	if (!seed)
		return -EINVAL;
	r = client_layout_check(layout);
	if (r < 0)
		return r;
	if (salt_len > AC_SALT_MAX || (salt_len && !salt))
		return -EINVAL;
	if (hash != AC_HASH_SHA256 && hash != AC_HASH_XXH3)
		return -EINVAL;

	idlen = strlen(layout->model_id);
	memcpy(p, SEED_TAG, sizeof(SEED_TAG) - 1);
	p += sizeof(SEED_TAG) - 1;
	p = put_le32(p, idlen);
	memcpy(p, layout->model_id, idlen);
	p += idlen;
	p = put_le32(p, layout->kv.num_layers);
	p = put_le32(p, layout->kv.num_kv_heads);
	p = put_le32(p, layout->kv.head_dim);
	p = put_le32(p, layout->kv.dtype);
	p = put_le32(p, layout->kv.block_tokens);
	p = put_le32(p, salt_len);
	if (salt_len)
		memcpy(p, salt, salt_len);
	p += salt_len;

	if (hash == AC_HASH_SHA256)
		sha_digest(buf, p - buf, NULL, 0, &seed->seed);
	else
		xxh3_digest(buf, p - buf, NULL, 0, &seed->seed);
	seed->hash = hash;
	seed->block_tokens = layout->kv.block_tokens;
	return 0;
}

#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
/* Big-endian hosts hash a little-endian copy, SWAP_CHUNK tokens at a time. */
static uint32_t le_chunk(uint32_t *le, const int32_t *tok, uint32_t n)
{
	uint32_t k = n < SWAP_CHUNK ? n : SWAP_CHUNK;

	for (uint32_t i = 0; i < k; i++)
		le[i] = __builtin_bswap32((uint32_t)tok[i]);
	return k;
}

static void sha_block(const struct ac_key *prev, const int32_t *tok,
		      uint32_t n, struct ac_key *out)
{
	SHA256_CTX ctx;
	uint32_t le[SWAP_CHUNK];
	uint8_t md[SHA256_DIGEST_LENGTH];

	SHA256_Init(&ctx);
	SHA256_Update(&ctx, prev->b, AC_KEY_BYTES);
	while (n) {
		uint32_t k = le_chunk(le, tok, n);

		SHA256_Update(&ctx, le, k * 4);
		tok += k;
		n -= k;
	}
	SHA256_Final(md, &ctx);
	memcpy(out->b, md, AC_KEY_BYTES);
}

static void xxh3_block(const struct ac_key *prev, const int32_t *tok,
		       uint32_t n, struct ac_key *out)
{
	XXH3_state_t st;
	XXH128_canonical_t c;
	uint32_t le[SWAP_CHUNK];

	XXH3_INITSTATE(&st);
	XXH3_128bits_reset(&st);
	XXH3_128bits_update(&st, prev->b, AC_KEY_BYTES);
	while (n) {
		uint32_t k = le_chunk(le, tok, n);

		XXH3_128bits_update(&st, le, k * 4);
		tok += k;
		n -= k;
	}
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&st));
	memcpy(out->b, c.digest, AC_KEY_BYTES);
}
#else
static void sha_block(const struct ac_key *prev, const int32_t *tok,
		      uint32_t n, struct ac_key *out)
{
	sha_digest(prev->b, AC_KEY_BYTES, tok, (size_t)n * 4, out);
}

static void xxh3_block(const struct ac_key *prev, const int32_t *tok,
		       uint32_t n, struct ac_key *out)
{
	uint8_t buf[AC_KEY_BYTES + 1024 * 4];
	XXH128_hash_t h;
	XXH128_canonical_t c;

	/*
	 * XXH3's streaming state costs more than the hash of a small block;
	 * one contiguous buffer lets the one-shot function run instead.
	 */
	memcpy(buf, prev->b, AC_KEY_BYTES);
	memcpy(buf + AC_KEY_BYTES, tok, (size_t)n * 4);
	h = XXH3_128bits(buf, AC_KEY_BYTES + (size_t)n * 4);
	XXH128_canonicalFromHash(&c, h);
	memcpy(out->b, c.digest, AC_KEY_BYTES);
}
#endif

int ac_keys_compute(const struct ac_key_seed *seed, const int32_t *tokens,
		    size_t ntokens, uint32_t block_tokens,
		    struct ac_key *out, size_t *nkeys)
{
	void (*block_fn)(const struct ac_key *, const int32_t *, uint32_t,
			 struct ac_key *);
	const struct ac_key *prev;
	size_t full, i;

	if (!seed || !nkeys || (ntokens && !tokens))
		return -EINVAL;
	if (block_tokens == 0 || block_tokens > 1024 ||
	    block_tokens != seed->block_tokens)
		return -EINVAL;
	switch (seed->hash) {
	case AC_HASH_SHA256:
		block_fn = sha_block;
		break;
	case AC_HASH_XXH3:
		block_fn = xxh3_block;
		break;
	default:
		return -EINVAL;
	}

	full = ntokens / block_tokens;
	if (full > *nkeys) {
		*nkeys = full;
		return -ENOBUFS;
	}
	if (full && !out)
		return -EINVAL;

	prev = &seed->seed;
	for (i = 0; i < full; i++) {
		block_fn(prev, tokens + i * block_tokens, block_tokens,
			 &out[i]);
		prev = &out[i];
	}
	*nkeys = full;
	return 0;
}
