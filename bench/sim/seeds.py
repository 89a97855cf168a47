#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Summarise asymcache-sim CSVs over seeds, as markdown.

Files are NAME_seedN.csv; rows of one NAME with the same setup are one arm
over seeds. Each arm is compared with the lru + prefix arm of the same
chunking and order (and asym with pensieve + MSA), seed by seed: the ratio
is the baseline's mean TTFT over the arm's, > 1 when the arm is faster.
Values are the mean over seeds with [min, max]. "dead % of cache" is the
time-mean share of the cached blocks that no later request reads.
"""
import csv
import re
import sys
from collections import defaultdict


def spread(xs, fmt):
    if not xs:
        return "-"
    m = sum(xs) / len(xs)
    if len(xs) == 1:
        return fmt.format(m)
    return (fmt + " [" + fmt + ", " + fmt + "]").format(m, min(xs), max(xs))


def chunk_order(setup):
    p = setup.split(":")
    return p[2] + ":" + p[3]


def main(paths):
    groups = defaultdict(lambda: defaultdict(dict))   # name -> setup -> seed -> row
    order = defaultdict(list)
    for path in paths:
        m = re.match(r"(?:.*/)?(.+)_seed(\d+)\.csv$", path)
        if not m:
            sys.exit(f"{path}: want NAME_seedN.csv")
        name, seed = m.group(1), int(m.group(2))
        with open(path) as f:
            for row in csv.DictReader(f):
                s = row["setup"]
                if s not in order[name]:
                    order[name].append(s)
                groups[name][s][seed] = row
    buckets = [("<4k", "0k"), ("4-16k", "4k"), ("16-64k", "16k"), (">=64k", "64k")]
    for name in sorted(groups):
        arms = groups[name]
        seeds = sorted({s for a in arms.values() for s in a})
        print(f"### {name} ({len(seeds)} seed{'s' if len(seeds) > 1 else ''}: "
              f"{', '.join(map(str, seeds))})\n")
        agent = any(float(r["job_mean"]) > 0 for a in arms.values() for r in a.values())
        head = ["setup (policy:reuse:chunk:order)", "hit %", "TTFT mean s",
                "x vs lru:prefix", "x vs pensieve:msa", "TTFT p50 s", "p50 x vs lru:prefix",
                "TTFT p99 s", "prefill GPU-s saved", "dead % of cache"]
        if agent:
            head += ["job mean s"]
        head += [f"p50/p99 {b}" for b, _ in buckets]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for s in order[name]:
            rows = arms[s]
            base = arms.get("lru:prefix:" + chunk_order(s), {})
            pens = arms.get("pensieve:msa:" + chunk_order(s), {})

            def col(key, rs=rows):
                return [float(rs[k][key]) for k in sorted(rs)]

            def ratio(ref, key="ttft_mean"):
                return [float(ref[k][key]) / float(rows[k][key])
                        for k in sorted(rows) if k in ref and float(rows[k][key]) > 0]

            cells = [s, spread([100 * x for x in col("hit_rate")], "{:.1f}"),
                     spread(col("ttft_mean"), "{:.3f}"),
                     spread(ratio(base), "{:.3f}") if base else "-",
                     spread(ratio(pens), "{:.3f}") if pens and s.startswith("asym") else "-",
                     spread(col("ttft_p50"), "{:.3f}"),
                     spread(ratio(base, "ttft_p50"), "{:.3f}") if base else "-",
                     spread(col("ttft_p99"), "{:.2f}"),
                     spread(col("prefill_gpu_s_saved"), "{:.0f}"),
                     spread([100 * x for x in col("dead_share")], "{:.1f}")
                     if all("dead_share" in r for r in rows.values()) else "-"]
            if agent:
                cells.append(spread(col("job_mean"), "{:.2f}"))
            for _, b in buckets:
                n = col(f"ttft_n_{b}")
                if not any(n):
                    cells.append("-")
                    continue
                p50 = sum(col(f"ttft_p50_{b}")) / len(n)
                p99 = sum(col(f"ttft_p99_{b}")) / len(n)
                cells.append(f"{p50:.2f}/{p99:.2f}")
            print("| " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
