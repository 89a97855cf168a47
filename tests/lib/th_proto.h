/* SPDX-License-Identifier: MIT */
/*
 * Protocol v1 messages that the raw-protocol suites build by hand, filled
 * in one place so that each suite states only the values it is about.
 */
#ifndef AC_TEST_TH_PROTO_H
#define AC_TEST_TH_PROTO_H

#include <stdint.h>

#include "asymcache.pb-c.h"

/*
 * Initialises @h to say Hello as @name speaking protocol @version, and
 * makes it the body of @req.
 */
void th_proto_hello(Asymcache__V1__Request *req, Asymcache__V1__Hello *h,
		    uint32_t version, const char *name);

/* Initialises @l to the KV layout of @model that RegisterNamespace carries. */
void th_proto_layout(Asymcache__V1__NamespaceLayout *l, const char *model,
		     uint32_t layers, uint32_t heads, uint32_t dim, int dtype,
		     uint32_t tokens);

/*
 * Initialises @e to commit the 16-byte @key into @block at @pos, chained to
 * the 16-byte @parent; a NULL @parent leaves the entry without one.
 */
void th_proto_entry(Asymcache__V1__CommitEntry *e, const uint8_t *key,
		    uint32_t block, uint32_t pos, const uint8_t *parent);

#endif /* AC_TEST_TH_PROTO_H */
