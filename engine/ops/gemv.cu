/* SPDX-License-Identifier: MIT */
/*
 * The linear layer for a few rows (decode): out[m][n] (+)= in[m][k] *
 * w[n][k]^T with m <= AC_GEMV_MAX_ROWS. Every weight byte is read once, so
 * the op is bound by memory bandwidth, and what decides its speed is how
 * many bytes each SM keeps in flight: a warp owns a pair of output columns
 * and streams both weight rows, each lane holding @U 16-byte loads of each
 * row before it uses the first; @S warps of a block may share one pair,
 * each taking every S-th stretch of k, when there are too few pairs to
 * fill the GPU. The few input rows sit in shared memory as bf16, made
 * there by the prologue (a copy, RMSNorm, or SwiGLU of gate|up rows), so
 * those ops cost no launch and no pass of their own; the epilogue applies
 * RoPE to column pairs (i, i + head_dim/2) of a head, adds the residual,
 * and scatters columns over up to three outputs (q, k, v).
 */
#include "cuda_common.cuh"

#define GEMV_THREADS 256
#define GEMV_WARPS (GEMV_THREADS / 32)
#define GEMV_SMEM_MAX (200u * 1024u)

struct gemv_params {
	bf16 *out[3];
	uint32_t cum[4];		/* first column of each output, then n */
	const bf16 *in;
	const bf16 *w;
	uint32_t n, k, ld_in;
	uint32_t items;			/* column pairs */
	uint32_t pair;			/* distance of a pair's columns */
	int pro;
	const bf16 *norm_w;
	float eps;
	uint32_t rope_cols, head_dim;
	const int32_t *pos;
	const float *inv_freq;
	bool accumulate;
};

/* Weights are read once a step: no room taken in L1. */
__device__ __forceinline__ uint4 ldg_stream(const bf16 *p)
{
	uint4 v;

	asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
	    : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
	    : "l"(p));
	return v;
}

__device__ __forceinline__ void bf16x8_to_f32(uint4 u, float f[8])
{
	const uint32_t w[4] = { u.x, u.y, u.z, u.w };

#pragma unroll
	for (int i = 0; i < 4; i++) {
		f[2 * i] = __uint_as_float(w[i] << 16);
		f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
	}
}

__device__ __forceinline__ float silu_mul(float g, float u)
{
	return g / (1.0f + expf(-g)) * u;
}

/* The input rows, as the unfused ops would have written them, in xs. */
template <int M>
__device__ void gemv_prologue(const gemv_params &p, bf16 *xs)
{
	const uint32_t kv = p.k / 8;
	float ss[M];

#pragma unroll
	for (int r = 0; r < M; r++)
		ss[r] = 0.0f;
	for (uint32_t v = threadIdx.x; v < M * kv; v += GEMV_THREADS) {
		uint32_t r = v / kv, c = v % kv;
		const bf16 *src = p.in + (size_t)r * p.ld_in + 8 * c;
		float f[8];

		if (p.pro == AC_GEMV_PRO_SWIGLU) {
			float u[8];

			ops_load8(src, f);
			ops_load8(src + p.k, u);
#pragma unroll
			for (int j = 0; j < 8; j++)
				f[j] = silu_mul(f[j], u[j]);
			ops_store8(xs + (size_t)r * p.k + 8 * c, f);
			continue;
		}
		*reinterpret_cast<uint4 *>(xs + (size_t)r * p.k + 8 * c) =
			*reinterpret_cast<const uint4 *>(src);
		if (p.pro == AC_GEMV_PRO_RMSNORM) {
			float s = 0.0f;

			ops_load8(src, f);
#pragma unroll
			for (int j = 0; j < 8; j++)
				s += f[j] * f[j];
#pragma unroll
			for (int q = 0; q < M; q++)
				if (q == (int)r)
					ss[q] += s;
		}
	}
	if (p.pro != AC_GEMV_PRO_RMSNORM)
		return;
	/* Each thread rescales the vectors it copied: no barrier needed. */
	float inv[M];

#pragma unroll
	for (int r = 0; r < M; r++)
		inv[r] = rsqrtf(ops_block_sum(ss[r]) / static_cast<float>(p.k) +
				p.eps);
	for (uint32_t v = threadIdx.x; v < M * kv; v += GEMV_THREADS) {
		uint32_t r = v / kv, c = v % kv;
		bf16 *x = xs + (size_t)r * p.k + 8 * c;
		float f[8], g[8], s = inv[0];

#pragma unroll
		for (int q = 1; q < M; q++)
			if (q == (int)r)
				s = inv[q];
		ops_load8(x, f);
		ops_load8(p.norm_w + 8 * c, g);
#pragma unroll
		for (int j = 0; j < 8; j++)
			f[j] = f[j] * s * g[j];
		ops_store8(x, f);
	}
}

