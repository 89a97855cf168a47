/* SPDX-License-Identifier: MIT */
/* The command line: defaults, parsing, and the limits checked up front. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "demo.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: asymcache-demo --socket PATH [options]\n"
		"       asymcache-demo --compare SUMMARY_FILE\n"
		"  -s, --socket PATH        asymcached control socket\n"
		"  -t, --trace FILE         conversation_trace.jsonl (Mooncake format;\n"
		"                           default " AC_DEMO_TRACE ")\n"
		"  -n, --clients N          client processes (default 4)\n"
		"  -r, --requests N         first N requests of the trace (default 200;\n"
		"                           scripts/demo.sh asks for 3000)\n"
		"  -m, --max-tokens N       cap prompts at N tokens (default 16384)\n"
		"  -b, --block-tokens N     tokens per KV block (default 16)\n"
		"  -i, --interval SECS      progress line period (default 0.25)\n"
		"  -l, --lockstep           clients take the requests strictly in trace\n"
		"                           order, so runs repeat (default: free-running)\n"
		"  -c, --costs FILE         cost model JSON for the recompute estimates\n"
		"                           (default " AC_DEMO_COSTS ";\n"
		"                           the built-in H200 model when unreadable)\n"
		"  -S, --summary FILE       append this run's totals as one line\n"
		"  -C, --compare FILE       print the policy comparison of a summary file\n");
}

/* A whole decimal number or -EINVAL: "abc" and "-1" must not become 0/huge. */
static int opt_uint(const char *name, const char *arg, unsigned *ret)
{
	uint64_t v;

	if (demo_parse_u64(arg, &v) < 0 || v > UINT32_MAX) {
		fprintf(stderr, "asymcache-demo: --%s wants a non-negative"
			" integer, not '%s'\n", name, arg);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int demo_parse_opts(int argc, char **argv, struct demo_opts *o)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "trace", required_argument, NULL, 't' },
		{ "clients", required_argument, NULL, 'n' },
		{ "requests", required_argument, NULL, 'r' },
		{ "max-tokens", required_argument, NULL, 'm' },
		{ "block-tokens", required_argument, NULL, 'b' },
		{ "interval", required_argument, NULL, 'i' },
		{ "lockstep", no_argument, NULL, 'l' },
		{ "costs", required_argument, NULL, 'c' },
		{ "summary", required_argument, NULL, 'S' },
		{ "compare", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c, r = 0;

	*o = (struct demo_opts){ .clients = 4, .requests = 200,
				 .max_tokens = 16384, .block_tokens = 16,
				 .interval = 0.25, .costs = AC_DEMO_COSTS,
				 .trace = AC_DEMO_TRACE };
	while ((c = getopt_long(argc, argv, "s:t:n:r:m:b:i:lc:S:C:h", lo, NULL)) != -1) {
		switch (c) {
		case 's': o->socket = optarg; break;
		case 't': o->trace = optarg; break;
		case 'n': r = opt_uint("clients", optarg, &o->clients); break;
		case 'r': r = opt_uint("requests", optarg, &o->requests); break;
		case 'm': r = opt_uint("max-tokens", optarg, &o->max_tokens); break;
		case 'b': r = opt_uint("block-tokens", optarg, &o->block_tokens); break;
		case 'i': o->interval = strtod(optarg, NULL); break;
		case 'l': o->lockstep = true; break;
		case 'c': o->costs = optarg; break;
		case 'S': o->summary = optarg; break;
		case 'C': o->compare = optarg; break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return -EINVAL;
		}
		if (r < 0)
			return r;
	}
	if (o->compare) {
		if (optind < argc || o->socket) {
			fprintf(stderr, "asymcache-demo: --compare takes no other"
				" options\n");
			return -EINVAL;
		}
		return 0;
	}
	if (optind < argc) {
		fprintf(stderr, "asymcache-demo: unexpected argument '%s'\n",
			argv[optind]);
		return -EINVAL;
	}
	if (!o->socket) {
		fprintf(stderr, "asymcache-demo: --socket is required\n");
		return -EINVAL;
	}
	if (o->clients < 1 || o->clients > DEMO_MAX_CLIENTS || o->requests < 1 ||
	    o->max_tokens < 16 || !(o->interval > 0) || o->block_tokens < 1 ||
	    o->max_tokens / o->block_tokens > DEMO_MAX_KEYS) {
		fprintf(stderr, "asymcache-demo: clients 1..%d, requests >= 1,"
			" max-tokens >= 16, block-tokens >= 1, interval > 0,"
			" max-tokens/block-tokens <= %d\n", DEMO_MAX_CLIENTS,
			DEMO_MAX_KEYS);
		return -EINVAL;
	}
	return 0;
}
