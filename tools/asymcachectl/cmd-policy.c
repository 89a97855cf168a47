/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <string.h>

#include "ctl.h"

int cmd_policy(struct ctl *c, int argc, char **argv)
{
	_cleanup_msg_ sd_bus_message *reply = NULL;
	struct ctl_snapshot s;
	int r;
	size_t i;

	r = ctl_snapshot_fetch(c, &s);
	if (r != CTL_EXIT_OK)
		return r;
	if (optind == argc) {
		if (c->json) {
			_cleanup_json_ json_object *j = json_object_new_object();
			json_object *a = json_object_new_array();

			json_object_object_add(j, "policy", json_object_new_string(s.policy));
			for (i = 0; s.policies && s.policies[i]; i++)
				json_object_array_add(a, json_object_new_string(s.policies[i]));
			json_object_object_add(j, "policies", a);
			ctl_print_json(j);
		} else {
			for (i = 0; s.policies && s.policies[i]; i++)
				printf("%s %s\n", strcmp(s.policies[i], s.policy) ? " " : "*",
				       s.policies[i]);
		}
		goto out;
	}

	r = ctl_call(c, "SetPolicy", &reply, "switch the eviction policy", "s", argv[optind]);
	if (r != CTL_EXIT_OK)
		goto out;
	if (c->json) {
		_cleanup_json_ json_object *j = json_object_new_object();

		json_object_object_add(j, "policy", json_object_new_string(argv[optind]));
		json_object_object_add(j, "previous", json_object_new_string(s.policy));
		ctl_print_json(j);
	} else {
		printf("Policy switched from %s to %s.\n", s.policy, argv[optind]);
	}
out:
	ctl_snapshot_clear(&s);
	return r;
}