__device__ __forceinline__ void gemv_store(const gemv_params &p, uint32_t r,
					   uint32_t col, float v)
{
	/* Selects, not a run-time index: the parameters stay in constant bank. */
	bool s0 = col < p.cum[1], s1 = !s0 && col < p.cum[2];
	bf16 *out = s0 ? p.out[0] : s1 ? p.out[1] : p.out[2];
	uint32_t lo = s0 ? 0 : s1 ? p.cum[1] : p.cum[2];
	uint32_t hi = s0 ? p.cum[1] : s1 ? p.cum[2] : p.cum[3];
	bf16 *dst = out + (size_t)r * (hi - lo) + (col - lo);

	if (p.accumulate)
		v += __bfloat162float(*dst);
	*dst = __float2bfloat16(v);
}

/* Row r's two columns: RoPE where asked, then out. */
__device__ __forceinline__ void gemv_epilogue(const gemv_params &p,
					      uint32_t r, uint32_t c0,
					      bool has1, float v0, float v1)
{
	if (c0 < p.rope_cols) {
		uint32_t i = c0 % p.head_dim;
		/* The angle is rounded to fp32 first, as transformers forms it. */
		float a = __fmul_rn(static_cast<float>(p.pos[r]), p.inv_freq[i]);
		float sn, cs, x0 = v0, x1 = v1;

		sincosf(a, &sn, &cs);
		v0 = x0 * cs - x1 * sn;
		v1 = x1 * cs + x0 * sn;
	}
	gemv_store(p, r, c0, v0);
	if (has1)
		gemv_store(p, r, c0 + p.pair, v1);
}

