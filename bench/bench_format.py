"""Benchmark: `bundlekit export` and `bundlekit verify` against the plain pipelines they replace.

    .venv/bin/python bench/bench_format.py [--data mixed|synthetic] [--size-mib N] [--repeat N] [--keep]

``mixed`` (the default): 256 MiB of random bytes and 267 MiB of source text (Python sources
from this machine, repeated), packed as one stored zip, scaled to ``--size-mib`` when given.
``synthetic``: two packages, half word-salad text, half random bytes. In one run, on the same
data and page cache, it times:

  export   `bundlekit export`   vs  tar -cf - DIR | zstd -3 -T0 | sha256sum   (goal: <= 0.83x)
                                vs  tar -cf - DIR | zstd -3 -T0 > /dev/null   (goal: <= 1.33x)
  verify   `bundlekit verify`   vs  zstd -dc FILE.zst | sha256sum              (goal: <= 0.50x)

Ratios are bundlekit's wall time over the baseline's (lower is better); the CPU column is
the same ratio for user+system time. Every contender runs ``--repeat`` times (3), the rounds
interleaved, and the least wall and CPU time of each counts. Each bundlekit command runs in a
fresh process whose peak RSS is reported. Needs `zstd` and `tar` on PATH. These machines are
shared: compare ratios within one run, and note `uptime` (printed first and last).

Every round's export is a first export of those bytes, as a user's is: it runs in a fresh copy
of a template exporting home made before the clock starts (no package in its store), so it also
writes the zone's copy of each package (decisions 152, 203). The same round then exports again
into that home (``re-export``: the store holds the bytes, no copy is written, decision 881),
reported on its own lines; with a pinned sequence and SOURCE_DATE_EPOCH its bundle must be
byte-identical to the first. Reference lines, ``cat PKG > new file`` and ``dd bs=1M`` of it in
the same rounds, show what writing that many bytes into fresh pages costs this machine (wall and
system time): on a VM that hands freed pages back to its host the first write into a page is
taxed, and an export writes the bundle and the store's copy where compression alone writes
nothing. ``dd`` writes through write(2) as export does; coreutils' ``cat`` (9.x) copies with
copy_file_range(2) and is charged less.

bundlekit's modules are compiled to bytecode first (``compileall``, as ``pip install`` does):
with ``PYTHONDONTWRITEBYTECODE`` set, as in this project's sessions, every command would
otherwise compile some 600 modules from source as it starts, about half a CPU-second that an
installed bundlekit does not spend. ``--source-only`` skips that, to measure such a start.
"""

from __future__ import annotations

import argparse
import filecmp
import glob
import importlib.util
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

MIB = 1 << 20


def run_measured(cmd: list[str] | str, shell: bool = False,
                 env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user+system, children included) and peak RSS (KiB) of one run.

    A command (not a shell pipeline) runs under GNU time when it is installed, whose ``%M`` is
    the child's own peak: the ``ru_maxrss`` of a child forked from this (large) process can
    count pages it only shared with it before ``exec``. Pipelines report 0.
    """
    gnu_time = shutil.which("time") if not shell else None
    argv = ["bash", "-c", cmd] if shell else ([gnu_time, "-f", "bk-maxrss %M"] if gnu_time else []) + list(cmd)
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {cmd}\n{err}")
    peak = usage.ru_maxrss if not shell else 0
    for line in err.splitlines():
        if line.startswith("bk-maxrss "):
            peak = int(line.split()[1])
    return elapsed, usage.ru_utime + usage.ru_stime, peak


def run_wall_sys(cmd: str) -> tuple[float, float]:
    """Wall seconds and system CPU seconds (children included) of one shell command."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(["bash", "-c", cmd], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {cmd}")
    return elapsed, usage.ru_stime


def source_texts() -> list[Path]:
    """Python sources installed on this machine: real source text, not generated words."""
    found = sorted(Path(p) for p in glob.glob(f"{sys.base_prefix}/lib/python3*/**/*.py", recursive=True))
    if not found:
        raise SystemExit(f"no Python sources under {sys.base_prefix}/lib to build the text half from")
    return found


def make_mixed(folder: Path, size: int) -> list[tuple[str, str]]:
    """One stored zip: random members (256/523 of ``size``), then source text to ``size``."""
    folder.mkdir(parents=True)
    rng = random.Random(42)
    random_part = size * 256 // 523
    with zipfile.ZipFile(folder / "mixed.zip", "w", zipfile.ZIP_STORED) as z:
        left, i = random_part, 0
        while left > 0:
            n = min(left, 32 * MIB)
            z.writestr(f"assets/blob-{i:03d}.bin", rng.randbytes(n))
            left, i = left - n, i + 1
        total, round_ = random_part, 0
        sources = source_texts()
        while total < size:
            for path in sources:
                if total >= size:
                    break
                data = path.read_bytes()
                z.writestr(f"src/{round_}{path}", data)
                total += len(data)
            round_ += 1
    return [("Mixed", "mixed.zip")]


