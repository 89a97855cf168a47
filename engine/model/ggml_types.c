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
#include <math.h>
#include <string.h>

#include "gguf.h"
#include "ops.h"

/* The mapping gives no alignment promise for 2-byte fields. */
static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/*
 * Each decoder takes a whole run of @nb blocks: an indirect call per
 * element would cost seconds on a checkpoint of billions of them.
 */
static void f32(const uint8_t *s, float *y, uint64_t nb)
{
	memcpy(y, s, nb * sizeof(float));
}

static void f16(const uint8_t *s, float *y, uint64_t nb)
{
	for (uint64_t i = 0; i < nb; i++)
		y[i] = ac_fp16_to_f32(le16(s + 2 * i));
}

static void bf16(const uint8_t *s, float *y, uint64_t nb)
{
	for (uint64_t i = 0; i < nb; i++)
		y[i] = ac_bf16_to_f32(le16(s + 2 * i));
}

static void q8_0(const uint8_t *b, float *y, uint64_t nb)
{
	for (; nb; nb--, b += 34, y += 32) {
		float d = ac_fp16_to_f32(le16(b));

		for (int j = 0; j < 32; j++)
			y[j] = d * (float)(int8_t)b[2 + j];
	}
}

static void q4_0(const uint8_t *b, float *y, uint64_t nb)
{
	for (; nb; nb--, b += 18, y += 32) {
		float d = ac_fp16_to_f32(le16(b));

		for (int j = 0; j < 16; j++) {
			y[j] = d * (float)((b[2 + j] & 15) - 8);
			y[j + 16] = d * (float)((b[2 + j] >> 4) - 8);
		}
	}
}

static void q4_1(const uint8_t *b, float *y, uint64_t nb)
{
	for (; nb; nb--, b += 20, y += 32) {
		float d = ac_fp16_to_f32(le16(b));
		float m = ac_fp16_to_f32(le16(b + 2));

		for (int j = 0; j < 16; j++) {
			y[j] = d * (float)(b[4 + j] & 15) + m;
			y[j + 16] = d * (float)(b[4 + j] >> 4) + m;
		}
	}
}

/* Indexed by ggml's type number; a type without a name is unknown here. */
static const struct ggml_type {
	const char *name;
	uint32_t elems, bytes;
	void (*decode)(const uint8_t *src, float *dst, uint64_t nb);
} types[] = {
	[AC_GGML_F32] = { "F32", 1, 4, f32 },
	[AC_GGML_F16] = { "F16", 1, 2, f16 },
	[AC_GGML_Q4_0] = { "Q4_0", 32, 18, q4_0 },
	[AC_GGML_Q4_1] = { "Q4_1", 32, 20, q4_1 },
	[6] = { "Q5_0", 32, 22 },
	[7] = { "Q5_1", 32, 24 },
	[AC_GGML_Q8_0] = { "Q8_0", 32, 34, q8_0 },
	[9] = { "Q8_1", 32, 36 },
	[10] = { "Q2_K", 256, 84 },
	[11] = { "Q3_K", 256, 110 },
	[12] = { "Q4_K", 256, 144 },
	[13] = { "Q5_K", 256, 176 },
	[14] = { "Q6_K", 256, 210 },
	[15] = { "Q8_K", 256, 292 },
	[24] = { "I8", 1, 1 },
	[25] = { "I16", 1, 2 },
	[26] = { "I32", 1, 4 },
	[27] = { "I64", 1, 8 },
	[28] = { "F64", 1, 8 },
	[AC_GGML_BF16] = { "BF16", 1, 2, bf16 },
};

static const struct ggml_type *find(uint32_t type)
{
	if (type >= sizeof(types) / sizeof(types[0]) || !types[type].name)
		return NULL;
	return &types[type];
}

const char *ac_ggml_type_name(uint32_t type)
{
	return find(type) ? find(type)->name : NULL;
}

uint32_t ac_ggml_block_elems(uint32_t type)
{
	return find(type) ? find(type)->elems : 0;
}

uint32_t ac_ggml_block_bytes(uint32_t type)
{
	return find(type) ? find(type)->bytes : 0;
}

bool ac_ggml_can_decode(uint32_t type)
{
	return find(type) && find(type)->decode;
}

int ac_ggml_dequantize(uint32_t type, const void *src, float *dst, uint64_t n)
{
	const struct ggml_type *t = find(type);

	if (!t || !t->decode)
		return -EOPNOTSUPP;
	if (n % t->elems)
		return -EINVAL;
	t->decode(src, dst, n / t->elems);
	return 0;
}
