"""Benchmark: delta exports (format 1.1) against whole packages, and the rebuild at the destination.

    .venv/bin/python bench/bench_delta.py [--size-mib 1024] [--packages 4] [--keep]

Builds ``--packages`` stored zips of ``--size-mib`` in total (members of 16 KiB to 2 MiB,
two thirds source text, one third random bytes), ships them to a production zone, deploys
once so a receipt reports what production holds, then makes version 2 of every package:
1% of the bytes changed in place (spread over members), and three members inserted and
three removed per package (shifting everything after them). In one run it measures:

  size      the delta bundle against a `--full` export of the same release (goal: <= 2%)
  verify    `bundlekit verify` of the delta (rebuilds every package and checks its SHA-256,
            writing nothing) against `cat PACKAGES | sha256sum` of the same bytes
  import    `bundlekit import` of the delta (rebuild into staging, fsync, move into the store)
  rebuild   package bytes per second of the import and of verify (goal: >= 1 GB/s), and the
            rebuild alone: verify minus a second verify once the package is held, per wall and
            per CPU second (on a shared machine the CPU figures are the ones that carry over),
            against hashlib's SHA-256 of the same bytes in one thread (the floor of a checked rebuild)
  memory    peak RSS of each bundlekit process (fresh processes; goal: < 150 MiB)

Each verify runs ``--repeat`` times and the least wall and CPU time count (the rebuild alone is a
difference of two of them). ``--compare-tree DIR`` times another checkout's verify too, in runs
alternating with this one's, for a before/after ratio under the same load.

Each figure a goal applies to is printed with the goal and "met" or "NOT MET".

The rebuilt packages are compared byte for byte with version 2. These machines are shared:
compare within one run and note the load averages printed first and last.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_format import load, run_measured, source_texts  # noqa: E402

MIB = 1 << 20


HASH_FILES = ("import hashlib, sys\nfor name in sys.argv[1:]:\n    h = hashlib.sha256()\n"
              "    with open(name, 'rb') as f:\n        while piece := f.read(1 << 20):\n            h.update(piece)\n")


def alternate(cmd: list[str], other_env: dict[str, str] | None,
              repeat: int) -> dict[str, list[tuple[float, float, int]]]:
    """``cmd`` run ``repeat`` times with this checkout (``this``) and, alternating with it so both
    see the same load, with ``--compare-tree``'s (``other``, when ``other_env`` is given): each
    run's (wall seconds, CPU seconds, peak RSS KiB)."""
    runs: dict[str, list[tuple[float, float, int]]] = {"this": [], "other": []}
    for _ in range(repeat):
        runs["this"].append(run_measured(cmd))
        if other_env:
            runs["other"].append(run_measured(cmd, env=other_env))
    return runs


def verdict(ok: bool) -> str:
    """The word printed after a goal."""
    return "met" if ok else "NOT MET"


def make_members(rng: random.Random, size: int, texts: list[bytes]) -> list[tuple[str, bytes]]:
    members, total, i = [], 0, 0
    while total < size:
        n = min(rng.randint(16 << 10, 2 * MIB), size - total)
        if rng.random() < 1 / 3:
            data = rng.randbytes(n)
        else:
            parts, got = [], 0
            while got < n:
                t = texts[rng.randrange(len(texts))]
                parts.append(t)
                got += len(t)
            data = b"".join(parts)[:n]
        members.append((f"m/{i:05d}.dat", data))
        total += n
        i += 1
    return members


def change(rng: random.Random, members: list[tuple[str, bytes]], texts: list[bytes]) -> list[tuple[str, bytes]]:
    """Members rewritten in place (same size, new content of the same kind) up to 1% of the bytes,
    as a new build of a few files would; then three small members inserted and three removed."""
    total = sum(len(d) for _, d in members)
    budget = total // 100
    out = list(members)
    while budget > 0:
        k = rng.randrange(len(out))
        name, data = out[k]
        n = min(len(data), budget)
        at = rng.randrange(len(data) - n + 1)
        if _is_text(data):
            start = rng.randrange(len(texts))
            fresh = b"".join(texts[(start + j) % len(texts)] for j in range(64))
            while len(fresh) < n:
                fresh += fresh
            fresh = fresh[:n]
        else:
            fresh = rng.randbytes(n)
        out[k] = (name, data[:at] + fresh + data[at + n:])
        budget -= n
    for _ in range(3):
        del out[rng.randrange(1, len(out) - 1)]
    for j in range(3):
        out.insert(rng.randrange(1, len(out) - 1), (f"m/new-{j}.dat", rng.randbytes(rng.randint(4 << 10, 64 << 10))))
    return out


