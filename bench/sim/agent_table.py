#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Table of run_agent.sh's CSVs: mean job latency of every retention arm
against no retention, same policy, order, pool, tool scale and seed, with
the unlimited-pool bound beside it. Mean over seeds with [min, max]."""
import csv
import glob
import os
import re
import sys
from collections import defaultdict


def spread(xs, fmt):
    if not xs:
        return "-"
    m = sum(xs) / len(xs)
    return (fmt + " [" + fmt + ", " + fmt + "]").format(m, min(xs), max(xs))


def main(d):
    rows = defaultdict(dict)    # (x, pool, arm, seed) -> setup -> row
    for path in glob.glob(os.path.join(d, "*.csv")):
        m = re.match(r"x([0-9.]+)_(?:p(\d+)_)?(.+)_seed(\d+)\.csv$", os.path.basename(path))
        x, pool, arm, seed = m.group(1), m.group(2) or "inf", m.group(3), int(m.group(4))
        with open(path) as f:
            for r in csv.DictReader(f):
                rows[(x, pool, arm, seed)][r["setup"]] = r
    xs = sorted({k[0] for k in rows}, key=float)
    pools = sorted({k[1] for k in rows if k[1] != "inf"}, key=int)
    arms = ["auto", "auto-pinned", "fixed30-uncapped", "oracle"]
    seeds = sorted({k[3] for k in rows})
    setups = []
    for k in rows:
        for s in rows[k]:
            if s not in setups:
                setups.append(s)
    print("| tool scale | pool | setup | GPU busy (none) | paused KV / pool | job none s | "
          "bound s (room) | " + " | ".join(f"{a}: job gain %" for a in arms) +
          " | auto: resumed/expired/dropped, pinned+soft |")
    print("|" + "---|" * (8 + len(arms)))
    for x in xs:
        for p in pools:
            for s in setups:
                def get(arm, key, seed, pool=p):
                    r = rows.get((x, pool, arm, seed), {}).get(s)
                    return float(r[key]) if r else None
                none = [get("none", "job_mean", k) for k in seeds]
                bound = [get("bound", "job_mean", k, "inf") for k in seeds]
                busy = [100 * get("none", "busy", k) for k in seeds]
                paused = [get("none", "paused_kv_mean_tokens", k) / int(p) for k in seeds]
                room = [100 * (n - b) / n for n, b in zip(none, bound)]
                cells = [x, p, s, spread(busy, "{:.0f}%"), spread(paused, "{:.2f}"),
                         spread(none, "{:.1f}"),
                         spread(bound, "{:.1f}") + " (" + spread(room, "{:.1f}%") + ")"]
                for a in arms:
                    g = [100 * (n - get(a, "job_mean", k)) / n for n, k in zip(none, seeds)]
                    cells.append(spread(g, "{:+.1f}"))
                st = [sum(get("auto", key, k) for k in seeds) / len(seeds)
                      for key in ("retained_resumed", "retain_expired", "retain_dropped",
                                  "retain_hard", "retain_soft")]
                cells.append("{:.0f}/{:.0f}/{:.0f}, {:.0f}+{:.0f}".format(*st))
                print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
