/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "wl.h"

uint64_t wl_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

void wl_rng_seed(struct wl_rng *r, uint64_t seed)
{
	r->s = wl_mix(seed ^ 0x5eed5eed5eed5eedull);
}

uint64_t wl_next(struct wl_rng *r)
{
	r->s += 0x9e3779b97f4a7c15ull;
	return wl_mix(r->s);
}

double wl_uniform(struct wl_rng *r)
{
	return ((wl_next(r) >> 11) + 0.5) * 0x1p-53;
}

uint32_t wl_range(struct wl_rng *r, uint32_t lo, uint32_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (uint32_t)(wl_uniform(r) * ((double)hi - lo + 1));
}

double wl_exp(struct wl_rng *r, double mean)
{
	return -mean * log(wl_uniform(r));
}

double wl_lognormal(struct wl_rng *r, double median, double sigma)
{
	double u1 = wl_uniform(r), u2 = wl_uniform(r);

	return median * exp(sigma * sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
}

uint32_t wl_loguniform(struct wl_rng *r, uint32_t lo, uint32_t hi)
{
	double x;

	if (hi <= lo)
		return lo;
	x = exp(log(lo) + wl_uniform(r) * (log(hi) - log(lo)));
	return x > hi ? hi : x < lo ? lo : (uint32_t)x;
}

uint64_t wl_content(uint64_t salt, enum wl_kind kind, uint64_t a, uint64_t b)
{
	return wl_mix(wl_mix(wl_mix(salt ^ kind) ^ a) ^ (b * 0x2545f4914f6cdd1dull));
}

int wl_zipf_init(struct wl_zipf *z, uint32_t n, double alpha)
{
	double sum = 0;

	z->cdf = NULL;
	z->n = 0;
	if (!n || !(alpha >= 0))
		return -EINVAL;
	z->cdf = malloc(n * sizeof(*z->cdf));
	if (!z->cdf)
		return -ENOMEM;
	for (uint32_t k = 0; k < n; k++) {
		sum += pow(k + 1.0, -alpha);
		z->cdf[k] = sum;
	}
	for (uint32_t k = 0; k < n; k++)
		z->cdf[k] /= sum;
	z->n = n;
	return 0;
}

uint32_t wl_zipf_draw(const struct wl_zipf *z, struct wl_rng *r)
{
	double u = wl_uniform(r);
	uint32_t lo = 0, hi = z->n - 1;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (z->cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void wl_zipf_free(struct wl_zipf *z)
{
	free(z->cdf);
	z->cdf = NULL;
	z->n = 0;
}
