/* SPDX-License-Identifier: MIT */
/*
 * asymcache-workload: write a generated trace (docs/workloads.md).
 *   asymcache-workload rag|tenants|agent|conv [--seed N] [--out FILE] [options]
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace.h"
#include "wl.h"

static void usage(FILE *f)
{
	fputs("usage: asymcache-workload rag|tenants|agent|conv [options]\n"
	      "  --seed N         seed (1); the same seed writes the same file\n"
	      "  --out FILE       write here (default: standard output)\n"
	      "  --requests N     rag, tenants: requests (2000)\n"
	      "  --rate R         arrivals (rag, tenants) or program starts (agent)\n"
	      "                   a second (1.0; agent 0.5)\n"
	      "  --docs N         rag, tenants: documents in a corpus (400; tenants 100)\n"
	      "  --zipf A         rag, tenants: popularity exponent (1.0)\n"
	      "  --doc-min N --doc-max N   document tokens (16384, 126000)\n"
	      "  --share-qa F --share-scan F   rag mix shares (0.6, 0.1; rest chat)\n"
	      "  --tenants N      tenants (4); --skew S: shares ~ 1/(i+1)^S (1.0)\n"
	      "  --programs N     agent: programs (200)\n"
	      "  --turns-min N --turns-max N   agent: turns a program (10, 30)\n"
	      "  --tool-scale X   agent: multiplies every tool's median (1.0)\n"
	      "  --result-max N   agent: longest tool result in tokens (4000)\n"
	      "  --trace FILE     conv: the conversation trace to sample\n"
	      "  --conversations N   conv: whole conversations drawn at random (100)\n",
	      f);
}

/* A number or a clear refusal naming the option. */
static int num(const char *opt, const char *s, double lo, double hi,
	       double *ret)
{
	char *end;
	double x;

	errno = 0;
	x = strtod(s, &end);
	if (errno || end == s || *end || !(x >= lo && x <= hi)) {
		fprintf(stderr, "asymcache-workload: --%s '%s': want a number in %g..%g\n",
			opt, s, lo, hi);
		return -EINVAL;
	}
	*ret = x;
	return 0;
}

/* conv copies records of a trace rather than building them. */
static int conv_main(const struct wl_conv_config *cc, const char *out,
		     struct ac_trace_error *err)
{
	FILE *f = stdout;
	int r;

