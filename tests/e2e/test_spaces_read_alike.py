"""Spaces as people read and type them, through the real CLI (review relayatk #1, #2, #9;
decision 943).

prod has spaces A and B; zone other is trusted in B and exports a project of space B. A refusal
in space B names B and every command it suggests carries `--space B`, so following it works;
names that read the same (other case, fullwidth, Cyrillic or Greek look-alikes) are one space to
`spaces add` and to `--space`; and a 100 000-character name comes back cut.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, cli_in_process, run_cli, snapshot
from tests.e2e.test_spaces import ok, refused, zones

CYRILLIC_A, GREEK_ALPHA, FULLWIDTH_A = "\u0410", "\u0391", "\uff21"
PAYMENTS_CYRILLIC_E = "Paym\u0435nts"
LONG = "x" * 100_000


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("spaces-read-alike")
    w = zones(root, "other", "prod")
    for space in ("A", "B"):
        ok("spaces", "add", space, home=w["prod"])
    ok("spaces", "add", "B", home=w["other"])
    ok("trust", "add", root / "prod.card", home=w["other"])
    ok("trust", "add", root / "other.card", "--space", "B", home=w["prod"])
    folder = root / "relB"
    shutil.copytree(FIXTURES / "acme", folder)
    toml = folder / "release.toml"
    toml.write_text(toml.read_text().replace('space = "Default"', 'space = "B"', 1).replace("Acme Web", "Bravo Web"))
    ok("export", toml, "--to", "prod", "-o", root / "B.bundle", home=w["other"])
    ok("import", root / "B.bundle", "--space", "B", home=w["prod"])
    ok("targets", "add", "web-a", "--environment", "Production", "--role", "web", "--root", root / "tg" / "web-a",
       "--space", "A", home=w["prod"])  # space A's machine: never one of B's
    w["root"] = root
    return w


def test_no_targets_in_a_space_names_it_and_the_command_it_suggests_adds_the_target_there(world: dict[str, Path],
                                                                                           tmp_path: Path) -> None:
    prod = tmp_path / "prod"
    shutil.copytree(world["prod"], prod)
    deploy = ("deploy", "bravo-web", "1.4.0", "--environment", "Production", "--space", "B", "--dry-run")
    r = run_cli(*deploy, "--json", home=prod)
    error = json.loads(r.stdout)["error"]
    assert r.returncode == 5 and error["code"] == "no_targets", r.stdout
    assert "no targets in environment 'Production' of space B" in error["message"], error
    assert error["details"]["space"] == "B"
    command = re.search(r"`bundlekit (targets add [^`]*)`", error["message"])
    # the target goes to space B of the zone refused in (decision 964)
    assert command is not None and command.group(1).endswith(f"--space B --home {shlex.quote(str(prod))}"), error["message"]
    # do exactly what it says, with a folder target as its "(or --root DIR)" allows
    words = shlex.split(command.group(1).replace("--ssh USER@HOST --host-key KEY", f"--root {tmp_path / 'web-b'}"))
    words = ["web-b" if w == "NAME" else "web" if w == "ROLE" else w for w in words]
    assert run_cli(*words, home=prod).returncode == 0
    after = run_cli(*deploy, "--json", home=prod)
    assert after.returncode == 0 or json.loads(after.stdout)["error"]["code"] != "no_targets", after.stdout


def test_listings_of_an_empty_space_name_it_and_suggest_commands_for_it(world: dict[str, Path]) -> None:
    prod = world["prod"]
    at = f"--home {shlex.quote(str(prod))}"  # and the zone's home as given (decision 964)
    text = ok("targets", "list", "--space", "B", home=prod)
    assert "no targets in space B" in text and f"--space B {at}`" in text, text
    text = ok("releases", "list", "--space", "A", home=prod)
    assert "no releases yet in space A" in text and f"import BUNDLE --space A {at}`" in text, text
    err = refused("variables", "unset", "bravo-web", "Nope", "--space", "B", home=prod)
    assert "in space B" in err["message"] and f"variables list bravo-web --space B {at}`" in err["message"], err


@pytest.mark.parametrize("look_alike", [CYRILLIC_A, GREEK_ALPHA, FULLWIDTH_A, "a"],
                         ids=["cyrillic", "greek", "fullwidth", "lower-case"])
def test_a_space_name_that_reads_like_an_existing_one_is_refused_as_that_space(world: dict[str, Path],
                                                                                look_alike: str) -> None:
    prod = world["prod"]
    before = snapshot(prod)
    r = run_cli("spaces", "add", look_alike, "--json", home=prod)
    error = json.loads(r.stdout)["error"]
    assert r.returncode == 1 and error["code"] == "space_exists" and error["details"]["space"] == "A", r.stdout
    assert snapshot(prod) == before
    assert [s["name"] for s in json.loads(ok("spaces", "list", "--json", home=prod))["spaces"]] == ["Default", "A", "B"]


def test_payments_with_a_cyrillic_e_is_payments(tmp_path: Path) -> None:
    home = tmp_path / "z"
    ok("init", "--zone", "z", home=home)
    ok("spaces", "add", "Payments", home=home)
    error = refused("spaces", "add", PAYMENTS_CYRILLIC_E, home=home)
    assert error["code"] == "space_exists" and "U+0435" in error["message"], error
    assert ok("spaces", "add", "Billing", home=home).startswith("added space Billing")  # different names still are


@pytest.mark.parametrize("typed", [FULLWIDTH_A, CYRILLIC_A, GREEK_ALPHA, "a"])
def test_space_option_takes_a_name_that_reads_like_the_space_as_spaces_add_compares_it(world: dict[str, Path],
                                                                                       typed: str) -> None:
    prod = world["prod"]
    r = run_cli("targets", "list", "--space", typed, "--json", home=prod)
    assert r.returncode == 0, r.stdout
    assert [t["name"] for t in json.loads(r.stdout)["targets"]] == ["web-a"]


def test_a_source_trusted_with_a_look_alike_space_name_is_trusted_in_the_space_it_reads_as(world: dict[str, Path],
                                                                                            tmp_path: Path) -> None:
    prod = tmp_path / "prod"
    shutil.copytree(world["prod"], prod)
    ok("trust", "remove", "other", home=prod)
    ok("trust", "add", world["root"] / "other.card", "--space", CYRILLIC_A, home=prod)
    trusted = {z["name"]: z["space"] for z in json.loads(ok("trust", "list", "--json", home=prod))["zones"]}
    assert trusted == {"other": "A"}


def test_a_zone_holding_two_spaces_that_read_alike_shows_them_apart_and_asks_which(tmp_path: Path) -> None:
    """A zone from before decision 943 may hold A and Cyrillic А: listings show the code points,
    and a --space that reads like both is refused naming both, while an exact name still works."""
    home = tmp_path / "z"
    ok("init", "--zone", "z", home=home)
    ok("spaces", "add", "A", home=home)
    with sqlite3.connect(home / "state.db") as db:
        db.execute("INSERT INTO spaces(name, added) VALUES (?, 1)", (CYRILLIC_A,))
    listing = ok("spaces", "list", home=home)
    assert f"{CYRILLIC_A} (U+0410; reads like 'A')" in listing, listing
    error = refused("targets", "list", "--space", FULLWIDTH_A, home=home)
    assert error["code"] == "unknown_space" and "U+0410" in error["message"], error
    assert sorted(error["details"]["suggestions"]) == sorted(["A", CYRILLIC_A])
    assert json.loads(ok("targets", "list", "--space", CYRILLIC_A, "--json", home=home))["targets"] == []


def test_a_long_space_name_is_cut_in_the_refusal_through_the_real_cli(world: dict[str, Path]) -> None:
    r = run_cli("releases", "list", "--space", LONG, home=world["prod"])
    assert r.returncode == 1 and "unknown_space" in r.stderr and len(r.stderr) < 1000, len(r.stderr)
    j = run_cli("releases", "list", "--space", LONG, "--json", home=world["prod"])
    assert len(j.stdout) + len(j.stderr) < 2000, len(j.stdout)


@pytest.mark.parametrize("args", [
    ("import", "B.bundle", "--space", LONG), ("deploy", LONG, "1.4.0", "--environment", "Development"),
    ("deploy", "bravo-web", LONG, "--environment", "Development", "--space", "B"),
    ("variables", "list", LONG), ("variables", "unset", "bravo-web", LONG, "--space", "B"),
    ("steps", "disable", "bravo-web", LONG, "--space", "B"), ("deployments", "show", LONG),
    ("targets", "remove", LONG), ("targets", "set-host-key", LONG, "KEY"), ("trust", "remove", LONG),
    ("trust", "set", "other", "--via", LONG), ("trust", "revoke", LONG), ("relay", "B.bundle", "--to", LONG, "-o", "x"),
    ("lifecycle", "waive", "bravo-web", "--phase", LONG, "--reason", "r", "--space", "B"),
    ("retention", "set", "--keep", "3", "--environment", LONG), ("audit", "--from", LONG),
], ids=lambda a: "-".join(w for w in a if w != LONG and not w.startswith("-"))[:40])
def test_every_echo_of_a_long_name_or_value_is_cut(world: dict[str, Path], args: tuple[str, ...]) -> None:
    args = tuple(str(world["root"] / a) if a == "B.bundle" else a for a in args)
    for extra in ((), ("--json",)):
        r = cli_in_process(*args, *extra, home=world["prod"])
        assert r.returncode != 0 and len(r.stdout) + len(r.stderr) < 2000, (len(r.stdout), len(r.stderr), r.stderr[:300])


def test_a_release_from_an_unknown_zone_imported_into_a_space_is_told_to_trust_its_card_there(
        world: dict[str, Path], tmp_path: Path) -> None:
    stranger = zones(tmp_path, "stranger")["stranger"]
    ok("trust", "add", world["root"] / "prod.card", home=stranger)
    ok("export", FIXTURES / "acme" / "release.toml", "--to", "prod", "-o", tmp_path / "s.bundle", home=stranger)
    at = f"--home {shlex.quote(str(world['prod']))}"
    for space, command in (("B", f"`bundlekit trust add CARD --space B {at}`"), ("Default", f"`bundlekit trust add CARD {at}`")):
        error = refused("import", tmp_path / "s.bundle", "--space", space, home=world["prod"])
        assert error["code"] == "untrusted" and command in error["message"], error


@pytest.mark.parametrize("second, existing", [("Pay  ments", "Pay ments"), ("\u1d18\u1d00\u028f\u1d0d\u1d07\u0274\u1d1b\ua731",
                                                                          "Payments"), ("\u1d18ayments", "Payments")],
                         ids=["run-of-spaces", "small-capitals", "one-small-capital"])
def test_a_name_differing_by_a_run_of_spaces_or_by_small_capitals_is_refused_as_the_space(tmp_path: Path, second: str,
                                                                                          existing: str) -> None:
    """Review atk35 #2 and #3 (decision 960), the reviewer's own steps."""
    home = tmp_path / "z"
    ok("init", "--zone", "z", home=home)
    ok("spaces", "add", "Pay ments", home=home)
    ok("spaces", "add", "Payments", home=home)
    before = snapshot(home)
    error = refused("spaces", "add", second, home=home)
    assert error["code"] == "space_exists" and error["details"]["space"] == existing, error
    assert snapshot(home) == before
    assert [s["name"] for s in json.loads(ok("spaces", "list", "--json", home=home))["spaces"]] == \
        ["Default", "Pay ments", "Payments"]
    assert json.loads(ok("targets", "list", "--space", second, "--json", home=home))["targets"] == []


