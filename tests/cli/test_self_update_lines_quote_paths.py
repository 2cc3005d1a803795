"""self-update's "run PATH" and "already current: PATH" are commands to paste: the path is quoted for
the shell, so a home with a space in it still runs (review newuser35 finding 2).

The install itself is another test's (tests/selfupdate); here ``self_update`` answers with what it
would report, and the line printed from it is checked."""

from __future__ import annotations

import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import cli_in_process


def _result(home: Path, *, already: bool) -> SimpleNamespace:
    return SimpleNamespace(current=home / "self" / "current", venv=home / "self" / "venvs" / "0.8.1-abc",
                           previous=home / "self" / "previous", version="0.8.1", already=already,
                           dry_run=False, downgrade_from=None, wheels=(), previous_gone=None, previous_again=None)


@pytest.mark.parametrize("already", [False, True], ids=["installed", "already_current"])
def test_the_bundlekit_to_run_is_quoted_for_the_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      already: bool) -> None:
    home = tmp_path / "a b" / "prod"
    assert cli_in_process("init", "--zone", "prod", home=home).returncode == 0
    monkeypatch.setattr("bundlekit.cli.self_cmds.self_update",
                        lambda zone, bundle, **kw: _result(home, already=already))
    bundle = tmp_path / "bk.bundle"
    bundle.write_bytes(b"")
    done = cli_in_process("self-update", bundle, home=home)
    assert done.returncode == 0, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    tail = first.split(": run ", 1)[1] if not already else first.split("already current: ", 1)[1]
    assert shlex.split(tail) == [str(home / "self" / "current" / "bin" / "bundlekit")]


def test_export_self_names_the_bundle_to_self_update_quoted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The "there: bundlekit self-update BUNDLE --home DIR" line, with a bundle named with a space."""
    home = tmp_path / "dev"
    assert cli_in_process("init", "--zone", "dev", home=home).returncode == 0
    out = tmp_path / "bk 0.8.1.bundle"
    manifest = SimpleNamespace(release={"version": "0.8.1"}, packages=[], sequence=1, destination=SimpleNamespace(name="prod"),
                               expires=2_000_000_000)
    result = SimpleNamespace(manifest=manifest, path=out, size=1, digest="0" * 64)
    monkeypatch.setattr("bundlekit.cli.self_cmds.export_self", lambda *a, **kw: SimpleNamespace(result=result, wheels=[1]))
    done = cli_in_process("export-self", "--to", "prod", "-o", out, home=home)
    assert done.returncode == 0, done.stdout + done.stderr
    [there] = [line for line in done.stdout.splitlines() if line.startswith("  there: ")]
    assert shlex.split(there[len("  there: "):]) == ["bundlekit", "self-update", out.name, "--home", "DIR"]
