/* SPDX-License-Identifier: MIT */
/*
 * One line of key=value pairs per run; scripts/demo.sh collects one per
 * policy and hands the file to --compare. A flat line rather than JSON so
 * that a shell user can read and grep it; costs= is last and runs to the end
 * of the line because the cost file's description has spaces.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"

#define SUM_FIELD(name) { #name, offsetof(struct demo_summary, name) }
static const struct {
	const char *name;
	size_t off;
} sum_fields[] = {
	SUM_FIELD(requests), SUM_FIELD(clients), SUM_FIELD(lockstep),
	SUM_FIELD(block_tokens),
	SUM_FIELD(blocks), SUM_FIELD(hits), SUM_FIELD(hole_blocks),
	SUM_FIELD(hole_runs), SUM_FIELD(tail_blocks), SUM_FIELD(prefix_blocks),
	SUM_FIELD(msa_ns), SUM_FIELD(prefix_ns), SUM_FIELD(evictions),
	SUM_FIELD(dedups), SUM_FIELD(corrupt), SUM_FIELD(enospc),
	SUM_FIELD(errors), SUM_FIELD(ms),
};
#define NSUM_FIELDS (sizeof(sum_fields) / sizeof(sum_fields[0]))

int demo_summary_write(const struct demo *d, const struct ac_stats *st,
		       double secs)
{
	const struct demo_counters *c = &d->sh->total;
	const struct demo_opts *o = &d->o;
	FILE *f = fopen(o->summary, "a");
	int r = 0;

	if (!f)
		return -errno;
	fprintf(f, "policy=%s requests=%" PRIu64 " clients=%u lockstep=%d"
		" block_tokens=%u"
		" blocks=%" PRIu64 " hits=%" PRIu64 " hole_blocks=%" PRIu64
		" hole_runs=%" PRIu64 " tail_blocks=%" PRIu64
		" prefix_blocks=%" PRIu64 " msa_ns=%" PRIu64
		" prefix_ns=%" PRIu64 " evictions=%" PRIu64 " dedups=%" PRIu64
		" corrupt=%" PRIu64 " enospc=%" PRIu64 " errors=%" PRIu64
		" ms=%.0f costs=%s\n",
		st->policy[0] ? st->policy : "unknown",
		(uint64_t)c->requests, o->clients, o->lockstep, o->block_tokens,
		(uint64_t)c->prompt_blocks, (uint64_t)c->hit_blocks,
		(uint64_t)c->hole_blocks, (uint64_t)c->hole_runs,
		(uint64_t)c->tail_blocks, (uint64_t)c->prefix_blocks,
		(uint64_t)c->msa_ns, (uint64_t)c->prefix_ns, st->evictions,
		(uint64_t)c->dedups, (uint64_t)c->corrupt,
		(uint64_t)c->enospc, (uint64_t)c->errors, secs * 1e3,
		d->cost_desc);
	if (ferror(f))
		r = -EIO;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

int demo_parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Parse one summary line (newline stripped); -EINVAL names the culprit. */
int demo_summary_parse(char *line, struct demo_summary *ret, const char **why)
{
	struct demo_summary sm = { 0 };
	bool seen[NSUM_FIELDS] = { false };
	char *tok = line, *next;
	size_t i;

	*why = "empty line";
	while (tok && *tok) {
		char *eq;

		if (!strncmp(tok, "costs=", 6)) {
			/* The rest of the line, spaces and all. */
			snprintf(sm.costs, sizeof(sm.costs), "%s", tok + 6);
			break;
		}
		next = strchr(tok, ' ');
		if (next)
			*next++ = '\0';
		eq = strchr(tok, '=');
		if (!eq) {
			*why = "a field without '='";
			return -EINVAL;
		}
		*eq = '\0';
		if (!strcmp(tok, "policy")) {
			size_t n = strlen(eq + 1);

			if (!n || n >= sizeof(sm.policy)) {
				*why = "policy name empty or too long";
				return -EINVAL;
			}
			memcpy(sm.policy, eq + 1, n + 1);
		} else {
			for (i = 0; i < NSUM_FIELDS; i++)
				if (!strcmp(tok, sum_fields[i].name))
					break;
			if (i == NSUM_FIELDS) {
				*why = "unknown field";
				return -EINVAL;
			}
			if (demo_parse_u64(eq + 1, (uint64_t *)((char *)&sm +
							sum_fields[i].off))) {
				*why = "a value that is not a decimal count";
				return -EINVAL;
			}
			seen[i] = true;
		}
		tok = next;
	}
	if (!sm.policy[0]) {
		*why = "no policy=";
		return -EINVAL;
	}
	for (i = 0; i < NSUM_FIELDS; i++) {
		if (!seen[i]) {
			*why = "a field is missing";
			return -EINVAL;
		}
	}
	/* The counters tile each prompt; anything else is not our output. */
	if (sm.hits + sm.hole_blocks + sm.tail_blocks != sm.blocks ||
	    sm.prefix_blocks > sm.blocks ||
	    sm.hole_blocks + sm.tail_blocks > sm.prefix_blocks ||
	    sm.hole_runs > sm.hole_blocks || !sm.block_tokens ||
	    sm.lockstep > 1) {
		*why = "counts that do not add up";
		return -EINVAL;
	}
	*ret = sm;
	return 0;
}
