/* SPDX-License-Identifier: MIT */
/*
 * Random MSA layouts and a float64 reference that shares no code with the
 * kernels: its own block addressing, its own dtype decoding, a two-pass
 * softmax over a dense copy of each sequence's context.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "msa_testlib.h"

uint64_t msa_rand_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rnd(uint64_t *st, uint32_t n)
{
	return n ? (uint32_t)(msa_rand_next(st) % n) : 0;
}

static size_t esize(enum ac_dtype dt)
{
	return dt == AC_DTYPE_FP32 ? 4 : 2;
}

double msa_elem(const void *base, size_t i, enum ac_dtype dt)
{
	if (dt == AC_DTYPE_FP32)
		return ((const float *)base)[i];
	{
		uint16_t h = ((const uint16_t *)base)[i];

		if (dt == AC_DTYPE_BF16) {
			uint32_t u = (uint32_t)h << 16;
			float f;

			memcpy(&f, &u, sizeof(f));
			return f;
		} else {
			int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
			double v;

			if (e == 31)
				return m ? NAN : (s ? -INFINITY : INFINITY);
			v = e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
			return s ? -v : v;
		}
	}
}

/*
 * Random values drawn as bit patterns, magnitudes 2^(lo..lo+4), so every
 * value is exact in its dtype and never zero: a zero would hide an
 * unwritten element.
 */
static void fill_random(void *base, size_t n, enum ac_dtype dt, int lo,
			uint64_t *st)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint64_t r = msa_rand_next(st);
		uint32_t sign = r & 1, e = (uint32_t)((r >> 1) % 5);

		if (dt == AC_DTYPE_FP32) {
			uint32_t u = sign << 31 | (uint32_t)(127 + lo + e) << 23 |
				     ((uint32_t)(r >> 8) & 0x7fffff);

			memcpy((float *)base + i, &u, 4);
		} else if (dt == AC_DTYPE_BF16) {
			((uint16_t *)base)[i] = (uint16_t)(sign << 15 |
				(127 + lo + e) << 7 | ((r >> 8) & 0x7f));
		} else {
			((uint16_t *)base)[i] = (uint16_t)(sign << 15 |
				(15 + lo + e) << 10 | ((r >> 8) & 0x3ff));
		}
	}
}

size_t msa_case_q_bytes(const struct msa_case *c)
{
	return (size_t)c->total_q * c->num_q_heads * c->o.head_dim *
	       esize(c->o.dtype);
}

size_t msa_case_kv_bytes(const struct msa_case *c)
{
	return (size_t)c->total_q * c->o.num_kv_heads * c->o.head_dim *
	       esize(c->o.dtype);
}

void msa_case_free(struct msa_case *c)
{
	free(c->seg_indptr);
	free(c->seg_seq);
	free(c->seg_pos);
	free(c->table_indptr);
	free(c->block_ids);
	free(c->ctx_len);
	free(c->q);
	free(c->k);
	free(c->v);
	free(c->pool_init);
	free(c->pool.base);
	memset(c, 0, sizeof(*c));
}

struct seg {
	int32_t seq, pos, len;
};

/*
 * NaN (all-ones bytes, in bf16 and fp16 alike) wherever no valid token
 * lives: slots past each context in its blocks, spare blocks and the
 * padding past the layout.  A kernel that lets any of it into an output,
 * even times a zero softmax weight, fails the check.
 */
static void poison_unused(struct msa_case *c)
{
	const struct ac_kv_layout *lay = &c->pool.layout;
	uint64_t tight = ac_kv_block_bytes(lay);
	size_t es = esize(lay->dtype), row = (size_t)lay->head_dim * es;
	uint32_t T = lay->block_tokens, b, i, l, kv, h, t;
	unsigned char *pool = c->pool_init, *used;

	used = calloc(c->pool.num_blocks, 1);
	for (b = 0; b < c->o.num_seqs; b++) {
		for (i = (uint32_t)c->table_indptr[b];
		     i < (uint32_t)c->table_indptr[b + 1]; i++) {
			uint32_t blk = (uint32_t)c->block_ids[i];
			uint32_t t0 = (i - (uint32_t)c->table_indptr[b]) * T;

			if (used)
				used[blk] = 1;
			for (l = 0; l < lay->num_layers; l++)
				for (kv = 0; kv < 2; kv++)
					for (h = 0; h < lay->num_kv_heads; h++)
						for (t = 0; t < T; t++) {
							size_t off;

							if (t0 + t < (uint32_t)c->ctx_len[b])
								continue;
							off = (size_t)blk * c->pool.block_bytes +
							      (((l * 2 + kv) * lay->num_kv_heads + h) *
								       T + t) * row;
							memset(pool + off, 0xff, row);
						}
		}
	}
	for (i = 0; i < c->pool.num_blocks; i++) {
		unsigned char *blk = pool + (size_t)i * c->pool.block_bytes;

		if (used && !used[i])
			memset(blk, 0xff, c->pool.block_bytes);
		else
			memset(blk + tight, 0xff, c->pool.block_bytes - tight);
	}
	free(used);
}

