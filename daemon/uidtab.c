/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "uidtab.h"

void uidtab_init(struct uidtab *t)
{
	memset(t, 0, sizeof(*t));
}

void uidtab_fini(struct uidtab *t)
{
	uint32_t i;

	for (i = 0; t->slots && i <= t->mask; i++)
		if (t->slots[i].sessions)
			free(t->slots[i].share);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

static uint32_t home(const struct uidtab *t, uid_t uid)
{
	uint32_t x = (uint32_t)uid;

	x ^= x >> 16;
	x *= 0x7feb352dU;
	x ^= x >> 15;
	return x & t->mask;
}

static struct uid_acct *find(const struct uidtab *t, uid_t uid)
{
	uint32_t i;

	for (i = home(t, uid);; i = (i + 1) & t->mask) {
		struct uid_acct *a = &t->slots[i];

		if (!a->sessions || a->uid == uid)
			return a;
	}
}

struct uid_acct *uidtab_get(const struct uidtab *t, uid_t uid)
{
	struct uid_acct *a;

	if (!t->slots)
		return NULL;
	a = find(t, uid);
	return a->sessions ? a : NULL;
}

static int grow(struct uidtab *t)
{
	struct uidtab n = { 0 };
	uint32_t cap = t->slots ? (t->mask + 1) * 2 : 16, i;

	n.slots = calloc(cap, sizeof(*n.slots));
	if (!n.slots)
		return -ENOMEM;
	n.mask = cap - 1;
	for (i = 0; t->slots && i <= t->mask; i++)
		if (t->slots[i].sessions)
			*find(&n, t->slots[i].uid) = t->slots[i];
	n.used = t->used;
	free(t->slots);
	*t = n;
	return 0;
}

int uidtab_add(struct uidtab *t, uid_t uid)
{
	struct uid_acct *a;
	int r;

	/* Load <= 1/2 keeps probes short and leaves an empty slot. */
	if (!t->slots || (t->used + 1) * 2 > t->mask + 1) {
		r = grow(t);
		if (r < 0)
			return r;
	}
	a = find(t, uid);
	if (!a->sessions) {
		/* A vacated slot may still show its last owner's pointer. */
		a->share = calloc(CACHE_MAX_POOLS, sizeof(*a->share));
		if (!a->share)
			return -ENOMEM;
		a->uid = uid;
		t->used++;
	}
	a->sessions++;
	return 0;
}

uint64_t uidtab_held(const struct uidtab *t, uid_t uid, uint32_t pool)
{
	const struct uid_acct *a = uidtab_get(t, uid);

	return a && pool < CACHE_MAX_POOLS ? a->share[pool].held : 0;
}

void uidtab_del(struct uidtab *t, uid_t uid)
{
	uint32_t i, j, k;
	struct uid_acct *a = uidtab_get(t, uid);

	if (!a || --a->sessions)
		return;
	free(a->share);
	a->share = NULL;
	t->used--;
	/* Backward shift: pull later entries of the run into the hole. */
	i = (uint32_t)(a - t->slots);
	for (j = (i + 1) & t->mask; t->slots[j].sessions;
	     j = (j + 1) & t->mask) {
		k = home(t, t->slots[j].uid);
		/* Move j to i unless its home lies cyclically in (i, j]. */
		if ((j > i && (k <= i || k > j)) ||
		    (j < i && (k <= i && k > j))) {
			t->slots[i] = t->slots[j];
			t->slots[j].sessions = 0;
			i = j;
		}
	}
}
