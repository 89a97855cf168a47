/* SPDX-License-Identifier: MIT */
/* The OpenBLAS linear layer against a float64 triple loop. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ops.h"
#include "ops_test.h"

TestSuite(ops_matmul);

static void check_case(uint64_t seed, uint64_t *s, uint32_t m, uint32_t n,
		       uint32_t k)
{
	float *in = ot_floats(s, (size_t)m * k, -1.0f, 1.0f);
	float *w = ot_floats(s, (size_t)n * k, -0.5f, 0.5f);
	float *out = ot_alloc((size_t)m * n * sizeof(float));

	cr_assert_eq(ac_op_matmul_cpu(out, in, w, m, n, k), 0);
	for (uint32_t i = 0; i < m; i++)
		for (uint32_t j = 0; j < n; j++) {
			double ref = 0.0, mag = 0.0;

			for (uint32_t l = 0; l < k; l++) {
				double p = (double)in[(size_t)i * k + l] *
					   w[(size_t)j * k + l];

				ref += p;
				mag += fabs(p);
			}
			/* fp32 summation: at worst k roundings of the running sum. */
			cr_assert_leq(fabs(out[(size_t)i * n + j] - ref),
				      (k + 2) * 0x1.0p-24 * mag + 1e-30,
				      "seed %#llx m %u n %u k %u at (%u, %u): %.9g vs %.9g",
				      (unsigned long long)seed, m, n, k, i, j,
				      out[(size_t)i * n + j], ref);
		}
	free(in);
	free(w);
	free(out);
}

Test(ops_matmul, random_shapes_match_float64)
{
	uint64_t s, seed = ot_start(&s);

	/* m = 1 takes the gemv path, the rest sgemm. */
	for (int rep = 0; rep < 12; rep++)
		check_case(seed, &s, rep % 3 ? ot_range(&s, 2, 40) : 1,
			   ot_range(&s, 1, 300), ot_range(&s, 1, 600));
	/* The shapes of a 135M Llama's decode and a short prefill. */
	check_case(seed, &s, 1, 576, 576);
	check_case(seed, &s, 1, 1536, 576);
	check_case(seed, &s, 7, 576, 1536);
}

Test(ops_matmul, transposition_is_the_hf_convention)
{
	/* in [1][2] = {1, 2}; w [3][2] rows {1,0}, {0,1}, {1,1}. */
	float in[2] = { 1.0f, 2.0f };
	float w[6] = { 1.0f, 0.0f, 0.0f, 1.0f, 1.0f, 1.0f };
	float out[3];
	float in2[4] = { 1.0f, 2.0f, 3.0f, 4.0f }, out2[6];

	cr_assert_eq(ac_op_matmul_cpu(out, in, w, 1, 3, 2), 0);
	cr_assert_eq(out[0], 1.0f);
	cr_assert_eq(out[1], 2.0f);
	cr_assert_eq(out[2], 3.0f);
	cr_assert_eq(ac_op_matmul_cpu(out2, in2, w, 2, 3, 2), 0);
	cr_assert_eq(out2[3], 3.0f);
	cr_assert_eq(out2[4], 4.0f);
	cr_assert_eq(out2[5], 7.0f);
}

Test(ops_matmul, edge_shapes)
{
	float out[6];
	float in[2] = { 1.0f, 2.0f }, w[2] = { 3.0f, 4.0f };

	memset(out, 0x7f, sizeof(out));
	cr_assert_eq(ac_op_matmul_cpu(out, in, w, 2, 3, 0), 0);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(out[i], 0.0f, "k = 0 must give zeros");
	cr_assert_eq(ac_op_matmul_cpu(NULL, NULL, NULL, 0, 3, 2), 0);
	cr_assert_eq(ac_op_matmul_cpu(out, NULL, w, 1, 1, 2), -EINVAL);
	cr_assert_eq(ac_op_matmul_cpu(out, in, w, 1, 1, 2), 0);
	cr_assert_eq(out[0], 11.0f);
}
