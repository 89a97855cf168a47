/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "model_internal.h"

/*
 * Upper bounds keep every tensor size well inside uint64_t and the KV
 * dimensions inside the block ABI's limits.
 */
#define MAX_LAYERS	1024u
#define MAX_HIDDEN	(1u << 20)
#define MAX_FFN		(1u << 22)
#define MAX_HEADS	1024u
#define MAX_HEAD_DIM	1024u
#define MAX_VOCAB	(1u << 24)

static int range(char *err, size_t errlen, const char *field, uint32_t v,
		 uint32_t max)
{
	if (v >= 1 && v <= max)
		return 0;
	return ac_model_err(err, errlen, -EINVAL,
			    "model config: %s = %u, expected 1..%u", field, v,
			    max);
}

static int check_scaling(const struct ac_model_config *c, char *err,
			 size_t errlen)
{
	const struct ac_rope_scaling *s = &c->rope_scaling;

	switch (s->type) {
	case AC_ROPE_SCALING_NONE:
		return 0;
	case AC_ROPE_SCALING_LLAMA3:
		break;
	default:
		return ac_model_err(err, errlen, -EINVAL,
				    "model config: rope_scaling.type = %d is unknown",
				    (int)s->type);
	}
	if (!isfinite(s->factor) || s->factor < 1.0f)
		return ac_model_err(err, errlen, -EINVAL,
				    "model config: rope_scaling.factor = %g, expected >= 1",
				    s->factor);
	if (!isfinite(s->low_freq_factor) || s->low_freq_factor <= 0.0f ||
	    !isfinite(s->high_freq_factor) ||
	    s->high_freq_factor <= s->low_freq_factor)
		return ac_model_err(err, errlen, -EINVAL,
				    "model config: rope_scaling low_freq_factor = %g, high_freq_factor = %g; expected 0 < low < high",
				    s->low_freq_factor, s->high_freq_factor);
	if (s->original_max_position_embeddings < 1 ||
	    s->original_max_position_embeddings > c->max_ctx)
		return ac_model_err(err, errlen, -EINVAL,
				    "model config: rope_scaling.original_max_position_embeddings = %u, expected 1..max_ctx (%u)",
				    s->original_max_position_embeddings,
				    c->max_ctx);
	return 0;
}

int ac_model_config_check(const struct ac_model_config *c, char *err,
			  size_t errlen)
{
	int rc;

	if (strnlen(c->arch, sizeof(c->arch)) == sizeof(c->arch) ||
	    strcmp(c->arch, "llama") != 0)
		return ac_model_err(err, errlen, -EINVAL,
				    "model config: arch \"%.*s\", expected \"llama\"",
				    (int)sizeof(c->arch), c->arch);
	if (strnlen(c->name, sizeof(c->name)) == sizeof(c->name))
		return ac_model_err(err, errlen, -EINVAL,
				    "model config: name is not NUL-terminated");
	if ((rc = range(err, errlen, "n_layers", c->n_layers, MAX_LAYERS)) ||
	    (rc = range(err, errlen, "hidden", c->hidden, MAX_HIDDEN)) ||
	    (rc = range(err, errlen, "ffn", c->ffn, MAX_FFN)) ||
	    (rc = range(err, errlen, "n_heads", c->n_heads, MAX_HEADS)) ||
	    (rc = range(err, errlen, "n_kv_heads", c->n_kv_heads, MAX_HEADS)) ||
	    (rc = range(err, errlen, "head_dim", c->head_dim, MAX_HEAD_DIM)) ||
	    (rc = range(err, errlen, "vocab", c->vocab, MAX_VOCAB)) ||
	    (rc = range(err, errlen, "max_ctx", c->max_ctx, UINT32_MAX)))
		return rc;
	if (c->n_heads % c->n_kv_heads)
		return ac_model_err(err, errlen, -EINVAL,
				    "model config: n_heads = %u is not a multiple of n_kv_heads = %u",
				    c->n_heads, c->n_kv_heads);
	/* RoPE rotates pairs (d, d + head_dim/2). */
	if (c->head_dim % 2)
		return ac_model_err(err, errlen, -EINVAL,
				    "model config: head_dim = %u is odd; RoPE needs pairs",
				    c->head_dim);
	if (!isfinite(c->rms_eps) || c->rms_eps <= 0.0f || c->rms_eps >= 1.0f)
		return ac_model_err(err, errlen, -EINVAL,
				    "model config: rms_eps = %g, expected 0 < eps < 1",
				    c->rms_eps);
	if (!isfinite(c->rope_theta) || c->rope_theta <= 1.0f)
		return ac_model_err(err, errlen, -EINVAL,
				    "model config: rope_theta = %g, expected > 1",
				    c->rope_theta);
	return check_scaling(c, err, errlen);
}

