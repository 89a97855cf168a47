/* SPDX-License-Identifier: MIT */
/*
 * The Llama forward pass over one MSA batch: no sockets, no daemon. The
 * caller owns the KV pool and the batch (block tables, segments); the model
 * writes each layer's K/V of the batch's rows into the pool with
 * ac_kv_write() and attends with ac_msa_run(), and nothing else touches
 * attention. Rows are the batch's query rows in order (a hole, a prompt
 * tail, a decode step: all the same to the model).
 *
 * A backend (struct ac_fwd_ops) supplies the numeric ops on its own memory:
 * fp32 host arrays on the CPU, bf16 device arrays on CUDA. The forward pass
 * itself is the same code for both.
 */
#ifndef AC_MODEL_FORWARD_H
#define AC_MODEL_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <asymcache/asymcache.h>
#include <asymcache/msa.h>

#include "weights.h"

struct ac_model;

enum ac_fwd_backend {
	AC_FWD_CPU = 0,		/* fp32, OpenBLAS; host pool of fp32 blocks */
	AC_FWD_CUDA = 1,	/* bf16, cuBLASLt; device pool of bf16 blocks */
};

/*
 * A model ready to run: @w's tensors copied into the backend's memory and
 * dtype (fp32 host or bf16 device), scratch for up to @max_rows rows per
 * call. @w may be freed afterwards. -EOPNOTSUPP for a backend not built.
 */
int ac_model_create(const struct ac_weights *w, enum ac_fwd_backend backend,
		    uint32_t max_rows, struct ac_model **ret, char *err,
		    size_t errlen);
struct ac_model *ac_model_free(struct ac_model *m);

const struct ac_model_config *ac_model_config(const struct ac_model *m);
enum ac_fwd_backend ac_model_backend(const struct ac_model *m);
/* Rows one forward pass takes, as created. */
uint32_t ac_model_max_rows(const struct ac_model *m);

/* Rows whose logits one call may ask for: bounds the logits buffer. */
#define AC_FWD_MAX_LOGITS	256u

/*
 * Whether passes of a few rows (decode steps) replay recordings of their
 * launches where the backend makes them (CUDA graphs, on by default):
 * a pass whose launches match an earlier one's runs as one graph launch.
 * Setting it forgets which passes were seen. -EOPNOTSUPP to turn them on
 * where the backend records nothing.
 */
int ac_model_set_graphs(struct ac_model *m, bool on);

/*
 * Record a few-row pass the first time its launches are seen (@eager
 * true: what the engine did before, the baseline of
 * bench/engine/mixed_bench.c) rather than the second: the default
 * launches a pass of a new shape directly and records it only when the
 * shape comes back, as decode steps do.
 */
void ac_model_set_graphs_eager(struct ac_model *m, bool eager);

/* Passes so far by how their launches ran. */
struct ac_model_graph_counts {
	uint64_t direct;	/* launched kernel by kernel */
	uint64_t recorded;	/* recorded as a graph, then run */
	uint64_t replayed;	/* an earlier recording replayed */
};

void ac_model_get_graph_counts(const struct ac_model *m,
			       struct ac_model_graph_counts *c);

/* The block layout this model's KV takes in a pool of @block_tokens. */
void ac_model_kv_layout(const struct ac_model *m, uint32_t block_tokens,
			struct ac_kv_layout *ret);

/*
 * One forward pass. @tokens and @pos are host arrays with one entry per
 * row of @batch (ac_batch's row_pos is @pos); @batch's arrays are host
 * memory. The logits of rows @logit_rows[0..n_logits) are written to
 * @logits ([n_logits][vocab] fp32, host). -E2BIG past max_rows, -ERANGE for
 * a token outside the vocabulary, kernel errors as the MSA API returns them.
 */
int ac_model_forward(struct ac_model *m, const struct ac_kv_pool *pool,
		     const struct ac_msa_batch *batch, const int32_t *tokens,
		     const int32_t *pos, const uint32_t *logit_rows,
		     uint32_t n_logits, float *logits);

/*
 * ac_model_forward() that can also give, or give instead, the greedy
 * token of each logit row (@argmax, n_logits entries; the first of equal
 * maxima). Either may be NULL, not both when n_logits is not 0. Where the
 * backend can, the argmax is taken on the device and the logits stay
 * there when @logits is NULL. -EINVAL for a row with no number (NaN).
 */
int ac_model_forward_ex(struct ac_model *m, const struct ac_kv_pool *pool,
			const struct ac_msa_batch *batch,
			const int32_t *tokens, const int32_t *pos,
			const uint32_t *logit_rows, uint32_t n_logits,
			float *logits, int32_t *argmax);

/*
 * Wait until the device has done every pass queued so far (a pass that
 * returns no logits may still be running on a GPU): what a timing of the
 * pass needs. 0 at once on the CPU.
 */
int ac_model_sync(struct ac_model *m);

/* The MSA batch that @b's arrays describe (host memory, as forward takes). */
static inline void ac_model_batch_view(const struct ac_batch *b,
				       struct ac_msa_batch *ret)
{
	*ret = (struct ac_msa_batch){
		.num_segs = b->num_segs, .num_seqs = b->num_seqs,
		.seg_indptr = b->seg_indptr, .seg_seq = b->seg_seq,
		.seg_pos = b->seg_pos, .table_indptr = b->table_indptr,
		.block_ids = b->block_ids, .ctx_len = b->ctx_len,
	};
}

#endif /* AC_MODEL_FORWARD_H */
