/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "config.h"

static struct ac_model_config tiny(void)
{
	struct ac_model_config c;

	cr_assert_eq(ac_model_config_preset("tiny", &c), 0);
	return c;
}

Test(model_config, presets_pass_the_check)
{
	struct ac_model_config c;
	char err[256] = "";

	for (size_t i = 0; ac_model_config_preset_name(i); i++) {
		cr_assert_eq(ac_model_config_preset(ac_model_config_preset_name(i), &c), 0);
		cr_assert_eq(ac_model_config_check(&c, err, sizeof(err)), 0,
			     "%s: %s", ac_model_config_preset_name(i), err);
	}
	cr_assert_eq(ac_model_config_preset("llama3-70b", &c), -ENOENT);
}

Test(model_config, tiny_has_gqa)
{
	struct ac_model_config c = tiny();

	cr_assert_gt(c.n_heads, c.n_kv_heads);
	cr_assert_eq(c.n_heads % c.n_kv_heads, 0);
	cr_assert_lt(ac_model_config_params(&c), 1000000);
}

Test(model_config, llama3_8b_is_meta_llama_3_1_8b)
{
	struct ac_model_config c;

	cr_assert_eq(ac_model_config_preset("llama3-8b", &c), 0);
	cr_assert_eq(c.n_layers, 32);
	cr_assert_eq(c.hidden, 4096);
	cr_assert_eq(c.ffn, 14336);
	cr_assert_eq(c.n_heads, 32);
	cr_assert_eq(c.n_kv_heads, 8);
	cr_assert_eq(c.head_dim, 128);
	cr_assert_eq(c.vocab, 128256);
	cr_assert_eq(c.max_ctx, 131072);
	cr_assert_float_eq(c.rms_eps, 1e-5f, 1e-12);
	cr_assert_float_eq(c.rope_theta, 500000.0f, 1e-3);
	cr_assert_eq(c.rope_scaling.type, AC_ROPE_SCALING_LLAMA3);
	cr_assert_float_eq(c.rope_scaling.factor, 8.0f, 1e-6);
	cr_assert_float_eq(c.rope_scaling.low_freq_factor, 1.0f, 1e-6);
	cr_assert_float_eq(c.rope_scaling.high_freq_factor, 4.0f, 1e-6);
	cr_assert_eq(c.rope_scaling.original_max_position_embeddings, 8192);
	cr_assert_not(c.tie_embeddings);
	/* Meta's model card: 8.03B parameters. */
	cr_assert_eq(ac_model_config_params(&c) / 10000000, 803);
	cr_assert_str_eq(ac_rope_scaling_name(c.rope_scaling.type), "llama3");
}

struct bad {
	const char *field;
	void (*spoil)(struct ac_model_config *c);
};

static void kv_heads(struct ac_model_config *c) { c->n_kv_heads = 3; }
static void odd_dim(struct ac_model_config *c) { c->head_dim = 15; }
static void no_layers(struct ac_model_config *c) { c->n_layers = 0; }
static void no_vocab(struct ac_model_config *c) { c->vocab = 0; }
static void eps(struct ac_model_config *c) { c->rms_eps = 0; }
static void theta(struct ac_model_config *c) { c->rope_theta = NAN; }
static void arch(struct ac_model_config *c) { strcpy(c->arch, "gpt2"); }
static void low_high(struct ac_model_config *c)
{
	c->rope_scaling = (struct ac_rope_scaling){ AC_ROPE_SCALING_LLAMA3, 8, 4, 1, 512 };
}
static void orig_ctx(struct ac_model_config *c)
{
	c->rope_scaling = (struct ac_rope_scaling){ AC_ROPE_SCALING_LLAMA3, 8, 1, 4, 4096 };
}
static void factor(struct ac_model_config *c)
{
	c->rope_scaling = (struct ac_rope_scaling){ AC_ROPE_SCALING_LLAMA3, 0.5f, 1, 4, 512 };
}

Test(model_config, rejects_inconsistent_configs)
{
	static const struct bad bad[] = {
		{ "n_kv_heads", kv_heads }, { "head_dim", odd_dim },
		{ "n_layers", no_layers }, { "vocab", no_vocab },
		{ "rms_eps", eps }, { "rope_theta", theta }, { "arch", arch },
		{ "low_freq_factor", low_high },
		{ "original_max_position_embeddings", orig_ctx },
		{ "rope_scaling.factor", factor },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ac_model_config c = tiny();
		char err[256] = "";

		bad[i].spoil(&c);
		cr_assert_eq(ac_model_config_check(&c, err, sizeof(err)), -EINVAL,
			     "%s accepted", bad[i].field);
		cr_assert_not_null(strstr(err, bad[i].field), "%s: \"%s\"",
				   bad[i].field, err);
	}
}

Test(model_config, null_error_buffer_is_fine)
{
	struct ac_model_config c = tiny();

	c.ffn = 0;
	cr_assert_eq(ac_model_config_check(&c, NULL, 0), -EINVAL);
}
