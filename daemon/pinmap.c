/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pinmap.h"

#define EMPTY UINT32_MAX

void pinmap_init(struct pinmap *m)
{
	memset(m, 0, sizeof(*m));
}

void pinmap_fini(struct pinmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

static inline uint32_t hash32(uint32_t x)
{
	/* Block ids are dense; a multiplicative mix spreads runs of them. */
	x ^= x >> 16;
	x *= 0x7feb352dU;
	x ^= x >> 15;
	x *= 0x846ca68bU;
	x ^= x >> 16;
	return x;
}

static struct pinmap_slot *find_slot(const struct pinmap *m, uint32_t block)
{
	uint32_t i = hash32(block) & m->mask;

	for (;; i = (i + 1) & m->mask) {
		struct pinmap_slot *s = &m->slots[i];

		if (s->block == block || s->block == EMPTY)
			return s;
	}
}

uint32_t pinmap_get(const struct pinmap *m, uint32_t block)
{
	const struct pinmap_slot *s;

	if (!m->slots)
		return 0;
	s = find_slot(m, block);
	return s->block == block ? s->count : 0;
}

static int rehash(struct pinmap *m, uint32_t nslots)
{
	struct pinmap_slot *old = m->slots, *s;
	uint32_t oldn = old ? m->mask + 1 : 0, i;

	s = malloc((size_t)nslots * sizeof(*s));
	if (!s)
		return -ENOMEM;
	memset(s, 0xff, (size_t)nslots * sizeof(*s));
	m->slots = s;
	m->mask = nslots - 1;
	for (i = 0; i < oldn; i++)
		if (old[i].block != EMPTY)
			*find_slot(m, old[i].block) = old[i];
	free(old);
	return 0;
}

int pinmap_reserve(struct pinmap *m, uint32_t extra)
{
	uint64_t want = (uint64_t)m->used + extra, n;

	n = m->slots ? (uint64_t)m->mask + 1 : 0;
	/* Keep the load under 1/2. */
	if (n >= 2 * want && n)
		return 0;
	if (!n)
		n = 16;
	while (n < 2 * want)
		n <<= 1;
	if (n > (1ULL << 32))
		return -ENOMEM;
	return rehash(m, (uint32_t)n);
}

int pinmap_inc(struct pinmap *m, uint32_t block)
{
	struct pinmap_slot *s;
	int r;

	r = pinmap_reserve(m, 1);
	if (r < 0)
		return r;
	s = find_slot(m, block);
	if (s->block == EMPTY) {
		s->block = block;
		s->count = 0;
		m->used++;
	}
	return (int)++s->count;
}

int pinmap_dec(struct pinmap *m, uint32_t block)
{
	struct pinmap_slot *s;
	uint32_t i, j, home;

	if (!m->slots)
		return -ENOENT;
	s = find_slot(m, block);
	if (s->block != block)
		return -ENOENT;
	if (--s->count)
		return (int)s->count;
	/* Backward-shift delete, as in index.c. */
	i = (uint32_t)(s - m->slots);
	for (j = (i + 1) & m->mask;; j = (j + 1) & m->mask) {
		if (m->slots[j].block == EMPTY)
			break;
		home = hash32(m->slots[j].block) & m->mask;
		if (((j - home) & m->mask) >= ((j - i) & m->mask)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].block = EMPTY;
	m->used--;
	return 0;
}
