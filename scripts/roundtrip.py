"""The main job: promotion through a lifecycle across three zones, through the real CLI.

Creates three zones under ./work/roundtrip (dev makes the release; staging and prod each
run one phase of its lifecycle), exchanges identity cards, and promotes the fixture release
1.5.0 (fixtures/acme/release-1.5.0.toml: Development, then Staging, then Production) in
lifecycle order: dev creates it and deploys it to Development itself; the bundle for staging
carries that run as evidence; staging deploys to Staging and sends its receipt back; prod
refuses Production until it is offered staging's receipt as proof, then deploys. Receipts go
back to dev, whose dashboard shows all three environments in lifecycle order. Every command
it runs is printed (carrying between zones is a printed copy), so this doubles as a
walkthrough.
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
RELEASE = ROOT / "fixtures" / "acme" / "release-1.5.0.toml"


def bk(*args: object, expect_fail: int | None = None, why: str = "") -> str:
    """Run one bundlekit command, printed first. ``expect_fail``: the exit status a deliberate
    refusal must give (the walkthrough shows it and ``why``, then goes on)."""
    cmd = [sys.executable, "-m", "bundlekit", *map(str, args)]
    shown = "bundlekit " + " ".join(shlex.quote(str(a)) for a in args)
    print(f"\n$ {shown}", flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sys.stdout.write(proc.stdout)
    if expect_fail is not None:
        if proc.returncode != expect_fail:
            print(f"round trip failed at: {shown} (exit {proc.returncode}, expected the refusal's {expect_fail})",
                  file=sys.stderr)
            sys.exit(1)
        print(f"(refused as expected: exit {proc.returncode}{'; ' + why if why else ''})", flush=True)
        return proc.stdout
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


def targets(home: Path, environment: str) -> None:
    """Two local folder targets for ``environment``. Their steps run in a bubblewrap sandbox that
    hides the zone's home; without bubblewrap (and no worker user on a demo machine) the demo
    says so and chooses to run them unconfined, out loud (decision 146)."""
    if shutil.which("bwrap", path="/usr/bin:/bin:/usr/local/bin") is None:
        print(f"\nnote: bubblewrap is not installed, so the {home.name} zone's local steps run UNCONFINED as you; "
              "a real zone uses `sudo bundlekit worker setup` (or installs bubblewrap)", flush=True)
        bk("worker", "set", "--unconfined", "--home", home)
    for name, role in (("db-01", "db"), ("web-01", "web")):
        bk("targets", "add", name, "--environment", environment, "--role", role, "--root",
           WORK / "targets" / home.name / name, "--home", home)


def main() -> None:
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    dev, staging, prod = WORK / "dev", WORK / "staging", WORK / "prod"
    media = WORK / "media"
    for name, home in (("dev", dev), ("staging", staging), ("prod", prod)):
        bk("init", "--zone", name, "--home", home)
        bk("identity", "--home", home, "-o", WORK / f"{name}.card")
    bk("trust", "add", WORK / "staging.card", "--home", dev)
    bk("trust", "add", WORK / "prod.card", "--home", dev)
    bk("trust", "add", WORK / "dev.card", "--home", staging)
    bk("trust", "add", WORK / "dev.card", "--home", prod)
    # prod accepts staging's signed receipts as proof that the Staging phase passed
    bk("trust", "add", WORK / "staging.card", "--home", prod, "--projects", "acme-*")

    # dev: the zone that makes the release deploys it to its own Development environment
    bk("releases", "create", RELEASE, "--home", dev)
    bk("variables", "set", "acme-web", "Acme.ApiKey", "dev-only-api-key", "--sensitive", "--home", dev)
    targets(dev, "Development")
    bk("deploy", "acme-web", "1.5.0", "--environment", "Development", "--home", dev)

    # staging: the bundle carries dev's signed word that Development passed
    to_staging = media / "acme-web-1.5.0-staging.bundle"
    bk("export", RELEASE, "--to", "staging", "-o", to_staging, "--home", dev)
    bk("inspect", to_staging)
    carried = WORK / "staging-inbox" / to_staging.name
    carry(to_staging, carried)
    bk("import", carried, "--home", staging)
    bk("variables", "set", "acme-web", "Acme.ApiKey", "staging-only-api-key", "--sensitive", "--home", staging)
    targets(staging, "Staging")
    bk("lifecycle", "show", "acme-web", "1.5.0", "--home", staging)
    staging_receipt = media / "staging-receipt.bundle"
    bk("deploy", "acme-web", "1.5.0", "--environment", "Staging", "--home", staging, "--receipt-out", staging_receipt)
    carry(staging_receipt, WORK / "dev-inbox" / staging_receipt.name)
    bk("import", WORK / "dev-inbox" / staging_receipt.name, "--home", dev)

    # prod: Production opens only with proof that Staging passed, carried with the bundle
    to_prod = media / "acme-web-1.5.0-prod.bundle"
    bk("export", RELEASE, "--to", "prod", "-o", to_prod, "--home", dev)
    inbox = WORK / "prod-inbox"
    carry(to_prod, inbox / to_prod.name)
    carry(staging_receipt, inbox / staging_receipt.name)
    bk("verify", inbox / to_prod.name, "--home", prod)
    bk("import", inbox / to_prod.name, "--home", prod)
    bk("variables", "set", "acme-web", "Acme.ApiKey", "prod-only-api-key", "--sensitive", "--home", prod)
    targets(prod, "Production")
    bk("deploy", "acme-web", "1.5.0", "--environment", "Production", "--home", prod, "--dry-run", expect_fail=5,
       why="the lifecycle refuses Production until Staging has passed; nothing was run")
    bk("deploy", "acme-web", "1.5.0", "--environment", "Production", "--home", prod, "--dry-run",
       "--evidence", inbox / staging_receipt.name)
    prod_receipt = media / "prod-receipt.bundle"
    bk("deploy", "acme-web", "1.5.0", "--environment", "Production", "--home", prod,
       "--evidence", inbox / staging_receipt.name, "--receipt-out", prod_receipt)
    carry(prod_receipt, WORK / "dev-inbox" / prod_receipt.name)
    bk("import", WORK / "dev-inbox" / prod_receipt.name, "--home", dev)
    bk("lifecycle", "show", "acme-web", "1.5.0", "--home", dev)
    bk("outputs", "acme-web", "--zone", "prod", "--home", dev)
    bk("dashboard", "--home", dev)
    html = WORK / "dashboard.html"
    bk("dashboard", "--home", dev, "--html", html)
    print(f"\nround trip complete; everything is under {WORK}")
    print(f"dashboard: {html}")


if __name__ == "__main__":
    main()
