/* SPDX-License-Identifier: MIT */
/* Helpers shared by the loaders of engine/model; not installed. */
#ifndef AC_MODEL_INTERNAL_H
#define AC_MODEL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errmsg.h"
#include "weights.h"

/* A read-only private mapping of a whole file. */
struct ac_map {
	const uint8_t *data;
	size_t size;
};

/* Maps @path; a message names the file on failure. Empty files map to size 0. */
int ac_map_file(const char *path, struct ac_map *m, char *err, size_t errlen);
void ac_map_release(struct ac_map *m);

/*
 * Stores @n floats at element @at of a tensor of the weights' dtype, which
 * is how every loader writes: decode a row to fp32, then store it.
 */
void ac_weights_store(const struct ac_weights *w, void *dst, uint64_t at,
		      const float *src, uint64_t n);

/*
 * The @i-th tensor the weights of @c hold, for i = 0, 1, ... until it
 * returns false: each layer's kinds in enum order, then the global ones,
 * less the output when it is tied (it is the embedding, not a tensor of its
 * own).  It is also the order they lie in the one allocation, so the
 * loaders write it front to back.
 */
bool ac_weights_nth(const struct ac_model_config *c, uint64_t i,
		    enum ac_wkind *k, uint32_t *layer);

/*
 * ac_model_config_check() for a config read from @path: its message names
 * only the field, so the file goes in front.
 */
int ac_model_config_check_file(const char *path,
			       const struct ac_model_config *c, char *err,
			       size_t errlen);

/* The longest row of any tensor: one decode buffer serves them all. */
uint64_t ac_weights_max_cols(const struct ac_model_config *c);

/* Name of tensor @k of layer @layer in Hugging Face's or GGUF's scheme. */
void ac_weights_hf_name(enum ac_wkind k, uint32_t layer, char *buf, size_t len);
void ac_weights_gguf_name(enum ac_wkind k, uint32_t layer, char *buf,
			  size_t len);

/*
 * Row @r of a GGUF Q or K tensor lands at this Hugging Face row: llama.cpp's
 * converter interleaves each head's two RoPE halves, and this undoes it.
 */
static inline uint64_t ac_unpermute_row(uint64_t r, uint32_t head_dim)
{
	uint64_t head = r / head_dim, in = r % head_dim;
	uint64_t half = head_dim / 2;

	return head * head_dim + (in % 2) * half + in / 2;
}

#endif
