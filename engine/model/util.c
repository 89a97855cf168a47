/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model_internal.h"

int ac_model_err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int ac_map_file(const char *path, struct ac_map *m, char *err, size_t errlen)
{
	struct stat st;
	void *p;
	int fd, rc;

	m->data = NULL;
	m->size = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		return ac_model_err(err, errlen, rc, "%s: cannot open: %s",
				    path, strerror(-rc));
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return ac_model_err(err, errlen, rc, "%s: cannot stat: %s",
				    path, strerror(-rc));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return ac_model_err(err, errlen, -EINVAL,
				    "%s: not a regular file", path);
	}
	if (st.st_size == 0) {
		close(fd);
		return 0;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	rc = -errno;
	close(fd);
	if (p == MAP_FAILED)
		return ac_model_err(err, errlen, rc, "%s: cannot mmap: %s",
				    path, strerror(-rc));
	m->data = p;
	m->size = (size_t)st.st_size;
	return 0;
}

void ac_map_release(struct ac_map *m)
{
	if (m->data)
		munmap((void *)m->data, m->size);
	m->data = NULL;
	m->size = 0;
}
