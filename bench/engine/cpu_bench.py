#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""CPU speed of the engine against Hugging Face transformers, same machine.

SmolLM2-135M-Instruct (the Q4_1 GGUF of scripts/fetch-model.sh, run in
fp32 by both), batch 1, greedy: a 42-token chat prompt (the model's
template with its default system prompt) then 40 generated tokens, i.e.
one prefill pass and 39 decode passes. Arms:

  engine       bench/engine/engine_logits: the engine's forward pass on a
               malloc'd fp32 host pool, OpenBLAS with 2 threads; each pass
               timed inside the program
  hf-generate  transformers' model.generate(do_sample=False), torch fp32,
               torch.set_num_threads(2), default attention (sdpa); a
               streamer stamps the time of every token, so prefill is the
               time from the call to the first token and each decode step
               the time between two tokens
  hf-loop      the same model driven by hand (one forward with its KV
               cache per token, argmax), to show what generate adds

Model loading is outside every timing. The arms run as separate
processes, interleaved round by round (their order alternating), since
the machine is shared and its load drifts; each process does one untimed
warm-up generation, then --reps timed ones. The figures are medians over
all timed repetitions: prompt tokens/s = 42 / prefill, generated tokens/s
= 39 decode steps / their total time. The load average is sampled before
every arm's run.

