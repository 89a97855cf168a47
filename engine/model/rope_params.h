/* SPDX-License-Identifier: MIT */
#ifndef AC_MODEL_ROPE_PARAMS_H
#define AC_MODEL_ROPE_PARAMS_H

#include "../ops/ops.h"
#include "config.h"

/* The ops layer's RoPE parameters from a model's config. */
static inline void ac_model_rope_params(const struct ac_model_config *c,
					struct ac_rope_params *p)
{
	*p = (struct ac_rope_params){
		.theta = c->rope_theta,
		.llama3 = c->rope_scaling.type == AC_ROPE_SCALING_LLAMA3,
		.factor = c->rope_scaling.factor,
		.low_freq_factor = c->rope_scaling.low_freq_factor,
		.high_freq_factor = c->rope_scaling.high_freq_factor,
		.original_max_position =
			c->rope_scaling.original_max_position_embeddings,
	};
}

#endif
