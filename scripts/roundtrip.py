"""The main job: the round trip on the shipped fixtures, through the real CLI.

Creates two zones (dev and prod) under ./work/roundtrip, exchanges identity cards, exports
the fixture release from dev to prod, carries it (a plain file copy), imports it in prod,
binds the value only production knows, deploys to two local folder targets, carries the
signed receipt back, imports it in dev and writes the dashboard. Every command it runs is
printed, so this doubles as a walkthrough.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("BUNDLEKIT_ROUNDTRIP_DIR") or ROOT / "work" / "roundtrip")
RELEASE = ROOT / "fixtures" / "acme" / "release.toml"


def bk(*args: object) -> str:
    cmd = [sys.executable, "-m", "bundlekit", *map(str, args)]
    shown = "bundlekit " + " ".join(shlex.quote(str(a)) for a in args)
    print(f"\n$ {shown}", flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        print(f"round trip failed at: {shown} (exit {proc.returncode})", file=sys.stderr)
        sys.exit(proc.returncode)
    return proc.stdout


def carry(src: Path, dest: Path) -> None:
    """The carry across the gap, printed like every other step (here a plain copy; on real
    media `bundlekit media split|join`, across a diode `bundlekit diode send|receive`)."""
    print(f"\n$ mkdir -p {shlex.quote(str(dest.parent))} && cp {shlex.quote(str(src))} {shlex.quote(str(dest))}",
          flush=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)


def main() -> None:
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    dev, prod = WORK / "dev", WORK / "prod"
    bundle = WORK / "media" / "acme-web-1.4.0.bundle"
    bk("init", "--zone", "dev", "--home", dev)
    bk("init", "--zone", "prod", "--home", prod)
    bk("identity", "--home", dev, "-o", WORK / "dev.card")
    bk("identity", "--home", prod, "-o", WORK / "prod.card")
    bk("trust", "add", WORK / "prod.card", "--home", dev)
    bk("trust", "add", WORK / "dev.card", "--home", prod)
    bk("export", RELEASE, "--to", "prod", "-o", bundle, "--home", dev)
    bk("inspect", bundle)
    carried = WORK / "prod-inbox" / bundle.name
    carry(bundle, carried)
    bk("verify", carried, "--home", prod)
    bk("import", carried, "--home", prod)
    bk("variables", "set", "acme-web", "Acme.ApiKey", "prod-only-api-key", "--sensitive", "--home", prod)
    bk("targets", "add", "db-01", "--environment", "Production", "--role", "db", "--root", WORK / "targets" / "db-01",
       "--home", prod)
    bk("targets", "add", "web-01", "--environment", "Production", "--role", "web", "--root",
       WORK / "targets" / "web-01", "--home", prod)
    bk("deploy", "acme-web", "1.4.0", "--environment", "Production", "--home", prod, "--dry-run")
    receipt = WORK / "media" / "receipt.bundle"
    bk("deploy", "acme-web", "1.4.0", "--environment", "Production", "--home", prod, "--receipt-out", receipt)
    bk("import", receipt, "--home", dev)
    bk("outputs", "acme-web", "--zone", "prod", "--home", dev)
    bk("dashboard", "--home", dev)
    html = WORK / "dashboard.html"
    bk("dashboard", "--home", dev, "--html", html)
    print(f"\nround trip complete; everything is under {WORK}")
    print(f"dashboard: {html}")


if __name__ == "__main__":
    main()
