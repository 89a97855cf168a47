/* SPDX-License-Identifier: MIT */
/*
 * msa_gpu_check [--small] [seed]: the GPU suite as a plain program, for
 * machines without Criterion and for compute-sanitizer.  Exit 0 pass,
 * 1 fail, 77 no device (the automake convention for "skipped").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msa_gpu_check.h"
#include "th_seed.h"

int main(int argc, char **argv)
{
	bool small = false;
	uint64_t seed = th_test_seed();
	int i, ret;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--small"))
			small = true;
		else
			seed = strtoull(argv[i], NULL, 0);
	}
	if (!msa_gpu_present()) {
		printf("SKIP: no CUDA device\n");
		return 77;
	}
	ret = msa_gpu_check_all(stdout, small, seed);
	if (ret < 0) {
		fprintf(stderr, "msa_gpu_check: setup failed: %s\n",
			strerror(-ret));
		return 1;
	}
	printf("%s: %d case(s) failed\n", ret ? "FAIL" : "PASS", ret);
	return ret ? 1 : 0;
}