Rerun (the venv of tools/hfref/hfref.py's header serves):
  ninja -C build-e4 bench/engine/engine_logits
  /tmp/hfref-venv/bin/python bench/engine/cpu_bench.py \\
      --model models/SmolLM2-135M-Instruct.Q4_1.gguf \\
      --engine build-e4/bench/engine/engine_logits \\
      --work /tmp/cpubench --out bench/results/engine_cpu_smollm2.md
"""

import argparse
import datetime
import importlib.metadata as md
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time

PROMPT = "Write a short story about a robot who learns to paint."
PROMPT_LEN = 42
N_GEN = 40
THREADS = 2


def hf_load(model_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d, f = os.path.split(os.path.abspath(model_path))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f,
                                                 dtype=torch.float32)
    model.eval()
    return model, tok


def prompt_ids(tok):
    text = tok.apply_chat_template([{"role": "user", "content": PROMPT}],
                                   add_generation_prompt=True,
                                   tokenize=False)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    if len(ids) != PROMPT_LEN:
        sys.exit(f"cpu_bench: the prompt is {len(ids)} tokens, not "
                 f"{PROMPT_LEN}: has the tokenizer or template changed?")
    return ids


def hf_arm(args):
    """One HF process: warm-up, then reps of generate and of the loop."""
    import torch
    from transformers.generation.streamers import BaseStreamer

    torch.set_num_threads(THREADS)
    model, tok = hf_load(args.model)
    ids = torch.tensor([prompt_ids(tok)])

    class Clock(BaseStreamer):
        """Stamps each put(): the prompt first, then every new token."""

        def __init__(self):
            self.t = []

        def put(self, value):
            self.t.append(time.perf_counter())

        def end(self):
            pass

    def generate():
        clock = Clock()
        t0 = time.perf_counter()
        with torch.no_grad():
            out = model.generate(ids, do_sample=False,
                                 max_new_tokens=N_GEN, streamer=clock,
                                 pad_token_id=tok.eos_token_id)
        toks = out[0, ids.shape[1]:].tolist()
        t = clock.t[1:]
        return toks, t[0] - t0, [b - a for a, b in zip(t, t[1:])]

    def loop():
        toks, steps = [], []
        with torch.no_grad():
            t0 = time.perf_counter()
            out = model(ids, use_cache=True)
            toks.append(int(torch.argmax(out.logits[0, -1])))
            prefill = time.perf_counter() - t0
            for _ in range(N_GEN - 1):
                t0 = time.perf_counter()
                out = model(torch.tensor([[toks[-1]]]),
                            past_key_values=out.past_key_values,
                            use_cache=True)
                toks.append(int(torch.argmax(out.logits[0, -1])))
                steps.append(time.perf_counter() - t0)
        return toks, prefill, steps

    for name, fn in (("hf-generate", generate), ("hf-loop", loop)):
        fn()
        for rep in range(args.reps):
            toks, prefill, steps = fn()
            print(json.dumps({"arm": name, "rep": rep, "tokens": toks,
                              "prefill_s": prefill, "step_s": steps}),
                  flush=True)
    return 0


def lscpu_model():
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "?"


def openblas_core(engine, model, prompts):
    """The OpenBLAS kernel set the engine runs on (it says so when asked)."""
    env = dict(os.environ, OPENBLAS_VERBOSE="2",
               OPENBLAS_NUM_THREADS=str(THREADS))
    r = subprocess.run([engine, "-m", model, "-i", prompts, "-o",
                        os.devnull], env=env, capture_output=True, text=True)
    for line in (r.stdout + r.stderr).splitlines():
        if line.startswith("Core:"):
            return line.split(":", 1)[1].strip()
    return "not reported"


def loadavg():
    return os.getloadavg()[0]


def run_engine(args, prompts, out):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(THREADS))
    subprocess.run([args.engine, "-m", args.model, "-i", prompts, "-o", out,
                    "-w", "1", "-r", str(args.reps)], env=env, check=True)
    with open(out) as f:
        return [dict(json.loads(line), arm="engine") for line in f]


def run_hf(args):
    r = subprocess.run([sys.executable, os.path.abspath(__file__),
                        "--hf-arm", "--model", args.model,
                        "--reps", str(args.reps)],
                       stdout=subprocess.PIPE, check=True, text=True)
    return [json.loads(line) for line in r.stdout.splitlines()
            if line.startswith("{")]


def summary(recs):
    pre = [r["prefill_s"] for r in recs]
    dec = [sum(r["step_s"]) for r in recs]
    step = [s for r in recs for s in r["step_s"]]
    return {
        "n": len(recs),
        "prefill_ms": statistics.median(pre) * 1e3,
        "prefill_min_ms": min(pre) * 1e3,
        "prompt_tps": statistics.median(PROMPT_LEN / p for p in pre),
        "step_ms": statistics.median(step) * 1e3,
        "gen_tps": statistics.median((N_GEN - 1) / d for d in dec),
        "gen_tps_max": max((N_GEN - 1) / d for d in dec),
        "total_s": statistics.median(p + d for p, d in zip(pre, dec)),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--engine", help="bench/engine/engine_logits")
    ap.add_argument("--work", default="/tmp/cpubench")
    ap.add_argument("--out", help="the Markdown result file")
    ap.add_argument("--engine-tree", default="the working tree",
                    help="what the engine was built from, for the record")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--hf-arm", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.hf_arm:
        return hf_arm(args)
    if not args.engine:
        ap.error("--engine is required")
    started = datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC")
    cmd = " ".join(shlex.quote(a) for a in
                   ["bench/engine/cpu_bench.py"] + sys.argv[1:])
    os.makedirs(args.work, exist_ok=True)

    from transformers import AutoTokenizer
    d, f = os.path.split(os.path.abspath(args.model))
    ids = prompt_ids(AutoTokenizer.from_pretrained(d, gguf_file=f))
    prompts = os.path.join(args.work, "prompt.jsonl")
    with open(prompts, "w") as fp:
        fp.write(json.dumps({"name": "bench", "ids": ids, "n_gen": N_GEN,
                             "messages": [{"role": "user",
                                           "content": PROMPT}]}) + "\n")
    core = openblas_core(args.engine, args.model, prompts)

    recs, loads = [], []
    for rnd in range(args.rounds):
        order = ("engine", "hf") if rnd % 2 == 0 else ("hf", "engine")
        for arm in order:
            loads.append((rnd, arm, loadavg()))
            if arm == "engine":
                recs += [dict(r, round=rnd) for r in run_engine(
                    args, prompts,
                    os.path.join(args.work, f"engine_{rnd}.jsonl"))]
            else:
                recs += [dict(r, round=rnd) for r in run_hf(args)]
            print(f"cpu_bench: round {rnd} {arm} done, load "
                  f"{loads[-1][2]:.2f}", file=sys.stderr)
    loads.append((args.rounds, "end", loadavg()))
    with open(os.path.join(args.work, "records.jsonl"), "w") as fp:
        for r in recs:
            fp.write(json.dumps(r) + "\n")

    arms = ["engine", "hf-generate", "hf-loop"]
    s = {a: summary([r for r in recs if r["arm"] == a]) for a in arms}
    ref = recs[[r["arm"] for r in recs].index("hf-generate")]["tokens"]
    same = {a: all(r["tokens"] == ref for r in recs if r["arm"] == a)
            for a in arms}

    import torch
    import transformers
    m = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    blas = m.group(1) if m else "?"
    la = [x[2] for x in loads]
    lines = [
        "<!-- SPDX-License-Identifier: MIT -->",
        "# The engine against Hugging Face transformers: CPU speed, "
        "SmolLM2-135M",
        "",
        f"Batch 1, greedy, fp32: a {PROMPT_LEN}-token chat prompt "
        f"(\"{PROMPT}\" in the model's template) then {N_GEN} generated "
        f"tokens (1 prefill pass, {N_GEN - 1} decode passes). Generated by "
        "`bench/engine/cpu_bench.py` (its header says how to rerun and "
        "what each arm does).",
        "",
        f"- command: `{cmd}`",
        f"- date: {started}",
        f"- machine: {lscpu_model()}, {os.cpu_count()} cores, "
        f"{platform.system()} {platform.release()}; shared with other "
        "engineers' builds and tests while it ran",
        f"- load average (1 min) before each arm's run: min {min(la):.2f}, "
        f"median {statistics.median(la):.2f}, max {max(la):.2f}",
        f"- versions: transformers {transformers.__version__}, torch "
        f"{torch.__version__} (BLAS {blas}), gguf {md.version('gguf')}, "
        f"python {platform.python_version()}; OpenBLAS "
        f"{openblas_version()} (kernels: {core})",
        f"- engine built from: {args.engine_tree}, meson buildtype "
        "debugoptimized (the project's default, -O2 -g)",
        f"- settings: {THREADS} threads on both sides "
        f"(OPENBLAS_NUM_THREADS={THREADS}; torch.set_num_threads"
        f"({THREADS})); engine block size 16, fp32 host pool, MSA CPU "
        "kernels; HF default attention (sdpa), `generate(do_sample=False, "
        f"max_new_tokens={N_GEN})`",
        f"- repetitions: {args.rounds} rounds, arms interleaved with their "
        f"order alternating, {args.reps} timed repetitions per arm per "
        "round after one untimed warm-up; medians",
        "",
        "| arm | reps | prefill ms (median) | prefill ms (best) | prompt "
        "tok/s (median) | decode ms/token (median step) | generated tok/s "
        "(median) | generated tok/s (best) | prefill + decode s (median) "
        "| tokens = HF generate's |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for a in arms:
        x = s[a]
        lines.append(
            f"| {a} | {x['n']} | {x['prefill_ms']:.1f} | "
            f"{x['prefill_min_ms']:.1f} | "
            f"{x['prompt_tps']:.0f} | {x['step_ms']:.2f} | "
            f"{x['gen_tps']:.1f} | {x['gen_tps_max']:.1f} | "
            f"{x['total_s']:.2f} | {'yes' if same[a] else 'no'} |")
    e, g = s["engine"], s["hf-generate"]
    lines += [
        "",
        f"Engine / HF generate, from the medians above: prompt tok/s "
        f"x{e['prompt_tps'] / g['prompt_tps']:.2f}, generated tok/s "
        f"x{e['gen_tps'] / g['gen_tps']:.2f} (above 1: the engine is "
        "faster).",
        "",
        "Per round (arms of a round ran back to back, so their ratio is "
        "the least disturbed by the drifting load): median prefill ms / "
        "generated tok/s of each arm, the load average before each, and "
        "engine / HF generate.",
        "",
        "| round | order | load (engine, HF) | engine | hf-generate | "
        "hf-loop | prompt tok/s ratio | generated tok/s ratio |",
        "| ---: | --- | --- | --- | --- | --- | ---: | ---: |",
    ]
    pr, gr = [], []
    for rnd in range(args.rounds):
        x = {a: summary([r for r in recs if r["arm"] == a and
                         r["round"] == rnd]) for a in arms}
        ld = {arm: v for n, arm, v in loads if n == rnd}
        pr.append(x["engine"]["prompt_tps"] / x["hf-generate"]["prompt_tps"])
        gr.append(x["engine"]["gen_tps"] / x["hf-generate"]["gen_tps"])
        cell = [f"{x[a]['prefill_ms']:.0f} ms / {x[a]['gen_tps']:.1f}"
                for a in arms]
        lines.append(
            f"| {rnd} | {' then '.join(a for n, a, v in loads if n == rnd)} "
            f"| {ld['engine']:.2f}, {ld['hf']:.2f} | {' | '.join(cell)} | "
            f"x{pr[-1]:.2f} | x{gr[-1]:.2f} |")
    lines += [
        "",
        f"Median of the per-round ratios: prompt tok/s x"
        f"{statistics.median(pr):.2f}, generated tok/s x"
        f"{statistics.median(gr):.2f}.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as fp:
            fp.write(text)
    return 0


def openblas_version():
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}",
                              "libopenblas0-pthread"], capture_output=True,
                             text=True).stdout
        return out or "?"
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
