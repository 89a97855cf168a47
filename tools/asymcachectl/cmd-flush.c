/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <string.h>

#include "ctl.h"

/* A number is an id; anything else must name exactly one model. */
static int resolve_ns(struct ctl *c, const char *arg, uint32_t *ret_id)
{
	struct ctl_namespace *ns = NULL;
	size_t n = 0, i, found = 0;
	int r;

	if (parse_u32(arg, ret_id) == 0)
		return CTL_EXIT_OK;
	r = ctl_namespaces_fetch(c, &ns, &n);
	if (r != CTL_EXIT_OK)
		return r;
	for (i = 0; i < n; i++)
		if (strcmp(ns[i].model, arg) == 0) {
			*ret_id = ns[i].id;
			found++;
		}
	ctl_namespaces_free(ns, n);
	if (found == 1)
		return CTL_EXIT_OK;
	if (found == 0) {
		fprintf(stderr, "asymcachectl: no namespace has model id '%s'\n", arg);
		return CTL_EXIT_NOT_FOUND;
	}
	fprintf(stderr, "asymcachectl: %zu namespaces have model id '%s'; give the numeric id "
		"(see asymcachectl namespaces)\n", found, arg);
	return CTL_EXIT_USAGE;
}

/* FlushNamespace or UnregisterNamespace of @argv's NS: both answer "uu". */
static int ns_method(struct ctl *c, char **argv, const char *method,
		     const char *what, const char *done)
{
	_cleanup_msg_ sd_bus_message *reply = NULL;
	uint32_t id, evicted, kept;
	int r;

	r = resolve_ns(c, argv[optind], &id);
	if (r != CTL_EXIT_OK)
		return r;
	r = ctl_call(c, method, &reply, what, "u", id);
	if (r != CTL_EXIT_OK)
		return r;
	r = sd_bus_message_read(reply, "uu", &evicted, &kept);
	if (r < 0)
		return ctl_fail(NULL, r, "parse the reply");
	if (c->json) {
		_cleanup_json_ json_object *j = json_object_new_object();

		json_object_object_add(j, "namespace", json_object_new_uint64(id));
		json_object_object_add(j, "evicted", json_object_new_uint64(evicted));
		json_object_object_add(j, "pinned_kept", json_object_new_uint64(kept));
		ctl_print_json(j);
	} else {
		printf("Namespace %u%s: evicted %u block%s, kept %u pinned.\n", id, done,
		       evicted, evicted == 1 ? "" : "s", kept);
	}
	return CTL_EXIT_OK;
}

int cmd_unregister(struct ctl *c, int argc, char **argv)
{
	return ns_method(c, argv, "UnregisterNamespace", "unregister the namespace",
			 " unregistered");
}

int cmd_flush(struct ctl *c, int argc, char **argv)
{
	return ns_method(c, argv, "FlushNamespace", "flush the namespace", "");
}
