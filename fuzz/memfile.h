/* SPDX-License-Identifier: MIT */
/*
 * For harnesses whose parser opens a path: the input as the contents of
 * one memfd, named by /proc/self/fd/N. Nothing touches the disk, and the
 * same file is rewritten for every input.
 */
#ifndef AC_FUZZ_MEMFILE_H
#define AC_FUZZ_MEMFILE_H

/* memfd_create(): the build defines _GNU_SOURCE. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

struct memfile {
	int fd;
	char path[32];
};

/* The path of a file holding exactly @data; aborts when it cannot. */
static inline const char *memfile_put(struct memfile *m, const uint8_t *data,
				      size_t size)
{
	if (!m->path[0]) {
		m->fd = memfd_create("ac-fuzz", 0);
		if (m->fd < 0)
			abort();
		snprintf(m->path, sizeof(m->path), "/proc/self/fd/%d", m->fd);
	}
	if (ftruncate(m->fd, 0) < 0 ||
	    (size && pwrite(m->fd, data, size, 0) != (ssize_t)size))
		abort();
	return m->path;
}

#endif /* AC_FUZZ_MEMFILE_H */
