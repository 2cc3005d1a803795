"""The CLI imports a command's module only when that command is used, and its registry is whole.

``bundlekit --version`` and ``bundlekit --help`` load no command module and no workflow layer;
``bundlekit inspect --help`` loads the module of ``inspect`` and no other command's. Which
modules a run loaded is read from ``sys.modules`` of the real CLI run in a subprocess (an
``atexit`` hook writes them to a file), never from a clock. The registry
(``bundlekit/cli/__init__.py``, ``COMMANDS``) names every command a module defines, each entry's
modules define its command, and its short help is the one the command's own help gives.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

import bundlekit.cli
from bundlekit.cli import COMMANDS, cli

#: Runs the CLI as ``python -m bundlekit`` does, then writes the names in sys.modules to argv[1].
WRAPPER = """
import atexit, runpy, sys
out = sys.argv[1]
sys.argv = ["bundlekit"] + sys.argv[2:]
atexit.register(lambda: open(out, "w").write("\\n".join(sorted(sys.modules))))
runpy.run_module("bundlekit", run_name="__main__", alter_sys=True)
"""

#: Prints every command path (``zone backup``) reachable when only the registry's modules are loaded.
WRAPPER_PATHS = """
import click
from bundlekit.cli import cli
def paths(group, prefix=""):
    for name, command in sorted(group.commands.items()):
        print(prefix + name)
        if isinstance(command, click.Group):
            paths(command, prefix + name + " ")
paths(cli)
"""

#: Packages no run that only prints the version, the help or a command's help needs.
WORKFLOWS = ("bundlekit.zone", "bundlekit.export", "bundlekit.importer", "bundlekit.deploy", "bundlekit.receipt",
             "bundlekit.transport", "bundlekit.dashboard", "bundlekit.retention", "bundlekit.selfupdate")
#: Third-party packages only some commands use.
HEAVY = ("cryptography", "jsonschema", "asyncssh", "psycopg", "rich", "zstandard", "nacl")
#: The modules that hold the command line's commands.
COMMAND_MODULES = sorted({m for entry in COMMANDS.values() for m in entry[0].split()})


def loaded(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    out = tmp_path / "modules.txt"
    r = subprocess.run([sys.executable, "-c", WRAPPER, str(out), *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r, set(out.read_text().split())


def under(modules: set[str], packages: tuple[str, ...]) -> set[str]:
    return {m for m in modules if any(m == p or m.startswith(p + ".") for p in packages)}


@pytest.mark.parametrize("args", [("--version",), ("--help",)])
def test_version_and_help_load_no_command_and_no_workflow(tmp_path: Path, args: tuple[str, ...]) -> None:
    _, modules = loaded(tmp_path, *args)
    assert "bundlekit.cli" in modules  # the wrapper did run the CLI
    assert under(modules, tuple(f"bundlekit.cli.{m}" for m in COMMAND_MODULES)) == set()
    assert under(modules, WORKFLOWS + ("bundlekit.format", "bundlekit.trust")) == set()
    assert under(modules, HEAVY) == set()


def test_a_command_help_loads_that_command_module_only(tmp_path: Path) -> None:
    r, modules = loaded(tmp_path, "inspect", "--help")
    assert "Show what a bundle holds" in r.stdout
    commands = under(modules, tuple(f"bundlekit.cli.{m}" for m in COMMAND_MODULES))
    # egress_cmds (a receipt's contents, printed as `egress show` does) loads only for `inspect --contents`
    assert commands == {"bundlekit.cli.bundle_cmds"}
    # no deploy layer (zones are settled when one is opened) and no exporter (only `export` uses it)
    assert under(modules, ("asyncssh", "psycopg", "bundlekit.deploy", "bundlekit.export", "bundlekit.transport")) == set()


@pytest.mark.parametrize("command", ["init", "trust", "targets", "zone"])
def test_commands_load_the_heavy_libraries_only_when_they_use_them(tmp_path: Path, command: str) -> None:
    """jsonschema is imported by the first validation, the SSH client by an SSH target's
    connection, the PostgreSQL driver by a state that lives there: never for a command's help."""
    r, modules = loaded(tmp_path, command, "--help")
    assert "Usage:" in r.stdout
    assert under(modules, ("jsonschema", "asyncssh", "psycopg")) == set()


def test_inspect_of_a_bundle_loads_no_zone_deploy_or_export_layer(tmp_path: Path) -> None:
    """Reading a bundle without keys opens no zone: neither the deploy layer that settles a
    zone's interrupted deployments nor the exporter is loaded."""
    bundle = Path(__file__).resolve().parents[2] / "fixtures" / "vectors" / "valid-two-signatures.bundle"
    r, modules = loaded(tmp_path, "inspect", str(bundle))
    assert "release bundle" in r.stdout
    assert under(modules, ("bundlekit.deploy", "bundlekit.export", "asyncssh", "psycopg")) == set()