def test_a_release_file_naming_its_space_with_a_run_of_spaces_is_exported_in_the_zone_s_spelling(tmp_path: Path) -> None:
    """Review atk35 #2: a release file's ``space = "Pay  ments"`` is space ``Pay ments`` of its zone,
    and its bundle names the space as the zone spells it, so prod takes it into its ``Pay ments``."""
    w = zones(tmp_path, "dev", "prod")
    for zone in ("dev", "prod"):
        ok("spaces", "add", "Pay ments", home=w[zone])
    ok("trust", "add", tmp_path / "prod.card", home=w["dev"])
    ok("trust", "add", tmp_path / "dev.card", "--space", "Pay   ments", home=w["prod"])
    folder = tmp_path / "rel"
    shutil.copytree(FIXTURES / "acme", folder)
    toml = folder / "release.toml"
    toml.write_text(toml.read_text().replace('space = "Default"', 'space = "Pay  ments"', 1))
    ok("export", toml, "--to", "prod", "-o", tmp_path / "p.bundle", home=w["dev"])
    shown = json.loads(ok("inspect", tmp_path / "p.bundle", "--json"))
    assert json.dumps(shown).count('"Pay  ments"') == 0 and '"Pay ments"' in json.dumps(shown)
    ok("import", tmp_path / "p.bundle", "--space", "Pay  ments", home=w["prod"])
    listed = json.loads(ok("releases", "list", "--space", "Pay ments", "--json", home=w["prod"]))
    assert [r["version"] for r in listed["releases"]] == ["1.4.0"], listed


def test_a_zone_holding_two_spaces_differing_by_a_run_of_spaces_shows_the_run_and_asks_which(tmp_path: Path) -> None:
    """A zone from before decision 960 may hold 'Pay ments' and 'Pay  ments': both ASCII, so the
    listing says where they differ, and a --space reading like both is refused naming both."""
    home = tmp_path / "z"
    ok("init", "--zone", "z", home=home)
    ok("spaces", "add", "Pay ments", home=home)
    with sqlite3.connect(home / "state.db") as db:
        db.execute("INSERT INTO spaces(name, added) VALUES (?, 1)", ("Pay  ments",))
    listing = ok("spaces", "list", home=home)
    assert "Pay  ments (2 spaces in a row; reads like 'Pay ments')" in listing, listing
    error = refused("targets", "list", "--space", "Pay   ments", home=home)
    assert error["code"] == "unknown_space" and sorted(error["details"]["suggestions"]) == ["Pay  ments", "Pay ments"]
    assert json.loads(ok("targets", "list", "--space", "Pay  ments", "--json", home=home))["targets"] == []
