"""One output convention: --json everywhere, usage errors as JSON, UTC dates with ages, names as
written, one name per hash, no temporary paths, and options that say where a concept lives."""

from __future__ import annotations

import json
import re
import shlex
import time
from pathlib import Path

import click
import pytest

from bundlekit.cli import cli
from tests.cli.operator_world import World, bk, ok, ok_json, world
from tests.conftest import snapshot


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> World:
    return world(tmp_path_factory.mktemp("convention"))


def _leaves(group: click.Group, path: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out += _leaves(cmd, f"{path}{name} ")
        else:
            out.append((f"{path}{name}", cmd))
    return out


def test_every_command_has_json() -> None:
    missing = [name for name, cmd in _leaves(cli) if not any("--json" in p.opts for p in cmd.params
                                                              if isinstance(p, click.Option))]
    assert missing == []


def test_usage_errors_stay_on_stderr_without_json() -> None:
    r = bk("deploy", "acme-web")
    assert r.exit_code == 2 and r.stdout == "" and "Missing argument 'VERSION'" in r.stderr


def test_deploy_channel_says_where_the_channel_lives() -> None:
    r = bk("deploy", "acme-web", "1.4.0", "--environment", "Production", "--channel", "beta", "--json")
    assert r.exit_code == 2
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "usage" and err["details"]["option"] == "--channel"
    assert "release file ([release] channel)" in err["message"] and "Did you mean" not in err["message"]


@pytest.mark.parametrize("argv, expect", [
    (["export", "r.toml", "--to", "prod", "-o", "x", "--environment", "Production"], "the zone that imports it"),
    (["deploy", "p", "1", "--environment", "P", "--target", "web-01"], "bundlekit targets list"),
    (["deploy", "p", "1", "--environment", "P", "--variable", "A=1"], "bundlekit variables set"),
    (["variables", "set", "p", "n", "v", "--action", "x"], "--environment, --role, --machine"),
    (["export", "r.toml", "--to", "prod", "-o", "x", "--tenant", "Acme"], "bundlekit deploy PROJECT VERSION"),
    (["deploy", "p", "1", "--environment", "P", "--version", "2"], "second argument"),
    # review v33-15u F2: concepts bundlekit has under another name, and one it does not have
    (["deploy", "p", "1", "--environment", "P", "--update-variables"], "bundlekit releases update-variables"),
    (["deploy", "p", "1", "--environment", "P", "--window-size", "1"], "window_size = N"),
    (["deploy", "p", "1", "--environment", "P", "--guided-failure"], "no guided failure"),
    (["deploy", "p", "1", "--environment", "P", "--deploy-at", "tomorrow"], "scheduler"),
    (["deploy", "p", "1", "--environment", "P", "--timeout", "60"], "timeout = SECONDS"),
])
def test_options_for_concepts_kept_elsewhere_explain_where(argv: list[str], expect: str) -> None:
    r = bk(*argv)
    assert r.exit_code == 2 and expect in r.stderr


def test_identity_json_describes_the_card(w: World, tmp_path: Path) -> None:
    info = ok_json("identity", "-o", tmp_path / "d.card", home=w.dev)
    assert info["zone"] == "dev" and info["path"] == str(tmp_path / "d.card") and (tmp_path / "d.card").is_file()
    inline = ok_json("identity", "-o", "-", home=w.dev)
    assert inline["card"] == (tmp_path / "d.card").read_text()


def test_render_and_render_config_json(tmp_path: Path) -> None:
    out = json.loads(bk("render", "-", "--var", "Name=x", "--allow-missing", "--json", input="Hi #{Name} #{Other}").stdout)
    assert out == {"text": "Hi x #{Other}", "missing": ["Other"], "problems": [], "sensitive": False}
    cfg = tmp_path / "app.json"
    cfg.write_text('{"Logging": {"Level": "Info"}}')
    out = json.loads(bk("render-config", cfg, "--var", "Logging:Level=Warning", "--json").stdout)
    assert json.loads(out["text"]) == {"Logging": {"Level": "Warning"}} and out["format"] == "json"


def test_invalid_release_file_is_a_usage_error_and_changes_nothing(w: World, tmp_path: Path) -> None:
    bad = tmp_path / "release.toml"
    bad.write_text("[project\nname = 'x'\n")
    before = snapshot(w.dev)
    r = bk("export", bad, "--to", "prod", "-o", tmp_path / "x.bundle", "--json", home=w.dev)
    assert r.exit_code == 2
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "release_lint_failed" and str(bad) in err["message"]  # lint's, listing all (decision 570)
    assert [f["code"] for f in err["details"]] == ["invalid_toml"]
    assert snapshot(w.dev) == before and not (tmp_path / "x.bundle").exists()


_RAW_EPOCH = re.compile(r"\b1[6-9]\d{8}\b")  # Unix seconds from 2020 to 2033
_UTC_AGE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \((just now|\d+[mhd] ago|in \d+(m|h|d|mo))\)")


def test_human_output_shows_utc_dates_with_ages_never_unix_seconds(w: World, tmp_path: Path) -> None:
    home = tmp_path / "prod"
    import shutil
    shutil.copytree(w.prod, home)
    texts = [ok("inspect", w.bundle), ok("verify", w.bundle, home=home), ok("import", w.bundle, home=home),
             ok("releases", "list", home=home), ok("show", "acme-web", home=home)]
    for text in texts:
        assert not _RAW_EPOCH.search(text), text
    assert _UTC_AGE.search(texts[0]) and _UTC_AGE.search(texts[1]) and _UTC_AGE.search(texts[3])
    expired = ok_json("inspect", w.bundle)["expires"]
    assert isinstance(expired, int) and expired > time.time()  # --json keeps the numbers


def test_import_plan_shows_names_as_written(w: World, tmp_path: Path) -> None:
    import shutil
    home = tmp_path / "prod"
    shutil.copytree(w.prod, home)
    text = ok("import", w.bundle, "--dry-run", home=home)
    assert "'Acme.Db.Password'" in text and "'Deploy web'" in text and "'Acme.Web'" in text
    assert "acme.db.password" not in text and "deploy web" not in text
    plan = ok_json("import", w.bundle, "--dry-run", home=home)
    labels = {c["label"] for c in plan["merge"]["changes"]}
    assert "'Acme.ApiKey'" in labels


def test_a_carried_bundle_is_named_by_the_same_digest_as_its_export(w: World, tmp_path: Path) -> None:
    exported = ok_json("inspect", w.bundle)["digest"]
    split = ok_json("media", "split", w.bundle, "--volume-size", "4K", "--out", tmp_path / "v")
    assert split["digest"] == exported and len(split["sha256"]) == 64 and split["sha256"] != exported
    joined = ok_json("media", "join", tmp_path / "v", "-o", tmp_path / "j.bundle")
    assert joined["digest"] == exported
    shown = ok("media", "split", w.bundle, "--volume-size", "4K", "--out", tmp_path / "v2")
    # the file's hash is called sha256 as show, inspect and --json call it; digest is the bundle's (v33-15u F1)
    assert f"bundle digest {exported}" in shown and f"sha256 {split['sha256']}" in shown and "SHA-256 " not in shown


def test_import_from_volumes_never_shows_a_temporary_path(w: World, tmp_path: Path) -> None:
    import shutil
    home = tmp_path / "prod"
    shutil.copytree(w.prod, home)
    vols = tmp_path / "stick"
    ok("media", "split", w.bundle, "--volume-size", "4K", "--out", vols)
    first = ok_json("import", vols, home=home)
    again = ok("import", vols, home=home)
    assert first["bundle"] is None and first["volume_folders"] == [str(vols)]
    assert again.startswith(f"the volumes in {vols}: already imported")
    for text in (json.dumps(first), again):
        assert "bundlekit-join-" not in text and "/tmp/" not in text.replace(str(tmp_path), "")
    (tmp_path / "other").mkdir()
    ok("init", "--zone", "other", home=tmp_path / "other" / "home")
    r = bk("import", vols, "--json", home=tmp_path / "other" / "home")  # refused: untrusted
    assert r.exit_code == 3 and "bundlekit-join-" not in r.stdout and f"the volumes in {vols}" in r.stdout


def test_serve_json_prints_one_line_with_the_url_once_it_listens(w: World) -> None:
    import os
    import subprocess
    import sys
    import urllib.request
    env = dict(os.environ)
    env.pop("BUNDLEKIT_HOME", None)
    proc = subprocess.Popen([sys.executable, "-m", "bundlekit", "serve", "--home", str(w.dev), "--port", "0",
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["url"] == f"http://127.0.0.1:{ready['port']}/" and ready["port"] > 0
        with urllib.request.urlopen(ready["url"], timeout=30) as page:
            assert page.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_placeholder_without_a_value_names_the_command_that_binds_it(w: World, tmp_path: Path) -> None:
    """The reviewer's example: "a placeholder with no value in this zone: bind a value for it"
    named no command. The hint names it, with the value on stdin for a sensitive placeholder,
    and running exactly that command is what lets the deployment start."""
    import shutil

    home = tmp_path / "prod"
    shutil.copytree(w.prod, home)
    ok("import", w.bundle, home=home)
    r = bk("deploy", "acme-web", "1.4.0", "--environment", "Production", "--dry-run", "--json", home=home)
    err = json.loads(r.stdout)["error"]
    assert (r.exit_code, err["code"]) == (5, "preflight_unresolved_variables")
    command = re.search(r"bind one with `(bundlekit variables set [^`]*)`", err["message"])
    assert command is not None and command.group(1) == ("bundlekit variables set acme-web Acme.ApiKey - --sensitive "
                                                   f"--home {shlex.quote(str(home))}")  # decision 964
    empty = bk(*shlex.split(command.group(1))[1:], "--json", home=home, input="")
    error = json.loads(empty.stdout)["error"]  # decision 540: an empty value is refused, never stored
    assert (empty.exit_code, error["code"]) == (1, "value_missing") and "standard input" in error["message"]
    done = bk(*shlex.split(command.group(1))[1:], home=home, input="k-from-stdin\n")
    assert done.exit_code == 0 and "sealed at rest" in done.stdout
    ok("deploy", "acme-web", "1.4.0", "--environment", "Production", "--dry-run", home=home)
    assert b"k-from-stdin" not in b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
