"""Benchmark: what the audit trail adds to a state change, against the same change unaudited.

    .venv/bin/python bench/bench_audit.py [--changes N]

Each round makes N small changes (a target added, then removed: one write transaction each,
as `targets add` / `targets remove` make them) on a SQLite zone, once with the zone's audit
watcher (zone/audit.py: RETURNING capture, keyed digests, one signed entry per transaction) and
once with the watcher taken off, in alternating rounds on the same zone, and prints the median
time per change of each and their ratio. Then it times `audit --verify`'s check of the whole
trail so made, per entry. The commit itself (fsync, synchronous=FULL) dominates both sides, so
the ratio is the audit's cost as a user feels it. These machines are shared: compare within one
run, note the load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bundlekit.zone import audit, targets  # noqa: E402
from bundlekit.zone.home import Zone, init_zone  # noqa: E402


def _round(zone: Zone, n: int, tag: str) -> float:
    start = time.perf_counter()
    for i in range(n):
        targets.add_target(zone, f"{tag}-{i}", "Production", ("web",), zone.home.parent / f"{tag}-{i}", 0)
        targets.remove_target(zone, f"{tag}-{i}")
    return (time.perf_counter() - start) / (2 * n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        zone = init_zone(Path(tmp) / "prod", "prod", int(time.time()))
        watched, bare = [], []
        for r in range(args.rounds):
            watched.append(_round(zone, args.changes, f"a{r}"))
            watcher, zone.db.watcher = zone.db.watcher, None
            try:
                bare.append(_round(zone, args.changes, f"b{r}"))
            finally:
                zone.db.watcher = watcher
        start = time.perf_counter()
        checked = audit.verify(zone)
        verify = time.perf_counter() - start
        zone.close()
    w, b = statistics.median(watched), statistics.median(bare)
    print(f"per change, median of {args.rounds} rounds of {2 * args.changes}:")
    print(f"  unaudited  {b * 1000:8.2f} ms")
    print(f"  audited    {w * 1000:8.2f} ms   ratio {w / b:.2f}x")
    print(f"verify {len(checked)} entries: {verify * 1000:.0f} ms, {verify / len(checked) * 1e6:.0f} us per entry")


if __name__ == "__main__":
    main()
