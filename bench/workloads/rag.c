/* SPDX-License-Identifier: MIT */
/*
 * The long-document / RAG mix. A question over a document is the request
 * an eviction policy can win or lose most on: tens of thousands of tokens
 * behind a short tail, reused with Zipf popularity. One-off scans are as
 * long but never come back (what a policy must not keep), and chats are the
 * short, growing prompts the conversation trace is made of.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "wl.h"

void wl_rag_default(struct wl_rag_config *c)
{
	*c = (struct wl_rag_config){
		.seed = 1,
		.requests = 2000,
		.rate = 1.0,
		.docs = 400,
		.zipf_alpha = 1.0,
		.doc_min = 16384,
		/* Prompt and answer stay within a 128k context. */
		.doc_max = 126000,
		.share_qa = 0.6,
		.share_scan = 0.1,
		.sys_tokens = 1024,
	};
}

static int check(const struct wl_rag_config *c)
{
	if (!c->requests || !(c->rate > 0) || !c->docs ||
	    !(c->zipf_alpha >= 0) || !c->doc_min || c->doc_max < c->doc_min ||
	    !(c->share_qa >= 0) || !(c->share_scan >= 0) ||
	    c->share_qa + c->share_scan > 1 || !c->sys_tokens)
		return -EINVAL;
	return 0;
}

static struct wl_rec proto(const struct wl_rag_config *c, double t_s,
			   uint32_t output)
{
	return (struct wl_rec){
		.ts_ms = c->start_ms + (uint64_t)llround(t_s * 1000),
		.output = output, .ns = c->ns, .program = WL_NONE,
		.tool_ms = -1, .tool_expect_ms = -1,
	};
}

/* A chat of 2-6 turns; each turn's prompt is the whole history so far. */
static int chat(const struct wl_rag_config *c, struct wl_rng *rng,
		struct wl_trace *t, uint64_t id, double t_s, uint32_t *left)
{
	struct wl_span sp[1 + 2 * 6];
	uint32_t turns = wl_range(rng, 2, 6), n = 0;
	int r = 0;

	sp[n++] = (struct wl_span){ wl_content(c->salt, WL_SYS, 0, 0),
				    c->sys_tokens };
	for (uint32_t k = 0; k < turns && *left && r == 0; k++) {
		uint32_t out = wl_range(rng, 50, 600);
		struct wl_rec p = proto(c, t_s, out);

		sp[n++] = (struct wl_span){
			wl_content(c->salt, WL_USER, id, k),
			wl_loguniform(rng, 30, 2000) };
		r = wl_trace_add(t, sp, n, &p);
		(*left)--;
		sp[n++] = (struct wl_span){
			wl_content(c->salt, WL_OUTPUT, id, k), out };
		/* The user reads and types: tens of seconds. */
		t_s += wl_exp(rng, 40);
	}
	return r;
}

int wl_rag(const struct wl_rag_config *c, struct wl_trace *t)
{
	struct wl_rng rng;
	struct wl_zipf z;
	uint32_t *doc_len = NULL, left;
	double t_s = 0, chat_w, wsum;
	uint64_t next_id = 0;
	int r;

	r = check(c);
	if (r < 0)
		return r;
	r = wl_zipf_init(&z, c->docs, c->zipf_alpha);
	if (r < 0)
		return r;
	doc_len = malloc(c->docs * sizeof(*doc_len));
	if (!doc_len) {
		r = -ENOMEM;
		goto out;
	}
	wl_rng_seed(&rng, c->seed);
	for (uint32_t d = 0; d < c->docs; d++)
		doc_len[d] = wl_loguniform(&rng, c->doc_min, c->doc_max);
	/*
	 * The shares are of requests; a chat is 4 turns on average, so a new
	 * arrival starts one a quarter as often as its share.
	 */
	chat_w = (1 - c->share_qa - c->share_scan) / 4;
	wsum = c->share_qa + c->share_scan + chat_w;
	left = c->requests;
	while (left && r == 0) {
		double u = wl_uniform(&rng) * wsum;
		uint64_t id = next_id++;
		struct wl_span sp[3] = {
			{ wl_content(c->salt, WL_SYS, 0, 0), c->sys_tokens },
		};

		t_s += wl_exp(&rng, 1 / c->rate);
		if (u < c->share_qa) {
			uint32_t d = wl_zipf_draw(&z, &rng);
			struct wl_rec p = proto(c, t_s, wl_range(&rng, 30, 400));

			sp[1] = (struct wl_span){
				wl_content(c->salt, WL_DOC, d, 0), doc_len[d] };
			sp[2] = (struct wl_span){
				wl_content(c->salt, WL_QUESTION, id, 0),
				wl_range(&rng, 20, 300) };
			r = wl_trace_add(t, sp, 3, &p);
			left--;
		} else if (u < c->share_qa + c->share_scan) {
			struct wl_rec p = proto(c, t_s, wl_range(&rng, 100, 600));

			sp[1] = (struct wl_span){
				wl_content(c->salt, WL_SCAN, id, 0),
				wl_loguniform(&rng, c->doc_min, c->doc_max) };
			sp[2] = (struct wl_span){
				wl_content(c->salt, WL_QUESTION, id, 0),
				wl_range(&rng, 20, 200) };
			r = wl_trace_add(t, sp, 3, &p);
			left--;
		} else {
			r = chat(c, &rng, t, id, t_s, &left);
		}
	}
out:
	free(doc_len);
	wl_zipf_free(&z);
	return r;
}
