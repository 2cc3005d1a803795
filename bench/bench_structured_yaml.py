"""Benchmark: writing a replaced YAML value in place, against re-dumping the whole document.

    .venv/bin/python bench/bench_structured_yaml.py [--keys N]

Decision 521 writes a replaced one-line scalar where ruamel.yaml's composer says it stands and
then loads the result again to check it, instead of dumping the document in round-trip mode.
That costs a compose and a second load. This prints, for a values file of N services (each a
mapping with a comment, a port, a host and a list), the median time of ``apply_yaml`` with one
value replaced (the in-place path) and of what decision 131 did for the same edit: load in
round-trip mode, set the value, dump (the baseline), and their ratio. These machines are
shared: compare within one run.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bundlekit.runtime.structured.yamlfile import _yaml, apply_yaml  # noqa: E402


def values_file(keys: int) -> str:
    """A values file of ``keys`` services, in the layout a Helm chart's values often have."""
    parts = ["# generated values\n"]
    for i in range(keys):
        parts.append(f"svc{i}:\n  # service {i}\n  port: {8000 + i}   # public\n  host: \"h{i}.local\"\n"
                     f"  tags:\n    - a{i}\n    - b{i}\n")
    return "".join(parts)


def in_place(text: str) -> str:
    edit = apply_yaml(text, {"svc7:port": "9000"})
    assert edit.text is not None and edit.text.count("9000") == 1
    return edit.text


def round_trip_dump(text: str) -> str:
    yaml = _yaml()
    document = yaml.load(text)
    document["svc7"]["port"] = 9000
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


def median_seconds(edit, text: str, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        edit(text)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    text = values_file(args.keys)
    spliced = median_seconds(in_place, text, args.repeat)
    dumped = median_seconds(round_trip_dump, text, args.repeat)
    print(f"{len(text)} bytes, {args.keys} services")
    print(f"in place (load, compose, splice, reload): {spliced * 1000:8.1f} ms")
    print(f"round-trip load and dump (baseline):      {dumped * 1000:8.1f} ms")
    print(f"ratio in place / baseline:                {spliced / dumped:8.2f}")


if __name__ == "__main__":
    main()
