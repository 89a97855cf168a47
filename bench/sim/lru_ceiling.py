#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Order-only LRU hit rate of a trace's full prompt blocks at several cache
sizes (no timing, no pins): how much reuse a pool of that size can hold.

usage: lru_ceiling.py TRACE BLOCKS...
"""
import json
import sys
from collections import OrderedDict


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    reqs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    for cap in map(int, sys.argv[2:]):
        cache, refs, hits = OrderedDict(), 0, 0
        for r in reqs:
            full = r["input_length"] // 512
            for k, h in enumerate(r["hash_ids"]):
                if k < full:
                    refs += 1
                    hits += h in cache
                cache[h] = True
                cache.move_to_end(h)
                while len(cache) > cap:
                    cache.popitem(last=False)
        print(f"{cap:7d} blocks ({cap * 512:>11,d} tokens): hit rate {hits / refs:.4f}")


if __name__ == "__main__":
    main()
