/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>

#include "ac_config.h"
#include "bus.h"
#include "config.h"
#include "daemon.h"
#include "lifecycle.h"
#include "log.h"
#include "metrics_http.h"
#include "watchdog.h"

/* As asymcachectl and the LSB: the command line was wrong. */
#define EXIT_USAGE 2

static int run(int argc, char **argv)
{
	static struct daemon d;
	struct bus *bus = NULL;
	struct metrics_http *mh = NULL;
	char err[CFG_ERR_MAX] = "";
	enum cfg_action action;
	int r;

	log_open();
	r = cfg_from_cmdline(&d.cfg, argc, argv, &action, err, sizeof(err));
	if (r < 0 && action == CFG_ACTION_USAGE) {
		/* A person typed this: no log prefix, a pointer to --help. */
		fprintf(stderr, "asymcached: %s\nTry 'asymcached --help' for more information.\n",
			err);
		return EXIT_USAGE;
	}
	if (r < 0) {
		log_error("%s", err);
		return EXIT_FAILURE;
	}
	if (action == CFG_ACTION_HELP) {
		cfg_print_help(argv[0]);
		return EXIT_SUCCESS;
	}
	if (action == CFG_ACTION_VERSION) {
		printf("asymcached %s (protocol %u, block layout %u)\n",
		       AC_VERSION, AC_PROTOCOL_VERSION, AC_LAYOUT_VERSION);
		return EXIT_SUCCESS;
	}
	d.argc = argc;
	d.argv = argv;
	r = daemon_start(&d);
	if (r < 0)
		return EXIT_FAILURE;
	/* Before daemon_run(): its READY=1 then covers the admin interface. */
	if (bus_open(&d, &bus) < 0 || watchdog_start(&d) < 0 ||
	    metrics_http_start(&d, &mh) < 0) {
		bus_close(bus);
		daemon_stop(&d);
		return EXIT_FAILURE;
	}
	r = daemon_run(&d);
	metrics_http_stop(&d, mh);
	bus_close(bus);
	log_info("exiting: %d", r);
	daemon_stop(&d);
	return r ? EXIT_FAILURE : EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	return run(argc, argv);
}
