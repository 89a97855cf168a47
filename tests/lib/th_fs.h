/* SPDX-License-Identifier: MIT */
/*
 * Files and folders of a test run: private temporary folders (kept for
 * whoever reads a failed run's report when asked), files written whole,
 * and paths into the build tree that tests/meson.build names.
 */
#ifndef AC_TEST_TH_FS_H
#define AC_TEST_TH_FS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Room for /tmp/<tag>-XXXXXX with a tag of up to 40 characters. */
#define TH_DIR_MAX	64

/*
 * Makes /tmp/@tag-XXXXXX in @dir (TH_DIR_MAX bytes), mode 0755 so that
 * the modes of the sockets inside decide who reaches them. 0 or -errno.
 */
int th_dir_make(char *dir, size_t len, const char *tag);
/*
 * Removes @dir and everything in it, unless AC_KEEP_TEST_DIRS or
 * AC_TEST_KEEP_LOGS is set in the environment. 0 or -errno.
 */
int th_dir_remove(const char *dir);

/* Replaces @path with @text. 0 or -errno. */
int th_write_file(const char *path, const char *text);
/* Copies @path to @to under a header naming it; for failing tests. */
void th_dump_file(const char *path, FILE *to);

/*
 * $AC_BUILD_ROOT/@rel into @out: -ENOENT when AC_BUILD_ROOT is not set
 * (the tests run through meson test), -ENAMETOOLONG.
 */
int th_build_path(char *out, size_t len, const char *rel);

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t th_now_ms(void);

#endif /* AC_TEST_TH_FS_H */
