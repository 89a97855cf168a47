#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The simulator on the windows, arms and pools of an end-to-end run
(bench/e2e/run.sh's output, e.g. bench/results/e2e_h200), as report.py's
sim_predict calls it, with extra simulator flags: to weigh a scheduler change
against what the engine measured before a GPU run repeats it.

usage: e2e_windows.py RESULTS_DIR PART --sim SIM [--cost FILE]
                      [--base ARM] [--arm ARM] [--orders O,O] [-- SIM_FLAGS...]

Prints, per order, the mean TTFT the simulator predicts for the base arm and
the arm (seeds' mean and each seed), the ratio base / arm per seed (> 1: the
arm is faster) and the same ratio as the engine measured it.
"""
import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "e2e"))
import report  # noqa: E402  (flags, pools and windows as the e2e bench reads them)


def sim_ttft(sim, d, seed, arm, order, cost, extra):
    prefix = f"{d}/s{seed}.{arm}.{order}"
    kv, flags = report.parse_flags(prefix + ".flags")
    chunk = flags["chunking"]
    chunk = "adaptive" if chunk == "adaptive" else "fixed" + chunk.split(":")[1]
    setup = f"{kv['policy']}:{flags['reuse']}:{chunk}:{flags['order']}"
    blocks = report.size_bytes(kv["pool_bytes"]) // report.size_bytes(kv["block"])
    sp = float(flags["speed"])
    with tempfile.NamedTemporaryFile(suffix=".csv") as out:
        cmd = [sim, "--trace", f"{d}/window-s{seed}.jsonl", "--setup", setup,
               "--pool", str(blocks * report.BLOCK_TOKENS),
               "--tokens-per-id", flags["tokens-per-id"],
               "--max-output", flags["max-output"], "--max-seqs", "64",
               "--time-scale", str(1 / sp if sp > 0 else 0), "--quiet",
               "--csv", out.name, "--cost", cost]
        ctx = report.model_context(prefix)
        if ctx:
            cmd += ["--max-context", ctx]
        if "agent" in flags:
            cmd += ["--agent", "--ttl", flags.get("ttl", "0")]
        p = subprocess.run(cmd + extra, capture_output=True, text=True)
        if p.returncode:
            sys.exit(f"e2e_windows.py: {' '.join(cmd + extra)}: {p.stderr.strip()}")
        row = next(csv.DictReader(open(out.name)))
    measured = [r["ttft_ms"] for r in report.load_lines(prefix + ".jsonl")
                if "ttft_ms" in r]
    return (1e3 * float(row["ttft_mean"]), 1e3 * float(row["tpot_mean"]),
            statistics.mean(measured) if measured else float("nan"))


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("part")
    ap.add_argument("--sim", required=True)
    ap.add_argument("--cost", help="the clock's cost file (default: the part's cost.json)")
    ap.add_argument("--base", default="asym-msa-8k")
    ap.add_argument("--arm", default="asym-msa-adaptive")
    ap.add_argument("--orders", default="fcfs,hrrn")
    a = ap.parse_args(argv)
    d = os.path.join(a.results, a.part)
    cost = a.cost or os.path.join(d, "cost.json")
    seeds = report.seeds_of(d)
    if not seeds or not os.path.exists(cost):
        sys.exit(f"e2e_windows.py: no windows or no cost file in {d}")
    print(f"sim flags: {' '.join(extra) or '(none)'}; cost {cost}")
    print()
    print(f"| order | {a.base} sim TTFT ms | {a.arm} sim TTFT ms | sim ratio (seeds) "
          f"| measured ratio | sim TPOT ms (base, arm) |")
    print("|---|---|---|---|---|---|")
    for order in a.orders.split(","):
        b = {s: sim_ttft(a.sim, d, s, a.base, order, cost, extra) for s in seeds}
        x = {s: sim_ttft(a.sim, d, s, a.arm, order, cost, extra) for s in seeds}
        rs = [b[s][0] / x[s][0] for s in seeds]
        rm = [b[s][2] / x[s][2] for s in seeds]

        def mean(v, i):
            return statistics.mean(t[i] for t in v.values())
        print(f"| {order} | {mean(b, 0):.1f} | {mean(x, 0):.1f} | "
              f"{statistics.mean(rs):.2f}x ({', '.join(f'{r:.2f}' for r in rs)}) | "
              f"{statistics.mean(rm):.2f}x | {mean(b, 1):.2f}, {mean(x, 1):.2f} |")


if __name__ == "__main__":
    main()
