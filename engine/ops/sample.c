/* SPDX-License-Identifier: MIT */
/*
 * Temperature and top-p sampling on the host, with a caller-seeded
 * generator so a run replays exactly.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

static inline uint32_t cand_bits(float p)
{
	uint32_t u;

	memcpy(&u, &p, sizeof(u));
	return u;
}

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
	/* Candidates, then the radix sort's second buffer. */
	s->cand = malloc(2 * (size_t)vocab * sizeof(*s->cand));
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

/*
 * Most probable first, equal probabilities in id order, in linear time: a
 * near-flat distribution leaves tens of thousands of candidates, which a
 * comparison sort takes milliseconds over.  LSD radix sort, a byte a
 * pass, on the complemented bits of p: p >= 0, so its bits order as its
 * value does, and the stable passes keep the ids ascending within ties.
 * Four passes leave the result back in c.
 */
static void sort_desc(struct ac_sample_cand *c, struct ac_sample_cand *tmp,
		      uint32_t n)
{
	struct ac_sample_cand *src = c, *dst = tmp, *swap;

	for (unsigned shift = 0; shift < 32; shift += 8) {
		uint32_t count[257] = { 0 };

		for (uint32_t i = 0; i < n; i++)
			count[((~cand_bits(src[i].p) >> shift) & 0xffu) + 1]++;
		for (unsigned b = 0; b < 256; b++)
			count[b + 1] += count[b];
		for (uint32_t i = 0; i < n; i++)
			dst[count[(~cand_bits(src[i].p) >> shift) & 0xffu]++] = src[i];
		swap = src;
		src = dst;
		dst = swap;
	}
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
	uint32_t n = 0;
	double sum = 0.0, cut, mass;
	int32_t best;
	float m;
	int rc;

	if (!s || !s->cand || !logits || !token)
		return -EINVAL;
	/* Greedy's pick, and the shift that keeps expf() finite below. */
	rc = ac_op_argmax_cpu(&best, logits, 1, s->vocab);
	if (rc)
		return rc;
	if (s->temperature == 0.0f || s->vocab == 1) {
		*token = best;
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
	sort_desc(c, c + s->vocab, n);
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
