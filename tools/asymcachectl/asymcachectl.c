/* SPDX-License-Identifier: MIT */
/*
 * asymcachectl: the admin's view of asymcached, over D-Bus.
 * One file per command; this file only parses the global options and
 * dispatches through the table below.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ac_config.h"
#include "ctl.h"

static const struct ctl_cmd commands[] = {
	{ "status", cmd_status, "", "Show version, pools, block states and policy" },
	{ "stats", cmd_stats, "[--prometheus]", "Show counters (or Prometheus text)" },
	{ "sessions", cmd_sessions, "", "List attached client sessions" },
	{ "namespaces", cmd_namespaces, "", "List registered model layouts" },
	{ "policy", cmd_policy, "[NAME]", "Show or switch the eviction policy" },
	{ "flush", cmd_flush, "NS", "Evict every unpinned block of a namespace" },
	{ "evict", cmd_evict, "N", "Evict up to N unpinned blocks through the policy" },
	{ "reload", cmd_reload, "", "Re-read the config file" },
	{ "top", cmd_top, "[--interval=SECS]", "Live view, refreshed in the terminal" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: asymcachectl [OPTIONS] COMMAND [ARGS]\n\n"
		"Inspect and steer asymcached, the AsymCache KV-cache daemon.\n\n"
		"Commands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		char left[48];

		snprintf(left, sizeof(left), "%s %s", commands[i].name, commands[i].args);
		fprintf(f, "  %-30s %s\n", left, commands[i].summary);
	}
	fprintf(f, "\nOptions:\n"
		"  -h --help             Show this help (COMMAND --help for a command's)\n"
		"  -V --version          Show the version\n"
		"  -j --json             Machine-readable output\n"
		"  -A --address=ADDRESS  D-Bus address of the bus the daemon is on\n"
		"                        (default: $" AC_BUS_ADDRESS_ENV ", else the system bus)\n"
		"\nExit status: 0 ok, 1 failure, 2 usage, 3 daemon unreachable,\n"
		"4 permission denied, 5 no such namespace/policy, 6 reload needs a restart,\n"
		"7 config file invalid. See asymcachectl(1).\n");
}

int ctl_help_or_usage(const char *cmd, const char *text, bool help)
{
	fprintf(help ? stdout : stderr, "Usage: asymcachectl %s\n", text);
	return help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
}

int ctl_common_options(struct ctl *c, int argc, char **argv, const char *cmd,
		       const char *text, int min_args, int max_args)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{}
	};
	int o;

	while ((o = getopt_long(argc, argv, "hj", opts, NULL)) >= 0) {
		if (o != 'j')
			return ctl_help_or_usage(cmd, text, o == 'h');
		c->json = true;
	}
	if (argc - optind < min_args || argc - optind > max_args)
		return ctl_help_or_usage(cmd, text, false);
	return -1;
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "json", no_argument, NULL, 'j' },
		{ "address", required_argument, NULL, 'A' },
		{}
	};
	struct ctl c = { 0 };
	size_t i;
	int o, r;

	/* '+': stop at the command name, its options are its own. */
	while ((o = getopt_long(argc, argv, "+hVjA:", opts, NULL)) >= 0) {
		switch (o) {
		case 'h':
			usage(stdout);
			return CTL_EXIT_OK;
		case 'V':
			printf("asymcachectl %s\n", AC_VERSION);
			return CTL_EXIT_OK;
		case 'j':
			c.json = true;
			break;
		case 'A':
			c.address = optarg;
			break;
		default:
			usage(stderr);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "asymcachectl: missing command\n");
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) != 0)
			continue;
		argc -= optind;
		argv += optind;
		optind = 0;	/* glibc: full rescan for the command's options */
		r = commands[i].run(&c, argc, argv);
		sd_bus_flush_close_unref(c.bus);
		return r;
	}
	fprintf(stderr, "asymcachectl: unknown command '%s'\n", argv[optind]);
	usage(stderr);
	return CTL_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	return run(argc, argv);
}
