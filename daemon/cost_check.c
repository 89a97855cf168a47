/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "cost_check.h"
#include "daemon.h"
#include "log.h"

/* A cost file holds at most this much of the GPU's name (calibrate cuts it). */
static bool same_gpu(const struct ac_cost_model *m, const char *gpu)
{
	return !gpu[0] || strncmp(m->gpu, gpu, sizeof(m->gpu) - 1) == 0;
}

void cost_mismatch(const struct ac_cost_model *m, const char *gpu,
		   const struct ac_kv_layout *kv, char *buf, size_t len)
{
	char layout[160];
	bool fits = ac_cost_model_fits(m, kv, layout, sizeof(layout));
	int n = 0;

	buf[0] = '\0';
	if (!same_gpu(m, gpu))
		n = snprintf(buf, len, "measured on %s, the pool is on %s", m->gpu, gpu);
	if (!fits && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "%s%s has %s", n ? "; " : "",
			 m->model, layout);
}

static const char *cost_name(const struct daemon *d)
{
	return strcmp(d->cfg.cost_from, "built-in") == 0 ? "the built-in cost model"
							  : d->cfg.cost_from;
}

void daemon_cost_check_pool(const struct daemon *d)
{
	const struct ac_cost_model *m = &d->cfg.cost;

	if (!d->pools[0].pool.device_name[0])
		log_info("the pool is in host memory: the GPU of %s (%s) is not checked",
			 cost_name(d), m->gpu);
	else if (!same_gpu(m, d->pools[0].pool.device_name))
		log_warning("%s was measured on %s, but the pool is on %s: recompute costs "
			    "(eviction order, the scheduler's budget) are off by as much as "
			    "the GPUs differ; make a cost file for this GPU with "
			    "asymcache-calibrate", cost_name(d), m->gpu, d->pools[0].pool.device_name);
}

void daemon_cost_check_ns(const struct daemon *d, const struct cache_ns *ns)
{
	const struct ac_cost_model *m = &d->cfg.cost;
	char why[160];

	if (ac_cost_model_fits(m, &ns->layout.kv, why, sizeof(why)))
		return;
	log_warning("namespace %u (%s): %s was made for %s, which has %s: its recompute "
		    "costs are estimates; make a cost file for this model with "
		    "asymcache-calibrate", ns->id, ns->layout.model_id, cost_name(d),
		    m->model, why);
}

void daemon_cost_check_all(const struct daemon *d)
{
	uint32_t i;

	daemon_cost_check_pool(d);
	for (uint32_t p = 0; p < d->npools || p == 0; p++) {
		const struct cache *c = &d->pools[p].cache;

		for (i = 0; i < c->nns; i++)
			if (c->ns[i].live)
				daemon_cost_check_ns(d, &c->ns[i]);
	}
}
