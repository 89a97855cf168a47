/* SPDX-License-Identifier: MIT */
/*
 * RoPE: the inverse-frequency table against values worked out by hand
 * from transformers' _compute_llama3_parameters, against a float64
 * re-derivation over random parameters, and the rotation against float64.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ops.h"
#include "ops_test.h"

TestSuite(ops_rope);

#define REL(a, b, tol) (fabs((double)(a) - (b)) <= (tol) * fabs(b))

/*
 * head_dim 8, theta 1e4: base frequencies 1, 0.1, 0.01, 0.001, i.e.
 * wavelengths 2pi, 20pi, 200pi, 2000pi.  With original 1024, low 1,
 * high 4 the band edges are 1024 and 256 tokens: the first two are
 * short (kept), 200pi = 628.3 is in the band, 2000pi is long (/ factor).
 * In the band s = (1024 / 200pi - 1) / (4 - 1) = 0.2099157 and the value
 * is (1 - s) * 0.01 / 8 + s * 0.01 = 0.01 * (0.125 + 0.875 s).
 */
Test(ops_rope, llama3_small_table_by_hand)
{
	struct ac_rope_params p = {
		.theta = 10000.0, .llama3 = true, .factor = 8.0,
		.low_freq_factor = 1.0, .high_freq_factor = 4.0,
		.original_max_position = 1024.0,
	};
	const double want[4] = { 1.0, 0.1, 0.00308676097, 0.000125 };
	float f[4];

	cr_assert_eq(ac_rope_inv_freq(f, 8, &p), 0);
	for (int i = 0; i < 4; i++)
		cr_assert(REL(f[i], want[i], 1e-6), "inv_freq[%d] = %.9g, want %.9g",
			  i, f[i], want[i]);
	/* Without scaling the same table is the plain theta^(-2i/d). */
	p.llama3 = false;
	cr_assert_eq(ac_rope_inv_freq(f, 8, &p), 0);
	cr_assert(REL(f[2], 0.01, 1e-6));
	cr_assert(REL(f[3], 0.001, 1e-6));
}

/*
 * Llama 3.1 8B: theta 5e5, head_dim 128, factor 8, low 1, high 4,
 * original 8192.  Short band: 2pi / b < 2048, i.e. b > 3.068e-3, which
 * holds for b_i = 5e5^(-i/64) while i <= 28 (b_28 = 3.2114e-3,
 * b_29 = 2.6161e-3).  Long band: b < 2pi / 8192 = 7.670e-4, from i = 35
 * (b_34 = 9.3847e-4, b_35 = 7.6450e-4).  Between, e.g. i = 30:
 * b = 2.13112e-3, wavelength 2948.29, s = (8192 / 2948.29 - 1) / 3 =
 * 0.592852, value b * (0.125 + 0.875 s) = 1.371894e-3.
 */
Test(ops_rope, llama3_8b_bands_by_hand)
{
	struct ac_rope_params p = {
		.theta = 500000.0, .llama3 = true, .factor = 8.0,
		.low_freq_factor = 1.0, .high_freq_factor = 4.0,
		.original_max_position = 8192.0,
	};
	float f[64];

	cr_assert_eq(ac_rope_inv_freq(f, 128, &p), 0);
	for (int i = 0; i <= 28; i++)
		cr_assert(REL(f[i], pow(5e5, -i / 64.0), 1e-6), "i %d", i);
	for (int i = 35; i < 64; i++)
		cr_assert(REL(f[i], pow(5e5, -i / 64.0) / 8.0, 1e-6), "i %d", i);
	cr_assert(REL(f[28], 0.00321144599, 1e-6));
	cr_assert(REL(f[29], 0.00216657076, 1e-6));
	cr_assert(REL(f[30], 0.00137189357, 1e-6));
	cr_assert(REL(f[34], 0.000178507813, 1e-6));
	cr_assert(REL(f[35], 9.55621235e-05, 1e-6));
	cr_assert(REL(f[63], 3.06892599e-07, 1e-6));
	/* The band blends continuously between the kept and divided values. */
	for (int i = 29; i < 35; i++)
		cr_assert(f[i] < pow(5e5, -i / 64.0) &&
			  f[i] > pow(5e5, -i / 64.0) / 8.0, "i %d", i);
}

/*
 * transformers' shape of the computation: everything divided where the
 * wavelength is long, then the smoothed value substituted in the band.
 */
static double hf_style(double theta, uint32_t d, uint32_t i,
		       const struct ac_rope_params *p)
{
	double inv = 1.0 / pow(theta, (2.0 * i) / d);
	double wl = 2.0 * M_PI / inv;
	double lo = p->original_max_position / p->low_freq_factor;
	double hi = p->original_max_position / p->high_freq_factor;
	double llama = wl > lo ? inv / p->factor : inv;
	double smooth = (p->original_max_position / wl - p->low_freq_factor) /
			(p->high_freq_factor - p->low_freq_factor);
	double smoothed = (1 - smooth) * llama / p->factor + smooth * llama;

	return !(wl < hi) && !(wl > lo) ? smoothed : llama;
}

