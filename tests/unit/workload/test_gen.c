/* SPDX-License-Identifier: MIT */
/*
 * The workload generators: the same seed writes the same bytes, the files
 * read back through workload/'s reader, and each mix has the shape
 * docs/workloads.md promises.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace.h"
#include "wl.h"

enum gen { RAG, TENANTS, AGENT };

/* Generate into memory; *ret_len bytes, malloc()ed. */
static char *gen_text(enum gen g, uint64_t seed, size_t *ret_len)
{
	struct wl_trace t;
	struct wl_rag_config rc;
	struct wl_tenants_config tc;
	struct wl_agent_config ac;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	wl_trace_init(&t);
	if (g == RAG) {
		wl_rag_default(&rc);
		rc.seed = seed;
		rc.requests = 600;
		cr_assert_eq(wl_rag(&rc, &t), 0);
	} else if (g == TENANTS) {
		wl_tenants_default(&tc);
		tc.mix.seed = seed;
		tc.mix.requests = 600;
		cr_assert_eq(wl_tenants(&tc, &t), 0);
	} else {
		wl_agent_default(&ac);
		ac.seed = seed;
		ac.programs = 40;
		cr_assert_eq(wl_agent(&ac, &t), 0);
	}
	cr_assert_eq(wl_trace_write(&t, f), 0);
	wl_trace_free(&t);
	fclose(f);
	*ret_len = len;
	return buf;
}

static void read_back(const char *text, size_t len, struct ac_trace *t)
{
	FILE *f = fmemopen((void *)text, len, "r");
	struct ac_trace_error err;

	cr_assert_not_null(f);
	cr_assert_eq(ac_trace_read(f, 0, t, &err), 0, "%s", err.why);
	fclose(f);
}

Test(workload_gen, same_seed_same_bytes_other_seed_other_trace)
{
	for (int g = RAG; g <= AGENT; g++) {
		size_t la, lb, lc;
		char *a = gen_text(g, 7, &la), *b = gen_text(g, 7, &lb);
		char *c = gen_text(g, 8, &lc);

		cr_assert_eq(la, lb, "generator %d", g);
		cr_assert_eq(memcmp(a, b, la), 0, "generator %d", g);
		cr_assert(la != lc || memcmp(a, c, la), "generator %d", g);
		free(a);
		free(b);
		free(c);
	}
}

Test(workload_gen, rag_mix_documents_zipf_scans_chats)
{
	struct ac_trace t;
	size_t len, longs = 0, over = 0;
	char *text = gen_text(RAG, 3, &len);
	uint32_t *count;
	uint32_t first_doc_block, best = 0, tenth;

	read_back(text, len, &t);
	free(text);
	cr_assert_eq(t.n, 600);
	cr_assert_eq(t.nprogram, 0);
	for (size_t i = 1; i < t.n; i++)
		cr_assert_geq(t.reqs[i].arrival_s, t.reqs[i - 1].arrival_s);
	/* Every request starts with the one system prompt (2 blocks). */
	for (size_t i = 0; i < t.n; i++) {
		cr_assert_eq(t.reqs[i].hash[0], t.reqs[0].hash[0]);
		cr_assert_eq(t.reqs[i].hash[1], t.reqs[0].hash[1]);
		cr_assert_eq(t.reqs[i].ns, 0);
		if (t.reqs[i].input >= 16384 + 1024)
			longs++;
		if ((uint64_t)t.reqs[i].input + t.reqs[i].output > 131072)
			over++;
	}
	cr_assert_eq(over, 0, "every request fits a 128k context");
	/* Questions and scans: 70% of requests, give or take. */
	cr_assert_gt(longs, 600 * 0.6);
	cr_assert_lt(longs, 600 * 0.8);
	/* Zipf: count requests by their first document block (index 2). */
	count = calloc((size_t)t.max_hash + 1, sizeof(*count));
	cr_assert_not_null(count);
	for (size_t i = 0; i < t.n; i++)
		if (t.reqs[i].nhash > 3 && t.reqs[i].input >= 16384 + 1024)
			count[t.reqs[i].hash[2]]++;
	for (uint32_t h = 0; h <= t.max_hash; h++)
		if (count[h] > best) {
			best = count[h];
			first_doc_block = h;
		}
	(void)first_doc_block;
	/* The head document is asked about often; most are seen once. */
	cr_assert_gt(best, 20, "most popular document: %u requests", best);
	tenth = 0;
	for (uint32_t h = 0; h <= t.max_hash; h++)
		tenth += count[h] == 1;
	cr_assert_gt(tenth, 50, "documents read once (scans, the tail): %u",
		     tenth);
	free(count);
	ac_trace_free(&t);
}

