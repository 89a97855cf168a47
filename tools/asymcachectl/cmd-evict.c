/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>

#include "ctl.h"

static const char evict_usage[] =
	"evict [--json] [--pool=P] N\n\n"
	"Evict up to N unpinned cached blocks, chosen by the active policy, as if\n"
	"the pool needed N free blocks. Fewer are evicted when fewer are unpinned.\n"
	"--pool names the pool (0, the default, is [pool]; 1..7 are [pool.N]).\n"
	"Root or asymcache-admin only.\n";

int cmd_evict(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "pool", required_argument, NULL, 'p' },
		{}
	};
	_cleanup_msg_ sd_bus_message *reply = NULL;
	uint32_t want, evicted, pool = 0;
	char path[64];
	int o, r;

	while ((o = getopt_long(argc, argv, ":hjp:", opts, NULL)) >= 0) {
		switch (o) {
		case 'j':
			c->json = true;
			break;
		case 'p':
			if (parse_u32(optarg, &pool) < 0)
				return ctl_usage_error("evict", "--pool wants a pool number, not '%s'",
						       optarg);
			break;
		case 'h':
			return ctl_help_or_usage("evict", evict_usage, true);
		default:
			return ctl_bad_option("evict", opts, argv, o);
		}
	}
	if (optind == argc)
		return ctl_usage_error("evict", "evict needs N");
	if (optind + 1 != argc)
		return ctl_usage_error("evict", "unexpected argument '%s'",
				       argv[optind + 1]);
	if (parse_u32(argv[optind], &want) < 0 || want == 0) {
		fprintf(stderr, "asymcachectl: N must be a block count from 1 to 4294967295, "
			"not '%s'\n", argv[optind]);
		return CTL_EXIT_USAGE;
	}
	/* Pool 0 through the daemon's object, as before pools had their own. */
	if (pool == 0) {
		r = ctl_call(c, "EvictBlocks", &reply, "evict blocks", "u", want);
	} else {
		snprintf(path, sizeof(path), AC_BUS_POOL_PATH "/%u", pool);
		r = ctl_call_at(c, path, AC_BUS_POOL_INTERFACE, "EvictBlocks", &reply,
				"evict blocks (is there such a pool?)", "u", want);
	}
	if (r != CTL_EXIT_OK)
		return r;
	r = sd_bus_message_read(reply, "u", &evicted);
	if (r < 0)
		return ctl_fail(NULL, r, "parse the reply");
	if (c->json) {
		_cleanup_json_ json_object *j = json_object_new_object();

		json_object_object_add(j, "pool", json_object_new_uint64(pool));
		json_object_object_add(j, "requested", json_object_new_uint64(want));
		json_object_object_add(j, "evicted", json_object_new_uint64(evicted));
		ctl_print_json(j);
	} else if (pool) {
		printf("Evicted %u of %u requested block%s in pool %u.\n", evicted,
		       want, want == 1 ? "" : "s", pool);
	} else {
		printf("Evicted %u of %u requested block%s.\n", evicted, want,
		       want == 1 ? "" : "s");
	}
	return CTL_EXIT_OK;
}
