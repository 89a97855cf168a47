#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Tables of bench/e2e/run.sh's results (docs/e2e.md), with the simulator's
prediction beside each measured arm.

usage: report.py speed WINDOW CAPACITY_PREFIX LOAD --sim SIM --calibrate CALIBRATE
                       [--model NAME]
       report.py table OUT PART --sim SIM [--model NAME]
                       [--calibrate CALIBRATE --gpu NAME]

With --calibrate, a conv, rag or agent part without a cost.json gets one
fitted to its iterations first (asymcache-calibrate --from-iterations), so
a part cut short by a time limit is predicted with its own fit too.
A run whose requests file holds fewer requests than its window offered
(cut short) is named and left out of every figure.

Every figure comes from the engine's per-request JSON lines (*.jsonl) and
per-iteration timings (*.iter.jsonl); nothing is typed in.
"""
import argparse
import csv
import functools
import glob
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile

BLOCK_TOKENS = 16  # the engine's --block-tokens default, the pool's blocks


def load_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def speed(window, capacity, load, sim, calibrate, model):
    """The --speed at which the simulator keeps the GPU LOAD busy on WINDOW,
    under the capacity run's setup and pool, with a cost file fitted to the
    capacity run's own passes. Offering LOAD of the capacity run's
    throughput instead kept the H200 90-94% busy at LOAD 0.7: a window
    served at small batches costs far more GPU time per token than one
    served all at once, which the capacity run measures."""
    with tempfile.TemporaryDirectory() as t:
        cost = os.path.join(t, "cost.json")
        run_calibrate(calibrate, capacity + ".iter.jsonl", cost, "capacity run", model)
        cmd, pool = sim_cmd(sim, window, capacity, cost)
        p = subprocess.run(cmd + ["--target-busy", str(load), "--ref-pool", str(pool)],
                           capture_output=True, text=True)
    m = re.search(r"^# time scale ([0-9.]+):", p.stdout, re.M)
    if p.returncode or not m or float(m.group(1)) <= 0:
        sys.exit(f"report.py: asymcache-sim found no time scale for {window}: "
                 f"{p.stderr.strip() or p.stdout.strip()}")
    print(f"{1 / float(m.group(1)):.4f}")


def run_calibrate(calibrate, iters, out, gpu, model):
    """asymcache-calibrate --from-iterations ITERS into OUT; its output, or
    the run ends with its error."""
    p = subprocess.run([calibrate, "--from-iterations", iters, "--out", out,
                        "--gpu", gpu, "--shape", model], capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"report.py: asymcache-calibrate failed on {iters}: {p.stderr.strip()}")
    return p.stdout + p.stderr


def parse_flags(path):
    """policy, pool bytes, block bytes and the replay flags of one arm."""
    text = open(path).read().split()
    kv = dict(t.split("=", 1) for t in text if "=" in t and not t.startswith("--"))
    flags = {}
    rest = [t for t in text if "=" not in t or t.startswith("--")]
    i = 0
    while i < len(rest):
        if rest[i].startswith("--"):
            val = rest[i + 1] if i + 1 < len(rest) and not rest[i + 1].startswith("--") else ""
            flags[rest[i][2:]] = val
            i += 2 if val else 1
        else:
            i += 1
    return kv, flags


def size_bytes(s):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    return int(s[:-1]) * units[s[-1]] if s[-1] in units else int(s)


def cost_model(path):
    if not path or not os.path.exists(path):
        return None
    c = json.load(open(path))["coefficients"]
    return c


def saved_s(cost, reqs):
    """GPU-seconds of prefill the reused tokens did not cost, priced by the
    cost model fitted to the engine: a whole prompt from position 0 against
    its computed tokens at the prompt's end."""
    if not cost:
        return float("nan")
    lin, attn = cost["linear_s_per_token"], cost["attn_s_per_pair"]
    s = 0.0
    for r in reqs:
        P, c = r["prompt_tokens"], r["computed_tokens"]
        full = lin * P + attn * P * P / 2
        part = lin * c + attn * c * (P - c / 2)
        s += max(0.0, full - part)
    return s


@functools.lru_cache(maxsize=None)
def window_lines(window):
    """A window's requests, read once however many arms replayed it."""
    return tuple(load_lines(window))


