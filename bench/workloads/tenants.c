/* SPDX-License-Identifier: MIT */
/*
 * Several tenants on one pool: each has its own corpus, arrival rate and
 * namespace salt, so equal text in two tenants is two sets of blocks, as
 * the daemon's per-namespace key salts make it.
 */
#include <errno.h>
#include <math.h>

#include "wl.h"

void wl_tenants_default(struct wl_tenants_config *c)
{
	wl_rag_default(&c->mix);
	c->mix.docs = 100;
	c->tenants = 4;
	c->skew = 1.0;
}

int wl_tenants(const struct wl_tenants_config *c, struct wl_trace *t)
{
	double wsum = 0;
	uint32_t given = 0;
	int r = 0;

	if (!c->tenants || c->tenants > 1024 || !(c->skew >= 0) ||
	    c->mix.requests < c->tenants)
		return -EINVAL;
	for (uint32_t i = 0; i < c->tenants; i++)
		wsum += pow(i + 1.0, -c->skew);
	for (uint32_t i = 0; i < c->tenants && r == 0; i++) {
		struct wl_rag_config m = c->mix;
		double w = pow(i + 1.0, -c->skew) / wsum;

		/*
		 * One each, the rest by weight, rounded down; the last tenant
		 * takes what rounding left, so the total is exact and every
		 * tenant has at least one request.
		 */
		m.requests = i + 1 < c->tenants ?
			     1 + (uint32_t)floor((c->mix.requests - c->tenants) * w) :
			     c->mix.requests - given;
		given += m.requests;
		m.rate = c->mix.rate * w;
		m.seed = wl_mix(c->mix.seed * 1000003 + i);
		m.ns = i + 1;
		m.salt = wl_mix(0x7e4a47 + i);
		r = wl_rag(&m, t);
	}
	return r;
}
