/* SPDX-License-Identifier: MIT */
/*
 * One iteration of continuous batching: admit what fits, give every
 * decoding request its next block (preempting the newest request when the
 * pool has no room), grant prefill chunks (the daemon's Schedule, or a
 * fixed token budget), run one forward pass over one MSA batch, commit the
 * blocks that filled, sample.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runner_internal.h"

/* The budget when the daemon's scheduler cannot be asked (no daemon). */
#define FALLBACK_CHUNK_TOKENS	2048u

static double work_s(const struct ac_runner *r, uint32_t tokens)
{
	double rate = r->tok_per_s > 0 ? r->tok_per_s : 1000.0;

	return (tokens ? tokens : 1) / rate;
}

/* (wait + work) / work: the next to serve has the highest ratio. */
static double hrrn(const struct ac_runner *r, const struct sreq *q,
		   uint32_t work, double now)
{
	double w = work_s(r, work);

	return (now - q->arrival_s + w) / w;
}

/* Whether @a goes before @b under the runner's order. */
static bool before(const struct ac_runner *r, const struct sreq *a,
		   const struct sreq *b, uint32_t wa, uint32_t wb, double now)
{
	if (a->requeued != b->requeued)
		return a->requeued;
	switch (r->o.order) {
	case AC_ORDER_HRRN: {
		double ha = hrrn(r, a, wa, now), hb = hrrn(r, b, wb, now);

		if (ha != hb)
			return ha > hb;
		break;
	}
	case AC_ORDER_SRPT:
		if (wa != wb)
			return wa < wb;
		break;
	case AC_ORDER_PROGRAM: {
		/* A program's later turns keep its place: its start, not theirs. */
		double pa = a->program ? a->program_arrival_s : a->arrival_s;
		double pb = b->program ? b->program_arrival_s : b->arrival_s;

		if (pa != pb)
			return pa < pb;
		break;
	}
	case AC_ORDER_FCFS:
		break;
	}
	return a->arrival_s < b->arrival_s;
}

static struct sreq *next_waiting(struct ac_runner *r, double now)
{
	struct sreq *best = NULL;

	for (uint32_t i = 0; i < r->nreqs; i++) {
		struct sreq *q = r->reqs[i];

		if (q->state != SREQ_WAITING || q->arrival_s > now)
			continue;
		if (!best || before(r, q, best, q->len, best->len, now))
			best = q;
	}
	return best;
}

static uint32_t count(const struct ac_runner *r, enum sreq_state s)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < r->nreqs; i++)
		n += r->reqs[i]->state == s;
	return n;
}

/* Move finished requests to the done list, keeping submit order. */
static int reap(struct ac_runner *r)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < r->nreqs; i++) {
		struct sreq *q = r->reqs[i];

		if (q->state != SREQ_DONE) {
			r->reqs[k++] = q;
			continue;
		}
		if (runner_grow((void **)&r->done, &r->capdone, r->ndone + 1,
				sizeof(*r->done)) < 0) {
			r->reqs[k++] = q;	/* reaped next time */
			continue;
		}
		r->done[r->ndone++] = q;
	}
	r->nreqs = k;
	return 0;
}

/* Admit in order while there is room; -ENOTCONN: the daemon went away. */
static int admit(struct ac_runner *r, double now)
{
	uint32_t running = count(r, SREQ_RUNNING);
	struct sreq *q;
	int e;

	if (r->hold_admission && running)
		return 0;
	r->hold_admission = false;
	while (running < r->o.max_seqs && (q = next_waiting(r, now))) {
		e = sreq_admit(r, q);
		if (!e) {
			running++;
			continue;
		}
		if (ac_kvsrc_lost(e))
			return -ENOTCONN;
		if (ac_kvsrc_full(e) &&
		    (q->len + r->T - 1) / r->T <= r->src->kv.num_blocks &&
		    (e == -ENOSPC || running))
			break;	/* room comes back as others finish */
		/*
		 * It can never fit, the request itself is bad, or it is over a
		 * quota with nothing of ours running to give blocks back.
		 */
		sreq_finish(r, q, e);
	}
	return 0;
}

static struct sreq *newest_running(struct ac_runner *r)
{
	struct sreq *v = NULL;

	for (uint32_t i = 0; i < r->nreqs; i++)
		if (r->reqs[i]->state == SREQ_RUNNING &&
		    (!v || r->reqs[i]->admit_seq > v->admit_seq))
			v = r->reqs[i];
	return v;
}

