"""Another zone's word about a deployment counts only while it deserves trust (decision 412),
through the real CLI: evidence recorded from a zone that is later no longer trusted, or whose
key is revoked, stops opening Production; a zone that makes releases cannot prove a later phase
by deploying to an environment of its own that it names after that phase; and each refusal and
`lifecycle show` say what was not counted and why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli, snapshot
from tests.e2e.promotion_world import LIFECYCLE_RELEASE, Promo, make_promo, ok, okj

DEPLOY_PROD = ["deploy", "acme-web", "1.5.0", "--environment", "Production"]


def _bind(home: Path) -> None:
    r = run_cli("variables", "set", "acme-web", "Acme.ApiKey", "-", "--sensitive", home=home, input=b"k-zone")
    assert r.returncode == 0, r.stderr


def _refused_prod(w: Promo) -> dict[str, Any]:
    before = snapshot(w.prod)
    r = run_cli(*DEPLOY_PROD, "--json", home=w.prod)
    err = json.loads(r.stdout)["error"]
    assert (err["code"], r.returncode) == ("lifecycle_violation", 5), r.stdout + r.stderr
    assert snapshot(w.prod) == before
    return err  # type: ignore[no-any-return]


def _in_staging(w: Promo) -> None:
    """1.5.0 deployed to Development in dev, then imported in staging with its value and targets."""
    ok("releases", "create", w.release_dir / LIFECYCLE_RELEASE, home=w.dev)
    _bind(w.dev)
    w.targets(w.dev, "Development")
    ok("deploy", "acme-web", "1.5.0", "--environment", "Development", home=w.dev)
    ok("import", w.export(w.release_dir / LIFECYCLE_RELEASE, "staging", "s.bundle"), home=w.staging)
    _bind(w.staging)
    w.targets(w.staging, "Staging")


def _staging_proof_in_prod(w: Promo) -> None:
    """1.5.0 through Development (dev) and Staging (staging); prod imports it with staging's receipt."""
    _in_staging(w)
    receipt = w.root / "media" / "staging-receipt.bundle"
    ok("deploy", "acme-web", "1.5.0", "--environment", "Staging", "--receipt-out", receipt, home=w.staging)
    ok("import", w.export(w.release_dir / LIFECYCLE_RELEASE, "prod", "p.bundle"), "--evidence", receipt, home=w.prod)
    _bind(w.prod)
    w.targets(w.prod, "Production")
    phases = okj("lifecycle", "show", "acme-web", "1.5.0", home=w.prod)["lifecycle"]["phases"]
    assert phases[1]["passed"], phases  # the control: the proof counted while staging was trusted


@pytest.mark.parametrize("withdraw", ["trust-remove", "key-revoked"])
def test_evidence_from_a_zone_no_longer_trusted_or_with_a_revoked_key_stops_counting(tmp_path: Path,
                                                                                       withdraw: str) -> None:
    w = make_promo(tmp_path / "w")
    _staging_proof_in_prod(w)
    if withdraw == "trust-remove":
        ok("trust", "remove", "staging", home=w.prod)
        why = "zone staging is no longer trusted"
    else:
        kid = next(z["signing_key_id"] for z in okj("trust", "list", home=w.prod)["zones"] if z["name"] == "staging")
        ok("trust", "revoke", kid, "--reason", "compromised", home=w.prod)
        why = f"signed by key {kid} of zone staging, revoked (compromised)"

    err = _refused_prod(w)
    assert err["details"]["blocking_phase"] == "Staging"
    assert f"not counted: Deployments-1 in zone staging (receipt) to Staging: {why}" in err["message"], err
    show = okj("lifecycle", "show", "acme-web", "1.5.0", home=w.prod)
    assert not show["lifecycle"]["phases"][1]["passed"]
    assert show["not_counted"] == [{"evidence": "Deployments-1 in zone staging (receipt)", "environment": "Staging",
                                    "why": why}]
    assert "Production" not in show["open"]
    text = ok("lifecycle", "show", "acme-web", "1.5.0", home=w.prod)
    assert f"not counted: Deployments-1 in zone staging (receipt): {why}" in text


def test_a_zone_that_makes_releases_cannot_prove_staging_with_an_environment_of_its_own(tmp_path: Path) -> None:
    """dev names one of its own environments "Staging", deploys there and exports: its
    attestation arrives in prod, where dev's word proves only Development."""
    w = make_promo(tmp_path / "w")
    ok("releases", "create", w.release_dir / LIFECYCLE_RELEASE, home=w.dev)
    _bind(w.dev)
    w.targets(w.dev, "Development", "Staging")
    for env in ("Development", "Staging"):
        ok("deploy", "acme-web", "1.5.0", "--environment", env, home=w.dev)
    r = run_cli("import", w.export(w.release_dir / LIFECYCLE_RELEASE, "prod", "p.bundle"), "--json", home=w.prod)
    assert r.returncode == 0, r.stderr
    assert sorted(e["environment"] for e in json.loads(r.stdout)["evidence"]) == ["Development", "Staging"]
    _bind(w.prod)
    w.targets(w.prod, "Production")

    err = _refused_prod(w)
    assert err["details"]["blocking_phase"] == "Staging"
    why = ("zone dev may not prove deployments to Staging; if it may: `bundlekit trust set dev --evidence-for "
           f"Staging --home {w.prod}`")  # quoted for the shell only when it needs it (shell_word)
    assert [(i["environment"], i["why"]) for i in err["details"]["not_counted"]] == [("Staging", why)]
    show = okj("lifecycle", "show", "acme-web", "1.5.0", home=w.prod)
    assert [p["passed"] for p in show["lifecycle"]["phases"]] == [True, False, False]

    # an explicit, visible decision of prod's operator makes dev's word count for Staging
    ok("trust", "set", "dev", "--evidence-for", "Development", "--evidence-for", "Staging", home=w.prod)
    assert okj("trust", "list", home=w.prod)["zones"][0]["policy"]["evidence_for"] == ["Development", "Staging"]
    r = run_cli(*DEPLOY_PROD, "--json", home=w.prod)
    assert r.returncode == 0 and json.loads(r.stdout)["state"] == "Success", r.stdout + r.stderr