Test(workload_gen, tenants_never_share_a_block)
{
	struct ac_trace t;
	size_t len, per[5] = { 0 };
	char *text = gen_text(TENANTS, 5, &len);
	uint32_t *owner;

	read_back(text, len, &t);
	free(text);
	cr_assert_eq(t.n, 600);
	owner = calloc((size_t)t.max_hash + 1, sizeof(*owner));
	cr_assert_not_null(owner);
	for (size_t i = 0; i < t.n; i++) {
		const struct ac_trace_req *q = &t.reqs[i];

		cr_assert(q->ns >= 1 && q->ns <= 4, "namespace %u", q->ns);
		per[q->ns]++;
		for (uint32_t k = 0; k < q->nhash; k++) {
			if (!owner[q->hash[k]])
				owner[q->hash[k]] = q->ns;
			cr_assert_eq(owner[q->hash[k]], q->ns,
				     "block %u in tenants %u and %u", q->hash[k],
				     owner[q->hash[k]], q->ns);
		}
	}
	/* Skewed shares: tenant 1 the largest, every tenant present. */
	cr_assert_gt(per[1], per[2]);
	cr_assert_gt(per[2], per[4]);
	cr_assert_gt(per[4], 0);
	free(owner);
	ac_trace_free(&t);
}

Test(workload_gen, agent_programs_grow_and_call_tools)
{
	struct ac_trace t;
	struct ac_trace_error err;
	size_t len, jobs = 0;
	char *text = gen_text(AGENT, 11, &len);
	double max_tool = 0, min_tool = 1e9;

	read_back(text, len, &t);
	free(text);
	cr_assert_eq(t.nprogram, t.n);
	cr_assert_eq(ac_trace_link_programs(&t, &err), 0, "%s", err.why);
	for (size_t i = 0; i < t.n; i++) {
		const struct ac_trace_req *q = &t.reqs[i];
		uint32_t turns = 1, j = (uint32_t)i;

		if (q->prev != AC_TRACE_NONE)
			continue;
		jobs++;
		while (t.reqs[j].next != AC_TRACE_NONE) {
			const struct ac_trace_req *a = &t.reqs[j];
			const struct ac_trace_req *b = &t.reqs[a->next];
			uint32_t full = a->input / 512;

			/* The next turn holds all of this one and more. */
			cr_assert_gt(b->input, a->input + a->output);
			for (uint32_t k = 0; k < full; k++)
				cr_assert_eq(b->hash[k], a->hash[k]);
			cr_assert_geq(a->tool_s, 0);
			cr_assert_gt(a->tool_expect_s, 0);
			if (a->tool_s > max_tool)
				max_tool = a->tool_s;
			if (a->tool_s < min_tool)
				min_tool = a->tool_s;
			/* Open loop: the next turn is stamped after the tool. */
			cr_assert_geq(b->arrival_s + 0.0015, a->arrival_s + a->tool_s);
			j = a->next;
			turns++;
		}
		cr_assert_lt(t.reqs[j].tool_s, 0, "the last turn calls no tool");
		cr_assert(turns >= 10 && turns <= 30, "%u turns", turns);
	}
	cr_assert_eq(jobs, 40);
	cr_assert_lt(min_tool, 2, "quick tools: %.1f s", min_tool);
	cr_assert_gt(max_tool, 45, "minute-long tools: %.1f s", max_tool);
	ac_trace_free(&t);
}