int msa_case_random(struct msa_case *c, uint64_t seed,
		    const struct msa_case_opts *o)
{
	uint32_t B = o->num_seqs, T = o->block_tokens, b, i, S = 0, nblk = 0;
	uint64_t st = seed;
	struct seg *segs = NULL;
	uint32_t seg_cap;
	int32_t *perm = NULL;
	size_t es = esize(o->dtype);
	int qlo;

	memset(c, 0, sizeof(*c));
	c->o = *o;
	c->num_q_heads = o->num_kv_heads * o->group;
	c->layer = rnd(&st, o->num_layers);
	c->scale = (float)(1.0 / sqrt((double)o->head_dim));
	seg_cap = B * o->max_segs;
	segs = calloc(seg_cap, sizeof(*segs));
	c->ctx_len = calloc(B, sizeof(int32_t));
	c->table_indptr = calloc(B + 1, sizeof(int32_t));
	if (!segs || !c->ctx_len || !c->table_indptr)
		goto out_nomem;

	for (b = 0; b < B; b++) {
		uint32_t lo = o->min_ctx ? o->min_ctx : 1;
		uint32_t ctx = lo + rnd(&st, o->max_ctx - lo + 1);
		uint32_t want = 1 + rnd(&st, o->max_segs), k;
		/* Most calls end in a prompt tail; some are holes only. */
		uint32_t end = ctx;

		c->ctx_len[b] = (int32_t)ctx;
		if (rnd(&st, 4)) {
			uint32_t len = 1 + rnd(&st, o->max_seg_len);

			if (len > ctx)
				len = ctx;
			segs[S++] = (struct seg){ b, (int32_t)(ctx - len),
						  (int32_t)len };
			end = ctx - len;
			want--;
		}
		/* Holes walk backwards from the tail: gaps of 0 make holes touch. */
		for (k = 0; k < want && end > 0; k++) {
			uint32_t gap = rnd(&st, 3) ? rnd(&st, 2 * T + 1) : 0;
			uint32_t len = rnd(&st, 3) ? 1 + rnd(&st, o->max_seg_len) : 1;

			if (gap >= end)
				break;
			end -= gap;
			if (len > end)
				len = end;
			end -= len;
			segs[S++] = (struct seg){ b, (int32_t)end, (int32_t)len };
		}
		c->table_indptr[b + 1] = c->table_indptr[b] +
					 (int32_t)((ctx + T - 1) / T) +
					 (int32_t)rnd(&st, 2);
	}
	/* Segments of all sequences interleaved, in random order. */
	for (i = S; i > 1; i--) {
		uint32_t j = rnd(&st, i);
		struct seg t = segs[i - 1];

		segs[i - 1] = segs[j];
		segs[j] = t;
	}
	c->seg_indptr = calloc(S + 1, sizeof(int32_t));
	c->seg_seq = calloc(S ? S : 1, sizeof(int32_t));
	c->seg_pos = calloc(S ? S : 1, sizeof(int32_t));
	if (!c->seg_indptr || !c->seg_seq || !c->seg_pos)
		goto out_nomem;
	for (i = 0; i < S; i++) {
		c->seg_seq[i] = segs[i].seq;
		c->seg_pos[i] = segs[i].pos;
		c->seg_indptr[i + 1] = c->seg_indptr[i] + segs[i].len;
	}
	c->total_q = (uint32_t)c->seg_indptr[S];

	/* A random permutation of pool blocks, with spares never referenced. */
	c->table_len = (uint32_t)c->table_indptr[B];
	nblk = c->table_len + 3;
	perm = calloc(nblk, sizeof(int32_t));
	c->block_ids = calloc(c->table_len ? c->table_len : 1, sizeof(int32_t));
	if (!perm || !c->block_ids)
		goto out_nomem;
	for (i = 0; i < nblk; i++)
		perm[i] = (int32_t)i;
	for (i = nblk; i > 1; i--) {
		uint32_t j = rnd(&st, i);
		int32_t t = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = t;
	}
	memcpy(c->block_ids, perm, c->table_len * sizeof(int32_t));

	c->pool.layout = (struct ac_kv_layout){
		.num_layers = o->num_layers, .num_kv_heads = o->num_kv_heads,
		.head_dim = o->head_dim, .block_tokens = T, .dtype = o->dtype,
	};
	/* Padding past the layout: block_bytes need not be tight. */
	c->pool.block_bytes = ac_kv_block_bytes(&c->pool.layout) + 256;
	c->pool.num_blocks = nblk;
	c->pool_bytes = (size_t)nblk * c->pool.block_bytes;
	c->pool.base = malloc(c->pool_bytes);
	c->pool_init = malloc(c->pool_bytes);
	c->q = malloc(msa_case_q_bytes(c) + 16);
	c->k = malloc(msa_case_kv_bytes(c) + 16);
	c->v = malloc(msa_case_kv_bytes(c) + 16);
	if (!c->pool.base || !c->pool_init || !c->q || !c->k || !c->v)
		goto out_nomem;
	fill_random(c->pool_init, c->pool_bytes / es, o->dtype, -2, &st);
	poison_unused(c);
	memcpy(c->pool.base, c->pool_init, c->pool_bytes);
	qlo = o->q_gain >= 2.0f ? (int)floor(log2(o->q_gain)) - 2 : -2;
	fill_random(c->q, msa_case_q_bytes(c) / es, o->dtype, qlo, &st);
	fill_random(c->k, msa_case_kv_bytes(c) / es, o->dtype, -2, &st);
	fill_random(c->v, msa_case_kv_bytes(c) / es, o->dtype, -2, &st);

	c->batch = (struct ac_msa_batch){
		.num_segs = S, .num_seqs = B, .seg_indptr = c->seg_indptr,
		.seg_seq = c->seg_seq, .seg_pos = c->seg_pos,
		.table_indptr = c->table_indptr, .block_ids = c->block_ids,
		.ctx_len = c->ctx_len,
	};
	free(perm);
	free(segs);
	return 0;

out_nomem:
	free(perm);
	free(segs);
	msa_case_free(c);
	return -ENOMEM;
}

