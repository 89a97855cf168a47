/* SPDX-License-Identifier: MIT */
/*
 * bench/e2e/run.sh at QUICK=1: the tiny shape on the CPU, short windows,
 * two arms under both orders, one seed. Real daemons, real engine
 * processes, the real fit and simulator: every table must come out with a
 * figure where one belongs. Speed is not looked at.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cost_model.h"

static char out[64];

static int run_e2e(const char *env, const char *parts, const char *log)
{
	const char *src = getenv("AC_SOURCE_ROOT"), *build = getenv("AC_BUILD_ROOT");
	char cmd[4096];
	int st;

	cr_assert(src && build, "run through meson test");
	snprintf(cmd, sizeof(cmd),
		 "env QUICK=1 %s bash %s/bench/e2e/run.sh %s %s %s >%s 2>&1",
		 env, src, build, out, parts, log);
	st = system(cmd);
	cr_assert_neq(st, -1);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;

	cr_assert_not_null(f, "%s is missing", path);
	n = getdelim(&buf, &cap, '\0', f);
	fclose(f);
	cr_assert_gt(n, 0, "%s is empty", path);
	return buf;
}

/* The table row that starts with @prefix ("| base-2k | fcfs |"). */
static char *row(char *text, const char *prefix, const char *file)
{
	char *p = strstr(text, prefix), *nl;

	cr_assert_not_null(p, "%s: no row '%s'", file, prefix);
	nl = strchr(p, '\n');
	if (nl)
		*nl = '\0';
	return p;
}

/* Column @col (0 = the first cell) of a markdown table row. */
static double cell(const char *r, int col)
{
	const char *p = r;

	for (int i = 0; i <= col; i++) {
		p = strchr(p, '|');
		cr_assert_not_null(p, "row '%s' has no column %d", r, col);
		p++;
	}
	while (*p == ' ')
		p++;
	cr_assert(*p != '-' || p[1] != ' ', "row '%s': column %d is empty", r, col);
	return strtod(p, NULL);
}

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", out);
	cr_assert_eq(system(cmd), 0);
}

static void setup(void)
{
	snprintf(out, sizeof(out), "/tmp/ac-e2e-XXXXXX");
	cr_assert_not_null(mkdtemp(out));
}

TestSuite(e2e, .init = setup, .fini = cleanup);

Test(e2e, quick_run_fills_every_table, .timeout = 500)
{
	char path[256], log[128], *t;
	struct ac_cost_model m;
	int rc;

	snprintf(log, sizeof(log), "%s/run.log", out);
	rc = run_e2e("ARMS='base-2k asym-msa-adaptive'", "conv agent share pools", log);
	if (rc) {
		char *l = slurp(log);

		cr_assert_eq(rc, 0, "run.sh failed (%d):\n%s", rc, l);
	}

	snprintf(path, sizeof(path), "%s/conv/table.md", out);
	t = slurp(path);
	for (int o = 0; o < 2; o++)
		for (int a = 0; a < 2; a++) {
			char want[96], *copy = strdup(t), *r;

			snprintf(want, sizeof(want), "| %s | %s |",
				 a ? "asym-msa-adaptive" : "base-2k",
				 o ? "hrrn" : "fcfs");
			r = row(copy, want, path);
			cr_assert_gt(cell(r, 2), 0, "mean TTFT: %s", r);
			cr_assert_gt(cell(r, 5), 0, "the simulator's TTFT: %s", r);
			cr_assert_gt(cell(r, 9), 0, "tokens/s: %s", r);
			free(copy);
		}
	cr_assert_not_null(strstr(t, "headline"), "the ratio table");
	cr_assert_null(strstr(t, "sim failed"), "%s", t);
	free(t);

	snprintf(path, sizeof(path), "%s/conv/cost.json", out);
	cr_assert_eq(ac_cost_model_load(path, &m), 0);
	cr_assert_not_null(strstr(m.source, "FITTED"));
	cr_assert_str_eq(m.model, "tiny");

	snprintf(path, sizeof(path), "%s/agent/table.md", out);
	t = slurp(path);
	{
		char *copy = strdup(t), *r = row(copy, "| asym-msa-adaptive | hrrn | ttlauto |", path);

		cr_assert_gt(cell(r, 3), 0, "job latency: %s", r);
		cr_assert_gt(cell(r, 6), 0, "the simulator's job latency: %s", r);
		free(copy);
		copy = strdup(t);
		r = row(copy, "| asym-msa-adaptive | hrrn | unlimited |", path);
		cr_assert_gt(cell(r, 3), 0, "%s", r);
		free(copy);
	}
	cr_assert_not_null(strstr(t, "job latency gain"));
	free(t);

	snprintf(path, sizeof(path), "%s/share/table.md", out);
	t = slurp(path);
	{
		char *copy = strdup(t);

		cr_assert_gt(cell(row(copy, "| shared |", path), 1), 0);
		free(copy);
		copy = strdup(t);
		cr_assert_gt(cell(row(copy, "| private |", path), 1), 0);
		free(copy);
	}
	free(t);

	snprintf(path, sizeof(path), "%s/pools/table.md", out);
	t = slurp(path);
	{
		char *copy = strdup(t);

		cr_assert_gt(cell(row(copy, "| 0.3 |", path), 1), 0);
		free(copy);
	}
	free(t);
}

