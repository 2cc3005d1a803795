"""Benchmark: what starting the step runner costs a target (every deployment starts one per target).

    nice -n 10 .venv/bin/python bench/bench_runner_start.py [--runs N]

Starts the runner as a target does after the bootstrap (``python -s -E RUNNER.pyz WORK SHA``, stdin
at its end, so it prepares its work folder, finds nothing to serve and exits 0), ``--runs`` times
each, interleaved round by round, in three forms:

- ``pass``: ``python -s -E -c pass``, the interpreter's own start (the baseline);
- ``sources``: the runner with its sources only (as before decision 980: every module compiled
  on every start);
- ``bytecode``: the runner as shipped (each module's bytecode beside its source);
- ``boot-exec``: the whole start as a target does it, the runner already cached: the bootstrap
  (``python -s -E -c BOOTSTRAP``, which hashes the cache and puts the runner in a memory file),
  which then started a second Python for the runner (``exec``, as before decision 982);
- ``boot``: the same with the bootstrap running the runner in its own interpreter (decision 982).

Per form: the median CPU milliseconds (user + system of the child, from ``getrusage``: the
machines are shared, and CPU time varies far less with the load than wall time), the median wall
milliseconds, and the ratio of the median CPU time to the baseline's; then sources / bytecode and
boot-exec / boot.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bundlekit.runtime.boot import BOOTSTRAP, bootstrap_argv  # noqa: E402
from bundlekit.runtime.pack import runner  # noqa: E402

#: How the bootstrap ended before decision 982: a second interpreter for the runner.
_IN_PROCESS = BOOTSTRAP[BOOTSTRAP.index("del runner\n"):]
BOOTSTRAP_EXEC = BOOTSTRAP.replace(_IN_PROCESS, 'os.execv(sys.executable, [sys.executable, "-s", "-E", path, work, sha])\n')


def sources_only(data: bytes) -> bytes:
    """The runner ``data`` without its ``.pyc`` members."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if not info.filename.endswith(".pyc"):
                dst.writestr(info, src.read(info))
    return out.getvalue()


def one(argv: list[str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of running ``argv`` to its end, stdin empty."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{argv}: exit {done.returncode}: {done.stderr.decode(errors='replace')}")
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    shipped = runner()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "bytecode.pyz").write_bytes(shipped.data)
        (folder / "sources.pyz").write_bytes(sources_only(shipped.data))
        work = folder / "work"
        work.mkdir()
        forms = {"pass": [sys.executable, "-s", "-E", "-c", "pass"]}
        for name in ("sources", "bytecode"):
            forms[name] = [sys.executable, "-s", "-E", str(folder / f"{name}.pyz"), str(work), shipped.sha256]
        cache = work / ".bundlekit" / "runner"
        cache.mkdir(parents=True)
        (cache / f"{shipped.sha256}.pyz").write_bytes(shipped.data)  # the target has it: the bootstrap says HAVE
        boot = bootstrap_argv(sys.executable, str(work), shipped.sha256, len(shipped.data))
        forms["boot-exec"] = [BOOTSTRAP_EXEC if a == BOOTSTRAP else a for a in boot]
        forms["boot"] = boot
        got: dict[str, list[tuple[float, float]]] = {name: [] for name in forms}
        for _ in range(args.runs):
            for name, argv in forms.items():
                got[name].append(one(argv))
    cpu = {name: statistics.median(c for c, _ in runs) for name, runs in got.items()}
    print(f"runner start, {args.runs} runs each, Python {sys.version.split()[0]}, pid {os.getpid()}")
    for name, runs in got.items():
        wall = statistics.median(w for _, w in runs)
        print(f"  {name:9} cpu {cpu[name] * 1000:6.0f} ms  wall {wall * 1000:6.0f} ms  cpu/pass {cpu[name] / cpu['pass']:5.1f}")
    print(f"  sources / bytecode (CPU): {cpu['sources'] / cpu['bytecode']:.2f}")
    print(f"  boot-exec / boot (CPU): {cpu['boot-exec'] / cpu['boot']:.2f}")


if __name__ == "__main__":
    main()
