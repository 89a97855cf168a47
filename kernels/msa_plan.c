/* SPDX-License-Identifier: MIT */
/*
 * Host-side plan: checks a CSR batch once and cuts it into thread-block
 * work, so that every layer of an iteration reuses the same split.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "msa_internal.h"

/*
 * The shortest chunk a context is split into. 32 keys let a batch-1
 * decode at 2k run on 33 one-tile chunks a KV head (11 of three tiles at
 * 128): a few MB of KV spread over most SMs, each block one tile deep.
 * Longer contexts and larger batches are split by the wave count, not by
 * this. The build may set it (an A/B of the two on the device).
 */
#ifndef AC_MSA_MIN_SPLIT_KEYS
#define AC_MSA_MIN_SPLIT_KEYS	32
#endif

const struct msa_tuning msa_tuning_default = {
	.min_split_keys = AC_MSA_MIN_SPLIT_KEYS,
	.waves = 2,
	.no_split = 0,
	.force_mma = 0,
	.big_rows = MSA_BIG_ROWS,
};

static int check_pool(enum ac_msa_backend backend,
		      const struct ac_kv_pool *pool)
{
	const struct ac_kv_layout *lay = &pool->layout;

	if (!pool->base || !pool->num_blocks)
		return -EINVAL;
	if (ac_kv_layout_check(lay) < 0)
		return -EINVAL;
	/* 2^31 elements per block keeps the kernels' offsets in range. */
	if (ac_kv_block_bytes(lay) > pool->block_bytes ||
	    ac_kv_block_bytes(lay) / ac_dtype_size(lay->dtype) >
		    INT32_MAX)
		return -EINVAL;
	if (backend == AC_MSA_BACKEND_CUDA) {
		if (lay->dtype == AC_DTYPE_FP32)
			return -EOPNOTSUPP;
		if (lay->head_dim != 64 && lay->head_dim != 128)
			return -EOPNOTSUPP;
		if (lay->block_tokens < 8 || lay->block_tokens > 64)
			return -EOPNOTSUPP;
		/* Blocks must keep 16-byte rows aligned for vector copies. */
		if (pool->block_bytes % 16 || (uintptr_t)pool->base % 16)
			return -EINVAL;
	} else if (lay->head_dim > 256) {
		return -EOPNOTSUPP;
	}
	return 0;
}

struct seg_key {
	int32_t seq;
	int32_t pos;
	int32_t len;
};

static int cmp_seg_key(const void *a, const void *b)
{
	const struct seg_key *x = a, *y = b;

	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	if (x->pos != y->pos)
		return x->pos < y->pos ? -1 : 1;
	return 0;
}

/*
 * Everything the kernels index is checked here, on the host, because a bad
 * index on the device is a silent read of another tenant's block or a
 * fault that takes the context down.
 */
