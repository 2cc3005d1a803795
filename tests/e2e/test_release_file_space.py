"""The space a release file names is where its release is created in the authoring zone, or the
command is refused (decision 887), through the real CLI.

Review v31-att: a release file with ``space = "Team2"`` was exported, and its release created in
the dev zone's Default space: the file's space was silently ignored. Now ``export`` and
``releases create`` create it in that space when the zone has it, refuse ``unknown_space`` when it
does not, and ``releases create --space`` naming another space is refused ``space_denied``; a
refusal leaves the home and the output folder exactly as they were.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli, snapshot
from tests.e2e.world import World, make_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    w = make_world(tmp_path_factory.mktemp("space"))
    w.cli("spaces", "add", "Team2", home=w.dev)
    return w


def _naming(w: World, space: str, name: str, version: str = "1.4.0") -> Path:
    """A copy of the fixture release file naming ``space`` (and project ``name``)."""
    text = (w.release_dir / "release.toml").read_text()
    assert 'name = "Acme Web"\nspace = "Default"' in text
    text = text.replace('name = "Acme Web"\nspace = "Default"', f'name = "{name}"\nspace = "{space}"', 1)
    path = w.release_dir / f"{name.replace(' ', '-')}-{version}.toml"
    path.write_text(text.replace('version = "1.4.0"\nchannel', f'version = "{version}"\nchannel', 1))
    return path


def _releases(w: World) -> list[tuple[str, str, str]]:
    rows = json.loads(run_cli("releases", "list", "--json", home=w.dev).stdout)["releases"]
    return sorted((r["slug"], r["version"], r["in_space"]) for r in rows)


def _refused(*args: object, home: Path) -> dict[str, Any]:
    r = run_cli(*args, "--json", home=home)  # type: ignore[arg-type]
    assert r.returncode != 0, r.stdout
    return json.loads(r.stdout)["error"]  # type: ignore[no-any-return]


def test_export_creates_the_release_in_the_space_its_file_names(world: World) -> None:
    w = world
    out = w.root / "media" / "team2.bundle"
    w.cli("export", _naming(w, "Team2", "Team Site"), "--to", "prod", "-o", out, home=w.dev)
    assert ("team-site", "1.4.0", "Team2") in _releases(w)
    listed = json.loads(run_cli("releases", "list", "--space", "Team2", "--json", home=w.dev).stdout)["releases"]
    assert [r["slug"] for r in listed] == ["team-site"]


def test_releases_create_uses_the_file_s_space_and_a_differing_space_option_is_refused(world: World) -> None:
    w = world
    w.cli("releases", "create", _naming(w, "team2", "Local Site"), home=w.dev)  # any case names the space
    assert ("local-site", "1.4.0", "Team2") in _releases(w)
    again = _naming(w, "Team2", "Local Site", "1.4.1")
    w.cli("releases", "create", again, "--space", "TEAM2", home=w.dev)  # the same space, as typed
    assert ("local-site", "1.4.1", "Team2") in _releases(w)
    before = snapshot(w.dev)
    err = _refused("releases", "create", _naming(w, "Team2", "Local Site", "1.4.2"), "--space", "Default", home=w.dev)
    assert err["code"] == "space_denied" and "Team2" in err["message"] and "--space" in err["message"], err
    assert snapshot(w.dev) == before


@pytest.mark.parametrize("command", ["export", "releases create"])
def test_a_space_the_zone_does_not_have_is_refused_and_nothing_changes(world: World, tmp_path: Path,
                                                                       command: str) -> None:
    w = world
    release = _naming(w, "Team3", "Other Site")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("the user's")
    args = ["export", release, "--to", "prod", "-o", out / "other.bundle"] if command == "export" else \
        ["releases", "create", release]
    before = snapshot(w.dev, out, w.release_dir)
    err = _refused(*args, home=w.dev)
    assert err["code"] == "unknown_space", err
    assert str(release) in err["message"] and "'Team3'" in err["message"] and "spaces add" in err["message"], err
    assert snapshot(w.dev, out, w.release_dir) == before
    assert all(slug != "other-site" for slug, _, _ in _releases(w))


@pytest.mark.parametrize("command", ["export", "releases create"])
def test_a_file_naming_no_space_for_a_project_of_another_space_is_refused(world: World, tmp_path: Path,
                                                                         command: str) -> None:
    """Review v32-att N4: `releases create` refused it, but export sent it saying 'space Default'."""
    w = world
    w.cli("releases", "create", _naming(w, "Team2", "Quiet Site"), home=w.dev)
    unnamed = w.release_dir / f"quiet-site-no-space-{command.replace(' ', '-')}.toml"
    unnamed.write_text(_naming(w, "Team2", "Quiet Site", "1.4.3").read_text().replace('space = "Team2"\n', "", 1))
    assert "space =" not in unnamed.read_text().split("[release]")[0]
    out = tmp_path / "out"
    out.mkdir()
    args = ["export", unnamed, "--to", "prod", "-o", out / "q.bundle"] if command == "export" else \
        ["releases", "create", unnamed]
    before = snapshot(w.dev, out)
    err = _refused(*args, home=w.dev)
    assert err["code"] == "space_denied" and "Team2" not in err.get("details", {}).get("space", ""), err
    assert "[project]" in err["message"], err
    assert snapshot(w.dev, out) == before
    assert ("quiet-site", "1.4.3", "Team2") not in _releases(w) and ("quiet-site", "1.4.3", "Default") not in _releases(w)


def test_the_audit_entry_names_the_space_the_release_went_to_as_the_zone_spells_it(world: World) -> None:
    """The entry recorded ``--space`` as typed, or its default ``Default`` when the file named
    Team2, so `audit --space Team2` missed a release created there."""
    w = world
    w.cli("releases", "create", _naming(w, "Team2", "Audited Site"), home=w.dev)  # no --space: the file's
    w.cli("releases", "create", _naming(w, "TEAM2", "Audited Site", "1.4.1"), "--space", "team2", home=w.dev)
    listed = json.loads(run_cli("audit", "--space", "Team2", "--json", home=w.dev).stdout)["entries"]
    files = [(Path(e["object"]["release_file"]).name, e["object"]["space"]) for e in listed
             if e["command"] == "releases create" and "Audited" in e["object"]["release_file"]]
    assert files == [("Audited-Site-1.4.0.toml", "Team2"), ("Audited-Site-1.4.1.toml", "Team2")]
    default = json.loads(run_cli("audit", "--space", "Default", "--json", home=w.dev).stdout)["entries"]
    assert not [e for e in default if "Audited" in str(e["object"].get("release_file", ""))]
