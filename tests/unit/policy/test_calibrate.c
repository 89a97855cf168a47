/* SPDX-License-Identifier: MIT */
/* asymcache-calibrate on the host backend: a file the cost model loads. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cost_model.h"

static int run(const char *args, char *out, size_t outsz)
{
	const char *root = getenv("AC_BUILD_ROOT");
	char cmd[8192];
	int st;

	cr_assert_not_null(root, "run through meson test");
	snprintf(out, outsz, "/tmp/ac-cal-%d.json", (int)getpid());
	snprintf(cmd, sizeof(cmd),
		 "%s/tools/calibrate/asymcache-calibrate --backend cpu --out %s %s "
		 ">/dev/null 2>&1", root, out, args);
	st = system(cmd);
	cr_assert_neq(st, -1);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(policy_calibrate, host_backend_writes_a_loadable_file, .timeout = 120)
{
	struct ac_cost_model m;
	char path[256];

	cr_assert_eq(run("--quick --layers 2 --hidden 256 --ffn 512 "
			 "--q-heads 4 --kv-heads 2 --head-dim 64 --vocab 1000 "
			 "--gpu test-host", path, sizeof(path)), 0);
	cr_assert_eq(ac_cost_model_load(path, &m), 0);
	unlink(path);
	cr_assert_str_eq(m.gpu, "test-host");
	cr_assert_eq(m.layout.kv.num_layers, 2);
	cr_assert_eq(m.layout.kv.head_dim, 64);
	cr_assert_gt(m.linear_s, 0);
	cr_assert_gt(m.attn_s, 0, "attention time grows with context");
	cr_assert_gt(m.decode_ctx_s, 0);
	cr_assert_gt(m.iteration_s, 0);
	cr_assert_not_null(strstr(m.source, "MEASURED"));
	/* Longer context must cost more under the fitted model. */
	cr_assert_gt(ac_cost_recompute_s(&m, 64, 4096, 1),
		     ac_cost_recompute_s(&m, 64, 0, 1));
}

Test(policy_calibrate, bad_arguments_are_refused)
{
	char path[256];

	cr_assert_eq(run("--quick --kv-heads 3", path, sizeof(path)), 2,
		     "32 query heads do not split over 3 kv heads");
	cr_assert_eq(access(path, F_OK), -1, "no file written");
	cr_assert_eq(run("--quick --reps 0", path, sizeof(path)), 2);
	cr_assert_eq(run("--quick --layers 2 --hidden 256 --ffn 512 "
			 "--q-heads 4 --kv-heads 2 --head-dim 64 --vocab 1000 "
			 "--out /nonexistent/dir/x.json", path, sizeof(path)), 1);
}

/*
 * Iterations drawn from a known model (with +-3% noise, deterministic):
 * the fit must give its coefficients back.
 */
static void write_iterations(const char *path, int bad_line)
{
	const double lin = 2e-5, attn = 1e-9, seg = 1e-4, floor_s = 4e-3,
		     ctx_s = 2e-8;
	static const unsigned sizes[] = { 0, 0, 0, 128, 512, 2048, 4096 };
	unsigned long long x = 12345;
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	for (int i = 0; i < 300; i++) {
		unsigned P, D, S;
		double pairs, c, t;

#define NEXT() (x = x * 6364136223846793005ull + 1442695040888963407ull, \
		(double)(x >> 11) / (double)(1ull << 53))
		P = sizes[(unsigned)(NEXT() * 7)];
		D = 1 + (unsigned)(NEXT() * 32);
		c = D * (100 + NEXT() * 4000);
		pairs = P ? P * (NEXT() * 8000 + P / 2.0) : 0;
		S = P ? 1 + (unsigned)(NEXT() * 4) : 0;
		t = (lin * (P + D) > floor_s ? lin * (P + D) : floor_s) +
		    attn * pairs + seg * S + ctx_s * c;
		t *= 0.97 + 0.06 * NEXT();
#undef NEXT
		if (i == bad_line)
			fprintf(f, "{\"prefill_tokens\": %u}\n", P);
		else
			fprintf(f, "{\"iter\": %d, \"prefill_tokens\": %u, \"prefill_pairs\": %.1f, "
				"\"segments\": %u, \"decode_tokens\": %u, \"decode_ctx\": %.0f, "
				"\"forward_s\": %.9f}\n", i, P, pairs, S, D, c, t);
	}
	fclose(f);
}

