/* SPDX-License-Identifier: MIT */
/*
 * The shared Mooncake trace reader: what it keeps of a good file, the line
 * and field it names for each kind of bad record, and the agent view.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

static int read_str(const char *text, size_t limit, struct ac_trace *t,
		    struct ac_trace_error *err)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int r;

	cr_assert_not_null(f);
	r = ac_trace_read(f, limit, t, err);
	fclose(f);
	return r;
}

/* One record, without and with its newline. */
#define REC(ts, in, out, ids) \
	"{\"timestamp\": " #ts ", \"input_length\": " #in \
	", \"output_length\": " #out ", \"hash_ids\": " ids "}"
#define REQ(ts, in, out, ids) REC(ts, in, out, ids) "\n"
/* A record with optional fields @extra. */
#define OPT(ts, extra) \
	"{\"timestamp\": " #ts ", \"input_length\": 600, \"output_length\": 5," \
	" \"hash_ids\": [0, 1], " extra "}\n"

Test(trace, keeps_every_field)
{
	static const char text[] =
		REQ(0, 600, 5, "[0, 1]")
		"\n  \r\n"			/* blank lines are not requests */
		REQ(1500, 512, 0, "[0]")
		REQ(1500, 1025, 7, "[0, 7, 4000000000]");
	struct ac_trace t;
	struct ac_trace_error err;

	cr_assert_eq(read_str(text, 0, &t, &err), 0, "%s", err.why);
	cr_assert_eq(t.n, 3);
	cr_expect_eq(t.block_tokens, 512);
	cr_expect_eq(t.max_hash, 4000000000u);
	cr_expect_float_eq(t.reqs[1].arrival_s, 1.5, 1e-12);
	cr_expect_eq(t.reqs[0].input, 600);
	cr_expect_eq(t.reqs[0].output, 5);
	cr_expect_eq(t.reqs[2].nhash, 3);
	cr_expect_eq(t.reqs[2].hash[1], 7);
	cr_expect_eq(t.reqs[2].hash[2], 4000000000u);
	cr_expect_eq(t.reqs[1].hash[0], 0);
	for (size_t i = 0; i < t.n; i++) {
		cr_expect_eq(t.reqs[i].session, i);
		cr_expect_eq(t.reqs[i].prev, AC_TRACE_NONE);
		cr_expect_eq(t.reqs[i].next, AC_TRACE_NONE);
	}
	ac_trace_free(&t);
	cr_expect_null(t.reqs);

	cr_assert_eq(read_str(text, 2, &t, NULL), 0);
	cr_expect_eq(t.n, 2, "--limit counts requests, not lines");
	ac_trace_free(&t);
}

