"""Making the dashboard faster changed none of what it shows (decision 900): on a small history
with every kind of cell (tenants, waivers, partial and running attempts, refreshed variables, a
second space, an environment spelled two ways, ids out of their start order and of another form,
refusals settled and not, this zone's own deployments, exports awaiting their receipt), the
terminal grid, the page and ``dashboard --json`` are the same, byte for byte, as the dashboard
before that change made them, on both engines.

``golden/`` holds what bundlekit at 5517342 (before decision 900) printed for this history, with
the two zones' random ids replaced, and since decision 935 a relay's hop that carried only the
receipt back named as such (``relayed_back``, "relayed the receipt back"), and since decision 958
a relay this zone does not trust now said to be no longer trusted. Regenerate it only for a change that means to show something
else: ``python -m tests.dashboard.test_same_output`` (it writes what the checkout prints)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from bundlekit.dashboard.html import detailed, render_html
from bundlekit.dashboard.model import build_view
from bundlekit.dashboard.text import render_text
from bundlekit.zone import deployments, exports, refusals, remote, sequences
from bundlekit.zone.db import Writer
from bundlekit.zone.home import Zone
from tests.conftest import Zones, make_zones

GOLDEN = Path(__file__).parent / "golden"
NOW = 1_800_000_000
DAY = 86400


def _entry(number: int | str, slug: str, release: str, env: str, state: str, started: int, *, space: str = "Default",
           name: str | None = None, partial: bool = False, **more: object) -> dict[str, object]:
    ms = started * 1000
    last = "Success" if state in ("Success", "Executing") else "Failed"  # partial: web-01 succeeded
    runs = [{"step": "Deploy", "target": "web-01", "state": "Success" if state != "Failed" or partial else "Failed",
             "started_ms": ms, "ended_ms": ms + 4000, "exit_code": 0, "log": None,
             "outputs": [{"name": "Port", "sensitive": False, "value": "8080"},
                         {"name": "Password", "sensitive": True, "value": "********"}]},
            {"step": "Deploy", "target": "web-02", "state": last, "outputs": [],
             **({"reason": "exit code 1"} if last == "Failed" else {})}]
    return {"deployment_id": number if isinstance(number, str) else f"Deployments-{number}",
            "project": {"name": name or slug.replace("-", " ").title(), "slug": slug, "space": space},
            "release_bundle": {"bundle_id": f"b-{slug}-{release}", "digest": "0" * 64, "sequence": int(release[2])},
            "release": release, "environment": env, "state": state, "started_ms": ms, "ended_ms": ms + 9000,
            "runs": runs, **more}


def history(zones: Zones) -> None:
    """Write the history through the zone layer, as imports of receipts and deployments would."""
    dev, prod_id = zones.dev, zones.prod.zone_id
    with dev.db.transaction() as tx:
        numbers = {prod_id: 0, "staging": 0}
        for p, slug in enumerate(("acme-web", "billing", "reports")):
            space = "Ops" if slug == "reports" else "Default"
            for k in range(3):
                release, t0 = f"1.{k}.0", NOW - (4 - k) * DAY + p * 600
                exports.record_export(tx, exports.ExportRecord(
                    bundle_id=f"b-{slug}-{release}", digest="0" * 64, dest_zone_id="staging", dest_name="staging",
                    sequence=k + 1, project=slug.title(), project_slug=slug, space=space, release=release,
                    channel="Default", created=t0 - 600, expires=t0 + 90 * DAY, exported_at=t0 - 600,
                    path=f"/media/{slug}-{release}.bundle"))
                for zone_id in (prod_id, "staging"):
                    receipt = f"r-{zone_id[:4]}-{slug}-{release}"
                    recorded = []
                    for e, env in enumerate(("Staging", "Production" if k != 1 else "production", "QA")):
                        numbers[zone_id] += 1
                        n = numbers[zone_id]
                        # vary what each attempt is: by its place, not at random
                        state = ("Failed", "Success", "Executing", "Success", "Failed")[(n + p) % 5]
                        more: dict[str, object] = {}
                        if (n + k) % 4 == 0:
                            more["tenant"] = ("Globex", "acme")[n % 2]
                        if n % 6 == 1:
                            more["waived"] = ["Staging"]
                        if n % 12 == 1:
                            more["waivers"] = [{"phase": "Staging", "release": release, "reason": "CAB-12",
                                                "author": "alice", "created_ms": (t0 - 7200) * 1000}]
                        if n % 7 == 3:
                            more["variables_updated_ms"] = (t0 - 3000) * 1000
                        number: int | str = n + 3 if n % 9 == 4 else n  # some ids out of their start order
                        if n == 8:
                            number = "rerun-b"  # an id of another form
                        # no two start in the same second: the engines order such ties each their own way
                        entry = _entry(number, slug, release, env, state, t0 + e * 60 + (zone_id == "staging") * 7,
                                       space=space,
                                       partial=(n % 3 == 0), name=("Billing API" if slug == "billing" and k else None),
                                       **more)
                        if not remote.is_recorded(tx, zone_id, str(entry["deployment_id"])):
                            remote.record_remote(tx, zone_id, receipt, entry, t0 + 3600)
                            recorded.append(str(entry["deployment_id"]))
                    relayed = [] if zone_id == "staging" else [{"zone_id": "staging", "name": "staging",
                                                               "relayed": t0 + 1800, "known": True}]
                    sequences.record_incoming(tx, sequences.receipt_key(zone_id), k * 10 + p + 1,
                                              hashlib.sha256(receipt.encode()).hexdigest(),
                                              bundle_id=receipt, source_zone_id=zone_id, project_slug="", release="",
                                              now=t0 + 3600, plan=remote.receipt_plan(recorded, relayed))
        for k, (slug, release) in enumerate((("billing", "1.5.0"), ("acme-web", "1.2.0"))):  # one settled later
            refusals.record_remote(tx, prod_id, f"r-ref-{k}", {
                "refusal_id": f"Refusals-{k + 1}", "project": {"name": slug.title(), "slug": slug, "space": "Default"},
                "release_bundle": {"bundle_id": f"b-{slug}-{release}", "digest": "0" * 64, "sequence": 1},
                "release": release, "code": "rollback", "message": "an older release than the one deployed",
                "refused_ms": (NOW - 3 * DAY + k * 100) * 1000}, NOW - 2 * DAY)
        exports.record_export(tx, exports.ExportRecord(  # awaiting its receipt
            bundle_id="b-intranet-2.0.0", digest="0" * 64, dest_zone_id=prod_id, dest_name="prod", sequence=9,
            project="Intranet", project_slug="intranet", space="Default", release="2.0.0", channel="Default",
            created=NOW - 600, expires=NOW + DAY, exported_at=NOW - 600, path="/media/intranet-2.0.0.bundle"))
        _local(dev, tx)


def _local(dev: Zone, tx: Writer) -> None:
    """This zone's own deployments: two environments spelled two ways, a tenant, one still running."""
    for i in range(6):
        deployment_id = deployments.allocate_id(tx)
        started = NOW - 2 * DAY + i * 300
        deployments.insert_running(tx, deployment_id, project_slug=("acme-web", "intranet")[i % 2],
                                   release=f"2.{i % 3}.0", environment=("Dev", "dev", "QA")[i % 3],
                                   source_zone_id=dev.zone_id, bundle_digest="0" * 64, started=started,
                                   tenant="Globex" if i == 4 else None)
        if i != 5:
            deployments.finish(tx, deployment_id, state="Failed" if i in (1,) else "Success",
                               ended=started + 30, outputs=[], record={"runs": [
                                   {"step": "Deploy", "target": None, "state": "Success", "started": started,
                                    "ended": started + 3, "exit_code": 0, "log": "deployed\n", "outputs": [],
                                    "reason": None}]})