/* The block each decode writes into; preempts when the pool is full. */
static int grow_decodes(struct ac_runner *r, uint32_t *preempted)
{
	for (uint32_t i = 0; i < r->nreqs; i++) {
		struct sreq *q = r->reqs[i];
		uint32_t blk;
		int e;

		while (q->state == SREQ_RUNNING && q->prefilled &&
		       (q->len - 1) / r->T >= q->nb) {
			e = r->src->ops->alloc(r->src, 1, &blk);
			if (!e) {
				q->table[q->nb] = blk;
				q->own[q->nb++] = 1;
				break;
			}
			if (ac_kvsrc_lost(e))
				return -ENOTCONN;
			if (!ac_kvsrc_full(e))
				return e;
			struct sreq *v = newest_running(r);

			if (v == q && count(r, SREQ_RUNNING) == 1) {
				sreq_finish(r, q, e);
				break;
			}
			sreq_preempt(r, v);
			(*preempted)++;
		}
	}
	return 0;
}

/*
 * Grant @q its pending positions below @upto, at most @max tokens, from
 * its cursor: the runs land in r->grants, contiguous per request.
 */
static int grant(struct ac_runner *r, struct sreq *q, uint64_t upto,
		 uint32_t max)
{
	uint32_t got = 0;

	if (!q->g_n)
		q->g_first = r->gn;
	while (q->run_i < q->nruns && got < max) {
		struct ac_run *run = &q->runs[q->run_i];
		uint32_t pos = run->pos + q->run_off, left = run->len - q->run_off;
		uint32_t take = left;

		if (pos >= upto)
			break;
		if (pos + take > upto)
			take = (uint32_t)(upto - pos);
		if (take > max - got)
			take = max - got;
		if (runner_grow((void **)&r->grants, &r->cap_grants, r->gn + 1,
				sizeof(*r->grants)) < 0)
			return -ENOMEM;
		r->grants[r->gn++] = (struct ac_run){ pos, take };
		q->g_n++;
		got += take;
		q->run_off += take;
		if (q->run_off == run->len) {
			q->run_i++;
			q->run_off = 0;
		}
	}
	q->g_rows += got;
	return (int)got;
}

/* Prefilling requests in the runner's order. */
static uint32_t prefill_order(struct ac_runner *r, struct sreq **out,
			      double now)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < r->nreqs; i++) {
		struct sreq *q = r->reqs[i];
		uint32_t j = n;

		if (q->state != SREQ_RUNNING || q->prefilled)
			continue;
		/* Insertion sort: a few dozen requests at most. */
		while (j && before(r, q, out[j - 1], sreq_pending(q),
				   sreq_pending(out[j - 1]), now)) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = q;
		n++;
	}
	return n;
}

static int fixed_chunks(struct ac_runner *r, uint32_t budget, uint32_t rows,
			double now)
{
	uint32_t max_rows = ac_model_max_rows(r->model), n;
	int got;

	/* The runner's scratch: an iteration allocates nothing it keeps. */
	if (runner_grow((void **)&r->order, &r->cap_order, r->nreqs + 1,
			sizeof(*r->order)) < 0)
		return -ENOMEM;
	if (budget > max_rows - rows)
		budget = max_rows - rows;
	n = prefill_order(r, r->order, now);
	for (uint32_t i = 0; i < n && budget; i++) {
		got = grant(r, r->order[i], UINT64_MAX, budget);
		if (got < 0)
			return got;
		budget -= (uint32_t)got;
	}
	return 0;
}

/*
 * The daemon's Schedule over every pending segment: -EOPNOTSUPP when it
 * cannot be asked, -ENOTCONN when the daemon went away.
 */
