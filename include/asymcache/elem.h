/* SPDX-License-Identifier: MIT */
/*
 * Host-side conversions of the block dtypes (asymcache/abi.h's enum
 * ac_dtype) to and from fp32, rounding to nearest even as the GPU's cvt.rn
 * does, so CPU references and tests round exactly as the kernels. bf16 and
 * fp16 values are kept as their raw 16 bits. Header-only.
 */
#ifndef ASYMCACHE_ELEM_H
#define ASYMCACHE_ELEM_H

#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline float ac_bf16_to_f32(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static inline uint16_t ac_f32_to_bf16(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40);	/* quiet NaN */
	u += 0x7fffu + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

static inline float ac_fp16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
	float f;

	if (exp == 0x1f) {
		u = sign | 0x7f800000u | (man << 13);
	} else if (exp) {
		u = sign | ((exp + 112) << 23) | (man << 13);
	} else if (man) {
		/* Subnormal: normalise into a float exponent. */
		exp = 113;
		while (!(man & 0x400)) {
			man <<= 1;
			exp--;
		}
		u = sign | (exp << 23) | ((man & 0x3ff) << 13);
	} else {
		u = sign;
	}
	memcpy(&f, &u, sizeof(f));
	return f;
}

static inline uint16_t ac_f32_to_fp16(float f)
{
	uint32_t u, sign, man;
	int32_t exp;

	memcpy(&u, &f, sizeof(u));
	sign = (u >> 16) & 0x8000;
	exp = (int32_t)((u >> 23) & 0xff) - 127 + 15;
	man = u & 0x7fffff;
	if (((u >> 23) & 0xff) == 0xff)
		return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
	if (exp >= 31)
		return (uint16_t)(sign | 0x7c00);
	if (exp <= 0) {
		uint32_t shift, half, rest;

		if (exp < -10)
			return (uint16_t)sign;
		man |= 0x800000;
		shift = (uint32_t)(14 - exp);
		half = 1u << (shift - 1);
		rest = man & ((1u << shift) - 1);
		man >>= shift;
		if (rest > half || (rest == half && (man & 1)))
			man++;
		return (uint16_t)(sign | man);
	}
	{
		uint32_t h = sign | ((uint32_t)exp << 10) | (man >> 13);
		uint32_t rest = man & 0x1fff;

		/* A carry into the exponent is the right rounding too. */
		if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
			h++;
		return (uint16_t)h;
	}
}

#ifdef __cplusplus
}
#endif

#endif /* ASYMCACHE_ELEM_H */
