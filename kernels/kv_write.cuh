/* SPDX-License-Identifier: MIT */
/*
 * KV write: scatter the new K and V rows of every segment into their pool
 * blocks for one layer.  One thread moves one 16-byte chunk of K and the
 * matching chunk of V; consecutive threads take consecutive chunks of a
 * row, so both the reads and the writes are coalesced.
 */
#ifndef AC_KERNELS_KV_WRITE_CUH
#define AC_KERNELS_KV_WRITE_CUH

#include <stdint.h>

#include "msa_internal.h"

struct kv_write_params {
	const uint4 *k;
	const uint4 *v;
	char *pool;
	uint64_t block_bytes;
	const int32_t *seg_indptr;
	const int32_t *seg_seq;
	const int32_t *seg_pos;
	const int32_t *table_indptr;
	const int32_t *block_ids;
	uint32_t num_segs;
	uint32_t num_kv_heads;
	uint32_t chunks_per_row;	/* D * elem / 16 */
	uint32_t block_tokens_log2;
	uint64_t k_off_bytes;		/* (layer, K, head 0, token 0) */
	uint64_t v_off_bytes;
	uint64_t head_stride_bytes;	/* T * D * elem */
	uint64_t total_chunks;		/* total_q * H * chunks_per_row */
};

namespace msa {

__global__ void __launch_bounds__(256)
kv_write_kernel(const __grid_constant__ kv_write_params p)
{
	uint64_t stride = (uint64_t)gridDim.x * blockDim.x;

	for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
	     i < p.total_chunks; i += stride) {
		uint32_t ch = i % p.chunks_per_row;
		uint64_t rh = i / p.chunks_per_row;
		uint32_t h = rh % p.num_kv_heads;
		int32_t row = (int32_t)(rh / p.num_kv_heads);
		/* Last segment whose first row is <= row: a binary search. */
		uint32_t lo = 0, hi = p.num_segs;

		while (hi - lo > 1) {
			uint32_t mid = (lo + hi) / 2;

			if (p.seg_indptr[mid] <= row)
				lo = mid;
			else
				hi = mid;
		}
		/* Empty segments share a start row: skip to the one holding it. */
		while (p.seg_indptr[lo + 1] <= row)
			lo++;
		int32_t t = p.seg_pos[lo] + row - p.seg_indptr[lo];
		int32_t seq = p.seg_seq[lo];
		uint64_t blk = (uint32_t)p.block_ids[p.table_indptr[seq] +
						     (t >> p.block_tokens_log2)];
		uint32_t tt = t & ((1u << p.block_tokens_log2) - 1);
		char *base = p.pool + blk * p.block_bytes +
			     h * p.head_stride_bytes +
			     ((uint64_t)tt * p.chunks_per_row + ch) * 16;

		*reinterpret_cast<uint4 *>(base + p.k_off_bytes) = p.k[i];
		*reinterpret_cast<uint4 *>(base + p.v_off_bytes) = p.v[i];
	}
}

static cudaError_t launch_kv_write(const kv_write_params &p,
				   uint32_t sm_count, cudaStream_t stream)
{
	uint64_t blocks = (p.total_chunks + 255) / 256;

	if (!p.total_chunks)
		return cudaSuccess;
	/* Enough blocks to fill the GPU a few times; the loop takes the rest. */
	if (blocks > (uint64_t)sm_count * 16)
		blocks = (uint64_t)sm_count * 16;
	kv_write_kernel<<<(unsigned)blocks, 256, 0, stream>>>(p);
	return cudaGetLastError();
}

} /* namespace msa */

#endif /* AC_KERNELS_KV_WRITE_CUH */
