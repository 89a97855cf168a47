/* SPDX-License-Identifier: MIT */
/*
 * Seeded random weights. Each element is a pure function of (seed, tensor,
 * index) through splitmix64, so chunks fill in any order on any number of
 * threads with the same result, and bf16 weights are written directly
 * without an fp32 copy: Llama-3-8B takes 16 GB, not 48.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model_internal.h"
#include "weights.h"

#define CHUNK		(1u << 16)	/* elements a worker takes at a time */
#define MAX_THREADS	32
#define SERIAL_BELOW	(1u << 22)	/* elements: not worth threads */
#define NORM_SPREAD	0.05f		/* norm weights are 1 +- this std */

struct job {
	void *dst;
	uint64_t n, first_chunk;
	uint64_t key;
	float scale, shift;
};

struct fill {
	struct ac_weights *w;
	struct job *jobs;
	size_t n_jobs;
	uint64_t n_chunks;
	atomic_uint_fast64_t next;
};

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * Irwin-Hall of four 16-bit uniforms, rescaled to mean 0 and std 1: close
 * enough to normal for activations, bounded (|x| < 3.47), one mix per value.
 */
static float normalish(uint64_t key, uint64_t i)
{
	uint64_t r = mix(key + (i + 1) * 0x9e3779b97f4a7c15ull);
	uint32_t s = (uint32_t)(r & 0xffff) + (uint32_t)((r >> 16) & 0xffff) +
		     (uint32_t)((r >> 32) & 0xffff) + (uint32_t)(r >> 48);

	return ((float)s + 2.0f) * (1.0f / 65536.0f) * 1.7320508f -
	       2.0f * 1.7320508f;
}

static void fill_chunk(const struct ac_weights *w, const struct job *j,
		       uint64_t start)
{
	float buf[1024];
	uint64_t end = start + CHUNK < j->n ? start + CHUNK : j->n;

	for (uint64_t at = start; at < end; at += 1024) {
		uint64_t m = end - at < 1024 ? end - at : 1024;

		for (uint64_t i = 0; i < m; i++)
			buf[i] = j->shift + j->scale * normalish(j->key, at + i);
		ac_weights_store(w, j->dst, at, buf, m);
	}
}

static void *worker(void *arg)
{
	struct fill *f = arg;
	size_t jx = 0;
	uint64_t c;

	while ((c = atomic_fetch_add(&f->next, 1)) < f->n_chunks) {
		/* Chunks are handed out in order, so the job only moves on. */
		while (jx + 1 < f->n_jobs && f->jobs[jx + 1].first_chunk <= c)
			jx++;
		while (f->jobs[jx].first_chunk > c)
			jx--;
		fill_chunk(f->w, &f->jobs[jx],
			   (c - f->jobs[jx].first_chunk) * CHUNK);
	}
	return NULL;
}

static void add_job(struct fill *f, uint64_t seed, enum ac_wkind k,
		    uint32_t layer, uint64_t *elems)
{
	const struct ac_model_config *c = &f->w->cfg;
	struct job *j = &f->jobs[f->n_jobs++];
	uint64_t rows, cols, id;
	bool norm = k == AC_WK_ATTN_NORM || k == AC_WK_FFN_NORM ||
		    k == AC_WK_OUTPUT_NORM;

	ac_weights_shape(c, k, &rows, &cols);
	/* The id names the tensor, not its position: layer count-proof. */
	id = k < AC_WK_LAYER_COUNT ? ((uint64_t)layer << 8 | k) :
				     (UINT64_C(0xffffff) << 8 | k);
	j->dst = ac_weights_tensor(f->w, k, layer);
	j->n = rows * cols;
	j->key = mix(seed ^ mix(id + 0x632be59bd9b4e019ull));
	j->first_chunk = f->n_chunks;
	j->scale = norm ? NORM_SPREAD : 1.0f / sqrtf((float)cols);
	j->shift = norm ? 1.0f : 0.0f;
	f->n_chunks += (j->n + CHUNK - 1) / CHUNK;
	*elems += j->n;
}

int ac_weights_random(const struct ac_model_config *c, uint64_t seed,
		      enum ac_dtype dtype, struct ac_weights **out, char *err,
		      size_t errlen)
{
	struct fill f = { 0 };
	pthread_t tid[MAX_THREADS];
	uint64_t elems = 0;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int n_threads = 0, want, rc;
	enum ac_wkind k;
	uint32_t l;

	*out = NULL;
	if ((rc = ac_weights_create(c, dtype, &f.w, err, errlen)))
		return rc;
	f.jobs = calloc((size_t)c->n_layers * AC_WK_LAYER_COUNT + 3,
			sizeof(*f.jobs));
	if (!f.jobs) {
		ac_weights_free(f.w);
		return ac_model_err(err, errlen, -ENOMEM,
				    "random weights %s: out of memory", c->name);
	}
	for (uint64_t i = 0; ac_weights_nth(c, i, &k, &l); i++)
		add_job(&f, seed, k, l, &elems);

	want = elems < SERIAL_BELOW ? 1 : (int)(cpus < 1 ? 1 : cpus > MAX_THREADS ? MAX_THREADS : cpus);
	/* The caller's thread works too; a failed create just means fewer. */
	while (n_threads < want - 1 &&
	       pthread_create(&tid[n_threads], NULL, worker, &f) == 0)
		n_threads++;
	worker(&f);
	for (int i = 0; i < n_threads; i++)
		pthread_join(tid[i], NULL);
	free(f.jobs);
	*out = f.w;
	return 0;
}
