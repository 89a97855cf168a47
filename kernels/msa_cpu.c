/* SPDX-License-Identifier: MIT */
/*
 * CPU reference backend: the same plan, the same work items and the same
 * split/merge as the CUDA kernels, in fp32 arithmetic, so the tests that run
 * without a GPU still exercise the planner's splits and merges.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "msa_internal.h"
#include <asymcache/elem.h>

static void store_elem(void *base, size_t i, enum ac_dtype dt, float x)
{
	switch (dt) {
	case AC_DTYPE_BF16:
		((uint16_t *)base)[i] = ac_f32_to_bf16(x);
		break;
	case AC_DTYPE_FP16:
		((uint16_t *)base)[i] = ac_f32_to_fp16(x);
		break;
	case AC_DTYPE_FP32:
		((float *)base)[i] = x;
		break;
	}
}

/* Address of the first element of key/value row @t of @seq's context. */
static const void *kv_row(const struct ac_kv_pool *pool,
			  const struct ac_msa_batch *b, int32_t seq,
			  uint32_t layer, uint32_t kv, uint32_t head, int32_t t)
{
	const struct ac_kv_layout *lay = &pool->layout;
	uint32_t T = lay->block_tokens;
	int32_t blk = b->block_ids[b->table_indptr[seq] + t / T];
	uint64_t e = ac_kv_elem_offset(lay, layer, kv, head, t % T);

	return (const char *)pool->base + (uint64_t)blk * pool->block_bytes +
	       e * ac_dtype_size(lay->dtype);
}

/* An empty list may have NULL on both sides, which memcpy must not see. */
static void copy_list(char *w, size_t off, const void *src, size_t bytes)
{
	if (bytes)
		memcpy(w + off, src, bytes);
}

static int cpu_upload(const struct ac_msa_plan *p, void *ws, void *stream)
{
	char *w = ws;

	copy_list(w, p->off_big, p->big, p->n_big * sizeof(*p->big));
	copy_list(w, p->off_mid, p->mid, p->n_mid * sizeof(*p->mid));
	copy_list(w, p->off_small, p->small, p->n_small * sizeof(*p->small));
	copy_list(w, p->off_merge, p->merge, p->n_merge * sizeof(*p->merge));
	return 0;
}

/* Keys a tile converts to fp32 at a time, shared by all its query rows. */
#define CPU_KEYS 32

struct cpu_ctx {
	const struct ac_msa_plan *p;
	const struct ac_kv_pool *pool;
	const struct ac_msa_batch *b;
	uint32_t layer;
	float scale;
	const void *q;
	void *out;
	float *part_o;
	float *part_lse;
	/* Scratch, sized by cpu_run for the plan's largest tile. */
	float *qf;	/* [rows][D] the tile's queries */
	float *acc;	/* [rows][D] */
	float *m, *l;	/* [rows] running maximum and sum */
	float *kf, *vf;	/* [CPU_KEYS][D] */
	float *s;	/* [CPU_KEYS] */
};

/* One row of D elements to fp32, the element type decided once. */
static void load_row(float *restrict dst, const void *src, enum ac_dtype dt,
		     uint32_t D)
{
	uint32_t d;

	switch (dt) {
	case AC_DTYPE_BF16:
		for (d = 0; d < D; d++)
			dst[d] = ac_bf16_to_f32(((const uint16_t *)src)[d]);
		break;
	case AC_DTYPE_FP16:
		for (d = 0; d < D; d++)
			dst[d] = ac_fp16_to_f32(((const uint16_t *)src)[d]);
		break;
	case AC_DTYPE_FP32:
		memcpy(dst, src, D * sizeof(float));
		break;
	}
}

/*
 * One tile: online softmax over its key range, CPU_KEYS keys at a time.
 * Each block of keys is read and converted once for every query row of
 * the tile (its tokens times the G heads sharing a KV head), and each
 * row rescales its accumulator once a block rather than once a key: the
 * reference was a row at a time, a key at a time, and held the CPU
 * engine's serving to a third of its time in this function.
 */
