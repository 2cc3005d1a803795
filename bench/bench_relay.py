"""Benchmark: what relaying a release costs, against verifying the same bundle in the same zone.

    .venv/bin/python bench/bench_relay.py [--mib 64] [--rounds 3]

Three zones (dev, staging, prod) are made in a temporary folder; dev exports the fixture release
with its package replaced by one of ``--mib`` MiB of random bytes (stored, not compressible), to
staging. Then, best of ``--rounds``:

  verify      staging verifies the bundle (the baseline: every signature and blob)
  relay       staging relays it to prod (verification, re-sealing, copying the origin)
  verify-hop  prod verifies the relayed bundle (the origin and the hop)

and the ratios relay/verify and verify-hop/verify. Relaying is about a verification plus one copy
of the file; the hop itself (a record and a countersignature) costs nothing measurable. These
machines are shared: compare within one run, note the load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from click.testing import CliRunner  # noqa: E402

from bundlekit.cli import cli  # noqa: E402
from bundlekit.export.relay import relay_bundle  # noqa: E402
from bundlekit.importer.verify import verify_bundle  # noqa: E402
from bundlekit.zone.home import open_zone  # noqa: E402


def ok(*args: object, home: Path) -> None:
    r = CliRunner().invoke(cli, [*map(str, args), "--home", str(home)], catch_exceptions=False)
    assert r.exit_code == 0, r.output


def best(rounds: int, work: object) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        work()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        release = root / "release"
        shutil.copytree(ROOT / "fixtures" / "acme", release)
        package = release / "packages" / "Acme.Web.1.4.0.zip"
        with zipfile.ZipFile(package, "w", zipfile.ZIP_STORED) as z:
            z.writestr("appsettings.json", "{}\n")
            z.writestr("index.html", "<p>#{Octopus.Machine.Name}</p>\n")
            z.writestr("payload.bin", os.urandom(args.mib << 20))
        for name in ("dev", "staging", "prod"):
            ok("init", "--zone", name, home=root / name)
            ok("identity", "-o", root / f"{name}.card", home=root / name)
        ok("trust", "add", root / "staging.card", home=root / "dev")
        for card in ("dev", "prod"):
            ok("trust", "add", root / f"{card}.card", home=root / "staging")
        for card in ("dev", "staging"):
            ok("trust", "add", root / f"{card}.card", home=root / "prod")
        bundle, relayed = root / "a.bundle", root / "a.prod.bundle"
        ok("export", release / "release.toml", "--to", "staging", "-o", bundle, home=root / "dev")
        with open_zone(root / "staging") as staging, open_zone(root / "prod") as prod:
            now = int(time.time())
            verify = best(args.rounds, lambda: verify_bundle(staging, bundle, now=now, rebuild=False))
            relay = best(args.rounds, lambda: relay_bundle(staging, bundle, "prod", relayed, now=now, overwrite=True))
            hop = best(args.rounds, lambda: verify_bundle(prod, relayed, now=now, rebuild=False))
        size = bundle.stat().st_size
        print(f"bundle {size / (1 << 20):.1f} MiB (relayed +{relayed.stat().st_size - size} bytes), "
              f"best of {args.rounds}, load {os.getloadavg()[0]:.1f}")
        print(f"  verify      {verify:7.3f} s   1.00")
        print(f"  relay       {relay:7.3f} s   {relay / verify:.2f}")
        print(f"  verify-hop  {hop:7.3f} s   {hop / verify:.2f}")


if __name__ == "__main__":
    main()
