/* SPDX-License-Identifier: MIT */
/*
 * A Llama model's weights in host memory, in one dtype the caller picks
 * (fp32 or bf16), and the loaders that fill them.
 *
 * Matrices are row-major [out][in] like Hugging Face's nn.Linear, so
 * y[o] = sum_i W[o][i] * x[i]. Q and K rows are in Hugging Face's order:
 * within a head, dimensions d and d + head_dim/2 form a RoPE pair (the
 * rotate-half convention), whatever the file stored.
 *
 * All tensors live in one allocation (base, bytes), each 256-byte aligned,
 * so a device copy is one transfer and pointer offsets carry over.
 *
 * Every loader is all-or-nothing: on error it frees what it built, returns
 * a negative errno and writes a message naming the file, the tensor and
 * what was expected against what was found into err (errlen bytes; err may
 * be NULL). The errnos:
 *	-ENOENT		file, tensor or required config key missing
 *	-EBADMSG	malformed or truncated file (header, metadata, data)
 *	-EINVAL		wrong shape, wrong value type, inconsistent config
 *	-EOPNOTSUPP	dtype, tensor type, version or rope scaling not handled
 *	-ENOMEM		out of memory
 *	other		what open/fstat/mmap reported
 */
#ifndef AC_MODEL_WEIGHTS_H
#define AC_MODEL_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include <asymcache/abi.h>

#include "config.h"

/* The tensors of a model; the first AC_WK_LAYER_COUNT repeat per layer. */
enum ac_wkind {
	AC_WK_ATTN_NORM,	/* [hidden] */
	AC_WK_Q,		/* [n_heads*head_dim][hidden] */
	AC_WK_K,		/* [n_kv_heads*head_dim][hidden] */
	AC_WK_V,		/* [n_kv_heads*head_dim][hidden] */
	AC_WK_O,		/* [hidden][n_heads*head_dim] */
	AC_WK_FFN_NORM,		/* [hidden] */
	AC_WK_GATE,		/* [ffn][hidden] */
	AC_WK_UP,		/* [ffn][hidden] */
	AC_WK_DOWN,		/* [hidden][ffn] */
	AC_WK_LAYER_COUNT,
	AC_WK_TOK_EMBD = AC_WK_LAYER_COUNT,	/* [vocab][hidden] */
	AC_WK_OUTPUT_NORM,	/* [hidden] */
	AC_WK_OUTPUT,		/* [vocab][hidden]; tok_embd when tied */
	AC_WK_COUNT,
};

struct ac_layer_weights {
	void *attn_norm;
	void *wq;
	void *wk;
	void *wv;
	void *wo;
	void *ffn_norm;
	void *w_gate;
	void *w_up;
	void *w_down;
};

struct ac_weights {
	struct ac_model_config cfg;
	enum ac_dtype dtype;		/* AC_DTYPE_FP32 or AC_DTYPE_BF16 */
	void *tok_embd;
	struct ac_layer_weights *layers;	/* cfg.n_layers of them */
	void *output_norm;
	void *output;			/* == tok_embd when cfg.tie_embeddings */
	void *base;			/* the one allocation holding all tensors */
	uint64_t bytes;			/* its size */
};

/* Short name of a kind ("wq", "tok_embd"), NULL if out of range. */
const char *ac_wkind_name(enum ac_wkind k);

/*
 * Shape of tensor @k under @c: rows x cols, row-major; vectors are 1 x n.
 * -EINVAL for a kind out of range.
 */
int ac_weights_shape(const struct ac_model_config *c, enum ac_wkind k,
		     uint64_t *rows, uint64_t *cols);

/* Tensor @k (of @layer for per-layer kinds), NULL if out of range. */
void *ac_weights_tensor(const struct ac_weights *w, enum ac_wkind k,
			uint32_t layer);

/*
 * Allocates zero-filled weights for @c (which must pass the check) in
 * @dtype (fp32 or bf16; -EOPNOTSUPP otherwise).
 */
int ac_weights_create(const struct ac_model_config *c, enum ac_dtype dtype,
		      struct ac_weights **out, char *err, size_t errlen);

/* Frees @w and its tensors; NULL is a no-op. */
void ac_weights_free(struct ac_weights *w);

/* Element @i of tensor @t of @w as a float (either dtype). */
float ac_weights_get(const struct ac_weights *w, const void *t, uint64_t i);

/*
 * A llama.cpp GGUF file (v2/v3): hyper-parameters from the llama.* keys,
 * tensors F32/F16/BF16/Q8_0/Q4_0/Q4_1 dequantized, Q/K rows un-permuted
 * into Hugging Face order, output tied when output.weight is absent.
 */
int ac_weights_load_gguf(const char *path, enum ac_dtype dtype,
			 struct ac_weights **out, char *err, size_t errlen);

/*
 * A Hugging Face LlamaForCausalLM directory: config.json plus either
 * model.safetensors or the shards model.safetensors.index.json lists;
 * tensors BF16/F16/F32.
 */
int ac_weights_load_safetensors(const char *dir, enum ac_dtype dtype,
				struct ac_weights **out, char *err,
				size_t errlen);

/*
 * Seeded random weights for @c: matrices roughly normal with std
 * 1/sqrt(cols), norm weights near 1. Element values depend only on
 * (seed, tensor, index), not on dtype or thread count.
 */
int ac_weights_random(const struct ac_model_config *c, uint64_t seed,
		      enum ac_dtype dtype, struct ac_weights **out, char *err,
		      size_t errlen);

/*
 * One entry point: @src is a path ending in ".gguf", a directory holding
 * config.json, or a preset shape name (random weights from @seed).
 */
int ac_weights_load(const char *src, enum ac_dtype dtype, uint64_t seed,
		    struct ac_weights **out, char *err, size_t errlen);

#endif
