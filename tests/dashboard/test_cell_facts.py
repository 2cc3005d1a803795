"""The page of a zone with more deployments than it details (decision 741) still carries every
cell's facts: its release, its state, its time and the path its release took, with each hop's
time (decision 840). The history is written through the zone layer as receipts would write it:
staging reports straight back, prod's receipts come back relayed by staging."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from bundlekit.dashboard.html import DETAIL_LIMIT, detailed, render_html
from bundlekit.dashboard.model import build_view
from bundlekit.dashboard.view import cell_time, format_utc_seconds, recorded_age
from bundlekit.zone import exports, remote, sequences
from bundlekit.zone.home import Zone, init_zone

from .dom import age, grid_cells, parse, release

NOW = 1_800_000_000.0
# Zones this one does not hold a card of are shown by their id: here the id is the name.
ZONES = {"staging": "staging", "prod": "prod"}
PROJECTS, ENVIRONMENTS, RELEASES = 12, 3, 2


def _fill(zone: Zone) -> int:
    """Every project's releases exported to both zones and deployed in each environment there
    (one deployment in five failed); returns how many deployments were recorded."""
    count = 0
    with zone.db.transaction() as tx:
        for name, zone_id in ZONES.items():
            for k in range(RELEASES):
                for p in range(PROJECTS):
                    slug, release = f"proj-{p}", f"1.{k}.0"
                    t0 = int(NOW) - (RELEASES - k) * 86400 + p * 60
                    bundle = hashlib.sha256(f"{name}/{slug}/{release}".encode()).hexdigest()[:32]
                    receipt = hashlib.sha256(f"receipt/{name}/{slug}/{release}".encode()).hexdigest()[:32]
                    sequence = k * PROJECTS + p + 1
                    exports.record_export(tx, exports.ExportRecord(
                        bundle_id=bundle, digest=hashlib.sha256(bundle.encode()).hexdigest(),
                        dest_zone_id=ZONES["staging"], dest_name="staging", sequence=sequence, project=f"Proj {p}",
                        project_slug=slug, space="Default", release=release, channel="Default", created=t0 - 600,
                        expires=t0 + 90 * 86400, exported_at=t0 - 600, path=f"/media/{slug}-{release}.bundle"))
                    recorded = []
                    for e in range(ENVIRONMENTS):
                        count += 1
                        state = "Failed" if count % 5 == 0 else "Success"
                        ms = (t0 + e * 90) * 1000
                        entry = {"deployment_id": f"Deployments-{count}",
                                 "project": {"name": f"Proj {p}", "slug": slug, "space": "Default"},
                                 "release_bundle": {"bundle_id": bundle, "digest": "0" * 64, "sequence": sequence},
                                 "release": release, "environment": f"Env{e}", "state": state, "started_ms": ms,
                                 "ended_ms": ms + 15_000,
                                 "runs": [{"step": "Deploy", "state": state, "started_ms": ms, "ended_ms": ms + 15_000,
                                           "exit_code": 0 if state == "Success" else 1, "outputs": []}]}
                        remote.record_remote(tx, zone_id, receipt, entry, t0 + 3600)
                        recorded.append(entry["deployment_id"])
                    relayed = [] if name == "staging" else [{"zone_id": ZONES["staging"], "name": "staging",
                                                            "relayed": t0 + 1800, "known": True}]
                    sequences.record_incoming(tx, sequences.receipt_key(zone_id), sequence,
                                              hashlib.sha256(receipt.encode()).hexdigest(), bundle_id=receipt,
                                              source_zone_id=zone_id, project_slug="", release="", now=t0 + 3600,
                                              plan=remote.receipt_plan(recorded, relayed))
    return count


def test_every_cell_of_a_page_that_details_only_some_shows_its_release_state_time_and_path(tmp_path: Path) -> None:
    zone = init_zone(tmp_path / "dev", "dev", int(time.time()))
    assert _fill(zone) > DETAIL_LIMIT
    full = build_view(zone, NOW)  # every deployment in full: what the page must agree with
    page = render_html(build_view(zone, NOW, steps=detailed), NOW)
    doc = parse(page)
    cells = grid_cells(doc)
    rows = {(table.attrs["data-zone"], tr.attrs["data-project"]): tr for table in doc.by_class("grid")
            for tr in table.by_tag("tr") if "data-project" in tr.attrs}
    checked = plain = 0
    for row in full.projects:
        assert not rows[("staging", row.slug)].by_class("paths")  # staging reported straight back: no relay
        (paths,) = rows[("prod", row.slug)].by_class("paths")
        for (zname, env), cell in zip(full.columns, row.cells):
            assert cell is not None and cell.latest is not None
            shown = cells[(row.slug, zname, env)]
            assert shown.attrs["data-state"] == cell.latest.state
            assert release(shown) == cell.latest.release
            when = cell_time(cell)
            assert when is not None and age(shown) == recorded_age(when, NOW)
            hops = [h.zone for h in cell.latest.path]
            # staging relayed the receipts and is not trusted here now: said so (decision 958)
            relay = "staging (no longer trusted here)"
            assert hops == (["dev", relay, "prod"] if zname == "prod" else ["dev", "staging"])
            if zname == "prod":  # the release's path, each hop with its time, under the name in prod's table
                (line,) = [li.text() for li in paths.by_tag("li") if li.text().startswith(cell.latest.release + " ")]
                assert line.startswith(f"{cell.latest.release} to prod: ")
                for h in cell.latest.path[:2]:  # each hop says what it did: a relay's time may be the receipt's
                    said = {"exported": "exported", "relayed": "relayed it on",
                            "relayed_back": "relayed the receipt back"}[h.event]
                    assert f"{h.zone} {said} {format_utc_seconds(h.at or 0)}" in line
                assert "prod deployed" in line
            plain += not shown.by_tag("a")
            checked += 1
    assert checked == PROJECTS * len(ZONES) * ENVIRONMENTS and plain > 0  # some cells are not detailed
    # prod's releases all came through staging: its header says so once.
    (prod_header,) = [t.by_tag("caption")[0] for t in doc.by_class("grid") if t.attrs["data-zone"] == "prod"]
    assert [v.text() for v in prod_header.by_class("via")] == ["via staging (no longer trusted here)"]
