"""Which package each target got, read from the deployments' records and the releases' steps
(``zone.retention.deliveries``, decision 910), on both state engines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bundlekit.zone import deployments
from bundlekit.zone.retention import deliveries
from tests.conftest import make_zones

#: Their state tests run on both engines (decision 772).
pytestmark = pytest.mark.usefixtures("state_engine")

SNAPSHOT = {"packages": {"web.app": {"id": "Web.App", "version": "{v}", "sha256": "a{v}", "size": 1, "file": "w.zip"}},
            "steps": {"deploy web": {"name": "Deploy web", "type": "package", "package": "Web.App", "roles": ["web"]},
                      "smoke": {"name": "Smoke", "type": "script", "roles": ["web"]}},
            "step_order": ["deploy web", "smoke"]}


def _run(step: str, target: str | None, state: str) -> dict[str, object]:
    return {"step": step, "target": target, "state": state, "started": 1.0, "ended": 2.0, "exit_code": 0,
            "reason": None, "log": "", "outputs": []}


def test_each_target_gets_the_packages_its_package_steps_installed_and_how_the_deployment_ended_there(
        tmp_path: Path) -> None:
    z = make_zones(tmp_path)
    try:
        with z.prod.db.transaction() as tx:
            for n, v in enumerate(("1.0", "1.1", "1.2", "1.3", "1.4")):
                snap = json.loads(json.dumps(SNAPSHOT).replace("{v}", v))
                tx.run("INSERT INTO releases(project_slug, version, channel, notes, source_zone_id, bundle_id, "
                       "bundle_digest, sequence, content_digest, snapshot, output_refs, imported_at) "
                       "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", ("web", v, "Default", "", "z", "b", "d", n, "c",
                                                            json.dumps(snap), "[]", n))
            runs = {  # 1.0: both targets; 1.1: w2's package step skipped, its smoke test ran; 1.2: failed on w2
                "1.0": [_run("Deploy web", "W1", "Success"), _run("Deploy web", "w2", "Success")],
                "1.1": [_run("Deploy web", "w1", "Success"), _run("Deploy web", "w2", "Skipped"),
                        _run("Smoke", "w2", "Success")],
                "1.2": [_run("Deploy web", "w2", "Success"), _run("Smoke", "w2", "Failed")],
            }
            for n, (v, record) in enumerate(runs.items(), start=1):
                deployments.insert_running(tx, f"Deployments-{n}", project_slug="web", release=v,
                                           environment="Production", source_zone_id="z", bundle_digest="d",
                                           started=float(n))
                state = "Failed" if any(r["state"] == "Failed" for r in record) else "Success"
                deployments.finish(tx, f"Deployments-{n}", state=state, ended=float(n), outputs=[],
                                   record={"runs": record})
            # 1.3: closed Interrupted at w1's package step; 1.4: still running, reached w2's package step
            deployments.insert_running(tx, "Deployments-4", project_slug="web", release="1.3",
                                       environment="Production", source_zone_id="z", bundle_digest="d", started=4.0)
            deployments.finish(tx, "Deployments-4", state=deployments.INTERRUPTED, ended=4.0, outputs=[],
                               record={"runs": [_run("Deploy web", "w1", "Failed")]})
            deployments.insert_running(tx, "Deployments-5", project_slug="web", release="1.4",
                                       environment="Production", source_zone_id="z", bundle_digest="d", started=5.0)
            deployments.note_reached(tx, "Deployments-5", "Deploy web", "w2", 5.0)
        with z.prod.db.read() as r:
            got = [(d["deployment"], d["target"], d["package"], d["version"], d["sha256"], d["outcome"])
                   for d in deliveries(r)]
        assert got == [
            ("Deployments-1", "w1", "Web.App", "1.0", "a1.0", "Success"),
            ("Deployments-1", "w2", "Web.App", "1.0", "a1.0", "Success"),
            ("Deployments-2", "w1", "Web.App", "1.1", "a1.1", "Success"),  # w2: only its smoke test ran
            ("Deployments-3", "w2", "Web.App", "1.2", "a1.2", "Failed"),
            ("Deployments-4", "w1", "Web.App", "1.3", "a1.3", "Failed"),
            ("Deployments-5", "w2", "Web.App", "1.4", "a1.4", "Running"),
        ]
    finally:
        z.close()