@functools.lru_cache(maxsize=None)
def seen_tokens(window, tpi):
    """Per window line (1-based), the prompt tokens whose blocks an earlier
    request's prompt already held: what an unlimited cache would reuse."""
    seen, out = set(), {}
    for i, r in enumerate(window_lines(window), 1):
        n = (r["input_length"] * tpi + 511) // 512
        s = sum(1 for h in r["hash_ids"] if h in seen)
        out[i] = min(n, s * tpi)
        seen.update(r["hash_ids"])
    return out


def run_metrics(prefix, cost, window=None):
    reqs = load_lines(prefix + ".jsonl")
    ok = [r for r in reqs if "error" not in r]
    it = load_lines(prefix + ".iter.jsonl") if os.path.exists(prefix + ".iter.jsonl") else []
    ttft = [r["ttft_ms"] for r in ok]
    tpot = [r["tpot_ms"] for r in ok if "tpot_ms" in r]
    start = min(r["arrival_ms"] for r in ok) if ok else 0
    end = max(r["finish_ms"] for r in ok) if ok else 0
    toks = sum(r["prompt_tokens"] + r["output_tokens"] for r in ok)
    prompt = sum(r["prompt_tokens"] for r in ok)
    m = {
        "n": len(ok), "failed": len(reqs) - len(ok),
        "offered": len(window_lines(window)) if window else len(reqs),
        "ttft_mean": statistics.mean(ttft) if ttft else float("nan"),
        "ttft_p50": pct(ttft, 50), "ttft_p99": pct(ttft, 99),
        "tpot_mean": statistics.mean(tpot) if tpot else float("nan"),
        "tpot_p99": pct(tpot, 99),
        "tok_s": toks / ((end - start) / 1e3) if end > start else float("nan"),
        "hit": sum(r["reused_tokens"] for r in ok) / prompt if prompt else 0,
        "computed": sum(r["computed_tokens"] for r in ok),
        "holes": sum(r["holes"] for r in ok),
        "preempt": sum(r.get("preemptions", 0) for r in ok),
        "saved_s": saved_s(cost, ok),
        "recomputed": float("nan"),
    }
    if window:
        # Tokens that were in the cache's reach (seen before in the window)
        # yet computed: evicted, or a prefix-only arm's middle hits.
        _, flags = parse_flags(prefix + ".flags")
        seen = seen_tokens(window, int(flags["tokens-per-id"]))
        m["recomputed"] = sum(max(0, seen.get(r["line"], 0) - r["reused_tokens"]) for r in ok)
    if it:
        t0 = min(i["t_ms"] for i in it) / 1e3
        t1 = max(i["t_ms"] / 1e3 + i["forward_s"] for i in it)
        m["busy"] = sum(i["forward_s"] for i in it) / (t1 - t0) if t1 > t0 else float("nan")
    else:
        m["busy"] = float("nan")
    jobs = {}
    for r in ok:
        if "program" in r:
            j = jobs.setdefault(r["program"], [math.inf, 0.0])
            j[0] = min(j[0], r.get("program_start_ms", r["arrival_ms"]))
            j[1] = max(j[1], r["finish_ms"])
    if jobs:
        lat = [(b - a) / 1e3 for a, b in jobs.values()]
        m["job_mean"], m["job_p50"], m["job_p99"] = statistics.mean(lat), pct(lat, 50), pct(lat, 99)
    return m


def model_context(prefix):
    """The model's context as the engine's refusals state it (None: it
    refused nothing, so every request fits whatever the context)."""
    for r in load_lines(prefix + ".jsonl"):
        m = re.search(r"the model's context of (\d+)", r.get("error", ""))
        if m:
            return m.group(1)
    return None


