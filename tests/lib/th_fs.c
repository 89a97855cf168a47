/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "th_fs.h"

int th_dir_make(char *dir, size_t len, const char *tag)
{
	int n = snprintf(dir, len, "/tmp/%s-XXXXXX", tag);

	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	if (!mkdtemp(dir))
		return -errno;
	if (chmod(dir, 0755) < 0)
		return -errno;
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	return remove(path) < 0 ? -errno : 0;
}

int th_dir_remove(const char *dir)
{
	/* The logs of a failed run are for whoever reads its report. */
	if (getenv("AC_KEEP_TEST_DIRS") || getenv("AC_TEST_KEEP_LOGS"))
		return 0;
	/* Depth first, never across into another mount or through links. */
	return nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

int th_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int r = 0;

	if (!f)
		return -errno;
	if (fputs(text, f) == EOF)
		r = -EIO;
	if (fclose(f) == EOF && r == 0)
		r = -errno;
	return r;
}

void th_dump_file(const char *path, FILE *to)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return;
	fprintf(to, "---- %s ----\n", path);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, to);
	fclose(f);
}

int th_build_path(char *out, size_t len, const char *rel)
{
	const char *root = getenv("AC_BUILD_ROOT");
	int n;

	if (!root || !*root)
		return -ENOENT;
	n = snprintf(out, len, "%s/%s", root, rel);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

uint64_t th_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
