/* SPDX-License-Identifier: MIT */
/*
 * The CSR arrays of one MSA call, built a sequence at a time from block
 * tables and runs. Growth happens before anything is written, so a failed
 * append leaves the batch as it was.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "asymcache/asymcache.h"

/* Arrays that share one capacity grow together, doubling. */
static int grow_all(int32_t **arrs[], size_t narr, size_t *cap, size_t need)
{
	size_t n = *cap ? *cap : 16;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	for (size_t i = 0; i < narr; i++) {
		int32_t *p = realloc(*arrs[i], n * sizeof(*p));

		if (!p)
			return -ENOMEM;	/* the grown ones are kept */
		*arrs[i] = p;
	}
	*cap = n;
	return 0;
}

void ac_batch_reset(struct ac_batch *b)
{
	if (!b)
		return;
	b->num_segs = b->num_seqs = b->num_rows = 0;
	if (b->seg_indptr)
		b->seg_indptr[0] = 0;
	if (b->table_indptr)
		b->table_indptr[0] = 0;
}

static int check_seq(const uint32_t *table, size_t nblocks, uint32_t ctx_len,
		     uint32_t block_tokens, const struct ac_run *runs,
		     size_t nruns, size_t *ret_rows)
{
	uint64_t end = 0, rows = 0;

	if (!block_tokens || (nblocks && !table) || (nruns && !runs))
		return -EINVAL;
	if (nblocks > INT32_MAX || ctx_len > (uint64_t)nblocks * block_tokens)
		return -EINVAL;
	for (size_t i = 0; i < nblocks; i++)
		if (table[i] > INT32_MAX)
			return -EINVAL;
	for (size_t i = 0; i < nruns; i++) {
		if (!runs[i].len || runs[i].pos < end ||
		    (uint64_t)runs[i].pos + runs[i].len > ctx_len)
			return -EINVAL;
		end = (uint64_t)runs[i].pos + runs[i].len;
		rows += runs[i].len;
	}
	if (rows > INT32_MAX)
		return -EINVAL;
	*ret_rows = rows;
	return 0;
}

int ac_batch_add(struct ac_batch *b, const uint32_t *table, size_t nblocks,
		 uint32_t ctx_len, uint32_t block_tokens,
		 const struct ac_run *runs, size_t nruns)
{
	int32_t **seg_arrs[] = { &b->seg_indptr, &b->seg_seq, &b->seg_pos };
	int32_t **seq_arrs[] = { &b->table_indptr, &b->ctx_len };
	int32_t **blk_arrs[] = { &b->block_ids };
	int32_t **row_arrs[] = { &b->row_pos };
	size_t rows, nb;
	uint32_t s, q, bi;
	int r;

	if (!b)
		return -EINVAL;
	r = check_seq(table, nblocks, ctx_len, block_tokens, runs, nruns,
		      &rows);
	if (r < 0)
		return r;
	nb = b->num_seqs ? (size_t)b->table_indptr[b->num_seqs] : 0;
	if (b->num_rows + rows > INT32_MAX || nb + nblocks > INT32_MAX)
		return -EINVAL;
	/* +1 for the indptr arrays' leading zero. */
	r = grow_all(seg_arrs, 3, &b->cap_segs, b->num_segs + nruns + 1);
	if (!r)
		r = grow_all(seq_arrs, 2, &b->cap_seqs, b->num_seqs + 2);
	if (!r)
		r = grow_all(blk_arrs, 1, &b->cap_blocks, nb + nblocks + 1);
	if (!r)
		r = grow_all(row_arrs, 1, &b->cap_rows, b->num_rows + rows + 1);
	if (r < 0)
		return r;

	if (!b->num_segs)
		b->seg_indptr[0] = 0;
	if (!b->num_seqs)
		b->table_indptr[0] = 0;
	s = b->num_segs;
	q = b->num_rows;
	for (size_t i = 0; i < nruns; i++, s++) {
		b->seg_seq[s] = (int32_t)b->num_seqs;
		b->seg_pos[s] = (int32_t)runs[i].pos;
		for (uint32_t t = 0; t < runs[i].len; t++)
			b->row_pos[q++] = (int32_t)(runs[i].pos + t);
		b->seg_indptr[s + 1] = (int32_t)q;
	}
	for (bi = 0; bi < nblocks; bi++)
		b->block_ids[nb + bi] = (int32_t)table[bi];
	b->ctx_len[b->num_seqs] = (int32_t)ctx_len;
	b->table_indptr[b->num_seqs + 1] = (int32_t)(nb + nblocks);
	b->num_segs = s;
	b->num_rows = q;
	b->num_seqs++;
	return 0;
}

void ac_batch_free(struct ac_batch *b)
{
	if (!b)
		return;
	free(b->seg_indptr);
	free(b->seg_seq);
	free(b->seg_pos);
	free(b->table_indptr);
	free(b->block_ids);
	free(b->ctx_len);
	free(b->row_pos);
	memset(b, 0, sizeof(*b));
}
