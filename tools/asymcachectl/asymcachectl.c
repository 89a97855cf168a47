/* SPDX-License-Identifier: MIT */
/*
 * asymcachectl: the admin's view of asymcached, over D-Bus.
 * One file per command; this file parses the global options, dispatches
 * through the table below, and parses --help and --json for the commands
 * that take no other options.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ac_config.h"
#include "ctl.h"

static const struct ctl_cmd commands[] = {
	{ "status", cmd_status, "", "Show version, pools, block states and policy", 0, 0,
	  "status [--json]\n\n"
	  "Show the daemon's version, uptime, pools, blocks by state (pinned and\n"
	  "TTL-retained among the cached), active policy, cost model and scheduler mode.\n" },
	{ "stats", cmd_stats, "[--prometheus]", "Show counters (or Prometheus text)",
	  0, 0, NULL },
	{ "sessions", cmd_sessions, "", "List attached client sessions", 0, 0,
	  "sessions [--json]\n\n"
	  "List the client sessions attached to the daemon: process, user, client name,\n"
	  "the pins it holds, the blocks it is writing and the blocks its TTL\n"
	  "retentions keep.\n" },
	{ "namespaces", cmd_namespaces, "", "List registered model layouts", 0, 0,
	  "namespaces [--json]\n\n"
	  "List the registered namespaces (model layouts) with their cached and pinned\n"
	  "blocks.\n" },
	{ "policy", cmd_policy, "[NAME]", "Show or switch the eviction policy", 0, 1,
	  "policy [--json] [NAME]\n\n"
	  "Without NAME, show the active eviction policy and the available ones.\n"
	  "With NAME, switch the running daemon to it (root or asymcache-admin).\n"
	  "Switching keeps every cached block and every pin; only the order of\n"
	  "future evictions changes.\n" },
	{ "flush", cmd_flush, "NS", "Evict every unpinned block of a namespace", 1, 1,
	  "flush [--json] NS\n\n"
	  "Evict every unpinned cached block of namespace NS (its numeric id, or its\n"
	  "model id when only one layout has it). Pinned blocks stay: a client is\n"
	  "using them. Root or asymcache-admin only.\n" },
	{ "unregister", cmd_unregister, "NS", "End a namespace for every client", 1, 1,
	  "unregister [--json] NS\n\n"
	  "End namespace NS (its numeric id, or its model id when only one layout has\n"
	  "it): its id is refused from now on, its unpinned blocks are freed now and\n"
	  "its pinned ones as their last pin goes. A client registering the layout\n"
	  "again gets a new, empty namespace. Root or asymcache-admin only.\n" },
	{ "evict", cmd_evict, "[--pool=P] N", "Evict up to N unpinned blocks through the policy",
	  0, 0, NULL },
	{ "reload", cmd_reload, "", "Re-read the config file", 0, 0,
	  "reload [--json]\n\n"
	  "Make the daemon re-read its config file and apply what can change while it\n"
	  "runs (policy, limits, log level). A changed value that needs a restart\n"
	  "(pool size, backend, socket path, ...) refuses the whole reload: nothing is\n"
	  "applied and the exit status is 6. An invalid file exits with 7.\n"
	  "Root or asymcache-admin only.\n" },
	{ "top", cmd_top, "[--interval=SECS]", "Live view, refreshed in the terminal",
	  0, 0, NULL },
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

int ctl_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("asymcachectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'asymcachectl %s%s--help' for more information.\n",
		cmd ? cmd : "", cmd ? " " : "");
	return CTL_EXIT_USAGE;
}

int ctl_bad_option(const char *cmd, const struct option *opts, char **argv, int o)
{
	const char *arg = argv[optind - 1];
	size_t i, n;

	if (o == ':')
		return ctl_usage_error(cmd, "option %s needs an argument", arg);
	if (optopt == 0)
		return ctl_usage_error(cmd, "unknown option %s", arg);
	/* "--json=1": getopt names the option by its short letter. */
	for (i = 0; opts[i].name; i++) {
		n = strlen(opts[i].name);
		if (opts[i].val == optopt && opts[i].has_arg == no_argument &&
		    strncmp(arg, "--", 2) == 0 && strncmp(arg + 2, opts[i].name, n) == 0 &&
		    arg[2 + n] == '=')
			return ctl_usage_error(cmd, "option --%s takes no argument",
					       opts[i].name);
	}
	return ctl_usage_error(cmd, "unknown option -%c", optopt);
}

/* --help and --json, then the operand count, for a command with usage set. */
static int common_options(struct ctl *c, const struct ctl_cmd *cmd, int argc,
			  char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{}
	};
	int o, n;

	while ((o = getopt_long(argc, argv, ":hj", opts, NULL)) >= 0) {
		if (o == 'h')
			return ctl_help_or_usage(cmd->name, cmd->usage, true);
		if (o != 'j')
			return ctl_bad_option(cmd->name, opts, argv, o);
		c->json = true;
	}
	n = argc - optind;
	if (n > cmd->max_args)
		return ctl_usage_error(cmd->name, "unexpected argument '%s'",
				       argv[optind + cmd->max_args]);
	if (n < cmd->min_args)
		return ctl_usage_error(cmd->name, "%s needs %s", cmd->name, cmd->args);
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

	/*
	 * '+': stop at the command name, its options are its own. ':': tell
	 * a missing argument from an unknown option; getopt prints nothing.
	 */
	opterr = 0;
	while ((o = getopt_long(argc, argv, "+:hVjA:", opts, NULL)) >= 0) {
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
			return ctl_bad_option(NULL, opts, argv, o);
		}
	}
	if (optind >= argc)
		return ctl_usage_error(NULL, "missing command");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) != 0)
			continue;
		argc -= optind;
		argv += optind;
		optind = 0;	/* glibc: full rescan for the command's options */
		r = -1;
		if (commands[i].usage)
			r = common_options(&c, &commands[i], argc, argv);
		if (r < 0)
			r = commands[i].run(&c, argc, argv);
		sd_bus_flush_close_unref(c.bus);
		return r;
	}
	return ctl_usage_error(NULL, "unknown command '%s'", argv[optind]);
}

int main(int argc, char **argv)
{
	return run(argc, argv);
}
