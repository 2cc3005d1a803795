"""Benchmark: an XML file declaring K namespace prefixes on its root, over 2 K elements.

    .venv/bin/python bench/bench_structured_xml_namespaces.py [--small K] [--repeat R]

The prefixes an XPath may use are collected before it is evaluated (``apply_xml``). This prints
the best time of R runs for K and for 4 K prefixes (so 16 times the prefixes x elements), the
time per byte of each and their ratio (large / small): near 1 when the work is linear in the
file, near 4 when it grows with prefixes x elements, as it did while every element's in-scope
namespaces were read (98 KB took 24 s). The baseline is the small file, same run, same machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bundlekit.runtime.structured.xmlfile import apply_xml  # noqa: E402


def document(prefixes: int) -> str:
    declared = " ".join(f'xmlns:p{i}="urn:n{i}"' for i in range(prefixes))
    return f"<r {declared}>" + "<a/>" * (2 * prefixes) + "</r>"


def seconds(text: str) -> float:
    start = time.perf_counter()
    edit = apply_xml(text, {"/r/a": "1"})
    took = time.perf_counter() - start
    assert edit.text is not None
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sizes = (args.small, args.small * 4)
    texts = {k: document(k) for k in sizes}
    per = {}
    for k in sizes:
        best = min(seconds(texts[k]) for _ in range(args.repeat))
        per[k] = best / len(texts[k])
        print(f"{k:>6} prefixes ({len(texts[k]) / 1e3:.0f} KB): {best * 1000:8.1f} ms, "
              f"{per[k] * 1e9:6.0f} ns per byte")
    print(f"per-byte time, {sizes[1]} / {sizes[0]} prefixes: {per[sizes[1]] / per[sizes[0]]:.2f}x "
          "(1x is linear; 4x would be prefixes x elements)")


if __name__ == "__main__":
    main()
