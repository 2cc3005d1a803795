"""At a source, a destination zone trusted in one space answers for that space's projects only,
or for every space when it is trusted in Default (decision 915), through the real CLI.

Reviews v33-11a F4 and v33-11u F5: a zone dev trusted only in space Payments was sent a release
of a Default project, and its receipt, imported with `--space Payments` as the first refusal
advised, recorded a deployment on that Default project: space Payments changed what space
Default shows (and could feed its lifecycle evidence). Now the export is refused, and so is a
receipt about another space's project whatever `--space` it is imported with; each refusal
leaves the source exactly as it was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli, snapshot
from tests.e2e.world import World, make_world


def _refused(*args: object, home: Path) -> dict[str, Any]:
    r = run_cli(*args, "--json", home=home)  # type: ignore[arg-type]
    assert r.returncode == 3, (r.stdout, r.stderr)
    return json.loads(r.stdout)["error"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    w = make_world(tmp_path_factory.mktemp("answers"))
    w.cli("spaces", "add", "Payments", home=w.dev)
    return w


def _move_prod_to(w: World, space: str) -> None:
    w.cli("trust", "remove", "prod", home=w.dev)
    w.cli("trust", "add", w.root / "prod.card", "--space", space, home=w.dev)


def test_a_default_project_is_not_sent_to_a_zone_trusted_in_another_space(world: World, tmp_path: Path) -> None:
    w = world
    _move_prod_to(w, "Payments")
    try:
        out = tmp_path / "out"
        out.mkdir()
        before = snapshot(w.dev, out)
        err = _refused("export", w.release_dir / "release.toml", "--to", "prod", "-o", out / "a.bundle", home=w.dev)
        assert err["code"] == "space_denied" and err["details"]["trusted_in"] == "Payments", err
        assert "space Default" in err["message"], err
        assert f"`bundlekit trust set prod --space Default --home {w.dev}`" in err["message"], err
        assert "Default or Default" not in err["message"], err
        assert snapshot(w.dev, out) == before
    finally:
        _move_prod_to(w, "Default")


def test_a_receipt_about_another_spaces_project_is_refused_whatever_the_space_given(world: World) -> None:
    w = world
    bundle = w.export("acme-1.4.0.bundle")  # sent while prod answered for Default (every space)
    w.cli("import", bundle, home=w.prod)
    entered = run_cli("variables", "set", "acme-web", "Acme.ApiKey", "--sensitive", home=w.prod, input=b"k-spaces\n")
    assert entered.returncode == 0, entered.stderr
    receipt = w.root / "media" / "receipt.bundle"
    w.cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--receipt-out", receipt, home=w.prod)
    _move_prod_to(w, "Payments")  # then prod is trusted for Payments only
    try:
        before = snapshot(w.dev)
        for space in ((), ("--space", "Payments"), ("--space", "Default")):
            err = _refused("import", receipt, *space, home=w.dev)
            assert err["code"] == "space_denied", err
            assert "Acme Web" in err["message"] and "space Default" in err["message"], err
            assert f"`bundlekit trust set prod --space Default --home {w.dev}`" in err["message"], err
            assert "import the receipt again" in err["message"]
        assert snapshot(w.dev) == before
        w.cli("trust", "set", "prod", "--space", "Default", home=w.dev)  # what it names (review atk35 #5)
    finally:
        if "space Payments" in w.cli("trust", "list", home=w.dev):
            _move_prod_to(w, "Default")
    w.cli("import", receipt, home=w.dev)  # trusted in Default again: it answers for every space
    shown = json.loads(w.cli("dashboard", "--json", home=w.dev))
    assert [d["deployment_id"] for d in shown["deployments"]] == ["Deployments-1"], shown["deployments"]
