/* SPDX-License-Identifier: MIT */
/*
 * Key chain: golden values from golden_keys.py (hashlib / libxxhash via
 * ctypes), so a change to the byte layout of the chain cannot pass
 * unnoticed; plus the properties the cache relies on.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "asymcache/asymcache.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

static const struct ac_ns_layout llama = {
	.model_id = "llama-3-8b",
	.kv = { .num_layers = 32, .num_kv_heads = 8, .head_dim = 128,
		.dtype = AC_DTYPE_BF16, .block_tokens = 16 },
};

/* The keys of @ntok tokens under @seed, at most @cap; returns how many. */
static size_t keys_of(const struct ac_key_seed *seed, const int32_t *tok,
		      size_t ntok, struct ac_key *out, size_t cap)
{
	size_t n = cap;

	cr_assert_eq(ac_keys_compute(seed, tok, ntok, 16, out, &n), 0);
	return n;
}

/* The seed of @llama, unsalted, SHA-256: the chain most tests look at. */
static void llama_seed(struct ac_key_seed *seed)
{
	cr_assert_eq(ac_key_seed_init(seed, &llama, NULL, 0, AC_HASH_SHA256),
		     0);
}

static void tokens_of(int32_t *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		t[i] = (int32_t)((i * 2654435761ull) % 100003) - 50000;
}

