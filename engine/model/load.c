/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "model_internal.h"
#include "weights.h"

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

int ac_weights_load(const char *src, enum ac_dtype dtype, uint64_t seed,
		    struct ac_weights **out, char *err, size_t errlen)
{
	struct ac_model_config cfg;
	char shapes[128] = "";
	const char *name;
	struct stat st;

	*out = NULL;
	if (ends_with(src, ".gguf"))
		return ac_weights_load_gguf(src, dtype, out, err, errlen);
	if (stat(src, &st) == 0 && S_ISDIR(st.st_mode))
		return ac_weights_load_safetensors(src, dtype, out, err, errlen);
	if (ac_model_config_preset(src, &cfg) == 0)
		return ac_weights_random(&cfg, seed, dtype, out, err, errlen);
	/* Every shape by name, so the message stays true as shapes come. */
	for (unsigned int i = 0; (name = ac_model_config_preset_name(i)); i++) {
		size_t at = strlen(shapes);

		snprintf(shapes + at, sizeof(shapes) - at, "%s%s", i ? ", " : "",
			 name);
	}
	return ac_model_err(err, errlen, -ENOENT,
			    "%s: not a .gguf file, a Hugging Face directory or a shape (%s)",
			    src, shapes);
}
