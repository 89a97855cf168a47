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
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "e2e"))
import report  # noqa: E402  (flags, pools and windows as the e2e bench reads them)


def sim_ttft(sim, d, seed, arm, order, cost, extra):
    """The simulator's mean TTFT and TPOT for one arm of a seed, and the
    engine's mean TTFT, in ms."""
    prefix, window = f"{d}/s{seed}.{arm}.{order}", f"{d}/window-s{seed}.jsonl"
    x = report.sim_predict(sim, window, prefix, cost, extra)
    if "error" in x:
        sys.exit(f"e2e_windows.py: the simulator on {prefix}: {x['error']}")
    return x["ttft_mean"], x["tpot_mean"], report.run_metrics(prefix, None)["ttft_mean"]


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
