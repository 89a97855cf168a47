/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "model_internal.h"
#include "ops.h"
#include "weights.h"

#define TENSOR_ALIGN 256u

/*
 * Both schemes spell a tensor as <layer prefix><layer>.<part>.weight
 * ("model.layers.", "blk."), or <part>.weight for the global ones: only
 * the parts differ by kind.
 */
static const struct {
	const char *name;	/* ours */
	const char *hf;		/* Hugging Face's part */
	const char *gguf;	/* llama.cpp's part */
} kinds[AC_WK_COUNT] = {
	[AC_WK_ATTN_NORM] = { "attn_norm", "input_layernorm", "attn_norm" },
	[AC_WK_Q] = { "wq", "self_attn.q_proj", "attn_q" },
	[AC_WK_K] = { "wk", "self_attn.k_proj", "attn_k" },
	[AC_WK_V] = { "wv", "self_attn.v_proj", "attn_v" },
	[AC_WK_O] = { "wo", "self_attn.o_proj", "attn_output" },
	[AC_WK_FFN_NORM] = { "ffn_norm", "post_attention_layernorm", "ffn_norm" },
	[AC_WK_GATE] = { "w_gate", "mlp.gate_proj", "ffn_gate" },
	[AC_WK_UP] = { "w_up", "mlp.up_proj", "ffn_up" },
	[AC_WK_DOWN] = { "w_down", "mlp.down_proj", "ffn_down" },
	[AC_WK_TOK_EMBD] = { "tok_embd", "model.embed_tokens", "token_embd" },
	[AC_WK_OUTPUT_NORM] = { "output_norm", "model.norm", "output_norm" },
	[AC_WK_OUTPUT] = { "output", "lm_head", "output" },
};

const char *ac_wkind_name(enum ac_wkind k)
{
	return (unsigned)k < AC_WK_COUNT ? kinds[k].name : NULL;
}

static void tensor_name(const char *layer_prefix, const char *part,
			enum ac_wkind k, uint32_t layer, char *buf, size_t len)
{
	if (k < AC_WK_LAYER_COUNT)
		snprintf(buf, len, "%s%u.%s.weight", layer_prefix, layer, part);
	else
		snprintf(buf, len, "%s.weight", part);
}

void ac_weights_hf_name(enum ac_wkind k, uint32_t layer, char *buf, size_t len)
{
	tensor_name("model.layers.", kinds[k].hf, k, layer, buf, len);
}

void ac_weights_gguf_name(enum ac_wkind k, uint32_t layer, char *buf,
			  size_t len)
{
	tensor_name("blk.", kinds[k].gguf, k, layer, buf, len);
}

int ac_weights_shape(const struct ac_model_config *c, enum ac_wkind k,
		     uint64_t *rows, uint64_t *cols)
{
	uint64_t q = (uint64_t)c->n_heads * c->head_dim;
	uint64_t kv = (uint64_t)c->n_kv_heads * c->head_dim;

	switch (k) {
	case AC_WK_ATTN_NORM:
	case AC_WK_FFN_NORM:
	case AC_WK_OUTPUT_NORM:
		*rows = 1, *cols = c->hidden;
		return 0;
	case AC_WK_Q:
		*rows = q, *cols = c->hidden;
		return 0;
	case AC_WK_K:
	case AC_WK_V:
		*rows = kv, *cols = c->hidden;
		return 0;
	case AC_WK_O:
		*rows = c->hidden, *cols = q;
		return 0;
	case AC_WK_GATE:
	case AC_WK_UP:
		*rows = c->ffn, *cols = c->hidden;
		return 0;
	case AC_WK_DOWN:
		*rows = c->hidden, *cols = c->ffn;
		return 0;
	case AC_WK_TOK_EMBD:
	case AC_WK_OUTPUT:
		*rows = c->vocab, *cols = c->hidden;
		return 0;
	default:
		return -EINVAL;
	}
}

bool ac_weights_nth(const struct ac_model_config *c, uint64_t i,
		    enum ac_wkind *k, uint32_t *layer)
{
	uint64_t in_layers = (uint64_t)c->n_layers * AC_WK_LAYER_COUNT;

	if (i < in_layers) {
		*k = (enum ac_wkind)(i % AC_WK_LAYER_COUNT);
		*layer = (uint32_t)(i / AC_WK_LAYER_COUNT);
		return true;
	}
	i -= in_layers;
	if (i >= AC_WK_COUNT - AC_WK_TOK_EMBD)
		return false;
	*k = (enum ac_wkind)(AC_WK_TOK_EMBD + i);
	*layer = 0;
	return !(*k == AC_WK_OUTPUT && c->tie_embeddings);
}

