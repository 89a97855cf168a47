/* SPDX-License-Identifier: MIT */
/*
 * The block ABI: what the daemon, libasymcache, the kernels, the cost model
 * and the engines agree on about a KV block. This header is the one owner of
 * each fact below; everything else includes it.
 *
 * Layout v1: a block holds block_tokens tokens of every layer, K then V,
 * heads-major per layer ("HND"), so one head's T*D run is contiguous for the
 * attention kernels. Element (layer, kv, head, token, d) of a block sits at
 *
 *	((layer*2 + kv)*H + head)*T*D + token*D + d
 *
 * elements from the block's start, and block b starts b*block_bytes bytes
 * into the pool (block_bytes is the pool's, >= ac_kv_block_bytes()).
 *
 * Everything here is inline and header-only, and compiles as C11, C++ and
 * CUDA (host and device), so kernels index blocks with the same arithmetic.
 */
#ifndef ASYMCACHE_ABI_H
#define ASYMCACHE_ABI_H

#include <errno.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __CUDACC__
#define AC_ABI_FN static inline __host__ __device__
#else
#define AC_ABI_FN static inline
#endif

#define AC_PROTOCOL_VERSION	1u	/* Hello.protocol_version */
#define AC_LAYOUT_VERSION	1u	/* the block layout above */

#define AC_NO_BLOCK		UINT32_MAX	/* "no block" in block arrays */
#define AC_KEY_BYTES		16u
#define AC_MODEL_ID_MAX		128u	/* a namespace's model id, bytes */

/* Field limits of a layout; proto NamespaceLayout documents the same. */
#define AC_LAYOUT_DIM_MAX	1024u	/* num_layers, num_kv_heads, head_dim */
#define AC_BLOCK_TOKENS_MAX	1024u	/* a power of two, 1.. */

/* A 128-bit content key; arrays of it are the wire format (16 bytes each). */
struct ac_key {
	uint8_t b[AC_KEY_BYTES];
};

/* Element types; the values are the protocol's DType numbers. */
enum ac_dtype {
	AC_DTYPE_BF16 = 1,
	AC_DTYPE_FP16 = 2,
	AC_DTYPE_FP32 = 3,
};

/* One model's KV block layout. */
struct ac_kv_layout {
	uint32_t num_layers;
	uint32_t num_kv_heads;	/* H */
	uint32_t head_dim;	/* D */
	uint32_t block_tokens;	/* T */
	enum ac_dtype dtype;
};

/* Bytes one element of @dtype takes, 0 if unknown. */
AC_ABI_FN uint32_t ac_dtype_size(enum ac_dtype dtype)
{
	switch (dtype) {
	case AC_DTYPE_BF16:
	case AC_DTYPE_FP16:
		return 2;
	case AC_DTYPE_FP32:
		return 4;
	}
	return 0;
}

/* Short name ("bf16"), or NULL for an unknown dtype. */
static inline const char *ac_dtype_name(enum ac_dtype dtype)
{
	switch (dtype) {
	case AC_DTYPE_BF16:
		return "bf16";
	case AC_DTYPE_FP16:
		return "fp16";
	case AC_DTYPE_FP32:
		return "fp32";
	}
	return 0;
}

/*
 * 0 if @l is a valid layout; -EINVAL for an unknown dtype or a block_tokens
 * that is not a power of two, -ERANGE for a field out of its limits.
 */
AC_ABI_FN int ac_kv_layout_check(const struct ac_kv_layout *l)
{
	if (ac_dtype_size(l->dtype) == 0)
		return -EINVAL;
	if (l->num_layers < 1 || l->num_layers > AC_LAYOUT_DIM_MAX ||
	    l->num_kv_heads < 1 || l->num_kv_heads > AC_LAYOUT_DIM_MAX ||
	    l->head_dim < 1 || l->head_dim > AC_LAYOUT_DIM_MAX)
		return -ERANGE;
	if (l->block_tokens < 1 || l->block_tokens > AC_BLOCK_TOKENS_MAX ||
	    (l->block_tokens & (l->block_tokens - 1)))
		return -EINVAL;
	return 0;
}

/* Two layouts name the same block format. */
AC_ABI_FN int ac_kv_layout_equal(const struct ac_kv_layout *a,
				 const struct ac_kv_layout *b)
{
	return a->num_layers == b->num_layers &&
	       a->num_kv_heads == b->num_kv_heads &&
	       a->head_dim == b->head_dim &&
	       a->block_tokens == b->block_tokens && a->dtype == b->dtype;
}

/* Bytes of KV one token of @l takes over all layers, K and V. */
AC_ABI_FN uint64_t ac_kv_token_bytes(const struct ac_kv_layout *l)
{
	return (uint64_t)l->num_layers * 2 * l->num_kv_heads * l->head_dim *
	       ac_dtype_size(l->dtype);
}

/* Bytes of KV one block of @l holds; must be <= the pool's block_bytes. */
AC_ABI_FN uint64_t ac_kv_block_bytes(const struct ac_kv_layout *l)
{
	return ac_kv_token_bytes(l) * l->block_tokens;
}

/* Element offset of (layer, kv, head, token, d=0) from its block's start. */
AC_ABI_FN uint64_t ac_kv_elem_offset(const struct ac_kv_layout *l,
				     uint32_t layer, uint32_t kv,
				     uint32_t head, uint32_t token)
{
	return (((uint64_t)layer * 2 + kv) * l->num_kv_heads + head) *
		       l->block_tokens * l->head_dim +
	       (uint64_t)token * l->head_dim;
}

/*
 * Byte offset from the pool base of element (layer, kv, head, token, d=0)
 * of @block in a pool of @block_bytes blocks. kv is 0 for K, 1 for V.
 * No range checks: callers index blocks the daemon handed them.
 */
AC_ABI_FN uint64_t ac_kv_offset(const struct ac_kv_layout *l,
				uint64_t block_bytes, uint32_t block,
				uint32_t layer, uint32_t kv, uint32_t head,
				uint32_t token)
{
	return (uint64_t)block * block_bytes +
	       ac_kv_elem_offset(l, layer, kv, head, token) *
		       ac_dtype_size(l->dtype);
}

/* ac_kv_offset() from @base, typically the mapped pool (ac_pool_base()). */
AC_ABI_FN void *ac_kv_addr(void *base, const struct ac_kv_layout *l,
			   uint64_t block_bytes, uint32_t block,
			   uint32_t layer, uint32_t kv, uint32_t head,
			   uint32_t token)
{
	return (char *)base + ac_kv_offset(l, block_bytes, block, layer, kv,
					   head, token);
}

#ifdef __cplusplus
}
#endif

#endif /* ASYMCACHE_ABI_H */
