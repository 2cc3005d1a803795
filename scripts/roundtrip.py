"""The main job: a release relayed through three zones and promoted through its lifecycle, through
the real CLI.

Creates three zones under ./work/roundtrip and exchanges identity cards: dev makes the release,
staging is the zone between, and prod takes dev's releases only through staging (`trust add
dev.card --via staging`). The fixture release 1.5.0 (fixtures/acme/release-1.5.0.toml:
Development, then Staging, then Production) goes in lifecycle order: dev creates it and deploys it
to Development itself; the bundle for staging carries that run as evidence; staging deploys to
Staging, sends its receipt back and relays the release on to prod (dev's signatures kept, its
countersignature added, the secrets sealed again for prod); prod refuses Production until it is
offered staging's receipt as proof, then deploys, and its receipt goes back to dev relayed by
staging. dev's dashboard shows all three environments in lifecycle order and the path each took.
Every command it runs is printed as a user would type it (carrying between zones is a printed
copy, and each zone's sensitive API key is read from a file on stdin, `variables set ... -
--sensitive < FILE`, never given on the command line), so this doubles as a walkthrough.
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
#: Each zone's own value of the release's sensitive placeholder Acme.ApiKey (demo values).
API_KEYS = {"dev": "dev-only-api-key", "staging": "staging-only-api-key", "prod": "prod-only-api-key"}


def bk(*args: object, expect_fail: int | None = None, why: str = "", stdin: Path | None = None) -> str:
    """Run one bundlekit command, printed first as a user would type it. ``expect_fail``: the
    exit status a deliberate refusal must give (the walkthrough shows it and ``why``, then goes
    on). ``stdin``: a file the command reads on its standard input (``< FILE``)."""
    cmd = [sys.executable, "-m", "bundlekit", *map(str, args)]
    shown = "bundlekit " + " ".join(shlex.quote(str(a)) for a in args)
    if stdin is not None:
        shown += f" < {shlex.quote(str(stdin))}"
    print(f"\n$ {shown}", flush=True)
    with open(stdin if stdin is not None else os.devnull, "rb") as fh:
        proc = subprocess.run(cmd, stdin=fh, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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


def api_key(home: Path, value: str) -> None:
    """Give the zone its own value of the release's sensitive placeholder Acme.ApiKey, the safe
    way: from a file only its owner can read, on stdin (`-`), never on the command line, where
    any user's process list would show it. The demo writes the file itself (it says so, and
    does not print the value) and removes it once the zone has sealed the value; a real zone's
    operator has it from the team's secret store."""
    secret = WORK / "secrets" / f"{home.name}-api-key.txt"
    secret.parent.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    print(f"\n(the demo put the {home.name} zone's API key in {secret}, which only you can read, and removes it "
          "once the zone has sealed it; a real zone's operator has it from the team's secret store)", flush=True)
    try:
        bk("variables", "set", "acme-web", "Acme.ApiKey", "-", "--sensitive", "--home", home, stdin=secret)
    finally:
        secret.unlink()  # the zone holds it sealed now; no copy in clear stays behind


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
    # staging takes dev's releases, and dev's word that they passed Development; it knows prod's
    # key to seal the secrets again for it when it relays, and to check prod's receipts it relays back
    bk("trust", "add", WORK / "dev.card", "--home", staging, "--evidence-for", "Development")
    bk("trust", "add", WORK / "prod.card", "--home", staging)
    # prod accepts staging's signed receipts as proof that the Staging phase passed (and nothing
    # else), and takes dev's releases only when staging relayed them
    bk("trust", "add", WORK / "staging.card", "--home", prod, "--projects", "acme-*", "--evidence-for", "Staging")
    bk("trust", "add", WORK / "dev.card", "--home", prod, "--via", "staging", "--evidence-for", "Development")

    # dev: the zone that makes the release deploys it to its own Development environment
    bk("releases", "create", RELEASE, "--home", dev)
    api_key(dev, API_KEYS["dev"])
    targets(dev, "Development")
    bk("deploy", "acme-web", "1.5.0", "--environment", "Development", "--home", dev)

    # staging: the bundle carries dev's signed word that Development passed
    to_staging = media / "acme-web-1.5.0-staging.bundle"
    bk("export", RELEASE, "--to", "staging", "-o", to_staging, "--home", dev)
    bk("inspect", to_staging)
    carried = WORK / "staging-inbox" / to_staging.name
    carry(to_staging, carried)
    bk("import", carried, "--home", staging)
    api_key(staging, API_KEYS["staging"])
    targets(staging, "Staging")
    bk("lifecycle", "show", "acme-web", "1.5.0", "--home", staging)
    staging_receipt = media / "staging-receipt.bundle"
    bk("deploy", "acme-web", "1.5.0", "--environment", "Staging", "--home", staging, "--receipt-out", staging_receipt)
    carry(staging_receipt, WORK / "dev-inbox" / staging_receipt.name)
    bk("import", WORK / "dev-inbox" / staging_receipt.name, "--home", dev)

    # prod: staging relays the very release it imported; Production opens only with proof that
    # Staging passed, carried with the bundle
    to_prod = media / "acme-web-1.5.0-prod.bundle"
    bk("relay", carried, "--to", "prod", "-o", to_prod, "--home", staging)
    inbox = WORK / "prod-inbox"
    carry(to_prod, inbox / to_prod.name)
    carry(staging_receipt, inbox / staging_receipt.name)
    bk("verify", inbox / to_prod.name, "--home", prod)
    bk("import", inbox / to_prod.name, "--home", prod)
    api_key(prod, API_KEYS["prod"])
    targets(prod, "Production")
    bk("deploy", "acme-web", "1.5.0", "--environment", "Production", "--home", prod, "--dry-run", expect_fail=5,
       why="the lifecycle refuses Production until Staging has passed; nothing was run")
    bk("deploy", "acme-web", "1.5.0", "--environment", "Production", "--home", prod, "--dry-run",
       "--evidence", inbox / staging_receipt.name)
    prod_receipt = media / "prod-receipt.bundle"
    bk("deploy", "acme-web", "1.5.0", "--environment", "Production", "--home", prod,
       "--evidence", inbox / staging_receipt.name, "--receipt-out", prod_receipt)
    # the receipt goes back the way the release came: staging relays it to dev
    carry(prod_receipt, WORK / "staging-inbox" / prod_receipt.name)
    to_dev = media / "prod-receipt-via-staging.bundle"
    bk("relay", WORK / "staging-inbox" / prod_receipt.name, "--to", "dev", "-o", to_dev, "--home", staging)
    carry(to_dev, WORK / "dev-inbox" / to_dev.name)
    bk("import", WORK / "dev-inbox" / to_dev.name, "--home", dev)
    bk("lifecycle", "show", "acme-web", "1.5.0", "--home", dev)
    bk("outputs", "acme-web", "--zone", "prod", "--home", dev)
    bk("dashboard", "--home", dev)
    html = WORK / "dashboard.html"
    bk("dashboard", "--home", dev, "--html", html)
    print(f"\nround trip complete; everything is under {WORK}")
    print(f"dashboard: {html}")


if __name__ == "__main__":
    main()
