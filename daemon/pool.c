/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ac_config.h"
#include "pool.h"

/* Preference order for "auto": the first usable one wins. */
static const struct pool_ops *const pool_backends[] = {
#if AC_HAVE_CUDA
	&pool_cuda_ops,
#endif
	&pool_host_ops,
	NULL,
};

const struct pool_ops *pool_find(const char *name)
{
	unsigned int i;

	for (i = 0; pool_backends[i]; i++)
		if (strcmp(pool_backends[i]->name, name) == 0)
			return pool_backends[i];
	return NULL;
}

int pool_pick(const char *backend, const struct pool_ops **ret_ops)
{
	const struct pool_ops *ops;
	unsigned int i;

	if (strcmp(backend, "auto") == 0) {
		for (i = 0; pool_backends[i]; i++) {
			if (pool_backends[i]->probe() > 0) {
				*ret_ops = pool_backends[i];
				return 0;
			}
		}
		return -ENODEV;
	}
	ops = pool_find(backend);
	if (!ops)
		return -ENODEV;
	if (ops->probe() <= 0)
		return -ENODEV;
	*ret_ops = ops;
	return 0;
}

int pool_create(struct pool *p, const struct pool_ops *ops, uint64_t bytes,
		uint64_t block_bytes, int device)
{
	int r;

	memset(p, 0, sizeof(*p));
	if (!block_bytes || bytes < block_bytes)
		return -EINVAL;
	p->ops = ops;
	p->block_bytes = block_bytes;
	p->nblocks = (uint32_t)(bytes / block_bytes);
	/* A pool is whole blocks: a tail smaller than a block is not used. */
	p->bytes = (uint64_t)p->nblocks * block_bytes;
	p->device = device;
	p->fd = -1;
	r = ops->create(p);
	if (r < 0) {
		memset(p, 0, sizeof(*p));
		p->fd = -1;
	}
	return r;
}

void pool_destroy(struct pool *p)
{
	if (p->ops)
		p->ops->destroy(p);
	memset(p, 0, sizeof(*p));
	p->fd = -1;
}
