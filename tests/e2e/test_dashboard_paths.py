"""The source's dashboard across three zones, through the real CLI (issue 11, decision 740).

dev -> staging (relay) -> prod, prod's receipt relayed back by staging; dev also sent a release
of a project of another space (Payments) to staging. dev's dashboard, as JSON, in the terminal
and as a page Chromium reads back, groups the rows by space and the columns by zone, shows
the path the release took with each hop's time, no longer waits for a receipt from staging
for the release prod answered, and shows one space with ``--space``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bundlekit.dashboard.view import format_utc, format_utc_seconds
from bundlekit.zone import exports
from bundlekit.zone.home import open_zone
from tests.conftest import run_cli
from tests.dashboard.dom import grid_cells, parse
from tests.dashboard.test_browser import run_chromium
from tests.e2e.test_relay import API_KEY, Chain, build
from tests.e2e.world import json_of


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    c = build(tmp_path_factory.mktemp("paths"))
    to_staging = c.export("staging", "acme-1.4.0.bundle")
    c.cli("import", to_staging, home="staging")
    c.record = c.relay(to_staging, "staging", "prod", "acme-1.4.0.prod.bundle")  # type: ignore[attr-defined]
    c.cli("import", c.media / "acme-1.4.0.prod.bundle", home="prod")
    c.cli("variables", "set", "acme-web", "Acme.ApiKey", API_KEY, "--sensitive", home="prod")
    c.cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--receipt-out",
          c.media / "receipt-1.bundle", home="prod")
    c.receipt_relay = c.relay(  # type: ignore[attr-defined]
        c.media / "receipt-1.bundle", "staging", "dev", "receipt-1.dev.bundle")
    c.cli("import", c.media / "receipt-1.dev.bundle", home="dev")
    # A project of another space, sent to staging, whose receipt has not come back.
    toml = c.release / "release.toml"
    text = toml.read_text()
    toml.write_text(text.replace('name = "Acme Web"\nspace = "Default"', 'name = "Pay Api"\nspace = "Payments"', 1))
    c.cli("spaces", "add", "Payments", home="dev")  # where dev creates the release (decision 887)
    c.cli("export", toml, "--to", "staging", "-o", c.media / "pay.bundle", home="dev")
    toml.write_text(text)
    return c


def _dashboard(c: Chain, *args: object) -> str:
    # A width no line reaches, whatever the terminal running the tests says.
    r = run_cli("dashboard", *args, home=c.home("dev"), env={"COLUMNS": "1000"})  # type: ignore[arg-type]
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def _view(c: Chain, *args: object) -> dict:  # type: ignore[type-arg]
    return json_of(_dashboard(c, "--json", *args))


def _cells(view: dict) -> dict:  # type: ignore[type-arg]
    """(slug, zone, environment) -> cell, from the JSON view."""
    return {(p["slug"], *col): cell for p in view["projects"] for col, cell in zip(view["columns"], p["cells"])
            if cell is not None}


def test_json_groups_by_space_and_zone_and_gives_the_path_with_each_hops_time(chain: Chain) -> None:
    view = _view(chain)
    assert view["spaces"] == ["Default", "Payments"]
    assert [(p["slug"], p["space"]) for p in view["projects"]] == [("acme-web", "Default"), ("pay-api", "Payments")]
    assert view["columns"] == [["prod", "Production"], ["staging", "(awaiting)"]]
    cells = _cells(view)
    # prod's receipt, relayed by staging, answers the export to staging: nothing awaits there for
    # acme-web any more; the Payments release still does.
    assert set(cells) == {("acme-web", "prod", "Production"), ("pay-api", "staging", "(awaiting)")}
    assert cells[("pay-api", "staging", "(awaiting)")]["latest"]["state"] == "exported"
    latest = cells[("acme-web", "prod", "Production")]["latest"]
    assert (latest["state"], latest["release"], latest["zone"]) == ("succeeded", "1.4.0", "prod")
    path = latest["path"]
    assert [(h["zone"], h["event"]) for h in path] == [("dev", "exported"), ("staging", "relayed"),
                                                       ("prod", "deployed")]
    # staging's time is when it relayed the release on, from the hop prod's receipt carried
    # (decision 906), not when it relayed the receipt back (review v33-11u F2)
    (hop,) = chain.record["hops"]  # type: ignore[attr-defined]
    (back,) = chain.receipt_relay["hops"]  # type: ignore[attr-defined]
    assert path[1]["at"] == hop["relayed"] and hop["relayed"] <= back["relayed"]
    assert path[2]["at"] == latest["started"]
    with open_zone(chain.home("dev")) as dev, dev.db.read() as db:  # what dev recorded when it exported
        (sent,) = [e for e in exports.list_exports(db) if e["project_slug"] == "acme-web"]
    assert (sent["dest_name"], path[0]["at"]) == ("staging", sent["exported_at"])
    # In order, to the second: an export's time keeps its fraction, a deployment's start is whole
    # seconds, and the whole chain can run within one second.
    seconds = [int(t) for t in (path[0]["at"], path[1]["at"], path[2]["at"], latest["receipt_received"])]
    assert seconds == sorted(seconds), seconds


def test_one_space_is_shown_alone(chain: Chain) -> None:
    pay = _view(chain, "--space", "payments")
    assert pay["spaces"] == ["Payments"] and [p["slug"] for p in pay["projects"]] == ["pay-api"]
    assert pay["columns"] == [["staging", "(awaiting)"]]
    default = _view(chain, "--space", "Default")
    assert default["spaces"] == ["Default"] and [p["slug"] for p in default["projects"]] == ["acme-web"]
    assert default["columns"] == [["prod", "Production"]]
    text = _dashboard(chain, "--space", "Payments")
    assert "Pay Api" in text and "Acme Web" not in text and "Space " not in text


def test_terminal_shows_spaces_and_the_path_with_each_hops_time(chain: Chain) -> None:
    path = _cells(_view(chain))[("acme-web", "prod", "Production")]["latest"]["path"]
    lines = _dashboard(chain).splitlines()
    assert lines.index("Space Default") < next(i for i, x in enumerate(lines) if x.startswith("Acme Web")) \
        < lines.index("Space Payments") < next(i for i, x in enumerate(lines) if x.startswith("Pay Api"))
    assert any(x.split() == ["via", "staging"] for x in lines)
    hops = " -> ".join(f"{h['zone']} {h['event'].replace('_', ' ')} {format_utc_seconds(h['at'])}" for h in path)
    assert f"  Acme Web 1.4.0 to prod (Production): {hops}" in lines, "\n".join(lines)
    assert "Paths through relays (a relay's time: when it relayed the release on):" in lines


def test_the_page_in_chromium_shows_spaces_and_the_path_with_each_hops_time(chain: Chain, tmp_path: Path) -> None:
    path = _cells(_view(chain))[("acme-web", "prod", "Production")]["latest"]["path"]
    page = tmp_path / "dashboard.html"
    _dashboard(chain, "--html", page)
    doc = parse(run_chromium(tmp_path, "--dump-dom", page.as_uri()))
    rows = [(tr.attrs.get("class"), tr.attrs.get("data-space"), [s.text() for s in tr.by_class("slug")])
            for tr in doc.by_tag("tbody")[0].by_tag("tr")]
    assert rows == [("space-h", "Default", []), (None, "Default", ["acme-web"]),
                    ("space-h", "Payments", []), (None, "Payments", ["pay-api"])]
    # Every release shown in prod's columns came through staging: prod's header says so once.
    headers = {h.text().split()[1]: h for h in doc.by_class("zone-h")}
    assert [v.text() for v in headers["prod"].by_class("via")] == ["via staging"]
    assert not headers["staging"].by_class("via")
    cell = grid_cells(doc)[("acme-web", "prod", "Production")]
    assert cell.attrs["data-state"] == "succeeded" and not cell.by_class("via")
    section = doc.by_id((cell.by_tag("a")[0].attrs["href"] or "")[1:])
    assert section is not None
    (shown,) = section.by_class("path")
    items = shown.by_tag("li")
    assert [(li.attrs["data-zone"], li.attrs["data-event"]) for li in items] == [
        (h["zone"], h["event"]) for h in path]
    for li, h in zip(items, path):
        assert format_utc_seconds(h["at"]) in li.text()
        (when,) = li.by_tag("time")
        assert when.attrs["title"] == format_utc(h["at"])
    assert "relayed it on" in items[1].text() and "receipt" not in items[1].text()
    # prod's deployment is prod's word: the section says whose signed receipt reported it (review v33-11u F3)
    assert "Reported byzone prod, in a receipt it signed" in section.text(), section.text()