def test_an_export_loads_no_bundle_reader_relay_or_receipt_code(tmp_path: Path) -> None:
    """`export` shares its module with `inspect` and `verify`: what only they use (the bundle
    reader and verifier, relay hops, a receipt's contents and `egress show`'s printing) is not
    imported by an export, nor is the step runner whose script names lint checks, nor the readers
    shell completion uses (decision 880)."""
    from tests.conftest import RELEASE, make_zones

    zones = make_zones(tmp_path, pg=None)
    zones.close()
    out = tmp_path / "a.bundle"
    r, modules = loaded(tmp_path, "export", str(RELEASE), "--to", "prod", "-o", str(out), "--home",
                        str(zones.dev.home), "--quiet")
    assert out.is_file(), r.stderr
    assert "bundlekit.export.exporter" in modules  # the export did run
    assert under(modules, ("bundlekit.importer.verify", "bundlekit.format.relay", "bundlekit.receipt",
                           "bundlekit.cli.egress_cmds", "bundlekit.deploy", "bundlekit.runtime.step",
                           "bundlekit.runtime.scripts", "bundlekit.zone.targets", "asyncssh", "psycopg")) == set()


def test_help_lists_every_registered_command_with_the_help_the_command_gives(tmp_path: Path) -> None:
    r, _ = loaded(tmp_path, "--help")
    listing = r.stdout.split("Commands:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in listing if line.strip()] == sorted(COMMANDS)
    for line in listing:
        name, shown = line.split(None, 1)
        assert " ".join((cli.commands[name].help or "").split()).startswith(shown.removesuffix("...")), name


def test_every_entry_names_modules_that_define_its_command() -> None:
    for name, (modules, _) in sorted(COMMANDS.items()):
        cli.load(name)
        command = dict.get(cli.commands, name)
        assert isinstance(command, click.Command), name
        assert command.callback is not None and command.callback.__module__ == f"bundlekit.cli.{modules.split()[0]}"


def test_a_subcommand_added_by_a_second_module_is_there_when_its_group_runs(tmp_path: Path) -> None:
    """``zone backup`` lives in backup_cmds, ``zone migrate-state`` in node_cmds."""
    r, modules = loaded(tmp_path, "zone", "--help")
    assert {"bundlekit.cli.node_cmds", "bundlekit.cli.backup_cmds"} <= modules
    assert "backup" in r.stdout and "restore" in r.stdout and "migrate-state" in r.stdout


def test_every_command_a_module_defines_is_registered() -> None:
    for info in pkgutil.iter_modules(bundlekit.cli.__path__):
        importlib.import_module(f"bundlekit.cli.{info.name}")
    unregistered = set(dict.keys(cli.commands)) - set(COMMANDS)
    assert unregistered == set(), f"add {sorted(unregistered)} to COMMANDS in bundlekit/cli/__init__.py"


def paths(group: click.Group, prefix: str = "") -> list[str]:
    out = []
    for name, command in sorted(group.commands.items()):
        out.append(prefix + name)
        if isinstance(command, click.Group):
            out += paths(command, f"{prefix}{name} ")
    return out


def test_every_subcommand_a_module_adds_is_reached_through_the_registry() -> None:
    """A module adding subcommands to another module's group (``zone backup``) must be named in
    that group's entry, or the subcommand is missing when the group runs in a new process."""
    through_registry = subprocess.run([sys.executable, "-c", WRAPPER_PATHS], capture_output=True, text=True,
                                      timeout=120, check=True).stdout.splitlines()
    for info in pkgutil.iter_modules(bundlekit.cli.__path__):
        importlib.import_module(f"bundlekit.cli.{info.name}")
    assert through_registry == paths(cli)


@pytest.mark.parametrize("limit", range(30, 73))
def test_registry_short_help_reads_as_the_command_own_at_every_listing_width(limit: int) -> None:
    """click lays ``--help`` out at most 80 columns wide, so no command's short help is cut
    beyond 72 characters; a registry line that is the start of a long first sentence is cut
    there exactly as the whole help is."""
    for name, (_, short) in COMMANDS.items():
        assert click.Command(name, help=short).get_short_help_str(limit) == cli.commands[name].get_short_help_str(limit)


def test_the_commands_mapping_is_whole_when_walked() -> None:
    """Code walking ``cli.commands`` (the help and documentation checks) sees every command."""
    assert set(cli.commands) >= set(COMMANDS)
    assert all(isinstance(c, click.Command) for c in cli.commands.values())
