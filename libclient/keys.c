/* SPDX-License-Identifier: MIT */
/*
 * Content keys. The chain is key_i = H(key_{i-1} || tokens of block i),
 * key_{-1} = H(namespace identity || salt), H truncated to 128 bits. The
 * exact bytes are specified in docs/libclient.md and pinned by golden
 * values computed with Python's hashlib in tests/unit/libclient.
 */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
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

/*
 * The chain's hash, streaming. SHA-256 runs on one EVP context per seed or
 * per ac_keys_compute call: fetching the algorithm and allocating a context
 * cost more than hashing one block, so each block re-initialises the same
 * context (EVP_DigestInit_ex without a type keeps the one it has).
 */
struct key_hash {
	enum ac_hash kind;
	EVP_MD_CTX *sha;
	XXH3_state_t xxh;
};

static void key_hash_close(struct key_hash *h)
{
	EVP_MD_CTX_free(h->sha);
	h->sha = NULL;
}

static int key_hash_open(struct key_hash *h, enum ac_hash kind)
{
	h->kind = kind;
	h->sha = NULL;
	if (kind == AC_HASH_XXH3) {
		XXH3_INITSTATE(&h->xxh);
		return 0;
	}
	h->sha = EVP_MD_CTX_new();
	if (!h->sha)
		return -ENOMEM;
	if (!EVP_DigestInit_ex(h->sha, EVP_sha256(), NULL)) {
		key_hash_close(h);
		return -ENOMEM;
	}
	return 0;
}

static int key_hash_update(struct key_hash *h, const void *p, size_t n)
{
	if (h->kind == AC_HASH_XXH3)
		return XXH3_128bits_update(&h->xxh, p, n) == XXH_OK ? 0 : -EIO;
	return EVP_DigestUpdate(h->sha, p, n) ? 0 : -EIO;
}

#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
/* Big-endian hosts hash a little-endian copy, SWAP_CHUNK tokens at a time. */
static int update_tokens(struct key_hash *h, const int32_t *tok, uint32_t n)
{
	uint32_t le[SWAP_CHUNK];
	int r = 0;

	while (n && r == 0) {
		uint32_t k = n < SWAP_CHUNK ? n : SWAP_CHUNK;

		for (uint32_t i = 0; i < k; i++)
			le[i] = __builtin_bswap32((uint32_t)tok[i]);
		r = key_hash_update(h, le, (size_t)k * 4);
		tok += k;
		n -= k;
	}
	return r;
}
#else
static int update_tokens(struct key_hash *h, const int32_t *tok, uint32_t n)
{
	return key_hash_update(h, tok, (size_t)n * 4);
}
#endif

/* H(a || tokens as little-endian int32), truncated to a key. */
static int key_hash(struct key_hash *h, const void *a, size_t alen,
		    const int32_t *tok, uint32_t n, struct ac_key *out)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	XXH128_canonical_t c;
	int r;

	if (h->kind == AC_HASH_XXH3)
		r = XXH3_128bits_reset(&h->xxh) == XXH_OK ? 0 : -EIO;
	else
		r = EVP_DigestInit_ex(h->sha, NULL, NULL) ? 0 : -EIO;
	if (r == 0)
		r = key_hash_update(h, a, alen);
	if (r == 0 && n)
		r = update_tokens(h, tok, n);
	if (r < 0)
		return r;
	if (h->kind == AC_HASH_XXH3) {
		/* The canonical (big-endian) form, the one xxhsum prints. */
		XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&h->xxh));
		memcpy(out->b, c.digest, AC_KEY_BYTES);
		return 0;
	}
	if (!EVP_DigestFinal_ex(h->sha, md, NULL))
		return -EIO;
	memcpy(out->b, md, AC_KEY_BYTES);
	return 0;
}

#if __BYTE_ORDER__ != __ORDER_BIG_ENDIAN__
/*
 * XXH3's streaming state costs more than the hash of a small block; one
 * contiguous buffer lets the one-shot function run instead. Out of line:
 * inlined into the chain's loop, with its 4 KiB buffer, it ran 15% slower.
 */
__attribute__((noinline))
static void xxh3_block(const struct ac_key *prev, const int32_t *tok,
		       uint32_t n, struct ac_key *out)
{
	uint8_t buf[AC_KEY_BYTES + 1024 * 4];
	XXH128_canonical_t c;

	memcpy(buf, prev->b, AC_KEY_BYTES);
	memcpy(buf + AC_KEY_BYTES, tok, (size_t)n * 4);
	XXH128_canonicalFromHash(&c, XXH3_128bits(buf, AC_KEY_BYTES +
						  (size_t)n * 4));
	memcpy(out->b, c.digest, AC_KEY_BYTES);
}
#endif

static int key_block(struct key_hash *h, const struct ac_key *prev,
		     const int32_t *tok, uint32_t n, struct ac_key *out)
{
#if __BYTE_ORDER__ != __ORDER_BIG_ENDIAN__
	if (h->kind == AC_HASH_XXH3) {
		xxh3_block(prev, tok, n, out);
		return 0;
	}
#endif
	return key_hash(h, prev->b, AC_KEY_BYTES, tok, n, out);
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
	struct key_hash h;
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

	r = key_hash_open(&h, hash);
	if (r < 0)
		return r;
	r = key_hash(&h, buf, p - buf, NULL, 0, &seed->seed);
	key_hash_close(&h);
	if (r < 0)
		return r;
	seed->hash = hash;
	seed->block_tokens = layout->kv.block_tokens;
	return 0;
}

int ac_keys_compute(const struct ac_key_seed *seed, const int32_t *tokens,
		    size_t ntokens, uint32_t block_tokens,
		    struct ac_key *out, size_t *nkeys)
{
	const struct ac_key *prev;
	struct key_hash h;
	size_t full, i;
	int r;

	if (!seed || !nkeys || (ntokens && !tokens))
		return -EINVAL;
	if (block_tokens == 0 || block_tokens > 1024 ||
	    block_tokens != seed->block_tokens)
		return -EINVAL;
	if (seed->hash != AC_HASH_SHA256 && seed->hash != AC_HASH_XXH3)
		return -EINVAL;

	full = ntokens / block_tokens;
	if (full > *nkeys) {
		*nkeys = full;
		return -ENOBUFS;
	}
	if (full && !out)
		return -EINVAL;
	if (full == 0) {
		*nkeys = 0;
		return 0;
	}

	r = key_hash_open(&h, seed->hash);
	if (r < 0)
		return r;
	prev = &seed->seed;
	for (i = 0; i < full && r == 0; i++) {
		r = key_block(&h, prev, tokens + i * block_tokens, block_tokens,
			      &out[i]);
		prev = &out[i];
	}
	key_hash_close(&h);
	if (r < 0)
		return r;
	*nkeys = full;
	return 0;
}
