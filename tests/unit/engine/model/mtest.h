/* SPDX-License-Identifier: MIT */
/*
 * Test helpers for engine/model: a scratch directory, a GGUF writer, a
 * safetensors writer and float64 decoders of the element formats, all
 * written from the format descriptions rather than from the library so the
 * tests check the loaders against an independent reading.
 */
#ifndef AC_MTEST_H
#define AC_MTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "gguf.h"
#include "weights.h"

/* A fresh directory under $TMPDIR, removed with everything in it. */
char *mt_tmpdir(void);
void mt_rmdir(char *dir);
/* The suites' fixture: mt_dir is such a directory for each test. */
extern char *mt_dir;
void mt_dir_init(void);
void mt_dir_fini(void);

/* The "tiny" preset, which every suite builds its models from. */
struct ac_model_config mt_tiny(void);
char *mt_path(const char *dir, const char *name);	/* malloc'd */
void mt_write_file(const char *path, const void *data, size_t len);
void mt_truncate(const char *path, uint64_t len);
uint64_t mt_file_size(const char *path);

/* Deterministic test data, not the library's generator. */
uint64_t mt_rand(uint64_t *state);
double mt_uniform(uint64_t *state);	/* [-1, 1) */

/* float64 decodes of the element formats. */
double mt_half(uint16_t h);
double mt_bf16(uint16_t b);
uint16_t mt_rand_half(uint64_t *state);	/* finite, |x| in ~[2^-14, 2^5] or subnormal */
uint16_t mt_rand_bf16(uint64_t *state);

/*
 * Random bytes for @n elements of ggml @type (scale fields kept finite) and
 * their float64 decode into @out.
 */
void *mt_ggml_random(uint32_t type, uint64_t n, uint64_t *state,
		     double *out, size_t *bytes);
uint64_t mt_ggml_bytes(uint32_t type, uint64_t n);

/* GGUF writer: append key/values and tensors, then write the file. */
struct mt_gguf;
struct mt_gguf *mt_gguf_new(uint32_t version);
void mt_gguf_kv_raw(struct mt_gguf *w, const char *key, uint32_t type,
		    const void *val, size_t len);
void mt_gguf_kv_u32(struct mt_gguf *w, const char *key, uint32_t v);
void mt_gguf_kv_f32(struct mt_gguf *w, const char *key, float v);
void mt_gguf_kv_str(struct mt_gguf *w, const char *key, const char *s);
void mt_gguf_kv_arr_str(struct mt_gguf *w, const char *key,
			const char *const *s, uint64_t n);
void mt_gguf_kv_arr_i32(struct mt_gguf *w, const char *key,
			const int32_t *v, uint64_t n);
/* @ne in ggml order (row length first). */
void mt_gguf_tensor(struct mt_gguf *w, const char *name, uint32_t type,
		    uint32_t n_dims, const uint64_t *ne, const void *data,
		    size_t bytes);
void mt_gguf_write(struct mt_gguf *w, const char *path, uint64_t alignment);
void mt_gguf_free(struct mt_gguf *w);

/* The metadata of a Llama GGUF for @c (no tensors), less key @skip. */
void mt_gguf_llama_kv(struct mt_gguf *w, const struct ac_model_config *c,
		      const char *skip);

/*
 * The expected weights of a test model: float64 values per (kind, layer)
 * in Hugging Face order, as the loader must produce them.
 */
struct mt_model {
	struct ac_model_config cfg;
	double *t[AC_WK_COUNT][8];	/* [kind][layer]; globals at layer 0 */
};

/* Ways to spoil a test GGUF; all optional. */
struct mt_spoil {
	const char *skip;	/* a tensor or metadata key to leave out */
	const char *reshape;	/* a tensor written with rows and cols swapped */
	const char *retype;	/* a tensor written as ggml type retype_to */
	uint32_t retype_to;
	/* Called last, to add keys or tensors. */
	void (*extra)(struct mt_gguf *w, const struct ac_model_config *c);
};

/*
 * Writes a GGUF of @c with kind k stored as types[k] (a ggml type), Q and K
 * rows permuted the way llama.cpp's converter permutes them, and fills @m
 * with what loading must give.
 */
void mt_llama_gguf(const char *path, const struct ac_model_config *c,
		   const uint32_t types[AC_WK_COUNT], uint64_t seed,
		   const struct mt_spoil *spoil, struct mt_model *m);

/* Replaces the first @from in the file with @to of the same length. */
void mt_patch(const char *path, const char *from, const char *to);

/* Open descriptors and mappings of this process, to catch leaks. */
int mt_open_fds(void);
int mt_mappings(void);

struct mt_leaks {
	int fds, maps;
};

/* What this process holds now, for mt_expect_refused() to compare. */
struct mt_leaks mt_leak_probe(void);

/*
 * A load that returned @rc, @w and message @err must have failed with
 * @want and no weights, named @file, @what1 and (unless NULL) @what2, and
 * given back every descriptor and mapping it held since @before.
 */
void mt_expect_refused(int rc, const struct ac_weights *w, const char *err,
		       int want, const char *file, const char *what1,
		       const char *what2, struct mt_leaks before);

/*
 * Writes a Hugging Face directory for @c into @dir with tensors of
 * safetensors dtype @dtype ("F32", "F16", "BF16"), split over @shards files
 * (1: model.safetensors; more: an index and model-0000i-of-0000n files).
 */
void mt_llama_hf(const char *dir, const struct ac_model_config *c,
		 const char *dtype, unsigned shards, uint64_t seed,
		 struct mt_model *m);

void mt_model_free(struct mt_model *m);

/*
 * Asserts that a loader read back every field of @want that a file holds
 * (the sizes, eps, theta, tying, rope scaling type and name).
 */
void mt_expect_config(const struct ac_model_config *got,
		      const struct ac_model_config *want);

/* Largest |loaded - expected| / (|expected| + floor) over all tensors. */
double mt_model_diff(const struct ac_weights *w, const struct mt_model *m,
		     double floor);

#endif
