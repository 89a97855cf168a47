/* SPDX-License-Identifier: MIT */
/*
 * The cost model fitted to an engine's own iterations (asymcache-engine
 * replay --iterations): what the simulator must predict is the engine,
 * not the kernels alone, so its coefficients come from the passes the
 * engine really ran, with everything they include (the GEMMs, norms,
 * launches, the gather of pool blocks, sampling).
 *
 * Two fits, as the model has two regimes (policy/cost_model.h):
 *  - decode-only iterations: time = iteration_s + decode_ctx_s * context,
 *    a line through their (context, seconds) points;
 *  - iterations with prefill: what is left after the decode term is
 *    linear_s * tokens + attn_s * pairs + segment_s * segments, fitted
 *    without negative coefficients by ac_cost_fit(); an iteration below
 *    the knee (iteration_s / linear_s tokens) pays the floor instead of
 *    its linear term, so the fit is repeated with the floor taken out of
 *    those until the set of them stops changing.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "calibrate.h"

/* linear_s where the passes show none (the cost model needs it positive). */
#define CAL_NO_TOKEN_COST_S 1e-9

struct iter_row {
	double tokens;		/* prefill + decode tokens */
	double prefill;
	double pairs;
	double segments;
	double decode_ctx;
	double seconds;
};

static int num_field(struct json_object *o, const char *k, double *ret)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) ||
	    (!json_object_is_type(v, json_type_int) &&
	     !json_object_is_type(v, json_type_double)))
		return -EINVAL;
	*ret = json_object_get_double(v);
	return isfinite(*ret) && *ret >= 0 ? 0 : -EINVAL;
}

/* Every line of @path, or -EINVAL naming the line and field in @why. */
static int read_rows(const char *path, struct iter_row **ret, size_t *ret_n,
		     char *why, size_t len)
{
	static const char *const keys[] = { "prefill_tokens", "prefill_pairs",
		"segments", "decode_tokens", "decode_ctx", "forward_s" };
	struct iter_row *rows = NULL;
	size_t n = 0, cap = 0, line = 0, lcap = 0;
	char *buf = NULL;
	FILE *f = fopen(path, "re");
	int r = 0;

	if (!f) {
		r = -errno;
		snprintf(why, len, "%s", strerror(errno));
		return r;
	}
	while (getline(&buf, &lcap, f) > 0) {
		struct json_object *o;
		double v[6];

		line++;
		if (buf[strspn(buf, " \t\r\n")] == '\0')
			continue;
		o = json_tokener_parse(buf);
		if (!o || !json_object_is_type(o, json_type_object)) {
			snprintf(why, len, "line %zu: not a JSON object", line);
			json_object_put(o);
			r = -EINVAL;
			break;
		}
		for (size_t k = 0; k < 6 && !r; k++)
			if (num_field(o, keys[k], &v[k]) < 0) {
				snprintf(why, len, "line %zu: %s: missing or not a non-negative number",
					 line, keys[k]);
				r = -EINVAL;
			}
		json_object_put(o);
		if (r)
			break;
		if (n == cap) {
			struct iter_row *nr;

			cap = cap ? 2 * cap : 1024;
			nr = realloc(rows, cap * sizeof(*rows));
			if (!nr) {
				r = -ENOMEM;
				snprintf(why, len, "out of memory");
				break;
			}
			rows = nr;
		}
		rows[n++] = (struct iter_row){
			.tokens = v[0] + v[3], .prefill = v[0], .pairs = v[1],
			.segments = v[2], .decode_ctx = v[4], .seconds = v[5],
		};
	}
	if (!r && ferror(f)) {
		r = -EIO;
		snprintf(why, len, "read error");
	}
	free(buf);
	fclose(f);
	if (r) {
		free(rows);
		return r;
	}
	*ret = rows;
	*ret_n = n;
	return 0;
}

void cal_line_fit(const double *x, const double *y, size_t n,
		  double *ret_slope, double *ret_mx, double *ret_my)
{
	double mx = 0, my = 0, sxy = 0, sxx = 0;

	for (size_t i = 0; i < n; i++) {
		mx += x[i] / n;
		my += y[i] / n;
	}
	for (size_t i = 0; i < n; i++) {
		sxy += (x[i] - mx) * (y[i] - my);
		sxx += (x[i] - mx) * (x[i] - mx);
	}
	*ret_slope = sxx > 0 ? sxy / sxx : 0;
	*ret_mx = mx;
	*ret_my = my;
}

