/* SPDX-License-Identifier: MIT */
#include <getopt.h>

#include "ctl.h"

int cmd_evict(struct ctl *c, int argc, char **argv)
{
	_cleanup_msg_ sd_bus_message *reply = NULL;
	uint32_t want, evicted;
	int r;

	if (parse_u32(argv[optind], &want) < 0 || want == 0) {
		fprintf(stderr, "asymcachectl: N must be a block count from 1 to 4294967295, "
			"not '%s'\n", argv[optind]);
		return CTL_EXIT_USAGE;
	}
	r = ctl_call(c, "EvictBlocks", &reply, "evict blocks", "u", want);
	if (r != CTL_EXIT_OK)
		return r;
	r = sd_bus_message_read(reply, "u", &evicted);
	if (r < 0)
		return ctl_fail(NULL, r, "parse the reply");
	if (c->json) {
		_cleanup_json_ json_object *j = json_object_new_object();

		json_object_object_add(j, "requested", json_object_new_uint64(want));
		json_object_object_add(j, "evicted", json_object_new_uint64(evicted));
		ctl_print_json(j);
	} else {
		printf("Evicted %u of %u requested block%s.\n", evicted, want,
		       want == 1 ? "" : "s");
	}
	return CTL_EXIT_OK;
}
