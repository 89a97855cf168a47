/* SPDX-License-Identifier: MIT */
/*
 * asymcache-demo's entry: the options, the checks and set-up that must
 * happen before fork() (block size, cost model, the requests), then either
 * one run against a daemon or --compare of a summary file.
 */
#include <stdio.h>
#include <string.h>

#include "demo.h"

static const struct ac_ns_layout layout_base = {
	.model_id = "asymcache-demo-tiny",
	.kv.num_layers = 2,
	.kv.num_kv_heads = 2,
	.kv.head_dim = 16,
	.kv.dtype = AC_DTYPE_FP16,
	.kv.block_tokens = 16,
};

/*
 * The estimates need a model but the demo does not: an unreadable file
 * costs only the "measured" in the description, and says so.
 */
static void load_costs(struct demo *d)
{
	const char *path = d->o.costs;
	int r = ac_cost_model_load(path, &d->cost);

	if (r < 0) {
		printf("cost model %s: %s; using the built-in H200/Llama-3-8B"
		       " model derived from the GPU's peak rates\n", path,
		       strerror(-r));
		ac_cost_model_default(&d->cost);
		snprintf(d->cost_desc, sizeof(d->cost_desc),
			 "built-in default (%s, %s; derived, not measured)",
			 d->cost.gpu, d->cost.model);
	} else {
		const char *base = strrchr(path, '/');

		snprintf(d->cost_desc, sizeof(d->cost_desc), "%s (%s, %s)",
			 base ? base + 1 : path, d->cost.gpu, d->cost.model);
	}
}

int main(int argc, char **argv)
{
	static struct demo d;
	int r;

	r = demo_parse_opts(argc, argv, &d.o);
	if (r < 0)
		return 2;
	if (r > 0)
		return 0;
	if (d.o.compare)
		return demo_compare(d.o.compare);

	d.layout = layout_base;
	d.layout.kv.block_tokens = d.o.block_tokens;
	r = ac_key_seed_init(&(struct ac_key_seed){ 0 }, &d.layout, NULL, 0,
			     AC_HASH_SHA256);
	if (r < 0) {
		fprintf(stderr, "asymcache-demo: bad block size %u: %s\n",
			d.o.block_tokens, ac_strerror(r));
		return 2;
	}
	load_costs(&d);
	if (demo_requests_load(&d) < 0)
		return 1;
	r = demo_run(&d);
	ac_trace_free(&d.trace);
	return r;
}
