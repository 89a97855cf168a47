/* SPDX-License-Identifier: MIT */
/*
 * Cost model: how long the GPU takes to (re)compute KV, in seconds.
 *
 * A chunk of T query tokens starting at absolute token position p, in one
 * segment, costs
 *
 *   linear_s * T  +  attn_s * T * (p + T/2)  +  segment_s
 *
 * (projections and FFN scale with T; causal attention over p earlier
 * tokens plus half of its own; every segment pays a fixed overhead for its
 * partial tiles and bookkeeping). An engine iteration that mixes prefill
 * chunks and decodes costs
 *
 *   max(iteration_s, linear_s * (prefill + decode tokens))
 *     + attn_s * sum of chunk pairs + segment_s * segments
 *     + decode_ctx_s * sum of decode contexts
 *
 * where iteration_s is the floor set by streaming the weights once: below
 * the knee (iteration_s / linear_s tokens) extra tokens are nearly free.
 *
 * One JSON file per (GPU, namespace layout); asymcache-calibrate writes it.
 */
#ifndef AC_COST_MODEL_H
#define AC_COST_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <asymcache/abi.h>

#define AC_COST_NAME_MAX	64
#define AC_COST_SOURCE_MAX	2048
#define AC_COST_FILE_MAX	(1u << 20)

/*
 * A model's shape as the cost model needs it: its KV block layout (the
 * block ABI's struct) and the dimensions of its weights. A cost file spells
 * the dtype as "dtype_bytes": 2 reads as bf16, 4 as fp32.
 */
struct ac_cost_layout {
	struct ac_kv_layout kv;
	uint32_t hidden;
	uint32_t ffn;
	uint32_t num_q_heads;
	uint32_t vocab;
};

struct ac_cost_model {
	char gpu[AC_COST_NAME_MAX];
	char model[AC_COST_NAME_MAX];
	struct ac_cost_layout layout;
	double linear_s;	/* per query token */
	double attn_s;		/* per (query, key) pair */
	double segment_s;	/* per query segment */
	double iteration_s;	/* floor of one iteration */
	double decode_ctx_s;	/* per context token read by a decode query */
	char source[AC_COST_SOURCE_MAX];
};

/* Measured peak rates of a GPU that a default model is derived from. */
struct ac_cost_anchors {
	double gemm_flops;	/* dense bf16 GEMM, FLOP/s */
	double attn_flops;	/* attention on the multi-segment shape */
	double hbm_bytes_s;	/* HBM copy bandwidth */
	double decode_bytes_s;	/* decode attention KV read bandwidth */
	uint32_t pad_rows;	/* query rows wasted per segment (half a tile) */
	uint32_t pad_ctx;	/* context those padded rows attend over */
};

/* One iteration's work, for ac_cost_iter_s(). */
struct ac_cost_iter {
	uint64_t prefill_tokens;
	double prefill_pairs;	/* sum over chunks of T * (p + T/2) */
	uint32_t segments;
	uint32_t decode_tokens;
	uint64_t decode_ctx;	/* sum of the decodes' context lengths */
};

/* A timing for ac_cost_fit(): one segment-batched recompute. */
struct ac_cost_sample {
	double tokens;		/* sum of T */
	double pairs;		/* sum of T * (p + T/2) */
	double segments;
	double seconds;
};

/* H200 anchors (measured rates) and the Llama-3-8B layout. */
void ac_cost_anchors_h200(struct ac_cost_anchors *ret);
void ac_cost_layout_llama3_8b(struct ac_cost_layout *ret);

/* Coefficients from anchors and a layout; fills every field of @ret. */
int ac_cost_model_derive(const struct ac_cost_anchors *a,
			 const struct ac_cost_layout *l,
			 struct ac_cost_model *ret);
/* The built-in default: H200 and Llama-3-8B with 16-token blocks. */
void ac_cost_model_default(struct ac_cost_model *ret);

/* Parse/load a cost file; -EINVAL with nothing changed on bad content. */
int ac_cost_model_parse(const char *json, size_t len,
			struct ac_cost_model *ret);
int ac_cost_model_load(const char *path, struct ac_cost_model *ret);
/* Serialise; *ret_json is malloc()ed and NUL-terminated. */
int ac_cost_model_to_json(const struct ac_cost_model *m, char **ret_json);

/*
 * Whether @m was made for KV of @kv's shape: the same layers, kv heads,
 * head dim and element size (bf16 and fp16 cost the same). Block size does not count (the policy scales a
 * block's cost by its namespace's block_tokens). When it differs and @why
 * is not NULL, @why says how ("32 layers, not 30; 128 head dim, not 64"),
 * the cost model's value first.
 */
bool ac_cost_model_fits(const struct ac_cost_model *m, const struct ac_kv_layout *kv,
			char *why, size_t len);

double ac_cost_recompute_s(const struct ac_cost_model *m, uint32_t tokens,
			   uint64_t pos_tokens, uint32_t segments);
double ac_cost_iter_s(const struct ac_cost_model *m,
		      const struct ac_cost_iter *it);
/* Tokens per iteration at which linear work fills the weight-stream floor. */
uint32_t ac_cost_knee_tokens(const struct ac_cost_model *m);
/* Weights one token touches in one layer: q, k, v, o and the gated FFN. */
double ac_cost_layer_params(const struct ac_cost_layout *l);

/*
 * Least-squares fit of linear_s, attn_s and segment_s to timings, keeping
 * every coefficient non-negative (any may come out 0). -EINVAL when the
 * samples cannot pin the three down (fewer than 3, degenerate, or all
 * three would be 0).
 */
int ac_cost_fit(const struct ac_cost_sample *s, size_t n,
		double *ret_linear_s, double *ret_attn_s,
		double *ret_segment_s);

#endif /* AC_COST_MODEL_H */
