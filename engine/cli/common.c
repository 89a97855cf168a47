/* SPDX-License-Identifier: MIT */
/* What the commands share: loading a model, option values, messages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_model_open(const char *src, uint64_t seed, enum ac_fwd_backend device,
		   uint32_t max_rows, struct cli_model *cm)
{
	struct ac_weights *w = NULL;
	char err[512] = "";
	size_t len = strlen(src);
	int r;

	memset(cm, 0, sizeof(*cm));
	fprintf(stderr, "asymcache-engine: loading %s\n", src);
	/* The CPU computes in fp32, CUDA in bf16: load what it keeps. */
	r = ac_weights_load(src, device == AC_FWD_CUDA ? AC_DTYPE_BF16
						       : AC_DTYPE_FP32,
			    seed, &w, err, sizeof(err));
	if (r < 0)
		goto fail;
	r = ac_model_create(w, device, max_rows, &cm->m, err, sizeof(err));
	ac_weights_free(w);
	if (r < 0)
		goto fail;
	cm->cfg = ac_model_config(cm->m);
	if (len > 5 && !strcmp(src + len - 5, ".gguf")) {
		r = ac_tokenizer_from_gguf(src, &cm->tok, &cm->chat, err,
					    sizeof(err));
		if (r < 0)
			goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "asymcache-engine: %s\n", *err ? err : strerror(-r));
	cli_model_close(cm);
	return r;
}

void cli_model_close(struct cli_model *cm)
{
	ac_model_free(cm->m);
	ac_tokenizer_free(cm->tok);
	ac_chat_format_release(&cm->chat);
	memset(cm, 0, sizeof(*cm));
}

static const char *const reuse_names[] = {
	[AC_REUSE_MSA] = "msa", [AC_REUSE_PREFIX] = "prefix",
	[AC_REUSE_NONE] = "none",
};

const char *cli_reuse_name(enum ac_reuse r)
{
	return r <= AC_REUSE_NONE ? reuse_names[r] : "?";
}

int cli_parse_reuse(const char *s, enum ac_reuse *r)
{
	for (unsigned int i = 0; i <= AC_REUSE_NONE; i++)
		if (!strcmp(s, reuse_names[i])) {
			*r = (enum ac_reuse)i;
			return 0;
		}
	fprintf(stderr, "asymcache-engine: --reuse takes msa, prefix or none, not '%s'\n",
		s);
	return -EINVAL;
}

int cli_parse_device(const char *s, enum ac_fwd_backend *d)
{
	if (!strcmp(s, "cpu"))
		*d = AC_FWD_CPU;
	else if (!strcmp(s, "cuda"))
		*d = AC_FWD_CUDA;
	else {
		fprintf(stderr, "asymcache-engine: --device takes cpu or cuda, not '%s'\n",
			s);
		return -EINVAL;
	}
	return 0;
}

/* The names the daemon's [scheduler] order and the simulator use too. */
static const char *const order_names[] = {
	[AC_ORDER_FCFS] = "fcfs", [AC_ORDER_HRRN] = "hrrn",
	[AC_ORDER_SRPT] = "srpt", [AC_ORDER_PROGRAM] = "program",
};

int cli_parse_order(const char *s, enum ac_order *o)
{
	for (size_t i = 0; i < sizeof(order_names) / sizeof(*order_names); i++)
		if (!strcmp(s, order_names[i])) {
			*o = (enum ac_order)i;
			return 0;
		}
	fprintf(stderr, "asymcache-engine: --order takes fcfs, hrrn, srpt or program, not '%s'\n",
		s);
	return -EINVAL;
}

const char *cli_order_name(enum ac_order o)
{
	return (size_t)o < sizeof(order_names) / sizeof(*order_names) ?
	       order_names[o] : "?";
}

int cli_parse_chunking(const char *s, uint32_t *chunk_tokens)
{
	char *end;
	unsigned long n;

	if (!strcmp(s, "adaptive")) {
		*chunk_tokens = 0;
		return 0;
	}
	if (!strncmp(s, "fixed:", 6)) {
		errno = 0;
		n = strtoul(s + 6, &end, 10);
		if (!errno && end != s + 6 && !*end && n >= 1 &&
		    n <= UINT32_MAX) {
			*chunk_tokens = (uint32_t)n;
			return 0;
		}
	}
	fprintf(stderr, "asymcache-engine: --chunking takes adaptive or fixed:N (N >= 1 tokens an iteration), not '%s'\n",
		s);
	return -EINVAL;
}

void cli_runner_error(const char *socket, int e)
{
	fprintf(stderr, "asymcache-engine: %s: %s\n", socket,
		e == -EMEDIUMTYPE ? "the daemon's pool is not on this --device (a CUDA pool needs --device cuda, a host pool --device cpu)"
				  : ac_strerror(e));
}
