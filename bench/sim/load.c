/* SPDX-License-Identifier: MIT */
/*
 * Load set by capacity (sim.h, sim_fit_capacity). The share of wall time
 * the GPU has any pass running says little about how much more it could
 * serve: at contexts of tens of thousands of tokens one decoding turn keeps
 * it "busy" while a batch of thirty costs little more an iteration. What
 * the GPU can serve shows in the jobs: as programs arrive faster, turns
 * start to wait for each other and the mean job latency climbs above what
 * it is when programs barely overlap. The capacity is the arrival rate at
 * which it has climbed SIM_CAPACITY_KNEE above that light-load value.
 */
#include <errno.h>
#include <math.h>

#include "sim.h"

/* Light load: doubling the time scale moves the job mean less than this. */
#define LIGHT_FLAT 0.005
/* Scales are searched within [1e-6, 2^30]; beyond, the trace is odd. */
#define SCALE_MIN 1e-6
#define SCALE_MAX 1073741824.0

static int job_at(const struct ac_trace *t, struct sim_config *c,
		  double scale, double *ret)
{
	struct sim_result r;
	int e;

	c->time_scale = scale;
	e = sim_run(t, c, &r);
	if (e < 0)
		return e;
	if (!(r.job.mean > 0))
		return -ENODATA;	/* no job finished: nothing to measure */
	*ret = r.job.mean;
	return 0;
}

int sim_fit_capacity(const struct ac_trace *t, const struct sim_config *cfg,
		     struct sim_capacity *ret)
{
	struct sim_config c = *cfg;
	double x = 1, j, j2, lo, hi, limit;
	int r;

	if (!cfg->agent)
		return -EINVAL;
	/* The capacity of serving, not of serving with retention. */
	c.ttl_s = 0;
	c.ttl_oracle = false;
	c.progress = false;
	r = job_at(t, &c, x, &j);
	for (;;) {
		if (r < 0)
			return r;
		if (x >= SCALE_MAX)
			return -ERANGE;
		r = job_at(t, &c, 2 * x, &j2);
		if (r < 0)
			return r;
		x *= 2;
		if (j - j2 < LIGHT_FLAT * j2) {
			j = j2;
			break;
		}
		j = j2;
	}
	ret->light_scale = x;
	ret->light_job_s = j;
	limit = (1 + SIM_CAPACITY_KNEE) * j;
	/* Compress arrivals until the jobs are slowed past the knee. */
	hi = x;
	for (lo = x / 2;; lo /= 2) {
		if (lo < SCALE_MIN)
			return -ERANGE;
		r = job_at(t, &c, lo, &j);
		if (r < 0)
			return r;
		if (j > limit)
			break;
		hi = lo;
	}
	/* Bisect on a log scale to 0.5%: hi is within the knee, lo past it. */
	while (hi / lo > 1.005) {
		double mid = sqrt(lo * hi);

		r = job_at(t, &c, mid, &j);
		if (r < 0)
			return r;
		if (j > limit)
			lo = mid;
		else
			hi = mid;
	}
	r = job_at(t, &c, hi, &ret->job_s);
	if (r < 0)
		return r;
	ret->scale = hi;
	return 0;
}
