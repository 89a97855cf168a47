#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The PyTorch peers of gpu_bench, on its shapes, in the same device run.

Two peers, llama3-8b shape with seeded random bf16 weights on one GPU:

- lean: a small engine written here the way gpt-fast and vLLM write one:
  cuBLAS GEMMs (F.linear over fused q|k|v and gate|up weights), SDPA
  attention, a static KV cache, RMSNorm and RoPE as PyTorch ops, and the
  decode step captured once in a CUDA graph and replayed (static inputs,
  positions and the attention mask read on the device). No torch.compile.
- hf: Hugging Face transformers' LlamaForCausalLM with SDPA attention and
  its DynamicCache, called as an application would, eager.

Times are wall clock around one call, after a synchronize on each side,
the median of --reps, as gpu_bench times ac_model_forward(). TTFT is a
prefill that returns the last position's logits; TPOT a decode step at
batch 1 after a 2,048-token prompt (the lean engine also at batch 32).

Usage: torch_peers.py [--reps N] [--quick] [--skip-hf] [--skip-lean]
"""
import argparse
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

SHAPE = dict(layers=32, hidden=4096, heads=32, kv_heads=8, head_dim=128,
             ffn=14336, vocab=128256, eps=1e-5, theta=500000.0,
             rope=dict(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                       original_max_position_embeddings=8192))


def wall(fn):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def median_ms(fn, reps):
    fn()  # warm: cuBLAS heuristics, SDPA backend choice
    return 1e3 * statistics.median(wall(fn) for _ in range(reps))


def llama3_inv_freq(s):
    d = s["head_dim"]
    inv = 1.0 / (s["theta"] ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    r = s["rope"]
    low_wl = r["original_max_position_embeddings"] / r["low_freq_factor"]
    high_wl = r["original_max_position_embeddings"] / r["high_freq_factor"]
    wl = 2 * math.pi / inv
    smooth = (r["original_max_position_embeddings"] / wl - r["low_freq_factor"]) / (
        r["high_freq_factor"] - r["low_freq_factor"])
    scaled = torch.where(wl > low_wl, inv / r["factor"], inv)
    mid = (wl <= low_wl) & (wl >= high_wl)
    blended = (1 - smooth) * inv / r["factor"] + smooth * inv
    return torch.where(mid, blended, scaled).float()


class Lean:
    """gpt-fast-style engine: fused weights, static cache, graph decode."""

    def __init__(self, s, batch, max_len, dev="cuda", dt=torch.bfloat16):
        g = torch.Generator(device=dev).manual_seed(1)
        H, D, KV = s["heads"], s["head_dim"], s["kv_heads"]
        hid, ffn = s["hidden"], s["ffn"]

        def w(*shape):
            return (torch.randn(*shape, generator=g, device=dev, dtype=dt) * 0.02)

        self.s = s
        self.emb = w(s["vocab"], hid)
        self.layers = [dict(
            an=torch.ones(hid, device=dev, dtype=dt), fn=torch.ones(hid, device=dev, dtype=dt),
            wqkv=w((H + 2 * KV) * D, hid), wo=w(hid, H * D),
            w13=w(2 * ffn, hid), w2=w(hid, ffn)) for _ in range(s["layers"])]
        self.norm = torch.ones(hid, device=dev, dtype=dt)
        self.head = w(s["vocab"], hid)
        shape = (batch, KV, max_len, D)
        self.kc = [torch.zeros(shape, device=dev, dtype=dt) for _ in range(s["layers"])]
        self.vc = [torch.zeros(shape, device=dev, dtype=dt) for _ in range(s["layers"])]
        ang = torch.outer(torch.arange(max_len, device=dev, dtype=torch.float32),
                          llama3_inv_freq(s).to(dev))
        self.cos, self.sin = ang.cos().to(dt), ang.sin().to(dt)
        self.mask = torch.tril(torch.ones(max_len, max_len, dtype=torch.bool, device=dev))
        self.max_len = max_len
        self.gqa = self._gqa_ok()

    def _gqa_ok(self):
        """Whether a fused SDPA kernel (not the math one) takes GQA as is."""
        from torch.nn.attention import SDPBackend, sdpa_kernel

        q = torch.randn(1, 32, 64, 128, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(1, 8, 64, 128, device="cuda", dtype=torch.bfloat16)
        try:
            with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION,
                              SDPBackend.EFFICIENT_ATTENTION]):
                F.scaled_dot_product_attention(q, k, k, is_causal=True, enable_gqa=True)
            return True
        except (TypeError, RuntimeError):
            return False

    def rope(self, x, pos):
        # x [B, S, h, D]; pos [S] positions
        c = self.cos[pos][None, :, None, :]
        s = self.sin[pos][None, :, None, :]
        x1, x2 = x.chunk(2, dim=-1)
        rot = torch.cat((-x2, x1), dim=-1)
        return x * torch.cat((c, c), -1) + rot * torch.cat((s, s), -1)

    def attend_prefill(self, q, k, v):
        H, KV = self.s["heads"], self.s["kv_heads"]
        if self.gqa:
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    def attend_decode(self, q, k, v, mask):
        # One token: the G query heads of a KV head are G query rows
        # against that head's cache, so no K/V is repeated.
        B, H, _, D = q.shape
        KV = self.s["kv_heads"]
        a = F.scaled_dot_product_attention(q.reshape(B, KV, H // KV, D), k, v,
                                           attn_mask=mask)
        return a.reshape(B, H, 1, D)

    def forward(self, tokens, pos, prefill):
        s = self.s
        B, S = tokens.shape
        H, KV, D = s["heads"], s["kv_heads"], s["head_dim"]
        x = self.emb[tokens]
        for li, L in enumerate(self.layers):
            h = F.rms_norm(x, (s["hidden"],), L["an"], s["eps"])
            q, k, v = F.linear(h, L["wqkv"]).split([H * D, KV * D, KV * D], dim=-1)
            q = self.rope(q.view(B, S, H, D), pos).transpose(1, 2)
            k = self.rope(k.view(B, S, KV, D), pos).transpose(1, 2)
            v = v.view(B, S, KV, D).transpose(1, 2)
            self.kc[li].index_copy_(2, pos, k)
            self.vc[li].index_copy_(2, pos, v)
            if prefill:
                # A prompt from position 0: causal over its own keys.
                a = self.attend_prefill(q, k, v)
            else:
                a = self.attend_decode(q, self.kc[li], self.vc[li],
                                       self.mask[pos][None, None])
            x = x + F.linear(a.transpose(1, 2).reshape(B, S, H * D), L["wo"])
            h = F.rms_norm(x, (s["hidden"],), L["fn"], s["eps"])
            g, u = F.linear(h, L["w13"]).chunk(2, dim=-1)
            x = x + F.linear(F.silu(g) * u, L["w2"])
        x = F.rms_norm(x[:, -1:], (s["hidden"],), self.norm, s["eps"])
        return F.linear(x, self.head)

    def graph_step(self, batch):
        """The decode step as a CUDA graph over static token/pos inputs."""
        self.tok = torch.zeros(batch, 1, dtype=torch.long, device="cuda")
        self.pos = torch.zeros(1, dtype=torch.long, device="cuda")
        st = torch.cuda.Stream()
        st.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(st):
            for _ in range(2):
                self.forward(self.tok, self.pos, False)
        torch.cuda.current_stream().wait_stream(st)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = self.forward(self.tok, self.pos, False)

    def step(self, p):
        self.pos.fill_(p)
        self.graph.replay()
        return self.out


def run_lean(rows, prompts, reps):
    s = SHAPE
    max_len = max(prompts) + 64
    eng = Lean(s, 1, max_len)
    gen = torch.Generator(device="cuda").manual_seed(2)
    with torch.inference_mode():
        for n in prompts:
            tok = torch.randint(0, s["vocab"], (1, n), generator=gen, device="cuda")
            pos = torch.arange(n, device="cuda")
            rows.append(("lean", f"prefill (TTFT, one segment) {n}", n,
                         median_ms(lambda: eng.forward(tok, pos, True), reps)))
        print(f"lean: SDPA with enable_gqa: {eng.gqa}", file=sys.stderr)
    del eng
    torch.cuda.empty_cache()
    # Decode attends over the whole static cache (masked), gpt-fast style:
    # a cache sized for the 2k context, not for the longest prompt above.
    with torch.inference_mode():
        eng = Lean(s, 1, 2048 + 64)
        tok = torch.randint(0, s["vocab"], (1, 2048), generator=gen, device="cuda")
        eng.forward(tok, torch.arange(2048, device="cuda"), True)
        eng.graph_step(1)
        rows.append(("lean", "decode step (TPOT, batch 1), CUDA graph", 2049,
                     median_ms(lambda: eng.step(2048), reps)))
        ts = [wall(lambda: eng.step(2048 + i)) for i in range(64)]
        rows.append(("lean", "64 decode steps (TPOT, batch 1, mean), CUDA graph",
                     "2049..2112", 1e3 * sum(ts) / len(ts)))
    del eng
    torch.cuda.empty_cache()
    # Batch 32 at 2k: the cache filled with random K/V, not a prompt.
    with torch.inference_mode():
        eng = Lean(s, 32, 2048 + 64)
        for c in eng.kc + eng.vc:
            c.normal_(generator=gen)
        eng.graph_step(32)
        rows.append(("lean", "decode step (TPOT, batch 32), CUDA graph", 2049,
                     median_ms(lambda: eng.step(2048), reps)))
    del eng
    torch.cuda.empty_cache()


def run_hf(rows, prompts, reps):
    import transformers
    from transformers import AutoModelForCausalLM, LlamaConfig

    s = SHAPE
    kw = dict(hidden_size=s["hidden"], intermediate_size=s["ffn"],
              num_hidden_layers=s["layers"], num_attention_heads=s["heads"],
              num_key_value_heads=s["kv_heads"], head_dim=s["head_dim"],
              vocab_size=s["vocab"], max_position_embeddings=131072,
              rms_norm_eps=s["eps"], tie_word_embeddings=False)
    # transformers 5 names RoPE's settings rope_parameters, 4 rope_scaling.
    if int(transformers.__version__.split(".")[0]) >= 5:
        kw["rope_parameters"] = dict(rope_type="llama3", rope_theta=s["theta"], **s["rope"])
    else:
        kw.update(rope_theta=s["theta"], rope_scaling=dict(rope_type="llama3", **s["rope"]))
    cfg = LlamaConfig(**kw)
    torch.manual_seed(3)
    prev = torch.get_default_device() if hasattr(torch, "get_default_device") else None
    torch.set_default_device("cuda")
    try:
        try:
            model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16,
                                                     attn_implementation="sdpa")
        except TypeError:
            model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.bfloat16,
                                                     attn_implementation="sdpa")
    finally:
        torch.set_default_device(prev)
    model = model.to("cuda", torch.bfloat16).eval()
    print(f"hf: transformers {transformers.__version__}, attention "
          f"{model.config._attn_implementation}", file=sys.stderr)
    gen = torch.Generator(device="cuda").manual_seed(4)

    def call(ids, **kw):
        try:
            return model(ids, use_cache=True, logits_to_keep=1, **kw)
        except TypeError:
            return model(ids, use_cache=True, num_logits_to_keep=1, **kw)

    with torch.inference_mode():
        for n in prompts:
            ids = torch.randint(0, s["vocab"], (1, n), generator=gen, device="cuda")
            rows.append(("hf", f"prefill (TTFT, one segment) {n}", n,
                         median_ms(lambda: call(ids), reps)))
        ids = torch.randint(0, s["vocab"], (1, 2048), generator=gen, device="cuda")
        out = call(ids)
        pkv = out.past_key_values
        nxt = out.logits[:, -1:].argmax(-1)
        ts = []
        for _ in range(1 + max(reps, 16)):
            def one():
                nonlocal out
                out = call(nxt, past_key_values=pkv)
            ts.append(wall(one))
            nxt = out.logits[:, -1:].argmax(-1)
        rows.append(("hf", "decode step (TPOT, batch 1), eager", "2049..",
                     1e3 * statistics.median(ts[1:])))
    del model
    torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-hf", action="store_true")
    ap.add_argument("--skip-lean", action="store_true")
    a = ap.parse_args()
    prompts = [2048] if a.quick else [2048, 8192, 16384]
    print(f"# torch_peers: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"cuDNN {torch.backends.cudnn.version()}, llama3-8b shape, bf16, median of {a.reps}")
    rows = []
    if not a.skip_lean:
        run_lean(rows, prompts, a.reps)
    if not a.skip_hf:
        try:
            run_hf(rows, prompts, a.reps)
        except ImportError as e:
            print(f"hf: not runnable here: {e}", file=sys.stderr)
    print("| peer | measurement | context | ms |\n|---|---|---|---|")
    for peer, what, ctx, ms in rows:
        print(f"| {peer} | {what} | {ctx} | {ms:.2f} |")


if __name__ == "__main__":
    main()