Test(trace, names_the_line_and_field_of_a_bad_record)
{
	static const struct {
		const char *line;
		const char *why;
	} bad[] = {
		{ "not json\n", "not JSON" },
		{ "[1, 2]\n", "not a JSON object" },
		{ "{\"timestamp\": 1000, \"input_length\": 600,\n", "JSON ends" },
		{ "{\"input_length\": 600, \"output_length\": 5,"
		  " \"hash_ids\": [0, 1]}\n", "timestamp: missing" },
		{ REQ("1000", 600, 5, "[0, 1]"), "timestamp: not an integer" },
		{ REQ(-1, 600, 5, "[0, 1]"), "timestamp: -1 is not in" },
		{ REQ(1000, 600.5, 5, "[0, 1]"), "input_length: not an integer" },
		{ "{\"timestamp\": 1000, \"input_length\": 600,"
		  " \"hash_ids\": [0, 1]}\n", "output_length: missing" },
		{ REQ(1000, 0, 5, "[]"), "input_length: 0" },
		{ REQ(1000, 600, 5, "7"), "hash_ids: not an array" },
		{ REQ(1000, 600, 5, "[0]"), "hash_ids: 1 ids for input_length 600, want 2" },
		{ REQ(1000, 600, 5, "[0, 1, 2]"), "hash_ids: 3 ids" },
		{ REQ(1000, 600, 5, "[0, \"1\"]"), "hash_ids[1]: not an integer" },
		{ REQ(1000, 600, 5, "[4294967295, 1]"), "hash_ids[0]: 4294967295 is not in" },
		{ REQ(1000, 600, 5, "[0, -3]"), "hash_ids[1]: -3 is not in" },
		{ REC(1000, 600, 5, "[0, 1]") " {}\n", "text after the JSON object" },
		{ REQ(999, 600, 5, "[0, 1]"), "timestamp: 999 is earlier than 1000 on line 3" },
		/* The optional fields of generated workloads. */
		{ OPT(1000, "\"namespace\": -2"), "namespace: -2 is not in" },
		{ OPT(1000, "\"program\": \"a\""), "program: not an integer" },
		{ OPT(1000, "\"program\": 4294967295"), "program: 4294967295 is reserved" },
		{ OPT(1000, "\"turn\": 1.5"), "turn: not an integer" },
		{ OPT(1000, "\"tool_ms\": \"5\""), "tool_ms: not a number" },
		{ OPT(1000, "\"tool_ms\": -1"), "tool_ms: -1 is not a duration" },
		{ OPT(1000, "\"tool_expect_ms\": null"), "tool_expect_ms: not a number" },
	};
	char text[1024], want[96];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ac_trace t = { .n = 12345 };
		struct ac_trace_error err;
		int r;

		/* Two good lines and a blank one first: the count must hold. */
		snprintf(text, sizeof(text), "%s\n%s%s%s", REQ(0, 100, 1, "[9]"),
			 REQ(1000, 100, 1, "[8]"), bad[i].line,
			 REQ(2000, 100, 1, "[7]"));
		r = read_str(text, 0, &t, &err);
		cr_expect_eq(r, -EINVAL, "case %zu: %d", i, r);
		cr_expect_eq(err.line, 4, "case %zu: line %zu", i, err.line);
		snprintf(want, sizeof(want), "line 4: %s", bad[i].why);
		cr_expect(!strncmp(err.why, want, strlen(want)),
			  "case %zu: '%s', want '%s...'", i, err.why, want);
		cr_expect_eq(t.n, 12345, "case %zu: *ret changed on failure", i);
		/* Past the limit the bad line is never read. */
		cr_expect_eq(read_str(text, 2, &t, &err), 0, "case %zu", i);
		cr_expect_eq(t.n, 2);
		ac_trace_free(&t);
	}
}

Test(trace, empty_and_missing_files)
{
	struct ac_trace t = { .n = 7 };
	struct ac_trace_error err;

	cr_expect_eq(read_str("\n\n", 0, &t, &err), -ENODATA);
	cr_expect_eq(err.line, 0);
	cr_expect_str_eq(err.why, "no requests");
	cr_expect_eq(read_str("", 0, &t, NULL), -ENODATA);
	cr_expect_eq(ac_trace_load("/nonexistent/trace.jsonl", 0, &t, &err),
		     -ENOENT);
	cr_expect_eq(err.line, 0);
	cr_expect_neq(err.why[0], '\0', "no reason given");
	cr_expect_eq(t.n, 7);
}

/* The copy in data/traces: every request read, as its README counts them. */
Test(trace, reads_the_whole_mooncake_trace)
{
	const char *root = getenv("AC_SOURCE_ROOT");
	char path[4096];
	struct ac_trace t;
	struct ac_trace_error err;
	uint64_t refs = 0, distinct = 0;
	uint8_t *seen;

	cr_assert_not_null(root, "run through meson test");
	snprintf(path, sizeof(path), "%s/data/traces/conversation_trace.jsonl",
		 root);
	cr_assert_eq(ac_trace_load(path, 0, &t, &err), 0, "%s: %s", path,
		     err.why);
	cr_expect_eq(t.n, 12031);
	seen = calloc((size_t)t.max_hash + 1, 1);
	cr_assert_not_null(seen);
	for (size_t i = 0; i < t.n; i++) {
		refs += t.reqs[i].nhash;
		for (uint32_t k = 0; k < t.reqs[i].nhash; k++) {
			uint32_t h = t.reqs[i].hash[k];

			distinct += !seen[h];
			seen[h] = 1;
		}
		if (i)
			cr_assert_geq(t.reqs[i].arrival_s, t.reqs[i - 1].arrival_s);
	}
	cr_expect_eq(refs, 288500);
	cr_expect_eq(distinct, 182790);
	free(seen);
	ac_trace_free(&t);
}

