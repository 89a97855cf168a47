/* SPDX-License-Identifier: MIT */
/*
 * bf16 <-> fp32 over arrays: the CPU engine widens bf16 checkpoints once
 * at load, and tests move data between the two paths.
 */
#include "ops.h"

void ac_op_bf16_to_f32_cpu(float *dst, const uint16_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = ac_bf16_to_f32(src[i]);
}

void ac_op_f32_to_bf16_cpu(uint16_t *dst, const float *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = ac_f32_to_bf16(src[i]);
}
