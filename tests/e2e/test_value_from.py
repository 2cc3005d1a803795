"""A release file takes a sensitive value from the environment or a file at export time (decision 542).

Through the real CLI in subprocesses: ``value_from = { env = ... }`` and ``{ file = ... }``
export a canary that reaches production sealed (checked there by the zone's own fingerprint of
it), is masked in the step log that prints it, and appears in clear nowhere but in the secret
file itself and the application's configuration the deployment wrote: not in the release
folder, the bundle, either zone's home, the targets' work folders, the receipt or any output. A missing or empty source is refused with ``value_source_missing`` (exit 1, also from export
when nothing else is wrong: decision 710) naming the release file, the variable and the fix once,
and nothing is written.
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


def _export_refused(w: World, release: Path,
                    env: dict[str, str] | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    """Export ``release``, which must be refused with nothing written: (exit status, error object)."""
    bundle = w.root / "media" / "refused.bundle"
    before = snapshot(w.dev, w.release_dir)
    r = run_cli("export", release, "--to", "prod", "-o", bundle, "--json", home=w.dev, env=env)
    err = json.loads(r.stdout)["error"]
    assert "Traceback" not in r.stderr
    assert snapshot(w.dev, w.release_dir) == before and not bundle.exists()
    return r.returncode, err


def _refused(w: World, release: Path, env: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    status, err = _export_refused(w, release, env)
    # Export lints first and lists every problem (decision 570): the one here is its only error.
    assert (status, err["code"]) == (2, "release_lint_failed"), err
    [finding] = [f for f in err["details"] if f["severity"] == "error"]
    return {"code": finding["code"], "message": err["message"], "path": finding["path"], "error": err}


def _missing(w: World, release: Path, env: dict[str, str] | None = None,
             alone: bool = True) -> dict:  # type: ignore[type-arg]
    """Export refused because a value_from source is missing, and nothing else is wrong: the
    environment lacks the secret, so it is ``value_source_missing``, exit 1 (decision 710)."""
    status, err = _export_refused(w, release, env)
    assert (status, err["code"]) == (1, "value_source_missing"), err
    assert err["message"].count("value_from.") == (1 if alone else 2), err["message"]  # each key path once
    assert err["message"].count("nothing was exported") == 1
    return err


def test_an_unset_or_empty_environment_variable_is_value_source_missing_naming_the_variable_and_the_fix_once(
        w: World) -> None:
    release = _release(w, "env.toml", 'value_from = { env = "ACME_DB_PASSWORD_UNSET" }')
    for env in (None, {"ACME_DB_PASSWORD_UNSET": ""}):
        err = _missing(w, release, env)
        assert err["message"].startswith(f"{release}: variables[2] (Acme.Db.Password).value_from.env: "), err
        assert ("is not set" if env is None else "is empty") in err["message"]
        assert err["message"].count("ACME_DB_PASSWORD_UNSET") == 2  # the problem and the one fix
        assert err["details"] == {"field": "variables[2].value_from.env", "env": "ACME_DB_PASSWORD_UNSET"}


def test_a_missing_or_empty_file_is_value_source_missing_naming_it(w: World) -> None:
    release = _release(w, "file.toml", 'value_from = { file = "secrets/none.txt" }')
    err = _missing(w, release)
    assert "secrets/none.txt does not exist" in err["message"], err
    assert err["message"].count("relative to the release file's folder") == 1
    (w.release_dir / "secrets").mkdir()
    (w.release_dir / "secrets" / "none.txt").write_text("\n")
    err = _missing(w, release)
    assert "is empty" in err["message"], err


def test_several_missing_sources_name_the_first_and_count_the_others(w: World) -> None:
    release = _release(w, "two.toml", 'value_from = { env = "ACME_DB_PASSWORD_UNSET" }')
    text = release.read_text()
    assert 'value = "acme_dev"' in text
    release.write_text(text.replace('value = "acme_dev"', 'value_from = { env = "ACME_USER_UNSET" }\nsensitive = true',
                                    1))
    err = _missing(w, release, alone=False)
    assert err["message"].startswith(f"{release}: variables[1] (Acme.Db.Name).value_from.env: the environment "
                                     "variable ACME_USER_UNSET is not set"), err
    assert "1 more value_from source(s) missing too: variables[2].value_from.env (" in err["message"], err


def test_a_missing_source_beside_an_error_of_the_file_is_release_lint_failed_listing_both(w: World) -> None:
    release = _release(w, "both.toml", 'value_from = { env = "ACME_DB_PASSWORD_UNSET" }')
    release.write_text(release.read_text().replace('value = "acme_dev"', 'value_from = { env = "HOME" }', 1))
    status, err = _export_refused(w, release)
    assert (status, err["code"]) == (2, "release_lint_failed"), err
    codes = sorted(f["code"] for f in err["details"] if f["severity"] == "error")
    assert codes == ["invalid_release", "value_source_missing"], err


def test_lint_gives_a_missing_source_its_key_path_problem_and_fix_once(w: World) -> None:
    release = _release(w, "lint.toml", 'value_from = { env = "ACME_DB_PASSWORD_UNSET" }')
    r = run_cli("lint", release, "--json", home=None)
    assert r.returncode == 2, r.stderr
    [finding] = [f for f in json.loads(r.stdout)["findings"] if f["severity"] == "error"]
    assert finding["code"] == "value_source_missing" and finding["path"] == "variables[2].value_from.env"
    assert finding["message"] == "variable Acme.Db.Password: the environment variable ACME_DB_PASSWORD_UNSET is not set"
    assert finding["suggestion"].startswith("Set ACME_DB_PASSWORD_UNSET in the environment of this command")
    assert "nothing was exported" not in json.dumps(finding)
    text = run_cli("lint", release, home=None).stdout
    assert text.count("ACME_DB_PASSWORD_UNSET") == 2 and text.count("value_from.env") == 1
    [line] = [t for t in text.splitlines() if "[value_source_missing]" in t]
    assert line.endswith("is not set (Set ACME_DB_PASSWORD_UNSET in the environment of this command, from your "
                         "secret store, or use value_from = { file = \"PATH\" })"), line
    depth = [0]
    for c in line:  # review v30-12 N6: no parentheses inside parentheses
        depth.append(depth[-1] + (c == "(") - (c == ")"))
    assert max(depth) == 1 and depth[-1] == 0, line


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
