/* SPDX-License-Identifier: MIT */
/* Greedy argmax, log-softmax, and the seeded temperature/top-p sampler. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ops.h"
#include "ops_test.h"

TestSuite(ops_logits);

Test(ops_logits, argmax_ties_go_to_the_lowest_index)
{
	float l[2][10] = {
		{ 0, 1, 2, 5, 1, 0, 3, 5, 5, -1 },
		{ -INFINITY, -INFINITY, -3, -3, -INFINITY, -3, -7, -8, -9, -10 },
	};
	int32_t tok[2];

	cr_assert_eq(ac_op_argmax_cpu(tok, &l[0][0], 2, 10), 0);
	cr_assert_eq(tok[0], 3);
	cr_assert_eq(tok[1], 2);
	l[1][4] = NAN;
	cr_assert_eq(ac_op_argmax_cpu(tok, &l[0][0], 2, 10), -EINVAL);
	cr_assert_eq(ac_op_argmax_cpu(tok, &l[0][0], 1, 0), -EINVAL);
}

Test(ops_logits, argmax_random_rows)
{
	uint64_t s, seed = ot_start(&s);

	for (int rep = 0; rep < 50; rep++) {
		uint32_t vocab = ot_range(&s, 1, 5000);
		float *l = ot_floats(&s, vocab, -20.0f, 20.0f);
		uint32_t want = ot_range(&s, 0, vocab - 1);
		int32_t tok;

		l[want] = 21.0f;
		cr_assert_eq(ac_op_argmax_cpu(&tok, l, 1, vocab), 0);
		cr_assert_eq(tok, (int32_t)want, "seed %#llx",
			     (unsigned long long)seed);
		free(l);
	}
}

Test(ops_logits, log_softmax_matches_float64)
{
	uint64_t s, seed = ot_start(&s);

	for (int rep = 0; rep < 20; rep++) {
		uint32_t rows = ot_range(&s, 1, 3), vocab = ot_range(&s, 1, 50000);
		float shift = ot_uniform(&s, -100.0f, 100.0f);
		size_t n = (size_t)rows * vocab;
		float *l = ot_floats(&s, n, shift - 15.0f, shift + 15.0f);
		float *o = ot_alloc(n * sizeof(float));

		cr_assert_eq(ac_op_log_softmax_cpu(o, l, rows, vocab), 0);
		for (uint32_t r = 0; r < rows; r++) {
			const float *lr = l + (size_t)r * vocab;
			double m = -INFINITY, sum = 0.0;

			for (uint32_t i = 0; i < vocab; i++)
				m = fmax(m, lr[i]);
			for (uint32_t i = 0; i < vocab; i++)
				sum += exp(lr[i] - m);
			for (uint32_t i = 0; i < vocab; i++) {
				double ref = lr[i] - m - log(sum);

				cr_assert_leq(fabs(o[(size_t)r * vocab + i] - ref),
					      2e-6 + 2e-7 * fabs(ref),
					      "seed %#llx row %u i %u",
					      (unsigned long long)seed, r, i);
			}
		}
		/* In place agrees bit for bit. */
		cr_assert_eq(ac_op_log_softmax_cpu(l, l, rows, vocab), 0);
		cr_assert_eq(memcmp(l, o, n * sizeof(float)), 0);
		free(l);
		free(o);
	}
}

Test(ops_logits, log_softmax_rejects_nan_rows_untouched)
{
	float l[2][3] = { { 1, 2, 3 }, { 0, NAN, 1 } }, copy[2][3];
	float inf[3] = { -INFINITY, -INFINITY, -INFINITY };

	memcpy(copy, l, sizeof(l));
	cr_assert_eq(ac_op_log_softmax_cpu(&l[0][0], &l[0][0], 2, 3), -EINVAL);
	cr_assert_eq(memcmp(copy, l, sizeof(l)), 0, "row 0 written");
	cr_assert_eq(ac_op_log_softmax_cpu(inf, inf, 1, 3), -EINVAL);
}

