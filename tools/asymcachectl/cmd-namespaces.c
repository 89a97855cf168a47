/* SPDX-License-Identifier: MIT */
#include "ctl.h"

#include <string.h>

/* The file's name without its folder; "built-in" for the built-in model. */
static const char *cost_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!path[0])
		return "built-in";
	return slash ? slash + 1 : path;
}

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
	t = table_new(12, ">ID", "MODEL", ">LAYERS", ">KV-HEADS", ">HEAD-DIM", "DTYPE",
		      ">TOKENS/BLOCK", ">CACHED", ">PINNED", ">CACHED-BYTES", ">EVICTED",
		      "COST-FILE");
	if (!t)
		goto out;
	for (i = 0; i < n; i++) {
		char f[9][CTL_FMT_MAX], cost[256];

		snprintf(cost, sizeof(cost), "%s%s", cost_name(ns[i].cost_file),
			 ns[i].cost_mismatch[0] ? "*" : "");
		table_row(t, fmt_u64(f[0], ns[i].id), ns[i].model,
			  fmt_u64(f[1], ns[i].layers), fmt_u64(f[2], ns[i].kv_heads),
			  fmt_u64(f[3], ns[i].head_dim), ns[i].dtype,
			  fmt_u64(f[4], ns[i].block_tokens),
			  fmt_u64(f[5], ns[i].cached), fmt_u64(f[6], ns[i].pinned),
			  fmt_bytes(f[7], (uint64_t)ns[i].cached * ns[i].bytes_per_block),
			  fmt_u64(f[8], ns[i].evictions), cost);
	}
	table_print(t, stdout);
	printf("\n%zu namespace%s.\n", n, n == 1 ? "" : "s");
	/* One daemon, one cost model: its path once, then what does not fit. */
	if (n)
		printf("Cost file: %s\n", ns[0].cost_file[0] ? ns[0].cost_file
							     : "none (built-in model)");
	for (i = 0; i < n; i++)
		if (ns[i].cost_mismatch[0])
			printf("* namespace %u (%s): %s; a cost file of its own comes from "
			       "asymcache-calibrate\n", ns[i].id, ns[i].model,
			       ns[i].cost_mismatch);
out:
	ctl_namespaces_free(ns, n);
	return CTL_EXIT_OK;
}
