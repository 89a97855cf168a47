/* SPDX-License-Identifier: MIT */
/* asymcache-calibrate on the host backend: a file the cost model loads. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cost_model.h"

static int run(const char *args, char *out, size_t outsz)
{
	const char *root = getenv("AC_BUILD_ROOT");
	char cmd[8192];
	int st;

	cr_assert_not_null(root, "run through meson test");
	snprintf(out, outsz, "/tmp/ac-cal-%d.json", (int)getpid());
	snprintf(cmd, sizeof(cmd),
		 "%s/tools/calibrate/asymcache-calibrate --backend cpu --out %s %s "
		 ">/dev/null 2>&1", root, out, args);
	st = system(cmd);
	cr_assert_neq(st, -1);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(policy_calibrate, host_backend_writes_a_loadable_file, .timeout = 120)
{
	struct ac_cost_model m;
	char path[256];

	cr_assert_eq(run("--quick --layers 2 --hidden 256 --ffn 512 "
			 "--q-heads 4 --kv-heads 2 --head-dim 64 --vocab 1000 "
			 "--gpu test-host", path, sizeof(path)), 0);
	cr_assert_eq(ac_cost_model_load(path, &m), 0);
	unlink(path);
	cr_assert_str_eq(m.gpu, "test-host");
	cr_assert_eq(m.layout.kv.num_layers, 2);
	cr_assert_eq(m.layout.kv.head_dim, 64);
	cr_assert_gt(m.linear_s, 0);
	cr_assert_gt(m.attn_s, 0, "attention time grows with context");
	cr_assert_gt(m.decode_ctx_s, 0);
	cr_assert_gt(m.iteration_s, 0);
	cr_assert_not_null(strstr(m.source, "MEASURED"));
	/* Longer context must cost more under the fitted model. */
	cr_assert_gt(ac_cost_recompute_s(&m, 64, 4096, 1),
		     ac_cost_recompute_s(&m, 64, 0, 1));
}

Test(policy_calibrate, bad_arguments_are_refused)
{
	char path[256];

	cr_assert_eq(run("--quick --kv-heads 3", path, sizeof(path)), 2,
		     "32 query heads do not split over 3 kv heads");
	cr_assert_eq(access(path, F_OK), -1, "no file written");
	cr_assert_eq(run("--quick --reps 0", path, sizeof(path)), 2);
	cr_assert_eq(run("--quick --layers 2 --hidden 256 --ffn 512 "
			 "--q-heads 4 --kv-heads 2 --head-dim 64 --vocab 1000 "
			 "--out /nonexistent/dir/x.json", path, sizeof(path)), 1);
}