static int check_batch(const struct ac_kv_pool *pool,
		       const struct ac_msa_batch *b, uint32_t *ret_total_q)
{
	uint32_t T = pool->layout.block_tokens;
	struct seg_key *keys;
	uint32_t s, i, n = 0;
	int ret = 0;

	if (!b->seg_indptr)
		return -EINVAL;
	if (b->num_segs && (!b->seg_seq || !b->seg_pos || !b->num_seqs ||
			    !b->table_indptr || !b->block_ids || !b->ctx_len))
		return -EINVAL;
	if (b->seg_indptr[0] != 0)
		return -EINVAL;
	for (s = 0; s < b->num_segs; s++)
		if (b->seg_indptr[s + 1] < b->seg_indptr[s])
			return -EINVAL;
	if (b->num_segs && b->table_indptr[0] < 0)
		return -EINVAL;
	for (i = 0; b->num_segs && i < b->num_seqs; i++) {
		int64_t have = (int64_t)b->table_indptr[i + 1] -
			       b->table_indptr[i];
		int64_t need;

		if (b->ctx_len[i] < 0 || have < 0)
			return -EINVAL;
		need = ((int64_t)b->ctx_len[i] + T - 1) / T;
		if (have < need)
			return -EINVAL;
		for (int64_t j = 0; j < need; j++) {
			int32_t id = b->block_ids[b->table_indptr[i] + j];

			if (id < 0 || (uint32_t)id >= pool->num_blocks)
				return -EINVAL;
		}
	}

	keys = calloc(b->num_segs ? b->num_segs : 1, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (s = 0; s < b->num_segs; s++) {
		int32_t seq = b->seg_seq[s], pos = b->seg_pos[s];
		int32_t len = b->seg_indptr[s + 1] - b->seg_indptr[s];

		if (seq < 0 || (uint32_t)seq >= b->num_seqs || pos < 0 ||
		    (int64_t)pos + len > b->ctx_len[seq]) {
			ret = -EINVAL;
			goto out_keys;
		}
		if (len)
			keys[n++] = (struct seg_key){ seq, pos, len };
	}
	/* Two segments writing the same position would race in ac_kv_write. */
	qsort(keys, n, sizeof(*keys), cmp_seg_key);
	for (i = 1; i < n; i++) {
		if (keys[i].seq == keys[i - 1].seq &&
		    keys[i - 1].pos + keys[i - 1].len > keys[i].pos) {
			ret = -EINVAL;
			goto out_keys;
		}
	}
	*ret_total_q = (uint32_t)b->seg_indptr[b->num_segs];
out_keys:
	free(keys);
	return ret;
}

enum tile_kind {
	TILE_BIG,
	TILE_MID,
	TILE_SMALL,
};

struct tile {
	struct msa_work w;
	uint32_t rows;
	enum tile_kind kind;
};

static int cmp_work_desc(const void *a, const void *b)
{
	const struct msa_work *x = a, *y = b;
	int64_t wx = (int64_t)(x->kv_end - x->kv_begin) * x->ntok;
	int64_t wy = (int64_t)(y->kv_end - y->kv_begin) * y->ntok;

	if (wx != wy)
		return wx > wy ? -1 : 1;
	/* Stable across libcs: tie-break on position in the batch. */
	if (x->q_row0 != y->q_row0)
		return x->q_row0 < y->q_row0 ? -1 : 1;
	if (x->kv_head != y->kv_head)
		return x->kv_head < y->kv_head ? -1 : 1;
	return x->kv_begin < y->kv_begin ? -1 : (x->kv_begin > y->kv_begin);
}

static size_t align_up(size_t x, size_t a)
{
	return (x + a - 1) / a * a;
}

/*
 * Cut each segment into tiles of rows / G tokens, then split the key range
 * of long tiles when there are too few tiles to fill the GPU
 * (flash-decoding).  The split length follows the total work, not each
 * tile, so a batch of equal decodes gets equal chunks and one wave.
 */
static int build_tiles(struct ac_msa_plan *p, const struct ac_msa_batch *b,
		       uint32_t sm_count, const struct msa_tuning *tune,
		       struct tile **ret_tiles, uint32_t *ret_n)
{
	uint32_t G = p->group, H = p->layout.num_kv_heads;
	uint32_t s, n = 0, cap = 0;
	struct tile *t = NULL;

	for (s = 0; s < b->num_segs; s++) {
		uint32_t len = b->seg_indptr[s + 1] - b->seg_indptr[s];
		enum tile_kind kind = TILE_BIG;
		uint32_t tpt = p->big_rows / G;

		if (len * G <= MSA_SMALL_ROWS) {
			kind = TILE_SMALL;
			tpt = MSA_SMALL_ROWS / G;
		} else if (p->big_rows > MSA_MID_ROWS && len * G <= MSA_MID_ROWS) {
			kind = TILE_MID;
			tpt = MSA_MID_ROWS / G;
		}
		uint32_t tok0, h;

		for (tok0 = 0; tok0 < len; tok0 += tpt) {
			for (h = 0; h < H; h++) {
				struct tile *x;

				if (n == cap) {
					struct tile *nt;

					cap = cap ? cap * 2 : 64;
					nt = realloc(t, cap * sizeof(*t));
					if (!nt) {
						free(t);
						return -ENOMEM;
					}
					t = nt;
				}
				x = &t[n++];
				x->kind = kind;
				x->w.q_row0 = b->seg_indptr[s] + tok0;
				x->w.pos0 = b->seg_pos[s] + tok0;
				x->w.seq = b->seg_seq[s];
				x->w.ntok = len - tok0 < tpt ? len - tok0 : tpt;
				x->w.kv_head = h;
				x->w.kv_begin = 0;
				x->w.kv_end = x->w.pos0 + x->w.ntok;
				x->w.part_row = -1;
				x->rows = x->w.ntok * G;
			}
		}
	}
	(void)sm_count;
	(void)tune;
	*ret_tiles = t;
	*ret_n = n;
	return 0;
}

static int split_tiles(struct ac_msa_plan *p, struct tile *t, uint32_t n,
		       uint32_t sm_count, const struct msa_tuning *tune)
{
	uint64_t max_keys = 0, slots, chunk;
	uint32_t i, nb = 0, nmid = 0, ns = 0, nm = 0, part = 0;

	for (i = 0; i < n; i++) {
		uint64_t len = t[i].w.kv_end - t[i].w.kv_begin;

		if (len > max_keys)
			max_keys = len;
	}
	/*
	 * Pick the split count that minimises whole waves times the longest
	 * chunk (plus a merge's worth of keys): fewer, fuller waves beat an
	 * underfilled last one.
	 */
	slots = (uint64_t)sm_count * MSA_SPLIT_BLOCKS_PER_SM;
	chunk = UINT64_MAX;
	if (n && n < tune->waves * slots && !tune->no_split) {
		uint64_t best = UINT64_MAX, k, kmax;

		kmax = max_keys / (tune->min_split_keys ? tune->min_split_keys : 1);
		if (kmax > 64)
			kmax = 64;
		for (k = 1; k <= kmax || k == 1; k++) {
			uint64_t waves = (n * k + slots - 1) / slots;
			uint64_t cost = waves * ((max_keys + k - 1) / k + 128);

			if (cost < best) {
				best = cost;
				chunk = (max_keys + k - 1) / k;
			}
		}
	}

	/* First pass: count, so the lists are allocated once. */
	for (i = 0; i < n; i++) {
		uint64_t len = t[i].w.kv_end - t[i].w.kv_begin;
		uint64_t ns_i = chunk == UINT64_MAX ? 1 :
						       (len + chunk - 1) / chunk;

		if (ns_i < 1)
			ns_i = 1;
		/* Never more splits than key tiles. */
		if (ns_i > (len + MSA_KV_TILE - 1) / MSA_KV_TILE)
			ns_i = (len + MSA_KV_TILE - 1) / MSA_KV_TILE;
		if (ns_i > 64)
			ns_i = 64;
		t[i].w.part_row = (int32_t)ns_i;	/* stash */
		if (t[i].kind == TILE_SMALL)
			ns += ns_i;
		else if (t[i].kind == TILE_MID)
			nmid += ns_i;
		else
			nb += ns_i;
		if (ns_i > 1) {
			nm++;
			if ((uint64_t)part + ns_i * t[i].rows > INT32_MAX)
				return -E2BIG;
			part += ns_i * t[i].rows;
		}
	}
	p->big = calloc(nb ? nb : 1, sizeof(*p->big));
	p->mid = calloc(nmid ? nmid : 1, sizeof(*p->mid));
	p->small = calloc(ns ? ns : 1, sizeof(*p->small));
	p->merge = calloc(nm ? nm : 1, sizeof(*p->merge));
	if (!p->big || !p->mid || !p->small || !p->merge)
		return -ENOMEM;

	part = 0;
	for (i = 0; i < n; i++) {
		int32_t ns_i = t[i].w.part_row;
		int32_t len = t[i].w.kv_end - t[i].w.kv_begin;
		/* Key-tile aligned chunks: only the last tile is partial. */
		int32_t tiles = (len + MSA_KV_TILE - 1) / MSA_KV_TILE;
		int32_t per = (tiles + ns_i - 1) / ns_i;
		int32_t k;

		if (ns_i > 1) {
			struct msa_merge *m = &p->merge[p->n_merge++];

			m->q_row0 = t[i].w.q_row0;
			m->ntok = t[i].w.ntok;
			m->kv_head = t[i].w.kv_head;
			m->part_row0 = part;
			/* per rounds up, so fewer chunks may be needed. */
			m->nsplit = (tiles + per - 1) / per;
			if (t[i].rows > p->merge_rows)
				p->merge_rows = t[i].rows;
			ns_i = m->nsplit;
		}
		for (k = 0; k < ns_i; k++) {
			struct msa_work w = t[i].w;

			w.kv_begin = t[i].w.kv_begin + k * per * MSA_KV_TILE;
			w.kv_end = w.kv_begin + per * MSA_KV_TILE;
			if (w.kv_end > t[i].w.kv_end)
				w.kv_end = t[i].w.kv_end;
			w.part_row = ns_i > 1 ? (int32_t)(part + k * t[i].rows) :
						-1;
			if (t[i].kind == TILE_SMALL)
				p->small[p->n_small++] = w;
			else if (t[i].kind == TILE_MID)
				p->mid[p->n_mid++] = w;
			else
				p->big[p->n_big++] = w;
		}
		if (ns_i > 1)
			part += ns_i * t[i].rows;
	}
	p->n_part_rows = part;
	qsort(p->big, p->n_big, sizeof(*p->big), cmp_work_desc);
	qsort(p->mid, p->n_mid, sizeof(*p->mid), cmp_work_desc);
	qsort(p->small, p->n_small, sizeof(*p->small), cmp_work_desc);
	return 0;
}

static const struct msa_backend_ops *backend_ops(enum ac_msa_backend backend)
{
	switch (backend) {
	case AC_MSA_BACKEND_CPU:
		return &msa_cpu_ops;
	case AC_MSA_BACKEND_CUDA:
#if defined(AC_HAVE_CUDA) && AC_HAVE_CUDA
		return &msa_cuda_ops;
#else
		return NULL;
#endif
	}
	return NULL;
}

int msa_plan_create(enum ac_msa_backend backend,
		    const struct ac_kv_pool *pool, uint32_t num_q_heads,
		    const struct ac_msa_batch *batch, uint32_t sm_count,
		    const struct msa_tuning *tune,
		    struct ac_msa_plan **ret_plan)
{
	const struct msa_backend_ops *ops = backend_ops(backend);
	struct ac_msa_plan *p;
	struct tile *tiles = NULL;
	uint32_t ntiles = 0, total_q = 0;
	int ret;

	if (!pool || !batch || !ret_plan || !tune)
		return -EINVAL;
	if (!ops)
		return -EOPNOTSUPP;
	if (tune->big_rows && tune->big_rows != MSA_BIG_ROWS &&
	    tune->big_rows != MSA_MID_ROWS)
		return -EINVAL;
	ret = check_pool(backend, pool);
	if (ret)
		return ret;
	if (!num_q_heads || num_q_heads % pool->layout.num_kv_heads ||
	    num_q_heads / pool->layout.num_kv_heads > 8)
		return -EINVAL;
	ret = check_batch(pool, batch, &total_q);
	if (ret)
		return ret;
	if ((uint64_t)total_q * num_q_heads * pool->layout.head_dim >
	    INT32_MAX * (uint64_t)8)
		return -E2BIG;
	if (!sm_count) {
		if (!ops->sm_count || ops->sm_count(&sm_count))
			sm_count = 132;
	}

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ops = ops;
	p->layout = pool->layout;
	p->num_q_heads = num_q_heads;
	p->group = num_q_heads / pool->layout.num_kv_heads;
	p->num_segs = batch->num_segs;
	p->num_seqs = batch->num_seqs;
	p->total_q = total_q;
	p->big_rows = tune->big_rows ? tune->big_rows : MSA_BIG_ROWS;
	p->force_mma = tune->force_mma;

	ret = build_tiles(p, batch, sm_count, tune, &tiles, &ntiles);
	if (ret)
		goto out_plan;
	ret = split_tiles(p, tiles, ntiles, sm_count, tune);
	free(tiles);
	if (ret)
		goto out_plan;

	p->off_big = 0;
	p->off_mid = align_up(p->off_big + p->n_big * sizeof(struct msa_work),
			      256);
	p->off_small = align_up(p->off_mid + p->n_mid * sizeof(struct msa_work),
				256);
	p->off_merge = align_up(p->off_small +
					p->n_small * sizeof(struct msa_work),
				256);
	p->off_part_o = align_up(p->off_merge +
					 p->n_merge * sizeof(struct msa_merge),
				 256);
	p->off_part_lse = align_up(p->off_part_o + (size_t)p->n_part_rows *
							   p->layout.head_dim *
							   sizeof(float),
				   256);
	p->ws_size = align_up(p->off_part_lse +
				      (size_t)p->n_part_rows * sizeof(float),
			      256);
	*ret_plan = p;
	return 0;

out_plan:
	ac_msa_plan_free(p);
	return ret;
}

int ac_msa_plan_create(enum ac_msa_backend backend,
		       const struct ac_kv_pool *pool, uint32_t num_q_heads,
		       const struct ac_msa_batch *batch, uint32_t sm_count,
		       struct ac_msa_plan **ret_plan)
{
	return msa_plan_create(backend, pool, num_q_heads, batch, sm_count,
			       &msa_tuning_default, ret_plan);
}

struct ac_msa_plan *ac_msa_plan_free(struct ac_msa_plan *plan)
{
	if (!plan)
		return NULL;
	free(plan->big);
	free(plan->mid);
	free(plan->small);
	free(plan->merge);
	free(plan);
	return NULL;
}

size_t ac_msa_plan_workspace_size(const struct ac_msa_plan *plan)
{
	return plan ? plan->ws_size : 0;
}

uint32_t ac_msa_plan_total_q(const struct ac_msa_plan *plan)
{
	return plan ? plan->total_q : 0;
}

void ac_msa_plan_launch_key(const struct ac_msa_plan *plan,
			    uint64_t key[AC_MSA_PLAN_KEY_WORDS])
{
	memset(key, 0, AC_MSA_PLAN_KEY_WORDS * sizeof(*key));
	if (!plan)
		return;
	key[0] = plan->n_big;
	key[1] = plan->n_mid;
	key[2] = plan->n_small;
	key[3] = (uint64_t)plan->merge_rows << 32 | plan->n_merge;
	key[4] = plan->n_part_rows;
	key[5] = plan->off_big;
	key[6] = plan->off_mid;
	key[7] = plan->off_small;
	key[8] = plan->off_merge;
	key[9] = plan->off_part_o;
	key[10] = plan->off_part_lse;
	key[11] = plan->ws_size;
	key[12] = plan->total_q;
	key[13] = (uint64_t)plan->num_segs << 32 | plan->num_seqs;
	key[14] = (uint64_t)plan->num_q_heads << 32 | plan->group << 16 |
		  plan->big_rows << 1 | (plan->force_mma & 1);
	key[15] = (uint64_t)plan->layout.num_layers << 48 |
		  (uint64_t)plan->layout.num_kv_heads << 32 |
		  plan->layout.head_dim << 16 | plan->layout.block_tokens << 4 |
		  (plan->layout.dtype & 15);
}

int ac_msa_plan_upload(const struct ac_msa_plan *plan, void *workspace,
		       size_t workspace_size, void *stream)
{
	if (!plan || (!workspace && plan->ws_size))
		return -EINVAL;
	if (workspace_size < plan->ws_size || (uintptr_t)workspace % 16)
		return -EINVAL;
	return plan->ops->upload(plan, workspace, stream);
}

static bool same_layout(const struct ac_kv_layout *a,
			const struct ac_kv_layout *b)
{
	return a->num_layers == b->num_layers &&
	       a->num_kv_heads == b->num_kv_heads &&
	       a->head_dim == b->head_dim &&
	       a->block_tokens == b->block_tokens && a->dtype == b->dtype;
}

/* The plan checked the indices; here only that the call matches it. */
static int check_call(const struct ac_msa_plan *plan,
		      const struct ac_kv_pool *pool,
		      const struct ac_msa_batch *batch, uint32_t layer)
{
	if (!plan || !pool || !batch || !pool->base)
		return -EINVAL;
	if (!same_layout(&plan->layout, &pool->layout) ||
	    ac_kv_block_bytes(&pool->layout) > pool->block_bytes)
		return -EINVAL;
	if (batch->num_segs != plan->num_segs ||
	    batch->num_seqs != plan->num_seqs)
		return -EINVAL;
	if (plan->num_segs && (!batch->seg_indptr || !batch->seg_seq ||
			       !batch->seg_pos || !batch->table_indptr ||
			       !batch->block_ids || !batch->ctx_len))
		return -EINVAL;
	if (layer >= pool->layout.num_layers)
		return -EINVAL;
	return 0;
}

int ac_msa_run(const struct ac_msa_plan *plan, const struct ac_kv_pool *pool,
	       const struct ac_msa_batch *batch, uint32_t layer, float scale,
	       const void *q, void *out, void *workspace, size_t workspace_size,
	       void *stream)
{
	int ret = check_call(plan, pool, batch, layer);

	if (ret)
		return ret;
	if (!plan->total_q)
		return 0;
	if (!q || !out || q == out || !(scale > 0.0f) ||
	    workspace_size < plan->ws_size || !workspace)
		return -EINVAL;
	return plan->ops->run(plan, pool, batch, layer, scale, q, out,
			      workspace, stream);
}

int ac_kv_write(const struct ac_msa_plan *plan, const struct ac_kv_pool *pool,
		const struct ac_msa_batch *batch, uint32_t layer,
		const void *k, const void *v, void *stream)
{
	int ret = check_call(plan, pool, batch, layer);

	if (ret)
		return ret;
	if (!plan->total_q)
		return 0;
	if (!k || !v)
		return -EINVAL;
	return plan->ops->kv_write(plan, pool, batch, layer, k, v, stream);
}
