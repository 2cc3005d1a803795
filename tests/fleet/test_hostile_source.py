"""A hostile but trusted source, end to end through the real CLI (issue 20).

Three zones: ``dev`` (source A, trusted by ``prod`` for the ``Hostile`` project only), ``devb``
(source B, trusted for ``Billing``) and ``prod``. A's release has a roleless step (it runs on the
zone's worker) and a step on a local folder target; both walk up from their working folder and
from every path in every environment variable they get, look for the zone's keys, and print and
output whatever they find in every encoding they can (raw, base64, base64url, hex, JSON, URL).

- In the sandbox (the default isolation where no worker user exists) they read nothing.
- With the worker set ``--unconfined`` they do read the keys, and the key material still
  appears nowhere, in any encoding: not in ``deploy``'s output, ``deployments show``, the receipt
  (its compressed blobs opened), the source's ``outputs --reveal`` or its dashboard: the masking
  that stands behind the isolation (decision 380).
- A release of A listing B's package by reference is refused (``package_not_shared``, exit 3)
  with prod unchanged but for the refusal queued for A.
- The receipt to A lists only A's packages.
- A manifest of A built to exhaust memory (15 MiB of one-byte maps) is refused by ``inspect`` and
  ``import`` (``limit_exceeded``) in a fresh process that stays far below the decoding cap.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import urllib.parse
from pathlib import Path

import pytest
import zstandard

from bundlekit.format.container import BundleFile
from bundlekit.format.manifest import parse_manifest
from tests.conftest import FIXTURES, run_cli, snapshot
from tests.e2e.world import ok
from tests.fleet.hostile import PROBE as HOSTILE_PROBE
from tests.fleet.hostile import public_folder  # noqa: F401 (a fixture)
from tests.memory import peak_of
from tests.refusals.forge import resign, tiny_maps

PROBE = HOSTILE_PROBE + r'''
for i, (path, raw) in enumerate(sorted(found.items())):
    print("raw", raw.decode("utf-8", "replace"))
    print("b64", base64.b64encode(raw).decode(), "b64x", base64.b64encode(b"!" + raw).decode())
    print("url", base64.urlsafe_b64encode(raw).decode().rstrip("="), "hex", raw.hex(), raw.hex().upper())
    text = raw.decode("utf-8", "replace")
    print("json", json.dumps({"k": text}), "pct", urllib.parse.quote(text, safe=""))
    set_octopusvariable("Plain%d" % i, base64.b64encode(raw).decode())
    set_octopusvariable("Hex%d" % i, raw.hex())
    set_octopusvariable("Secret%d" % i, base64.urlsafe_b64encode(raw).decode(), True)
'''

#: What any input may cost a fresh process (issue 20: "at most ~150 MiB"), in KiB.
ISSUE_BOUND_KIB = 150 * 1024


def release(folder: Path, home: Path, by_reference: tuple[str, int] | None = None) -> Path:
    shutil.copytree(FIXTURES / "acme", folder)
    script = PROBE.replace("HOME_GUESS", str(home))
    extra = ""
    if by_reference is not None:
        extra = (f'\n[[packages]]\nid = "Billing.Api"\nversion = "3.0.0"\nsha256 = "{by_reference[0]}"\n'
                 f"size = {by_reference[1]}\n")
    (folder / "release.toml").write_text(f"""
[project]
name = "Hostile"
space = "Default"

[release]
version = "{'2.0.0' if by_reference else '1.0.0'}"
channel = "Default"

[[packages]]
id = "Hostile.Web"
version = "1.0.0"
file = "packages/Acme.Web.1.4.0.zip"
{extra}
[[steps]]
name = "Probe the zone"
type = "script"
syntax = "python"
script = '''{script}'''

[[steps]]
name = "Probe the target"
type = "script"
syntax = "python"
roles = ["web"]
script = '''{script}'''
""")
    return folder / "release.toml"


def billing_release(folder: Path) -> tuple[Path, str, int]:
    folder.mkdir()
    package = folder / "billing.zip"
    shutil.copyfile(FIXTURES / "acme" / "packages" / "Acme.Web.1.4.0.zip", package)
    with open(package, "ab") as f:
        f.write(b"billing's own bytes")  # a zip may carry bytes after its end: its own digest
    (folder / "release.toml").write_text("""
[project]
name = "Billing"
space = "Default"

[release]
version = "3.0.0"
channel = "Default"

