/* SPDX-License-Identifier: MIT */
#include "ctl.h"

int cmd_status(struct ctl *c, int argc, char **argv)
{
	_cleanup_table_ struct table *t = NULL;
	struct ctl_snapshot s;
	char a[CTL_FMT_MAX], b[CTL_FMT_MAX];
	uint64_t block_bytes = 0;
	int r;

	r = ctl_snapshot_fetch(c, &s);
	if (r != CTL_EXIT_OK)
		return r;
	if (c->json) {
		_cleanup_json_ json_object *j = ctl_snapshot_json(&s);

		ctl_print_json(j);
		ctl_snapshot_clear(&s);
		return CTL_EXIT_OK;
	}
	if (s.npools > 0)
		block_bytes = s.pools[0].block_bytes;

	printf("asymcached %s, up %s\n", s.version, fmt_duration(a, s.uptime_usec));
	printf("Policy:     %s\n", s.policy);
	if (s.cost_file)
		printf("Cost file:  %s\n", *s.cost_file ? s.cost_file :
		       "none (built-in model)");
	if (s.scheduler_mode)
		printf("Scheduler:  %s\n", s.scheduler_mode);
	printf("Sessions:   %u\n", s.sessions);
	printf("Namespaces: %u\n", s.namespaces);
	printf("Hit rate:   %s (%s of %s keys)\n\n",
	       fmt_pct(a, (double)s.lookup_hits, (double)s.lookup_keys),
	       fmt_u64(b, s.lookup_hits), fmt_u64((char[CTL_FMT_MAX]){ 0 }, s.lookup_keys));
	ctl_print_pools(&s, stdout);
	putchar('\n');

	t = table_new(4, "STATE", ">BLOCKS", ">SHARE", ">BYTES");
	if (!t)
		goto out;
#define STATE_ROW(label, n) \
	table_row(t, label, fmt_u64(a, n), fmt_pct(b, (double)(n), (double)s.nblocks), \
		  fmt_bytes((char[CTL_FMT_MAX]){ 0 }, (uint64_t)(n) * block_bytes))
	STATE_ROW("free", s.free_blocks);
	STATE_ROW("writing", s.writing_blocks);
	STATE_ROW("cached", s.cached_blocks);
	STATE_ROW("  pinned", s.pinned_blocks);
	STATE_ROW("  retained", s.retained_blocks);
	STATE_ROW("total", s.nblocks);
#undef STATE_ROW
	table_print(t, stdout);
out:
	ctl_snapshot_clear(&s);
	return CTL_EXIT_OK;
}
