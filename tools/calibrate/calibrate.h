/* SPDX-License-Identifier: MIT */
/* asymcache-calibrate: one ops table per backend (CPU reference, CUDA). */
#ifndef AC_CALIBRATE_H
#define AC_CALIBRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asymcache/msa.h"
#include "cost_model.h"

/*
 * The sequences and query segments of one attention measurement.  The
 * batch's index arrays all lie in @idx (@idx_len elements), so that a
 * device backend copies them in one piece.
 */
struct cal_attn {
	struct ac_msa_batch batch;
	int32_t *idx;
	size_t idx_len;
};

struct cal_ctx {
	struct ac_cost_layout layout;	/* the model being calibrated */
	struct ac_kv_pool pool;		/* one layer of it: per-layer timings */
	uint32_t num_q_heads;
	uint32_t max_q;			/* rows of the Q/out buffers */
	uint32_t reps;
	void *q, *out, *ws;
	size_t ws_size;
	void *priv;
	char device[AC_COST_NAME_MAX];
};

struct cal_backend_ops {
	const char *name;
	enum ac_msa_backend msa;
	int (*init)(struct cal_ctx *c);
	/* Seconds for one layer of attention over @a (after a warm-up). */
	int (*attn)(struct cal_ctx *c, const struct cal_attn *a, double *ret_s);
	/* Seconds for C[m][n] = A[m][k] B[k][n] in the backend's GEMM. */
	int (*gemm)(struct cal_ctx *c, uint32_t m, uint32_t n, uint32_t k,
		    double *ret_s);
	/* Memory bandwidth, bytes read plus written per second. */
	int (*copy_bw)(struct cal_ctx *c, double *ret_bytes_s);
	void (*fini)(struct cal_ctx *c);
};

extern const struct cal_backend_ops cal_cpu_ops;
#if defined(AC_HAVE_CUDA) && AC_HAVE_CUDA
extern const struct cal_backend_ops cal_cuda_ops;
bool cal_cuda_present(void);
int cal_cuda_gemm_status(const struct cal_ctx *c);
const char *cal_cuda_last_error(void);
#endif

double cal_now(void);

/* Least-squares slope of y over x (0 if x does not vary), and the means. */
void cal_line_fit(const double *x, const double *y, size_t n,
		  double *ret_slope, double *ret_mx, double *ret_my);

/* How well a fit of an engine's iterations reproduces them. */
struct cal_iter_fit {
	size_t iterations, decode_only, with_prefill;
	double measured_s;	/* forward seconds, summed */
	double abs_error_s;	/* |model - measured|, summed */
	bool knee_at_largest;	/* no token cost seen: linear_s from the floor */
};

/*
 * Fit @m's coefficients (not its names or layout) to the JSON lines of
 * asymcache-engine replay --iterations at @path. -EINVAL (and @why) for a
 * bad line or iterations that cannot pin the model down; an fopen()
 * error's -errno.
 */
int cal_fit_iterations(const char *path, struct ac_cost_model *m,
		       struct cal_iter_fit *fit, char *why, size_t len);

#endif