def outputs(zones: Zones) -> dict[str, str]:
    """What the dashboard prints for the history, the zones' random ids replaced."""
    dev = zones.dev
    grid = build_view(dev, NOW, steps=False)
    out = {"terminal.txt": render_text(grid, NOW) + render_text(grid, NOW, width=100, color=True),
           "page.html": render_html(build_view(dev, NOW, steps=detailed), NOW),
           "view.json": json.dumps(build_view(dev, NOW).to_dict(), indent=0, sort_keys=True) + "\n",
           "ops.json": json.dumps(build_view(dev, NOW, space="OPS").to_dict(), indent=0, sort_keys=True) + "\n"}
    return {k: v.replace(dev.zone_id, "ZONE-ID-DEV").replace(zones.prod.zone_id, "ZONE-ID-PROD")
            for k, v in out.items()}


def test_the_terminal_the_page_and_the_json_are_as_before_on_both_engines(any_zones: Zones) -> None:
    history(any_zones)
    shown = outputs(any_zones)
    view = json.loads(shown["view.json"])
    # the history has what the outputs must agree on
    states = {d["state"] for d in view["deployments"]}
    assert states == {"succeeded", "failed", "partial", "running", "refused", "exported"}
    assert {d["superseded_by"] is None for d in view["deployments"] if d["state"] == "refused"} == {True, False}
    assert any(d["waivers"] for d in view["deployments"]) and any(p["tenant"] for p in view["projects"])
    assert view["spaces"] == ["Default", "Ops"] and view["older"]
    for name, text in shown.items():
        assert text == (GOLDEN / name).read_text(encoding="utf-8"), f"{name} differs from golden/{name}"


if __name__ == "__main__":  # python -m tests.dashboard.test_same_output: write golden/ from this checkout
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        made = make_zones(Path(tmp), pg=None)
        try:
            history(made)
            GOLDEN.mkdir(exist_ok=True)
            for file, content in outputs(made).items():
                (GOLDEN / file).write_text(content, encoding="utf-8")
                print(f"{GOLDEN / file}: {len(content)} characters", file=sys.stderr)
        finally:
            made.close()
