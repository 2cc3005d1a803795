"""The retention rules, pure: what is kept per project and environment, and why."""

from __future__ import annotations

from bundlekit.retention.rules import decide, decide_by_space
from bundlekit.zone.retention import Policy

DAY = 86400
NOW = 1_800_000_000


def _d(release: str, state: str = "Success", env: str = "Production", started: float = 0, project: str = "web"
       ) -> dict[str, object]:
    return {"project_slug": project, "release": release, "environment": env, "state": state, "started": started}


def _r(version: str, imported_at: float, project: str = "web") -> dict[str, object]:
    return {"project_slug": project, "version": version, "imported_at": imported_at, "sequence": 0}


def _kept(deployments: list[dict[str, object]], releases: list[dict[str, object]], **policies: Policy) -> set[str]:
    keep = decide(releases, deployments, {"": policies.pop("default", Policy()), **policies}, NOW)
    return {v for (_, v) in keep.reasons}


def test_current_and_previous_successful_are_kept_even_when_the_policy_keeps_one() -> None:
    deps = [_d("1.0", started=1), _d("1.1", started=2), _d("1.2", "Failed", started=3)]
    rels = [_r(v, n) for n, v in enumerate(("1.0", "1.1", "1.2"))]
    # 1.2 failed: 1.1 is still what runs (current), 1.0 the previous successful; 1.2 is the last deployed.
    assert _kept(deps, rels, default=Policy(keep_releases=1)) == {"1.0", "1.1", "1.2"}


def test_a_rollback_makes_the_older_release_current_and_the_newer_one_previous() -> None:
    deps = [_d(v, started=n) for n, v in enumerate(("1.0", "1.1", "1.2", "1.3", "1.1"))]
    rels = [_r(v, n) for n, v in enumerate(("1.0", "1.1", "1.2", "1.3"))]
    keep = decide(rels, deps, {"": Policy(keep_releases=1)}, NOW)
    assert {v for (_, v) in keep.reasons} == {"1.1", "1.3"}
    assert keep.reasons[("web", "1.1")][0] == "current release in Production"
    assert keep.reasons[("web", "1.3")][0] == "previous successful release in Production"


def test_deployments_in_one_second_rank_in_the_order_they_were_made() -> None:
    # start times of old records are whole seconds: four deployments in one second still have a newest
    deps = [_d(v, started=5) for v in ("1.0", "1.1", "1.2", "1.3")]
    rels = [_r(v, 0) for v in ("1.0", "1.1", "1.2", "1.3")]
    keep = decide(rels, deps, {"": Policy(keep_releases=1)}, NOW)
    assert {v for (_, v) in keep.reasons} == {"1.2", "1.3"}
    assert "one of the last 1 deployed to Production" in keep.reasons[("web", "1.3")]


def test_keep_days_keeps_what_was_deployed_recently() -> None:
    deps = [_d("1.0", started=NOW - 40 * DAY), _d("1.1", started=NOW - 20 * DAY), _d("1.2", started=NOW - 10 * DAY),
            _d("1.3", started=NOW - DAY)]
    rels = [_r(v, n) for n, v in enumerate(("1.0", "1.1", "1.2", "1.3"))]
    assert _kept(deps, rels, default=Policy(keep_days=15)) == {"1.2", "1.3"}
    assert _kept(deps, rels, default=Policy(keep_days=30)) == {"1.1", "1.2", "1.3"}


def test_an_environment_policy_overrides_the_default_there_only() -> None:
    deps = [_d(v, env=e, started=n) for n, (v, e) in enumerate(
        [("1.0", "Staging"), ("1.1", "Staging"), ("1.2", "Staging"), ("1.3", "Staging"), ("1.0", "Production"),
         ("1.1", "Production"), ("1.2", "Production")])]
    rels = [_r(v, n) for n, v in enumerate(("1.0", "1.1", "1.2", "1.3"))]
    keep = decide(rels, deps, {"": Policy(keep_releases=1), "production": Policy("Production")}, NOW)
    assert keep.by_environment["staging"] == {("web", "1.3"), ("web", "1.2")}
    assert keep.by_environment["production"] == {("web", "1.0"), ("web", "1.1"), ("web", "1.2")}


