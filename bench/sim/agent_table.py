#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Table of run_agent.sh's and run_agent_load.sh's CSVs: mean job latency of
every retention arm against no retention, same policy, order, pool, tool
scale, load and seed, with the unlimited-pool bound beside it. Mean over
seeds with [min, max]. Files are x{scale}[_l{load}][_p{pool}]_{arm}_seed{N}.csv
(no pool: the bound)."""
import csv
import glob
import os
import re
import sys
from collections import defaultdict

ARMS = ["auto", "auto-quarter", "auto-pinned", "fixed30-uncapped", "oracle"]
TARGET = 18.1   # issue 13: % lower mean job latency than no retention


def spread(xs, fmt):
    if not xs:
        return "-"
    m = sum(xs) / len(xs)
    return (fmt + " [" + fmt + ", " + fmt + "]").format(m, min(xs), max(xs))


def mean(xs):
    return sum(xs) / len(xs)


def main(d):
    rows = defaultdict(dict)    # (x, load, pool, arm, seed) -> setup -> row
    for path in glob.glob(os.path.join(d, "*.csv")):
        m = re.match(r"x([0-9.]+)_(?:l([0-9.]+)_)?(?:p(\d+)_)?(.+)_seed(\d+)\.csv$",
                     os.path.basename(path))
        key = (m.group(1), m.group(2) or "", m.group(3) or "inf", m.group(4),
               int(m.group(5)))
        with open(path) as f:
            for r in csv.DictReader(f):
                rows[key][r["setup"]] = r
    xs = sorted({k[0] for k in rows}, key=float)
    loads = sorted({k[1] for k in rows})
    pools = sorted({k[2] for k in rows if k[2] != "inf"}, key=int)
    present = {k[3] for k in rows}
    arms = [a for a in ARMS if a in present]
    seeds = sorted({k[4] for k in rows})
    setups = []
    for k in rows:
        for s in rows[k]:
            if s not in setups:
                setups.append(s)
    with_load = loads != [""]
    head = ["tool scale"] + (["load"] if with_load else []) + [
        "pool", "setup", "GPU busy (none)", "paused KV / pool (none)",
        "paused KV / pool (bound)", "job none s", "bound s (room)", "bound TTFT s"]
    head += [f"{a}: job gain %" for a in arms]
    head += ["auto: resumed/expired/dropped, pinned+soft",
             f"paused KV > pool and room >= {TARGET}%: auto gain >= {TARGET}%?"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for x in xs:
        for ld in loads:
            for p in pools:
                for s in setups:
                    def get(arm, key, seed, pool=p):
                        r = rows.get((x, ld, pool, arm, seed), {}).get(s)
                        return float(r[key]) if r else None
                    if get("none", "job_mean", seeds[0]) is None:
                        continue
                    none = [get("none", "job_mean", k) for k in seeds]
                    bound = [get("bound", "job_mean", k, "inf") for k in seeds]
                    busy = [100 * get("none", "busy", k) for k in seeds]
                    paused = [get("none", "paused_kv_mean_tokens", k) / int(p) for k in seeds]
                    bpaused = [get("bound", "paused_kv_mean_tokens", k, "inf") / int(p)
                               for k in seeds]
                    bttft = [get("bound", "ttft_mean", k, "inf") for k in seeds]
                    room = [100 * (n - b) / n for n, b in zip(none, bound)]
                    cells = [x] + ([ld] if with_load else []) + [
                        p, s, spread(busy, "{:.0f}%"), spread(paused, "{:.2f}"),
                        spread(bpaused, "{:.2f}"), spread(none, "{:.1f}"),
                        spread(bound, "{:.1f}") + " (" + spread(room, "{:.1f}%") + ")",
                        spread(bttft, "{:.3f}")]
                    gain = {}
                    for a in arms:
                        gain[a] = [100 * (n - get(a, "job_mean", k)) / n
                                   for n, k in zip(none, seeds)]
                        cells.append(spread(gain[a], "{:+.1f}"))
                    st = [mean([get("auto", key, k) for k in seeds])
                          for key in ("retained_resumed", "retain_expired", "retain_dropped",
                                      "retain_hard", "retain_soft")]
                    cells.append("{:.0f}/{:.0f}/{:.0f}, {:.0f}+{:.0f}".format(*st))
                    if mean(bpaused) > 1 and mean(room) >= TARGET:
                        cells.append("**yes**" if mean(gain["auto"]) >= TARGET else "no")
                    else:
                        cells.append("(out of scope)")
                    print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