static void cpu_tile(struct cpu_ctx *c, const struct msa_work *w)
{
	const struct ac_msa_plan *p = c->p;
	uint32_t G = p->group, D = p->layout.head_dim, Hq = p->num_q_heads;
	enum ac_dtype dt = p->layout.dtype;
	uint32_t rows = w->ntok * G, r, d;
	int32_t hi = w->pos0 + w->ntok, kb, j;

	if (hi > w->kv_end)
		hi = w->kv_end;
	for (r = 0; r < rows; r++) {
		size_t qoff = ((size_t)(w->q_row0 + r / G) * Hq +
			       w->kv_head * G + r % G) * D;

		load_row(c->qf + (size_t)r * D,
			 (const char *)c->q + qoff * ac_dtype_size(dt), dt, D);
		memset(c->acc + (size_t)r * D, 0, D * sizeof(float));
		c->m[r] = -INFINITY;
		c->l[r] = 0.0f;
	}
	for (kb = w->kv_begin; kb < hi; kb += CPU_KEYS) {
		int32_t n = hi - kb < CPU_KEYS ? hi - kb : CPU_KEYS;

		for (j = 0; j < n; j++) {
			load_row(c->kf + (size_t)j * D,
				 kv_row(c->pool, c->b, w->seq, c->layer, 0,
					w->kv_head, kb + j), dt, D);
			load_row(c->vf + (size_t)j * D,
				 kv_row(c->pool, c->b, w->seq, c->layer, 1,
					w->kv_head, kb + j), dt, D);
		}
		for (r = 0; r < rows; r++) {
			/* Causal: the row's token sees keys up to itself. */
			int32_t nk = w->pos0 + (int32_t)(r / G) + 1 - kb;
			const float *restrict qr = c->qf + (size_t)r * D;
			float *restrict a = c->acc + (size_t)r * D;
			float mb = -INFINITY, mn, corr, sum = 0.0f;

			if (nk > n)
				nk = n;
			if (nk <= 0)
				continue;
			for (j = 0; j < nk; j++) {
				const float *restrict k = c->kf + (size_t)j * D;
				float dot = 0.0f;

				for (d = 0; d < D; d++)
					dot += qr[d] * k[d];
				c->s[j] = dot * c->scale;
				mb = c->s[j] > mb ? c->s[j] : mb;
			}
			mn = mb > c->m[r] ? mb : c->m[r];
			corr = expf(c->m[r] - mn);
			for (d = 0; d < D; d++)
				a[d] *= corr;
			for (j = 0; j < nk; j++) {
				const float *restrict v = c->vf + (size_t)j * D;
				float e = expf(c->s[j] - mn);

				sum += e;
				for (d = 0; d < D; d++)
					a[d] += e * v[d];
			}
			c->l[r] = c->l[r] * corr + sum;
			c->m[r] = mn;
		}
	}
	for (r = 0; r < rows; r++) {
		size_t qoff = ((size_t)(w->q_row0 + r / G) * Hq +
			       w->kv_head * G + r % G) * D;
		const float *a = c->acc + (size_t)r * D;
		float l = c->l[r];

		if (w->part_row < 0) {
			for (d = 0; d < D; d++)
				store_elem(c->out, qoff + d, dt, a[d] / l);
			continue;
		}
		/* An empty range leaves l == 0: weight zero in the merge. */
		for (d = 0; d < D; d++)
			c->part_o[((size_t)w->part_row + r) * D + d] =
				l > 0.0f ? a[d] / l : 0.0f;
		c->part_lse[w->part_row + r] = l > 0.0f ? c->m[r] + logf(l) :
							  -INFINITY;
	}
}

static void cpu_merge(struct cpu_ctx *c, const struct msa_merge *m)
{
	const struct ac_msa_plan *p = c->p;
	uint32_t G = p->group, D = p->layout.head_dim, Hq = p->num_q_heads;
	uint32_t rows = m->ntok * G, r, d;
	int32_t i;

	for (r = 0; r < rows; r++) {
		size_t qoff = ((size_t)(m->q_row0 + r / G) * Hq +
			       m->kv_head * G + r % G) * D;
		float mx = -INFINITY, wsum = 0.0f;

		for (i = 0; i < m->nsplit; i++) {
			float lse = c->part_lse[m->part_row0 + i * rows + r];

			mx = lse > mx ? lse : mx;
		}
		for (d = 0; d < D; d++)
			c->acc[d] = 0.0f;
		for (i = 0; i < m->nsplit; i++) {
			size_t pr = (size_t)m->part_row0 + i * rows + r;
			float wgt = expf(c->part_lse[pr] - mx);

			wsum += wgt;
			for (d = 0; d < D; d++)
				c->acc[d] += wgt * c->part_o[pr * D + d];
		}
		for (d = 0; d < D; d++)
			store_elem(c->out, qoff + d, p->layout.dtype,
				   c->acc[d] / wsum);
	}
}

