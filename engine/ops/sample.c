/* SPDX-License-Identifier: MIT */
/*
 * Temperature and top-p sampling on the host, with a caller-seeded
 * generator so a run replays exactly.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "ops.h"

void ac_rng_seed(struct ac_rng *rng, uint64_t seed)
{
	rng->state = seed;
}

uint64_t ac_rng_next(struct ac_rng *rng)
{
	uint64_t z = (rng->state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

double ac_rng_uniform(struct ac_rng *rng)
{
	return (double)(ac_rng_next(rng) >> 11) * 0x1.0p-53;
}

int ac_sampler_init(struct ac_sampler *s, uint32_t vocab, float temperature,
		    float top_p, uint64_t seed)
{
	if (!s || !vocab || vocab > INT32_MAX || !(temperature >= 0.0f) ||
	    !isfinite(temperature) || !(top_p > 0.0f && top_p <= 1.0f))
		return -EINVAL;
	s->cand = malloc((size_t)vocab * sizeof(*s->cand));
	if (!s->cand)
		return -ENOMEM;
	s->vocab = vocab;
	s->temperature = temperature;
	s->top_p = top_p;
	ac_rng_seed(&s->rng, seed);
	return 0;
}

void ac_sampler_free(struct ac_sampler *s)
{
	if (!s)
		return;
	free(s->cand);
	s->cand = NULL;
}

/* Most probable first; equal probabilities in index order, for replay. */
static int cand_cmp(const void *a, const void *b)
{
	const struct ac_sample_cand *x = a, *y = b;

	if (x->p != y->p)
		return x->p > y->p ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

/* The first candidate whose running mass passes u; the last as a guard. */
static int32_t pick(const struct ac_sample_cand *c, uint32_t n, double u)
{
	double cum = 0.0;

	for (uint32_t i = 0; i < n; i++) {
		cum += c[i].p;
		if (cum > u)
			return c[i].id;
	}
	while (n > 1 && c[n - 1].p == 0.0f)
		n--;
	return c[n - 1].id;
}

int ac_op_sample_cpu(struct ac_sampler *s, const float *logits,
		     int32_t *token)
{
	struct ac_sample_cand *c;
	uint32_t best = 0, n = 0;
	double sum = 0.0, cut, mass;
	float m;

	if (!s || !s->cand || !logits || !token)
		return -EINVAL;
	for (uint32_t i = 0; i < s->vocab; i++) {
		if (isnan(logits[i]))
			return -EINVAL;
		if (logits[i] > logits[best])
			best = i;
	}
	if (s->temperature == 0.0f || s->vocab == 1) {
		*token = (int32_t)best;
		return 0;
	}
	m = logits[best];
	if (!isfinite(m))
		return -EINVAL;

	c = s->cand;
	for (uint32_t i = 0; i < s->vocab; i++) {
		/*
		 * Divide, not multiply by 1/T: 1/T overflows for a tiny T,
		 * and 0 * inf is NaN.
		 */
		c[i].p = expf((logits[i] - m) / s->temperature);
		c[i].id = (int32_t)i;
		sum += c[i].p;
	}
	if (s->top_p >= 1.0f) {
		*token = pick(c, s->vocab, ac_rng_uniform(&s->rng) * sum);
		return 0;
	}

	/*
	 * Tokens under (1 - top_p) / vocab of the mass hold less than
	 * 1 - top_p together, so the nucleus lies among the rest: only those
	 * are sorted.  The arg-max token always passes the cut.
	 */
	cut = (1.0 - s->top_p) / s->vocab * sum;
	for (uint32_t i = 0; i < s->vocab; i++)
		if (c[i].p >= cut)
			c[n++] = c[i];
	qsort(c, n, sizeof(*c), cand_cmp);
	mass = 0.0;
	for (uint32_t i = 0; i < n; i++) {
		mass += c[i].p;
		if (mass >= s->top_p * sum) {
			n = i + 1;
			break;
		}
	}
	*token = pick(c, n, ac_rng_uniform(&s->rng) * mass);
	return 0;
}
