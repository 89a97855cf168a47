/* SPDX-License-Identifier: MIT */
#include "ctl.h"

int cmd_reload(struct ctl *c, int argc, char **argv)
{
	_cleanup_msg_ sd_bus_message *reply = NULL;
	_cleanup_json_ json_object *j = NULL;
	json_object *changed = NULL;
	const char *key;
	unsigned int n = 0;
	int r;

	r = ctl_call(c, "ReloadConfig", &reply, "reload the configuration", NULL);
	if (r != CTL_EXIT_OK)
		return r;
	j = json_object_new_object();
	changed = json_object_new_array();
	json_object_object_add(j, "changed", changed);
	r = sd_bus_message_enter_container(reply, 'a', "s");
	if (r < 0)
		return ctl_fail(NULL, r, "parse the reply");
	while ((r = sd_bus_message_read(reply, "s", &key)) > 0) {
		json_object_array_add(changed, json_object_new_string(key));
		if (!c->json)
			printf("%s%s", n ? ", " : "Reloaded; changed: ", key);
		n++;
	}
	if (r < 0)
		return ctl_fail(NULL, r, "parse the reply");
	if (c->json)
		ctl_print_json(j);
	else
		puts(n ? "." : "Reloaded; nothing changed.");
	return CTL_EXIT_OK;
}
