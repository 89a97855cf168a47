/* SPDX-License-Identifier: MIT */
#include "ctl.h"

int cmd_sessions(struct ctl *c, int argc, char **argv)
{
	struct ctl_session *s = NULL;
	size_t n = 0;
	int r;

	r = ctl_sessions_fetch(c, &s, &n);
	if (r != CTL_EXIT_OK)
		return r;
	if (c->json) {
		_cleanup_json_ json_object *j = ctl_sessions_json(s, n);

		ctl_print_json(j);
	} else {
		ctl_print_sessions(s, n, stdout);
		printf("\n%zu session%s.\n", n, n == 1 ? "" : "s");
	}
	ctl_sessions_free(s, n);
	return CTL_EXIT_OK;
}
