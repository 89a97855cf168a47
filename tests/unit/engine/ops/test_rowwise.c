/* SPDX-License-Identifier: MIT */
/*
 * Embedding, RMSNorm, SwiGLU, residual add and the bf16 conversions
 * against float64 computations written here.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ops.h"
#include "ops_test.h"

TestSuite(ops_rowwise);

Test(ops_rowwise, embedding_copies_rows)
{
	uint64_t s, seed = ot_start(&s);

	for (int rep = 0; rep < 20; rep++) {
		uint32_t vocab = ot_range(&s, 1, 300), dim = ot_range(&s, 1, 97);
		uint32_t n = ot_range(&s, 1, 40);
		float *table = ot_floats(&s, (size_t)vocab * dim, -2.0f, 2.0f);
		float *out = ot_alloc((size_t)n * dim * sizeof(float));
		int32_t *ids = ot_alloc(n * sizeof(int32_t));

		for (uint32_t t = 0; t < n; t++)
			ids[t] = (int32_t)ot_range(&s, 0, vocab - 1);
		cr_assert_eq(ac_op_embedding_cpu(out, ids, n, table, vocab, dim), 0);
		for (uint32_t t = 0; t < n; t++)
			for (uint32_t i = 0; i < dim; i++)
				cr_assert_eq(out[(size_t)t * dim + i],
					     table[(size_t)ids[t] * dim + i],
					     "seed %#llx token %u dim %u",
					     (unsigned long long)seed, t, i);
		free(table);
		free(out);
		free(ids);
	}
}

Test(ops_rowwise, embedding_rejects_bad_ids_untouched)
{
	float table[4 * 3] = { 0 }, out[2 * 3];
	int32_t hi[2] = { 1, 4 }, neg[2] = { -1, 0 };

	memset(out, 0x7f, sizeof(out));
	cr_assert_eq(ac_op_embedding_cpu(out, hi, 2, table, 4, 3), -ERANGE);
	cr_assert_eq(ac_op_embedding_cpu(out, neg, 2, table, 4, 3), -ERANGE);
	for (int i = 0; i < 6; i++)
		cr_assert_neq(out[i], 0.0f, "out written before the id check");
	cr_assert_eq(ac_op_embedding_cpu(out, hi, 2, table, 4, 0), -EINVAL);
	cr_assert_eq(ac_op_embedding_cpu(out, hi, 0, table, 4, 3), 0);
}

static void rmsnorm_ref(double *y, const float *x, const float *w,
			uint32_t dim, double eps)
{
	double ss = 0.0;

	for (uint32_t i = 0; i < dim; i++)
		ss += (double)x[i] * x[i];
	for (uint32_t i = 0; i < dim; i++)
		y[i] = x[i] / sqrt(ss / dim + eps) * w[i];
}

Test(ops_rowwise, rmsnorm_matches_float64)
{
	uint64_t s, seed = ot_start(&s);

	for (int rep = 0; rep < 30; rep++) {
		uint32_t rows = ot_range(&s, 1, 9), dim = ot_range(&s, 1, 700);
		float eps = rep % 3 ? 1e-5f : 1e-6f;
		float scale = ot_uniform(&s, 0.01f, 30.0f);
		size_t n = (size_t)rows * dim;
		float *x = ot_floats(&s, n, -scale, scale);
		float *w = ot_floats(&s, dim, -1.5f, 1.5f);
		float *out = ot_alloc(n * sizeof(float));
		double *ref = ot_alloc(dim * sizeof(double));

		cr_assert_eq(ac_op_rmsnorm_cpu(out, x, w, rows, dim, eps), 0);
		for (uint32_t r = 0; r < rows; r++) {
			rmsnorm_ref(ref, x + (size_t)r * dim, w, dim, eps);
			for (uint32_t i = 0; i < dim; i++) {
				double got = out[(size_t)r * dim + i];

				/* Three fp32 roundings: x * inv, * w, inv. */
				cr_assert_leq(fabs(got - ref[i]),
					      4e-7 * fabs(ref[i]) + 1e-37,
					      "seed %#llx row %u i %u: %.9g vs %.9g",
					      (unsigned long long)seed, r, i,
					      got, ref[i]);
			}
		}
		/* In place gives the same bits. */
		cr_assert_eq(ac_op_rmsnorm_cpu(x, x, w, rows, dim, eps), 0);
		cr_assert_eq(memcmp(x, out, n * sizeof(float)), 0,
			     "seed %#llx: in-place differs",
			     (unsigned long long)seed);
		free(x);
		free(w);
		free(out);
		free(ref);
	}
}