def test_the_latest_import_is_kept_and_undeployed_ones_follow_the_default_policy() -> None:
    deps = [_d("1.1", started=100)]
    rels = [_r("1.0", 10), _r("0.9", 5), _r("1.1", 50), _r("1.3", 150), _r("1.2", 200)]
    keep = decide(rels, deps, {"": Policy(keep_releases=1)}, NOW)
    # 1.2: the latest import; 1.1: deployed (current); 1.3: imported after 1.1, waiting to be
    # deployed (decision 911); the undeployed older than what runs (1.0, 0.9) follow the policy
    assert {v for (_, v) in keep.reasons} == {"1.1", "1.2", "1.3"}
    assert keep.reasons[("web", "1.2")][0] == "the latest release imported for the project"
    assert keep.reasons[("web", "1.3")] == ["never deployed; newer than the current release in Production"]
    assert _kept(deps, rels, default=Policy(keep_releases=2)) == {"1.1", "1.2", "1.3"}
    assert _kept(deps, rels, default=Policy()) == {"0.9", "1.0", "1.1", "1.2", "1.3"}
    assert _kept([], rels, default=Policy(keep_days=1)) == {"1.2"}  # imported long before NOW


def test_a_release_being_deployed_is_kept() -> None:
    deps = [_d(v, started=n) for n, v in enumerate(("1.0", "1.1", "1.2"))] + [_d("0.5", "Executing", started=9)]
    rels = [_r(v, n) for n, v in enumerate(("0.5", "1.0", "1.1", "1.2"))]
    assert "0.5" in _kept(deps, rels, default=Policy(keep_releases=1))


def test_projects_are_judged_apart_and_case_does_not_split_a_release() -> None:
    deps = [_d("1.0", started=1), _d("1.1", started=2, project="WEB"), _d("2.0", started=3, project="api")]
    rels = [_r("1.0", 0), _r("1.1", 0), _r("2.0", 0, project="api")]
    keep = decide(rels, deps, {"": Policy(keep_releases=1)}, NOW)
    assert set(keep.reasons) == {("web", "1.0"), ("web", "1.1"), ("api", "2.0")}


def test_each_tenants_current_and_previous_release_are_kept() -> None:
    deps = [dict(_d(v, started=n), tenant=t) for n, (v, t) in enumerate(
        [("1.0", "Acme"), ("1.1", "Acme"), ("1.2", "Acme"), ("1.0", "Globex"), ("1.3", "Acme")])]
    rels = [_r(v, n) for n, v in enumerate(("1.0", "1.1", "1.2", "1.3"))]
    keep = decide(rels, deps, {"": Policy(keep_releases=1)}, NOW)
    # Acme runs 1.3 (previous 1.2); Globex still runs 1.0; 1.1 is nobody's current or previous.
    assert {v for (_, v) in keep.reasons} == {"1.0", "1.2", "1.3"}
    assert keep.reasons[("web", "1.0")][0] == "current release in Production for tenant Globex"


def test_releases_created_here_are_said_to_be_created_and_one_second_apart_is_no_tie() -> None:
    """``releases create`` run in a loop stamps several releases with the same second and no
    sequence: the newest is the highest version (1.10 after 1.9), and the reasons say "created"."""
    rels = [dict(_r(v, 100), created=True) for v in ("1.9", "1.10", "1.8")]
    keep = decide(rels, [], {"": Policy(keep_releases=1)}, NOW)
    assert keep.reasons == {("web", "1.10"): ["the latest release created for the project",
                                              "never deployed; one of the last 1 created"]}


