/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "mtest.h"

static struct ac_weights *make(const struct ac_model_config *c, uint64_t seed,
			       enum ac_dtype dtype)
{
	struct ac_weights *w;
	char err[256] = "";

	cr_assert_eq(ac_weights_random(c, seed, dtype, &w, err, sizeof(err)), 0,
		     "%s", err);
	return w;
}

/*
 * Tensor kinds [0, @kinds) of layer @layer, @elem bytes an element, hold
 * the same bytes in @a and @b (shaped as in @c).
 */
static void expect_same_tensors(const struct ac_model_config *c,
				const struct ac_weights *a,
				const struct ac_weights *b, int kinds,
				uint32_t layer, size_t elem)
{
	uint64_t rows, cols;

	for (int k = 0; k < kinds; k++) {
		ac_weights_shape(c, k, &rows, &cols);
		cr_assert_eq(memcmp(ac_weights_tensor(a, k, layer),
				    ac_weights_tensor(b, k, layer),
				    rows * cols * elem), 0, "kind %d", k);
	}
}

Test(model_random, same_seed_same_weights_other_seed_other_weights)
{
	struct ac_model_config c = mt_tiny();
	struct ac_weights *a = make(&c, 42, AC_DTYPE_FP32);
	struct ac_weights *b = make(&c, 42, AC_DTYPE_FP32);
	struct ac_weights *d = make(&c, 43, AC_DTYPE_FP32);
	uint64_t n = a->bytes / 4, same = 0;

	cr_assert_eq(a->bytes, b->bytes);
	cr_assert_eq(memcmp(a->base, b->base, a->bytes), 0);
	for (int k = 0; k < AC_WK_COUNT; k++) {
		for (uint32_t l = 0; l < (k < AC_WK_LAYER_COUNT ? c.n_layers : 1); l++) {
			const float *x = ac_weights_tensor(a, k, l);
			const float *y = ac_weights_tensor(d, k, l);
			uint64_t rows, cols;

			ac_weights_shape(&c, k, &rows, &cols);
			for (uint64_t i = 0; i < rows * cols; i++)
				same += x[i] == y[i];
		}
	}
	/* Padding between tensors is equal; values almost never are. */
	cr_assert_lt(same, n / 1000, "%llu of %llu equal", (unsigned long long)same,
		     (unsigned long long)n);
	ac_weights_free(a);
	ac_weights_free(b);
	ac_weights_free(d);
}

Test(model_random, values_depend_on_the_tensor_not_the_layout)
{
	struct ac_model_config c = mt_tiny(), deeper = mt_tiny();
	struct ac_weights *a, *b;
	uint64_t rows, cols;

	deeper.n_layers = 3;
	a = make(&c, 5, AC_DTYPE_FP32);
	b = make(&deeper, 5, AC_DTYPE_FP32);
	expect_same_tensors(&c, a, b, AC_WK_COUNT, 1, 4);
	/* Layers differ from one another. */
	ac_weights_shape(&c, AC_WK_Q, &rows, &cols);
	cr_assert_neq(memcmp(a->layers[0].wq, a->layers[1].wq, rows * cols * 4), 0);
	ac_weights_free(a);
	ac_weights_free(b);
}

Test(model_random, bf16_is_the_rounded_fp32)
{
	struct ac_model_config c = mt_tiny();
	struct ac_weights *f = make(&c, 9, AC_DTYPE_FP32);
	struct ac_weights *h = make(&c, 9, AC_DTYPE_BF16);
	uint64_t rows, cols;

	cr_assert_eq(h->bytes * 2 > f->bytes - 4096, true);
	for (int k = 0; k < AC_WK_COUNT; k++) {
		const float *x = ac_weights_tensor(f, k, 0);
		const uint16_t *y = ac_weights_tensor(h, k, 0);

		ac_weights_shape(&c, k, &rows, &cols);
		for (uint64_t i = 0; i < rows * cols; i++)
			cr_assert_leq(fabs(mt_bf16(y[i]) - x[i]), fabs(x[i]) * 0x1p-8,
				      "kind %d elem %llu", k, (unsigned long long)i);
	}
	ac_weights_free(f);
	ac_weights_free(h);
}