def sim_cmd(sim, window, prefix, cost_path):
    """asymcache-sim's command for one run's window, setup and pool (the
    arm's flags), and that pool in tokens."""
    kv, flags = parse_flags(prefix + ".flags")
    ctx = model_context(prefix)
    chunk = flags["chunking"]
    chunk = "adaptive" if chunk == "adaptive" else "fixed" + chunk.split(":")[1]
    setup = f"{kv['policy']}:{flags['reuse']}:{chunk}:{flags['order']}"
    pool = size_bytes(kv["pool_bytes"]) // size_bytes(kv["block"]) * BLOCK_TOKENS
    sp = float(flags["speed"])
    cmd = [sim, "--trace", window, "--setup", setup, "--pool", str(pool),
           "--tokens-per-id", flags["tokens-per-id"],
           "--max-output", flags["max-output"], "--max-seqs", "64", "--quiet"]
    if sp > 0:  # a capacity run's 0 (every request at once) leaves it to --target-busy
        cmd += ["--time-scale", str(1 / sp)]
    if cost_path:
        cmd += ["--cost", cost_path]
    if "tpot_us" in kv:  # the daemon's target, where the run set one
        cmd += ["--tpot", str(int(kv["tpot_us"]) / 1e6)]
    if ctx:
        cmd += ["--max-context", ctx]
    if "agent" in flags:
        cmd += ["--agent", "--ttl", flags.get("ttl", "0")]
    return cmd, pool


def sim_predict(sim, window, prefix, cost_path, extra=()):
    """The simulator on the same window, arm and pool (EXTRA: flags after
    the arm's, which override them); its figures, TTFT and TPOT in ms."""
    cmd, _ = sim_cmd(sim, window, prefix, cost_path)
    with tempfile.NamedTemporaryFile(suffix=".csv") as out:
        p = subprocess.run(cmd + list(extra) + ["--csv", out.name], capture_output=True,
                           text=True)
        if p.returncode:
            return {"error": p.stderr.strip().splitlines()[-1] if p.stderr else "sim failed"}
        row = next(csv.DictReader(open(out.name)))
    return {"ttft_mean": 1e3 * float(row["ttft_mean"]), "tpot_mean": 1e3 * float(row["tpot_mean"]),
            "hit": float(row["hit_rate"]), "job_mean": float(row["job_mean"]),
            "saved_s": float(row["prefill_gpu_s_saved"]), "busy": float(row["busy"])}


def agg(vals):
    """mean over seeds, and the spread as min-max."""
    vals = [v for v in vals if v == v]
    if not vals:
        return float("nan"), float("nan"), float("nan")
    return statistics.mean(vals), min(vals), max(vals)


def fmt(vals, d=1, pct_=False):
    m, lo, hi = agg(vals)
    if m != m:
        return "-"
    k = 100 if pct_ else 1
    if len([v for v in vals if v == v]) < 2 or lo == hi:
        return f"{k * m:.{d}f}"
    return f"{k * m:.{d}f} ({k * lo:.{d}f}-{k * hi:.{d}f})"


def seeds_of(d):
    return sorted({int(m.group(1)) for f in glob.glob(f"{d}/window-s*.jsonl")
                   for m in [re.search(r"window-s(\d+)\.jsonl$", f)] if m})


def collect(d, seeds, names, sim, cost_path, cost):
    """Per run name, {seed: metrics} and {seed: prediction} of the runs that
    served their whole window; the runs cut short, as notes."""
    res, pred, cut = {}, {}, []
    for n in names:
        res[n], pred[n] = {}, {}
        for s in seeds:
            prefix, window = f"{d}/s{s}.{n}", f"{d}/window-s{s}.jsonl"
            if not os.path.exists(prefix + ".jsonl"):
                continue
            m = run_metrics(prefix, cost, window)
            if m["n"] + m["failed"] < m["offered"]:
                cut.append(f"{n} seed {s}: cut short ({m['n'] + m['failed']} of "
                           f"{m['offered']} requests), left out")
                continue
            res[n][s] = m
            pred[n][s] = sim_predict(sim, window, prefix, cost_path)
    return res, pred, cut


def column(runs, key):
    return [m.get(key, float("nan")) for m in runs.values()]


def print_notes(res, pred, cut):
    for n in res:
        for s, x in pred[n].items():
            if "error" in x:
                print(f"\nsim failed on {n} seed {s}: {x['error']}")
    for c in cut:
        print(f"\n{c}")


