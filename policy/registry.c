/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "policy-internal.h"

/* The first entry is the default: asym. */
static const struct ac_policy_ops *const policies[] = {
	&ac_policy_asym,
	&ac_policy_lru,
	&ac_policy_pensieve,
	NULL,
};

const char *ac_policy_default_name(void)
{
	return policies[0]->name;
}

const struct ac_policy_ops *const *ac_policy_list(void)
{
	return policies;
}

const struct ac_policy_ops *ac_policy_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; policies[i]; i++)
		if (!strcmp(policies[i]->name, name))
			return policies[i];
	return NULL;
}

int ac_policy_create(const char *name, uint32_t nblocks,
		     struct ac_policy **ret_policy)
{
	const struct ac_policy_ops *ops;
	struct ac_policy *p;
	int r;

	if (!ret_policy)
		return -EINVAL;
	/* Block ids are dense u32 and AC_BLOCK_NONE is reserved. */
	if (nblocks == 0 || nblocks == AC_BLOCK_NONE)
		return -EINVAL;
	ops = ac_policy_find(name);
	if (!ops)
		return -ENOENT;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ops = ops;
	p->nblocks = nblocks;
	r = ops->init(p, nblocks);
	if (r < 0) {
		ops->destroy(p);
		free(p);
		return r;
	}
	*ret_policy = p;
	return 0;
}

struct ac_policy *ac_policy_free(struct ac_policy *p)
{
	if (!p)
		return NULL;
	p->ops->destroy(p);
	free(p);
	return NULL;
}