Test(ops_rowwise, rmsnorm_rejects_bad_shapes)
{
	float x[4] = { 1, 2, 3, 4 }, w[4] = { 1, 1, 1, 1 }, o[4];

	cr_assert_eq(ac_op_rmsnorm_cpu(o, x, w, 1, 0, 1e-5f), -EINVAL);
	cr_assert_eq(ac_op_rmsnorm_cpu(o, x, w, 1, 4, -1.0f), -EINVAL);
	cr_assert_eq(ac_op_rmsnorm_cpu(o, x, w, 1, 4, NAN), -EINVAL);
	cr_assert_eq(ac_op_rmsnorm_cpu(o, x, NULL, 1, 4, 1e-5f), -EINVAL);
	/* mean(x^2) = 7.5: a hand-checkable row. */
	cr_assert_eq(ac_op_rmsnorm_cpu(o, x, w, 1, 4, 0.0f), 0);
	cr_assert_float_eq(o[3], 4.0f / sqrtf(7.5f), 1e-6f);
}

Test(ops_rowwise, swiglu_matches_float64_fused_stride)
{
	uint64_t s, seed = ot_start(&s);

	for (int rep = 0; rep < 30; rep++) {
		uint32_t rows = ot_range(&s, 1, 7), dim = ot_range(&s, 1, 300);
		/* Half the cases the fused [gate | up] layout of one GEMM. */
		bool fused = rep % 2;
		uint32_t ld = fused ? 2 * dim : dim + ot_range(&s, 0, 5);
		float *gate = ot_floats(&s, (size_t)rows * ld, -12.0f, 12.0f);
		float *up = fused ? gate + dim :
				    ot_alloc((size_t)rows * ld * sizeof(float));
		float *out = ot_alloc((size_t)rows * dim * sizeof(float));

		if (!fused)
			ot_fill(&s, up, (size_t)rows * ld, -3.0f, 3.0f);
		cr_assert_eq(ac_op_swiglu_cpu(out, gate, up, rows, dim, ld), 0);
		for (uint32_t r = 0; r < rows; r++)
			for (uint32_t i = 0; i < dim; i++) {
				double g = gate[(size_t)r * ld + i];
				double u = up[(size_t)r * ld + i];
				double ref = g / (1.0 + exp(-g)) * u;
				double got = out[(size_t)r * dim + i];

				cr_assert_leq(fabs(got - ref),
					      1e-6 * fabs(ref) + 1e-30,
					      "seed %#llx row %u i %u: %.9g vs %.9g",
					      (unsigned long long)seed, r, i,
					      got, ref);
			}
		if (!fused)
			free(up);
		free(gate);
		free(out);
	}
	cr_assert_eq(ac_op_swiglu_cpu(NULL, NULL, NULL, 1, 4, 3), -EINVAL);
}

Test(ops_rowwise, residual_adds)
{
	uint64_t s, seed = ot_start(&s);
	size_t n;
	float *x, *y, *x0;

	n = ot_range(&s, 1, 5000);
	x = ot_floats(&s, n, -100.0f, 100.0f);
	y = ot_floats(&s, n, -1.0f, 1.0f);
	x0 = ot_alloc(n * sizeof(float));
	memcpy(x0, x, n * sizeof(float));
	ac_op_residual_cpu(x, y, n);
	for (size_t i = 0; i < n; i++) {
		double ref = (double)x0[i] + y[i];

		/* One rounding of an exact sum. */
		cr_assert_eq(x[i], (float)ref, "seed %#llx i %zu",
			     (unsigned long long)seed, i);
	}
	free(x);
	free(y);
	free(x0);
}

Test(ops_rowwise, bf16_round_trip_and_rounding)
{
	uint64_t s, seed = ot_start(&s);

	/* Exactly representable values survive; ties go to even. */
	cr_assert_eq(ac_f32_to_bf16(1.0f), 0x3f80);
	cr_assert_eq(ac_f32_to_bf16(-2.0f), 0xc000);
	cr_assert_eq(ac_f32_to_bf16(1.0f + 0x1.0p-8f), 0x3f80);	/* tie, even */
	cr_assert_eq(ac_f32_to_bf16(1.0f + 0x1.8p-8f), 0x3f81);	/* above tie */
	cr_assert_eq(ac_f32_to_bf16(1.0f + 0x1.0p-7f + 0x1.0p-8f), 0x3f82);
	cr_assert(isnan(ac_bf16_to_f32(ac_f32_to_bf16(NAN))));
	cr_assert(isinf(ac_bf16_to_f32(ac_f32_to_bf16(INFINITY))));
	for (int i = 0; i < 10000; i++) {
		float f = ot_uniform(&s, -1e4f, 1e4f);
		float r = ac_bf16_to_f32(ac_f32_to_bf16(f));

		/* Half an ulp of an 8-bit significand. */
		cr_assert_leq(fabsf(r - f), fabsf(f) * 0x1.0p-8f,
			      "seed %#llx: %.9g -> %.9g",
			      (unsigned long long)seed, f, r);
	}
}
