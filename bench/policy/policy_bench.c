/* SPDX-License-Identifier: MIT */
/*
 * policy_bench: policy operations per second on one core with 10^6 blocks
 * resident, and metadata bytes per block.
 *
 * Workload per round of 4: three hits (on_access + on_pin + on_unpin, the
 * core's lookup and release) on random blocks, and one eviction followed
 * by the insert (commit + release) that refills the freed block. Every
 * policy call counts as one operation.
 *
 * Then the daemon's 2,048-key hit: 10^6 blocks as chains of 2,048; each
 * round hits a random chain whole (access + pin per block, one time
 * stamp), releases it (unpin per block, one time stamp) and evicts and
 * refills 16 blocks, as an Alloc of 16 would. It reports the mean time of
 * each of the three phases, which is what a Lookup, a Release and an Alloc
 * cost the daemon in policy calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy-internal.h"

#define CHAIN 64u

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t meta_bytes(const char *name)
{
	if (!strcmp(name, "lru"))
		return lru_bytes_per_block();
	if (!strcmp(name, "asym"))
		return asym_bytes_per_block();
	return pensieve_bytes_per_block();
}

/*
 * A policy over @n cached, unpinned blocks in chains of @chain, each block
 * committed (pinned) and released at its own time stamp from *@t on.
 */
static int filled_policy(const char *name, uint32_t n, uint32_t chain,
			 uint64_t *t, struct ac_policy **ret)
{
	const struct ac_policy_ns ns = { .ns_id = 1, .block_tokens = 16,
					 .bytes_per_block = 16 * 131072 };
	struct ac_policy *p;
	int r;

	r = ac_policy_create(name, n, &p);
	if (r < 0)
		return r;
	if (p->ops->on_namespace)
		p->ops->on_namespace(p, &ns);
	for (uint32_t id = 0; id < n; id++) {
		struct ac_policy_block blk = {
			.id = id, .ns_id = 1, .pos = id % chain,
			.parent = id % chain ? id - 1 : AC_BLOCK_NONE,
			.pinned = true,
		};

		p->ops->on_insert(p, &blk, *t);
		p->ops->on_unpin(p, id, (*t)++);
	}
	*ret = p;
	return 0;
}

static int bench(const char *name, uint32_t n, uint32_t rounds)
{
	struct ac_policy *p;
	uint64_t t = 1, ops = 0;
	unsigned seed = 42;
	double a, b;
	int r;

	r = filled_policy(name, n, CHAIN, &t, &p);
	if (r < 0)
		return r;
	a = now_s();
	for (uint32_t i = 0; i < rounds; i++) {
		uint32_t victim;

		for (int k = 0; k < 3; k++) {
			uint32_t id = (uint32_t)rand_r(&seed) % n;

			p->ops->on_access(p, id, t);
			p->ops->on_pin(p, id);
			p->ops->on_unpin(p, id, t++);
			ops += 3;
		}
		if (p->ops->pick_victims(p, 1, &victim, t) != 1) {
			ac_policy_free(p);
			return -1;
		}
		struct ac_policy_block blk = {
			.id = victim, .ns_id = 1, .pos = victim % CHAIN,
			.parent = AC_BLOCK_NONE, .pinned = true,
		};
		p->ops->on_insert(p, &blk, t);
		p->ops->on_unpin(p, victim, t++);
		ops += 3;
	}
	b = now_s();
	printf("%-9s %9u blocks  %10.2f M ops/s  %6.1f ns/op  %3zu B/block metadata\n",
	       name, n, ops / (b - a) / 1e6, (b - a) / ops * 1e9,
	       meta_bytes(name));
	ac_policy_free(p);
	return 0;
}

#define HIT_CHAIN 2048u
#define ALLOC 16u

static int bench_chain(const char *name, uint32_t n, uint32_t rounds)
{
	double lookup = 0, release = 0, alloc = 0, a, b;
	uint32_t chains = n / HIT_CHAIN, victims[ALLOC];
	struct ac_policy *p;
	unsigned seed = 43;
	uint64_t t = 1;
	int r;

	if (!chains)
		return -1;
	r = filled_policy(name, n, HIT_CHAIN, &t, &p);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < rounds; i++) {
		uint32_t first = (uint32_t)rand_r(&seed) % chains * HIT_CHAIN;
		int got;

		a = now_s();
		for (uint32_t id = first; id < first + HIT_CHAIN; id++) {
			p->ops->on_access(p, id, t);
			p->ops->on_pin(p, id);
		}
		b = now_s();
		lookup += b - a;
		t++;
		for (uint32_t id = first; id < first + HIT_CHAIN; id++)
			p->ops->on_unpin(p, id, t);
		a = now_s();
		release += a - b;
		t++;
		got = p->ops->pick_victims(p, ALLOC, victims, t);
		for (int k = 0; k < got; k++) {
			struct ac_policy_block blk = {
				.id = victims[k], .ns_id = 1,
				.pos = victims[k] % HIT_CHAIN,
				.parent = AC_BLOCK_NONE, .pinned = true,
			};

			p->ops->on_insert(p, &blk, t);
			p->ops->on_unpin(p, victims[k], t);
		}
		b = now_s();
		alloc += b - a;
		t++;
		if (got != (int)ALLOC) {
			ac_policy_free(p);
			return -1;
		}
	}
	printf("%-9s %9u blocks  hit 2048: %7.1f us  release 2048: %7.1f us  evict+refill 16: %6.2f us\n",
	       name, n, lookup / rounds * 1e6, release / rounds * 1e6,
	       alloc / rounds * 1e6);
	ac_policy_free(p);
	return 0;
}

int main(int argc, char **argv)
{
	uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1000000;
	uint32_t rounds = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) :
				     1000000;

	if (!n || !rounds) {
		fprintf(stderr, "usage: policy_bench [BLOCKS] [ROUNDS]\n");
		return 2;
	}
	for (const struct ac_policy_ops *const *o = ac_policy_list(); *o; o++)
		if (bench((*o)->name, n, rounds) < 0) {
			fprintf(stderr, "policy_bench: %s failed\n", (*o)->name);
			return 1;
		}
	/* A few thousand chain hits are enough for a stable mean. */
	rounds = rounds / 250 ? rounds / 250 : 1;
	for (const struct ac_policy_ops *const *o = ac_policy_list(); *o; o++)
		if (bench_chain((*o)->name, n, rounds) < 0) {
			fprintf(stderr, "policy_bench: %s chain failed\n",
				(*o)->name);
			return 1;
		}
	return 0;
}
