"""Where a package step's time goes on the targets: the runner's own work against `scp`'s sink and `unzip`.

    .venv/bin/python bench/bench_target_side.py                  # 256 MiB of content, 10 targets
    .venv/bin/python bench/bench_target_side.py --size-mib 64 --targets 4

No SSH: the part of `bench_fleet.py`'s package deployment that runs on the targets, for
--targets work folders at once (one process each, as 10 runners on one machine), so that what
it costs shows apart from the transfer. The zip is the one `bench_fleet.py` makes. Three
contenders, each from empty folders, --rounds rounds, the order rotating:

- the baseline: the archive's bytes written to a file (what `scp`'s sink does), then
  `unzip -o` (neither makes anything durable);
- the runner now: receiving the archive (SHA-256 as it arrives, written under a temporary
  name, renamed), extracting it into a staging folder, fsyncing that folder's files and
  swapping it in (decision 432);
- the runner as it was before decision 432: the archive fsync'd on arrival, and `os.sync()`
  (everything any program wrote) before the swap, so the change is measured, not assumed.

Prints wall and CPU seconds of each, and the median ratio baseline / runner (higher is better).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_fleet import make_zip  # noqa: E402  (the same package)

from bundlekit.package import extract  # noqa: E402
from bundlekit.package.extract import stage_package, swap_in  # noqa: E402
from bundlekit.runtime.workdir import WorkFolder  # noqa: E402


def timed(label: str, count: int, one: Callable[[int], None]) -> float:
    """Run ``one(i)`` for every target at once, each in a process of its own (as runners and
    `unzip` are); print and return the wall seconds."""
    os.sync()  # each contender starts with nothing of the last one waiting to be written
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    children = []
    for i in range(count):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                one(i)
                code = 0
            finally:
                os._exit(code)
        children.append(pid)
    failed = [pid for pid in children if os.waitpid(pid, 0)[1] != 0]
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if failed:
        raise SystemExit(f"{label}: {len(failed)} of {count} failed")
    print(f"  {label:58s} {wall:7.2f} s wall {cpu:7.2f} s CPU (load {os.getloadavg()[0]:.1f})", flush=True)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--targets", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("unzip") is None:
        raise SystemExit("needs unzip: apt-get install -y unzip")
    n = args.targets
    with tempfile.TemporaryDirectory(prefix="bench-target-") as tmp:
        root = Path(tmp)
        archive = root / "Bench.App.1.0.0.zip"
        sha = make_zip(archive, args.size_mib)
        size = archive.stat().st_size
        print(f"a {size / 2**20:.0f} MiB zip ({args.size_mib} MiB of content) on {n} targets at once; "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")

        def chunks() -> Iterator[bytes]:
            with open(archive, "rb") as handle:
                while block := handle.read(256 << 10):  # the protocol's data frames
                    yield block

        def plain_write(i: int) -> None:
            folder = root / f"plain-{i}"
            folder.mkdir(exist_ok=True)
            with open(folder / archive.name, "wb") as out:
                for block in chunks():
                    out.write(block)

        def unzip(i: int) -> None:
            folder = root / f"plain-{i}"
            subprocess.run(["unzip", "-q", "-o", str(folder / archive.name), "-d", str(folder / "pkg")], check=True)

        def receive(i: int) -> None:
            work = WorkFolder(root / f"runner-{i}")
            work.prepare()
            shutil.rmtree(work.packages / sha, ignore_errors=True)
            work.receive(sha, archive.name, size, chunks())

        def install(i: int) -> None:
            work = WorkFolder(root / f"runner-{i}")
            dest = work.package_folder("Bench.App", "1.0.0")
            with work.package_lock("Bench.App"):
                staging, _ = stage_package(work.verified_archive(sha, archive.name), dest, replace=True)
                swap_in(staging, dest, replace=True)

        real_fsync, real_fsync_tree = os.fsync, extract.fsync_tree

        def old_receive(i: int) -> None:
            receive(i)
            fd = os.open(WorkFolder(root / f"runner-{i}").archive(sha, archive.name), os.O_RDONLY)
            try:
                real_fsync(fd)  # what AtomicFile's commit did for the archive before decision 432
            finally:
                os.close(fd)

        def old_flush(top: Path) -> None:
            os.sync()

        def baseline(i: int) -> None:
            plain_write(i)
            unzip(i)

        def before(i: int) -> None:
            old_receive(i)
            install(i)

        def now(i: int) -> None:
            receive(i)
            install(i)

        def clear() -> None:  # every run starts from empty folders (no old version to delete)
            for i in range(n):
                for folder in (root / f"plain-{i}", root / f"runner-{i}"):
                    shutil.rmtree(folder, ignore_errors=True)

        names = {"baseline": "write the bytes, then unzip -o (scp's sink and unzip)",
                 "before": "runner before 432: receive + fsync, extract, os.sync()",
                 "now": "runner now: receive, extract, fsync its own files"}
        walls: dict[str, list[float]] = {k: [] for k in names}
        for number in range(args.rounds):
            order = list(names)[number % 3:] + list(names)[:number % 3]
            print(f"round {number + 1}:")
            for which in order:
                clear()
                if which == "before":
                    extract.fsync_tree = old_flush  # type: ignore[assignment]
                try:
                    walls[which].append(timed(names[which], n, {"baseline": baseline, "before": before,
                                                                "now": now}[which]))
                finally:
                    extract.fsync_tree = real_fsync_tree  # type: ignore[assignment]
        ratio = {k: statistics.median(b / r for b, r in zip(walls["baseline"], walls[k])) for k in ("before", "now")}
        print(f"median ratio over the rounds (baseline time / runner time; higher is better): now {ratio['now']:.2f}x, "
              f"before decision 432 {ratio['before']:.2f}x; median wall: baseline "
              f"{statistics.median(walls['baseline']):.2f} s, now {statistics.median(walls['now']):.2f} s, before "
              f"{statistics.median(walls['before']):.2f} s")
        baseline(0)
        now(0)
        digest = hashlib.sha256((root / "runner-0" / "Bench.App" / "1.0.0" / "app" / "blob.bin").read_bytes())
        assert digest.hexdigest() == hashlib.sha256((root / "plain-0" / "pkg" / "app" / "blob.bin").read_bytes()
                                                    ).hexdigest()  # both installed the same bytes


if __name__ == "__main__":
    main()
