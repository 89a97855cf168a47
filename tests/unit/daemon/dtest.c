/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cache.h"
#include "dtest.h"
#include "th_fs.h"

void dt_write_file(const char *path, const char *text)
{
	int r = th_write_file(path, text);

	cr_assert_eq(r, 0, "%s: %s", path, strerror(-r));
}

int dt_host_argv(char **argv, char *conf, char *sock,
		 const char *pool_bytes_opt)
{
	int n = 0;

	/* cfg_from_cmdline() takes char **: the literals are never written. */
	argv[n++] = "asymcached";
	argv[n++] = "-c";
	argv[n++] = conf;
	argv[n++] = "--socket";
	argv[n++] = sock;
	argv[n++] = "--backend=host";
	argv[n++] = "--group=";
	argv[n++] = (char *)pool_bytes_opt;
	argv[n++] = "--block-bytes=16K";
	argv[n] = NULL;
	return n;
}

uint32_t dt_register_ns(struct cache *c, const char *model_id)
{
	struct cache_layout l = {
		.kv.num_layers = 2, .kv.num_kv_heads = 2, .kv.head_dim = 64,
		.kv.dtype = AC_DTYPE_FP16, .kv.block_tokens = 16,
	};
	uint64_t bpb;
	uint32_t ns;

	snprintf(l.model_id, sizeof(l.model_id), "%s", model_id);
	cr_assert_eq(cache_register_ns(c, &l, &ns, &bpb), 0, "%s", model_id);
	return ns;
}
