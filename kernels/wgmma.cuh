/* SPDX-License-Identifier: MIT */
/*
 * Hopper (sm_90a) building blocks for the wgmma prefill kernel: mbarriers,
 * bulk tensor copies, warpgroup MMA and its shared-memory descriptors.
 * Everything here exists only in the sm_90a device pass; other passes see
 * nothing, so the generic PTX target still assembles.
 *
 * The wgmma wrappers below are stamped out by two macros, one function per
 * shape and type, as PTX needs every accumulator register named:
 *   ss: A and B from shared memory, both K-major, D = A*B (+ D if acc);
 *   rs: A from registers, B from shared memory transposed (MN-major),
 *       D += A*B.
 */
#ifndef AC_KERNELS_WGMMA_CUH
#define AC_KERNELS_WGMMA_CUH

#include <stdint.h>

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define MSA_SM90A 1

namespace msa {
namespace hopper {

static __device__ __forceinline__ uint32_t smem_u32(const void *p)
{
	return (uint32_t)__cvta_generic_to_shared(p);
}

static __device__ __forceinline__ void mbar_init(uint64_t *bar, uint32_t count)
{
	asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_u32(bar)),
		     "r"(count));
}

/* Makes the initialised barriers visible to the copy engine. */
static __device__ __forceinline__ void mbar_fence_init(void)
{
	asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}

static __device__ __forceinline__ void mbar_expect_tx(uint64_t *bar, uint32_t bytes)
{
	asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_u32(bar)),
		     "r"(bytes)
		     : "memory");
}

static __device__ __forceinline__ void mbar_arrive(uint64_t *bar)
{
	asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_u32(bar))
		     : "memory");
}

static __device__ __forceinline__ void mbar_wait(uint64_t *bar, uint32_t parity)
{
	uint32_t addr = smem_u32(bar), done;

	do {
		asm volatile("{\n.reg .pred p;\n"
			     "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
			     "selp.u32 %0, 1, 0, p;\n}\n"
			     : "=r"(done)
			     : "r"(addr), "r"(parity)
			     : "memory");
	} while (!done);
}

/* One box of a 3-D tensor map into shared memory, completing on @bar. */
static __device__ __forceinline__ void tma_load_3d(void *dst, const void *tmap,
						   int32_t c0, int32_t c1, int32_t c2,
						   uint64_t *bar)
{
	asm volatile("cp.async.bulk.tensor.3d.shared::cluster.global.tile"
		     ".mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], [%5];\n"
		     ::"r"(smem_u32(dst)), "l"((uint64_t)tmap), "r"(c0), "r"(c1),
		     "r"(c2), "r"(smem_u32(bar))
		     : "memory");
}

static __device__ __forceinline__ void tma_prefetch_desc(const void *tmap)
{
	asm volatile("prefetch.tensormap [%0];\n" ::"l"((uint64_t)tmap) : "memory");
}

/* Ordinary shared-memory stores, then reads by wgmma or the copy engine. */
static __device__ __forceinline__ void fence_proxy_async(void)
{
	asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

/* Barrier among the @n threads (a multiple of 32) that use barrier @id. */
static __device__ __forceinline__ void named_sync(uint32_t id, uint32_t n)
{
	asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(n) : "memory");
}

static __device__ __forceinline__ void named_arrive(uint32_t id, uint32_t n)
{
	asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(n) : "memory");
}

template <uint32_t R> static __device__ __forceinline__ void setmaxnreg_inc(void)
{
	asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(R));
}

template <uint32_t R> static __device__ __forceinline__ void setmaxnreg_dec(void)
{
	asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(R));
}

static __device__ __forceinline__ void wgmma_fence(void)
{
	asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}

static __device__ __forceinline__ void wgmma_commit(void)
{
	asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}