/* The tiny preset at the widths a test needs to see statistics. */
static struct ac_model_config widened(uint32_t hidden, uint32_t ffn,
				      uint32_t n_heads, uint32_t n_kv_heads,
				      uint32_t head_dim, uint32_t vocab)
{
	struct ac_model_config c = mt_tiny();

	c.hidden = hidden;
	c.ffn = ffn;
	c.n_heads = n_heads;
	c.n_kv_heads = n_kv_heads;
	c.head_dim = head_dim;
	c.vocab = vocab;
	return c;
}

/* Scaled so activations stay finite: matrices ~ N(0, 1/cols), norms ~ 1. */
Test(model_random, scale_and_finiteness)
{
	struct ac_model_config c = widened(256, 512, 8, 4, 32, 4096);
	struct ac_weights *w;

	c.tie_embeddings = true;
	w = make(&c, 1, AC_DTYPE_BF16);
	cr_assert_eq(w->output, w->tok_embd);
	for (int k = 0; k < AC_WK_COUNT; k++) {
		const uint16_t *t = ac_weights_tensor(w, k, 1);
		uint64_t rows, cols;
		double sum = 0, sq = 0, n, mean, sd;
		bool norm;

		ac_weights_shape(&c, k, &rows, &cols);
		norm = rows == 1;
		n = (double)(rows * cols);
		for (uint64_t i = 0; i < rows * cols; i++) {
			double x = mt_bf16(t[i]);

			cr_assert(isfinite(x));
			if (norm)
				cr_assert(x > 0.5 && x < 1.5, "norm weight %g", x);
			else
				cr_assert_leq(fabs(x), 3.5 / sqrt((double)cols) * 1.01);
			sum += x;
			sq += x * x;
		}
		mean = sum / n;
		sd = sqrt(sq / n - mean * mean);
		if (norm) {
			cr_assert_float_eq(mean, 1.0, 0.02, "kind %d mean %g", k, mean);
		} else {
			cr_assert_float_eq(sd * sqrt((double)cols), 1.0, 0.05,
					   "kind %d std %g x sqrt(%llu)", k, sd,
					   (unsigned long long)cols);
			cr_assert_float_eq(mean * sqrt((double)cols), 0.0, 0.05,
					   "kind %d mean %g", k, mean);
		}
	}
	ac_weights_free(w);
}

Test(model_random, threads_do_not_change_the_values)
{
	/* Big enough to fill on threads; the layer-0 tensors of a one-layer
	 * model (filled serially) must match. */
	struct ac_model_config c = widened(512, 1024, 8, 2, 64, 8192), small;
	struct ac_weights *a, *b;

	c.n_layers = 2;
	small = c;
	small.vocab = 32;
	small.n_layers = 1;
	a = make(&c, 77, AC_DTYPE_BF16);
	b = make(&small, 77, AC_DTYPE_BF16);
	expect_same_tensors(&c, a, b, AC_WK_LAYER_COUNT, 0, 2);
	ac_weights_free(a);
	ac_weights_free(b);
}

Test(model_random, by_name_through_the_entry_point)
{
	struct ac_weights *w;
	char err[256] = "";

	cr_assert_eq(ac_weights_load("tiny", AC_DTYPE_FP32, 3, &w, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_str_eq(w->cfg.name, "tiny");
	ac_weights_free(w);
	cr_assert_eq(ac_weights_load("llama9-1t", AC_DTYPE_FP32, 3, &w, err, sizeof(err)),
		     -ENOENT);
	cr_assert_null(w);
	cr_assert_not_null(strstr(err, "llama9-1t"), "%s", err);
	cr_assert_not_null(strstr(err, "llama3-8b"), "%s", err);
	cr_assert_eq(ac_weights_load("tiny", AC_DTYPE_FP16, 3, &w, err, sizeof(err)),
		     -EOPNOTSUPP);
	cr_assert_not_null(strstr(err, "fp16"), "%s", err);
	ac_weights_free(NULL);
}