Test(e2e, bad_arguments_are_refused)
{
	char log[128], *l;

	snprintf(log, sizeof(log), "%s/bad.log", out);
	cr_assert_eq(run_e2e("", "conv nosuch", log), 2);
	l = slurp(log);
	cr_assert_not_null(strstr(l, "unknown part 'nosuch'"), "%s", l);
	free(l);
	cr_assert_eq(run_e2e("ARMS=nosuch", "conv", log), 2);
	l = slurp(log);
	cr_assert_not_null(strstr(l, "no arm 'nosuch'"), "%s", l);
	free(l);
}

/*
 * A part cut short by a device call's time limit: the run that did not
 * serve its whole window is named and left out (a truncated run once
 * showed as a 77% "unlimited-pool bound"), and the part is predicted with
 * a cost file fitted to its own iterations, not the simulator's default.
 */
Test(e2e, a_run_cut_short_is_left_out_and_the_part_still_fitted, .timeout = 300)
{
	const char *src = getenv("AC_SOURCE_ROOT"), *build = getenv("AC_BUILD_ROOT");
	char path[256], log[128], cmd[4096], *t;
	int rc;

	snprintf(log, sizeof(log), "%s/run.log", out);
	rc = run_e2e("ARMS='base-2k asym-msa-adaptive' TPOT_US=80000", "conv", log);
	if (rc)
		cr_assert_eq(rc, 0, "run.sh failed (%d):\n%s", rc, slurp(log));
	/* The daemon's target is the run's, and the simulator is told it. */
	snprintf(path, sizeof(path), "%s/conv/s1.asym-msa-adaptive.fcfs.flags", out);
	t = slurp(path);
	cr_assert_not_null(strstr(t, " tpot_us=80000 "), "%s", t);
	free(t);

	/* What a limit leaves: no cost file, one arm's requests half written. */
	snprintf(cmd, sizeof(cmd),
		 "set -e; cd %s/conv; rm cost.json; f=s1.asym-msa-adaptive.hrrn.jsonl; "
		 "head -n 2 $f >t; mv t $f; "
		 "python3 %s/bench/e2e/report.py table %s conv --sim %s/bench/sim/asymcache-sim "
		 "--model tiny --calibrate %s/tools/calibrate/asymcache-calibrate --gpu cpu "
		 ">table.md 2>report.err",
		 out, src, out, build, build);
	cr_assert_eq(system(cmd), 0, "report.py failed");

	snprintf(path, sizeof(path), "%s/conv/table.md", out);
	t = slurp(path);
	cr_assert_not_null(strstr(t, "asym-msa-adaptive.hrrn seed 1: cut short (2 of "), "%s", t);
	cr_assert_null(strstr(t, "| asym-msa-adaptive | hrrn |"), "a cut run has a row:\n%s", t);
	cr_assert_not_null(strstr(t, "| asym-msa-adaptive | fcfs |"), "%s", t);
	cr_assert_not_null(strstr(t, "with the cost file fitted to this part's engine iterations"),
			   "%s", t);
	cr_assert_null(strstr(t, "headline"), "a ratio against a cut run:\n%s", t);
	free(t);
	snprintf(path, sizeof(path), "%s/conv/cost.json", out);
	cr_assert_eq(access(path, R_OK), 0, "no cost file was fitted");
}
