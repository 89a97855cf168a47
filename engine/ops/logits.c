/* SPDX-License-Identifier: MIT */
/* Greedy decoding and log-probabilities over rows of logits. */
#include <errno.h>
#include <math.h>

#include "ops.h"

int ac_op_argmax_cpu(int32_t *tokens, const float *logits, uint32_t n_rows,
		     uint32_t vocab)
{
	if (!vocab || vocab > INT32_MAX || (n_rows && (!tokens || !logits)))
		return -EINVAL;
	for (uint32_t r = 0; r < n_rows; r++) {
		const float *l = logits + (size_t)r * vocab;
		uint32_t best = 0;

		for (uint32_t i = 0; i < vocab; i++) {
			if (isnan(l[i]))
				return -EINVAL;
			/* Strictly greater: the first of equal maxima stays. */
			if (l[i] > l[best])
				best = i;
		}
		tokens[r] = (int32_t)best;
	}
	return 0;
}

/* The row's maximum, or NaN when the row has a NaN or no finite maximum. */
static float row_max(const float *l, uint32_t vocab)
{
	float m = -INFINITY;

	for (uint32_t i = 0; i < vocab; i++) {
		if (isnan(l[i]))
			return NAN;
		if (l[i] > m)
			m = l[i];
	}
	return isfinite(m) ? m : NAN;
}

int ac_op_log_softmax_cpu(float *out, const float *logits, uint32_t n_rows,
			  uint32_t vocab)
{
	if (!vocab || (n_rows && (!out || !logits)))
		return -EINVAL;
	/* All rows first: out may be logits, and a bad row must cost nothing. */
	for (uint32_t r = 0; r < n_rows; r++)
		if (isnan(row_max(logits + (size_t)r * vocab, vocab)))
			return -EINVAL;
	for (uint32_t r = 0; r < n_rows; r++) {
		const float *l = logits + (size_t)r * vocab;
		float *o = out + (size_t)r * vocab;
		float m = row_max(l, vocab);
		double sum = 0.0;
		float ls;

		for (uint32_t i = 0; i < vocab; i++)
			sum += expf(l[i] - m);
		/* Shift first: m + log(sum) would round away log(sum)'s bits. */
		ls = (float)log(sum);
		for (uint32_t i = 0; i < vocab; i++)
			o[i] = (l[i] - m) - ls;
	}
	return 0;
}