template <int M, int U>
__global__ void __launch_bounds__(GEMV_THREADS)
gemv_kernel(const gemv_params p, uint32_t S)
{
	extern __shared__ __align__(16) unsigned char gemv_smem[];
	__shared__ float red[GEMV_WARPS][2 * M];
	bf16 *xs = reinterpret_cast<bf16 *>(gemv_smem);
	const uint32_t lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	const uint32_t gpb = GEMV_WARPS / S, group = warp / S, part = warp % S;
	const uint32_t chunk = 256 * U;

	gemv_prologue<M>(p, xs);
	__syncthreads();

	/* The loop bound is the block's, so every warp meets the barriers. */
	for (uint32_t base = blockIdx.x * gpb; base < p.items;
	     base += gridDim.x * gpb) {
		uint32_t item = base + group;
		bool live = item < p.items;
		uint32_t c0 = 0, c1 = 0;
		bool has1 = false;
		float acc[M][2];

#pragma unroll
		for (int r = 0; r < M; r++)
			acc[r][0] = acc[r][1] = 0.0f;
		if (live) {
			c0 = item / p.pair * 2 * p.pair + item % p.pair;
			c1 = c0 + p.pair;
			has1 = c1 < p.n;
			const bf16 *w0 = p.w + (size_t)c0 * p.k;
			const bf16 *w1 = has1 ? p.w + (size_t)c1 * p.k : w0;

			for (uint32_t t = part * chunk; t < p.k; t += S * chunk) {
				uint4 a[U], b[U];

#pragma unroll
				for (int u = 0; u < U; u++) {
					uint32_t i = t + u * 256 + lane * 8;

					if (i < p.k) {
						a[u] = ldg_stream(w0 + i);
						b[u] = ldg_stream(w1 + i);
					}
				}
#pragma unroll
				for (int u = 0; u < U; u++) {
					uint32_t i = t + u * 256 + lane * 8;
					float fa[8], fb[8];

					if (i >= p.k)
						continue;
					bf16x8_to_f32(a[u], fa);
					bf16x8_to_f32(b[u], fb);
#pragma unroll
					for (int r = 0; r < M; r++) {
						float x[8];

						bf16x8_to_f32(*reinterpret_cast<const uint4 *>(
								      xs + (size_t)r * p.k + i),
							      x);
#pragma unroll
						for (int j = 0; j < 8; j++) {
							acc[r][0] += fa[j] * x[j];
							acc[r][1] += fb[j] * x[j];
						}
					}
				}
			}
		}
#pragma unroll
		for (int r = 0; r < M; r++) {
			acc[r][0] = ops_warp_sum(acc[r][0]);
			acc[r][1] = ops_warp_sum(acc[r][1]);
		}
		if (S > 1) {
			if (lane == 0) {
#pragma unroll
				for (int r = 0; r < M; r++) {
					red[warp][2 * r] = acc[r][0];
					red[warp][2 * r + 1] = acc[r][1];
				}
			}
			__syncthreads();
			if (part == 0) {
				for (uint32_t q = 1; q < S; q++) {
#pragma unroll
					for (int r = 0; r < M; r++) {
						acc[r][0] += red[warp + q][2 * r];
						acc[r][1] += red[warp + q][2 * r + 1];
					}
				}
			}
			__syncthreads();
		}
		if (!live || part)
			continue;
#pragma unroll
		for (int r = 0; r < M; r++)
			if (lane == (uint32_t)r)
				gemv_epilogue(p, r, c0, has1, acc[r][0],
					      acc[r][1]);
	}
}

typedef void (*gemv_fn)(const gemv_params, uint32_t);

template <int M>
static gemv_fn pick(uint32_t unroll)
{
	switch (unroll) {
	case 1: return gemv_kernel<M, 1>;
	case 2: return gemv_kernel<M, 2>;
	default: return gemv_kernel<M, 4>;
	}
}

static gemv_fn pick_kernel(uint32_t m, uint32_t unroll)
{
	switch (m) {
	case 1: return pick<1>(unroll);
	case 2: return pick<2>(unroll);
	case 3: return pick<3>(unroll);
	default: return pick<4>(unroll);
	}
}

static bool pow2_upto8(uint32_t x)
{
	return x == 1 || x == 2 || x == 4 || x == 8;
}

static int check_args(const struct ac_gemv_args *a)
{
	uint32_t sum = 0;

	if (!a->m || a->m > AC_GEMV_MAX_ROWS || !a->n || !a->k || a->k % 8 ||
	    (size_t)a->m * a->k * 2 > GEMV_SMEM_MAX)
		return -EINVAL;
	if (!a->in || !a->w || !ops_aligned16(a->in) || !ops_aligned16(a->w))
		return -EINVAL;
	for (int s = 0; s < 3; s++) {
		if (a->cols[s] && !a->out[s])
			return -EINVAL;
		sum += a->cols[s];
	}
	if (sum != a->n)
		return -EINVAL;
	if (a->pro == AC_GEMV_PRO_RMSNORM &&
	    (!a->norm_w || !ops_aligned16(a->norm_w) || !(a->eps >= 0.0f)))
		return -EINVAL;
	if (a->pro != AC_GEMV_PRO_NONE && a->pro != AC_GEMV_PRO_RMSNORM &&
	    a->pro != AC_GEMV_PRO_SWIGLU)
		return -EINVAL;
	if (a->rope_cols &&
	    (!a->head_dim || a->head_dim % 2 || a->rope_cols % a->head_dim ||
	     a->n % a->head_dim || a->rope_cols > a->n || !a->pos ||
	     !a->inv_freq))
		return -EINVAL;
	if ((a->unroll && !pow2_upto8(a->unroll)) || a->unroll > 4 ||
	    (a->ksplit && !pow2_upto8(a->ksplit)))
		return -EINVAL;
	return 0;
}