	if (!cc->trace) {
		fputs("asymcache-workload: conv: --trace FILE is required\n", stderr);
		return 2;
	}
	if (!cc->conversations) {
		fputs("asymcache-workload: conv: --conversations must be at least 1\n",
		      stderr);
		return 2;
	}
	if (out && !(f = fopen(out, "we"))) {
		fprintf(stderr, "asymcache-workload: %s: %s\n", out, strerror(errno));
		return 1;
	}
	r = wl_conv(cc, f, err);
	if (f != stdout && fclose(f) && r == 0)
		r = -errno;
	if (r == -ERANGE)
		fprintf(stderr, "asymcache-workload: %s: fewer than %u conversations\n",
			cc->trace, cc->conversations);
	else if (r == -EINVAL && err->why[0])
		fprintf(stderr, "asymcache-workload: %s: %s\n", cc->trace, err->why);
	else if (r < 0)
		fprintf(stderr, "asymcache-workload: %s: %s\n",
			r == -EIO && out ? out : cc->trace, strerror(-r));
	if (r < 0 && out)
		unlink(out);
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'o' },
		{ "requests", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "docs", required_argument, NULL, 'd' },
		{ "zipf", required_argument, NULL, 'z' },
		{ "doc-min", required_argument, NULL, 'm' },
		{ "doc-max", required_argument, NULL, 'M' },
		{ "share-qa", required_argument, NULL, 'q' },
		{ "share-scan", required_argument, NULL, 'S' },
		{ "tenants", required_argument, NULL, 't' },
		{ "skew", required_argument, NULL, 'k' },
		{ "programs", required_argument, NULL, 'p' },
		{ "turns-min", required_argument, NULL, 'u' },
		{ "turns-max", required_argument, NULL, 'U' },
		{ "tool-scale", required_argument, NULL, 'x' },
		{ "result-max", required_argument, NULL, 'R' },
		{ "trace", required_argument, NULL, 'T' },
		{ "conversations", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct wl_tenants_config tc;
	struct wl_agent_config ac;
	struct wl_conv_config cc = { .seed = 1, .conversations = 100 };
	struct ac_trace_error terr = { 0 };
	struct wl_rag_config *rc = &tc.mix;
	struct wl_trace t;
	const char *kind, *out = NULL;
	bool rate_set = false;
	FILE *f = stdout;
	double x;
	int c, r = 0;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	kind = argv[1];
	if (strcmp(kind, "rag") && strcmp(kind, "tenants") && strcmp(kind, "agent") &&
	    strcmp(kind, "conv")) {
		fprintf(stderr, "asymcache-workload: unknown workload '%s' (rag, tenants, agent, conv)\n",
			kind);
		return 2;
	}
	wl_tenants_default(&tc);
	if (!strcmp(kind, "rag"))
		wl_rag_default(rc);
	wl_agent_default(&ac);
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		const char *name = NULL;

		for (int i = 0; opts[i].name; i++)
			if (opts[i].val == c)
				name = opts[i].name;
		switch (c) {
		case 'o': out = optarg; continue;
		case 'T': cc.trace = optarg; continue;
		case 'h': usage(stdout); return 0;
		case '?': usage(stderr); return 2;
		}
		if (num(name, optarg, 0, 1e15, &x) < 0)
			return 2;
		switch (c) {
		case 's': rc->seed = ac.seed = cc.seed = (uint64_t)x; break;
		case 'C': cc.conversations = (uint32_t)x; break;
		case 'n': rc->requests = (uint32_t)x; break;
		case 'r': rc->rate = ac.rate = x; rate_set = true; break;
		case 'd': rc->docs = (uint32_t)x; break;
		case 'z': rc->zipf_alpha = x; break;
		case 'm': rc->doc_min = (uint32_t)x; break;
		case 'M': rc->doc_max = (uint32_t)x; break;
		case 'q': rc->share_qa = x; break;
		case 'S': rc->share_scan = x; break;
		case 't': tc.tenants = (uint32_t)x; break;
		case 'k': tc.skew = x; break;
		case 'p': ac.programs = (uint32_t)x; break;
		case 'u': ac.turns_min = (uint32_t)x; break;
		case 'U': ac.turns_max = (uint32_t)x; break;
		case 'x': ac.tool_scale = x; break;
		case 'R': ac.result_max = (uint32_t)x; break;
		}
	}
	if (!rate_set)
		ac.rate = 0.5;
	if (!strcmp(kind, "conv"))
		return conv_main(&cc, out, &terr);
	wl_trace_init(&t);
	if (!strcmp(kind, "rag"))
		r = wl_rag(rc, &t);
	else if (!strcmp(kind, "tenants"))
		r = wl_tenants(&tc, &t);
	else
		r = wl_agent(&ac, &t);
	if (r == -EINVAL) {
		fprintf(stderr, "asymcache-workload: %s: the options do not make a workload (see --help: counts > 0, min <= max, shares summing to at most 1)\n",
			kind);
		wl_trace_free(&t);
		return 2;
	}
	if (r == 0 && out) {
		f = fopen(out, "we");
		if (!f)
			r = -errno;
	}
	if (r == 0)
		r = wl_trace_write(&t, f);
	if (f && f != stdout && fclose(f) && r == 0)
		r = -errno;
	wl_trace_free(&t);
	if (r < 0) {
		fprintf(stderr, "asymcache-workload: %s: %s\n", out ? out : "stdout",
			strerror(-r));
		return 1;
	}
	return 0;
}