static void hex(const struct ac_key *k, char out[33])
{
	for (int i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", k->b[i]);
}

struct golden {
	enum ac_hash hash;
	const char *salt;
	const char *seed;
	const char *keys[3];
};

static const struct golden goldens[] = {
	{ AC_HASH_SHA256, "", "fc93545385126c3ee7bfb054bc5ff6f7",
	  { "728ee4032cdc9cd8ef1afd6b8f5af41f",
	    "6f5df4828a1c09f9b9863b8bf2e16d67",
	    "7dd87fd7d182e089218b9c4f1b94d7e1" } },
	{ AC_HASH_SHA256, "tenant-a", "41ab34493ebd1e67511c3fdee9cc87b1",
	  { "210969414a166747cd88fb86e734a890",
	    "495e451728f7645bb785888cf0e5ae98",
	    "641b6aed9f0e8fd4c2734e475456a960" } },
	{ AC_HASH_XXH3, "", "69faf093391506d5864cb0b73167bc38",
	  { "607c3423a4e0a46d7b73c8f52308e6b0",
	    "047aed736138e01a08efd4994572632c",
	    "5654889f9dcf4e1ebc390f8bf505c228" } },
	{ AC_HASH_XXH3, "tenant-a", "eb70414954c5d03ae50039b2064235cd",
	  { "298383d98af4384a4509fa4f149732d0",
	    "a0c9e2ee94d55390169f668da37ac763",
	    "fba3e130bbdbc816989912c3a85d000f" } },
};

TestSuite(keys);

Test(keys, golden_values_and_partial_tail_not_keyed)
{
	int32_t tok[16 * 3 + 5];
	struct ac_key out[8];
	char buf[33];

	tokens_of(tok, 16 * 3 + 5);
	for (size_t g = 0; g < sizeof(goldens) / sizeof(goldens[0]); g++) {
		const struct golden *gv = &goldens[g];
		struct ac_key_seed seed;
		size_t n = 8;

		cr_assert_eq(ac_key_seed_init(&seed, &llama, gv->salt,
					      strlen(gv->salt), gv->hash), 0);
		hex(&seed.seed, buf);
		cr_expect_str_eq(buf, gv->seed, "seed %zu", g);
		cr_assert_eq(ac_keys_compute(&seed, tok, 16 * 3 + 5, 16, out,
					     &n), 0);
		/* 53 tokens: three full blocks, the 5-token tail gets none. */
		cr_assert_eq(n, 3);
		for (int i = 0; i < 3; i++) {
			hex(&out[i], buf);
			cr_expect_str_eq(buf, gv->keys[i], "case %zu key %d",
					 g, i);
		}
	}
}

Test(keys, stable_across_calls_and_prefix_consistent)
{
	struct ac_key_seed seed;
	int32_t tok[256];
	struct ac_key a[16], b[16];

	tokens_of(tok, 256);
	llama_seed(&seed);
	cr_assert_eq(keys_of(&seed, tok, 256, a, 16), 16);
	cr_assert_eq(keys_of(&seed, tok, 100, b, 16), 6);
	/* A shorter prompt's keys are a prefix of the longer one's. */
	cr_expect_eq(memcmp(a, b, 6 * sizeof(*a)), 0);
}

Test(keys, any_token_change_changes_its_block_and_all_later)
{
	struct ac_key_seed seed;
	int32_t tok[128];
	struct ac_key a[8], b[8];

	tokens_of(tok, 128);
	llama_seed(&seed);
	keys_of(&seed, tok, 128, a, 8);
	tok[16 * 3 + 7] ^= 1;
	keys_of(&seed, tok, 128, b, 8);
	for (int i = 0; i < 3; i++)
		cr_expect_eq(memcmp(&a[i], &b[i], 16), 0, "block %d", i);
	for (int i = 3; i < 8; i++)
		cr_expect_neq(memcmp(&a[i], &b[i], 16), 0, "block %d", i);
}

Test(keys, salt_namespace_and_hash_change_every_key)
{
	struct ac_ns_layout other;
	struct ac_key_seed s0, s1;
	int32_t tok[64];
	struct ac_key a[4], b[4];
	size_t n;
	const struct {
		const char *what;
		size_t off;
	} fields[] = {
		{ "num_layers", offsetof(struct ac_ns_layout, kv.num_layers) },
		{ "num_kv_heads", offsetof(struct ac_ns_layout, kv.num_kv_heads) },
		{ "head_dim", offsetof(struct ac_ns_layout, kv.head_dim) },
	};

	tokens_of(tok, 64);
	cr_assert_eq(ac_key_seed_init(&s0, &llama, "x", 1,
				      AC_HASH_SHA256), 0);
	n = 4;
	cr_assert_eq(ac_keys_compute(&s0, tok, 64, 16, a, &n), 0);

#define EXPECT_ALL_DIFFER(seedp, bt, what)				\
	do {								\
		n = 4;							\
		cr_assert_eq(ac_keys_compute(seedp, tok, 64, bt, b, &n), 0); \
		for (size_t i_ = 0; i_ < n; i_++)			\
			cr_expect_neq(memcmp(&a[i_], &b[i_], 16), 0,	\
				      "%s: key %zu", what, i_);		\
	} while (0)

	cr_assert_eq(ac_key_seed_init(&s1, &llama, "y", 1,
				      AC_HASH_SHA256), 0);
	EXPECT_ALL_DIFFER(&s1, 16, "salt");
	llama_seed(&s1);
	EXPECT_ALL_DIFFER(&s1, 16, "no salt");
	cr_assert_eq(ac_key_seed_init(&s1, &llama, "x", 1, AC_HASH_XXH3), 0);
	EXPECT_ALL_DIFFER(&s1, 16, "hash");

	other = llama;
	other.model_id = "llama-3-8b-instruct";
	cr_assert_eq(ac_key_seed_init(&s1, &other, "x", 1,
				      AC_HASH_SHA256), 0);
	EXPECT_ALL_DIFFER(&s1, 16, "model_id");
	other = llama;
	other.kv.dtype = AC_DTYPE_FP16;
	cr_assert_eq(ac_key_seed_init(&s1, &other, "x", 1,
				      AC_HASH_SHA256), 0);
	EXPECT_ALL_DIFFER(&s1, 16, "dtype");
	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
		other = llama;
		*(uint32_t *)((char *)&other + fields[f].off) += 1;
		cr_assert_eq(ac_key_seed_init(&s1, &other, "x", 1,
					      AC_HASH_SHA256), 0);
		EXPECT_ALL_DIFFER(&s1, 16, fields[f].what);
	}
	/* model "ab" + salt "c" must not collide with "a" + "bc". */
	other = llama;
	other.model_id = "ab";
	cr_assert_eq(ac_key_seed_init(&s0, &other, "c", 1,
				      AC_HASH_SHA256), 0);
	other.model_id = "a";
	cr_assert_eq(ac_key_seed_init(&s1, &other, "bc", 2,
				      AC_HASH_SHA256), 0);
	cr_expect_neq(memcmp(&s0.seed, &s1.seed, 16), 0);
#undef EXPECT_ALL_DIFFER
}

Test(keys, block_tokens_is_part_of_the_namespace)
{
	struct ac_ns_layout l32 = llama;
	struct ac_key_seed s16, s32;

	l32.kv.block_tokens = 32;
	llama_seed(&s16);
	cr_assert_eq(ac_key_seed_init(&s32, &l32, NULL, 0,
				      AC_HASH_SHA256), 0);
	cr_expect_neq(memcmp(&s16.seed, &s32.seed, 16), 0);
}

