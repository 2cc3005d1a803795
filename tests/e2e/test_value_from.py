"""A release file takes a sensitive value from the environment or a file at export time (decision 542).

Through the real CLI in subprocesses: ``value_from = { env = ... }`` and ``{ file = ... }``
export a canary that reaches production sealed (checked there by the zone's own fingerprint of
it), is masked in the step log that prints it, and appears in clear nowhere but in the secret
file itself and the application's configuration the deployment wrote: not in the release
folder, the bundle, either zone's home, the targets' work folders, the receipt or any output. A missing or empty source is refused with ``value_source_missing`` naming the release
file, the variable and the fix, and nothing is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bundlekit.zone import secrets
from bundlekit.zone.home import open_zone
from tests.conftest import run_cli, snapshot
from tests.e2e.world import API_KEY, World, make_world

CANARY = "vf-canary-5b2e-never-in-clear"
PLAIN_VALUE = 'value = "s3cret-value"'


def _release(w: World, name: str, replacement: str) -> Path:
    path = w.release_dir / name
    text = (w.release_dir / "release.toml").read_text()
    assert PLAIN_VALUE in text
    text = text.replace(PLAIN_VALUE, replacement, 1)
    # The first step prints the password, so the log shows whether it is masked.
    text = text.replace('echo "migrating database', 'echo "password is #{Acme.Db.Password}"\necho "migrating database', 1)
    path.write_text(text)
    return path


def _stored(home: Path, value: str) -> bool:
    zone = open_zone(home)
    try:
        ref = secrets.fingerprint(zone, value)
        return zone.db.scalar("SELECT 1 FROM secrets WHERE fingerprint = ?", (ref,)) is not None
    finally:
        zone.close()


def _clear_files(root: Path, secret: str, allowed: set[Path]) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and p not in allowed
            and secret.encode() in p.read_bytes()]


@pytest.fixture
def w(tmp_path: Path) -> World:
    return make_world(tmp_path)


@pytest.mark.parametrize("source", ["env", "file"])
def test_a_value_from_the_environment_or_a_file_is_sealed_used_and_never_in_clear(w: World, source: str) -> None:
    secret = f"{CANARY}-{source}"
    env = None
    allowed: set[Path] = set()
    if source == "env":
        release = _release(w, "env.toml", 'value_from = { env = "ACME_DB_PASSWORD" }')
        env = {"ACME_DB_PASSWORD": secret}
    else:
        release = _release(w, "file.toml", 'value_from = { file = "secrets/db-password.txt" }')
        (w.release_dir / "secrets").mkdir()
        key_file = w.release_dir / "secrets" / "db-password.txt"
        key_file.write_text(secret + "\n")
        allowed.add(key_file)
    bundle = w.root / "media" / "vf.bundle"
    outputs = []
    r = run_cli("export", release, "--to", "prod", "-o", bundle, "--json", home=w.dev, env=env)
    assert r.returncode == 0, r.stderr
    outputs += [r.stdout, r.stderr]
    for args in (("inspect", bundle, "--json"), ("import", bundle), ("deploy", "acme-web", "1.4.0", "--environment",
                                                                       "Production", "--receipt-out",
                                                                       w.root / "media" / "receipt.bundle")):
        home = None if args[0] == "inspect" else w.prod
        if args[0] == "deploy":
            key = run_cli("variables", "set", "acme-web", "Acme.ApiKey", "--sensitive", home=w.prod,
                          input=API_KEY.encode())
            assert key.returncode == 0, key.stderr
        r = run_cli(*args, home=home)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        outputs += [r.stdout, r.stderr]
    listed = json.loads(run_cli("deployments", "list", "--json", home=w.prod).stdout)["deployments"]
    shown = run_cli("deployments", "show", listed[0]["id"], home=w.prod)
    assert "password is ********" in shown.stdout  # the step printed it; the log masks it
    outputs += [shown.stdout, shown.stderr]
    assert _stored(w.prod, secret)  # production received exactly the value (no line break)
    assert not _stored(w.prod, secret + "\n")
    # The one place it belongs in clear: the configuration the step wrote for the application.
    deployed = w.root / "targets" / "web-01" / "Acme.Web" / "1.4.0" / "appsettings.json"
    assert secret in deployed.read_text()
    assert _clear_files(w.root, secret, allowed | {deployed}) == []
    assert not any(secret in text for text in outputs)


def _refused(w: World, release: Path, env: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    bundle = w.root / "media" / "refused.bundle"
    before = snapshot(w.dev, w.release_dir)
    r = run_cli("export", release, "--to", "prod", "-o", bundle, "--json", home=w.dev, env=env)
    err = json.loads(r.stdout)["error"]
    assert "Traceback" not in r.stderr
    assert snapshot(w.dev, w.release_dir) == before and not bundle.exists()
    # Export lints first and lists every problem (decision 570): the one here is its only error.
    assert (r.returncode, err["code"]) == (2, "release_lint_failed"), err
    [finding] = [f for f in err["details"] if f["severity"] == "error"]
    return {"code": finding["code"], "message": err["message"], "path": finding["path"], "error": err}


def test_an_unset_or_empty_environment_variable_is_refused_naming_the_variable_and_the_fix(w: World) -> None:
    release = _release(w, "env.toml", 'value_from = { env = "ACME_DB_PASSWORD_UNSET" }')
    for env in (None, {"ACME_DB_PASSWORD_UNSET": ""}):
        err = _refused(w, release, env)
        assert err["code"] == "value_source_missing", err
        assert str(release) in err["message"] and "variables[2] (Acme.Db.Password).value_from.env" in err["message"]
        assert "ACME_DB_PASSWORD_UNSET" in err["message"]
        assert ("is not set" if env is None else "is empty") in err["message"]
        assert err["path"] == "variables[2].value_from.env"


def test_a_missing_or_empty_file_is_refused_naming_it(w: World) -> None:
    release = _release(w, "file.toml", 'value_from = { file = "secrets/none.txt" }')
    err = _refused(w, release)
    assert err["code"] == "value_source_missing" and "secrets/none.txt does not exist" in err["message"], err
    assert "relative to the release file's folder" in err["message"]
    (w.release_dir / "secrets").mkdir()
    (w.release_dir / "secrets" / "none.txt").write_text("\n")
    err = _refused(w, release)
    assert err["code"] == "value_source_missing" and "is empty" in err["message"], err


@pytest.mark.parametrize("replacement, expected", [
    ('value = "s3cret-value"\nvalue_from = { env = "X" }', "has both value and value_from"),
    ("", "has no value"),
], ids=["both", "neither"])
def test_value_and_value_from_are_one_or_the_other(w: World, replacement: str, expected: str) -> None:
    err = _refused(w, _release(w, "bad.toml", replacement))
    assert err["code"] == "invalid_release" and expected in err["message"], err
    assert "s3cret-value" not in json.dumps(err)


def test_value_from_on_a_plain_variable_is_refused(w: World) -> None:
    path = w.release_dir / "plain.toml"
    path.write_text((w.release_dir / "release.toml").read_text().replace('value = "acme_dev"',
                                                                         'value_from = { env = "HOME" }'))
    err = _refused(w, path)
    assert err["code"] == "invalid_release" and "variables[1].value_from" in err["message"], err
    assert "sensitive = true" in err["message"]


def test_a_schema_refusal_does_not_quote_a_sensitive_value(w: World) -> None:
    # A placeholder that also has a value: the schema's message quotes the variable it refuses.
    path = w.release_dir / "placeholder.toml"
    text = (w.release_dir / "release.toml").read_text()
    path.write_text(text.replace('placeholder = true\n', 'placeholder = true\nvalue = "placeholder-secret-9"\n', 1))
    err = _refused(w, path)
    assert err["code"] == "invalid_release", err
    assert "placeholder-secret-9" not in json.dumps(err) and "variables[4]" in err["message"], err
