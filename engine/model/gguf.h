/* SPDX-License-Identifier: MIT */
/*
 * A GGUF file (v2/v3, little-endian) opened read-only through mmap: its
 * metadata key/values and its tensor table. Strings point into the mapping
 * and are NOT NUL-terminated (GGUF stores lengths); they stay valid until
 * ac_gguf_close(). The weights loader and the tokenizer both read files
 * through this API.
 *
 * Opening validates the whole header up front (every key, every array
 * element, every tensor's shape, alignment and extent within the file), so
 * the accessors below cannot run off the mapping. A tensor of a ggml type
 * whose block size is not known here gets data NULL and size 0 rather than
 * failing the open: the tokenizer reads metadata of any file.
 */
#ifndef AC_MODEL_GGUF_H
#define AC_MODEL_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Metadata value types, numbered as in the GGUF specification. */
enum ac_gguf_type {
	AC_GGUF_UINT8 = 0,
	AC_GGUF_INT8 = 1,
	AC_GGUF_UINT16 = 2,
	AC_GGUF_INT16 = 3,
	AC_GGUF_UINT32 = 4,
	AC_GGUF_INT32 = 5,
	AC_GGUF_FLOAT32 = 6,
	AC_GGUF_BOOL = 7,
	AC_GGUF_STRING = 8,
	AC_GGUF_ARRAY = 9,
	AC_GGUF_UINT64 = 10,
	AC_GGUF_INT64 = 11,
	AC_GGUF_FLOAT64 = 12,
};

/*
 * Tensor element types, numbered as ggml numbers them: the ones decoded
 * here. Sizes of more types (the K-quants, Q5_*, integers) are known, so
 * such tensors are bounds-checked, but not decoded.
 */
enum ac_ggml_type {
	AC_GGML_F32 = 0,
	AC_GGML_F16 = 1,
	AC_GGML_Q4_0 = 2,
	AC_GGML_Q4_1 = 3,
	AC_GGML_Q8_0 = 8,
	AC_GGML_BF16 = 30,
};

#define AC_GGUF_MAX_DIMS 4

struct ac_gguf_tensor {
	const char *name;		/* NUL-terminated copy */
	uint32_t type;			/* enum ac_ggml_type value */
	uint32_t n_dims;
	uint64_t ne[AC_GGUF_MAX_DIMS];	/* ne[0] is the contiguous (row) dim */
	const void *data;		/* into the mapping */
	uint64_t size;			/* bytes */
};

struct ac_gguf;

/*
 * Opens and validates @path. -ENOENT/-EACCES/... if it cannot be opened,
 * -EBADMSG if it is not a well-formed GGUF (bad magic, truncated header,
 * tensor data past the end, duplicate names), -EOPNOTSUPP for a version
 * other than 2 or 3.
 */
int ac_gguf_open(const char *path, struct ac_gguf **out, char *err,
		 size_t errlen);
void ac_gguf_close(struct ac_gguf *g);	/* NULL is a no-op */

const char *ac_gguf_path(const struct ac_gguf *g);
uint32_t ac_gguf_version(const struct ac_gguf *g);
uint64_t ac_gguf_alignment(const struct ac_gguf *g);

/* Metadata by index (i < ac_gguf_kv_count(), unchecked for kv_type) or key. */
uint64_t ac_gguf_kv_count(const struct ac_gguf *g);
const char *ac_gguf_kv_key(const struct ac_gguf *g, uint64_t i); /* NUL-terminated */
enum ac_gguf_type ac_gguf_kv_type(const struct ac_gguf *g, uint64_t i);
/* Index of @key, or -ENOENT. */
int64_t ac_gguf_find(const struct ac_gguf *g, const char *key);

/*
 * Scalar getters by key: -ENOENT when absent, -EINVAL when the stored type
 * does not convert (get_uint takes any integer type >= 0, get_int any
 * integer type that fits, get_float any integer or float type).
 */
int ac_gguf_get_uint(const struct ac_gguf *g, const char *key, uint64_t *out);
int ac_gguf_get_int(const struct ac_gguf *g, const char *key, int64_t *out);
int ac_gguf_get_float(const struct ac_gguf *g, const char *key, double *out);
int ac_gguf_get_bool(const struct ac_gguf *g, const char *key, bool *out);
int ac_gguf_get_str(const struct ac_gguf *g, const char *key, const char **s,
		    uint64_t *len);

/*
 * Arrays: ac_gguf_get_arr() gives the element type and count of the array
 * at @key and its index for the element getters (-ENOENT, -EINVAL if not
 * an array). Element getters return -ERANGE past the end and -EINVAL for
 * an element type that does not convert (nested arrays never do).
 */
int ac_gguf_get_arr(const struct ac_gguf *g, const char *key, int64_t *idx,
		    enum ac_gguf_type *elem, uint64_t *n);
int ac_gguf_arr_str(const struct ac_gguf *g, int64_t idx, uint64_t i,
		    const char **s, uint64_t *len);
int ac_gguf_arr_int(const struct ac_gguf *g, int64_t idx, uint64_t i,
		    int64_t *out);
int ac_gguf_arr_float(const struct ac_gguf *g, int64_t idx, uint64_t i,
		      double *out);

/* Tensors by index or name (NULL if absent). */
uint64_t ac_gguf_tensor_count(const struct ac_gguf *g);
const struct ac_gguf_tensor *ac_gguf_tensor(const struct ac_gguf *g,
					    uint64_t i);
const struct ac_gguf_tensor *ac_gguf_find_tensor(const struct ac_gguf *g,
						 const char *name);

/* "Q4_1" etc., NULL for a type whose size is not known here. */
const char *ac_ggml_type_name(uint32_t type);

/* Elements and bytes per block of @type; 0 if its size is not known here. */
uint32_t ac_ggml_block_elems(uint32_t type);
uint32_t ac_ggml_block_bytes(uint32_t type);

/* Whether ac_ggml_dequantize() decodes @type (the enum above). */
bool ac_ggml_can_decode(uint32_t type);

/*
 * Decodes @n elements (a multiple of the type's block size) of a decodable
 * @type at @src into floats, as ggml's dequantizers define the blocks.
 * -EOPNOTSUPP for a type it does not decode, -EINVAL for a ragged @n.
 */
int ac_ggml_dequantize(uint32_t type, const void *src, float *dst, uint64_t n);

#endif
