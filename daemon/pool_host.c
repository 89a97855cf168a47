/* SPDX-License-Identifier: MIT */
/*
 * Host backend: the pool is a memfd. It is sealed against shrinking and
 * growing (F_SEAL_SHRINK|F_SEAL_GROW) so no attached process can truncate
 * it under the others and make their mappings fault with SIGBUS, and the
 * seal set itself is sealed (F_SEAL_SEAL). Writes stay allowed: clients
 * write KV into it.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pool_backend.h"

static int host_probe(void)
{
	return 1;
}

static int host_create(struct pool *p)
{
	int fd, r;

	fd = memfd_create("asymcache-pool", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	/* Sparse: pages are allocated when clients first touch them. */
	if (ftruncate(fd, (off_t)p->bytes) < 0) {
		r = -errno;
		goto out_close;
	}
	if (fcntl(fd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		r = -errno;
		goto out_close;
	}
	p->fd = fd;
	p->device = -1;
	p->handle_len = 0;
	return 0;

out_close:
	close(fd);
	return r;
}

static int host_export(struct pool *p, int *ret_fd, uint8_t *handle,
		       size_t *ret_handle_len)
{
	*ret_fd = p->fd;
	*ret_handle_len = 0;
	return 0;
}

static void host_destroy(struct pool *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

const struct pool_ops pool_host_ops = {
	.name = "host",
	.probe = host_probe,
	.create = host_create,
	.export_handle = host_export,
	.destroy = host_destroy,
};