Test(ops_logits, sampling_replays_with_the_seed)
{
	uint64_t s, seed = ot_start(&s);
	struct ac_sampler a, b, c;
	uint32_t vocab = 1000;
	int32_t ta, tb, tc;
	float *l;
	int same_as_other_seed = 0;

	l = ot_floats(&s, vocab, -5.0f, 5.0f);
	for (uint32_t i = 0; i < vocab; i++)
		l[i] *= 0.1f;	/* near flat: many tokens in play */
	cr_assert_eq(ac_sampler_init(&a, vocab, 0.8f, 0.95f, seed), 0);
	cr_assert_eq(ac_sampler_init(&b, vocab, 0.8f, 0.95f, seed), 0);
	cr_assert_eq(ac_sampler_init(&c, vocab, 0.8f, 0.95f, seed ^ 0x5555), 0);
	for (int i = 0; i < 200; i++) {
		cr_assert_eq(ac_op_sample_cpu(&a, l, &ta), 0);
		cr_assert_eq(ac_op_sample_cpu(&b, l, &tb), 0);
		cr_assert_eq(ac_op_sample_cpu(&c, l, &tc), 0);
		cr_assert_eq(ta, tb, "seed %#llx draw %d",
			     (unsigned long long)seed, i);
		cr_assert(ta >= 0 && ta < (int32_t)vocab);
		same_as_other_seed += ta == tc;
	}
	/* About 200/1000 matches by chance; a shared stream gives 200. */
	cr_assert_lt(same_as_other_seed, 20, "seed %#llx: other seed tracks",
		     (unsigned long long)seed);
	ac_sampler_free(&a);
	ac_sampler_free(&b);
	ac_sampler_free(&c);
	free(l);
}

/*
 * Probabilities 0.5, 0.3, 0.15, 0.05 (logits = their logs, shuffled over
 * the ids).  top_p 0.75 keeps {0.5, 0.3}: 0.5 alone is short of 0.75,
 * 0.8 reaches it.  Within the nucleus the odds are 5 : 3.
 */
Test(ops_logits, top_p_cuts_at_the_mass)
{
	uint64_t seed = th_test_seed();
	float l[4] = { logf(0.15f), logf(0.5f), logf(0.05f), logf(0.3f) };
	struct ac_sampler smp;
	int counts[4] = { 0 };
	const int draws = 20000;
	double p1, sd;
	int32_t t;

	cr_assert_eq(ac_sampler_init(&smp, 4, 1.0f, 0.75f, seed), 0);
	for (int i = 0; i < draws; i++) {
		cr_assert_eq(ac_op_sample_cpu(&smp, l, &t), 0);
		counts[t]++;
	}
	cr_assert_eq(counts[0] + counts[2], 0,
		     "seed %#llx: tokens outside the nucleus drawn (%d, %d)",
		     (unsigned long long)seed, counts[0], counts[2]);
	p1 = (double)counts[1] / draws;
	sd = sqrt(0.625 * 0.375 / draws);
	cr_assert_leq(fabs(p1 - 0.625), 5 * sd, "seed %#llx: p = %.4f",
		      (unsigned long long)seed, p1);

	/* top_p 0.85 brings in the 0.15 token; 0.05 stays out. */
	ac_sampler_free(&smp);
	cr_assert_eq(ac_sampler_init(&smp, 4, 1.0f, 0.85f, seed), 0);
	memset(counts, 0, sizeof(counts));
	for (int i = 0; i < draws; i++) {
		cr_assert_eq(ac_op_sample_cpu(&smp, l, &t), 0);
		counts[t]++;
	}
	cr_assert_eq(counts[2], 0);
	cr_assert_gt(counts[0], 0);
	ac_sampler_free(&smp);
}

/*
 * Equal probabilities across the cut go in id order: five tokens tied
 * at ~0.2 (ids 2, 4, 5, 6, 7; the rest e^-30 below) with top_p 0.3 keep
 * two of them (0.2 < 0.3 <= 0.4), and those must be ids 2 and 4.
 */