def matrix_table(out, part, sim, d, cost_path, cost):
    seeds = seeds_of(d)
    names = {os.path.basename(f)[len(f"s{s}."):-len(".jsonl")]
             for s in seeds for f in glob.glob(f"{d}/s{s}.*.jsonl")}
    names = [n for n in names if not n.endswith(".iter")]
    order_rank = {"fcfs": 0, "hrrn": 1}
    arm_rank = {}
    for i, line in enumerate(open(os.path.join(os.path.dirname(__file__), "arms.tsv"))):
        if line.strip() and not line.startswith("#"):
            arm_rank[line.split()[0]] = i
    names.sort(key=lambda a: (order_rank.get(a.rsplit(".", 1)[1], 9), arm_rank.get(a.rsplit(".", 1)[0], 99)))
    res, pred, cut = collect(d, seeds, names, sim, cost_path, cost)
    print(f"\nSeeds {', '.join(map(str, seeds))}: mean over seeds (min-max). "
          f"sim: asymcache-sim on the same window, arm and pool with {cost_label(cost_path)}.\n")
    print("| arm | order | TTFT mean ms | p50 | p99 | sim TTFT mean | sim err | TPOT mean ms | p99 | "
          "tok/s | hit | sim hit | computed tok | recomputed tok | holes | prefill GPU-s saved | GPU busy | sim busy |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for a in names:
        arm, order = a.rsplit(".", 1)
        r, p = res[a], pred[a]
        if not r:
            continue
        sim_t = [p[s].get("ttft_mean", float("nan")) for s in r]
        errs = [(p[s].get("ttft_mean", float("nan")) - m["ttft_mean"]) / m["ttft_mean"]
                for s, m in r.items()]
        print(f"| {arm} | {order} | {fmt(column(r, 'ttft_mean'))} | {fmt(column(r, 'ttft_p50'))} | "
              f"{fmt(column(r, 'ttft_p99'))} | {fmt(sim_t)} | "
              f"{fmt(errs, 0, True)}% | {fmt(column(r, 'tpot_mean'), 2)} | "
              f"{fmt(column(r, 'tpot_p99'), 2)} | {fmt(column(r, 'tok_s'), 0)} | "
              f"{fmt(column(r, 'hit'), 1, True)}% | "
              f"{fmt(column(p, 'hit'), 1, True)}% | {fmt(column(r, 'computed'), 0)} | "
              f"{fmt(column(r, 'recomputed'), 0)} | "
              f"{fmt(column(r, 'holes'), 0)} | {fmt(column(r, 'saved_s'), 2)} | "
              f"{fmt(column(r, 'busy'), 0, True)}% | {fmt(column(p, 'busy'), 0, True)}% |")
    print_notes(res, pred, cut)

    def ratio(num, den, key):
        if num not in res or den not in res:
            return None
        v = [res[num][s][key] / res[den][s][key] for s in res[num]
             if s in res[den] and res[den][s][key] > 0]
        return fmt(v, 2) + "x" if v else None

    print("\nRatios (baseline / arm, per seed, then mean and min-max; > 1: the arm is faster):\n")
    print("| comparison | what changes | mean TTFT | mean TPOT |")
    print("|---|---|---|---|")
    rows = [("base-2k.fcfs", "asym-msa-adaptive.hrrn", "headline: vLLM-like baseline against ours (everything)")]
    for o in ("fcfs", "hrrn"):
        rows += [
            (f"base-2k.{o}", f"base-8k.{o}", f"token budget 2,048 -> 8,192 ({o})"),
            (f"base-8k.{o}", f"lru-msa-8k.{o}", f"prefix -> MSA reuse ({o})"),
            (f"lru-msa-8k.{o}", f"pensieve-msa-8k.{o}", f"lru -> pensieve ({o})"),
            (f"lru-msa-8k.{o}", f"asym-msa-8k.{o}", f"lru -> asym ({o})"),
            (f"base-8k.{o}", f"asym-msa-8k.{o}", f"cache manager: lru+prefix -> asym+MSA ({o})"),
            (f"asym-msa-8k.{o}", f"asym-msa-adaptive.{o}", f"fixed 8,192 -> adaptive chunks ({o})"),
        ]
    for a in names:
        arm, o = a.rsplit(".", 1)
        if o == "fcfs" and f"{arm}.hrrn" in res:
            rows.append((a, f"{arm}.hrrn", f"order fcfs -> hrrn ({arm})"))
    for num, den, what in rows:
        t, p = ratio(num, den, "ttft_mean"), ratio(num, den, "tpot_mean")
        if t:
            print(f"| {den.replace('.', ' / ')} vs {num.replace('.', ' / ')} | {what} | {t} | {p} |")


def agent_table(out, sim, d, cost_path, cost):
    seeds = seeds_of(d)
    names = sorted({os.path.basename(f)[len(f"s{s}."):-len(".jsonl")]
                    for s in seeds for f in glob.glob(f"{d}/s{s}.*.jsonl")
                    if not f.endswith(".iter.jsonl")})
    res, pred, cut = collect(d, seeds, names, sim, cost_path, cost)
    print(f"\nSeeds {', '.join(map(str, seeds))}: mean over seeds (min-max); job = a program from "
          f"its first arrival to its last token. sim: asymcache-sim with {cost_label(cost_path)}.\n")
    print("| arm | order | retention | job mean s | p50 | p99 | sim job mean s | TTFT mean ms | "
          "sim TTFT | TPOT mean ms | hit | computed tok | recomputed tok | GPU busy |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in names:
        arm, order, ttl = n.split(".")
        r, p = res[n], pred[n]
        if not r:
            continue
        print(f"| {arm} | {order} | {ttl} | {fmt(column(r, 'job_mean'), 2)} | "
              f"{fmt(column(r, 'job_p50'), 2)} | {fmt(column(r, 'job_p99'), 2)} | "
              f"{fmt(column(p, 'job_mean'), 2)} | "
              f"{fmt(column(r, 'ttft_mean'))} | {fmt(column(p, 'ttft_mean'))} | "
              f"{fmt(column(r, 'tpot_mean'), 2)} | {fmt(column(r, 'hit'), 1, True)}% | "
              f"{fmt(column(r, 'computed'), 0)} | {fmt(column(r, 'recomputed'), 0)} | "
              f"{fmt(column(r, 'busy'), 0, True)}% |")
    print_notes(res, pred, cut)
    print("\nTTL retention against none, same arm and pool (1 - job(ttl) / job(none), per seed):\n")
    print("| arm | order | job latency gain | worst seed | unlimited-pool bound |")
    print("|---|---|---|---|---|")

    def gain(runs, base):
        return [1 - runs[s]["job_mean"] / base[s]["job_mean"] for s in runs
                if s in base and "job_mean" in runs[s] and "job_mean" in base[s]]

    for n in names:
        arm, order, ttl = n.split(".")
        if ttl != "ttlauto" or f"{arm}.{order}.ttl0" not in res:
            continue
        base = res[f"{arm}.{order}.ttl0"]
        g = gain(res[n], base)
        ub = gain(res.get(f"{arm}.{order}.unlimited", {}), base)
        print(f"| {arm} | {order} | {fmt(g, 1, True)}% | {100 * min(g):.1f}% | "
              f"{fmt(ub, 1, True) + '%' if ub else '-'} |" if g else f"| {arm} | {order} | - | - | - |")


def share_table(out, d, cost):
    seeds = seeds_of(d)
    print("\nTwo engine processes, the conversation window dealt alternately: one pool shared, "
          "or a private pool of half the size each (two daemons). Mean over seeds (min-max).\n")
    print("| pools | TTFT mean ms | p50 | hit | tok/s |")
    print("|---|---|---|---|---|")
    cut = []
    for kind in ("shared", "private"):
        ms = []
        for s in seeds:
            tmp = f"{d}/s{s}.{kind}-all"
            whole = True
            with open(tmp + ".jsonl", "w") as f:
                for i, half in enumerate(("a", "b"), 1):
                    p = f"{d}/s{s}.{kind}-{half}.jsonl"
                    got = load_lines(p) if os.path.exists(p) else []
                    offered = len(load_lines(f"{d}/half{i}-s{s}.jsonl"))
                    if len(got) < offered:
                        whole = False
                        cut.append(f"{kind} seed {s}: engine {half} cut short ({len(got)} of "
                                   f"{offered} requests), seed left out")
                    f.write("".join(json.dumps(r) + "\n" for r in got))
            if whole:
                ms.append(run_metrics(tmp, cost))
            os.unlink(tmp + ".jsonl")
        print(f"| {kind} | {fmt([m['ttft_mean'] for m in ms])} | {fmt([m['ttft_p50'] for m in ms])} | "
              f"{fmt([m['hit'] for m in ms], 1, True)}% | {fmt([m['tok_s'] for m in ms], 0)} |")
    for c in cut:
        print(f"\n{c}")


def sweep_table(out, part, d, cost, plot_path):
    runs = [m for f in glob.glob(f"{d}/x*_*.jsonl") if not f.endswith(".iter.jsonl")
            for m in [re.search(r"/x([0-9.]+)_(.+)\.jsonl$", f)] if m]
    xs = sorted({m.group(1) for m in runs}, key=float)
    arms = sorted({m.group(2) for m in runs})
    what = "pool (share of the window's working set)" if part == "pools" else "offered load"
    window = next(iter(glob.glob(f"{d}/window-s*.jsonl")), None)
    print(f"\nMean TTFT (ms) and hit rate against the {what}; first seed's conversation window.\n")
    print("| " + what + " | " + " | ".join(f"{a} TTFT | {a} hit" for a in arms) + " |")
    print("|---" * (1 + 2 * len(arms)) + "|")
    series = {a: [] for a in arms}
    for x in xs:
        cells = []
        for a in arms:
            p = f"{d}/x{x}_{a}"
            if not os.path.exists(p + ".jsonl"):
                cells += ["-", "-"]
                continue
            m = run_metrics(p, cost, window)
            if m["n"] + m["failed"] < m["offered"]:
                cells += ["cut short", "-"]
                continue
            series[a].append((float(x), m["ttft_mean"]))
            cells += [f"{m['ttft_mean']:.1f}", f"{100 * m['hit']:.1f}%"]
        print(f"| {x} | " + " | ".join(cells) + " |")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\n(no matplotlib here: no plot)")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for a, pts in series.items():
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=a)
    ax.set_xlabel(what)
    ax.set_ylabel("mean TTFT (ms)")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(plot_path, dpi=120)
    print(f"\nplot: {os.path.basename(plot_path)}")


def cost_label(cost_path):
    if cost_path:
        return "the cost file fitted to this part's engine iterations"
    return "the simulator's default cost file (no fit: the part kept no iterations)"


def fit(d, calibrate, gpu, model):
    """cost.json from every iteration of the part's runs, where none is."""
    path = os.path.join(d, "cost.json")
    iters = sorted(glob.glob(f"{d}/*.iter.jsonl"))
    if os.path.exists(path) or not calibrate or not iters:
        return
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as t:
        for f in iters:
            t.write(open(f).read())
        t.flush()
        log = run_calibrate(calibrate, t.name, path, gpu, model)
    with open(os.path.join(d, "cost.log"), "w") as f:
        f.write(log)


def table(out, part, sim, model, calibrate=None, gpu="?"):
    d = os.path.join(out, part)
    src = part if part in ("conv", "rag", "agent") else "conv"
    if src == part:
        fit(d, calibrate, gpu, model)
    cost_path = os.path.join(out, src, "cost.json")
    cost_path = cost_path if os.path.exists(cost_path) else None
    cost = cost_model(cost_path)
    print(f"## {part} ({model})\n")
    settings = os.path.join(out, "settings.txt")
    if os.path.exists(settings):
        print("```\n" + open(settings).read().rstrip() + "\n```")
    if cost_path:
        print(f"\ncost model fitted to the engine: {json.load(open(cost_path))['source']}")
    if part in ("conv", "rag"):
        matrix_table(out, part, sim, d, cost_path, cost)
    elif part == "agent":
        agent_table(out, sim, d, cost_path, cost)
    elif part == "share":
        share_table(out, d, cost)
    else:
        sweep_table(out, part, d, cost, os.path.join(d, f"ttft_{part}.png"))


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("cmd", choices=["table", "speed"])
    ap.add_argument("args", nargs="+", help="table: OUT PART; speed: WINDOW CAPACITY_PREFIX LOAD")
    ap.add_argument("--sim", required=True)
    ap.add_argument("--model", default="?")
    ap.add_argument("--calibrate", help="asymcache-calibrate: fits a part without cost.json; "
                    "speed needs it")
    ap.add_argument("--gpu", default="?", help="the device the runs had, for the fitted file")
    a = ap.parse_args()
    if a.cmd == "speed":
        if len(a.args) != 3 or not a.calibrate:
            ap.error("speed WINDOW CAPACITY_PREFIX LOAD --sim SIM --calibrate CALIBRATE")
        speed(*a.args, a.sim, a.calibrate, a.model)
    else:
        if len(a.args) != 2:
            ap.error("table OUT PART --sim SIM")
        table(*a.args, a.sim, a.model, a.calibrate, a.gpu)


if __name__ == "__main__":
    main()