int ac_model_config_check_file(const char *path,
			       const struct ac_model_config *c, char *err,
			       size_t errlen)
{
	int rc = ac_model_config_check(c, err, errlen);
	char msg[256];

	if (!rc || !err || !errlen)
		return rc;
	snprintf(msg, sizeof(msg), "%s", err);
	return ac_model_err(err, errlen, rc, "%s: %s", path, msg);
}

/* A preset is found by its config's own name. */
static const struct ac_model_config presets[] = {
	{
		/* Small, but with GQA (2 query heads per KV head) and an untied
		 * output so every tensor kind is exercised. */
		.name = "tiny", .arch = "llama",
		.n_layers = 2, .hidden = 64, .ffn = 128,
		.n_heads = 4, .n_kv_heads = 2, .head_dim = 16,
		.vocab = 256, .max_ctx = 1024,
		.rms_eps = 1e-5f, .rope_theta = 10000.0f,
		.rope_scaling = { .type = AC_ROPE_SCALING_NONE },
		.tie_embeddings = false,
	},
	{
		/*
		 * tiny with a head dim the GPU kernels take (64 or 128): the
		 * GPU suites' model, light enough for several processes.
		 */
		.name = "small", .arch = "llama",
		.n_layers = 4, .hidden = 256, .ffn = 512,
		.n_heads = 4, .n_kv_heads = 2, .head_dim = 64,
		.vocab = 1024, .max_ctx = 2048,
		.rms_eps = 1e-5f, .rope_theta = 10000.0f,
		.rope_scaling = { .type = AC_ROPE_SCALING_NONE },
		.tie_embeddings = false,
	},
	{
		/* Meta-Llama-3.1-8B's config.json. */
		.name = "llama3-8b", .arch = "llama",
		.n_layers = 32, .hidden = 4096, .ffn = 14336,
		.n_heads = 32, .n_kv_heads = 8, .head_dim = 128,
		.vocab = 128256, .max_ctx = 131072,
		.rms_eps = 1e-5f, .rope_theta = 500000.0f,
		.rope_scaling = {
			.type = AC_ROPE_SCALING_LLAMA3,
			.factor = 8.0f,
			.low_freq_factor = 1.0f,
			.high_freq_factor = 4.0f,
			.original_max_position_embeddings = 8192,
		},
		.tie_embeddings = false,
	},
};

int ac_model_config_preset(const char *shape, struct ac_model_config *out)
{
	for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
		if (strcmp(presets[i].name, shape) == 0) {
			*out = presets[i];
			return 0;
		}
	}
	return -ENOENT;
}

const char *ac_model_config_preset_name(size_t i)
{
	return i < sizeof(presets) / sizeof(presets[0]) ? presets[i].name : NULL;
}

const char *ac_rope_scaling_name(enum ac_rope_scaling_type t)
{
	switch (t) {
	case AC_ROPE_SCALING_NONE:
		return "none";
	case AC_ROPE_SCALING_LLAMA3:
		return "llama3";
	}
	return NULL;
}

uint64_t ac_model_config_params(const struct ac_model_config *c)
{
	uint64_t q = (uint64_t)c->n_heads * c->head_dim;
	uint64_t kv = (uint64_t)c->n_kv_heads * c->head_dim;
	uint64_t layer = 2ull * c->hidden + 2 * q * c->hidden +
			 2 * kv * c->hidden + 3ull * c->ffn * c->hidden;
	uint64_t embd = (uint64_t)c->vocab * c->hidden;

	return layer * c->n_layers + c->hidden + embd * (c->tie_embeddings ? 1 : 2);
}
