"""A command's closing ``refused`` entry belongs to the deployments its earlier entries changed
(decision 790): a receipt packed afterwards carries how the command ended, and one written by
the command itself (``deploy --receipt-out``) carries it because the entry is written first
(``audit.refused_now``). Real SQLite state, the real audit hook."""

from __future__ import annotations

import time
from pathlib import Path

from bundlekit.format.audit import decode_body
from bundlekit.zone import audit, deployments, targets
from bundlekit.zone.home import Zone, init_zone


def _zone(tmp: Path) -> Zone:
    return init_zone(tmp / "prod", "prod", int(time.time()))


def _start(zone: Zone) -> str:
    with zone.db.transaction() as tx:
        dep = deployments.allocate_id(tx)
        deployments.insert_running(tx, dep, project_slug="acme-web", release="1.4.0", environment="Production",
                                   source_zone_id="z" * 16, bundle_digest="0" * 64, started=time.time())
    return dep


def _carried(zone: Zone, dep: str) -> list[tuple[str, str, str | None]]:
    return [(e.command, e.result, e.code)
            for e in (decode_body(s.body, s.seq) for s in audit.for_deployment(zone.db, dep))]


def test_the_refused_entry_written_after_the_deployment_is_one_of_its_entries(tmp_path: Path) -> None:
    zone = _zone(tmp_path)
    with audit.acting("deploy", {"project": "acme-web"}) as current:
        dep = _start(zone)
        targets.add_target(zone, "web-01", "Production", ("web",), tmp_path / "web-01", int(time.time()))
        current.refused("deploy_failed")
    assert _carried(zone, dep) == [("deploy", "ok", None), ("deploy", "refused", "deploy_failed")]
    seqs = [s.seq for s in audit.for_deployment(zone.db, dep)]
    assert seqs[-1] == audit.head(zone.db).seq  # the last entry of the trail, and no entry twice
    assert len(audit.verify(zone)) == seqs[-1]


def test_a_refusal_recorded_early_is_carried_by_what_is_packed_next_and_not_written_twice(tmp_path: Path) -> None:
    zone = _zone(tmp_path)
    with audit.acting("deploy", {"project": "acme-web"}) as current:
        dep = _start(zone)
        audit.refused_now("deploy_failed")
        carried_before_end = _carried(zone, dep)  # what a receipt written now would carry
        current.refused("deploy_failed")  # the command ends refused: no second entry
    assert carried_before_end == [("deploy", "ok", None), ("deploy", "refused", "deploy_failed")]
    assert _carried(zone, dep) == carried_before_end
    assert audit.head(zone.db).seq == len(audit.verify(zone))


def test_a_refusal_names_no_deployment_its_command_did_not_change_or_that_is_gone(tmp_path: Path) -> None:
    zone = _zone(tmp_path)
    other = _start(zone)  # another command's deployment
    with audit.acting("deploy", {"project": "acme-web"}) as current:
        targets.add_target(zone, "web-01", "Production", ("web",), tmp_path / "web-01", int(time.time()))
        current.deployments.setdefault(str(zone.home), set()).add("Deployments-99")  # a rolled-back insert
        current.refused("target_unreachable")
    assert _carried(zone, other) == [("(not a bundlekit command)", "ok", None)]
    assert zone.db.scalar("SELECT COUNT(*) FROM audit_deployments WHERE deployment_id = 'Deployments-99'") == 0
    stored = audit.entries(zone.db)[-1]
    last = decode_body(stored.body, stored.seq)
    assert (last.result, last.code) == ("refused", "target_unreachable")
