"""A sensitive value is never quoted by the checks that read a release file before lint does
(`releases create` reads the file first) nor by lint's JSON member check, whether the value is
written inline or read by ``value_from`` from a file or the environment (review v31-att NEW-1,
NEW-2, NEW-3: each printed a step or member name taken from the secret)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

HEAD = '''[project]
name = "Hid"

[release]
version = "1.0.0"
channel = "Default"

[[steps]]
name = "First"
type = "script"
syntax = "bash"
roles = ["web"]
script = 'echo "#{Sec}"'

[[variables]]
name = "Plain"
value = "hello"
'''
CANARY = "Qz7Wv9Kp-hunter2"


def _release(tmp_path: Path, how: str) -> tuple[Path, dict[str, str]]:
    secret = "hunter2-#{Octopus.Action[" + CANARY + "].Output.X}"
    env: dict[str, str] = {}
    if how == "inline":
        sec = f'name = "Sec"\nsensitive = true\nvalue = "{secret}"\n'
    elif how == "file":
        (tmp_path / "sec.txt").write_text(secret)
        sec = 'name = "Sec"\nsensitive = true\nvalue_from = { file = "sec.txt" }\n'
    else:
        env["HID_SECRET"] = secret
        sec = 'name = "Sec"\nsensitive = true\nvalue_from = { env = "HID_SECRET" }\n'
    path = tmp_path / "release.toml"
    path.write_text(HEAD + "\n[[variables]]\n" + sec)
    return path, env


@pytest.mark.parametrize("how", ["inline", "file", "env"])
def test_a_sensitive_value_naming_an_unknown_step_is_refused_without_quoting_it(tmp_path: Path, how: str) -> None:
    release, env = _release(tmp_path, how)
    assert run_cli("init", "--zone", "dev", home=tmp_path / "dev").returncode == 0
    for args in (["releases", "create", release], ["releases", "create", release, "--json"],
                 ["export", release, "--to", "prod", "-o", tmp_path / "x.bundle"],
                 ["export", release, "--to", "prod", "-o", tmp_path / "x.bundle", "--json"],
                 ["lint", release], ["lint", release, "--json"]):
        r = run_cli(*args, home=tmp_path / "dev" if args[0] != "lint" else None, env=env)
        # lint reads no value_from source (the value exists at export only): it may pass those
        assert r.returncode != 0 or (args[0] == "lint" and how != "inline"), (args, r.stdout, r.stderr)
        shown = r.stdout + r.stderr
        assert "Qz7Wv9Kp" not in shown and "hunter2" not in shown, (args, shown)
        if args[0] == "releases" and "--json" in args:
            assert json.loads(r.stdout)["error"]["code"] in ("unknown_output_step", "release_lint_failed")
    assert not (tmp_path / "x.bundle").exists()


def test_a_sensitive_value_reading_a_missing_json_member_is_not_quoted_even_when_the_file_writes_it_elsewhere(
        tmp_path: Path) -> None:
    release = tmp_path / "release.toml"
    release.write_text(HEAD + '''
[[variables]]
name = "Cfg"
value = "{\\"Host\\": \\"h\\", \\"Port\\": 1}"

# value = "#{Cfg.Qz7Wv9Kp}"
[[variables]]
name = "Sec"
sensitive = true
value = "#{Cfg.Qz7Wv9Kp}"
''')
    r = run_cli("lint", release, "--json")
    found = [f for f in json.loads(r.stdout)["findings"] if f["code"] == "json_member_missing"]
    assert found, r.stdout
    assert "Qz7Wv9Kp" not in r.stdout + r.stderr
    assert any("the sensitive value of 'Sec'" in f["message"] for f in found), found
