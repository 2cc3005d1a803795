#!/usr/bin/env python3
"""Prove that every test file passes when run alone: `pytest tests/path/test_x.py`, one by one.

A test that passes only after another one ran (a shared binding, a module-scoped world that
another test filled in) passes in the full suite and fails here. The whole suite is not a
substitute: it runs files in one order, in one process.

    .venv/bin/python scripts/check_isolation.py                 # every tests/**/test_*.py
    .venv/bin/python scripts/check_isolation.py -j 2            # two files at a time
    .venv/bin/python scripts/check_isolation.py tests/e2e       # only the files under a folder
    .venv/bin/python scripts/check_isolation.py --json          # one JSON document on stdout
    nice -n 19 .venv/bin/python scripts/check_isolation.py --risky-first -x   # likeliest failures first

`--risky-first` runs first the files most likely to lean on another file: those under
tests/e2e and tests/fleet and those with a module- or session-scoped fixture; `-x` stops each
file at its first failure (passed on to pytest). `--retry` runs a failing file once more at once:
a file that fails alone fails both times, while one whose subprocesses timed out on a starved
machine (a run at `nice -n 19` beside a full suite) usually passes the second time and is listed
as "passed on retry", not as a failure.

Each file runs in its own `python -m pytest FILE -q -p no:cacheprovider` process (no xdist,
no cache between runs). Exit status 0 when every file passed, 1 otherwise; the failures are
listed with the tail of their output.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Outcome:
    file: str
    exit_code: int
    seconds: float
    summary: str
    tail: str

    @property
    def passed(self) -> bool:
        return self.exit_code == 0


def test_files(paths: list[str], keep_order: bool = False) -> list[Path]:
    roots = [ROOT / p for p in paths] if paths else [ROOT / "tests"]
    found: dict[Path, None] = {}
    for root in roots:
        for path in [root] if root.is_file() else sorted(root.rglob("test_*.py")):
            found.setdefault(path, None)
    return list(found) if keep_order else sorted(found)


RISKY_FOLDERS = ("tests/e2e/", "tests/fleet/", "tests/refusals/")


def risk(path: Path) -> int:
    """0 for the files likeliest to depend on another file's run, 1 for shared worlds, 2 otherwise."""
    rel = str(path.relative_to(ROOT))
    text = path.read_text(encoding="utf-8", errors="replace")
    if 'scope="module"' in text or 'scope="session"' in text or "scope='module'" in text:
        return 0
    if rel.startswith(RISKY_FOLDERS) or "world" in text:
        return 1
    return 2


def run_alone(path: Path, timeout: float, stop_first: bool = False) -> Outcome:
    rel = str(path.relative_to(ROOT))
    started = time.monotonic()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        r = subprocess.run([sys.executable, "-m", "pytest", rel, "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
                           + (["-x"] if stop_first else []),
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        code, out = r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired as exc:
        code, out = -1, f"timed out after {timeout:.0f} s\n{exc.stdout or ''}"
    lines = [line for line in out.splitlines() if line.strip()]
    summary = next((line for line in reversed(lines) if " in " in line and ("passed" in line or "failed" in line
                                                                           or "error" in line)), lines[-1] if lines
                   else "")
    return Outcome(rel, code, round(time.monotonic() - started, 1), summary.strip("= "), "\n".join(lines[-25:]))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="test files or folders (default: tests/)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="files run at the same time (default 1)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds one file may take (default 900)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of lines")
    parser.add_argument("-x", dest="stop_first", action="store_true", help="stop each file at its first failure")
    parser.add_argument("--risky-first", action="store_true",
                        help="run first the files likeliest to depend on others (shared worlds, e2e, fleet)")
    parser.add_argument("--keep-order", action="store_true", help="run the files in the order given")
    parser.add_argument("--retry", action="store_true", help="run a failing file once more; count it as passed "
                                                              "on retry (flaky or starved) if it then passes")
    args = parser.parse_args(argv)
    files = test_files(args.paths, args.keep_order)
    if args.risky_first:
        files.sort(key=lambda p: (risk(p), str(p)))
    if not files:
        print("no test files found", file=sys.stderr)
        return 2
    started = time.monotonic()
    outcomes: list[Outcome] = []
    retried: list[str] = []

    def judged(path: Path) -> Outcome:
        outcome = run_alone(path, args.timeout, args.stop_first)
        if outcome.passed or not args.retry:
            return outcome
        again = run_alone(path, args.timeout, args.stop_first)
        if again.passed:
            retried.append(again.file)
            return Outcome(again.file, 0, outcome.seconds + again.seconds,
                           f"passed on retry (first: {outcome.summary})", outcome.tail)
        return again

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for outcome in pool.map(judged, files):
            outcomes.append(outcome)
            if not args.json:
                mark = "ok  " if outcome.passed else "FAIL"
                print(f"{mark} {outcome.file:<52} {outcome.seconds:7.1f}s  {outcome.summary}", flush=True)
                if not outcome.passed:  # at once: a long run may be stopped before its end
                    print("    " + outcome.tail.replace("\n", "\n    "), flush=True)
    failed = [o for o in outcomes if not o.passed]
    total = round(time.monotonic() - started, 1)
    if args.json:
        print(json.dumps({"files": len(outcomes), "failed": [o.file for o in failed], "seconds": total,
                          "passed_on_retry": retried,
                          "outcomes": [asdict(o) | {"passed": o.passed} for o in outcomes]}, indent=2))
    else:
        for o in failed:
            print(f"\n--- {o.file} (exit {o.exit_code})")
        print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} test files pass alone ({total:.0f} s)"
              + (f"; {len(retried)} only on retry: {', '.join(retried)}" if retried else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