[[packages]]
id = "Billing.Api"
version = "3.0.0"
file = "billing.zip"

[[steps]]
name = "Say"
type = "script"
syntax = "bash"
roles = ["web"]
script = "echo billing"
""")
    data = package.read_bytes()
    return folder / "release.toml", hashlib.sha256(data).hexdigest(), len(data)


def key_forms(home: Path) -> list[str]:
    """Every way the probe prints or outputs a key file, as an attacker would search for it."""
    forms: list[str] = []
    for path in sorted(p for p in (home / "keys").rglob("*") if p.is_file()):
        raw = path.read_bytes()
        b64 = base64.b64encode(raw).decode()
        forms += [b64, b64.rstrip("="), base64.urlsafe_b64encode(raw).decode().rstrip("="), raw.hex(),
                  raw.hex().upper(), base64.b64encode(b"!" + raw).decode()[4:-4]]
        text = raw.decode("utf-8", "replace")
        for line in text.splitlines():
            if len(line) >= 16 and not line.startswith("-----"):
                forms.append(line)
        if "\ufffd" not in text:
            forms += [urllib.parse.quote(text.strip(), safe=""), json.dumps(text)[1:-1].strip()]
    return [f for f in forms if len(f) >= 16]


def inflated(data: bytes) -> str:
    """``data`` and every zstd frame in it, decompressed (a bundle's blobs), as text."""
    found, start = [data], 0
    while (at := data.find(b"\x28\xb5\x2f\xfd", start)) >= 0:
        try:
            found.append(zstandard.ZstdDecompressor().decompressobj().decompress(data[at:]))
        except zstandard.ZstdError:
            pass
        start = at + 1
    return b"\n".join(found).decode("utf-8", "replace")


def test_a_hostile_trusted_source_gets_no_key_no_other_package_and_no_memory(
        tmp_path: Path, public_folder: Path) -> None:
    if not os.access("/usr/bin/bwrap", os.X_OK):
        pytest.fail("the sandbox test needs bubblewrap: run `apt-get install -y bubblewrap`")
    dev, devb, prod = tmp_path / "dev", tmp_path / "devb", tmp_path / "prod"
    for name, home in (("dev", dev), ("devb", devb), ("prod", prod)):
        ok("init", "--zone", name, home=home)
        ok("identity", "-o", tmp_path / f"{name}.card", home=home)
    for source in (dev, devb):
        ok("trust", "add", tmp_path / "prod.card", home=source)
    ok("trust", "add", tmp_path / "dev.card", "--projects", "Hostile", home=prod)
    ok("trust", "add", tmp_path / "devb.card", "--projects", "Billing", home=prod)
    ok("worker", "set", "--sandbox", "--folder", public_folder / "prod.worker", home=prod)
    policy = tmp_path / "egress.toml"  # the probe's sensitive outputs go back sealed, so the source's --reveal opens them
    policy.write_text('[[rule]]\nprojects = ["Hostile"]\nallow_sensitive = [%s]\n'
                      % ", ".join(f'"Secret{i}"' for i in range(64)))
    ok("egress", "set", policy, home=prod)
    ok("targets", "add", "web-01", "--environment", "Production", "--role", "web", "--root",
       public_folder / "web-01", home=prod)
    ok("targets", "ssh-key", home=prod)  # the zone's SSH key exists too, and must not leak either
    (prod / "keys" / "extra-client.pem").write_text(
        "-----BEGIN PRIVATE KEY-----\n" + base64.b64encode(os.urandom(48)).decode() + "\n-----END PRIVATE KEY-----\n")
    (prod / "keys" / "extra-client.pem").chmod(0o600)

    # B delivers its package.
    billing, b_sha, b_size = billing_release(tmp_path / "billing")
    ok("export", billing, "--to", "prod", "-o", tmp_path / "billing.bundle", home=devb)
    ok("import", tmp_path / "billing.bundle", home=prod)

    # A's release, deployed in the sandbox: its steps read nothing.
    bundle = tmp_path / "hostile.bundle"
    ok("export", release(tmp_path / "release", prod), "--to", "prod", "-o", bundle, home=dev)
    ok("import", bundle, home=prod)
    deploy = ("deploy", "Hostile", "1.0.0", "--environment", "Production")
    sandboxed = run_cli(*deploy, "--receipt-out", tmp_path / "receipt-1.bundle", home=prod)
    assert sandboxed.returncode == 0, sandboxed.stdout + sandboxed.stderr
    shown = ok("deployments", "show", "Deployments-1", "--json", home=prod)
    assert shown.count("KEYS-FOUND 0 []") == 2, shown

    # Unconfined (the operator's loud choice), the steps read the keys: masking stands behind.
    ok("worker", "set", "--unconfined", "--folder", public_folder / "prod.worker", home=prod)
    loose = run_cli(*deploy, "--receipt-out", tmp_path / "receipt-2.bundle", home=prod)
    assert loose.returncode == 0, loose.stdout + loose.stderr
    shown_loose = ok("deployments", "show", "Deployments-2", "--json", home=prod)
    assert "KEYS-FOUND 0 []" not in shown_loose and "signing.key" in shown_loose  # it did read them
    assert "b64 ********" in shown_loose and "hex ******** ********" in shown_loose
    for receipt in ("receipt-1.bundle", "receipt-2.bundle"):
        ok("import", tmp_path / receipt, home=dev)
    texts = {
        "deploy": sandboxed.stdout + sandboxed.stderr + loose.stdout + loose.stderr,
        "deployments show": shown + shown_loose,
        "receipts": inflated((tmp_path / "receipt-1.bundle").read_bytes() + (tmp_path / "receipt-2.bundle").read_bytes()),
        "outputs": ok("outputs", "Hostile", "--zone", "prod", "--reveal", home=dev),
        "source dashboard": ok("dashboard", "--json", home=dev),
        "zone dashboard": ok("dashboard", "--json", home=prod),
    }
    # the outputs did travel: plain ones in clear (masked), sensitive ones sealed and revealed here (masked);
    # a plain one whose value holds an encoding of a secret of the run is sensitive, so withheld (decision 550)
    assert re.search(r"\.Plain\d+ = ", texts["outputs"]) and re.search(r"\.Secret\d+ = ", texts["outputs"]), \
        texts["outputs"]
    forms = key_forms(prod)
    assert len(forms) > 20
    for where, text in texts.items():
        for form in forms:
            assert form not in text, f"key material in {where}: {form[:12]}..."

    # The receipt to A lists A's packages only.
    with BundleFile(tmp_path / "receipt-2.bundle") as receipt_file:
        inventory = parse_manifest(receipt_file.manifest_bytes).inventory
    a_sha = hashlib.sha256((FIXTURES / "acme" / "packages" / "Acme.Web.1.4.0.zip").read_bytes()).hexdigest()
    assert [i["sha256"] for i in inventory] == [a_sha]
    assert b_sha not in texts["receipts"] and "Billing" not in texts["receipts"]

    # A lists B's package by reference: refused, nothing changed but the refusal queued for A.
    stolen = tmp_path / "stolen.bundle"
    ok("export", release(tmp_path / "release-2", prod, (b_sha, b_size)), "--to", "prod", "-o", stolen, home=dev)
    before = snapshot(prod / "packages")
    refused = run_cli("import", stolen, "--json", home=prod)
    assert refused.returncode == 3 and "package_not_shared" in refused.stdout + refused.stderr, refused
    assert snapshot(prod / "packages") == before
    assert "2.0.0" not in ok("releases", "list", home=prod)

    # A signs a manifest made to exhaust memory: refused from its bytes, in a fresh process.
    bomb = resign(bundle, tmp_path / "bomb.bundle", dev, encode=tiny_maps)
    assert bomb.stat().st_size > 15 << 20
    before = snapshot(prod)
    for command in (("inspect", str(bomb)), ("verify", str(bomb)), ("import", str(bomb))):
        peak = peak_of(setup=f"""
            from pathlib import Path
            from tests.conftest import cli_in_process
            args = {list(command)!r}
            home = None if args[0] == "inspect" else Path({str(prod)!r})
        """, work="""
            done = cli_in_process(*args, home=home)
            assert done.returncode == 3 and "limit_exceeded" in done.stderr, (done.returncode, done.stderr)
        """)
        assert peak.outcome == "ok", (command, peak)
        # Within the issue's bound of about 150 MiB for any input, with the 16 MiB bundle read,
        # hashed and checked (about 90 MiB for import on the machine this was written on; 2.3 GB
        # before the cap). The decoding cap (MAX_DECODED_SIZE, 80 MiB) bounds the decoded values only.
        assert peak.grown_kib < ISSUE_BOUND_KIB, (command, peak)
    assert snapshot(prod) == before
