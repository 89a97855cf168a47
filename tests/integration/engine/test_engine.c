/* SPDX-License-Identifier: MIT */
/*
 * Lossless through a real asymcached: a prompt is generated once with no
 * cache, then, again and again, after random sets of its blocks were
 * evicted through the daemon's admin interface (org.asymcache.Daemon1
 * EvictBlocks on a private bus), with MSA recomputing the holes and with
 * prefix reuse. Every run must produce the same greedy tokens, and the
 * hits must be exactly the blocks left in the pool.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_env.h"

#define GEN 12

static void gen(struct ac_runner *r, const int32_t *prompt, uint32_t n,
		int32_t *out, struct ac_gen_stats *st)
{
	struct ac_gen_opts g = { .max_tokens = GEN };
	uint32_t got = 0;

	cr_assert_eq(ac_runner_generate(r, prompt, n, &g, out, &got, st), 0);
	cr_assert_eq(got, GEN);
}

/*
 * Every full block of the prompt and the generated tokens that went
 * through the model (all but the last) is cached under the key a fresh
 * chain gives it: the blocks a decode committed one by one too.
 */
static void expect_all_cached(struct env *e, struct ac_runner *r,
			      const int32_t *prompt, uint32_t n,
			      const int32_t *gen, uint32_t block_tokens)
{
	int32_t *seq = malloc(sizeof(*seq) * (n + GEN));
	struct ac_runner_probe p = { .nkeys = 256 };
	uint32_t blocks[256];
	struct ac_segment segs[257];
	struct ac_lookup_result res = { .blocks = blocks, .segments = segs,
					.max_segments = 257 };

	memcpy(seq, prompt, sizeof(*seq) * n);
	memcpy(seq + n, gen, sizeof(*seq) * (GEN - 1));
	cr_assert_eq(ac_runner_keys(r, seq, n + GEN - 1, p.keys, &p.nkeys,
				    &p.ns), 0);
	cr_assert_gt(p.nkeys, n / block_tokens, "the decode filled a block");
	cr_assert_eq(ac_lookup(e->peek, p.ns, p.keys, p.nkeys, &res), 0);
	cr_assert_eq(res.hits, p.nkeys, "%u of %zu blocks cached", res.hits,
		     p.nkeys);
	cr_assert_eq(ac_release(e->peek, blocks, p.nkeys, NULL), 0);
	free(seq);
}

static void lossless(const char *model_src, const char *pool,
		     uint32_t block_tokens, uint32_t nprompt, int patterns)
{
	struct ac_runner_opts ro = { .model_id = NULL,
				     .block_tokens = block_tokens };
	struct ac_runner *none = NULL, *msa = NULL, *prefix = NULL;
	struct ac_runner_probe probe;
	struct ac_weights *w = NULL;
	struct ac_model *m = NULL;
	struct ac_gen_stats st;
	int32_t *prompt, ref[GEN], out[GEN];
	char err[256] = "";
	bool keep[256];
	struct env e;

	cr_assert_eq(ac_weights_load(model_src, AC_DTYPE_FP32, 3, &w, err,
				     sizeof(err)), 0, "%s", err);
	cr_assert_eq(ac_model_create(w, AC_FWD_CPU, nprompt, &m, err,
				     sizeof(err)), 0, "%s", err);
	env_start(&e, pool);
	ro.socket = e.d.sock;
	ro.model_id = w->cfg.name;
	ro.reuse = AC_REUSE_NONE;
	env_runner(m, &ro, &none);
	ro.reuse = AC_REUSE_MSA;
	env_runner(m, &ro, &msa);
	ro.reuse = AC_REUSE_PREFIX;
	env_runner(m, &ro, &prefix);
	env_peek_register(&e, m, &ro);

	prompt = malloc(sizeof(*prompt) * nprompt);
	srand(2024);
	for (uint32_t i = 0; i < nprompt; i++)
		prompt[i] = rand() % (int)w->cfg.vocab;
	probe.nkeys = 256;
	cr_assert_eq(ac_runner_keys(msa, prompt, nprompt, probe.keys,
				    &probe.nkeys, &probe.ns), 0);

	gen(none, prompt, nprompt, ref, &st);
	cr_assert_eq(st.reused_tokens, 0);
	expect_all_cached(&e, msa, prompt, nprompt, ref, block_tokens);
	for (int it = 0; it < patterns; it++) {
		uint32_t nkeep, holes = 0;
		bool in_hole = false;

		/* Every prompt block cached again, then a random set kept. */
		gen(none, prompt, nprompt, out, &st);
		for (uint32_t i = 0; i < probe.nkeys; i++) {
			keep[i] = rand() % 3 != 0;
			if (!keep[i] && !in_hole)
				holes++;
			in_hole = !keep[i];
		}
		nkeep = env_keep_only(&e, &probe, keep);
		gen(it % 4 == 3 ? prefix : msa, prompt, nprompt, out, &st);
		cr_assert_arr_eq(out, ref, sizeof(ref),
				 "pattern %d: tokens differ from the uncached run",
				 it);
		cr_assert_eq(st.hit_blocks, nkeep, "pattern %d", it);
		if (it % 4 != 3)
			cr_assert_eq(st.reused_tokens, nkeep * block_tokens,
				     "pattern %d", it);
		(void)holes;
	}
	ac_runner_free(none);
	ac_runner_free(msa);
	ac_runner_free(prefix);
	env_stop(&e);
	ac_model_free(m);
	ac_weights_free(w);
	free(prompt);
}

Test(engine, tiny_is_lossless_under_forced_evictions)
{
	/* tiny: 2 layers, 2 KV heads of 16, fp32: 8 KiB a 16-token block. */
	lossless("tiny", "[pool]\nbackend = host\nbytes = 2M\nblock_bytes = 8K\n",
		 16, 300, 24);
}

Test(engine, smollm2_is_lossless_under_forced_evictions)
{
	char path[512];
	const char *root = getenv("AC_SOURCE_ROOT");

	snprintf(path, sizeof(path), "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf",
		 root ? root : ".");
	if (access(path, R_OK) != 0)
		cr_skip_test("%s is not there (scripts/fetch-model.sh fetches it)",
			     path);
	/* 30 layers under valgrind take most of an hour; tiny runs the path. */
	if (getenv("AC_VALGRIND") && !strcmp(getenv("AC_VALGRIND"), "1"))
		cr_skip_test("too slow under valgrind (make valgrind)");
	/* 30 layers, 3 KV heads of 64, fp32: 720 KiB a 16-token block. */
	lossless(path, "[pool]\nbackend = host\nbytes = 256M\nblock_bytes = 720K\n",
		 16, 150, 4);
}
