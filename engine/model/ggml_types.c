/* SPDX-License-Identifier: MIT */
/*
 * ggml's tensor types: block sizes of the common ones, and decoders for the
 * ones Llama checkpoints in this project use. Block layouts (little-endian):
 *	Q8_0: fp16 d, int8 q[32]		x = d * q
 *	Q4_0: fp16 d, uint8 q[16]		x[j] = d * ((q[j] & 15) - 8),
 *						x[j+16] = d * ((q[j] >> 4) - 8)
 *	Q4_1: fp16 d, fp16 m, uint8 q[16]	x[j] = d * (q[j] & 15) + m,
 *						x[j+16] = d * (q[j] >> 4) + m
 */
#include <errno.h>
#include <string.h>

#include "gguf.h"
#include "model_internal.h"

static const struct {
	uint32_t type;
	const char *name;
	uint32_t elems, bytes;
} types[] = {
	{ AC_GGML_F32, "F32", 1, 4 },
	{ AC_GGML_F16, "F16", 1, 2 },
	{ AC_GGML_Q4_0, "Q4_0", 32, 18 },
	{ AC_GGML_Q4_1, "Q4_1", 32, 20 },
	{ 6, "Q5_0", 32, 22 },
	{ 7, "Q5_1", 32, 24 },
	{ AC_GGML_Q8_0, "Q8_0", 32, 34 },
	{ 9, "Q8_1", 32, 36 },
	{ 10, "Q2_K", 256, 84 },
	{ 11, "Q3_K", 256, 110 },
	{ 12, "Q4_K", 256, 144 },
	{ 13, "Q5_K", 256, 176 },
	{ 14, "Q6_K", 256, 210 },
	{ 15, "Q8_K", 256, 292 },
	{ 24, "I8", 1, 1 },
	{ 25, "I16", 1, 2 },
	{ 26, "I32", 1, 4 },
	{ 27, "I64", 1, 8 },
	{ 28, "F64", 1, 8 },
	{ AC_GGML_BF16, "BF16", 1, 2 },
};

static int find(uint32_t type)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].type == type)
			return (int)i;
	return -1;
}

const char *ac_ggml_type_name(uint32_t type)
{
	int i = find(type);

	return i < 0 ? NULL : types[i].name;
}

uint32_t ac_ggml_block_elems(uint32_t type)
{
	int i = find(type);

	return i < 0 ? 0 : types[i].elems;
}

uint32_t ac_ggml_block_bytes(uint32_t type)
{
	int i = find(type);

	return i < 0 ? 0 : types[i].bytes;
}

bool ac_ggml_can_decode(uint32_t type)
{
	switch (type) {
	case AC_GGML_F32:
	case AC_GGML_F16:
	case AC_GGML_BF16:
	case AC_GGML_Q8_0:
	case AC_GGML_Q4_0:
	case AC_GGML_Q4_1:
		return true;
	}
	return false;
}

/* The mapping gives no alignment promise for 2-byte fields. */
static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void q8_0(const uint8_t *b, float *y)
{
	float d = ac_half_to_float(le16(b));

	for (int j = 0; j < 32; j++)
		y[j] = d * (float)(int8_t)b[2 + j];
}

static void q4_0(const uint8_t *b, float *y)
{
	float d = ac_half_to_float(le16(b));

	for (int j = 0; j < 16; j++) {
		y[j] = d * (float)((b[2 + j] & 15) - 8);
		y[j + 16] = d * (float)((b[2 + j] >> 4) - 8);
	}
}

static void q4_1(const uint8_t *b, float *y)
{
	float d = ac_half_to_float(le16(b));
	float m = ac_half_to_float(le16(b + 2));

	for (int j = 0; j < 16; j++) {
		y[j] = d * (float)(b[4 + j] & 15) + m;
		y[j + 16] = d * (float)(b[4 + j] >> 4) + m;
	}
}

int ac_ggml_dequantize(uint32_t type, const void *src, float *dst, uint64_t n)
{
	const uint8_t *s = src;
	void (*block)(const uint8_t *, float *);
	uint32_t be, bb;

	switch (type) {
	case AC_GGML_F32:
		memcpy(dst, src, n * sizeof(float));
		return 0;
	case AC_GGML_F16:
		for (uint64_t i = 0; i < n; i++)
			dst[i] = ac_half_to_float(le16(s + 2 * i));
		return 0;
	case AC_GGML_BF16:
		for (uint64_t i = 0; i < n; i++)
			dst[i] = ac_bf16_to_float(le16(s + 2 * i));
		return 0;
	case AC_GGML_Q8_0:
		block = q8_0;
		break;
	case AC_GGML_Q4_0:
		block = q4_0;
		break;
	case AC_GGML_Q4_1:
		block = q4_1;
		break;
	default:
		return -EOPNOTSUPP;
	}
	be = ac_ggml_block_elems(type);
	bb = ac_ggml_block_bytes(type);
	if (n % be)
		return -EINVAL;
	for (uint64_t i = 0; i < n / be; i++)
		block(s + i * bb, dst + i * be);
	return 0;
}
