"""A zone trusted as lifecycle evidence for one project cannot open another project's phase by
labelling that project's release digest with a project it is trusted for: an entry counts only
when its digest, project and version all name the release being deployed."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

from bundlekit.receipt.build import make_entry, write_receipt
from bundlekit.zone import truststore
from bundlekit.zone.home import open_zone
from tests.conftest import run_cli, snapshot
from tests.e2e.promotion_world import LIFECYCLE_RELEASE, Promo, make_promo, ok, okj


def _staging_receipt(w: Promo, out: Path, digest: str, slug: str, name: str, version: str) -> Path:
    """A receipt signed by the staging zone itself (a hostile or broken zone: its key, its words)
    claiming a successful Staging deployment of the release ``digest`` under the label ``slug``."""
    now = int(time.time())
    run = SimpleNamespace(step="Say", target="staging-web", state="Success", started=now - 5, ended=now - 4,
                          exit_code=0, reason=None, log="done", outputs=[])
    record = SimpleNamespace(deployment_id="Deployments-99", environment="Staging", state="Success",
                             started=now - 5, ended=now - 4, runs=[run])
    with open_zone(w.staging) as zone:
        dev = truststore.get_zone(zone, "dev")  # staging answers dev, as its real receipts do
        release = {"bundle_id": "0" * 32, "bundle_digest": "0" * 64, "sequence": 1, "version": version,
                   "release_digest": digest}
        entry, logs = make_entry(record, release=release, project={"name": name, "slug": slug, "space": "Default"},
                                 recipient_public=dev.sealing_key, recipient_key_id=dev.sealing_key_id)
        write_receipt(zone, dev.zone_id, [], out, now=now, local=[(entry, logs)])
    return out


def test_a_receipt_labelling_another_projects_release_digest_is_refused_and_the_policy_judges_the_real_project(
        tmp_path: Path) -> None:
    w = make_promo(tmp_path / "w")
    billing = w.release(LIFECYCLE_RELEASE, ('name = "Acme Web"', 'name = "Billing"'), as_name="billing.toml")
    ok("releases", "create", billing, home=w.dev)  # dev deploys it to Development: the export attests it
    ok("variables", "set", "billing", "Acme.ApiKey", "k-dev", "--sensitive", home=w.dev)
    w.targets(w.dev, "Development")
    ok("deploy", "billing", "1.5.0", "--environment", "Development", home=w.dev)
    bundle = w.export(billing, "prod", "billing.bundle")
    ok("import", bundle, home=w.prod)
    # prod counts staging's receipts for acme-web only
    ok("trust", "remove", "staging", home=w.prod)
    ok("trust", "add", w.root / "staging.card", "--projects", "acme-web", "--evidence-for", "Staging", home=w.prod)
    ok("variables", "set", "billing", "Acme.ApiKey", "k-prod", "--sensitive", home=w.prod)
    w.targets(w.prod, "Production")
    digest = okj("show", "billing", "1.5.0", home=w.prod)["release"]["release_digest"]
    deploy = ["deploy", "billing", "1.5.0", "--environment", "Production"]

    for label, code, says in (
            (("acme-web", "Acme Web"), "evidence_mismatch", "names project acme-web 1.5.0"),  # a lie about the project
            (("billing", "Billing"), "policy_denied", "may not send project 'Billing'")):  # the truth: not trusted
        forged = _staging_receipt(w, w.root / "media" / f"evidence-{label[0]}.bundle", digest, *label, "1.5.0")
        before = snapshot(w.prod, forged)
        r = run_cli(*deploy, "--evidence", forged, "--json", home=w.prod)
        err = json.loads(r.stdout)["error"]
        assert (err["code"], r.returncode) == (code, 3), r.stdout + r.stderr
        assert says in err["message"], err["message"]
        assert snapshot(w.prod, forged) == before
    phases = okj("lifecycle", "show", "billing", "1.5.0", home=w.prod)["lifecycle"]["phases"]
    assert [p["passed"] for p in phases] == [True, False, False]  # Development attested by dev; Staging not
    r = run_cli(*deploy, "--json", home=w.prod)
    assert json.loads(r.stdout)["error"]["details"]["blocking_phase"] == "Staging"  # only Staging's proof was missing


def test_a_receipt_naming_another_version_of_the_project_for_this_digest_is_refused(tmp_path: Path) -> None:
    w = make_promo(tmp_path / "w")
    release = w.release_dir / LIFECYCLE_RELEASE
    ok("import", w.export(release, "prod", "a.bundle"), home=w.prod)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-prod", "--sensitive", home=w.prod)
    w.targets(w.prod, "Production")
    digest = okj("show", "acme-web", "1.5.0", home=w.prod)["release"]["release_digest"]
    forged = _staging_receipt(w, w.root / "media" / "v.bundle", digest, "acme-web", "Acme Web", "9.9.9")
    before = snapshot(w.prod, forged)
    r = run_cli("deploy", "acme-web", "1.5.0", "--environment", "Production", "--evidence", forged, "--json",
                home=w.prod)
    err = json.loads(r.stdout)["error"]
    assert (err["code"], r.returncode) == ("evidence_mismatch", 3), r.stdout + r.stderr
    assert "names project acme-web 9.9.9" in err["message"]
    assert snapshot(w.prod, forged) == before
