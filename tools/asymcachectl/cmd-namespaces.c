/* SPDX-License-Identifier: MIT */
#include "ctl.h"

int cmd_namespaces(struct ctl *c, int argc, char **argv)
{
	_cleanup_table_ struct table *t = NULL;
	struct ctl_namespace *ns = NULL;
	size_t n = 0, i;
	int r;

	r = ctl_namespaces_fetch(c, &ns, &n);
	if (r != CTL_EXIT_OK)
		return r;
	if (c->json) {
		_cleanup_json_ json_object *j = ctl_namespaces_json(ns, n);

		ctl_print_json(j);
		goto out;
	}
	t = table_new(10, ">ID", "MODEL", ">LAYERS", ">KV-HEADS", ">HEAD-DIM", "DTYPE",
		      ">TOKENS/BLOCK", ">CACHED", ">PINNED", ">CACHED-BYTES");
	if (!t)
		goto out;
	for (i = 0; i < n; i++) {
		char f[8][CTL_FMT_MAX];

		table_row(t, fmt_u64(f[0], ns[i].id), ns[i].model,
			  fmt_u64(f[1], ns[i].layers), fmt_u64(f[2], ns[i].kv_heads),
			  fmt_u64(f[3], ns[i].head_dim), ns[i].dtype,
			  fmt_u64(f[4], ns[i].block_tokens),
			  fmt_u64(f[5], ns[i].cached), fmt_u64(f[6], ns[i].pinned),
			  fmt_bytes(f[7], (uint64_t)ns[i].cached * ns[i].bytes_per_block));
	}
	table_print(t, stdout);
	printf("\n%zu namespace%s.\n", n, n == 1 ? "" : "s");
out:
	ctl_namespaces_free(ns, n);
	return CTL_EXIT_OK;
}
