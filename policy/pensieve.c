/* SPDX-License-Identifier: MIT */
/*
 * pensieve: the retention value of Pensieve (EuroSys '25), recompute cost
 * by position over idle time; the lowest value goes first. Cost grows with
 * position, so a chain loses its leading blocks first, which is cheap under
 * prefix-only reuse's rival, multi-segment recompute, and costly otherwise.
 *
 * cost / idle changes with the clock, so no static heap order holds. The
 * candidates are kept in LRU lists by cost class (2^(1/8) apart, about 9%):
 * within a class the oldest has the lowest value, so a victim is the best
 * of the class heads, O(classes) = O(1) in the number of blocks.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "policy-internal.h"

#define PV_LIVE		0x1
#define PV_QUEUED	0x2
#define PV_CLASSES	256
#define PV_NONE		UINT32_MAX

struct pv_blk {
	uint32_t prev, next;
	uint64_t t;		/* last use */
	float cpb;		/* recompute seconds per byte */
	uint32_t pos;
	uint8_t cls;
	uint8_t ns;
	uint8_t flags;
};

struct pensieve {
	struct pv_blk *b;
	uint32_t nblocks;
	uint32_t head[PV_CLASSES], tail[PV_CLASSES];
	uint64_t nonempty[PV_CLASSES / 64];
	struct pns_table ns;
};

static uint8_t cost_class(double cpb)
{
	double l;
	int c;

	if (!(cpb > 0))
		return 0;
	l = floor(log2(cpb) * 8) + 400;
	c = l < 0 ? 0 : l > PV_CLASSES - 1 ? PV_CLASSES - 1 : (int)l;
	return (uint8_t)c;
}

static void list_del(struct pensieve *v, uint32_t id)
{
	struct pv_blk *x = &v->b[id];
	uint8_t c = x->cls;

	if (!(x->flags & PV_QUEUED))
		return;
	if (x->prev != PV_NONE)
		v->b[x->prev].next = x->next;
	else
		v->head[c] = x->next;
	if (x->next != PV_NONE)
		v->b[x->next].prev = x->prev;
	else
		v->tail[c] = x->prev;
	if (v->head[c] == PV_NONE)
		v->nonempty[c / 64] &= ~(1ull << (c % 64));
	x->flags &= ~PV_QUEUED;
}

/* Append as the newest of its class; the clock never runs backwards. */
static void list_add(struct pensieve *v, uint32_t id, uint64_t now_ns)
{
	struct pv_blk *x = &v->b[id];
	uint8_t c = x->cls;

	list_del(v, id);
	x->t = now_ns;
	x->next = PV_NONE;
	x->prev = v->tail[c];
	if (v->tail[c] != PV_NONE)
		v->b[v->tail[c]].next = id;
	else
		v->head[c] = id;
	v->tail[c] = id;
	v->nonempty[c / 64] |= 1ull << (c % 64);
	x->flags |= PV_QUEUED;
}

static bool is_live(const struct pensieve *v, uint32_t id)
{
	return id < v->nblocks && (v->b[id].flags & PV_LIVE);
}

static int pv_init(struct ac_policy *p, uint32_t nblocks)
{
	struct pensieve *v;

	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	p->priv = v;
	v->nblocks = nblocks;
	pns_init(&v->ns);
	for (int c = 0; c < PV_CLASSES; c++)
		v->head[c] = v->tail[c] = PV_NONE;
	v->b = calloc(nblocks, sizeof(*v->b));
	if (!v->b)
		return -ENOMEM;
	return 0;
}

static void pv_destroy(struct ac_policy *p)
{
	struct pensieve *v = p->priv;

	if (!v)
		return;
	free(v->b);
	free(v);
	p->priv = NULL;
}

static int pv_on_namespace(struct ac_policy *p, const struct ac_policy_ns *ns)
{
	struct pensieve *v = p->priv;

	return pns_set(&v->ns, ns);
}

static void pv_on_insert(struct ac_policy *p, const struct ac_policy_block *b,
			 uint64_t now_ns)
{
	struct pensieve *v = p->priv;
	const struct pns *s;
	struct pv_blk *x;

	if (b->id >= v->nblocks)
		return;
	x = &v->b[b->id];
	list_del(v, b->id);
	x->flags = PV_LIVE;
	x->pos = b->pos;
	x->ns = pns_slot(&v->ns, b->ns_id);
	s = &v->ns.slot[x->ns];
	x->cpb = (float)(pns_block_cost(s, b->pos) / s->bytes);
	x->cls = cost_class(x->cpb);
	x->t = now_ns;
	if (!b->pinned)
		list_add(v, b->id, now_ns);
}

static void pv_on_access(struct ac_policy *p, uint32_t id, uint64_t now_ns)
{
	struct pensieve *v = p->priv;

	if (is_live(v, id) && (v->b[id].flags & PV_QUEUED))
		list_add(v, id, now_ns);
	else if (is_live(v, id))
		v->b[id].t = now_ns;
}

static void pv_on_pin(struct ac_policy *p, uint32_t id)
{
	struct pensieve *v = p->priv;

	if (is_live(v, id))
		list_del(v, id);
}

static void pv_on_unpin(struct ac_policy *p, uint32_t id, uint64_t now_ns)
{
	struct pensieve *v = p->priv;

	if (is_live(v, id))
		list_add(v, id, now_ns);
}

static void pv_on_remove(struct ac_policy *p, uint32_t id)
{
	struct pensieve *v = p->priv;

	if (!is_live(v, id))
		return;
	list_del(v, id);
	v->b[id].flags = 0;
}

static int pv_pick_victims(struct ac_policy *p, uint32_t want, uint32_t *out,
			   uint64_t now_ns)
{
	struct pensieve *v = p->priv;
	uint32_t n;

	if (want && !out)
		return -EINVAL;
	for (n = 0; n < want; n++) {
		uint32_t best = PV_NONE;
		double best_v = 0;

		for (int w = 0; w < PV_CLASSES / 64; w++) {
			uint64_t bits = v->nonempty[w];

			while (bits) {
				int c = w * 64 + __builtin_ctzll(bits);
				uint32_t h = v->head[c];
				uint64_t idle = now_ns > v->b[h].t ?
						now_ns - v->b[h].t : 0;
				/* +1 ns: a block used this instant still ranks. */
				double val = v->b[h].cpb / ((double)idle + 1);

				bits &= bits - 1;
				if (best == PV_NONE || val < best_v ||
				    (val == best_v && v->b[h].pos < v->b[best].pos)) {
					best = h;
					best_v = val;
				}
			}
		}
		if (best == PV_NONE)
			break;
		list_del(v, best);
		v->b[best].flags = 0;
		out[n] = best;
	}
	return (int)n;
}

size_t pensieve_bytes_per_block(void)
{
	return sizeof(struct pv_blk);
}

const struct ac_policy_ops ac_policy_pensieve = {
	.name		= "pensieve",
	.description	= "recompute cost by position over idle time (Pensieve)",
	.init		= pv_init,
	.on_namespace	= pv_on_namespace,
	.on_insert	= pv_on_insert,
	.on_access	= pv_on_access,
	.on_pin		= pv_on_pin,
	.on_unpin	= pv_on_unpin,
	.on_remove	= pv_on_remove,
	.pick_victims	= pv_pick_victims,
	.destroy	= pv_destroy,
};