def test_a_deployment_stamped_in_the_future_is_not_current_after_later_deployments() -> None:
    # r1015a A2: 1.0 was deployed while the clock ran a day ahead; 7.0 and 3.0 came after it (in
    # the zone's own order, as the rows arrive) with the right clock. 3.0 is current, 7.0 previous.
    deps = [_d("1.0", started=NOW + DAY), _d("1.0", "Failed", started=NOW + 10),
            _d("7.0", started=NOW + 20), _d("3.0", started=NOW + 30)]
    rels = [_r(v, n) for n, v in enumerate(("1.0", "7.0", "3.0"))]
    keep = decide(rels, deps, {"": Policy(keep_releases=1)}, NOW + 40)
    assert keep.reasons[("web", "3.0")][0] == "current release in Production"
    assert keep.reasons[("web", "7.0")][0] == "previous successful release in Production"
    assert not keep.kept(("web", "1.0"))


def test_a_policy_of_one_space_never_lets_another_spaces_release_go() -> None:
    # two projects, one per space, each with five releases deployed one after another to Production
    deps = [dict(_d(v, started=n, project=p), in_space=s) for p, s in (("pay", "Payments"), ("web", "Web"))
            for n, v in enumerate(("1.0", "1.1", "1.2", "1.3", "1.4"))]
    rels = [dict(_r(v, n, project=p), in_space=s) for p, s in (("pay", "Payments"), ("web", "Web"))
            for n, v in enumerate(("1.0", "1.1", "1.2", "1.3", "1.4"))]
    keep = decide_by_space(rels, deps, {"payments": {"": Policy(keep_releases=1, space="Payments")}}, NOW)
    assert {v for (p, v) in keep.reasons if p == "pay"} == {"1.3", "1.4"}  # current and previous
    assert {v for (p, v) in keep.reasons if p == "web"} == {"1.0", "1.1", "1.2", "1.3", "1.4"}  # no policy: all
    assert keep.by_environment["production"] >= {("web", v) for v in ("1.0", "1.1", "1.2", "1.3", "1.4")}
    # the zone-wide decision this replaces would have let Web's go with Payments' policy
    assert {v for (p, v) in decide(rels, deps, {"": Policy(keep_releases=1)}, NOW).reasons if p == "web"} == {
        "1.3", "1.4"}


def test_a_release_never_deployed_that_came_after_what_runs_somewhere_waits_to_be_deployed() -> None:
    # v33-15a F10, v33-15u F8: a hotfix for Production (2.2) and the next release for Staging (2.3)
    # came in together; 2.3 went to Staging: the hotfix is still newer than Production's current.
    deps = [_d("2.0", started=1, env="Production"), _d("2.1", started=2, env="Staging"),
            _d("2.3", started=4, env="Staging")]
    rels = [_r("1.9", 5), _r("2.0", 10), _r("2.1", 20), _r("2.2", 30), _r("2.3", 31), _r("2.4", 40)]
    keep = decide(rels, deps, {"": Policy(keep_releases=1)}, NOW)
    assert keep.reasons[("web", "2.2")] == ["never deployed; newer than the current release in Production"]
    assert keep.reasons[("web", "2.4")][1] == (
        "never deployed; newer than the current release in Production and Staging")
    assert not keep.kept(("web", "1.9"))  # older than what runs anywhere: the policy decides
    assert not keep.protected & {("web", "2.2"), ("web", "2.4")}  # waiting is not running
    # once Production runs 2.4, 2.2 waits for nothing any more: the policy lets it go (2.5 came after)
    keep = decide(rels + [_r("2.5", 50)], deps + [_d("2.4", started=5, env="Production")],
                  {"": Policy(keep_releases=1)}, NOW)
    assert not keep.kept(("web", "2.2")) and keep.kept(("web", "2.5"))
    # per tenant: a tenant still on 2.0 keeps what came after it waiting
    tenants = [dict(_d("2.0", started=1), tenant="Acme"), dict(_d("2.4", started=2), tenant="Globex")]
    keep = decide(rels, tenants, {"": Policy(keep_releases=1)}, NOW)
    assert keep.reasons[("web", "2.2")] == ["never deployed; newer than the current release in Production for tenant Acme"]