/* y = a + b x with a, b >= 0 (a line through the origin and the mean if not). */
static void line_fit(const double *x, const double *y, size_t n,
		     double *ret_a, double *ret_b)
{
	double b, mx, my;

	cal_line_fit(x, y, n, &b, &mx, &my);
	*ret_b = b > 0 ? b : 0;
	*ret_a = my - *ret_b * mx;
	if (*ret_a < 0) {
		*ret_a = 0;
		*ret_b = mx > 0 ? my / mx : 0;
	}
}

int cal_fit_iterations(const char *path, struct ac_cost_model *m,
		       struct cal_iter_fit *fit, char *why, size_t len)
{
	struct iter_row *rows = NULL;
	struct ac_cost_sample *smp = NULL;
	double *dx = NULL, *dy = NULL, floor_s = 0, ctx_s = 0;
	double lin = 0, attn = 0, seg = 0, err = 0, sum = 0;
	size_t n = 0, nd = 0, np = 0;
	int r;

	r = read_rows(path, &rows, &n, why, len);
	if (r < 0)
		return r;
	dx = malloc((n + 1) * sizeof(*dx));
	dy = malloc((n + 1) * sizeof(*dy));
	smp = malloc((n + 1) * sizeof(*smp));
	if (!dx || !dy || !smp) {
		r = -ENOMEM;
		snprintf(why, len, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (rows[i].prefill == 0 && rows[i].tokens > 0) {
			dx[nd] = rows[i].decode_ctx;
			dy[nd++] = rows[i].seconds;
		}
	if (nd < 2) {
		r = -EINVAL;
		snprintf(why, len, "%zu decode-only iterations: at least 2 are needed for the floor and the decode slope",
			 nd);
		goto out;
	}
	line_fit(dx, dy, nd, &floor_s, &ctx_s);
	/* Below the knee the floor, not the linear term, is paid. */
	for (int pass = 0; pass < 8; pass++) {
		double knee = lin > 0 ? floor_s / lin : 0;

		np = 0;
		for (size_t i = 0; i < n; i++) {
			const struct iter_row *q = &rows[i];
			bool below = pass > 0 && q->tokens <= knee;
			double left = q->seconds - ctx_s * q->decode_ctx -
				      (below ? floor_s : 0);

			if (q->prefill == 0)
				continue;
			/* Noise can take a pass below the model's floor. */
			smp[np++] = (struct ac_cost_sample){
				.tokens = below ? 0 : q->tokens,
				.pairs = q->pairs, .segments = q->segments,
				.seconds = left > 0 ? left : 0,
			};
		}
		r = ac_cost_fit(smp, np, &lin, &attn, &seg);
		if (r < 0) {
			snprintf(why, len, "%zu iterations with prefill do not pin down linear_s, attn_s and segment_s (need at least 3, of different sizes)",
				 np);
			goto out;
		}
	}
	if (lin <= 0) {
		/*
		 * No pass shows a cost per token beyond the floor (a small
		 * model, where attention and launches are all there is): put
		 * the knee at the largest pass seen, the least the data says.
		 */
		double most = 0;

		for (size_t i = 0; i < n; i++)
			if (rows[i].tokens > most)
				most = rows[i].tokens;
		lin = floor_s / (most > 0 ? most : 1);
		/*
		 * With no floor either (decode passes whose line runs through
		 * the origin), the data shows no cost per token at all; the
		 * model still needs a positive one to divide by: a nanosecond
		 * a token, nothing next to any pass measured.
		 */
		if (lin <= 0)
			lin = CAL_NO_TOKEN_COST_S;
		fit->knee_at_largest = true;
	}
	m->linear_s = lin;
	m->attn_s = attn;
	m->segment_s = seg;
	m->iteration_s = floor_s;
	m->decode_ctx_s = ctx_s;
	for (size_t i = 0; i < n; i++) {
		struct ac_cost_iter it = {
			.prefill_tokens = (uint64_t)rows[i].prefill,
			.prefill_pairs = rows[i].pairs,
			.segments = (uint32_t)rows[i].segments,
			.decode_tokens = (uint32_t)(rows[i].tokens - rows[i].prefill),
			.decode_ctx = (uint64_t)rows[i].decode_ctx,
		};
		double pred = ac_cost_iter_s(m, &it);

		err += fabs(pred - rows[i].seconds);
		sum += rows[i].seconds;
	}
	fit->iterations = n;
	fit->decode_only = nd;
	fit->with_prefill = np;
	fit->measured_s = sum;
	fit->abs_error_s = err;
	r = 0;
out:
	free(rows);
	free(smp);
	free(dx);
	free(dy);
	return r;
}