def make_synthetic(folder: Path, size: int) -> list[tuple[str, str]]:
    folder.mkdir(parents=True)
    rng = random.Random(42)
    words = [("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))).encode()
             for _ in range(5000)]
    half = size // 2
    with open(folder / "text.pkg", "wb") as fh:
        written = 0
        while written < half:
            chunk = b"".join(b" ".join(rng.choice(words) for _ in range(12)) + b"\n" for _ in range(2000))
            fh.write(chunk[: min(len(chunk), half - written)])
            written += min(len(chunk), half - written)
    with open(folder / "random.pkg", "wb") as fh:
        left = size - half
        while left:
            n = min(left, 8 * MIB)
            fh.write(rng.randbytes(n))
            left -= n
    return [("Text", "text.pkg"), ("Random", "random.pkg")]


def load() -> str:
    """The 1, 5 and 15 minute load averages (this machine is shared: say how busy it was)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", choices=("mixed", "synthetic"), default="mixed")
    ap.add_argument("--size-mib", type=int, default=None, help="default: 523 (mixed), 1024 (synthetic)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--source-only", action="store_true",
                    help="do not compile bundlekit's modules first (each command then compiles what it imports)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="rounds of every contender; the least wall and CPU time of each counts (default 3)")
    args = ap.parse_args()
    if not shutil.which("zstd"):
        raise SystemExit("needs the zstd CLI (apt-get install zstd)")
    size_mib = args.size_mib or (523 if args.data == "mixed" else 1024)
    size = size_mib * MIB
    tmp = Path(tempfile.mkdtemp(prefix="bk-bench-", dir=os.environ.get("BENCH_DIR")))
    bk = [sys.executable, "-m", "bundlekit"]
    print(f"load average at start: {load()}", flush=True)
    if not args.source_only:
        spec = importlib.util.find_spec("bundlekit")
        assert spec is not None and spec.submodule_search_locations
        package = spec.submodule_search_locations[0]
        subprocess.run([sys.executable, "-m", "compileall", "-q", package], check=True, stdout=subprocess.DEVNULL)
        print(f"bundlekit's modules compiled to bytecode first ({package})", flush=True)
    try:
        rel = tmp / "release"
        packages = (make_mixed if args.data == "mixed" else make_synthetic)(rel / "packages", size)
        (rel / "release.toml").write_text(
            '[project]\nname = "Bench"\n[release]\nversion = "1.0.0"\n' + "".join(
                f'[[packages]]\nid = "{pid}"\nversion = "1.0.0"\nfile = "packages/{name}"\n'
                for pid, name in packages))
        for name in ("dev", "prod"):
            subprocess.run(bk + ["init", "--zone", name, "--home", str(tmp / name)], check=True, capture_output=True)
            subprocess.run(bk + ["identity", "--home", str(tmp / name), "-o", str(tmp / f"{name}.card")],
                           check=True, capture_output=True)
        subprocess.run(bk + ["trust", "add", str(tmp / "prod.card"), "--home", str(tmp / "dev")], check=True,
                       capture_output=True)
        subprocess.run(bk + ["trust", "add", str(tmp / "dev.card"), "--home", str(tmp / "prod")], check=True,
                       capture_output=True)
        subprocess.run(f"cat {rel}/packages/* > /dev/null", shell=True, check=True)  # warm the page cache
        env = dict(os.environ, SOURCE_DATE_EPOCH=str(int(time.time())))  # every export: one creation time
        bundle, again = tmp / "out.bundle", tmp / "again.bundle"

        def export(home: Path, out: Path) -> tuple[float, float, int]:
            return run_measured(bk + ["export", str(rel / "release.toml"), "--to", "prod", "-o", str(out), "--home",
                                      str(home), "--quiet", "--sequence", "1", "--overwrite"], env=env)

        zst = tmp / "out.tar.zst"
        pipe = f"set -o pipefail; tar -C {rel} -cf - packages | zstd -3 -T0 -q | tee {zst} | sha256sum"
        comp = f"set -o pipefail; tar -C {rel} -cf - packages | zstd -3 -T0 -q > /dev/null"
        best: dict[str, tuple[float, float, int]] = {}

        def keep(name: str, measured: tuple[float, float, int]) -> None:
            """The least wall and CPU time of each contender over the rounds, and its highest RSS."""
            old = best.get(name, (float("inf"), float("inf"), 0))
            best[name] = (min(old[0], measured[0]), min(old[1], measured[1]), max(old[2], measured[2]))

        page = {"cat": (float("inf"), float("inf")), "dd": (float("inf"), float("inf"))}
        for i in range(args.repeat):  # rounds interleave the contenders, so a change of load hits each
            # This round's copy of the template home, made before the clock starts: a first export. The
            # copies (and the reference's files) stay until the end: freeing them would hand the next
            # writer pages this VM has not yet given back to its host, which it writes into cheaply.
            home = tmp / f"dev-{i}"
            shutil.copytree(tmp / "dev", home, symlinks=True)
            keep("export", export(home, bundle))
            keep("again", export(home, again))  # the store holds the bytes now
            for tool, cmd in (("cat", f"cat {rel}/packages/* > {tmp / f'cat-{i}.out'}"),
                              ("dd", f"for f in {rel}/packages/*; do dd if=\"$f\" bs=1M status=none; done "
                                     f"> {tmp / f'dd-{i}.out'}")):
                measured = run_wall_sys(cmd)
                page[tool] = (min(page[tool][0], measured[0]), min(page[tool][1], measured[1]))
            keep("pipe", run_measured(pipe, shell=True))
            keep("comp", run_measured(comp, shell=True))
            keep("verify", run_measured(bk + ["verify", str(bundle), "--home", str(tmp / "prod"), "--quiet"]))
            keep("dpipe", run_measured(f"set -o pipefail; zstd -dc -q {zst} | sha256sum", shell=True))
        (t_export, c_export, rss_export), (t_pipe, c_pipe, _), (t_comp, c_comp, _) = (
            best["export"], best["pipe"], best["comp"])
        (t_verify, c_verify, rss_verify), (t_dpipe, c_dpipe, _) = best["verify"], best["dpipe"]
        identical = filecmp.cmp(bundle, again, shallow=False)
        t_again, c_again, rss_again = best["again"]
        mb = size / 1e6
        print(f"data: {args.data}, {size_mib} MiB; bundle {bundle.stat().st_size / 1e6:.0f} MB, "
              f"tar.zst {zst.stat().st_size / 1e6:.0f} MB; {os.cpu_count()} cores; "
              f"same input, same bundle: {'yes' if identical else 'NO'}")
        rows = [
            ("export", "tar | zstd -3 -T0 | sha256sum", t_export, c_export, t_pipe, c_pipe, rss_export, 0.83),
            ("export", "tar | zstd -3 -T0 > /dev/null", t_export, c_export, t_comp, c_comp, rss_export, 1.33),
            ("verify", "zstd -dc | sha256sum", t_verify, c_verify, t_dpipe, c_dpipe, rss_verify, 0.50),
        ]
        for what, base, t, c, tb, cb, rss, goal in rows:
            print(f"{what:7s} {mb / t:6.0f} MB/s  vs {base:31s} {mb / tb:6.0f} MB/s   wall {t / tb:.2f}x "
                  f"(goal <= {goal:.2f}x)   cpu {c / cb:.2f}x   peak RSS {rss / 1024:.0f} MiB")
        print("(export: a first export of the bytes, writing the zone's copy of each package too)")
        for base, tb, cb in (("tar | zstd -3 -T0 | sha256sum", t_pipe, c_pipe),
                             ("tar | zstd -3 -T0 > /dev/null", t_comp, c_comp)):
            print(f"re-export {mb / t_again:4.0f} MB/s  vs {base:31s} {mb / tb:6.0f} MB/s   wall {t_again / tb:.2f}x "
                  f"                cpu {c_again / cb:.2f}x   peak RSS {rss_again / 1024:.0f} MiB")
        print("(re-export: the same release again, its packages already in the zone's store: no copy written)")
        for tool, what in (("cat", "cat PKG > new file"), ("dd", "dd if=PKG bs=1M > new file")):
            wall, system = page[tool]
            print(f"reference: {what} ({mb:.0f} MB) wall {wall:.2f} s, system {system:.2f} s "
                  f"({system * 1000 / (size / MIB):.2f} ms of system time per MiB written)")
        print("least wall / CPU seconds: " + ", ".join(
            f"{name} {best[name][0]:.2f} / {best[name][1]:.2f}"
            for name in ("export", "again", "pipe", "comp", "verify", "dpipe")))
        if not identical:
            raise SystemExit("two exports of the same input differ (a first export and the re-export)")
    finally:
        print(f"load average at end: {load()}")
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