static int scheduled_chunks(struct ac_runner *r, uint32_t decodes,
			    uint64_t decode_ctx, uint32_t rows, double now,
			    double *predicted)
{
	uint32_t ns = 0, max_rows = ac_model_max_rows(r->model);
	bool programs = false;
	struct ac_sched_request sr;
	struct ac_sched_result res;
	int e;

	for (uint32_t i = 0; i < r->nreqs; i++) {
		struct sreq *q = r->reqs[i];

		if (q->state != SREQ_RUNNING || q->prefilled)
			continue;
		for (uint32_t k = q->run_i; k < q->nruns; k++) {
			uint32_t off = k == q->run_i ? q->run_off : 0;

			if (runner_grow((void **)&r->sseg, &r->cap_sched,
					ns + 1, sizeof(*r->sseg)) < 0 ||
			    runner_grow((void **)&r->spw, &r->cap_spw,
					ns + 1, sizeof(*r->spw)) < 0)
				return -ENOMEM;
			/* A turn that arrives early has waited nothing yet. */
			r->spw[ns] = q->program && now > q->program_arrival_s
				? (uint64_t)((now - q->program_arrival_s) * 1e6)
				: 0;
			programs |= q->program != 0;
			r->sseg[ns++] = (struct ac_sched_segment){
				.request_id = i,
				.start = q->runs[k].pos + off,
				.len = q->runs[k].len - off,
				.waited_us = (uint64_t)((now - q->arrival_s) * 1e6),
			};
		}
	}
	if (!ns)
		return 0;
	sr = (struct ac_sched_request){ .decode_tokens = decodes,
					.decode_ctx = decode_ctx,
					.segs = r->sseg, .nsegs = ns };
	for (;;) {
		res = (struct ac_sched_result){ .chunks = r->chunks,
						.cap = r->cap_chunks };
		e = r->src->ops->schedule(r->src, &sr,
					  programs ? r->spw : NULL, &res);
		if (e != -ENOBUFS || res.nchunks <= r->cap_chunks)
			break;
		if (runner_grow((void **)&r->chunks, &r->cap_chunks,
				(uint32_t)res.nchunks, sizeof(*r->chunks)) < 0)
			return -ENOMEM;
	}
	if (ac_kvsrc_lost(e))
		return -ENOTCONN;
	if (e < 0)
		return e;
	*predicted = res.predicted_s;
	for (size_t c = 0; c < res.nchunks; c++) {
		struct sreq *q = r->reqs[res.chunks[c].request_id];
		uint64_t end = res.chunks[c].start + res.chunks[c].len;

		if (end > q->g_upto)
			q->g_upto = end;
	}
	for (uint32_t i = 0; i < r->nreqs && rows < max_rows; i++) {
		struct sreq *q = r->reqs[i];
		int got;

		if (!q->g_upto)
			continue;
		got = grant(r, q, q->g_upto, max_rows - rows);
		if (got < 0)
			return got;
		rows += (uint32_t)got;
	}
	return 0;
}

/* Greedy rows take the pass's argmax; the logits cross only for samplers. */
static int sample(struct ac_runner *r, struct sreq *q, int32_t *tok)
{
	if (q->sampler)
		return ac_op_sample_cpu(q->sampler, r->logits +
					(size_t)q->logit_k * r->vocab, tok);
	*tok = r->argmax[q->logit_k];
	return 0;
}

static bool is_stop(const struct sreq *q, int32_t t)
{
	for (uint32_t i = 0; i < q->n_stop_ids; i++)
		if (q->stop_ids[i] == t)
			return true;
	return false;
}

/* Token @t of @q: stream it, then stop or queue its decode. */
static void take_token(struct ac_runner *r, struct sreq *q, int32_t t,
		       double now)
{
	bool stop;

	q->tokens[q->len++] = t;
	if (sreq_ngen(q) == 1)
		q->first_s = now;
	stop = (r->o.on_token && r->o.on_token(q->id, t, r->o.userdata)) ||
	       is_stop(q, t) || sreq_ngen(q) == q->max_tokens || q->len >= q->cap;
	if (stop) {
		sreq_finish(r, q, 0);
		return;
	}
	q->runs[0] = (struct ac_run){ q->len - 1, 1 };
	q->nruns = 1;
	q->run_i = q->run_off = 0;
	q->prefilled = true;
}

static int build_and_run(struct ac_runner *r, struct ac_step_info *info)
{
	struct ac_batch *b = &r->batch;
	struct ac_msa_batch mb;
	uint32_t nl = 0;
	int e;

	ac_batch_reset(b);
	for (uint32_t i = 0; i < r->nreqs; i++) {
		struct sreq *q = r->reqs[i];
		const struct ac_run *last;
		uint32_t row0 = b->num_rows, ctx;

		if (q->state != SREQ_RUNNING || !q->g_n)
			continue;
		last = &r->grants[q->g_first + q->g_n - 1];
		ctx = last->pos + last->len;
		e = ac_batch_add(b, q->table, (ctx + r->T - 1) / r->T, ctx,
				 r->T, &r->grants[q->g_first], q->g_n);
		if (e < 0)
			return e;
		/* A decode, or the chunk that ends the prompt, samples. */
		if (q->prefilled || q->run_i == q->nruns)
			q->logit_row = (int32_t)(row0 + q->g_rows - 1);
		if (runner_grow((void **)&r->tok, &r->cap_rows, b->num_rows,
				sizeof(*r->tok)) < 0)
			return -ENOMEM;
		for (uint32_t k = row0; k < b->num_rows; k++)
			r->tok[k] = q->tokens[b->row_pos[k]];
		if (q->prefilled) {
			info->decodes++;
			info->decode_ctx += q->len;
			continue;
		}
		info->prefill_tokens += q->g_rows;
		for (uint32_t k = 0; k < q->g_n; k++) {
			const struct ac_run *g = &r->grants[q->g_first + k];

			info->prefill_pairs += g->len * (g->pos + g->len / 2.0);
			info->prefill_segments++;
		}
	}
	info->rows = b->num_rows;
	if (!b->num_rows)
		return 0;
	if (runner_grow((void **)&r->logit_rows, &r->cap_logits,
			r->o.max_seqs, sizeof(*r->logit_rows)) < 0)
		return -ENOMEM;
	if (!r->argmax) {
		r->argmax = malloc(sizeof(int32_t) * r->o.max_seqs);
		if (!r->argmax)
			return -ENOMEM;
	}
	r->need_logits = false;
	for (uint32_t i = 0; i < r->nreqs; i++)
		if (r->reqs[i]->state == SREQ_RUNNING &&
		    r->reqs[i]->logit_row >= 0) {
			r->reqs[i]->logit_k = nl;
			r->logit_rows[nl++] = (uint32_t)r->reqs[i]->logit_row;
			r->need_logits |= r->reqs[i]->sampler != NULL;
		}
	if (r->need_logits && !r->logits) {
		r->logits = malloc(sizeof(float) * r->vocab * r->o.max_seqs);
		if (!r->logits)
			return -ENOMEM;
	}
	ac_model_batch_view(b, &mb);
	return ac_model_forward_ex(r->model, &r->src->kv, &mb, r->tok,
				   b->row_pos, r->logit_rows, nl,
				   r->need_logits ? r->logits : NULL, r->argmax);
}

