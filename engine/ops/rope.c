/* SPDX-License-Identifier: MIT */
/*
 * Rotary position embedding: the inverse-frequency table (with Llama 3's
 * scaling) and its rotate-half application to q and k.
 */
#include <errno.h>
#include <math.h>

#include "ops.h"

static bool rope_params_ok(const struct ac_rope_params *p)
{
	if (!(p->theta > 1.0) || !isfinite(p->theta))
		return false;
	if (!p->llama3)
		return true;
	/* The blend divides by high - low, and the band must not be empty. */
	return p->factor > 0.0 && isfinite(p->factor) &&
	       p->low_freq_factor > 0.0 &&
	       p->high_freq_factor > p->low_freq_factor &&
	       isfinite(p->high_freq_factor) &&
	       p->original_max_position > 0.0 &&
	       isfinite(p->original_max_position);
}

int ac_rope_inv_freq(float *inv_freq, uint32_t head_dim,
		     const struct ac_rope_params *p)
{
	uint32_t half = head_dim / 2;

	if (!inv_freq || !p || !head_dim || head_dim % 2 ||
	    head_dim > AC_ROPE_HEAD_DIM_MAX || !rope_params_ok(p))
		return -EINVAL;
	for (uint32_t i = 0; i < half; i++) {
		double f = pow(p->theta, -(2.0 * i) / head_dim);

		if (p->llama3) {
			double lo_wl = p->original_max_position / p->low_freq_factor;
			double hi_wl = p->original_max_position / p->high_freq_factor;
			double wl = 2.0 * M_PI / f;

			if (wl > lo_wl) {
				f /= p->factor;
			} else if (wl >= hi_wl) {
				double s = (p->original_max_position / wl -
					    p->low_freq_factor) /
					   (p->high_freq_factor - p->low_freq_factor);

				f = (1.0 - s) * f / p->factor + s * f;
			}
		}
		inv_freq[i] = (float)f;
	}
	return 0;
}

static void rotate_rows(float *x, uint32_t n_heads, uint32_t head_dim,
			const float *cosv, const float *sinv)
{
	uint32_t half = head_dim / 2;

	for (uint32_t h = 0; h < n_heads; h++) {
		float *a = x + (size_t)h * head_dim;
		float *b = a + half;

		for (uint32_t i = 0; i < half; i++) {
			float x0 = a[i], x1 = b[i];

			a[i] = x0 * cosv[i] - x1 * sinv[i];
			b[i] = x1 * cosv[i] + x0 * sinv[i];
		}
	}
}

int ac_op_rope_cpu(float *q, uint32_t ld_q, float *k, uint32_t ld_k,
		   const int32_t *pos, uint32_t n_tokens, uint32_t n_heads,
		   uint32_t n_kv_heads, uint32_t head_dim,
		   const float *inv_freq)
{
	float cosv[AC_ROPE_HEAD_DIM_MAX / 2], sinv[AC_ROPE_HEAD_DIM_MAX / 2];
	uint32_t half = head_dim / 2;

	if (!head_dim || head_dim % 2 || head_dim > AC_ROPE_HEAD_DIM_MAX)
		return -EINVAL;
	if ((size_t)ld_q < (size_t)n_heads * head_dim ||
	    (size_t)ld_k < (size_t)n_kv_heads * head_dim)
		return -EINVAL;
	if (n_tokens && (!pos || !inv_freq || (n_heads && !q) ||
			 (n_kv_heads && !k)))
		return -EINVAL;
	/* Checked up front so a bad position leaves q and k untouched. */
	for (uint32_t t = 0; t < n_tokens; t++)
		if (pos[t] < 0)
			return -EINVAL;
	for (uint32_t t = 0; t < n_tokens; t++) {
		/* One table per token, shared by every head of q and k. */
		for (uint32_t i = 0; i < half; i++) {
			float a = (float)pos[t] * inv_freq[i];

			cosv[i] = (float)cos(a);
			sinv[i] = (float)sin(a);
		}
		if (n_heads)
			rotate_rows(q + (size_t)t * ld_q, n_heads, head_dim,
				    cosv, sinv);
		if (n_kv_heads)
			rotate_rows(k + (size_t)t * ld_k, n_kv_heads, head_dim,
				    cosv, sinv);
	}
	return 0;
}