Test(ops_logits, top_p_ties_cut_in_id_order)
{
	float l[8] = { -30, -30, 0, -30, 0, 0, 0, 0 };
	struct ac_sampler smp;
	int counts[8] = { 0 };
	int32_t t;

	cr_assert_eq(ac_sampler_init(&smp, 8, 1.0f, 0.3f, th_test_seed()), 0);
	for (int i = 0; i < 3000; i++) {
		cr_assert_eq(ac_op_sample_cpu(&smp, l, &t), 0);
		counts[t]++;
	}
	cr_assert_gt(counts[2], 0);
	cr_assert_gt(counts[4], 0);
	cr_assert_eq(counts[2] + counts[4], 3000, "%d %d %d %d %d", counts[2],
		     counts[4], counts[5], counts[6], counts[7]);
	ac_sampler_free(&smp);
}

/* Without a cut, frequencies follow softmax(l / T). */
Test(ops_logits, temperature_sampling_follows_softmax)
{
	uint64_t s, seed = ot_start(&s);
	float l[6];
	double p[6], sum = 0.0;
	int counts[6] = { 0 };
	const int draws = 30000;
	const float temp = 0.7f;
	struct ac_sampler smp;
	int32_t t;

	ot_fill(&s, l, 6, -2.0f, 2.0f);
	for (int i = 0; i < 6; i++)
		sum += p[i] = exp(l[i] / temp);
	cr_assert_eq(ac_sampler_init(&smp, 6, temp, 1.0f, seed), 0);
	for (int i = 0; i < draws; i++) {
		cr_assert_eq(ac_op_sample_cpu(&smp, l, &t), 0);
		counts[t]++;
	}
	for (int i = 0; i < 6; i++) {
		double q = p[i] / sum, f = (double)counts[i] / draws;

		cr_assert_leq(fabs(f - q), 5 * sqrt(q * (1 - q) / draws) + 1e-9,
			      "seed %#llx token %d: %.4f vs %.4f",
			      (unsigned long long)seed, i, f, q);
	}
	ac_sampler_free(&smp);
}

Test(ops_logits, greedy_and_bad_input)
{
	float l[5] = { 0.5f, 2.0f, -1.0f, 2.0f, 1.0f };
	struct ac_sampler smp;
	int32_t t = -1;

	cr_assert_eq(ac_sampler_init(&smp, 5, 0.0f, 0.9f, 1), 0);
	for (int i = 0; i < 10; i++) {
		cr_assert_eq(ac_op_sample_cpu(&smp, l, &t), 0);
		cr_assert_eq(t, 1, "greedy must take the first maximum");
	}
	l[2] = NAN;
	cr_assert_eq(ac_op_sample_cpu(&smp, l, &t), -EINVAL);
	ac_sampler_free(&smp);
	/* A tiny top_p keeps only the most likely token, whatever the seed. */
	l[2] = -1.0f;
	cr_assert_eq(ac_sampler_init(&smp, 5, 1.0f, 0.01f, th_test_seed()), 0);
	for (int i = 0; i < 50; i++) {
		cr_assert_eq(ac_op_sample_cpu(&smp, l, &t), 0);
		cr_assert_eq(t, 1);
	}
	ac_sampler_free(&smp);
	/* A subnormal temperature is greedy in effect, not NaN. */
	l[3] = 1.5f;
	cr_assert_eq(ac_sampler_init(&smp, 5, 1e-40f, 0.9f, th_test_seed()), 0);
	for (int i = 0; i < 50; i++) {
		cr_assert_eq(ac_op_sample_cpu(&smp, l, &t), 0);
		cr_assert_eq(t, 1);
	}
	ac_sampler_free(&smp);
	cr_assert_eq(ac_sampler_init(&smp, 5, -1.0f, 0.9f, 1), -EINVAL);
	cr_assert_eq(ac_sampler_init(&smp, 5, INFINITY, 0.9f, 1), -EINVAL);
	cr_assert_eq(ac_sampler_init(&smp, 5, 1.0f, 0.0f, 1), -EINVAL);
	cr_assert_eq(ac_sampler_init(&smp, 5, 1.0f, 1.5f, 1), -EINVAL);
	cr_assert_eq(ac_sampler_init(&smp, 0, 1.0f, 0.9f, 1), -EINVAL);
}
