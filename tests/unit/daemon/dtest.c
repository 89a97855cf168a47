/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <stdio.h>

#include "dtest.h"

void dt_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

int dt_host_argv(char **argv, char *conf, char *sock,
		 const char *pool_bytes_opt)
{
	int n = 0;

	/* cfg_from_cmdline() takes char **: the literals are never written. */
	argv[n++] = "asymcached";
	argv[n++] = "-c";
	argv[n++] = conf;
	argv[n++] = "--socket";
	argv[n++] = sock;
	argv[n++] = "--backend=host";
	argv[n++] = "--group=";
	argv[n++] = (char *)pool_bytes_opt;
	argv[n++] = "--block-bytes=16K";
	argv[n] = NULL;
	return n;
}