Test(trace, links_the_turns_of_a_conversation)
{
	static const char text[] =
		REQ(0, 1500, 1, "[0, 1, 2]")
		REQ(1, 2000, 1, "[0, 1, 2, 3]")		/* continues 0 */
		REQ(2, 1500, 1, "[0, 5, 6]")		/* shares only id 0 */
		REQ(3, 2500, 1, "[0, 1, 2, 3, 4]")	/* continues 1 */
		REQ(4, 2000, 1, "[0, 1, 2, 9]");	/* 3 holds id 2 now, and is longer */
	struct ac_trace t;

	cr_assert_eq(read_str(text, 0, &t, NULL), 0);
	cr_assert_eq(ac_trace_link_turns(&t), 0);
	cr_expect_eq(t.reqs[0].next, 1);
	cr_expect_eq(t.reqs[1].prev, 0);
	cr_expect_eq(t.reqs[1].next, 3);
	cr_expect_eq(t.reqs[3].prev, 1);
	cr_expect_eq(t.reqs[3].session, 0);
	cr_expect_eq(t.reqs[2].prev, AC_TRACE_NONE);
	cr_expect_eq(t.reqs[2].session, 2);
	cr_expect_eq(t.reqs[4].prev, AC_TRACE_NONE);
	cr_expect_eq(t.reqs[4].session, 4);
	ac_trace_free(&t);
}

Test(trace, reads_the_optional_fields_and_links_programs)
{
	static const char text[] =
		OPT(0, "\"namespace\": 3, \"program\": 70, \"turn\": 0, \"tool_ms\": 2500, \"tool_expect_ms\": 2000.5")
		REQ(10, 600, 5, "[5, 6]")
		OPT(20, "\"program\": 9, \"turn\": 0, \"tool_ms\": 100")
		OPT(30, "\"program\": 70, \"turn\": 1")
		OPT(40, "\"program\": 9, \"turn\": 1");
	static const char gap[] =
		OPT(0, "\"program\": 4, \"turn\": 0")
		OPT(10, "\"program\": 4, \"turn\": 2");
	struct ac_trace t;
	struct ac_trace_error err;

	cr_assert_eq(read_str(text, 0, &t, &err), 0, "%s", err.why);
	cr_expect_eq(t.nprogram, 4);
	cr_expect_eq(t.reqs[0].ns, 3);
	cr_expect_eq(t.reqs[1].ns, 0);
	cr_expect_eq(t.reqs[0].program, 70);
	cr_expect_eq(t.reqs[1].program, AC_TRACE_NONE);
	cr_expect_float_eq(t.reqs[0].tool_s, 2.5, 1e-12);
	cr_expect_float_eq(t.reqs[0].tool_expect_s, 2.0005, 1e-12);
	cr_expect_lt(t.reqs[1].tool_s, 0);
	cr_expect_lt(t.reqs[3].tool_expect_s, 0);
	cr_assert_eq(ac_trace_link_programs(&t, &err), 0);
	cr_expect_eq(t.reqs[0].next, 3);
	cr_expect_eq(t.reqs[3].prev, 0);
	cr_expect_eq(t.reqs[3].session, 0);
	cr_expect_eq(t.reqs[2].next, 4);
	cr_expect_eq(t.reqs[4].session, 2);
	cr_expect_eq(t.reqs[1].prev, AC_TRACE_NONE);
	cr_expect_eq(t.reqs[1].next, AC_TRACE_NONE);
	cr_expect_eq(t.reqs[1].session, 1);
	ac_trace_free(&t);

	/* A missing turn is refused, and nothing is linked. */
	cr_assert_eq(read_str(gap, 0, &t, &err), 0, "%s", err.why);
	cr_assert_eq(ac_trace_link_programs(&t, &err), -EINVAL);
	cr_expect_str_eq(err.why, "record 2: turn 2 of program 4, want 1");
	cr_expect_eq(t.reqs[0].next, AC_TRACE_NONE);
	ac_trace_free(&t);
}

