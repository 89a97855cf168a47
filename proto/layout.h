/* SPDX-License-Identifier: MIT */
/*
 * The one mapping between the wire's NamespaceLayout and the block ABI's
 * struct ac_kv_layout (include/asymcache/abi.h). The DType numbers of the
 * proto are the ABI's enum ac_dtype values, so the mapping is field by field.
 */
#ifndef AC_PROTO_LAYOUT_H
#define AC_PROTO_LAYOUT_H

#include <string.h>

#include <asymcache/abi.h>

#include "asymcache.pb-c.h"

/*
 * A C string as the wire's text field (client_name, model_id are bytes:
 * see Hello in asymcache.proto); it keeps pointing at @s.
 */
static inline ProtobufCBinaryData ac_proto_text(const char *s)
{
	return (ProtobufCBinaryData){ .len = strlen(s), .data = (uint8_t *)s };
}

/* Fill @out (which keeps pointing at @model_id) from @kv. */
void ac_proto_layout_pack(Asymcache__V1__NamespaceLayout *out,
			  const char *model_id, const struct ac_kv_layout *kv);

/*
 * @in's block format into @kv, checked with ac_kv_layout_check(): 0,
 * -EINVAL (unknown dtype, block_tokens not a power of two) or -ERANGE.
 */
int ac_proto_layout_unpack(const Asymcache__V1__NamespaceLayout *in,
			   struct ac_kv_layout *kv);

#endif /* AC_PROTO_LAYOUT_H */
