/* SPDX-License-Identifier: MIT */
/* RMSNorm over rows, as LlamaRMSNorm: normalise in full precision, scale. */
#include <errno.h>
#include <math.h>

#include "ops.h"

int ac_op_rmsnorm_cpu(float *out, const float *x, const float *weight,
		      uint32_t n_rows, uint32_t dim, float eps)
{
	if (!dim || !(eps >= 0.0f) || (n_rows && (!out || !x || !weight)))
		return -EINVAL;
	for (uint32_t r = 0; r < n_rows; r++) {
		const float *xr = x + (size_t)r * dim;
		float *o = out + (size_t)r * dim;
		double ss = 0.0;
		float inv;

		for (uint32_t i = 0; i < dim; i++)
			ss += (double)xr[i] * xr[i];
		inv = (float)(1.0 / sqrt(ss / dim + eps));
		for (uint32_t i = 0; i < dim; i++)
			o[i] = xr[i] * inv * weight[i];
	}
	return 0;
}
