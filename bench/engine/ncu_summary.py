#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Sums an `ncu --csv --metrics gpu__time_duration.sum` log per kernel.

Usage: ncu_summary.py LOG.csv   (prints us, launches and kernel, largest first)
"""
import collections
import csv
import sys

SCALE = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0,
         "msecond": 1e3, "ms": 1e3, "second": 1e6, "s": 1e6}


def main(path):
    with open(path, newline="") as f:
        lines = [ln for ln in f if ln.startswith('"')]
    tot = collections.defaultdict(float)
    cnt = collections.Counter()
    for row in csv.DictReader(lines):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        us = float(row["Metric Value"].replace(",", "")) * SCALE[row["Metric Unit"]]
        name = row["Kernel Name"][:100]
        tot[name] += us
        cnt[name] += 1
    print(f"kernels {sum(cnt.values())}, GPU time {sum(tot.values()):.1f} us")
    print("   us     launches  kernel")
    for name, us in sorted(tot.items(), key=lambda kv: -kv[1]):
        print(f"{us:9.1f} {cnt[name]:6d}    {name}")


if __name__ == "__main__":
    main(sys.argv[1])
