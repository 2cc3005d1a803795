"""Benchmark: reading the largest delta recipe a bundle can carry against an ordinary one.

    .venv/bin/python bench/bench_recipe.py [--ops N] [--keep]

A hostile or careless source may sign a recipe of the largest size the format allows; every
import and verify of it must stay cheap. The script ships an 8 MiB package to a production
zone (receipt and all, as bench_delta.py does), exports version 2 of it as a delta (a recipe of
a few operations: the baseline), then signs, with the exporting zone's own key, the same bundle
with a recipe of ``--ops`` operations: one-byte copies from all over the base, then the data
blob. The recipe is packed (format 1.3, 16 bytes per operation in base64), so by default it has
as many operations as fit the 16 MiB manifest limit (about 780,000; the format's 2^20 do not fit).
In one run it measures, in fresh processes:

  verify    `bundlekit verify` of each bundle in production (decode, schema, recipe checks,
            rebuild, SHA-256; nothing written): wall and CPU seconds, and their ratio
  import    `bundlekit import` of each into its own copy of production
  parse     in this process: reading the maximal manifest (decode, schema, recipe checks) against
            validating it with the general JSON Schema validator and the published schema alone,
            which is how the recipe was checked before (about 30 s per million operations)

The maximal recipe rebuilds a package of about a megabyte, so its figures are the cost of the
operations themselves. These machines are shared: compare within one run, note the load.
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
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from bench_format import load, run_measured  # noqa: E402

from bundlekit.format import codec  # noqa: E402
from bundlekit.format.blobcheck import stream_blob  # noqa: E402
from bundlekit.format.container import BundleFile  # noqa: E402
from bundlekit.format.delta import MAX_RECIPE_OPS  # noqa: E402
from bundlekit.format.manifest import manifest_schema, parse_manifest, schema_errors  # noqa: E402
from bundlekit.format.container import DEFAULT_LIMITS  # noqa: E402
from bundlekit.format.recipe import RECORD  # noqa: E402
from tests.refusals.forge import pack_recipe, resign  # noqa: E402

MIB = 1 << 20


def write_zip(path: Path, members: list[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)


def release_toml(version: str) -> str:
    return (f'[project]\nname = "Bench"\n[release]\nversion = "{version}"\n[[packages]]\nid = "Pkg"\n'
            f'version = "{version}"\nfile = "packages/pkg-{version}.zip"\n[[steps]]\nname = "Say"\n'
            'type = "script"\nsyntax = "bash"\nroles = ["app"]\nscript = "echo deployed"\n')


def maximal(delta: Path, out: Path, base: bytes, signer_home: Path, ops: int) -> int:
    """``delta`` re-signed with a recipe of ``ops`` operations; returns the package size."""
    with BundleFile(delta) as bundle:
        m = parse_manifest(bundle.manifest_bytes)
        d = m.packages[0].delta
        assert d is not None and d.data is not None
        blob = m.blob_for(d.data)
        assert blob is not None
        data = bytearray()
        stream_blob(bundle, blob, data.extend)
    rng = random.Random(20)
    recipe = [[0, rng.randrange(len(base)), 1] for _ in range(ops - 1)] + [[1, len(data)]]
    new = b"".join(base[op[1]:op[1] + 1] for op in recipe[:-1]) + bytes(data)

    def mutate(manifest: dict) -> None:  # type: ignore[type-arg]
        p = manifest["packages"][0]
        p.update(size=len(new), sha256=hashlib.sha256(new).hexdigest())
        p["delta"]["recipe"] = pack_recipe(recipe)

    resign(delta, out, signer_home, mutate=mutate)
    return len(new)


def operations(bundle: Path) -> int:
    with BundleFile(bundle) as b:
        delta = parse_manifest(b.manifest_bytes).packages[0].delta
    assert delta is not None
    return len(delta.recipe)


def main() -> None:
    ap = argparse.ArgumentParser()
    # As many packed operations as fit the manifest limit, 64 KiB left for the rest of the manifest.
    fits = (DEFAULT_LIMITS.max_manifest - (64 << 10)) * 3 // 4 // RECORD
    ap.add_argument("--ops", type=int, default=min(fits, MAX_RECIPE_OPS))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bk-recipe-", dir=os.environ.get("BENCH_DIR")))
    bk = [sys.executable, "-m", "bundlekit"]
    print(f"load average at start: {load()}", flush=True)

    def cli(*a: object, home: str) -> None:
        subprocess.run(bk + [str(x) for x in a] + ["--home", str(tmp / home)], check=True, capture_output=True)

    try:
        rng = random.Random(7)
        rel = tmp / "release"
        (rel / "packages").mkdir(parents=True)
        members = [(f"m/{i:03d}.bin", rng.randbytes(256 << 10)) for i in range(32)]
        write_zip(rel / "packages" / "pkg-1.0.0.zip", members)
        members[5] = (members[5][0], rng.randbytes(256 << 10))
        write_zip(rel / "packages" / "pkg-2.0.0.zip", members)
        for name in ("dev", "prod"):
            cli("init", "--zone", name, home=name)
            cli("identity", "-o", tmp / f"{name}.card", home=name)
        cli("trust", "add", tmp / "prod.card", home="dev")
        cli("trust", "add", tmp / "dev.card", home="prod")
        cli("targets", "add", "app-01", "--environment", "Production", "--role", "app", "--root", tmp / "t",
            home="prod")
        (rel / "release.toml").write_text(release_toml("1.0.0"))
        cli("export", rel / "release.toml", "--to", "prod", "-o", tmp / "v1.bundle", "--quiet", home="dev")
        cli("import", tmp / "v1.bundle", "--quiet", home="prod")
        cli("deploy", "bench", "1.0.0", "--environment", "Production", "--receipt-out", tmp / "r.bundle", home="prod")
        cli("import", tmp / "r.bundle", home="dev")
        (rel / "release.toml").write_text(release_toml("2.0.0"))
        cli("export", rel / "release.toml", "--to", "prod", "-o", tmp / "delta.bundle", "--quiet", home="dev")
        base = (rel / "packages" / "pkg-1.0.0.zip").read_bytes()
        size = maximal(tmp / "delta.bundle", tmp / "maximal.bundle", base, tmp / "dev", args.ops)
        results = {}
        for name in ("delta", "maximal"):
            bundle = tmp / f"{name}.bundle"
            verify = run_measured(bk + ["verify", str(bundle), "--quiet", "--home", str(tmp / "prod")])
            shutil.copytree(tmp / "prod", tmp / f"prod-{name}", symlinks=True)
            imported = run_measured(bk + ["import", str(bundle), "--quiet", "--home", str(tmp / f"prod-{name}")])
            results[name] = (verify, imported, bundle.stat().st_size)
        print(f"maximal recipe: {args.ops} operations (limit {MAX_RECIPE_OPS}), bundle "
              f"{results['maximal'][2] / 1e6:.1f} MB, rebuilt package {size / 1e6:.1f} MB; baseline: the "
              f"exported delta, {operations(tmp / 'delta.bundle')} operations, {results['delta'][2] / 1e6:.1f} MB")
        for i, step in enumerate(("verify", "import")):
            (bw, bc, brss), (mw, mc, mrss) = results["delta"][i], results["maximal"][i]
            print(f"{step:7s} baseline {bw:6.2f} s wall {bc:6.2f} s CPU {brss / 1024:4.0f} MiB   maximal {mw:6.2f} s "
                  f"wall {mc:6.2f} s CPU {mrss / 1024:4.0f} MiB   ratio {mw / bw:5.2f}x wall {mc / bc:5.2f}x CPU   "
                  f"{args.ops / mc / 1e6:.2f} M operations per CPU second")
        with BundleFile(tmp / "maximal.bundle") as b:
            manifest_bytes = b.manifest_bytes
        t0 = time.process_time()
        parse_manifest(manifest_bytes)
        parse = time.process_time() - t0
        decoded = codec.decode(manifest_bytes)
        t0 = time.process_time()
        errors = schema_errors(manifest_schema(), decoded)
        general = time.process_time() - t0
        assert not errors, errors[:3]
        print(f"parse   whole manifest {parse:6.2f} CPU s   the general validator alone {general:6.2f} CPU s   "
              f"ratio {parse / general:.3f}x")
    finally:
        print(f"load average at end: {load()}")
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