uint64_t ac_weights_max_cols(const struct ac_model_config *c)
{
	uint64_t m = 0, rows, cols;

	for (int k = 0; k < AC_WK_COUNT; k++) {
		ac_weights_shape(c, k, &rows, &cols);
		m = cols > m ? cols : m;
	}
	return m;
}

static void **slot(const struct ac_weights *w, enum ac_wkind k, uint32_t layer)
{
	struct ac_weights *mw = (struct ac_weights *)w;
	struct ac_layer_weights *l = NULL;

	if (k < AC_WK_LAYER_COUNT) {
		if (layer >= w->cfg.n_layers)
			return NULL;
		l = &mw->layers[layer];
	}
	switch (k) {
	case AC_WK_ATTN_NORM: return &l->attn_norm;
	case AC_WK_Q: return &l->wq;
	case AC_WK_K: return &l->wk;
	case AC_WK_V: return &l->wv;
	case AC_WK_O: return &l->wo;
	case AC_WK_FFN_NORM: return &l->ffn_norm;
	case AC_WK_GATE: return &l->w_gate;
	case AC_WK_UP: return &l->w_up;
	case AC_WK_DOWN: return &l->w_down;
	case AC_WK_TOK_EMBD: return &mw->tok_embd;
	case AC_WK_OUTPUT_NORM: return &mw->output_norm;
	case AC_WK_OUTPUT: return &mw->output;
	default: return NULL;
	}
}

void *ac_weights_tensor(const struct ac_weights *w, enum ac_wkind k,
			uint32_t layer)
{
	void **s = slot(w, k, layer);

	return s ? *s : NULL;
}

static uint64_t aligned_bytes(const struct ac_model_config *c, enum ac_wkind k,
			      uint32_t esize)
{
	uint64_t rows, cols;

	ac_weights_shape(c, k, &rows, &cols);
	return (rows * cols * esize + TENSOR_ALIGN - 1) & ~(uint64_t)(TENSOR_ALIGN - 1);
}

int ac_weights_create(const struct ac_model_config *c, enum ac_dtype dtype,
		      struct ac_weights **out, char *err, size_t errlen)
{
	uint32_t esize = ac_dtype_size(dtype);
	struct ac_weights *w;
	uint64_t total = 0, off = 0;
	enum ac_wkind k;
	uint32_t l;
	void *base;
	int rc;

	*out = NULL;
	if (dtype != AC_DTYPE_FP32 && dtype != AC_DTYPE_BF16)
		return ac_model_err(err, errlen, -EOPNOTSUPP,
				    "weights: dtype %s, expected fp32 or bf16",
				    ac_dtype_name(dtype) ? ac_dtype_name(dtype) : "unknown");
	rc = ac_model_config_check(c, err, errlen);
	if (rc)
		return rc;
	for (uint64_t i = 0; ac_weights_nth(c, i, &k, &l); i++)
		total += aligned_bytes(c, k, esize);
	if (total > SIZE_MAX)
		return ac_model_err(err, errlen, -ENOMEM,
				    "weights: %llu bytes do not fit the address space",
				    (unsigned long long)total);

	w = calloc(1, sizeof(*w));
	if (!w)
		goto nomem;
	w->cfg = *c;
	w->dtype = dtype;
	w->bytes = total;
	w->layers = calloc(c->n_layers, sizeof(*w->layers));
	if (!w->layers)
		goto nomem;
	/*
	 * Anonymous pages come zeroed and page-aligned, and only the pages a
	 * loader writes get backed: no pass over gigabytes to clear them.
	 */
	base = mmap(NULL, (size_t)total, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		goto nomem;
	w->base = base;

	for (uint64_t i = 0; ac_weights_nth(c, i, &k, &l); i++) {
		*slot(w, k, l) = (uint8_t *)w->base + off;
		off += aligned_bytes(c, k, esize);
	}
	if (c->tie_embeddings)
		w->output = w->tok_embd;
	*out = w;
	return 0;
nomem:
	ac_weights_free(w);
	return ac_model_err(err, errlen, -ENOMEM,
			    "weights: cannot allocate %llu bytes for %s",
			    (unsigned long long)total, c->name);
}

void ac_weights_free(struct ac_weights *w)
{
	if (!w)
		return;
	if (w->base)
		munmap(w->base, (size_t)w->bytes);
	free(w->layers);
	free(w);
}

float ac_weights_get(const struct ac_weights *w, const void *t, uint64_t i)
{
	if (w->dtype == AC_DTYPE_FP32)
		return ((const float *)t)[i];
	return ac_bf16_to_f32(((const uint16_t *)t)[i]);
}

void ac_weights_store(const struct ac_weights *w, void *dst, uint64_t at,
		      const float *src, uint64_t n)
{
	if (w->dtype == AC_DTYPE_FP32)
		memcpy((float *)dst + at, src, n * sizeof(float));
	else
		ac_op_f32_to_bf16_cpu((uint16_t *)dst + at, src, n);
}
