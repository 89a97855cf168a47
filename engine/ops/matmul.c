/* SPDX-License-Identifier: MIT */
/* The CPU linear layer on OpenBLAS. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <cblas.h>

#include "ops.h"

int ac_op_matmul_cpu(float *out, const float *in, const float *w,
		     uint32_t m, uint32_t n, uint32_t k)
{
	if (m > INT_MAX || n > INT_MAX || k > INT_MAX)
		return -EINVAL;
	if (!m || !n)
		return 0;
	if (!out || (k && (!in || !w)))
		return -EINVAL;
	if (!k) {
		memset(out, 0, (size_t)m * n * sizeof(*out));
		return 0;
	}
	/*
	 * Decode is one row: gemv streams W once, where some sgemm builds
	 * pack it first.
	 */
	if (m == 1)
		cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)n, (blasint)k,
			    1.0f, w, (blasint)k, in, 1, 0.0f, out, 1);
	else
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)m,
			    (blasint)n, (blasint)k, 1.0f, in, (blasint)k, w,
			    (blasint)k, 0.0f, out, (blasint)n);
	return 0;
}