Test(keys, short_prompt_and_small_buffer)
{
	struct ac_key_seed seed;
	int32_t tok[64];
	struct ac_key out[4];
	size_t n;

	tokens_of(tok, 64);
	cr_assert_eq(ac_key_seed_init(&seed, &llama, NULL, 0,
				      AC_HASH_XXH3), 0);
	n = 4;
	cr_expect_eq(ac_keys_compute(&seed, tok, 15, 16, out, &n), 0);
	cr_expect_eq(n, 0);
	n = 0;
	cr_expect_eq(ac_keys_compute(&seed, NULL, 0, 16, NULL, &n), 0);
	cr_expect_eq(n, 0);
	n = 2;
	cr_expect_eq(ac_keys_compute(&seed, tok, 64, 16, out, &n), -ENOBUFS);
	cr_expect_eq(n, 4, "reports the capacity it needs");
}

Test(keys, bad_arguments_are_einval)
{
	struct ac_ns_layout bad = llama;
	struct ac_key_seed seed;
	int32_t tok[32] = { 0 };
	struct ac_key out[2];
	size_t n = 2;

	cr_expect_eq(ac_key_seed_init(NULL, &llama, NULL, 0, AC_HASH_SHA256),
		     -EINVAL);
	cr_expect_eq(ac_key_seed_init(&seed, NULL, NULL, 0, AC_HASH_SHA256),
		     -EINVAL);
	cr_expect_eq(ac_key_seed_init(&seed, &llama, NULL, 3, AC_HASH_SHA256),
		     -EINVAL, "salt_len without salt");
	cr_expect_eq(ac_key_seed_init(&seed, &llama, tok, AC_SALT_MAX + 1,
				      AC_HASH_SHA256), -EINVAL);
	cr_expect_eq(ac_key_seed_init(&seed, &llama, NULL, 0,
				      (enum ac_hash)7), -EINVAL);
	bad.kv.block_tokens = 24;
	cr_expect_eq(ac_key_seed_init(&seed, &bad, NULL, 0, AC_HASH_SHA256),
		     -EINVAL, "block_tokens not a power of two");
	bad = llama;
	bad.model_id = "";
	cr_expect_eq(ac_key_seed_init(&seed, &bad, NULL, 0, AC_HASH_SHA256),
		     -EINVAL);
	bad = llama;
	bad.kv.dtype = (enum ac_dtype)9;
	cr_expect_eq(ac_key_seed_init(&seed, &bad, NULL, 0, AC_HASH_SHA256),
		     -EINVAL);
	bad = llama;
	bad.kv.num_layers = 0;
	cr_expect_eq(ac_key_seed_init(&seed, &bad, NULL, 0, AC_HASH_SHA256),
		     -EINVAL);
	bad = llama;
	bad.kv.head_dim = 1025;
	cr_expect_eq(ac_key_seed_init(&seed, &bad, NULL, 0, AC_HASH_SHA256),
		     -EINVAL);

	llama_seed(&seed);
	cr_expect_eq(ac_keys_compute(NULL, tok, 32, 16, out, &n), -EINVAL);
	cr_expect_eq(ac_keys_compute(&seed, NULL, 32, 16, out, &n), -EINVAL);
	cr_expect_eq(ac_keys_compute(&seed, tok, 32, 16, out, NULL), -EINVAL);
	cr_expect_eq(ac_keys_compute(&seed, tok, 32, 32, out, &n), -EINVAL,
		     "block_tokens differs from the seed's");
	cr_expect_eq(ac_keys_compute(&seed, tok, 32, 16, NULL, &n), -EINVAL);
	n = 2;
	seed.hash = (enum ac_hash)5;
	cr_expect_eq(ac_keys_compute(&seed, tok, 32, 16, out, &n), -EINVAL);
}

/*
 * Not the benchmark (bench/ctl does that), a guard against a regression
 * by an order of magnitude, such as an EVP context per block: 32,768
 * tokens must key in under 5 ms (0.2 ms measured natively) even under
 * sanitizers, best of 5. Valgrind's emulation is 100x slower, so there the
 * timing means nothing and is skipped.
 */
Test(keys, sha256_32k_tokens_is_fast)
{
	static int32_t tok[32768];
	static struct ac_key out[2048];
	struct ac_key_seed seed;
	double best = 1e9;

	if (RUNNING_ON_VALGRIND)
		cr_skip_test("timing under valgrind is meaningless");
	tokens_of(tok, 32768);
	llama_seed(&seed);
	for (int rep = 0; rep < 5; rep++) {
		struct timespec a, b;
		size_t n = 2048;
		double ms;

		clock_gettime(CLOCK_MONOTONIC, &a);
		cr_assert_eq(ac_keys_compute(&seed, tok, 32768, 16, out, &n),
			     0);
		clock_gettime(CLOCK_MONOTONIC, &b);
		ms = (b.tv_sec - a.tv_sec) * 1e3 +
		     (b.tv_nsec - a.tv_nsec) / 1e6;
		if (ms < best)
			best = ms;
	}
	cr_expect_lt(best, 5.0, "best of 5: %.3f ms", best);
}