/* Offset in elements of (block, layer, kv, head, token) - written out again. */
static size_t pool_index(const struct msa_case *c, int32_t blk, uint32_t kv,
			 uint32_t h, uint32_t t)
{
	const struct msa_case_opts *o = &c->o;
	size_t per_block = c->pool.block_bytes / esize(o->dtype);
	size_t l = c->layer;

	return (size_t)blk * per_block +
	       (((l * 2 + kv) * o->num_kv_heads + h) * o->block_tokens + t) *
		       o->head_dim;
}

/* Dense [ctx][H][D] K and V of one sequence after the call's writes. */
static void dense_kv(const struct msa_case *c, int32_t seq, double *kd,
		     double *vd)
{
	const struct msa_case_opts *o = &c->o;
	uint32_t H = o->num_kv_heads, D = o->head_dim, T = o->block_tokens;
	int32_t t, s;
	uint32_t h, d;

	for (t = 0; t < c->ctx_len[seq]; t++) {
		int32_t blk = c->block_ids[c->table_indptr[seq] + t / T];

		for (h = 0; h < H; h++) {
			size_t ik = pool_index(c, blk, 0, h, t % T);
			size_t iv = pool_index(c, blk, 1, h, t % T);

			for (d = 0; d < D; d++) {
				kd[((size_t)t * H + h) * D + d] =
					msa_elem(c->pool_init, ik + d, o->dtype);
				vd[((size_t)t * H + h) * D + d] =
					msa_elem(c->pool_init, iv + d, o->dtype);
			}
		}
	}
	for (s = 0; s < (int32_t)c->batch.num_segs; s++) {
		int32_t r;

		if (c->seg_seq[s] != seq)
			continue;
		for (r = c->seg_indptr[s]; r < c->seg_indptr[s + 1]; r++) {
			t = c->seg_pos[s] + r - c->seg_indptr[s];
			for (h = 0; h < H; h++)
				for (d = 0; d < D; d++) {
					size_t src = ((size_t)r * H + h) * D + d;
					size_t dst = ((size_t)t * H + h) * D + d;

					kd[dst] = msa_elem(c->k, src, o->dtype);
					vd[dst] = msa_elem(c->v, src, o->dtype);
				}
		}
	}
}

