"""Every command and group takes --home (finding 15.1): the README says "Every command takes
--home DIR", and `inspect --home ./prod` or `deployments --home ./dev list` answered "No such
option '--home'. Did you mean '--help'?".
"""

from __future__ import annotations

from pathlib import Path

import click

from bundlekit.cli import cli
from tests.conftest import cli_in_process, run_cli


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        out.append((path + (name,), cmd))
        if isinstance(cmd, click.Group):
            out += _commands(cmd, path + (name,))
    return out


def test_every_command_and_group_accepts_home_before_or_after_its_subcommand(tmp_path: Path) -> None:
    home = str(tmp_path / "zone")
    checked = 0
    for path, cmd in _commands(cli):
        r = cli_in_process(*path, "--help", "--home", home)
        assert r.returncode == 0, (path, r.stdout + r.stderr)
        if isinstance(cmd, click.Group) and cmd.commands:
            first = sorted(cmd.commands)[0]
            r = cli_in_process(*path, "--home", home, first, "--help")
            assert r.returncode == 0 and "No such option" not in r.stderr, (path, r.stdout + r.stderr)
        checked += 1
    assert checked > 60


def test_home_goes_to_the_subcommand_and_a_zoneless_command_says_it_ignores_it(tmp_path: Path) -> None:
    home = tmp_path / "dev"
    assert run_cli("init", "--zone", "dev", home=home).returncode == 0
    for args in (["deployments", "--home", str(home), "list"], ["--home", str(home), "deployments", "list"]):
        r = run_cli(*args)
        assert (r.returncode, r.stdout.strip()) == (0, "no deployments yet"), args
    card = tmp_path / "dev.card"
    assert run_cli("identity", "-o", card, home=home).returncode == 0
    r = run_cli("media", "check", tmp_path, "--home", home)
    assert "`bundlekit media check` works on files and uses no zone: --home is ignored" in r.stderr
    assert "No such option" not in r.stderr
