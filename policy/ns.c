/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "policy-internal.h"

static void slot_default(struct pns *s, const struct ac_cost_model *m,
			 uint32_t ns_id, uint32_t block_tokens, uint64_t bytes)
{
	s->ns_id = ns_id;
	s->block_tokens = block_tokens;
	s->bytes = (double)bytes;
	s->linear_s = m->linear_s;
	s->attn_s = m->attn_s;
	s->segment_s = m->segment_s;
}

void pns_init(struct pns_table *t)
{
	struct ac_cost_model m;

	memset(t, 0, sizeof(*t));
	ac_cost_model_default(&m);
	/*
	 * Slot 0 stands for namespaces the core never announced: the default
	 * layout with vLLM's 16-token blocks, so costs stay comparable.
	 */
	slot_default(&t->slot[0], &m, UINT32_MAX, m.layout.kv.block_tokens,
		     ac_kv_block_bytes(&m.layout.kv));
	t->n = 1;
}

int pns_set(struct pns_table *t, const struct ac_policy_ns *ns)
{
	struct ac_cost_model def;
	const struct ac_cost_model *m = ns ? ns->cost : NULL;
	uint32_t i;

	if (!ns || !ns->block_tokens || !ns->bytes_per_block ||
	    ns->ns_id == UINT32_MAX)
		return -EINVAL;
	if (!m) {
		ac_cost_model_default(&def);
		m = &def;
	}
	if (!(m->linear_s > 0) || m->attn_s < 0 || m->segment_s < 0)
		return -EINVAL;
	for (i = 1; i < t->n; i++)
		if (t->slot[i].ns_id == ns->ns_id)
			break;
	if (i == PNS_MAX)
		return -ENOSPC;
	slot_default(&t->slot[i], m, ns->ns_id, ns->block_tokens,
		     ns->bytes_per_block);
	if (i == t->n)
		t->n++;
	return 0;
}

uint8_t pns_slot(const struct pns_table *t, uint32_t ns_id)
{
	for (uint32_t i = 1; i < t->n; i++)
		if (t->slot[i].ns_id == ns_id)
			return (uint8_t)i;
	return 0;
}

double pns_block_cost(const struct pns *s, uint32_t pos)
{
	double bt = s->block_tokens;
	double p = (double)pos * bt;

	return s->linear_s * bt + s->attn_s * bt * (p + bt / 2);
}