def _is_text(data: bytes) -> bool:
    return data[:256].isascii()


def write_zip(path: Path, members: list[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)


def release_toml(version: str, count: int) -> str:
    text = f'[project]\nname = "Bench"\n[release]\nversion = "{version}"\n'
    for k in range(count):
        text += f'[[packages]]\nid = "Pkg{k}"\nversion = "{version}"\nfile = "packages/pkg{k}-{version}.zip"\n'
    return text + ('[[steps]]\nname = "Say"\ntype = "script"\nsyntax = "bash"\nroles = ["app"]\n'
                   'script = "echo deployed"\n')


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--packages", type=int, default=4)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each verify; the least wall and CPU time of each counts (default 3)")
    ap.add_argument("--compare-tree", type=Path,
                    help="another checkout of bundlekit whose verify is timed too, alternating with this one's")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bk-delta-", dir=os.environ.get("BENCH_DIR")))
    # mkdtemp makes the folder 0700; a zone run as root runs its steps as nobody (decision 450),
    # who must reach the target folder inside it.
    tmp.chmod(0o755)
    bk = [sys.executable, "-m", "bundlekit"]
    print(f"load average at start: {load()}", flush=True)

    def cli(*a: object, home: str) -> None:
        argv = bk + [str(x) for x in a] + ["--home", str(tmp / home)]
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"failed (exit {done.returncode}): {' '.join(argv)}\n{done.stderr}")

    try:
        rng = random.Random(16)
        texts = [t for t in (p.read_bytes() for p in source_texts()[::3]) if len(t) > 512]
        rel = tmp / "release"
        (rel / "packages").mkdir(parents=True)
        v2_files = []
        for k in range(args.packages):
            members = make_members(rng, args.size_mib * MIB // args.packages, texts)
            write_zip(rel / "packages" / f"pkg{k}-1.0.0.zip", members)
            write_zip(rel / "packages" / f"pkg{k}-2.0.0.zip", change(rng, members, texts))
            v2_files.append(rel / "packages" / f"pkg{k}-2.0.0.zip")
        del texts
        for name in ("dev", "prod"):
            cli("init", "--zone", name, home=name)
            cli("identity", "-o", tmp / f"{name}.card", home=name)
        cli("trust", "add", tmp / "prod.card", home="dev")
        cli("trust", "add", tmp / "dev.card", home="prod")
        cli("targets", "add", "app-01", "--environment", "Production", "--role", "app", "--root", tmp / "t", home="prod")
        (rel / "release.toml").write_text(release_toml("1.0.0", args.packages))
        cli("export", rel / "release.toml", "--to", "prod", "-o", tmp / "v1.bundle", "--quiet", home="dev")
        cli("import", tmp / "v1.bundle", "--quiet", home="prod")
        cli("deploy", "bench", "1.0.0", "--environment", "Production", "--receipt-out", tmp / "r.bundle", home="prod")
        cli("import", tmp / "r.bundle", home="dev")
        (rel / "release.toml").write_text(release_toml("2.0.0", args.packages))
        subprocess.run(f"cat {rel}/packages/* > /dev/null", shell=True, check=True)
        export = bk + ["export", str(rel / "release.toml"), "--to", "prod", "--quiet", "--home", str(tmp / "dev")]
        t_full, _, _ = run_measured(export + ["-o", str(tmp / "full.bundle"), "--full"])
        t_delta, _, rss_delta_export = run_measured(export + ["-o", str(tmp / "delta.bundle")])
        full, delta = (tmp / "full.bundle").stat().st_size, (tmp / "delta.bundle").stat().st_size
        files = " ".join(str(f) for f in v2_files)
        t_hash, c_hash, _ = run_measured(f"cat {files} | sha256sum", shell=True)
        # The floor of any rebuild that checks SHA-256 as bundlekit does: hashlib over the same bytes.
        t_py, c_py, _ = run_measured([sys.executable, "-c", HASH_FILES] + [str(f) for f in v2_files])
        verify = bk + ["verify", str(tmp / "delta.bundle"), "--quiet", "--home", str(tmp / "prod")]
        other_env = None
        if args.compare_tree:
            other_env = dict(os.environ, PYTHONPATH=str(args.compare_tree.resolve()), PYTHONDONTWRITEBYTECODE="1")
        runs = alternate(verify, other_env, args.repeat)
        t_verify, c_verify = min(r[0] for r in runs["this"]), min(r[1] for r in runs["this"])
        rss_verify = max(r[2] for r in runs["this"])
        t_import, c_import, rss_import = run_measured(bk + ["import", str(tmp / "delta.bundle"), "--quiet", "--home",
                                                           str(tmp / "prod")])
        # The same verify once production holds version 2: everything but the rebuild. The
        # difference is the rebuild alone (reading the base, applying the recipe, SHA-256).
        held = alternate(verify, other_env, args.repeat)
        t_held, c_held = min(r[0] for r in held["this"]), min(r[1] for r in held["this"])
        for f in v2_files:
            digest = hashlib.sha256(f.read_bytes()).hexdigest()
            stored = tmp / "prod" / "packages" / "sha256" / digest[:2] / digest
            if not stored.is_file() or stored.stat().st_size != f.stat().st_size:
                raise SystemExit(f"{f.name}: not rebuilt into the store")
        total = sum(f.stat().st_size for f in v2_files)
        gb = total / 1e9
        if c_verify - c_held > 0.05 * c_held:
            rebuild_cpu = gb / (c_verify - c_held)
            cpu_text = (f"{rebuild_cpu:5.2f} GB per CPU-second (>= 1: {verdict(rebuild_cpu >= 1)});   vs hashlib in "
                        f"one thread: {c_py / (c_verify - c_held):.2f}x its speed per CPU-second")
        else:  # too little data for the difference to stand out of the noise
            cpu_text = f"CPU time not measurable ({c_verify:.2f} CPU-s against {c_held:.2f})"
        if t_verify - t_held > 0.05 * t_held:
            rebuild_wall = gb / (t_verify - t_held)
            wall_text = f"{rebuild_wall:5.2f} GB/s of wall time (goal >= 1 GB/s: {verdict(rebuild_wall >= 1)})"
        else:  # the two verifies' wall times differ by less than the load's noise
            wall_text = (f"wall time not measurable ({t_verify:.2f} s against {t_held:.2f} s; goal >= 1 GB/s: "
                         "not measured)")
        print(f"packages: {args.packages} stored zips, {total / MIB:.0f} MiB in all (version 2); {os.cpu_count()} cores")
        print(f"baseline cat | sha256sum {gb / t_hash:5.2f} GB/s, {gb / c_hash:5.2f} GB per CPU-second;   "
              f"hashlib SHA-256 in one thread {gb / t_py:5.2f} GB/s, {gb / c_py:5.2f} GB per CPU-second")
        print(f"size     delta bundle {delta / 1e6:8.1f} MB   full bundle {full / 1e6:8.1f} MB   "
              f"ratio {100 * delta / full:.2f}% (goal <= 2%: {verdict(delta <= 0.02 * full)})")
        print(f"export   delta {t_delta:6.2f} s   full {t_full:6.2f} s   ratio {t_delta / t_full:.2f}x   "
              f"peak RSS {rss_delta_export / 1024:.0f} MiB (goal < 150 MiB: {verdict(rss_delta_export < 150 * 1024)})")
        print(f"verify   {gb / t_verify:5.2f} GB/s rebuilt and checked "
              f"(goal >= 1 GB/s: {verdict(gb / t_verify >= 1)}), "
              f"{gb / c_verify:5.2f} GB per CPU-second;   vs cat | sha256sum: {t_verify / t_hash:.2f}x wall, "
              f"{c_verify / c_hash:.2f}x CPU;   peak RSS {rss_verify / 1024:.0f} MiB "
              f"(goal < 150 MiB: {verdict(rss_verify < 150 * 1024)})")
        print(f"rebuild  alone (verify minus verify of the held package, {t_held:.2f} s, {c_held:.2f} CPU-s): "
              f"{wall_text}, {cpu_text}")
        if other_env:
            o_wall = min(r[0] for r in runs["other"]) - min(r[0] for r in held["other"])
            o_cpu = min(r[1] for r in runs["other"]) - min(r[1] for r in held["other"])
            print(f"rebuild  alone with {args.compare_tree} (alternating runs): {gb / max(o_cpu, 1e-9):5.2f} GB per "
                  f"CPU-second (wall difference {o_wall:.2f} s);   this tree's speed over it per CPU-second: "
                  f"{o_cpu / max(c_verify - c_held, 1e-9):.2f}x")
        print(f"import   {gb / t_import:5.2f} GB/s rebuilt, checked, stored "
              f"(goal >= 1 GB/s: {verdict(gb / t_import >= 1)}), "
              f"{gb / c_import:5.2f} GB per CPU-second;   vs cat | sha256sum: {t_import / t_hash:.2f}x wall, "
              f"{c_import / c_hash:.2f}x CPU;   peak RSS {rss_import / 1024:.0f} MiB "
              f"(goal < 150 MiB: {verdict(rss_import < 150 * 1024)})")
    finally:
        print(f"load average at end: {load()}")
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
