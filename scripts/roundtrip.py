"""The main job: the round trip on the shipped fixtures, through the real CLI.

Creates two zones (dev and prod) under ./work/roundtrip, exchanges identity cards, exports
the fixture release from dev to prod, inspects and verifies it in prod. Every command it
runs is printed, so this doubles as a walkthrough.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "work" / "roundtrip"
RELEASE = ROOT / "fixtures" / "acme" / "release.toml"


def bk(*args: object) -> str:
    cmd = [sys.executable, "-m", "bundlekit", *map(str, args)]
    shown = "bundlekit " + " ".join(shlex.quote(str(a)) for a in args)
    print(f"\n$ {shown}", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        print(f"round trip failed at: {shown} (exit {proc.returncode})", file=sys.stderr)
        sys.exit(proc.returncode)
    return proc.stdout


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
    bk("verify", bundle, "--home", prod)
    print(f"\nround trip complete; everything is under {WORK}")


if __name__ == "__main__":
    main()