Test(workload_gen, bad_configs_are_refused)
{
	struct wl_trace t;
	struct wl_rag_config rc;
	struct wl_tenants_config tc;
	struct wl_agent_config ac;

	wl_trace_init(&t);
	wl_rag_default(&rc);
	rc.requests = 0;
	cr_assert_eq(wl_rag(&rc, &t), -EINVAL);
	wl_rag_default(&rc);
	rc.doc_max = rc.doc_min - 1;
	cr_assert_eq(wl_rag(&rc, &t), -EINVAL);
	wl_rag_default(&rc);
	rc.share_qa = 0.8;
	rc.share_scan = 0.3;
	cr_assert_eq(wl_rag(&rc, &t), -EINVAL);
	wl_tenants_default(&tc);
	tc.mix.requests = 3;
	cr_assert_eq(wl_tenants(&tc, &t), -EINVAL);
	wl_agent_default(&ac);
	ac.turns_max = 5;
	cr_assert_eq(wl_agent(&ac, &t), -EINVAL);
	wl_agent_default(&ac);
	ac.tool_scale = 0;
	cr_assert_eq(wl_agent(&ac, &t), -EINVAL);
	cr_assert_eq(t.n, 0, "nothing was generated");
	wl_trace_free(&t);
}

Test(workload_gen, zipf_and_ids)
{
	struct wl_zipf z;
	struct wl_rng r;
	uint32_t hits[10] = { 0 };
	struct wl_trace t;
	struct wl_span a[2] = { { 1, 1024 }, { 2, 100 } };
	struct wl_span b[2] = { { 1, 1024 }, { 3, 100 } };
	struct wl_rec p = { .program = WL_NONE, .tool_ms = -1,
			    .tool_expect_ms = -1 };

	cr_assert_eq(wl_zipf_init(&z, 10, 1.0), 0);
	wl_rng_seed(&r, 1);
	for (int i = 0; i < 20000; i++)
		hits[wl_zipf_draw(&z, &r)]++;
	/* P(0) / P(1) = 2 for alpha 1. */
	cr_assert_float_eq((double)hits[0] / hits[1], 2.0, 0.15);
	cr_assert_gt(hits[1], hits[9]);
	wl_zipf_free(&z);
	cr_assert_eq(wl_zipf_init(&z, 0, 1.0), -EINVAL);

	/* Equal first block, different partial tails: ids 0, 1 then 0, 2. */
	wl_trace_init(&t);
	cr_assert_eq(wl_trace_add(&t, a, 2, &p), 0);
	cr_assert_eq(wl_trace_add(&t, b, 2, &p), 0);
	cr_assert_eq(t.recs[0].nids, 3);
	cr_assert_eq(t.recs[0].ids[0], 0);
	cr_assert_eq(t.recs[1].ids[0], 0);
	cr_assert_eq(t.recs[0].ids[1], 1);
	cr_assert_eq(t.recs[1].ids[1], 1, "tokens 512-1023 are content 1 in both");
	cr_assert_eq(t.next_id, 4);
	cr_assert_neq(t.recs[0].ids[2], t.recs[1].ids[2]);
	cr_assert_eq(wl_trace_add(&t, a, 0, &p), -EINVAL);
	wl_trace_free(&t);
}

/*
 * Five conversations: A (3 turns, each holding the last's blocks), B (2
 * turns), C, D, E (one turn each), on a shared system block 0.
 */
