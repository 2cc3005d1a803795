"""The CLI contract of zones, trust, export, inspect and verify, through real subprocesses."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.conftest import RELEASE, ROOT, run_cli


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    t = tmp_path_factory.mktemp("cli")
    dev, prod = t / "dev", t / "prod"
    for name, home in (("dev", dev), ("prod", prod)):
        r = run_cli("init", "--zone", name, home=home)
        assert r.returncode == 0, r.stderr
        r = run_cli("identity", "-o", t / f"{name}.card", home=home)
        assert r.returncode == 0, r.stderr
    assert run_cli("trust", "add", t / "prod.card", home=dev).returncode == 0
    assert run_cli("trust", "add", t / "dev.card", home=prod).returncode == 0
    r = run_cli("export", RELEASE, "--to", "prod", "-o", t / "a.bundle", "--json", home=dev)
    assert r.returncode == 0, r.stderr
    return {"t": t, "dev": dev, "prod": prod, "bundle": t / "a.bundle"}


def test_version_and_python_m_work() -> None:
    r = run_cli("--version")
    assert r.returncode == 0 and "bundlekit" in r.stdout


def test_every_command_help_has_an_example() -> None:
    for cmd in (["init"], ["identity"], ["trust", "add"], ["trust", "list"], ["trust", "remove"], ["export"],
                ["inspect"], ["verify"]):
        r = run_cli(*cmd, "--help")
        assert r.returncode == 0 and "Example:" in r.stdout and "bundlekit " in r.stdout, cmd


def test_private_key_files_are_owner_only(world: dict[str, Path]) -> None:
    for name in ("signing.key", "sealing.key"):
        mode = stat.S_IMODE((world["dev"] / "keys" / name).stat().st_mode)
        assert mode == 0o600


def test_init_refuses_existing_zone(world: dict[str, Path]) -> None:
    before = (world["dev"] / "keys" / "signing.key").read_bytes()
    r = run_cli("init", "--zone", "again", home=world["dev"])
    assert r.returncode == 1 and "zone_exists" in r.stderr
    assert (world["dev"] / "keys" / "signing.key").read_bytes() == before


def test_home_from_environment_variable(world: dict[str, Path]) -> None:
    r = run_cli("trust", "list", "--json", env={"BUNDLEKIT_HOME": str(world["prod"])})
    assert r.returncode == 0
    assert [z["name"] for z in json.loads(r.stdout)["zones"]] == ["dev"]


def test_altered_card_refused_by_trust_add(world: dict[str, Path], tmp_path: Path) -> None:
    card = (world["t"] / "dev.card").read_bytes()
    bad = tmp_path / "bad.card"
    bad.write_bytes(card.replace(b"name: dev", b"name: dew"))
    r = run_cli("trust", "add", bad, "--json", home=tmp_path / "nohome")
    assert r.returncode == 1
    assert json.loads(r.stdout)["error"] == {"code": "invalid_card", "aliases": ["card_invalid"],
                                             "message": f"{bad}: the card's self-signature does not match its "
                                                        "contents; it was altered. Ask the zone's operators for a "
                                                        "fresh card."}


def test_inspect_needs_no_keys_and_hides_secrets(world: dict[str, Path]) -> None:
    r = run_cli("inspect", world["bundle"], "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["kind"] == "release" and info["verified"] is False
    pw = next(v for v in info["variables"] if v["name"] == "Acme.Db.Password")
    assert pw["value"] == "<sealed>" and "s3cret-value" not in r.stdout
    assert info["placeholders"][0]["name"] == "Acme.ApiKey"
    assert len(info["signers"]) == 1
    human = run_cli("inspect", world["bundle"])
    assert "Acme.Web" in human.stdout and "<sealed>" in human.stdout
    # a package file's hash is its sha256, as show and --json name it; digest is the bundle's (review v33-15u F1)
    package = info["packages"][0]
    line = next(x for x in human.stdout.splitlines() if x.strip().startswith(f"package {package['id']}"))
    assert f"sha256 {package['sha256'][:16]}..." in line and "digest" not in line


def test_verify_ok_and_json(world: dict[str, Path]) -> None:
    r = run_cli("verify", world["bundle"], "--json", home=world["prod"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["verified"] is True


def test_verify_tampered_exits_3_with_json_error(world: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(world["bundle"].read_bytes())
    data[len(data) // 2] ^= 0x40
    bad = tmp_path / "bad.bundle"
    bad.write_bytes(bytes(data))
    r = run_cli("verify", bad, "--json", home=world["prod"])
    assert r.returncode == 3
    err = json.loads(r.stdout)["error"]
    assert err["code"] and err["message"] and "Traceback" not in r.stderr


def test_verify_in_source_zone_is_wrong_destination_or_untrusted(world: dict[str, Path]) -> None:
    r = run_cli("verify", world["bundle"], "--json", home=world["dev"])
    assert r.returncode == 3
    assert json.loads(r.stdout)["error"]["code"] in {"untrusted", "wrong_destination"}


def test_usage_error_exits_2() -> None:
    r = run_cli("export")
    assert r.returncode == 2


def test_missing_home_is_a_clear_error(tmp_path: Path) -> None:
    r = run_cli("trust", "list", home=tmp_path / "missing")
    assert r.returncode == 1 and "not a zone home" in r.stderr and "Traceback" not in r.stderr


def test_garbage_file_is_refused_cleanly(world: dict[str, Path], tmp_path: Path) -> None:
    junk = tmp_path / "junk.bundle"
    junk.write_bytes(b"hello world" * 10)
    for args in (("inspect", junk), ("verify", junk)):
        r = run_cli(*args, "--json", home=world["prod"] if args[0] == "verify" else None)
        assert r.returncode == 3 and json.loads(r.stdout)["error"]["code"] == "not_a_bundle"


def test_a_folder_is_refused_with_the_commands_that_take_one(world: dict[str, Path], tmp_path: Path) -> None:
    """Review v33-15u F7: `verify STICK` said only that a folder is not a bundle file, while
    `import STICK` takes a folder of volumes."""
    for command in ("inspect", "verify"):
        r = run_cli(command, tmp_path, "--json", home=world["prod"] if command == "verify" else None)
        err = json.loads(r.stdout)["error"]
        assert r.returncode == 3 and err["code"] == "not_a_bundle", r.stdout
        assert f"bundlekit import {tmp_path} --dry-run" in err["message"] and "media join" in err["message"]


def test_trust_remove_then_verify_untrusted(world: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    prod2 = tmp_path / "prod2"
    shutil.copytree(world["prod"], prod2)
    assert run_cli("trust", "remove", "dev", home=prod2).returncode == 0
    r = run_cli("verify", world["bundle"], "--json", home=prod2)
    assert r.returncode == 3 and json.loads(r.stdout)["error"]["code"] == "untrusted"


def test_every_command_in_the_tree_has_help_with_an_example() -> None:
    import click

    from bundlekit.cli import cli

    def walk(cmd: click.Command, path: list[str]) -> list[list[str]]:
        out = [path]
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                out += walk(sub, path + [name])
        return out

    paths = [p for p in walk(cli, []) if p]
    assert len(paths) > 30
    for path in paths:
        cmd: click.Command = cli
        for name in path:
            cmd = cmd.commands[name]  # type: ignore[attr-defined]
        assert cmd.epilog and "bundlekit " in cmd.epilog, f"`bundlekit {' '.join(path)} --help` lacks an example"


def _commands() -> list[tuple[list[str], object]]:
    import click

    from bundlekit.cli import cli

    def walk(cmd: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
        out = [(path, cmd)]
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                out += walk(sub, path + [name])
        return out

    return [(p, c) for p, c in walk(cli, []) if p]


@pytest.mark.parametrize("columns", [60, 80, 200])
def test_every_example_in_help_is_one_copyable_line_at_any_width(columns: int) -> None:
    """The reviewer's example: at COLUMNS=200 `deploy --help` broke `--evidence staging-` /
    `receipt.bundle` over two lines (and init, join, zone migrate-state alike). Every example
    line must come out whole, on a line of its own, under "Example:"."""
    from click.testing import CliRunner

    from bundlekit.cli import cli

    for path, cmd in _commands():
        out = CliRunner().invoke(cli, [*path, "--help"], terminal_width=columns, env={"COLUMNS": str(columns)}).output
        shown = out[out.index("\nExample:\n"):].splitlines()[2:]
        lines = [line.strip() for line in cmd.epilog.strip().splitlines() if line.strip()]  # type: ignore[attr-defined]
        assert [line.strip() for line in shown if line.strip()] == lines, (path, columns)
        assert all(line.split()[0] in ("bundlekit", "sudo", "echo") for line in lines), path


@pytest.mark.parametrize("vector, version", [("valid-release", "1.0"), ("valid-release-lifecycle", "1.1"),
                                             ("valid-delta-release", "1.2")])
def test_inspect_shows_the_format_minor_version_the_bundle_was_written_with(vector: str, version: str) -> None:
    """The reviewer's example: inspect said only `bundlekit/1`, hiding which readers can use a
    bundle (a 1.1 reader refuses a 1.2 delta bundle)."""
    from tests.cli.operator_world import bk

    path = ROOT / "fixtures" / "vectors" / f"{vector}.bundle"
    shown = bk("inspect", path)
    assert shown.exit_code == 0 and shown.stdout.startswith(f"release bundle, format {version} (bundlekit/1;")
    as_json = json.loads(bk("inspect", path, "--json").stdout)
    assert (as_json["format"], as_json["format_version"]) == ("bundlekit/1", version)
