"""The source's dashboard and bundlekit's own releases (newuser finding 6, decision 947): an
export-self once added a `bundlekit` row "not deployed" in every environment and "awaiting a
receipt" for ever, since self-update sends nothing back. The grid, its counts and the page now
leave it out, and say apart what was sent to which zone, and a refusal a zone reported."""

from __future__ import annotations

import json
from pathlib import Path

from bundlekit.dashboard.model import build_view
from bundlekit.dashboard.text import render_text
from bundlekit.zone import deployments, exports, remote
from tests.conftest import RELEASE, Zones, run_cli
from tests.dashboard.test_same_output import DAY, NOW, _entry
from tests.selfupdate.conftest import NEWER, finished_stand_in, small_self_bundle


WIDE = {"NO_COLOR": "1", "COLUMNS": "200"}


def _zones(tmp_path: Path) -> tuple[Path, Path, Path]:
    """dev; prod, trusting dev; edge, trusting dev for acme-* only (bundlekit is refused there)."""
    homes = {z: tmp_path / z for z in ("dev", "prod", "edge")}
    for zone, home in homes.items():
        assert run_cli("init", "--zone", zone, home=home).returncode == 0
        assert run_cli("identity", "-o", tmp_path / f"{zone}.card", home=home).returncode == 0
    for zone in ("prod", "edge"):
        assert run_cli("trust", "add", tmp_path / f"{zone}.card", home=homes["dev"]).returncode == 0
        only = ("--projects", "acme-*") if zone == "edge" else ()
        assert run_cli("trust", "add", tmp_path / "dev.card", *only, home=homes[zone]).returncode == 0
    return homes["dev"], homes["prod"], homes["edge"]


def _back(zone: Path, dev: Path, out: Path) -> None:
    assert run_cli("outbox", "pack", "--to", "dev", "-o", out, home=zone).returncode == 0
    done = run_cli("import", out, home=dev)
    assert done.returncode == 0, done.stderr


def test_bundlekit_sent_is_listed_apart_never_as_a_release_awaiting_its_receipt(tmp_path: Path) -> None:
    dev, prod, edge = _zones(tmp_path)
    to_prod = small_self_bundle(tmp_path, dev)
    to_edge = small_self_bundle(tmp_path, dev, to="edge")
    assert run_cli("export", RELEASE, "--to", "prod", "-o", tmp_path / "acme.bundle", home=dev).returncode == 0
    finished_stand_in(prod, to_prod, NEWER)
    assert run_cli("self-update", to_prod, home=prod).returncode == 0  # sends nothing back
    assert run_cli("import", to_edge, home=edge).returncode == 3  # policy_denied, reported to dev
    _back(edge, dev, tmp_path / "edge-receipt.bundle")

    view = json.loads(run_cli("dashboard", "--json", home=dev).stdout)
    assert [p["slug"] for p in view["projects"]] == ["acme-web"]  # awaiting its receipt from prod
    assert {d["project_slug"] for d in view["deployments"]} == {"acme-web"}
    assert [(s["zone"], s["release"], s["refused"], s["refused_in"]) for s in view["bundlekit_sent"]] == [
        ("edge", NEWER, "policy_denied", "edge"), ("prod", NEWER, None, None)]

    text = run_cli("dashboard", home=dev, env=WIDE).stdout
    assert "1 export(s) awaiting a receipt" in text  # acme's only: bundlekit's never counted
    assert "bundlekit sent with export-self (self-update reports nothing back):" in text
    assert "what a zone runs: `HOME/self/current/bin/bundlekit --version` there" in text
    assert f"  edge: {NEWER} exported" in text and ", refused in edge: policy_denied" in text
    grid = text.split("bundlekit sent")[0]
    assert "bundlekit" not in grid.split("\n", 1)[1]  # no row of it (the title line names no project)

    page = tmp_path / "d.html"
    assert run_cli("dashboard", "--html", page, home=dev).returncode == 0
    html = page.read_text("utf-8")
    assert '<section class="self-sent"><h2>bundlekit sent with export-self</h2>' in html
    assert ">bundlekit<" not in html.split('<section class="self-sent">')[0]  # no grid row, no section of it


def test_a_source_that_sent_only_bundlekit_says_so_instead_of_nothing(tmp_path: Path) -> None:
    dev, _, _ = _zones(tmp_path)
    small_self_bundle(tmp_path, dev)
    text = run_cli("dashboard", home=dev, env=WIDE).stdout
    assert "no release of a project has been exported or deployed from zone dev" in text
    assert f"  prod: {NEWER} exported" in text
    other = run_cli("spaces", "add", "Payments", home=dev)
    assert other.returncode == 0, other.stderr
    assert "bundlekit sent" not in run_cli("dashboard", "--space", "Payments", home=dev).stdout  # a Default project


def test_deployments_of_bundlekit_an_older_bundlekit_recorded_are_not_on_the_grid(zones: Zones) -> None:
    """What bundlekit before finding 5 let a zone record, a zero-step "success" of the release, here
    and reported back in a receipt: never a cell or a count, only the export, apart."""
    dev = zones.dev
    with dev.db.transaction() as tx:
        exports.record_export(tx, exports.ExportRecord(
            bundle_id="b-bundlekit-0.1.1", digest="0" * 64, dest_zone_id=zones.prod.zone_id, dest_name="prod",
            sequence=1, project="bundlekit", project_slug="bundlekit", space="Default", release="0.1.1",
            channel="Default", created=NOW - 600, expires=NOW + DAY, exported_at=NOW - 600, path="/media/bk.bundle"))
        remote.record_remote(tx, zones.prod.zone_id, "r-1", _entry(1, "bundlekit", "0.1.1", "Production", "Success",
                                                                   NOW - 300), NOW - 60)
        deployment_id = deployments.allocate_id(tx)
        deployments.insert_running(tx, deployment_id, project_slug="bundlekit", release="0.1.1",
                                   environment="Development", source_zone_id=dev.zone_id, bundle_digest="0" * 64,
                                   started=NOW - 200)
        deployments.finish(tx, deployment_id, state="Success", ended=NOW - 199, outputs=[], record={"runs": []})
    view = build_view(dev, NOW)
    assert view.projects == () and view.deployments == () and view.columns == ()
    assert [(s.zone, s.release, s.refused) for s in view.self_sent] == [("prod", "0.1.1", None)]
    assert "Nothing to show yet: no release of a project has been exported" in render_text(view, NOW)
