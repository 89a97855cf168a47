/* SPDX-License-Identifier: MIT */
/* Shared by the built-in policies and their tests. Not installed. */
#ifndef AC_POLICY_INTERNAL_H
#define AC_POLICY_INTERNAL_H

#include "cost_model.h"
#include "policy.h"

extern const struct ac_policy_ops ac_policy_lru;
extern const struct ac_policy_ops ac_policy_pensieve;
extern const struct ac_policy_ops ac_policy_asym;

/* Per-namespace constants a policy needs; slot 0 is the fallback. */
#define PNS_MAX (AC_POLICY_MAX_NAMESPACES + 1)
_Static_assert(PNS_MAX <= 256, "policies keep a namespace slot in 8 bits");

struct pns {
	uint32_t ns_id;
	uint32_t block_tokens;
	double bytes;
	double linear_s;
	double attn_s;
	double segment_s;
};

struct pns_table {
	uint32_t n;
	struct pns slot[PNS_MAX];
};

void pns_init(struct pns_table *t);
/* -EINVAL on a bad layout, -ENOSPC past PNS_MAX namespaces. */
int pns_set(struct pns_table *t, const struct ac_policy_ns *ns);
uint8_t pns_slot(const struct pns_table *t, uint32_t ns_id);
/* Recompute seconds of one block at chain index @pos, no segment cost. */
double pns_block_cost(const struct pns *s, uint32_t pos);

/*
 * Ablations of asym for the simulator's comparisons: the position term
 * (every block costs what one at position 0 does; the hole term stays) and
 * the frequency term (f = 1); and ASYM_AGE_FREQUENCY, below. 0, or -EINVAL
 * when @p is not asym or @terms has other bits.
 */
#define ASYM_ABLATE_POSITION	0x1
#define ASYM_ABLATE_FREQUENCY	0x2
/* A variant rather than an ablation: hit counts halve as the pool turns over. */
#define ASYM_AGE_FREQUENCY	0x4
/*
 * asym as it was before session blocks and the weight of unused blocks
 * (asym.c's header): f = 1 + log2(1 + hits) for every block.
 */
#define ASYM_CLASSIC		0x8
#define ASYM_INHERIT		0x8
/*
 * asym before its weight of unreused blocks was learned per namespace: a
 * fixed 1/4 (asym.c's header says why it no longer is).
 */
#define ASYM_FIXED_PRIOR	0x10
int asym_set_ablation(struct ac_policy *p, unsigned terms);

/* Introspection for tests and the benchmark. */
double asym_inflation(const struct ac_policy *p);
/* Priority of a candidate; negative when @id is not a candidate. */
double asym_priority(const struct ac_policy *p, uint32_t id);
/* Sift steps taken by the policy's heap so far. */
uint64_t asym_heap_steps(const struct ac_policy *p);
uint64_t lru_heap_steps(const struct ac_policy *p);
/* Bytes of per-block metadata the policy allocated. */
size_t asym_bytes_per_block(void);
size_t pensieve_bytes_per_block(void);
size_t lru_bytes_per_block(void);

#endif