static int sm_count(void)
{
	int dev = 0, sms = 0;

	if (cudaGetDevice(&dev) != cudaSuccess ||
	    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) !=
		    cudaSuccess || sms < 1)
		return 132;
	return sms;
}

extern "C" int ac_op_gemv_ex_cuda(const struct ac_gemv_args *a, void *stream)
{
	gemv_params p = {};
	uint32_t U, S, gpb, blocks, sms;
	size_t smem;
	int occ = 0, r;
	gemv_fn fn;

	if (!a)
		return -EINVAL;
	r = check_args(a);
	if (r)
		return r;
	for (int s = 0; s < 3; s++) {
		p.out[s] = ops_bf16(a->out[s]);
		p.cum[s + 1] = p.cum[s] + a->cols[s];
	}
	p.in = ops_bf16(a->in);
	p.w = ops_bf16(a->w);
	p.n = a->n;
	p.k = a->k;
	p.ld_in = a->pro == AC_GEMV_PRO_SWIGLU ? 2 * a->k : a->k;
	p.pair = a->rope_cols ? a->head_dim / 2 : 1;
	p.items = a->rope_cols ? a->n / 2 : (a->n + 1) / 2;
	p.pro = a->pro;
	p.norm_w = ops_bf16(a->norm_w);
	p.eps = a->eps;
	p.rope_cols = a->rope_cols;
	p.head_dim = a->head_dim;
	p.pos = a->pos;
	p.inv_freq = a->inv_freq;
	p.accumulate = a->accumulate;

	sms = static_cast<uint32_t>(sm_count());
	U = a->unroll ? a->unroll : a->m <= 2 ? 4 : 2;
	S = a->ksplit;
	if (!S) {
		/*
		 * Measured on the H200 (bench/results/engine_gemv_h200.md):
		 * rows of 8k and more stream best a warp to a pair; shorter
		 * ones in quarters, or halves when the pairs are few (o: 2k).
		 */
		S = a->k >= 8192 ? 1 : p.items >= 3000 ? 4 : 2;
		while (S > 1 && a->k < S * 256 * U)
			S /= 2;
	}
	fn = pick_kernel(a->m, U);
	smem = (size_t)a->m * a->k * 2;
	if (smem > 48 * 1024) {
		cudaError_t e = cudaFuncSetAttribute(
			fn, cudaFuncAttributeMaxDynamicSharedMemorySize,
			static_cast<int>(smem));

		if (e != cudaSuccess)
			return ac_op_cuda_errno(static_cast<int>(e));
	}
	if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, fn, GEMV_THREADS,
							  smem) != cudaSuccess ||
	    occ < 1)
		occ = 1;
	gpb = GEMV_WARPS / S;
	blocks = (p.items + gpb - 1) / gpb;
	if (blocks > sms * static_cast<uint32_t>(occ))
		blocks = sms * static_cast<uint32_t>(occ);
	return ops_launch(fn, blocks, GEMV_THREADS, smem, stream, p, S);
}

extern "C" int ac_op_gemv_cuda(uint16_t *out, const uint16_t *in,
			       const uint16_t *w, uint32_t m, uint32_t n,
			       uint32_t k, bool accumulate, void *stream)
{
	struct ac_gemv_args a = {};

	a.out[0] = out;
	a.cols[0] = n;
	a.in = in;
	a.w = w;
	a.m = m;
	a.n = n;
	a.k = k;
	a.accumulate = accumulate;
	return ac_op_gemv_ex_cuda(&a, stream);
}