/* Literal prompts: ids derived per 512-token prefix, equal prefixes equal. */
Test(trace, derives_block_ids_from_literal_tokens)
{
	char *text, *p;
	struct ac_trace t;
	struct ac_trace_error err;
	size_t cap = 64 * 1024;

	text = p = malloc(cap);
	cr_assert_not_null(text);
	/* 0: 600 tokens; 1: the same first 512 then others; 2: all of 0. */
	for (int r = 0; r < 3; r++) {
		uint32_t n = r == 1 ? 700 : 600;

		p += sprintf(p, "{\"timestamp\": %d, \"output_length\": 2, \"tokens\": [",
			     r);
		for (uint32_t i = 0; i < n; i++)
			p += sprintf(p, "%s%u", i ? "," : "",
				     r == 1 && i >= 512 ? 9 : i % 50);
		p += sprintf(p, "]}\n");
	}
	cr_assert_eq(read_str(text, 0, &t, &err), 0, "%s", err.why);
	cr_assert_eq(t.n, 3);
	cr_expect_eq(t.reqs[0].input, 600);
	cr_expect_eq(t.reqs[1].input, 700);
	cr_assert_eq(t.reqs[0].nhash, 2);
	cr_assert_not_null(t.reqs[1].tokens);
	cr_expect_eq(t.reqs[1].tokens[600], 9);
	cr_expect_eq(t.reqs[2].tokens[599], 599 % 50);
	cr_expect_eq(t.reqs[0].hash[0], t.reqs[1].hash[0]);
	cr_expect_neq(t.reqs[0].hash[1], t.reqs[1].hash[1]);
	cr_expect_eq(t.reqs[0].hash[1], t.reqs[2].hash[1]);
	cr_expect_eq(t.max_hash, 2);
	ac_trace_free(&t);
	free(text);
}

Test(trace, refuses_bad_literal_tokens)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "{\"timestamp\": 0, \"output_length\": 1, \"tokens\": []}\n",
		  "line 1: tokens: 0 ids" },
		{ "{\"timestamp\": 0, \"output_length\": 1, \"tokens\": [1, \"x\"]}\n",
		  "line 1: tokens[1]: not an integer" },
		{ "{\"timestamp\": 0, \"output_length\": 1, \"tokens\": [1, -2]}\n",
		  "line 1: tokens[1]: -2 is not in 0.." },
		{ "{\"timestamp\": 0, \"input_length\": 3, \"output_length\": 1, \"tokens\": [1, 2]}\n",
		  "line 1: tokens: 2 ids for input_length 3" },
		{ REQ(0, 5, 1, "[0]")
		  "{\"timestamp\": 1, \"output_length\": 1, \"tokens\": [1, 2]}\n",
		  "line 2: hash_ids: missing (earlier" },
		{ "{\"timestamp\": 0, \"output_length\": 1, \"tokens\": [1, 2]}\n"
		  REQ(1, 5, 1, "[0]"),
		  "line 2: hash_ids: given, but earlier" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ac_trace t = { 0 };
		struct ac_trace_error err;

		cr_expect_eq(read_str(bad[i].text, 0, &t, &err), -EINVAL,
			     "case %zu", i);
		cr_expect(!strncmp(err.why, bad[i].why, strlen(bad[i].why)),
			  "case %zu: '%s'", i, err.why);
		cr_expect_null(t.reqs);
	}
}

/* Sparse ids: one near 2^32 links like any other, with no table that size. */
Test(trace, links_turns_with_ids_near_the_top)
{
	static const char text[] =
		REQ(0, 1536, 1, "[4000000000, 7, 4294967290]")
		REQ(5, 2048, 1, "[4000000000, 7, 4294967290, 12]");
	struct ac_trace t;
	struct ac_trace_error err;

	cr_assert_eq(read_str(text, 0, &t, &err), 0, "%s", err.why);
	cr_assert_eq(ac_trace_link_turns(&t), 0);
	cr_expect_eq(t.reqs[0].next, 1);
	cr_expect_eq(t.reqs[1].prev, 0);
	cr_expect_eq(t.reqs[1].session, 0);
	ac_trace_free(&t);
}
