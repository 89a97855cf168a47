/* SPDX-License-Identifier: MIT */
/* The block ABI (asymcache/abi.h) against a naive nested-loop placement. */
#include <criterion/criterion.h>
#include <errno.h>

#include "asymcache/abi.h"

TestSuite(layout);

/*
 * Walk the block in storage order with a running counter: the n-th element
 * visited by loops nested l, kv, h, t, d must sit at element n.
 */
static void check_layout(const struct ac_kv_layout *l, uint64_t block_bytes,
			 uint32_t block)
{
	uint64_t n = 0, esz = ac_dtype_size(l->dtype);

	for (uint32_t layer = 0; layer < l->num_layers; layer++)
	for (uint32_t kv = 0; kv < 2; kv++)
	for (uint32_t h = 0; h < l->num_kv_heads; h++)
	for (uint32_t t = 0; t < l->block_tokens; t++) {
		uint64_t off = ac_kv_offset(l, block_bytes, block, layer, kv,
					    h, t);

		cr_assert_eq(ac_kv_elem_offset(l, layer, kv, h, t), n);
		cr_assert_eq(off, block * block_bytes + n * esz,
			     "l%u kv%u h%u t%u", layer, kv, h, t);
		n += l->head_dim;
	}
	cr_assert_eq(n * esz, ac_kv_block_bytes(l));
	cr_assert_eq(ac_kv_token_bytes(l) * l->block_tokens,
		     ac_kv_block_bytes(l));
}

Test(layout, matches_naive_order)
{
	struct ac_kv_layout l = {
		.num_layers = 3, .num_kv_heads = 5,
		.head_dim = 7, .dtype = AC_DTYPE_BF16, .block_tokens = 4,
	};

	check_layout(&l, 4096, 0);
	check_layout(&l, 4096, 9);
	l.dtype = AC_DTYPE_FP32;
	check_layout(&l, 8192, 3);
	l.num_kv_heads = 1;
	l.block_tokens = 1;
	check_layout(&l, 256, 1);
}

Test(layout, large_offsets_do_not_wrap)
{
	struct ac_kv_layout l = {
		.num_layers = 80, .num_kv_heads = 8,
		.head_dim = 128, .dtype = AC_DTYPE_BF16, .block_tokens = 16,
	};
	uint64_t bb = ac_kv_block_bytes(&l);

	/* 5 MiB blocks, block 100000: past 4 GiB. */
	cr_assert_eq(bb, 80ull * 2 * 8 * 16 * 128 * 2);
	cr_expect_eq(ac_kv_offset(&l, bb, 100000, 79, 1, 7, 15),
		     100000ull * bb + bb - 128 * 2);
}

Test(layout, check_names_each_bad_field)
{
	const struct ac_kv_layout ok = {
		.num_layers = 2, .num_kv_heads = 2,
		.head_dim = 8, .dtype = AC_DTYPE_FP16, .block_tokens = 2,
	};
	struct ac_kv_layout l = ok;

	cr_expect_eq(ac_kv_layout_check(&l), 0);
	l.dtype = (enum ac_dtype)0;
	cr_expect_eq(ac_kv_layout_check(&l), -EINVAL);
	cr_expect_eq(ac_dtype_size(l.dtype), 0);
	cr_expect_null(ac_dtype_name(l.dtype));
	l = ok;
	l.block_tokens = 12;
	cr_expect_eq(ac_kv_layout_check(&l), -EINVAL);
	l.block_tokens = AC_BLOCK_TOKENS_MAX * 2;
	cr_expect_eq(ac_kv_layout_check(&l), -EINVAL);
	l = ok;
	l.num_layers = 0;
	cr_expect_eq(ac_kv_layout_check(&l), -ERANGE);
	l.num_layers = AC_LAYOUT_DIM_MAX + 1;
	cr_expect_eq(ac_kv_layout_check(&l), -ERANGE);
	l = ok;
	l.head_dim = AC_LAYOUT_DIM_MAX;
	cr_expect_eq(ac_kv_layout_check(&l), 0);
	cr_expect(ac_kv_layout_equal(&ok, &ok));
	cr_expect(!ac_kv_layout_equal(&ok, &l));
	cr_expect_str_eq(ac_dtype_name(AC_DTYPE_BF16), "bf16");
}
