/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "pq.h"

int pq_init(struct pq *q, uint32_t nids)
{
	q->n = 0;
	q->cap = nids;
	q->steps = 0;
	q->e = calloc(nids ? nids : 1, sizeof(*q->e));
	q->where = malloc((nids ? nids : 1) * sizeof(*q->where));
	if (!q->e || !q->where) {
		pq_destroy(q);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < nids; i++)
		q->where[i] = PQ_NONE;
	return 0;
}

void pq_destroy(struct pq *q)
{
	free(q->e);
	free(q->where);
	q->e = NULL;
	q->where = NULL;
	q->n = q->cap = 0;
}

static inline bool entry_less(const struct pq_entry *a,
			      const struct pq_entry *b)
{
	if (a->key != b->key)
		return a->key < b->key;
	if (a->tie != b->tie)
		return a->tie < b->tie;
	return a->id < b->id;
}

/* Puts @x in slot @i and records the slot under its id. */
static void place(struct pq *q, uint32_t i, struct pq_entry x)
{
	q->e[i] = x;
	q->where[x.id] = i;
}

static void sift_up(struct pq *q, uint32_t i)
{
	struct pq_entry x = q->e[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (!entry_less(&x, &q->e[parent]))
			break;
		place(q, i, q->e[parent]);
		i = parent;
		q->steps++;
	}
	place(q, i, x);
}

static void sift_down(struct pq *q, uint32_t i)
{
	struct pq_entry x = q->e[i];

	for (;;) {
		uint32_t l = 2 * i + 1, m;

		if (l >= q->n)
			break;
		m = l;
		if (l + 1 < q->n && entry_less(&q->e[l + 1], &q->e[l]))
			m = l + 1;
		if (!entry_less(&q->e[m], &x))
			break;
		place(q, i, q->e[m]);
		i = m;
		q->steps++;
	}
	place(q, i, x);
}

void pq_set(struct pq *q, uint32_t id, uint64_t key, uint32_t tie)
{
	uint32_t i;

	if (id >= q->cap)
		return;
	i = q->where[id];
	if (i == PQ_NONE) {
		i = q->n++;
		q->e[i] = (struct pq_entry){ .key = key, .tie = tie, .id = id };
		sift_up(q, i);
		return;
	}
	q->e[i].key = key;
	q->e[i].tie = tie;
	sift_up(q, i);
	sift_down(q, q->where[id]);
}

bool pq_remove(struct pq *q, uint32_t id)
{
	uint32_t i, moved;

	if (!pq_contains(q, id))
		return false;
	i = q->where[id];
	q->where[id] = PQ_NONE;
	if (i == --q->n)
		return true;
	moved = q->e[q->n].id;
	place(q, i, q->e[q->n]);
	sift_up(q, i);
	sift_down(q, q->where[moved]);
	return true;
}
