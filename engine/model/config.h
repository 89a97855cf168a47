/* SPDX-License-Identifier: MIT */
/*
 * Hyper-parameters of a Llama-architecture model: everything the forward
 * pass needs to size its buffers and compute RoPE, and nothing a loader
 * could only guess at.
 */
#ifndef AC_MODEL_CONFIG_H
#define AC_MODEL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AC_MODEL_NAME_MAX	128
#define AC_MODEL_ARCH_MAX	32

enum ac_rope_scaling_type {
	AC_ROPE_SCALING_NONE = 0,
	AC_ROPE_SCALING_LLAMA3 = 1,	/* Llama 3.1+ per-frequency scaling */
};

/* Llama-3 RoPE scaling, as in Hugging Face's config.json rope_scaling. */
struct ac_rope_scaling {
	enum ac_rope_scaling_type type;
	float factor;
	float low_freq_factor;
	float high_freq_factor;
	uint32_t original_max_position_embeddings;
};

struct ac_model_config {
	char name[AC_MODEL_NAME_MAX];	/* free text, for logs */
	char arch[AC_MODEL_ARCH_MAX];	/* "llama" */
	uint32_t n_layers;
	uint32_t hidden;	/* residual width */
	uint32_t ffn;		/* MLP intermediate width */
	uint32_t n_heads;	/* query heads */
	uint32_t n_kv_heads;	/* key/value heads (GQA groups) */
	uint32_t head_dim;
	uint32_t vocab;
	uint32_t max_ctx;	/* longest context the model was trained for */
	float rms_eps;
	float rope_theta;
	struct ac_rope_scaling rope_scaling;
	bool tie_embeddings;	/* output projection is tok_embd */
};

/*
 * 0 if @c describes a Llama model this layer can hold; -EINVAL with a
 * message naming the field otherwise (zero or out-of-range sizes, heads not
 * a multiple of the KV heads, odd head_dim, non-finite or non-positive
 * eps/theta, inconsistent rope scaling, arch not "llama").
 */
int ac_model_config_check(const struct ac_model_config *c, char *err,
			  size_t errlen);

/*
 * Fills @out with a named shape: "tiny" (a GQA model small enough for unit
 * tests) or "llama3-8b" (Meta Llama 3.1 8B). -ENOENT for an unknown name.
 */
int ac_model_config_preset(const char *shape, struct ac_model_config *out);

/* Name of preset @i (0, 1, ...), NULL past the last: for usage messages. */
const char *ac_model_config_preset_name(size_t i);

/* "none" / "llama3", or NULL for an unknown type. */
const char *ac_rope_scaling_name(enum ac_rope_scaling_type t);

/* Parameter count of the whole model; a tied output counts once. */
uint64_t ac_model_config_params(const struct ac_model_config *c);

#endif
