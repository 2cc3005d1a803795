"""Names given to `trust` and `--to` are checked like every other name: a typo is refused with
the closest known names, and nothing changes (findings 10.7 and 10.8)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.cli.operator_world import World, bk, ok, ok_json, world


@pytest.fixture()
def w(tmp_path: Path) -> World:
    w = world(tmp_path)
    ok("import", w.bundle, home=w.prod)
    return w


def _digest(home: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in home.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(home)).encode() + f.read_bytes())
    return h.hexdigest()


def _error(r: object) -> dict:
    return json.loads(r.stdout or r.stderr)["error"]  # type: ignore[attr-defined]


def test_a_misspelt_evidence_environment_is_refused_with_the_closest_name(w: World) -> None:
    before = _digest(w.prod)
    r = bk("trust", "set", "dev", "--evidence-for", "Prodution", "--json", home=w.prod)
    assert r.exit_code == 1, r.stdout + r.stderr
    err = _error(r)
    assert err["code"] == "unknown_environment"
    assert "Did you mean 'Production'?" in err["message"] and "--new" in err["message"]
    assert "--evidence-for 'Prodution'" in err["message"]
    assert _digest(w.prod) == before
    r = bk("trust", "set", "dev", "--evidence-for", "Prodution", home=w.prod)
    assert r.exit_code == 1 and "Did you mean 'Production'?" in r.stderr


def test_known_new_and_glob_evidence_names_are_taken(w: World) -> None:
    # a known name in another case takes the zone's spelling; a glob and a far name are new
    entry = ok_json("trust", "set", "dev", "--evidence-for", "production,Stag*", "--evidence-for", "QA",
                    home=w.prod)
    assert entry["policy"]["evidence_for"] == ["Production", "Stag*", "QA"]
    entry = ok_json("trust", "set", "dev", "--evidence-for", "Prodution", "--new", home=w.prod)
    assert entry["policy"]["evidence_for"] == ["Prodution"]


def test_a_misspelt_zone_name_is_answered_with_the_closest_trusted_zone(w: World) -> None:
    before = _digest(w.dev)
    r = bk("export", w.release, "--to", "prd", "-o", w.root / "x.bundle", "--json", home=w.dev)
    assert r.exit_code == 1, r.stdout + r.stderr
    err = _error(r)
    assert err["code"] == "unknown_zone" and "Did you mean 'prod'?" in err["message"]
    assert err["details"]["suggestions"] == ["prod"]
    assert not (w.root / "x.bundle").exists() and _digest(w.dev) == before
    r = bk("trust", "set", "Prod", "--no-evidence", home=w.dev)  # a name in another case is that zone
    assert r.exit_code == 0, r.stderr
    r = bk("trust", "set", "nobody-at-all", "--no-evidence", home=w.dev)
    assert r.exit_code == 1 and "Did you mean" not in r.stderr and "bundlekit trust list" in r.stderr
    r = bk("trust", "set", "prod", "--share-packages-with", "pro", home=w.dev)
    assert r.exit_code == 1 and "Did you mean 'prod'?" in r.stderr