int ac_runner_step(struct ac_runner *r, struct ac_step_info *info)
{
	double now = ac_runner_now(), t0, dt, predicted = 0;
	uint32_t decodes = 0, rows = 0, budget;
	uint64_t decode_ctx = 0;
	int e;

	if (!r || !info)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	runner_try_daemon(r, now);
	e = runner_source(r);
	if (e < 0)
		return e;
	/* Running requests' next blocks first, as vLLM: admission waits. */
	e = grow_decodes(r, &info->preempted);
	if (!e)
		e = admit(r, now);
	if (e == -ENOTCONN)
		goto lost;
	if (e < 0)
		return e;
	r->gn = 0;
	for (uint32_t i = 0; i < r->nreqs; i++) {
		struct sreq *q = r->reqs[i];

		q->g_n = q->g_rows = 0;
		q->g_upto = 0;
		q->logit_row = -1;
		if (q->state == SREQ_RUNNING && q->prefilled) {
			e = grant(r, q, UINT64_MAX, 1);
			if (e < 0)
				return e;
			decodes++;
			decode_ctx += q->len;
		}
	}
	rows = decodes;
	e = -EOPNOTSUPP;
	if (!r->o.chunk_tokens)
		e = scheduled_chunks(r, decodes, decode_ctx, rows, now,
				     &predicted);
	if (e == -ENOTCONN)
		goto lost;
	if (e == -EOPNOTSUPP) {
		budget = r->o.chunk_tokens ? r->o.chunk_tokens
					   : FALLBACK_CHUNK_TOKENS;
		e = fixed_chunks(r, budget > decodes ? budget - decodes : 0,
				 rows, now);
	}
	if (e < 0)
		return e;
	t0 = ac_runner_now();
	info->before_s = t0 - now;
	e = build_and_run(r, info);
	if (!e && r->o.timed && info->rows)
		e = ac_model_sync(r->model);
	if (e < 0)
		return e;
	dt = ac_runner_now() - t0;
	info->forward_s = dt;
	if (info->rows && dt > 0)
		r->tok_per_s = r->tok_per_s > 0
			? 0.8 * r->tok_per_s + 0.2 * info->rows / dt
			: info->rows / dt;
	info->predicted_s = predicted;
	for (uint32_t i = 0; i < r->nreqs; i++) {
		struct sreq *q = r->reqs[i];

		if (q->state != SREQ_RUNNING || !q->g_n)
			continue;
		e = sreq_commit_ready(r, q);
		if (ac_kvsrc_lost(e))
			goto lost;
		if (e < 0) {
			sreq_finish(r, q, e);
			continue;
		}
		if (q->logit_row >= 0) {
			int32_t t;

			e = sample(r, q, &t);
			if (e < 0)
				sreq_finish(r, q, e);
			else
				take_token(r, q, t, ac_runner_now());
		}
	}
	info->after_s = ac_runner_now() - t0 - dt;
	goto out;
lost:
	runner_lose_daemon(r);
out:
	info->cached = r->src && r->src->shared;
	reap(r);
	info->running = count(r, SREQ_RUNNING);
	info->waiting = count(r, SREQ_WAITING);
	return 0;
}
