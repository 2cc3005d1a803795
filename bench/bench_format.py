"""Benchmark: `bundlekit export` and `bundlekit verify` against tar | zstd | sha256sum.

    .venv/bin/python bench/bench_format.py [--size-mib 1024] [--keep]

Builds a synthetic release (half compressible text, half random bytes), then in one run
times, on the same data:
  export   `bundlekit export`           vs  tar -cf - DIR | zstd -3 -T0 | sha256sum
  verify   `bundlekit verify`           vs  zstd -dc FILE.zst | sha256sum
and prints throughputs, the ratio (bundlekit / pipeline; >= 0.8 is the goal) and the peak
RSS of each bundlekit process. Needs `zstd` and `tar` on PATH. Ratios, not absolute times,
are what to compare: these machines are noisy.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIB = 1 << 20


def run_measured(cmd: list[str] | str, shell: bool = False) -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of one child process (for a shell pipeline, its largest member)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(["bash", "-c", cmd] if shell else cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {cmd}\n{proc.stderr.read().decode() if proc.stderr else ''}")
    return elapsed, usage.ru_maxrss


def make_data(folder: Path, size: int) -> None:
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
            fh.write(os.urandom(n))
            left -= n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if not shutil.which("zstd"):
        raise SystemExit("needs the zstd CLI (apt-get install zstd)")
    size = args.size_mib * MIB
    tmp = Path(tempfile.mkdtemp(prefix="bk-bench-", dir=os.environ.get("BENCH_DIR")))
    bk = [sys.executable, "-m", "bundlekit"]
    try:
        rel = tmp / "release"
        make_data(rel / "packages", size)
        (rel / "release.toml").write_text(
            '[project]\nname = "Bench"\n[release]\nversion = "1.0.0"\n'
            '[[packages]]\nid = "Text"\nversion = "1.0.0"\nfile = "packages/text.pkg"\n'
            '[[packages]]\nid = "Random"\nversion = "1.0.0"\nfile = "packages/random.pkg"\n')
        for name in ("dev", "prod"):
            subprocess.run(bk + ["init", "--zone", name, "--home", str(tmp / name)], check=True, capture_output=True)
            subprocess.run(bk + ["identity", "--home", str(tmp / name), "-o", str(tmp / f"{name}.card")],
                           check=True, capture_output=True)
        subprocess.run(bk + ["trust", "add", str(tmp / "prod.card"), "--home", str(tmp / "dev")], check=True,
                       capture_output=True)
        subprocess.run(bk + ["trust", "add", str(tmp / "dev.card"), "--home", str(tmp / "prod")], check=True,
                       capture_output=True)
        # Warm the page cache for both contenders.
        subprocess.run(f"cat {rel}/packages/* > /dev/null", shell=True, check=True)
        bundle = tmp / "out.bundle"
        t_export, rss_export = run_measured(bk + ["export", str(rel / "release.toml"), "--to", "prod", "-o",
                                                  str(bundle), "--home", str(tmp / "dev"), "--quiet"])
        zst = tmp / "out.tar.zst"
        t_pipe, rss_pipe = run_measured(
            f"set -o pipefail; tar -C {rel} -cf - packages | zstd -3 -T0 -q | tee {zst} | sha256sum",
            shell=True)
        t_verify, rss_verify = run_measured(bk + ["verify", str(bundle), "--home", str(tmp / "prod"), "--quiet"])
        t_dpipe, _ = run_measured(f"set -o pipefail; zstd -dc -q {zst} | sha256sum", shell=True)
        mb = size / 1e6
        print(f"data: {args.size_mib} MiB (half text, half random); bundle {bundle.stat().st_size / 1e6:.0f} MB, "
              f"tar.zst {zst.stat().st_size / 1e6:.0f} MB; {os.cpu_count()} cores")
        print(f"export   bundlekit {mb / t_export:7.0f} MB/s   pipeline {mb / t_pipe:7.0f} MB/s   "
              f"ratio {t_pipe / t_export:.2f}x   peak RSS {rss_export / 1024:.0f} MiB")
        print(f"verify   bundlekit {mb / t_verify:7.0f} MB/s   pipeline {mb / t_dpipe:7.0f} MB/s   "
              f"ratio {t_dpipe / t_verify:.2f}x   peak RSS {rss_verify / 1024:.0f} MiB")
        _ = rss_pipe
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
