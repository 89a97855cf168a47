/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "replay_report.h"

int replay_report_init(struct replay_report *rp, FILE *out, uint32_t nreqs,
		       bool with_tokens, bool agent)
{
	memset(rp, 0, sizeof(*rp));
	rp->out = out;
	rp->with_tokens = with_tokens;
	rp->agent = agent;
	rp->ttft = calloc(nreqs + 1, sizeof(double));
	rp->tpot = calloc(nreqs + 1, sizeof(double));
	rp->job = calloc(nreqs + 1, sizeof(double));
	rp->out_hash = calloc(nreqs + 1, sizeof(uint64_t));
	rp->nlines = nreqs;
	if (!rp->ttft || !rp->tpot || !rp->job || !rp->out_hash) {
		replay_report_free(rp);
		return -ENOMEM;
	}
	return 0;
}

void replay_report_free(struct replay_report *rp)
{
	free(rp->ttft);
	free(rp->tpot);
	free(rp->job);
	free(rp->out_hash);
	rp->ttft = rp->tpot = rp->job = NULL;
	rp->out_hash = NULL;
}

static void put_int(struct json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static void put_ms(struct json_object *o, const char *k, double s)
{
	/* Microsecond resolution is all a wall clock here can give. */
	json_object_object_add(o, k, json_object_new_double(
				       (double)(int64_t)(s * 1e6) / 1e3));
}

static void put_bool(struct json_object *o, const char *k, bool v)
{
	json_object_object_add(o, k, json_object_new_boolean(v));
}

/* A turn's TTL retention, at its end and at its admission. */
static void put_retention(struct replay_report *rp, struct json_object *o,
			  const struct ac_gen_stats *st, bool count)
{
	if (st->retained) {
		put_int(o, "retained_blocks", st->retained);
		put_int(o, "retain_ttl_ms", st->retain_ttl_ms);
		put_bool(o, "retain_pinned", st->retain_pinned);
	}
	if (st->retain_declined)
		put_bool(o, "retain_declined", true);
	if (st->retain_error)
		json_object_object_add(o, "retain_error", json_object_new_string(
					       ac_strerror(st->retain_error)));
	if (st->resumed || st->resume_late)
		put_bool(o, "resumed", st->resumed);
	if (!count)
		return;
	rp->retained += st->retained > 0;
	rp->retained_blocks += st->retained;
	rp->declined += st->retain_declined;
	rp->retain_errors += st->retain_error != 0;
	rp->resumed += st->resumed;
	rp->late += st->resume_late;
}

int replay_report_add(struct replay_report *rp, uint64_t line,
		      double arrival_s, const struct ac_result *res,
		      int refused, const char *why,
		      const struct replay_turn *turn)
{
	struct json_object *o = json_object_new_object(), *toks;
	const struct ac_gen_stats *st = res ? &res->st : NULL;
	int status = res ? res->status : refused;

	if (!o)
		return -ENOMEM;
	put_int(o, "line", (int64_t)line);
	/* A record of no program is a job of one turn (UINT32_MAX: none). */
	if (turn && turn->program != UINT32_MAX) {
		put_int(o, "program", turn->program);
		put_int(o, "turn", turn->turn);
	}
	if (arrival_s >= 0)
		put_ms(o, "arrival_ms", arrival_s);
	if (status < 0) {
		json_object_object_add(o, "error", json_object_new_string(
				       why && !res ? why : ac_strerror(status)));
		if (res)
			rp->failed++;
		else if (status == -ECANCELED)
			rp->skipped++;
		else
			rp->refused++;
	}
	if (st) {
		put_int(o, "prompt_tokens", st->prompt_tokens);
		put_int(o, "output_tokens", st->generated);
		put_ms(o, "ttft_ms", st->ttft_s);
		if (st->generated > 1)
			put_ms(o, "tpot_ms", st->decode_s / (st->generated - 1));
		put_int(o, "hit_blocks", st->hit_blocks);
		put_int(o, "holes", st->hole_runs);
		put_int(o, "reused_tokens", st->reused_tokens);
		put_int(o, "computed_tokens", st->computed_tokens);
		put_int(o, "committed", st->committed);
		put_int(o, "deduped", st->deduped);
		put_int(o, "preemptions", st->preemptions);
		json_object_object_add(o, "cached",
				       json_object_new_boolean(!st->private_pool));
		put_ms(o, "finish_ms", st->finish_s - rp->t0);
		put_retention(rp, o, st, status == 0);
		if (turn && turn->job_s >= 0 && status == 0) {
			put_ms(o, "job_ms", turn->job_s);
			rp->job[rp->njob++] = turn->job_s * 1e3;
		}
		if (rp->with_tokens && (toks = json_object_new_array())) {
			for (uint32_t i = 0; i < res->n; i++)
				json_object_array_add(toks,
					json_object_new_int(res->tokens[i]));
			json_object_object_add(o, "tokens", toks);
		}
		if (line >= 1 && line <= rp->nlines)
			rp->out_hash[line - 1] = XXH3_64bits(res->tokens,
					sizeof(int32_t) * res->n);
		if (status == 0) {
			rp->ttft[rp->done++] = st->ttft_s * 1e3;
			if (st->generated > 1)
				rp->tpot[rp->ntpot++] = st->decode_s * 1e3 /
							(st->generated - 1);
			rp->prompt_tokens += st->prompt_tokens;
			rp->reused_tokens += st->reused_tokens;
			rp->computed_tokens += st->computed_tokens;
			rp->output_tokens += st->generated;
			rp->hit_blocks += st->hit_blocks;
			rp->holes += st->hole_runs;
			rp->preemptions += st->preemptions;
			rp->private += st->private_pool;
		}
	}
	fprintf(rp->out, "%s\n",
		json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	/* A line a request, as it ends: tail -f and other readers see it. */
	fflush(rp->out);
	json_object_put(o);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted @v. */
static double pct(const double *v, uint32_t n, double p)
{
	uint32_t k;

	if (!n)
		return 0;
	k = (uint32_t)(p / 100.0 * n + 0.999999);
	return v[k ? k - 1 : 0];
}

static double mean(const double *v, uint32_t n)
{
	double s = 0;

	for (uint32_t i = 0; i < n; i++)
		s += v[i];
	return n ? s / n : 0;
}

void replay_report_summary(const struct replay_report *rp, FILE *f,
			   const char *settings, double wall_s)
{
	qsort(rp->ttft, rp->done, sizeof(double), cmp_double);
	qsort(rp->tpot, rp->ntpot, sizeof(double), cmp_double);
	qsort(rp->job, rp->njob, sizeof(double), cmp_double);
	fprintf(f, "\nreplay: %s\n", settings);
	fprintf(f, "  requests    %u finished, %u failed, %u refused (over the context)",
		rp->done, rp->failed, rp->refused);
	if (rp->skipped)
		fprintf(f, ", %u not run (a turn before them failed)",
			rp->skipped);
	fputc('\n', f);
	if (rp->agent)
		fprintf(f, "  jobs        %u finished (every turn served)\n",
			rp->njob);
	fprintf(f, "  %-10s %10s %10s %10s %10s\n", "", "mean", "p50", "p90",
		"p99");
	fprintf(f, "  %-10s %10.2f %10.2f %10.2f %10.2f\n", "TTFT ms",
		mean(rp->ttft, rp->done), pct(rp->ttft, rp->done, 50),
		pct(rp->ttft, rp->done, 90), pct(rp->ttft, rp->done, 99));
	fprintf(f, "  %-10s %10.2f %10.2f %10.2f %10.2f\n", "TPOT ms",
		mean(rp->tpot, rp->ntpot), pct(rp->tpot, rp->ntpot, 50),
		pct(rp->tpot, rp->ntpot, 90), pct(rp->tpot, rp->ntpot, 99));
	if (rp->agent)
		fprintf(f, "  %-10s %10.1f %10.1f %10.1f %10.1f\n", "job ms",
			mean(rp->job, rp->njob), pct(rp->job, rp->njob, 50),
			pct(rp->job, rp->njob, 90), pct(rp->job, rp->njob, 99));
	fprintf(f, "  prompt      %llu tokens: %llu reused from the pool (%.1f%%), %llu computed; %llu hit blocks, %llu holes\n",
		(unsigned long long)rp->prompt_tokens,
		(unsigned long long)rp->reused_tokens,
		rp->prompt_tokens ? 100.0 * rp->reused_tokens / rp->prompt_tokens : 0.0,
		(unsigned long long)rp->computed_tokens,
		(unsigned long long)rp->hit_blocks,
		(unsigned long long)rp->holes);
	fprintf(f, "  output      %llu tokens; %.1f output tok/s, %.1f prompt+output tok/s over %.2f s\n",
		(unsigned long long)rp->output_tokens,
		wall_s > 0 ? rp->output_tokens / wall_s : 0.0,
		wall_s > 0 ? (rp->prompt_tokens + rp->output_tokens) / wall_s : 0.0,
		wall_s);
	fprintf(f, "  pressure    %llu preemptions; %llu requests served without the cache\n",
		(unsigned long long)rp->preemptions,
		(unsigned long long)rp->private);
	if (rp->agent)
		fprintf(f, "  retention   %u turns retained (%llu blocks), %u declined, %u refused; %u resumed in time, %u after it ended\n",
			rp->retained, (unsigned long long)rp->retained_blocks,
			rp->declined, rp->retain_errors, rp->resumed, rp->late);
}

int replay_report_iteration(FILE *f, uint64_t n, double t_s,
			    const struct ac_step_info *in)
{
	struct json_object *o = json_object_new_object();
	int r = 0;

	if (!o)
		return -ENOMEM;
	put_int(o, "iter", (int64_t)n);
	put_ms(o, "t_ms", t_s);
	put_int(o, "rows", in->rows);
	put_int(o, "prefill_tokens", in->prefill_tokens);
	json_object_object_add(o, "prefill_pairs",
			       json_object_new_double(in->prefill_pairs));
	put_int(o, "segments", in->prefill_segments);
	put_int(o, "decode_tokens", in->decodes);
	put_int(o, "decode_ctx", (int64_t)in->decode_ctx);
	json_object_object_add(o, "forward_s",
			       json_object_new_double(in->forward_s));
	json_object_object_add(o, "predicted_s",
			       json_object_new_double(in->predicted_s));
	put_bool(o, "cached", in->cached);
	if (fprintf(f, "%s\n", json_object_to_json_string_ext(o,
			JSON_C_TO_STRING_PLAIN)) < 0)
		r = -EIO;
	json_object_put(o);
	return r;
}

void replay_report_tsv(const struct replay_report *rp, FILE *f,
		       const char *label, double wall_s)
{
	uint64_t h = XXH3_64bits(rp->out_hash, sizeof(uint64_t) * rp->nlines);

	/* The summary sorted ttft and tpot in place: the median is there. */
	fprintf(f, "%s\t%u\t%.1f\t%.1f\t%.2f\t%.1f%%\t%llu\t%llu\t%.1f\t%016llx",
		label, rp->done, mean(rp->ttft, rp->done),
		pct(rp->ttft, rp->done, 50), mean(rp->tpot, rp->ntpot),
		rp->prompt_tokens ? 100.0 * rp->reused_tokens / rp->prompt_tokens : 0.0,
		(unsigned long long)rp->holes,
		(unsigned long long)rp->computed_tokens, wall_s,
		(unsigned long long)h);
	if (rp->agent)
		fprintf(f, "\t%u\t%.1f\t%.1f\t%.1f", rp->njob,
			mean(rp->job, rp->njob), pct(rp->job, rp->njob, 50),
			pct(rp->job, rp->njob, 99));
	fputc('\n', f);
}
