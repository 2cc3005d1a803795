"""What a command's audit entries name as its object (cli/common.py ``audited_object``): its
arguments and the options that name an object, never a value, so a secret given the old way (on
the command line) still never reaches the audit trail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click

from bundlekit.cli import cli
from bundlekit.cli.common import OBJECT_OPTIONS, VALUE_ARGUMENTS, audited_object
from bundlekit.format.audit import decode_body, object_text, shown_object
from bundlekit.zone import audit
from bundlekit.zone.home import open_zone
from tests.conftest import run_cli

#: Every argument name a command has today, each reviewed as naming an object (a project, a file,
#: a target...) and never a value. A new argument must be added here or to VALUE_ARGUMENTS.
OBJECT_ARGUMENTS = frozenset({"address", "backup", "bundle", "card", "deployment_id", "dirs", "file", "files", "key_id", "keys",
                              "name", "names", "paths", "policy_file", "project", "public_key", "release_file",
                              "source", "step", "version"})


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


def test_every_argument_is_reviewed_as_an_object_or_a_value() -> None:
    found = {p.name for _, c in _commands(cli) for p in c.params if isinstance(p, click.Argument)}
    assert sorted(found - OBJECT_ARGUMENTS - VALUE_ARGUMENTS) == []


def test_a_sensitive_value_given_on_the_command_line_is_not_in_the_object() -> None:
    command = cli.commands["variables"].commands["set"]  # type: ignore[attr-defined]
    ctx = command.make_context("set", ["acme-web", "Acme.ApiKey", "s3cret-canary", "--sensitive",
                                       "--environment", "Production"])
    assert audited_object(ctx) == {"project": "acme-web", "name": "Acme.ApiKey", "sensitive": True,
                                   "environment": ["Production"], "space": "Default"}
    assert "s3cret-canary" not in repr(audited_object(ctx))


def test_options_that_carry_values_or_files_are_not_objects() -> None:
    assert not OBJECT_OPTIONS & {"from_file", "password_file", "identity_file", "var_pairs", "variables_file",
                                 "key_file", "reason", "value"}


def test_listings_type_an_entry_s_numbers_and_flags_and_the_signed_bodies_stay_as_written(tmp_path: Path) -> None:
    """Review v30-12 N4, decision 792: `retention set --keep 3` is listed with keep_releases the
    number 3 (JSON) and flags as true/false in text, never Python's True; the stored bodies keep
    the text they were signed with, and the trail still verifies."""
    home = tmp_path / "prod"
    for args in (["init", "--zone", "prod"], ["retention", "set", "--keep", "3"], ["retention", "set", "--keep-all"]):
        done = run_cli(*args, home=home)
        assert done.returncode == 0, done.stderr
    listed = json.loads(run_cli("audit", "--json", home=home).stdout)["entries"]
    objects = [e["object"] for e in listed if e["command"] == "retention set"]
    assert [(o.get("keep_releases"), o.get("keep_all")) for o in objects] == [(3, None), (None, True)]
    assert type(objects[0]["keep_releases"]) is int and objects[0]["space"] == "Default"
    text = run_cli("audit", home=home).stdout
    assert "keep_releases=3 space=Default" in text and "keep_all=true space=Default" in text, text
    assert "True" not in text
    zone = open_zone(home)
    try:
        stored = [decode_body(s.body, s.seq).object for s in audit.entries(zone.db)]
    finally:
        zone.close()
    assert [o.get("keep_releases") for o in stored if "keep_releases" in o] == ["3"]  # as signed
    assert run_cli("audit", "--verify", home=home).returncode == 0


def test_an_object_shows_each_kind_of_value_one_way() -> None:
    obj = {"project": "acme-web", "sensitive": True, "auto_prune": False, "roles": ["db", "web"],
           "keep_days": "30", "name": "007"}
    assert shown_object(obj) == {"project": "acme-web", "sensitive": True, "auto_prune": False,
                                 "roles": ["db", "web"], "keep_days": 30, "name": "007"}
    assert object_text(obj) == "project=acme-web sensitive=true auto_prune=false roles=db,web keep_days=30 name=007"
    assert shown_object({"keep_days": "3x"}) == {"keep_days": "3x"}  # never guessed: shown as stored
