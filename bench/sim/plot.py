#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Plot hit rate and mean TTFT against pool size, one line per setup.

usage: plot.py SIM_CSV OUT_PREFIX   (writes OUT_PREFIX_hit.png, _ttft.png)
"""
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows = list(csv.DictReader(open(sys.argv[1])))
    by = defaultdict(list)
    for r in rows:
        by[r["setup"]].append(r)
    for metric, label, fname in (
        ("hit_rate", "block hit rate", "hit"),
        ("ttft_mean", "mean TTFT (s)", "ttft"),
    ):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for setup, rs in by.items():
            rs.sort(key=lambda r: int(r["pool_tokens"]))
            xs = [int(r["pool_tokens"]) / 1e3 for r in rs]
            ys = [float(r[metric]) * (100 if metric == "hit_rate" else 1) for r in rs]
            style = "-o" if setup in ("asym:msa:adaptive", "lru:prefix:fixed") else "--."
            ax.plot(xs, ys, style, label=setup)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("pool size (k tokens)")
        ax.set_ylabel(label + (" (%)" if metric == "hit_rate" else ""))
        ax.set_title("conversation_trace.jsonl, simulated H200, Llama-3-8B")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(f"{sys.argv[2]}_{fname}.png", dpi=110)


if __name__ == "__main__":
    main()
