/* SPDX-License-Identifier: MIT */
/*
 * From a Lookup's block runs to the work of one prefill: which hits the
 * reuse mode keeps, which blocks to allocate, and which positions to
 * compute. Pure computation on caller storage; nothing is sent.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "asymcache/asymcache.h"

/* Whether logical block @i's hit is reused under @mode. */
static bool block_used(const struct ac_lookup_result *res, size_t i,
		       enum ac_reuse mode, bool *before_miss)
{
	bool hit = res->blocks[i] != AC_NO_BLOCK;

	if (!hit)
		*before_miss = false;
	switch (mode) {
	case AC_REUSE_MSA:
		return hit;
	case AC_REUSE_PREFIX:
		return hit && *before_miss;
	case AC_REUSE_NONE:
		break;
	}
	return false;
}

int ac_reuse_plan(const struct ac_lookup_result *res, size_t nkeys,
		  uint32_t ntokens, uint32_t block_tokens, enum ac_reuse mode,
		  struct ac_reuse_plan *plan)
{
	size_t nblocks, i, nruns = 0, nalloc = 0, ndrop = 0, last;
	bool before_miss = true;

	if (!res || !plan || !plan->table || !plan->runs || !plan->drop ||
	    !block_tokens || !ntokens || (nkeys && !res->blocks))
		return -EINVAL;
	if (mode != AC_REUSE_MSA && mode != AC_REUSE_PREFIX &&
	    mode != AC_REUSE_NONE)
		return -EINVAL;
	if (nkeys != ntokens / block_tokens)
		return -EINVAL;
	nblocks = ((size_t)ntokens + block_tokens - 1) / block_tokens;
	last = nblocks - 1;

	for (i = 0; i < nblocks; i++) {
		bool used = false;

		if (i < nkeys) {
			used = block_used(res, i, mode, &before_miss);
			/* The last token's logits are needed: compute it. */
			if (i == last)
				used = false;
			if (!used && res->blocks[i] != AC_NO_BLOCK)
				plan->drop[ndrop++] = res->blocks[i];
		}
		plan->table[i] = used ? res->blocks[i] : AC_NO_BLOCK;
		if (used)
			continue;
		nalloc++;
		/* Extend the current run or open a new one. */
		if (nruns && plan->runs[nruns - 1].pos +
				     plan->runs[nruns - 1].len ==
			     i * block_tokens) {
			plan->runs[nruns - 1].len += block_tokens;
		} else {
			if (nruns == plan->max_runs)
				return -ENOBUFS;
			plan->runs[nruns].pos = (uint32_t)(i * block_tokens);
			plan->runs[nruns].len = block_tokens;
			nruns++;
		}
	}
	/* The tail run ends at the prompt's end, not at its block's. */
	plan->runs[nruns - 1].len = ntokens - plan->runs[nruns - 1].pos;

	plan->nblocks = nblocks;
	plan->nruns = nruns;
	plan->nalloc = nalloc;
	plan->ndrop = ndrop;
	plan->reused_tokens = (uint32_t)((nblocks - nalloc) * block_tokens);
	return 0;
}

int ac_reuse_fill(struct ac_reuse_plan *plan, const uint32_t *alloc,
		  size_t nalloc)
{
	size_t i, j = 0;

	if (!plan || !plan->table || nalloc != plan->nalloc ||
	    (nalloc && !alloc))
		return -EINVAL;
	for (i = 0; i < nalloc; i++)
		if (alloc[i] == AC_NO_BLOCK)
			return -EINVAL;
	for (i = 0; i < plan->nblocks; i++)
		if (plan->table[i] == AC_NO_BLOCK)
			plan->table[i] = alloc[j++];
	return 0;
}
