"""Benchmark: matching a member path against patterns with many ``**`` parts.

    .venv/bin/python bench/bench_member_glob.py [--depth D] [--repeat R]

The pattern ``**/`` x k + ``nomatch`` is tested against a member D folders deep, for k = 1 (the
baseline, in the same run) and for k = 8, 16 and 32. This prints the best time of R runs for
each and its ratio to k = 1. The positions a pattern can reach are kept as one set per pattern
part, so the time grows at most linearly with k (ratio at most about k); trying every split of every ``**``,
as matching did before, took 17 s for k = 8 at depth 24 and over two minutes for k = 10.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bundlekit.package.archive import member_matches  # noqa: E402


def best(pattern: str, name: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(100):
            assert not member_matches(name, [pattern])
        times.append((time.perf_counter() - start) / 100)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--depth", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    name = "/".join(["d"] * (args.depth - 1) + ["file.txt"])
    base = best("**/nomatch", name, args.repeat)
    print(f"k=  1: {base * 1e6:9.1f} us (baseline)")
    for stars in (8, 16, 32):
        took = best("**/" * stars + "nomatch", name, args.repeat)
        print(f"k={stars:>3}: {took * 1e6:9.1f} us, {took / base:6.1f}x the baseline (at most ~{stars}x when linear)")


if __name__ == "__main__":
    main()
