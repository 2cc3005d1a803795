"""Benchmark: what passphrase-protected keys and zone backups cost, against baselines in the same run.

    .venv/bin/python bench/bench_keys_backup.py [--megabytes M]

1. ``identity`` (needs the signing key) on a zone with raw keys and on one with protected keys,
   each in a fresh process: the difference is one scrypt run (N=2^17, r=8, p=1; decision 580).
2. ``zone backup`` and ``zone restore`` (in this process) of a home holding M MiB of packages (random bytes), against
   copying the same home folder with ``shutil.copytree`` (no encryption, no checks).

These machines are shared: compare within one run, note the load (``os.getloadavg``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bundlekit.format.passphrase import derive, new_kdf  # noqa: E402
from bundlekit.zone.backup import backup_zone, restore_zone  # noqa: E402
from bundlekit.zone.home import open_zone  # noqa: E402


def run(*args: object, env: dict[str, str] | None = None) -> float:
    full = {k: v for k, v in os.environ.items() if k != "BUNDLEKIT_HOME"}
    full.update(env or {})
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bundlekit", *map(str, args)], env=full, capture_output=True)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"bundlekit {' '.join(map(str, args))} failed:\n{done.stderr.decode()}")
    return took


def best(n: int, fn) -> float:  # type: ignore[no-untyped-def]
    return min(fn() for _ in range(n))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        passfile = root / "pass"
        passfile.write_text("benchmark passphrase\n")
        os.chmod(passfile, 0o600)
        env = {"BUNDLEKIT_PASSPHRASE_FILE": str(passfile)}
        run("init", "--zone", "plain", "--home", root / "plain")
        run("init", "--zone", "locked", "--home", root / "locked", "--passphrase-file", passfile)
        raw = best(opts.repeat, lambda: run("identity", "--home", root / "plain", "-o", root / "p.card",
                                            "--overwrite"))
        locked = best(opts.repeat, lambda: run("identity", "--home", root / "locked", "-o", root / "l.card",
                                               "--overwrite", env=env))
        print(f"load {os.getloadavg()[0]:.1f}")
        print(f"identity, raw keys        {raw:6.2f} s")
        print(f"identity, protected keys  {locked:6.2f} s   (+{locked - raw:.2f} s, x{locked / raw:.2f})")

        store = root / "plain" / "packages" / "bench"
        store.mkdir(parents=True)
        for i in range(opts.megabytes):
            (store / f"blob{i:04d}").write_bytes(os.urandom(1 << 20))

        def copy() -> float:
            start = time.perf_counter()
            shutil.copytree(root / "plain", root / "copy")
            took = time.perf_counter() - start
            shutil.rmtree(root / "copy")
            return took

        # In this process (no interpreter start), scrypt included, as the commands run them.
        def backup() -> float:
            (root / "b.zbak").unlink(missing_ok=True)
            start = time.perf_counter()
            with open_zone(root / "plain") as z:
                backup_zone(z, root / "b.zbak", b"benchmark passphrase", int(time.time()))
            return time.perf_counter() - start

        def restore() -> float:
            shutil.rmtree(root / "restored", ignore_errors=True)
            start = time.perf_counter()
            restore_zone(root / "b.zbak", root / "restored", lambda: b"benchmark passphrase")
            return time.perf_counter() - start

        start = time.perf_counter()
        derive(b"benchmark passphrase", new_kdf())
        kdf = time.perf_counter() - start

        base, b, r = best(opts.repeat, copy), best(opts.repeat, backup), best(opts.repeat, restore)
        size = (root / "b.zbak").stat().st_size
        print(f"home of {opts.megabytes} MiB packages; backup file {size / (1 << 20):.1f} MiB")
        print(f"copytree (baseline)       {base:6.2f} s   (one scrypt alone: {kdf:.2f} s)")
        for label, took in (("zone backup             ", b), ("zone restore (verified) ", r)):
            rest = max(took - kdf, 1e-6)
            print(f"{label}  {took:6.2f} s   x{took / base:.1f} the copy; without scrypt {rest:.2f} s, "
                  f"{opts.megabytes / rest:.0f} MiB/s")


if __name__ == "__main__":
    main()
