/* SPDX-License-Identifier: MIT */
/*
 * Element types of KV blocks, shared by asymcache.h (namespaces, address
 * helpers) and msa.h (kernels) so an engine can include both. The values
 * are the protocol's DType numbers (proto/asymcache.proto).
 */
#ifndef ASYMCACHE_DTYPE_H
#define ASYMCACHE_DTYPE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum ac_dtype {
	AC_DTYPE_BF16 = 1,
	AC_DTYPE_FP16 = 2,
	AC_DTYPE_FP32 = 3,
};

/* Bytes one element of @dtype takes, 0 if unknown. */
static inline uint32_t ac_dtype_size(enum ac_dtype dtype)
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

#ifdef __cplusplus
}
#endif

#endif /* ASYMCACHE_DTYPE_H */
