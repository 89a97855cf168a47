/* SPDX-License-Identifier: MIT */
/* The Llama MLP's gate: silu(gate) * up. */
#include <errno.h>
#include <math.h>

#include "ops.h"

int ac_op_swiglu_cpu(float *out, const float *gate, const float *up,
		     uint32_t n_rows, uint32_t dim, uint32_t ld_in)
{
	if (!dim || ld_in < dim || (n_rows && (!out || !gate || !up)))
		return -EINVAL;
	for (uint32_t r = 0; r < n_rows; r++) {
		const float *g = gate + (size_t)r * ld_in;
		const float *u = up + (size_t)r * ld_in;
		float *o = out + (size_t)r * dim;

		for (uint32_t i = 0; i < dim; i++)
			o[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
	}
	return 0;
}
