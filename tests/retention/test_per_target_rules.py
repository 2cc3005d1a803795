"""What one target's folder keeps, pure (decision 910): judged by what that target got."""

from __future__ import annotations

from bundlekit.retention.per_target import History, Keeper, kept_on
from bundlekit.retention.rules import DAY, Keep, decide
from bundlekit.zone.retention import Policy

NOW = 1_800_000_000


def _g(release: str, outcome: str = "Success", target: str | None = "w1", env: str = "Production",
       tenant: str | None = None, started: float = 0, project: str = "web",
       package: str = "Web.App") -> dict[str, object]:
    """A delivery: ``package`` at the release's version installed on ``target``."""
    return {"project_slug": project, "release": release, "environment": env, "tenant": tenant, "started": started,
            "in_space": "Default", "target": target, "package": package, "version": release,
            "sha256": f"{package}-{release}", "outcome": outcome}


def _kept(got: list[dict[str, object]], keepers: list[Keeper], policy: Policy = Policy(keep_releases=1),
          keep: Keep | None = None) -> set[str]:
    """The versions of Web.App the folder keeps (by release, or installed on the keepers)."""
    kept = kept_on(keepers, History(got), keep or Keep(), {"default": {"": policy}}, NOW)
    versions = {str(d["version"]) for d in got}
    return {v for v in versions if kept.why({("web", v)}, ("web.app", v))}


def test_the_last_two_successful_releases_on_the_target_stay_whatever_the_policy() -> None:
    got = [_g(v) for v in ("1.0", "1.1", "1.2", "1.3")]
    assert _kept(got, [Keeper("w1", "Production")]) == {"1.2", "1.3"}


def test_a_redeploy_of_the_running_release_does_not_push_the_previous_one_out() -> None:
    got = [_g("1.0"), _g("1.1"), _g("1.1")]
    assert _kept(got, [Keeper("w1", "Production")]) == {"1.0", "1.1"}


def test_what_was_tried_since_the_last_success_stays_and_does_not_count_as_running() -> None:
    got = [_g("1.0"), _g("1.1"), _g("1.2", "Failed"), _g("1.3", "Running")]
    kept = kept_on([Keeper("w1", "Production")], History(got), Keep(), {"default": {"": Policy(keep_releases=1)}}, NOW)
    assert set(kept.packages) == {("web.app", v) for v in ("1.0", "1.1", "1.2", "1.3")}
    assert kept.packages[("web.app", "1.1")] == ["the version last installed successfully on target w1"]
    assert kept.packages[("web.app", "1.0")] == ["the one installed successfully on target w1 before it"]
    assert kept.digests["Web.App-1.0"] == kept.packages[("web.app", "1.0")]


def test_each_tenant_on_a_target_keeps_what_it_runs() -> None:
    got = [_g("1.0", tenant="acme"), _g("2.0", tenant="globex"), _g("2.1", tenant="globex"), _g("2.2", tenant="globex")]
    assert _kept(got, [Keeper("w1", "Production")]) == {"1.0", "2.1", "2.2"}


def test_only_what_a_target_itself_got_counts_and_names_are_matched_as_typed_or_not() -> None:
    got = [_g("1.0", target="w2"), _g("1.1", target="w2"), _g("1.2", target="w1")]
    assert _kept(got, [Keeper("W1", "Production")]) == {"1.2"}
    assert History(got).got(["w2"]) == ({("web.app", "1.0"), ("web.app", "1.1")}, {"Web.App-1.0", "Web.App-1.1"})


def test_each_package_on_a_target_keeps_its_own_last_two() -> None:
    # the api package went out with 1.1 only: web's 1.3 and 1.2 do not push it out
    got = [_g("1.0"), _g("1.1"), _g("1.1", package="Api.App"), _g("1.2"), _g("1.3")]
    kept = kept_on([Keeper("w1", "Production")], History(got), Keep(), {"default": {"": Policy(keep_releases=1)}}, NOW)
    assert set(kept.packages) == {("web.app", "1.2"), ("web.app", "1.3"), ("api.app", "1.1")}


def test_keep_all_keeps_every_release_the_target_got_and_keep_n_and_days_count_on_the_target() -> None:
    got = [_g(v, started=NOW - (10 - n) * DAY) for n, v in enumerate(("1.0", "1.1", "1.2", "1.3", "1.4"))]
    w1 = [Keeper("w1", "Staging")]
    assert _kept(got, w1, Policy()) == {"1.0", "1.1", "1.2", "1.3", "1.4"}
    assert _kept(got, w1, Policy(keep_releases=3)) == {"1.2", "1.3", "1.4"}
    assert _kept(got, w1, Policy(keep_days=8)) == {"1.2", "1.3", "1.4"}  # 1.2: 8 days ago; the last two anyway
    assert _kept(got, w1, Policy(keep_days=9)) == {"1.1", "1.2", "1.3", "1.4"}


def test_a_target_not_asked_keeps_only_what_it_runs_and_the_worker_keeps_per_environment() -> None:
    got = [_g(v, target="w2") for v in ("1.0", "1.1", "1.2")]
    assert _kept(got, [Keeper("w2", "Production", full=False)], Policy()) == {"1.1", "1.2"}
    zone = [_g("1.0", target=None, env="Staging"), _g("1.1", target=None, env="Production"),
            _g("1.2", target=None, env="Production"), _g("1.3", target=None, env="Production")]
    # the worker serves every environment: Staging's last one stays beside Production's last two
    assert _kept(zone, [Keeper(None, "")]) == {"1.0", "1.2", "1.3"}


def test_a_release_current_or_previous_anywhere_stays_on_every_target() -> None:
    deployments = [{"project_slug": "web", "release": v, "environment": "Production", "state": "Success",
                    "started": n} for n, v in enumerate(("1.0", "1.1", "1.2"))]
    releases = [{"project_slug": "web", "version": v, "imported_at": n, "sequence": 0}
                for n, v in enumerate(("1.0", "1.1", "1.2", "1.3"))]
    keep = decide(releases, deployments, {"": Policy(keep_releases=1)}, NOW)
    assert keep.protected == {("web", "1.1"), ("web", "1.2")}
    got = [_g(v, target="w9", env="Staging") for v in ("1.0", "1.1", "1.2", "1.3")]
    assert _kept(got, [Keeper("w9", "Staging")], keep=keep) == {"1.1", "1.2", "1.3"}
