"""Benchmark: what a ``bundlekit`` command costs before it does anything (the CLI's start-up).

    nice -n 10 .venv/bin/python bench/bench_startup.py [--runs N] [--compare-tree /work/main]

Runs ``python -m bundlekit --version``, ``--help``, ``inspect --help`` and ``inspect BUNDLE`` (a
spec test vector: ``fixtures/vectors/valid-two-signatures.bundle``) as the tests' ``run_cli``
does, ``--runs`` times each, the commands interleaved round by round, and measures each run's
CPU time (user + system of the child process, from ``getrusage``: these machines are shared,
and a child's CPU seconds vary far less with the load than its wall time). The baseline, in the
same rounds, is ``python -c pass``: the interpreter's own start. Printed per command: the median
CPU milliseconds, the median wall milliseconds, and the ratio of the median CPU time to the
baseline's. With ``--compare-tree DIR`` the same commands run from another checkout (its
``bundlekit`` package, with this interpreter and its installed dependencies) in the same rounds,
alternating with this one, and the ratio this / that is printed too.

Each tree's ``bundlekit`` is compiled first (``compileall``, writing its ``__pycache__``), as
``tasks.py`` does before the tests: where ``PYTHONDONTWRITEBYTECODE`` is set, Python would
otherwise compile every module it imports again in every run, and the figures would mostly
measure that. ``--no-compile`` leaves the trees as they are.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "fixtures" / "vectors" / "valid-two-signatures.bundle"

#: (label, arguments after ``python``); the first is the baseline.
COMMANDS = [
    ("python -c pass", ["-c", "pass"]),
    ("bundlekit --version", ["-m", "bundlekit", "--version"]),
    ("bundlekit --help", ["-m", "bundlekit", "--help"]),
    ("bundlekit inspect --help", ["-m", "bundlekit", "inspect", "--help"]),
    ("bundlekit inspect BUNDLE", ["-m", "bundlekit", "inspect", str(BUNDLE)]),
]


def env_for(tree: Path) -> dict[str, str]:
    """The environment that makes ``python -m bundlekit`` import ``tree``'s package first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)
    env.pop("BUNDLEKIT_HOME", None)
    return env


def package_of(tree: Path) -> str:
    r = subprocess.run([sys.executable, "-c", "import bundlekit; print(bundlekit.__file__)"], env=env_for(tree),
                       capture_output=True, text=True, check=True, cwd=tree)
    return r.stdout.strip()


def one_run(args: list[str], tree: Path) -> tuple[float, float]:
    """CPU seconds (user + system) and wall seconds of one run of ``python ARGS`` from ``tree``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    r = subprocess.run([sys.executable, *args], env=env_for(tree), cwd=tree, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed in {tree}: {r.stderr.decode(errors='replace')[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--compare-tree", type=Path, default=None,
                        help="another checkout of bundlekit to run the same commands from")
    parser.add_argument("--no-compile", action="store_true", help="do not compile the trees' modules first")
    args = parser.parse_args()
    trees = [ROOT] + ([args.compare_tree.resolve()] if args.compare_tree else [])
    for tree in trees:
        if not args.no_compile:
            subprocess.run([sys.executable, "-m", "compileall", "-q", "bundlekit"], cwd=tree, check=True,
                           stdout=subprocess.DEVNULL)
        found = package_of(tree)
        if not found.startswith(str(tree) + os.sep):
            raise SystemExit(f"{tree}: python imports bundlekit from {found}, not from this tree")
    cpu: dict[tuple[Path, str], list[float]] = {(t, label): [] for t in trees for label, _ in COMMANDS}
    wall: dict[tuple[Path, str], list[float]] = {(t, label): [] for t in trees for label, _ in COMMANDS}
    for i in range(args.runs):
        order = trees if i % 2 == 0 else trees[::-1]  # alternate which tree goes first
        for label, command in COMMANDS:
            for tree in order:
                c, w = one_run(command, tree)
                cpu[tree, label].append(c)
                wall[tree, label].append(w)
    print(f"{args.runs} runs each, interleaved; load average {os.getloadavg()[0]:.1f}; CPU = user + system of the child; "
          f"modules {'as they were' if args.no_compile else 'compiled first'}")
    base_label = COMMANDS[0][0]
    for tree in trees:
        base = statistics.median(cpu[tree, base_label])
        print(f"\n{tree}:")
        print(f"  {'command':26s} {'CPU ms':>8s} {'wall ms':>8s} {'CPU / python -c pass':>21s}")
        for label, _ in COMMANDS:
            c, w = statistics.median(cpu[tree, label]), statistics.median(wall[tree, label])
            print(f"  {label:26s} {c * 1000:8.0f} {w * 1000:8.0f} {c / base:20.2f}x")
    if len(trees) == 2:
        this, that = trees
        print(f"\nthis tree / {that} (median CPU):")
        for label, _ in COMMANDS[1:]:
            ratio = statistics.median(cpu[this, label]) / statistics.median(cpu[that, label])
            print(f"  {label:26s} {ratio:6.2f}x")


if __name__ == "__main__":
    main()
