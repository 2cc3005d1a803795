"""Benchmark: ``bundlekit lint`` time per variable, at a large and a small release.

    .venv/bin/python bench/bench_lint.py [--small N] [--large N] [--repeat R]

Lint places every finding and every template at its line in the release file. Done once per
variable by re-reading the whole file, that made lint quadratic in the number of variables
(1000 variables took 5.9 s, 4000 took 132 s). This writes two release files shaped like a
real one (a script step, a package-less release, each variable's value referring to the one
before it in chains of ten, every tenth one scoped to an environment) with ``--small`` and ``--large``
variables, lints each (median of ``--repeat`` runs, the whole ``lint_release`` call as the
command makes it, in CPU seconds of this process: the machine is shared, and lint does no I/O
worth counting after the file is read) and prints the time per variable of each and their ratio large / small:
near 1 is linear, ``large / small`` would be quadratic. These machines are shared: compare
within one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bundlekit.export.lint import lint_release  # noqa: E402


def release_text(variables: int) -> str:
    """A release file with ``variables`` variables and one step using the last of them."""
    parts = ['[project]\nname = "Bench"\n\n[release]\nversion = "1.0.0"\n\n[[steps]]\nname = "Run"\n'
             f'type = "script"\nsyntax = "bash"\nroles = ["app"]\nscript = \'\'\'\necho "#{{V.{variables - 1}}}"\n\'\'\'\n']
    for i in range(variables):
        value = f"v{i}" if i % 10 == 0 else f"#{{V.{i - 1}}}-{i}"  # chains of 10: within the engine's depth
        scope = '\nscope = { environment = ["Production"] }' if i % 10 == 0 else ""
        parts.append(f'\n[[variables]]\nname = "V.{i}"\nvalue = "{value}"{scope}\n')
    return "".join(parts)


def seconds(path: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        report = lint_release(path)
        times.append(time.process_time() - start)
        assert not report.findings, report.findings[:3]  # a clean release: the work is the checks, not errors
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--large", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        per_variable = {}
        for n in (args.small, args.large):
            path = Path(folder) / f"release-{n}.toml"
            path.write_text(release_text(n))
            took = seconds(path, args.repeat)
            per_variable[n] = took / n
            print(f"{n:6d} variables: {took * 1000:9.1f} ms, {took / n * 1e6:8.1f} us per variable")
    ratio = per_variable[args.large] / per_variable[args.small]
    print(f"time per variable, {args.large} / {args.small} variables: {ratio:6.2f} "
          f"(1 is linear; {args.large / args.small:.0f} would be quadratic)")


if __name__ == "__main__":
    main()
