#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""PyTorch baselines on the shapes msa_bench times, in the same run.

SDPA (flash and cuDNN backends) and FlexAttention, contiguous KV, bf16,
32 query heads, 8 kv heads, head dim 128.  Useful work is counted the way
msa_bench counts it: 4 * D flops per (query head, visible key) pair.
Writes baselines.csv to the directory given as argv[1], and the
segment-length plot if msa_segments.csv is there.
"""
import csv
import os
import sys
import time

HQ, HKV, D = 32, 8, 128


def useful_flops(segs):
    return sum(4.0 * D * HQ * (L * p + L * (L + 1) / 2) for p, L in segs)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    rows = []
    try:
        import torch
        import torch.nn.functional as F
        from torch.nn.attention import SDPBackend, sdpa_kernel
        from triton.testing import do_bench
    except Exception as e:  # no torch: nothing to compare against
        print("baselines skipped:", e)
        return plot(out)

    dev = "cuda"
    torch.manual_seed(0)

    def bench(fn):
        fn()
        torch.cuda.synchronize()
        return do_bench(fn, warmup=25, rep=200, return_mode="median")

    def add(scen, var, ms, flops=0.0, nbytes=0.0):
        tf = flops / (ms * 1e-3) / 1e12 if ms else 0
        tb = nbytes / (ms * 1e-3) / 1e12 if ms else 0
        rows.append((scen, var, ms, tf, tb))
        print(f"{scen:28s} {var:26s} {ms:9.3f} ms {tf:8.1f} TFLOP/s {tb:6.2f} TB/s",
              flush=True)

    def try_add(scen, var, fn, flops=0.0, nbytes=0.0):
        try:
            add(scen, var, bench(fn), flops, nbytes)
        except Exception as e:
            print(f"{scen:28s} {var:26s} failed: {str(e).splitlines()[0][:90]}")
            rows.append((scen, var, float("nan"), 0, 0))

    # Multi-segment: 4 holes of 512 and a 2,048 tail over a 16k context.
    ctx = 16384
    segs = [(1024, 512), (4096, 512), (8192, 512), (11264, 512), (14336, 2048)]
    fl = useful_flops(segs)
    k = torch.randn(1, HKV, ctx, D, device=dev, dtype=torch.bfloat16)
    v = torch.randn_like(k)
    qs = [torch.randn(1, HQ, L, D, device=dev, dtype=torch.bfloat16) for _, L in segs]
    kx, vx = (t.repeat_interleave(HQ // HKV, dim=1) for t in (k, v))

    from torch.nn.attention.bias import causal_lower_right

    def per_segment(backend, gqa):
        def run():
            with sdpa_kernel(backend):
                for (p, L), q in zip(segs, qs):
                    kk = (k if gqa else kx)[:, :, : p + L]
                    vv = (v if gqa else vx)[:, :, : p + L]
                    F.scaled_dot_product_attention(
                        q, kk, vv, attn_mask=causal_lower_right(L, p + L),
                        enable_gqa=gqa)
        return run

    scen = "multiseg_4x512+2048@16k"
    try_add(scen, "sdpa flash per-seg", per_segment(SDPBackend.FLASH_ATTENTION, True), fl)
    try_add(scen, "sdpa cudnn per-seg", per_segment(SDPBackend.CUDNN_ATTENTION, False), fl)

    try:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        qpos = torch.cat([torch.arange(p, p + L, device=dev) for p, L in segs])
        qcat = torch.cat(qs, dim=2)

        def mask_mod(b, h, qi, ki):
            return qpos[qi] >= ki

        bm = create_block_mask(mask_mod, 1, 1, qcat.shape[2], ctx, device=dev)
        flex = torch.compile(flex_attention)
        try_add(scen, "flexattention", lambda: flex(qcat, k, v, block_mask=bm, enable_gqa=True), fl)
    except Exception as e:
        print("flexattention failed:", str(e).splitlines()[0][:120])

    # Causal prefill 16k over contiguous KV: the dense-kernel reference points.
    q = torch.randn(1, HQ, ctx, D, device=dev, dtype=torch.bfloat16)
    fl16 = useful_flops([(0, ctx)])
    kf = torch.randn(1, HKV, ctx, D, device=dev, dtype=torch.bfloat16)
    vf = torch.randn_like(kf)
    kfx, vfx = (t.repeat_interleave(HQ // HKV, dim=1) for t in (kf, vf))
    for name, be, a, b, g in (("sdpa flash", SDPBackend.FLASH_ATTENTION, kf, vf, True),
                              ("sdpa cudnn", SDPBackend.CUDNN_ATTENTION, kfx, vfx, False)):
        def run(be=be, a=a, b=b, g=g):
            with sdpa_kernel(be):
                F.scaled_dot_product_attention(q, a, b, is_causal=True, enable_gqa=g)
        try_add("causal_prefill_16k", name, run, fl16)
    del q, kf, vf, kfx, vfx, kx, vx

    # Decode, one query token a sequence: a full batch and two small ones,
    # the shapes msa_bench times.
    for B, C in ((64, 8192), (8, 32768), (1, 2048)):
        qd = torch.randn(B, HQ, 1, D, device=dev, dtype=torch.bfloat16)
        kd = torch.randn(B, HKV, C, D, device=dev, dtype=torch.bfloat16)
        vd = torch.randn_like(kd)
        nbytes = 2.0 * kd.numel() * 2
        fld = 4.0 * D * HQ * C * B
        for name, be in (("sdpa flash", SDPBackend.FLASH_ATTENTION),
                         ("sdpa cudnn", SDPBackend.CUDNN_ATTENTION),
                         ("sdpa efficient", SDPBackend.EFFICIENT_ATTENTION)):
            def run(be=be, qd=qd, kd=kd, vd=vd):
                with sdpa_kernel(be):
                    F.scaled_dot_product_attention(qd, kd, vd, enable_gqa=True)
            try_add(f"decode_b{B}_ctx{C}", name + " (gqa)", run, fld, nbytes)
        del qd, kd, vd

    with open(os.path.join(out, "baselines.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scenario", "variant", "ms", "useful_tflops", "kv_tbps"])
        for r in rows:
            w.writerow([r[0], r[1], f"{r[2]:.4f}", f"{r[3]:.2f}", f"{r[4]:.3f}"])
    plot(out)


def plot(out):
    path = os.path.join(out, "msa_segments.csv")
    if not os.path.exists(path):
        return
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as e:
        print("plot skipped:", e)
        return
    lens, nsegs, ms, tf = [], [], [], []
    with open(path) as f:
        for r in csv.DictReader(f):
            lens.append(int(r["seg_len"]))
            nsegs.append(int(r["num_segs"]))
            ms.append(float(r["ms"]))
            tf.append(float(r["useful_tflops"]))
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(lens, ms, "o-", label="time (ms)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("segment length (tokens); 4,096 query tokens in 4096/L segments, 16k context")
    ax.set_ylabel("ms per layer")
    ax2 = ax.twinx()
    ax2.plot(lens, tf, "s--", color="tab:orange", label="useful TFLOP/s")
    ax2.set_ylabel("useful TFLOP/s")
    for x, y, n in zip(lens, ms, nsegs):
        ax.annotate(f"{n}", (x, y), textcoords="offset points", xytext=(0, 6), fontsize=7)
    ax.set_title("MSA on H200: time vs segment length (labels: number of segments)")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "msa_segments.png"), dpi=120)
    print("wrote", os.path.join(out, "msa_segments.png"))


if __name__ == "__main__":
    main()