Test(ops_rope, llama3_random_params_match_float64)
{
	uint64_t s, seed = ot_start(&s);
	float f[AC_ROPE_HEAD_DIM_MAX / 2];

	for (int rep = 0; rep < 200; rep++) {
		uint32_t d = 2 * ot_range(&s, 1, AC_ROPE_HEAD_DIM_MAX / 2);
		struct ac_rope_params p = {
			.theta = ot_uniform(&s, 100.0f, 2e6f),
			.llama3 = true,
			.factor = ot_uniform(&s, 1.0f, 64.0f),
			.low_freq_factor = ot_uniform(&s, 0.5f, 2.0f),
			.original_max_position = ot_range(&s, 256, 65536),
		};

		p.high_freq_factor = p.low_freq_factor + ot_uniform(&s, 0.5f, 8.0f);
		cr_assert_eq(ac_rope_inv_freq(f, d, &p), 0);
		for (uint32_t i = 0; i < d / 2; i++) {
			double want = hf_style(p.theta, d, i, &p);

			cr_assert(REL(f[i], want, 2e-7),
				  "seed %#llx d %u i %u: %.9g vs %.9g",
				  (unsigned long long)seed, d, i, f[i], want);
		}
	}
}

Test(ops_rope, inv_freq_rejects_bad_params)
{
	struct ac_rope_params p = {
		.theta = 500000.0, .llama3 = true, .factor = 8.0,
		.low_freq_factor = 1.0, .high_freq_factor = 4.0,
		.original_max_position = 8192.0,
	};
	struct ac_rope_params q;
	float f[AC_ROPE_HEAD_DIM_MAX];

	cr_assert_eq(ac_rope_inv_freq(f, 7, &p), -EINVAL);
	cr_assert_eq(ac_rope_inv_freq(f, 0, &p), -EINVAL);
	cr_assert_eq(ac_rope_inv_freq(f, 2 * AC_ROPE_HEAD_DIM_MAX, &p), -EINVAL);
	q = p;
	q.high_freq_factor = q.low_freq_factor;
	cr_assert_eq(ac_rope_inv_freq(f, 64, &q), -EINVAL);
	q = p;
	q.factor = 0.0;
	cr_assert_eq(ac_rope_inv_freq(f, 64, &q), -EINVAL);
	q = p;
	q.original_max_position = 0.0;
	cr_assert_eq(ac_rope_inv_freq(f, 64, &q), -EINVAL);
	q = p;
	q.theta = NAN;
	cr_assert_eq(ac_rope_inv_freq(f, 64, &q), -EINVAL);
	/* Scaling fields are not read when llama3 is off. */
	q = p;
	q.llama3 = false;
	q.factor = 0.0;
	cr_assert_eq(ac_rope_inv_freq(f, 64, &q), 0);
}

/* Rotate-half by hand: head_dim 4 pairs (0, 2) and (1, 3). */
Test(ops_rope, rotate_half_pairs_by_hand)
{
	float inv[2] = { 1.0f, 0.5f };
	float q[4] = { 1.0f, 2.0f, 3.0f, 4.0f };
	int32_t pos[1] = { 2 };

	cr_assert_eq(ac_op_rope_cpu(q, 4, NULL, 0, pos, 1, 1, 0, 4, inv), 0);
	/* Pair (0, 2) turns by 2 radians, pair (1, 3) by 1. */
	cr_assert_float_eq(q[0], 1.0 * cos(2.0) - 3.0 * sin(2.0), 1e-6);
	cr_assert_float_eq(q[2], 3.0 * cos(2.0) + 1.0 * sin(2.0), 1e-6);
	cr_assert_float_eq(q[1], 2.0 * cos(1.0) - 4.0 * sin(1.0), 1e-6);
	cr_assert_float_eq(q[3], 4.0 * cos(1.0) + 2.0 * sin(1.0), 1e-6);
}