def test_trust_set_refuses_contradictions_and_unknown_zones_changing_nothing(tmp_path: Path) -> None:
    w = make_promo(tmp_path / "w")
    for args, code in ((["trust", "set", "dev"], "usage"),
                       (["trust", "set", "dev", "--evidence-for", "Staging", "--no-evidence"], "usage"),
                       (["trust", "set", "nobody", "--evidence-for", "Staging"], "unknown_zone")):
        before = snapshot(w.prod)
        r = run_cli(*args, "--json", home=w.prod)
        assert json.loads(r.stdout)["error"]["code"] == code and r.returncode != 0, r.stdout + r.stderr
        assert snapshot(w.prod) == before
    ok("trust", "set", "dev", "--no-evidence", home=w.prod)
    assert okj("trust", "list", home=w.prod)["zones"][0]["policy"]["evidence_for"] == []


def test_a_receipt_of_another_tenants_deployment_is_named_as_not_counted_and_why(tmp_path: Path) -> None:
    """Staging deployed 1.5.0 for tenant Acme Corp; prod, offered that receipt, refused Production
    for Beta Inc and untenanted with "has 0" and nothing about the receipt it had just been given
    (finding 4 of the r1015 attack review). The refusal and `lifecycle show` now name it and why."""
    w = make_promo(tmp_path / "w")
    _in_staging(w)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-acme", "--tenant", "Acme Corp", "--new", home=w.staging)
    receipt = w.root / "media" / "staging-acme.bundle"
    ok("deploy", "acme-web", "1.5.0", "--environment", "Staging", "--tenant", "Acme Corp", "--receipt-out", receipt,
       home=w.staging)
    ok("import", w.export(w.release_dir / LIFECYCLE_RELEASE, "prod", "p.bundle"), "--evidence", receipt, home=w.prod)
    _bind(w.prod)
    for tenant in ("Acme Corp", "Beta Inc"):
        ok("variables", "set", "acme-web", "Acme.ApiKey", f"k-{tenant}", "--tenant", tenant, "--new", home=w.prod)
    w.targets(w.prod, "Production")

    proof = "Deployments-1 in zone staging (receipt)"
    for tenant, why in (("Beta Inc", "it deployed for tenant Acme Corp; a deployment for tenant Beta Inc or an "
                                     "untenanted one counts"),
                        (None, "it deployed for tenant Acme Corp; an untenanted deployment counts only untenanted "
                               "ones")):
        before = snapshot(w.prod)
        r = run_cli(*DEPLOY_PROD, *(["--tenant", tenant] if tenant else []), "--json", home=w.prod)
        err = json.loads(r.stdout)["error"]
        assert (err["code"], r.returncode) == ("lifecycle_violation", 5), r.stdout + r.stderr
        assert snapshot(w.prod) == before
        assert err["details"]["not_counted"] == [{"evidence": proof, "environment": "Staging", "why": why}], err
        assert f"not counted: {proof} to Staging: {why}" in err["message"]
        show = okj("lifecycle", "show", "acme-web", "1.5.0", *(["--tenant", tenant] if tenant else []), home=w.prod)
        assert show["not_counted"] == [{"evidence": proof, "environment": "Staging", "why": why}]
    # the control: for the tenant it proves, the same receipt opens Production and nothing is "not counted";
    # each proof says whose it is (decision 395): dev's untenanted run counts for every tenant
    show = okj("lifecycle", "show", "acme-web", "1.5.0", "--tenant", "Acme Corp", home=w.prod)
    assert show["not_counted"] == []
    assert [p["evidence"] for p in show["lifecycle"]["phases"][:2]] == [
        ["Deployments-1 in zone dev (attested) (untenanted: counts for every tenant)"],
        [f"{proof} (tenant Acme Corp)"]]
    r = run_cli(*DEPLOY_PROD, "--tenant", "Acme Corp", "--json", home=w.prod)
    assert r.returncode == 0 and json.loads(r.stdout)["state"] == "Success", r.stdout + r.stderr


def test_an_evidence_name_matches_itself_and_compares_as_lifecycle_names_do() -> None:
    """Observed in the r1015 attack review: ``--evidence-for 'Staging [EU]'`` never matched the
    environment of that name (``[...]`` read as a glob class), and the policy folded case with
    ``lower`` while lifecycles use ``casefold`` (``Straße`` and ``STRASSE`` are one environment
    to a lifecycle, two to the policy)."""
    from bundlekit.trust.policy import SourcePolicy
    assert SourcePolicy(evidence_for=("Staging [EU]",)).may_prove("staging [eu]")
    assert SourcePolicy(evidence_for=("Straße",)).may_prove("STRASSE")
    assert SourcePolicy(evidence_for=("Staging-*",)).may_prove("staging-b")
    assert not SourcePolicy(evidence_for=("Staging-*",)).may_prove("Production")
    assert not SourcePolicy().may_prove("Staging")  # none by default (decision 412)