/* The most query rows one work item of @n covers. */
static uint32_t most_rows(const struct msa_work *w, uint32_t n, uint32_t G,
			  uint32_t most)
{
	for (uint32_t i = 0; i < n; i++)
		if ((uint32_t)w[i].ntok * G > most)
			most = (uint32_t)w[i].ntok * G;
	return most;
}

static int cpu_run(const struct ac_msa_plan *p, const struct ac_kv_pool *pool,
		   const struct ac_msa_batch *b, uint32_t layer, float scale,
		   const void *q, void *out, void *ws, void *stream)
{
	const char *w = ws;
	uint32_t D = p->layout.head_dim, G = p->group, rows, i;
	struct cpu_ctx c = {
		.p = p, .pool = pool, .b = b, .layer = layer, .scale = scale,
		.q = q, .out = out,
		.part_o = (float *)((char *)ws + p->off_part_o),
		.part_lse = (float *)((char *)ws + p->off_part_lse),
	};
	const struct msa_work *big = (const void *)(w + p->off_big);
	const struct msa_work *mid = (const void *)(w + p->off_mid);
	const struct msa_work *small = (const void *)(w + p->off_small);
	const struct msa_merge *merge = (const void *)(w + p->off_merge);
	float *scratch;

	rows = most_rows(big, p->n_big, G, 0);
	rows = most_rows(mid, p->n_mid, G, rows);
	rows = most_rows(small, p->n_small, G, rows);
	if (rows < p->merge_rows)
		rows = p->merge_rows;
	/* acc also serves cpu_merge, one row at a time. */
	scratch = malloc(((size_t)rows * (2 * D + 2) + (size_t)CPU_KEYS * (2 * D + 1) + D) *
			 sizeof(float));
	if (!scratch)
		return -ENOMEM;
	c.qf = scratch;
	c.acc = c.qf + (size_t)rows * D;
	c.m = c.acc + (size_t)rows * D;
	c.l = c.m + rows;
	c.kf = c.l + rows;
	c.vf = c.kf + (size_t)CPU_KEYS * D;
	c.s = c.vf + (size_t)CPU_KEYS * D;
	for (i = 0; i < p->n_big; i++)
		cpu_tile(&c, &big[i]);
	for (i = 0; i < p->n_mid; i++)
		cpu_tile(&c, &mid[i]);
	for (i = 0; i < p->n_small; i++)
		cpu_tile(&c, &small[i]);
	for (i = 0; i < p->n_merge; i++)
		cpu_merge(&c, &merge[i]);
	free(scratch);
	return 0;
}

static int cpu_kv_write(const struct ac_msa_plan *p,
			const struct ac_kv_pool *pool,
			const struct ac_msa_batch *b, uint32_t layer,
			const void *k, const void *v, void *stream)
{
	const struct ac_kv_layout *lay = &pool->layout;
	uint32_t H = lay->num_kv_heads, D = lay->head_dim, s, h;
	size_t esz = ac_dtype_size(lay->dtype);

	for (s = 0; s < b->num_segs; s++) {
		int32_t row;

		for (row = b->seg_indptr[s]; row < b->seg_indptr[s + 1];
		     row++) {
			int32_t t = b->seg_pos[s] + row - b->seg_indptr[s];

			for (h = 0; h < H; h++) {
				size_t src = ((size_t)row * H + h) * D * esz;

				memcpy((void *)kv_row(pool, b, b->seg_seq[s],
						      layer, 0, h, t),
				       (const char *)k + src, D * esz);
				memcpy((void *)kv_row(pool, b, b->seg_seq[s],
						      layer, 1, h, t),
				       (const char *)v + src, D * esz);
			}
		}
	}
	return 0;
}

const struct msa_backend_ops msa_cpu_ops = {
	.name = "cpu",
	.upload = cpu_upload,
	.run = cpu_run,
	.kv_write = cpu_kv_write,
	.sm_count = NULL,
};
