"""Benchmark: how long refusing an XML file with one long run of adjacent comments takes.

    .venv/bin/python bench/bench_structured_xml_comment_runs.py [--small N] [--repeat R]

``<r>`` + ``<!--c-->`` x N + ``</r>`` with ``/r/comment()`` (decision 646): the runs of adjacent
non-element nodes are measured in one pass and the file is refused, instead of libxml2 ordering
the selection in about N * N steps (40,000 comments took 60 s). This prints the best time of R
runs for N and 4 N comments and the ratio of their time per comment: near 1 when linear, near 4
when quadratic. The baseline is the small file, in the same run on the same machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bundlekit.runtime.structured import ConfigParseError  # noqa: E402
from bundlekit.runtime.structured.xmlfile import apply_xml  # noqa: E402


def seconds(text: str) -> float:
    start = time.perf_counter()
    try:
        apply_xml(text, {"/r/comment()": "1"})
    except ConfigParseError:
        return time.perf_counter() - start
    raise AssertionError("the file was not refused")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sizes = (args.small, args.small * 4)
    per = {}
    for n in sizes:
        text = "<r>" + "<!--c-->" * n + "</r>"
        best = min(seconds(text) for _ in range(args.repeat))
        per[n] = best / n
        print(f"{n:>7} comments: refused in {best * 1000:8.1f} ms, {per[n] * 1e6:6.2f} us per comment")
    print(f"per-comment time, {sizes[1]} / {sizes[0]} comments: {per[sizes[1]] / per[sizes[0]]:.2f}x "
          "(1x is linear; 4x would be quadratic)")


if __name__ == "__main__":
    main()