Test(policy_calibrate, fit_to_engine_iterations)
{
	struct ac_cost_model m;
	char path[256], it[64], args[256];

	snprintf(it, sizeof(it), "/tmp/ac-cal-it-%d.jsonl", (int)getpid());
	write_iterations(it, -1);
	snprintf(args, sizeof(args), "--from-iterations %s --shape tiny --gpu test", it);
	cr_assert_eq(run(args, path, sizeof(path)), 0);
	cr_assert_eq(ac_cost_model_load(path, &m), 0);
	unlink(path);
	cr_assert_str_eq(m.model, "tiny");
	cr_assert_eq(m.layout.kv.num_layers, 2, "the tiny shape's layout");
	cr_assert_not_null(strstr(m.source, "FITTED"));
	cr_assert_float_eq(m.linear_s, 2e-5, 0.1 * 2e-5);
	cr_assert_float_eq(m.attn_s, 1e-9, 0.1 * 1e-9);
	cr_assert_float_eq(m.segment_s, 1e-4, 0.3 * 1e-4);
	cr_assert_float_eq(m.iteration_s, 4e-3, 0.1 * 4e-3);
	cr_assert_float_eq(m.decode_ctx_s, 2e-8, 0.1 * 2e-8);
	/* A bad line is named and nothing is written. */
	write_iterations(it, 7);
	cr_assert_eq(run(args, path, sizeof(path)), 1);
	cr_assert_eq(access(path, F_OK), -1);
	unlink(it);
	cr_assert_eq(run(args, path, sizeof(path)), 1, "no such file");
	cr_assert_eq(run("--from-iterations /dev/null --shape nosuch", path,
			 sizeof(path)), 2);
}

/*
 * Passes that show neither a floor nor a cost per token (decode time
 * proportional to context, prefill time all attention: what a tiny model
 * on a CPU can give): the fit still writes a file the cost model loads,
 * with a negligible positive linear_s. It used to write 0, which the
 * loader refuses, and bench/e2e's speed step failed on it.
 */
Test(policy_calibrate, passes_with_no_floor_nor_token_cost_still_load)
{
	struct ac_cost_model m;
	char path[256], it[64], args[256];
	FILE *f;

	snprintf(it, sizeof(it), "/tmp/ac-cal-it0-%d.jsonl", (int)getpid());
	f = fopen(it, "w");
	cr_assert_not_null(f);
	for (int i = 0; i < 40; i++) {
		unsigned P = i % 4 ? 0 : 64 + 32 * (unsigned)i, D = 1 + i % 3;
		double ctx = 100.0 * (i + 1), pairs = P ? P * (P / 2.0 + i) : 0;

		fprintf(f, "{\"iter\": %d, \"prefill_tokens\": %u, \"prefill_pairs\": %.1f, "
			"\"segments\": %u, \"decode_tokens\": %u, \"decode_ctx\": %.0f, "
			"\"forward_s\": %.12f}\n", i, P, pairs, P ? 1 : 0, D, ctx,
			3e-7 * ctx + 3e-7 * pairs);
	}
	fclose(f);
	snprintf(args, sizeof(args), "--from-iterations %s --shape tiny --gpu test", it);
	cr_assert_eq(run(args, path, sizeof(path)), 0);
	unlink(it);
	cr_assert_eq(ac_cost_model_load(path, &m), 0, "the fitted file must load");
	unlink(path);
	cr_assert_gt(m.linear_s, 0);
	cr_assert_leq(m.linear_s, 1e-8, "no cost per token in the data: %g", m.linear_s);
	cr_assert_float_eq(m.decode_ctx_s, 3e-7, 0.05 * 3e-7);
}
