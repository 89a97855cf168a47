/* SPDX-License-Identifier: MIT */
/* The residual stream's add; a plain loop the compiler vectorises. */
#include "ops.h"

void ac_op_residual_cpu(float *restrict x, const float *restrict y, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] += y[i];
}
