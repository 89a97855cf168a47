/* SPDX-License-Identifier: MIT */
/*
 * The MSA kernels reach engines through libasymcache alone: this suite links
 * only the shared library and runs KV write + attention on the CPU backend
 * over a pool whose blocks are out of order, against a float64 softmax.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* both public headers in one unit: an engine includes both */
#include <asymcache/asymcache.h>
#include <asymcache/msa.h>

#define H 2		/* kv heads */
#define QH 4		/* query heads: GQA 2 */
#define D 8
#define T 8
#define NTOK 13		/* two blocks, the second partial */

static float rnd(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (float)((*s >> 8) & 0xffff) / 65536.0f - 0.5f;
}

Test(msa_export, cpu_prefill_through_the_shared_library)
{
	struct ac_kv_pool pool = {
		.block_bytes = 0, .num_blocks = 4,
		.layout = { .num_layers = 1, .num_kv_heads = H, .head_dim = D,
			    .block_tokens = T, .dtype = AC_DTYPE_FP32 },
	};
	/* one segment covering the whole prompt; blocks 3 then 1 */
	int32_t seg_indptr[2] = { 0, NTOK }, seg_seq[1] = { 0 },
		seg_pos[1] = { 0 }, table_indptr[2] = { 0, 2 },
		block_ids[2] = { 3, 1 }, ctx_len[1] = { NTOK };
	struct ac_msa_batch b = {
		.num_segs = 1, .num_seqs = 1, .seg_indptr = seg_indptr,
		.seg_seq = seg_seq, .seg_pos = seg_pos,
		.table_indptr = table_indptr, .block_ids = block_ids,
		.ctx_len = ctx_len,
	};
	static float q[NTOK][QH][D], k[NTOK][H][D], v[NTOK][H][D],
		out[NTOK][QH][D];
	struct ac_msa_plan *plan = NULL;
	unsigned seed = 7;
	float scale = 1.0f / sqrtf(D);
	void *ws;
	size_t wsz;

	for (int i = 0; i < NTOK * QH * D; i++)
		((float *)q)[i] = rnd(&seed);
	for (int i = 0; i < NTOK * H * D; i++) {
		((float *)k)[i] = rnd(&seed);
		((float *)v)[i] = rnd(&seed);
	}
	pool.block_bytes = ac_kv_block_bytes(&pool.layout);
	cr_assert_eq(pool.block_bytes, 2ull * H * T * D * sizeof(float));
	pool.base = calloc(pool.num_blocks, pool.block_bytes);
	cr_assert_not_null(pool.base);
	cr_assert_eq(ac_msa_plan_create(AC_MSA_BACKEND_CPU, &pool, QH, &b, 0,
					&plan), 0);
	cr_assert_eq(ac_msa_plan_total_q(plan), NTOK);
	wsz = ac_msa_plan_workspace_size(plan);
	ws = aligned_alloc(16, (wsz + 15) / 16 * 16 + 16);
	cr_assert_eq(ac_msa_plan_upload(plan, ws, wsz, NULL), 0);
	cr_assert_eq(ac_kv_write(plan, &pool, &b, 0, k, v, NULL), 0);
	memset(out, 0xff, sizeof(out));	/* NaN poison */
	cr_assert_eq(ac_msa_run(plan, &pool, &b, 0, scale, q, out, ws, wsz,
				NULL), 0);

	/* K of token 9 (block 1 of the table = pool block 1, row 1), head 1 */
	{
		const float *blk = (const float *)((char *)pool.base +
						   1 * pool.block_bytes);
		cr_assert_eq(blk[((0 * 2 + 0) * H + 1) * T * D + 1 * D + 3],
			     k[9][1][3]);
	}
	for (int p = 0; p < NTOK; p++) {
		for (int qh = 0; qh < QH; qh++) {
			int kh = qh / (QH / H);
			double s[NTOK], m = -INFINITY, z = 0;

			for (int j = 0; j <= p; j++) {
				s[j] = 0;
				for (int d = 0; d < D; d++)
					s[j] += (double)q[p][qh][d] * k[j][kh][d];
				s[j] *= scale;
				m = fmax(m, s[j]);
			}
			for (int j = 0; j <= p; j++)
				z += exp(s[j] - m);
			for (int d = 0; d < D; d++) {
				double o = 0;

				for (int j = 0; j <= p; j++)
					o += exp(s[j] - m) / z * v[j][kh][d];
				cr_assert_float_eq(out[p][qh][d], o, 1e-5,
						   "row %d head %d dim %d: %f vs %f",
						   p, qh, d, out[p][qh][d], o);
			}
		}
	}
	/* a block id past the pool is refused before anything is touched */
	block_ids[1] = 4;
	cr_assert_eq(ac_msa_plan_create(AC_MSA_BACKEND_CPU, &pool, QH, &b, 0,
					&(struct ac_msa_plan *){ NULL }), -EINVAL);
	ac_msa_plan_free(plan);
	free(ws);
	free(pool.base);
}
