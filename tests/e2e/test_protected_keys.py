"""Zone keys protected by a passphrase, through the real CLI in subprocesses (decision 580).

dev is made with ``init --passphrase-file``, prod protected later with ``keys protect``; each
has its own passphrase. Export (dev's signing key), import and ``variables set --sensitive``
(prod's sealing key), deploy with a receipt (prod's signing key) and the receipt's import at
dev all run with the passphrase given only as a file named by ``BUNDLEKIT_PASSPHRASE_FILE``.
The passphrases are canaries: never in any file written, any output, or a step's environment.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from bundlekit.format.passphrase import ProtectedKey
from tests.conftest import FIXTURES, run_cli, snapshot

DEV_PASS = "dev-passphrase-canary-5521"
PROD_PASS = "prod-passphrase-canary-9034"
ENV = "BUNDLEKIT_PASSPHRASE_FILE"
# A first step on db-01 that prints the environment and command line a step sees.
DUMP = '''[[steps]]
name = "Show environment"
type = "script"
syntax = "bash"
roles = ["db"]
script = \'\'\'
env
tr '\\0' ' ' < /proc/self/cmdline
for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do tr '\\0' '\\n' < "$f" 2>/dev/null; done
\'\'\'

'''


class Trip:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.dev, self.prod = root / "dev", root / "prod"
        self.outputs: list[str] = []
        self.passfiles = {"dev": root / "dev.pass", "prod": root / "prod.pass"}
        for name, text in (("dev", DEV_PASS), ("prod", PROD_PASS)):
            self.passfiles[name].write_text(text + "\n")
            os.chmod(self.passfiles[name], 0o600)

    def env(self, zone: str | None) -> dict[str, str]:
        return {ENV: str(self.passfiles[zone]) if zone else ""}

    def run(self, *args: object, home: Path, zone: str | None, input: bytes | None = None):  # type: ignore[no-untyped-def]
        r = run_cli(*map(str, args), home=home, env=self.env(zone), input=input)
        self.outputs += [r.stdout, r.stderr]
        return r

    def ok(self, *args: object, home: Path, zone: str | None, input: bytes | None = None) -> str:
        r = self.run(*args, home=home, zone=zone, input=input)
        assert r.returncode == 0, f"bundlekit {' '.join(map(str, args))}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r.stdout


@pytest.fixture(scope="module")
def trip(tmp_path_factory: pytest.TempPathFactory) -> Trip:
    t = Trip(tmp_path_factory.mktemp("protected"))
    release = t.root / "release"
    shutil.copytree(FIXTURES / "acme", release)
    text = (release / "release.toml").read_text()
    (release / "release.toml").write_text(text.replace("[[steps]]\n", DUMP + "[[steps]]\n", 1))
    t.ok("init", "--zone", "dev", "--passphrase-file", t.passfiles["dev"], home=t.dev, zone=None)
    t.ok("init", "--zone", "prod", home=t.prod, zone=None)
    t.ok("keys", "protect", "--passphrase-file", t.passfiles["prod"], home=t.prod, zone=None)
    for name, home in (("dev", t.dev), ("prod", t.prod)):
        t.ok("identity", "-o", t.root / f"{name}.card", home=home, zone=name)
    t.ok("trust", "add", t.root / "prod.card", home=t.dev, zone="dev")
    t.ok("trust", "add", t.root / "dev.card", home=t.prod, zone="prod")
    for name, role in (("db-01", "db"), ("web-01", "web")):
        t.ok("targets", "add", name, "--environment", "Production", "--role", role, "--root",
             t.root / "targets" / name, home=t.prod, zone="prod")
    t.ok("export", release / "release.toml", "--to", "prod", "-o", t.root / "acme.bundle", home=t.dev, zone="dev")
    t.ok("import", t.root / "acme.bundle", home=t.prod, zone="prod")
    t.ok("variables", "set", "acme-web", "Acme.ApiKey", "--sensitive", home=t.prod, zone="prod",
         input=b"api-key-from-stdin\n")
    t.deploy = json.loads(t.ok("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json",  # type: ignore[attr-defined]
                               "--receipt-out", t.root / "receipt.bundle", home=t.prod, zone="prod"))
    t.ok("import", t.root / "receipt.bundle", home=t.dev, zone="dev")
    return t


def test_keys_at_rest_are_protected_files_not_raw_keys(trip: Trip) -> None:
    for home in (trip.dev, trip.prod):
        status = json.loads(trip.ok("keys", "status", "--json", home=home, zone=None))
        assert {k["path"]: k["protected"] for k in status["keys"]} == {"keys/signing.key": True,
                                                                     "keys/sealing.key": True}
        for name in ("signing.key", "sealing.key"):
            data = (home / "keys" / name).read_bytes()
            assert data.startswith(b"bundlekit protected key v1\n") and len(data) > 32
            kdf = ProtectedKey.parse(data, name).kdf  # the writers' cost (spec/keys.md): the trip opened them at it
            assert (kdf.n, kdf.r, kdf.p) == (131072, 8, 1), kdf


def test_protected_keys_sign_exports_seal_secrets_and_sign_receipts(trip: Trip) -> None:
    assert trip.deploy["state"] == "Success"  # type: ignore[attr-defined]
    shown = json.loads(trip.ok("deployments", "list", "--json", home=trip.dev, zone=None))
    assert shown  # the receipt signed with prod's protected key was verified and recorded at dev
    view = json.loads(trip.ok("dashboard", "--json", home=trip.dev, zone=None))
    row = next(p for p in view["projects"] if p["slug"] == "acme-web")
    cell = row["cells"][view["columns"].index(["prod", "Production"])]
    assert cell["latest"]["state"] == "succeeded"


def test_a_command_needing_a_key_without_the_passphrase_is_refused_and_changes_nothing(trip: Trip,
                                                                                      tmp_path: Path) -> None:
    prod = tmp_path / "prod"
    shutil.copytree(trip.prod, prod, symlinks=True)
    before = snapshot(prod, tmp_path / "r.bundle")
    missing = trip.run("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json", "--receipt-out",
                       tmp_path / "r.bundle", home=prod, zone=None)
    assert missing.returncode == 1 and json.loads(missing.stdout)["error"]["code"] == "passphrase_missing"
    wrong = trip.run("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json", "--receipt-out",
                     tmp_path / "r.bundle", home=prod, zone="dev")  # dev's passphrase opens no key of prod
    assert wrong.returncode == 1 and json.loads(wrong.stdout)["error"]["code"] == "passphrase_wrong"
    assert snapshot(prod, tmp_path / "r.bundle") == before


def test_every_zone_command_takes_the_keys_passphrase_file_before_the_environment(trip: Trip,
                                                                                 tmp_path: Path) -> None:
    """Review v30-12 N3, decision 791: `--passphrase-file` works on the daily commands too, and
    wins over BUNDLEKIT_PASSPHRASE_FILE; a wrong one changes nothing; the refusal without one
    names both ways."""
    prod = tmp_path / "prod"
    shutil.copytree(trip.prod, prod, symlinks=True)
    add = ("targets", "add", "web-02", "--environment", "Production", "--role", "web", "--root",
           tmp_path / "web-02")
    before = snapshot(prod)
    missing = trip.run(*add, "--json", home=prod, zone=None)
    err = json.loads(missing.stdout)["error"]
    assert (missing.returncode, err["code"]) == (1, "passphrase_missing")
    assert "--passphrase-file" in err["message"] and ENV in err["message"]
    wrong = trip.run(*add, "--passphrase-file", trip.passfiles["dev"], "--json", home=prod, zone="prod")
    assert (wrong.returncode, json.loads(wrong.stdout)["error"]["code"]) == (1, "passphrase_wrong")
    assert snapshot(prod) == before
    trip.ok(*add, "--passphrase-file", trip.passfiles["prod"], home=prod, zone="dev")  # the option first
    listed = json.loads(trip.ok("targets", "list", "--json", "--passphrase-file", trip.passfiles["prod"],
                                home=prod, zone=None))
    assert "web-02" in json.dumps(listed)
    helped = trip.ok("trust", "add", "--help", home=prod, zone=None)
    assert "--passphrase-file" in helped


def test_commands_that_need_no_private_key_ask_for_no_passphrase(trip: Trip) -> None:
    for args in (("trust", "list"), ("deployments", "list"), ("keys", "status")):
        trip.ok(*args, home=trip.prod, zone=None)


def test_the_passphrase_is_in_no_file_output_or_step_environment(trip: Trip) -> None:
    dump = next(r for r in trip.deploy["runs"] if r["step"] == "Show environment")  # type: ignore[attr-defined]
    assert "PATH=" in dump["log"]  # the step really printed its environment
    texts = list(trip.outputs) + [dump["log"]]
    for path in trip.root.rglob("*"):
        if path.is_file() and path not in trip.passfiles.values():
            texts.append(path.read_bytes().decode("latin-1"))
    for secret in (DEV_PASS, PROD_PASS):
        for text in texts:
            assert secret not in text
    assert ENV not in dump["log"] and str(trip.passfiles["prod"]) not in dump["log"]


def test_doctor_warns_about_unprotected_keys_only(trip: Trip, tmp_path: Path) -> None:
    assert json.loads(trip.ok("doctor", "--json", home=trip.prod, zone=None))["findings"] == []
    plain = tmp_path / "plain"
    trip.ok("init", "--zone", "plain", home=plain, zone=None)
    found = json.loads(trip.ok("doctor", "--json", home=plain, zone=None))["findings"]
    assert [f["code"] for f in found] == ["keys_unprotected"]
    assert "keys/signing.key" in found[0]["message"] and "keys protect" in found[0]["message"]