Test(ops_rope, random_rotation_matches_float64)
{
	uint64_t s, seed = ot_start(&s);

	for (int rep = 0; rep < 40; rep++) {
		uint32_t d = 2 * ot_range(&s, 1, 128);
		uint32_t hq = ot_range(&s, 1, 6), hk = ot_range(&s, 0, 3);
		uint32_t n = ot_range(&s, 1, 12);
		uint32_t ld_q = hq * d + ot_range(&s, 0, 2) * d;
		uint32_t ld_k = hk * d + ot_range(&s, 0, 3);
		struct ac_rope_params p = {
			.theta = ot_uniform(&s, 1000.0f, 1e6f),
			.llama3 = rep % 2,
			.factor = 8.0, .low_freq_factor = 1.0,
			.high_freq_factor = 4.0, .original_max_position = 8192.0,
		};
		float *inv = ot_alloc(d / 2 * sizeof(float));
		float *q = ot_floats(&s, (size_t)n * ld_q, -4.0f, 4.0f);
		float *k = ot_floats(&s, (size_t)n * ld_k + 1, -4.0f, 4.0f);
		float *q0 = ot_alloc((size_t)n * ld_q * sizeof(float));
		float *k0 = ot_alloc(((size_t)n * ld_k + 1) * sizeof(float));
		int32_t *pos = ot_alloc(n * sizeof(int32_t));

		cr_assert_eq(ac_rope_inv_freq(inv, d, &p), 0);
		memcpy(q0, q, (size_t)n * ld_q * sizeof(float));
		memcpy(k0, k, ((size_t)n * ld_k + 1) * sizeof(float));
		for (uint32_t t = 0; t < n; t++)
			pos[t] = (int32_t)ot_range(&s, 0, rep < 20 ? 64 : 9000);
		cr_assert_eq(ac_op_rope_cpu(q, ld_q, hk ? k : NULL, ld_k, pos, n,
					    hq, hk, d, inv), 0);

		for (uint32_t t = 0; t < n; t++) {
			for (uint32_t h = 0; h < hq + hk; h++) {
				bool isq = h < hq;
				size_t base = isq ? (size_t)t * ld_q + (size_t)h * d :
						    (size_t)t * ld_k + (size_t)(h - hq) * d;
				const float *x = (isq ? q0 : k0) + base;
				const float *y = (isq ? q : k) + base;

				for (uint32_t i = 0; i < d / 2; i++) {
					double a = (double)pos[t] * inv[i];
					double x0 = x[i], x1 = x[i + d / 2];
					double r0 = x0 * cos(a) - x1 * sin(a);
					double r1 = x1 * cos(a) + x0 * sin(a);
					/*
					 * fp32 products and the angle rounded
					 * to fp32 (as transformers does).
					 */
					double tol = (fabs(x0) + fabs(x1)) *
						     (4e-7 + a * 1.2e-7);

					cr_assert_leq(fabs(y[i] - r0), tol,
						      "seed %#llx t %u h %u i %u",
						      (unsigned long long)seed, t, h, i);
					cr_assert_leq(fabs(y[i + d / 2] - r1), tol,
						      "seed %#llx t %u h %u i %u+",
						      (unsigned long long)seed, t, h, i);
				}
			}
			/* Padding between rows is not touched. */
			for (uint32_t j = hq * d; j < ld_q; j++)
				cr_assert_eq(q[(size_t)t * ld_q + j],
					     q0[(size_t)t * ld_q + j]);
			for (uint32_t j = hk * d; j < ld_k; j++)
				cr_assert_eq(k[(size_t)t * ld_k + j],
					     k0[(size_t)t * ld_k + j]);
		}
		free(inv);
		free(q);
		free(k);
		free(q0);
		free(k0);
		free(pos);
	}
}

Test(ops_rope, position_zero_is_identity_and_bad_input_untouched)
{
	float inv[32], q[2 * 64], k[64], q0[2 * 64];
	struct ac_rope_params p = { .theta = 10000.0 };
	int32_t pos[2] = { 0, 0 }, bad[2] = { 3, -1 };
	uint64_t s;

	ot_start(&s);
	cr_assert_eq(ac_rope_inv_freq(inv, 64, &p), 0);
	ot_fill(&s, q, 128, -1.0f, 1.0f);
	memcpy(q0, q, sizeof(q));
	cr_assert_eq(ac_op_rope_cpu(q, 64, NULL, 0, pos, 2, 1, 0, 64, inv), 0);
	cr_assert_eq(memcmp(q, q0, sizeof(q)), 0);
	cr_assert_eq(ac_op_rope_cpu(q, 64, NULL, 0, bad, 2, 1, 0, 64, inv),
		     -EINVAL);
	cr_assert_eq(memcmp(q, q0, sizeof(q)), 0, "rotated before the check");
	cr_assert_eq(ac_op_rope_cpu(q, 63, NULL, 0, pos, 2, 1, 0, 64, inv),
		     -EINVAL);
	cr_assert_eq(ac_op_rope_cpu(q, 64, NULL, 0, pos, 1, 1, 1, 64, inv),
		     -EINVAL);
	cr_assert_eq(ac_op_rope_cpu(q, 64, k, 64, pos, 1, 1, 1, 63, inv),
		     -EINVAL);
}
