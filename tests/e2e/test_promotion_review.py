"""A review of promotion as a new user: receipts carried out of order, two projects whose
lifecycles differ on one dashboard, refused imports on the terminal dashboard.

The zones: dev makes releases, staging and prod deploy them. "Shop" goes Dev[Development] ->
Test[Staging] -> Prod[Production]; "Job" goes Test[Staging] (optional) -> Production.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli, snapshot
from tests.e2e.promotion_world import LIFECYCLE_RELEASE, Promo, make_promo, ok, okj

SHOP_PHASES = ('[[lifecycle.phases]]\nname = "Development"', '[[lifecycle.phases]]\nname = "Dev"'), \
    ('[[lifecycle.phases]]\nname = "Staging"', '[[lifecycle.phases]]\nname = "Test"'), \
    ('[[lifecycle.phases]]\nname = "Production"', '[[lifecycle.phases]]\nname = "Prod"')
JOB_LIFECYCLE = ('[lifecycle]\n[[lifecycle.phases]]\nname = "Test"\nenvironments = ["Staging"]\noptional = true\n\n'
                 '[[lifecycle.phases]]\nname = "Production"\nenvironments = ["Production"]\n\n[[packages]]')


def _shop(w: Promo) -> Path:
    return w.release(LIFECYCLE_RELEASE, ('name = "Acme Web"', 'name = "Shop"'), *SHOP_PHASES, as_name="shop.toml")


def _job(w: Promo) -> Path:
    return w.release("release.toml", ('name = "Acme Web"', 'name = "Job"'), ("[[packages]]", JOB_LIFECYCLE),
                     as_name="job.toml")


def _bind(home: Path, project: str) -> None:
    ok("variables", "set", project, "Acme.ApiKey", "k-zone", "--sensitive", home=home)


def _shop_in_staging(w: Promo) -> None:
    """dev deploys Shop 1.5.0 to Development and sends it to staging, which imports it."""
    shop = _shop(w)
    ok("releases", "create", shop, home=w.dev)
    _bind(w.dev, "shop")
    w.targets(w.dev, "Development")
    ok("deploy", "shop", "1.5.0", "--environment", "Development", home=w.dev)
    ok("import", w.export(shop, "staging", "shop-staging.bundle"), home=w.staging)
    _bind(w.staging, "shop")
    w.targets(w.staging, "Staging")


def test_a_receipt_carried_after_a_newer_one_still_records_its_deployments(tmp_path: Path) -> None:
    """Finding: st-r100 (sequence 1) imported after st-out (sequence 2) was refused as a replay
    and the Staging success never reached dev. It is late, not replayed: accepted for what it adds."""
    w = make_promo(tmp_path / "w")
    _shop_in_staging(w)
    media = w.root / "media"
    ok("deploy", "shop", "1.5.0", "--environment", "Staging", "--receipt-out", media / "st-r100.bundle",
       home=w.staging)
    ok("deploy", "shop", "1.5.0", "--environment", "Staging", home=w.staging)
    ok("outbox", "pack", "-o", media / "st-out.bundle", home=w.staging)
    assert okj("import", media / "st-out.bundle", home=w.dev)["sequence"] == 2

    r = run_cli("import", media / "st-r100.bundle", "--json", home=w.dev)
    assert r.returncode == 0, r.stdout + r.stderr
    late = json.loads(r.stdout)
    assert (late["sequence"], late["late"], len(late["recorded"])) == (1, True, 1)
    reported = {d["deployment_id"] for d in json.loads(run_cli("dashboard", "--json", home=w.dev).stdout)
                ["deployments"] if d["zone"] == "staging"}
    assert set(late["recorded"]) <= reported and len(reported) == 2

    before = snapshot(w.dev)
    again = run_cli("import", media / "st-r100.bundle", "--json", home=w.dev)
    assert again.returncode == 0 and json.loads(again.stdout)["noop"] is True
    assert snapshot(w.dev) == before


def test_columns_follow_every_lifecycle_merged_whichever_project_came_last(tmp_path: Path) -> None:
    """Finding: with Job (Staging -> Production) newer than Shop (Development -> Staging ->
    Production) the columns were [prod, dev, ...]; the merged order puts Development first."""
    w = make_promo(tmp_path / "w")
    _shop_in_staging(w)
    media = w.root / "media"
    ok("deploy", "shop", "1.5.0", "--environment", "Staging", "--receipt-out", media / "shop-st.bundle",
       home=w.staging)
    job = _job(w)
    ok("releases", "create", job, home=w.dev)
    ok("import", w.export(job, "prod", "job-prod.bundle"), home=w.prod)
    _bind(w.prod, "job")
    w.targets(w.prod, "Production")
    ok("deploy", "job", "1.4.0", "--environment", "Production", "--receipt-out", media / "job-prod.r.bundle",
       home=w.prod)
    for receipt in ("shop-st.bundle", "job-prod.r.bundle"):
        ok("import", media / receipt, home=w.dev)
    view = json.loads(run_cli("dashboard", "--json", home=w.dev).stdout)
    assert view["columns"] == [["dev", "Development"], ["staging", "Staging"], ["prod", "Production"]]


def _refused(args: list[object], home: Path, code: str, exit_code: int) -> dict[str, object]:
    before = snapshot(home)
    r = run_cli(*args, "--json", home=home)
    err = json.loads(r.stdout)["error"]
    assert (err["code"], r.returncode) == (code, exit_code), r.stdout + r.stderr
    assert snapshot(home) == before
    return err  # type: ignore[no-any-return]


def test_a_scope_value_nothing_knows_is_refused_with_the_closest_name_unless_new(tmp_path: Path) -> None:
    """Finding: `variables set ... --environment Prodution` (and --step Sya, --channel Nope)
    exited 0 and the value never applied. Known values: the releases' lifecycles, steps and
    channels, the zone's targets, what scopes and deployments already name."""
    w = make_promo(tmp_path / "w")
    ok("releases", "create", _shop(w), home=w.dev)
    set_ = ["variables", "set", "shop", "Acme.Db.Name", "typo"]
    for option, typo, meant in (("--environment", "Prodution", "Production"), ("--step", "Deploy wbe", "Deploy web"),
                                ("--role", "wbe", "web"), ("--channel", "Nope", None)):
        err = _refused([*set_, option, typo], w.dev, "unknown_scope_value", 1)
        assert err["details"]["suggestions"] == ([meant] if meant else []), err  # type: ignore[index]
        assert "--new" in str(err["message"])
    ok(*set_, "--channel", "Beta", "--new", home=w.dev)  # a channel still to come: explicit
    ok(*set_, "--environment", "production", "--step", "Smoke test", home=w.dev)  # any spelling of a known one


def test_deploying_to_an_environment_its_lifecycle_lacks_is_unknown_with_the_closest_name(tmp_path: Path) -> None:
    """Finding: `deploy job 1.0.0 --environment Prodution` was a lifecycle_violation."""
    w = make_promo(tmp_path / "w")
    ok("releases", "create", _job(w), home=w.dev)
    err = _refused(["deploy", "job", "1.4.0", "--environment", "Prodution"], w.dev, "unknown_environment", 1)
    assert "Did you mean 'Production'?" in str(err["message"])
    assert err["details"]["suggestions"] == ["Production"]  # type: ignore[index]
