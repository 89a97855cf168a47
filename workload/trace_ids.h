/* SPDX-License-Identifier: MIT */
/*
 * Block ids for prompts given as tokens: block i's id names the whole
 * prefix up to it (a hash chained over the blocks), as Mooncake's hash ids
 * do, numbered densely from 0 in the order first seen.
 */
#ifndef AC_TRACE_IDS_H
#define AC_TRACE_IDS_H

#include <stddef.h>
#include <stdint.h>

struct ac_trace_idmap {
	uint64_t *hash;
	uint32_t *id;		/* UINT32_MAX: empty slot */
	size_t cap, n;
};

/* ids[0 .. ceil(n / block_tokens)) of @tokens; -ENOMEM, -EOVERFLOW. */
int ac_trace_ids_derive(struct ac_trace_idmap *m, const int32_t *tokens,
			uint32_t n, uint32_t block_tokens, uint32_t *ids);
void ac_trace_idmap_free(struct ac_trace_idmap *m);

#endif