template <int N> static __device__ __forceinline__ void wgmma_wait(void)
{
	asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

/* Keeps the compiler from moving accumulator reads across a wait. */
template <int N> static __device__ __forceinline__ void reg_fence(float (&r)[N])
{
#pragma unroll
	for (int i = 0; i < N; i++)
		asm volatile("" : "+f"(r[i])::"memory");
}

/*
 * Shared-memory matrix descriptor, 128-byte swizzle.  Operands are stored
 * as the copy engine writes them with CU_TENSOR_MAP_SWIZZLE_128B: rows of
 * 64 elements (128 bytes), eight rows to a 1024-byte swizzle atom, atoms
 * 1024-aligned.  K-major: @sbo (1024) steps over eight-row groups; MN-major:
 * @lbo steps over 64-wide column groups and @sbo over eight-row groups.
 */
static __device__ __forceinline__ uint64_t desc_sw128(uint32_t addr, uint32_t lbo,
						      uint32_t sbo)
{
	return (uint64_t)((addr & 0x3ffff) >> 4) |
	       (uint64_t)((lbo >> 4) & 0x3fff) << 16 |
	       (uint64_t)((sbo >> 4) & 0x3fff) << 32 | (uint64_t)1 << 62;
}

/* The accumulators of an m64nN shape: N / 2 registers a thread. */
#define MSA_WG_REGS32 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define MSA_WG_REGS64 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"
#define MSA_WG_ACC8(i)                                                      \
	"+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]),         \
	"+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), "+f"(d[i + 7])
#define MSA_WG_ACC32                                                        \
	MSA_WG_ACC8(0), MSA_WG_ACC8(8), MSA_WG_ACC8(16), MSA_WG_ACC8(24)
#define MSA_WG_ACC64                                                        \
	MSA_WG_ACC32, MSA_WG_ACC8(32), MSA_WG_ACC8(40), MSA_WG_ACC8(48),    \
	MSA_WG_ACC8(56)

/*
 * wgmma_ss_m64n<N>k16_<TY>(d, desc_a, desc_b, acc): NR accumulators, then
 * the operand numbers of the two descriptors and of the scale-d flag.
 */
#define MSA_WG_SS(N, TY, NR, DA, DB, SC)                                    \
	static __device__ __forceinline__ void                              \
	wgmma_ss_m64n##N##k16_##TY(float *d, uint64_t da, uint64_t db,      \
				   int acc)                                 \
	{                                                                   \
		asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" #SC       \
			     ", 0;\n"                                       \
			     "wgmma.mma_async.sync.aligned.m64n" #N         \
			     "k16.f32." #TY "." #TY " " MSA_WG_REGS##NR     \
			     ", %" #DA ", %" #DB ", p, 1, 1, 0, 0;\n}\n"    \
			     : MSA_WG_ACC##NR                               \
			     : "l"(da), "l"(db), "r"(acc));                 \
	}

/* wgmma_rs_m64n<N>k16_<TY>_tb(d, a[4], desc_b): D += A * B, B transposed. */
#define MSA_WG_RS(N, TY, NR, A0, A1, A2, A3, DB, SC)                        \
	static __device__ __forceinline__ void                              \
	wgmma_rs_m64n##N##k16_##TY##_tb(float *d, const uint32_t a[4],      \
					uint64_t db)                        \
	{                                                                   \
		asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" #SC       \
			     ", 0;\n"                                       \
			     "wgmma.mma_async.sync.aligned.m64n" #N         \
			     "k16.f32." #TY "." #TY " " MSA_WG_REGS##NR     \
			     ", {%" #A0 ", %" #A1 ", %" #A2 ", %" #A3       \
			     "}, %" #DB ", p, 1, 1, 1;\n}\n"                \
			     : MSA_WG_ACC##NR                               \
			     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]),  \
			       "l"(db), "r"(1));                            \
	}

MSA_WG_SS(64, bf16, 32, 32, 33, 34)
MSA_WG_SS(128, bf16, 64, 64, 65, 66)
MSA_WG_SS(64, f16, 32, 32, 33, 34)
MSA_WG_SS(128, f16, 64, 64, 65, 66)
MSA_WG_RS(64, bf16, 32, 32, 33, 34, 35, 36, 37)
MSA_WG_RS(128, bf16, 64, 64, 65, 66, 67, 68, 69)
MSA_WG_RS(64, f16, 32, 32, 33, 34, 35, 36, 37)
MSA_WG_RS(128, f16, 64, 64, 65, 66, 67, 68, 69)

} /* namespace hopper */
} /* namespace msa */

#endif /* sm_90a device pass */

#endif /* AC_KERNELS_WGMMA_CUH */
