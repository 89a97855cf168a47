/* SPDX-License-Identifier: MIT */
/*
 * Multi-Segment Attention (MSA) and KV write: the public C API of the
 * AsymCache kernels.
 *
 * One call covers the query rows of S segments, each at an arbitrary
 * absolute position of one of B sequences (recomputed holes and prompt
 * tails alike).  Query row i of segment s sits at absolute position
 * seg_pos[s] + (i - seg_indptr[s]) of sequence seg_seq[s] and attends,
 * causally by absolute position, to keys 0..pos of that sequence, read from
 * the paged KV pool through the sequence's block table
 * block_ids[table_indptr[b] .. table_indptr[b+1]).
 *
 * The work is split on the host once (ac_msa_plan_create), the plan is
 * copied into a caller-owned workspace (ac_msa_plan_upload), and every layer
 * then runs with ac_msa_run on that workspace.  The backend (CPU reference
 * or CUDA) is chosen when the plan is made; both take the same arguments,
 * host pointers on the CPU backend, device pointers on the CUDA backend.
 *
 * Every function returns 0 or a negative errno and never logs.  A CUDA
 * failure is returned as -EIO (launch or device fault), -ENOMEM (device
 * allocation), -EINVAL (bad launch configuration) or -ENODEV (no device).
 */
#ifndef ASYMCACHE_MSA_H
#define ASYMCACHE_MSA_H

#include <stddef.h>
#include <stdint.h>

#include <asymcache/abi.h>

#ifdef __cplusplus
extern "C" {
#endif

/* enum ac_dtype: AC_DTYPE_FP32 runs on the CPU backend only. */

enum ac_msa_backend {
	AC_MSA_BACKEND_CPU = 0,
	AC_MSA_BACKEND_CUDA = 1,
};

/*
 * Blocks are in the layout of asymcache/abi.h (struct ac_kv_layout). The
 * kernels take head_dim 64 or 128 and block_tokens 8..64 on CUDA, head_dim
 * 1..256 on the CPU.
 */

/*
 * The work of one call in CSR form.  Pointers are host memory for
 * ac_msa_plan_create() and for the CPU backend, device memory for the CUDA
 * backend's run and write calls, and must then hold the same values that
 * were planned.
 */
struct ac_msa_batch {
	uint32_t num_segs;		/* S */
	uint32_t num_seqs;		/* B */
	const int32_t *seg_indptr;	/* [S+1], seg_indptr[0] == 0, non-decreasing */
	const int32_t *seg_seq;		/* [S], each < B */
	const int32_t *seg_pos;		/* [S], first absolute position */
	const int32_t *table_indptr;	/* [B+1] into block_ids */
	const int32_t *block_ids;	/* pool block of each logical block */
	const int32_t *ctx_len;		/* [B], tokens of KV the table covers */
};

/* Where the KV lives: pool_base + b * block_bytes is pool block b. */
struct ac_kv_pool {
	void *base;
	uint64_t block_bytes;
	uint32_t num_blocks;
	struct ac_kv_layout layout;
};

struct ac_msa_plan;

/*
 * Split the batch into thread-block work for @num_q_heads query heads over
 * the pool's layout (GQA ratio num_q_heads / num_kv_heads, 1..8).  Checks
 * every index of @batch (host memory): -EINVAL on anything out of range,
 * -EOPNOTSUPP for a shape the backend does not build, -ENOMEM.
 * @sm_count sizes the split of long contexts; 0 asks the device (CUDA) or
 * assumes 132.
 */
int ac_msa_plan_create(enum ac_msa_backend backend,
		       const struct ac_kv_pool *pool, uint32_t num_q_heads,
		       const struct ac_msa_batch *batch, uint32_t sm_count,
		       struct ac_msa_plan **ret_plan);

/* NULL-safe; returns NULL. */
struct ac_msa_plan *ac_msa_plan_free(struct ac_msa_plan *plan);

/* Bytes of workspace (device memory on CUDA, host on CPU) the plan needs. */
size_t ac_msa_plan_workspace_size(const struct ac_msa_plan *plan);

/* Number of query rows the plan covers (the first dimension of Q). */
uint32_t ac_msa_plan_total_q(const struct ac_msa_plan *plan);

/*
 * What the plan's launches take from the host rather than from the
 * workspace or the batch's arrays: the length of each work list and where
 * it lies in the workspace.  Two plans with equal keys launch the same
 * kernels on the same grids, so a recording of one pass's launches (a CUDA
 * graph) serves the other, given the same pool, batch arrays, workspace
 * and buffers, once ac_msa_plan_upload() has put its work list in place.
 * All AC_MSA_PLAN_KEY_WORDS words are written (zeros for a NULL plan).
 */
#define AC_MSA_PLAN_KEY_WORDS	16
void ac_msa_plan_launch_key(const struct ac_msa_plan *plan,
			    uint64_t key[AC_MSA_PLAN_KEY_WORDS]);

/*
 * Copy the plan's work list into @workspace (at least
 * ac_msa_plan_workspace_size() bytes, 16-byte aligned) on @stream
 * (a cudaStream_t, NULL for the default stream; ignored on the CPU).  The
 * plan may be freed once this returns.
 */
int ac_msa_plan_upload(const struct ac_msa_plan *plan, void *workspace,
		       size_t workspace_size, void *stream);

/*
 * Attention for every planned query row on layer @layer:
 * out[total_q][num_q_heads][head_dim] from q of the same shape, both in the
 * pool's dtype, scores scaled by @scale.  The K/V of the query rows must be
 * in the pool already (ac_kv_write).  Asynchronous on the CUDA backend.
 */
int ac_msa_run(const struct ac_msa_plan *plan, const struct ac_kv_pool *pool,
	       const struct ac_msa_batch *batch, uint32_t layer, float scale,
	       const void *q, void *out, void *workspace, size_t workspace_size,
	       void *stream);

/*
 * Scatter the K and V rows of every planned query row ([total_q][H][D],
 * the pool's dtype, after RoPE) into their pool blocks for layer @layer.
 */
int ac_kv_write(const struct ac_msa_plan *plan, const struct ac_kv_pool *pool,
		const struct ac_msa_batch *batch, uint32_t layer,
		const void *k, const void *v, void *stream);

#ifdef __cplusplus
}
#endif

#endif /* ASYMCACHE_MSA_H */
