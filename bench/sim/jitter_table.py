#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Table of run_agent_jitter.sh's CSV (or run_agent_load.sh's, whose rows
also name the load). Per row (tool scale, [load,] pool, setup),
over the held-out seeds:
- noise: how far no retention's mean job latency moves when every arrival
  moves by 0.1-0.2% (each jitter against jitter 1, per seed: the widest);
- auto, one run: auto's gain at jitter 1 (what run_agent.sh reports);
- auto, N jitters: auto's gain with each arm averaged over the jitters, per
  seed, as mean [min, max] over seeds.
Gains are (none - auto) / none in percent; positive is faster."""
import csv
import sys
from collections import defaultdict


def spread(xs):
    return "{:+.1f} [{:+.1f}, {:+.1f}]".format(sum(xs) / len(xs), min(xs), max(xs))


def main(path):
    job = defaultdict(dict)     # (x, load, pool, setup, seed, arm) -> jitter -> s
    for r in csv.DictReader(open(path)):
        job[(r["tool_scale"], r.get("load", ""), int(r["pool"]), r["setup"],
             int(r["seed"]), r["arm"])][r["jitter"]] = float(r["job_mean"])
    keys = sorted({k[:4] for k in job}, key=lambda k: (float(k[0]), k[1], k[2], k[3]))
    with_load = any(k[1] for k in keys)
    nj = max(len(v) for v in job.values())
    seeds = sorted({k[4] for k in job})
    print("| tool scale | " + ("load | " if with_load else "") +
          "pool | setup | none moved by jitter alone, % (mean over seeds of each "
          "seed's widest move, worst seed) "
          f"| auto gain %, one run | auto gain %, mean of {nj} jitters |")
    print("|---|" + ("---|" if with_load else "") + "---|---|---|---|---|")
    worst_one = worst_avg = (0, None)
    for k in keys:
        noise, one, avg = [], [], []
        for s in seeds:
            n, a = job.get(k + (s, "none")), job.get(k + (s, "auto"))
            if not n or not a or "1" not in n:
                continue
            noise.append(max((abs(v - n["1"]) / n["1"] * 100 for j, v in n.items() if j != "1"),
                             default=0.0))
            one.append((n["1"] - a["1"]) / n["1"] * 100)
            mn = sum(n.values()) / len(n)
            ma = sum(a.values()) / len(a)
            avg.append((mn - ma) / mn * 100)
            if one[-1] < worst_one[0]:
                worst_one = (one[-1], k + (s,))
            if avg[-1] < worst_avg[0]:
                worst_avg = (avg[-1], k + (s,))
        if not one:
            continue
        print(f"| {k[0]} | " + (f"{k[1]} | " if with_load else "") +
              f"{k[2]} | {k[3]} | {sum(noise) / len(noise):.1f} (worst {max(noise):.1f}) "
              f"| {spread(one)} | {spread(avg)} |")
    print()
    for name, (g, k) in (("one run", worst_one), (f"mean of {nj} jitters", worst_avg)):
        where = (f"tool scale {k[0]}, " + (f"load {k[1]}, " if k[1] else "") +
                 f"pool {k[2]}, {k[3]}, seed {k[4]}") if k else "-"
        print(f"- auto's worst seed, {name}: {g:+.2f}% ({where})")


if __name__ == "__main__":
    main(sys.argv[1])