double msa_case_check(const struct msa_case *c, const void *out,
		      double *ret_max_abs)
{
	const struct msa_case_opts *o = &c->o;
	uint32_t H = o->num_kv_heads, D = o->head_dim, G = o->group;
	uint32_t Hq = c->num_q_heads, b;
	double num = 0.0, den = 0.0, max_abs = 0.0;
	int32_t maxctx = 1;
	double *kd, *vd, *p, *acc;
	bool bad = false;

	for (b = 0; b < c->batch.num_seqs; b++)
		if (c->ctx_len[b] > maxctx)
			maxctx = c->ctx_len[b];
	kd = malloc((size_t)maxctx * H * D * sizeof(double));
	vd = malloc((size_t)maxctx * H * D * sizeof(double));
	p = malloc((size_t)maxctx * sizeof(double));
	acc = malloc(D * sizeof(double));
	if (!kd || !vd || !p || !acc) {
		bad = true;
		goto out;
	}
	for (b = 0; b < c->batch.num_seqs; b++) {
		int32_t s;

		dense_kv(c, (int32_t)b, kd, vd);
		for (s = 0; s < (int32_t)c->batch.num_segs; s++) {
			int32_t r;

			if (c->seg_seq[s] != (int32_t)b)
				continue;
			for (r = c->seg_indptr[s]; r < c->seg_indptr[s + 1]; r++) {
				int32_t pos = c->seg_pos[s] + r - c->seg_indptr[s];

				for (uint32_t hq = 0; hq < Hq; hq++) {
					uint32_t h = hq / G, d;
					size_t qo = ((size_t)r * Hq + hq) * D;
					double mx = -INFINITY, sum = 0.0;
					int32_t t;

					for (t = 0; t <= pos; t++) {
						double dot = 0.0;

						for (d = 0; d < D; d++)
							dot += msa_elem(c->q, qo + d, o->dtype) *
							       kd[((size_t)t * H + h) * D + d];
						p[t] = dot * c->scale;
						if (p[t] > mx)
							mx = p[t];
					}
					for (d = 0; d < D; d++)
						acc[d] = 0.0;
					for (t = 0; t <= pos; t++) {
						double e = exp(p[t] - mx);

						sum += e;
						for (d = 0; d < D; d++)
							acc[d] += e * vd[((size_t)t * H + h) * D + d];
					}
					for (d = 0; d < D; d++) {
						double ref = acc[d] / sum;
						double got = msa_elem(out, qo + d, o->dtype);

						if (!isfinite(got))
							bad = true;
						num += (got - ref) * (got - ref);
						den += ref * ref;
						if (fabs(got - ref) > max_abs)
							max_abs = fabs(got - ref);
					}
				}
			}
		}
	}
out:
	free(kd);
	free(vd);
	free(p);
	free(acc);
	if (ret_max_abs)
		*ret_max_abs = max_abs;
	if (bad)
		return -1.0;
	return den > 0.0 ? sqrt(num / den) : sqrt(num);
}

int msa_case_check_pool(const struct msa_case *c, const void *pool)
{
	const struct msa_case_opts *o = &c->o;
	size_t es = esize(o->dtype), nel = c->pool_bytes / es, i;
	unsigned char *expect = malloc(c->pool_bytes);
	uint32_t H = o->num_kv_heads, D = o->head_dim, T = o->block_tokens;
	int bad = 0;
	int32_t s;

	if (!expect)
		return -ENOMEM;
	memcpy(expect, c->pool_init, c->pool_bytes);
	for (s = 0; s < (int32_t)c->batch.num_segs; s++) {
		int32_t seq = c->seg_seq[s], r;

		for (r = c->seg_indptr[s]; r < c->seg_indptr[s + 1]; r++) {
			int32_t t = c->seg_pos[s] + r - c->seg_indptr[s];
			int32_t blk = c->block_ids[c->table_indptr[seq] + t / T];

			for (uint32_t h = 0; h < H; h++) {
				size_t src = ((size_t)r * H + h) * D * es;

				memcpy(expect + pool_index(c, blk, 0, h, t % T) * es,
				       (const char *)c->k + src, D * es);
				memcpy(expect + pool_index(c, blk, 1, h, t % T) * es,
				       (const char *)c->v + src, D * es);
			}
		}
	}
	for (i = 0; i < nel; i++)
		if (memcmp(expect + i * es, (const char *)pool + i * es, es))
			bad++;
	free(expect);
	return bad;
}
