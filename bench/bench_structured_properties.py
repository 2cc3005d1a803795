"""Benchmark: a Java properties value continued over many lines, at N and at 10 N lines.

    .venv/bin/python bench/bench_structured_properties.py [--small N] [--repeat R]

One key whose value runs over N (then 10 N) lines, each ending in a continuation backslash, is
replaced (``apply_properties``). This prints the best time of R runs for each size, the time per
line and their ratio (large / small): near 1 when the work is linear, near 10 when it is
quadratic, as it was while the value was joined line by line (1.1 MB took minutes). The baseline
is the small file, in the same run on the same machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bundlekit.runtime.structured.propertiesfile import apply_properties  # noqa: E402


def seconds(text: str) -> float:
    start = time.perf_counter()
    edit = apply_properties(text, {"k": "v"})
    took = time.perf_counter() - start
    assert edit.text == "k=v\n"
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sizes = (args.small, args.small * 10)
    texts = {n: "k=" + "abcdefghijklmnopqrstuvwxyz\\\n" * n + "end\n" for n in sizes}
    per = {}
    for n in sizes:
        best = min(seconds(texts[n]) for _ in range(args.repeat))
        per[n] = best / n
        print(f"{n:>7} lines ({len(texts[n]) / 1e6:.2f} MB): {best * 1000:8.1f} ms, {per[n] * 1e6:6.2f} us per line")
    print(f"per-line time, {sizes[1]} / {sizes[0]} lines: {per[sizes[1]] / per[sizes[0]]:.2f}x "
          "(1x is linear; 10x would be quadratic)")


if __name__ == "__main__":
    main()
