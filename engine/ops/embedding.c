/* SPDX-License-Identifier: MIT */
/* Token embedding lookup: one row copy per token. */
#include <errno.h>
#include <string.h>

#include "ops.h"

int ac_op_embedding_cpu(float *out, const int32_t *ids, uint32_t n_tokens,
			const float *table, uint32_t vocab, uint32_t dim)
{
	if (n_tokens && (!out || !ids || !table || !dim))
		return -EINVAL;
	for (uint32_t t = 0; t < n_tokens; t++)
		if (ids[t] < 0 || (uint32_t)ids[t] >= vocab)
			return -ERANGE;
	for (uint32_t t = 0; t < n_tokens; t++)
		memcpy(out + (size_t)t * dim, table + (size_t)ids[t] * dim,
		       (size_t)dim * sizeof(*out));
	return 0;
}