static const char conv_src[] =
	"{\"timestamp\": 100, \"input_length\": 1536, \"output_length\": 9, \"hash_ids\": [0, 1, 2]}\n"
	"{\"timestamp\": 150, \"input_length\": 1024, \"output_length\": 9, \"hash_ids\": [0, 10]}\n"
	"{\"timestamp\": 200, \"input_length\": 2048, \"output_length\": 9, \"hash_ids\": [0, 1, 2, 3]}\n"
	"{\"timestamp\": 250, \"input_length\": 1536, \"output_length\": 9, \"hash_ids\": [0, 20, 21]}\n"
	"{\"timestamp\": 300, \"input_length\": 1536, \"output_length\": 9, \"hash_ids\": [0, 30, 31]}\n"
	"{\"timestamp\": 350, \"input_length\": 2560, \"output_length\": 9, \"hash_ids\": [0, 1, 2, 3, 4]}\n"
	"{\"timestamp\": 400, \"input_length\": 2048, \"output_length\": 9, \"hash_ids\": [0, 20, 21, 22]}\n"
	"{\"timestamp\": 450, \"input_length\": 512, \"output_length\": 9, \"hash_ids\": [0]}\n";

static char *conv_text(const char *path, uint64_t seed, uint32_t k,
		       int *ret, size_t *ret_len)
{
	struct wl_conv_config c = { .seed = seed, .trace = path,
				    .conversations = k };
	struct ac_trace_error err = { 0 };
	char *buf = NULL;
	FILE *f = open_memstream(&buf, ret_len);

	cr_assert_not_null(f);
	*ret = wl_conv(&c, f, &err);
	fclose(f);
	return buf;
}

Test(workload_gen, conv_window_keeps_whole_conversations)
{
	char path[] = "/tmp/test_conv_XXXXXX";
	int fd = mkstemp(path), r;
	uint32_t turns_of[64] = { 0 };

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, conv_src, sizeof(conv_src) - 1),
		     (ssize_t)sizeof(conv_src) - 1);
	close(fd);
	for (uint64_t seed = 1; seed <= 20; seed++) {
		size_t len, len2;
		char *a = conv_text(path, seed, 2, &r, &len);
		char *b = conv_text(path, seed, 2, &r, &len2);
		struct ac_trace t;
		uint32_t convs = 0;

		cr_assert_eq(r, 0);
		cr_assert_eq(len, len2);
		cr_assert_eq(memcmp(a, b, len), 0, "seed %llu",
			     (unsigned long long)seed);
		read_back(a, len, &t);
		cr_assert_float_eq(t.reqs[0].arrival_s, 0.0, 1e-9);
		cr_assert_eq(ac_trace_link_turns(&t), 0);
		/* Two conversations, each with every one of its turns. */
		for (size_t i = 0; i < t.n; i++) {
			const struct ac_trace_req *q = &t.reqs[i];
			uint32_t key = q->nhash > 1 ? q->hash[1] : 0;

			if (q->session == i)
				convs++;
			turns_of[key]++;
			cr_assert(key == 1 || key == 10 || key == 20 ||
				  key == 30 || key == 0);
		}
		cr_assert_eq(convs, 2, "seed %llu", (unsigned long long)seed);
		for (size_t i = 0; i < t.n; i++) {
			const struct ac_trace_req *q = &t.reqs[i];
			uint32_t key = q->nhash > 1 ? q->hash[1] : 0;
			uint32_t want = key == 1 ? 3 : key == 20 ? 2 : 1;
			uint32_t have = 0;

			for (size_t j = 0; j < t.n; j++)
				have += (t.reqs[j].nhash > 1 ?
					 t.reqs[j].hash[1] : 0) == key;
			cr_assert_eq(have, want, "seed %llu: conversation %u",
				     (unsigned long long)seed, key);
		}
		ac_trace_free(&t);
		free(a);
		free(b);
	}
	/* Twenty draws of 2 of 5 reach every conversation. */
	cr_assert(turns_of[1] && turns_of[10] && turns_of[20] &&
		  turns_of[30] && turns_of[0]);
	free(conv_text(path, 1, 6, &r, &(size_t){ 0 }));
	cr_assert_eq(r, -ERANGE);
	free(conv_text(path, 1, 5, &r, &(size_t){ 0 }));
	cr_assert_eq(r, 0);
	unlink(path);
	free(conv_text(path, 1, 1, &r, &(size_t){ 0 }));
	cr_assert_eq(r, -ENOENT);
}
