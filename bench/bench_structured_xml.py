"""Benchmark: replacing every comment of an XML file, at 2000 and at 20000 comments.

    .venv/bin/python bench/bench_structured_xml.py [--small N] [--large M] [--repeat R]

One variable named ``//comment()`` selects every comment of the document and replaces each
(``apply_xml``). Each replacement finds its comment's span by one look-up, so the time per
comment should not grow with the number of comments. This prints the best time of R runs (the
least disturbed by other work on a shared machine) for a file of N and of M comments (each an
element with a comment before it), the time per comment of each, and their ratio (large /
small): near 1 when the work is linear, near M / N when each replacement searched the list of
comments, as it did before. The baseline is the small file, in the same run on the same machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bundlekit.runtime.structured.xmlfile import apply_xml  # noqa: E402


def document(comments: int) -> str:
    """A configuration of ``comments`` settings, each with a comment before it."""
    body = "".join(f'  <!-- setting {i} -->\n  <add key="k{i}" value="{i}"/>\n' for i in range(comments))
    return f'<?xml version="1.0" encoding="utf-8"?>\n<configuration>\n{body}</configuration>\n'


def seconds(text: str, comments: int) -> float:
    start = time.perf_counter()
    edit = apply_xml(text, {"//comment()": "replaced"})
    took = time.perf_counter() - start
    assert edit.text is not None and edit.text.count("<!--replaced-->") == comments
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    texts = {count: document(count) for count in (args.small, args.large)}
    times: dict[int, list[float]] = {count: [] for count in texts}
    seconds(texts[args.small], args.small)  # warm up: imports, first XPath compile
    for _ in range(args.repeat):  # interleaved, so a busy moment on a shared machine hits both
        for count, text in texts.items():
            times[count].append(seconds(text, count))
    per = {}
    for count in texts:
        best = min(times[count])
        per[count] = best / count
        print(f"{count:>7} comments: {best * 1000:9.1f} ms, {per[count] * 1e6:7.2f} us per comment (best of "
              f"{args.repeat})")
    print(f"per-comment time, {args.large} / {args.small} comments: {per[args.large] / per[args.small]:.2f}x "
          f"(1x is linear; {args.large / args.small:.0f}x would be quadratic)")


if __name__ == "__main__":
    main()
