"""Lifecycle rules (pure): which phases a release passed and which environments are open to it."""

from __future__ import annotations

import pytest

from bundlekit.format.lifecycle import Lifecycle, Phase
from bundlekit.promotion.lifecycle import Success, decide, progress, updated_after_proof

THREE = Lifecycle((Phase("Development", ("Development",)), Phase("Staging", ("Staging",)),
                   Phase("Production", ("Production",))))


def _ok(*envs: str, tenant: str | None = None) -> list[Success]:
    return [Success(e, tenant, f"run in {e}") for e in envs]


def test_first_phase_is_always_open_and_later_ones_wait_for_the_previous() -> None:
    p = progress(THREE, [])
    assert decide(p, "Development").allowed
    stopped = decide(p, "Production")
    assert not stopped.allowed and stopped.blocking is not None and stopped.blocking.phase.name == "Staging"
    assert decide(progress(THREE, _ok("Development")), "Staging").allowed
    assert not decide(progress(THREE, _ok("Development")), "Production").allowed


def test_environment_names_compare_case_insensitively() -> None:
    p = progress(THREE, _ok("development", "STAGING"))
    assert decide(p, "production").allowed
    assert p.phases[1].succeeded == ("Staging",)  # shown in the lifecycle's spelling


def test_redeploying_to_an_earlier_phase_is_always_allowed() -> None:
    p = progress(THREE, _ok("Development", "Staging", "Production"))
    assert all(decide(p, e).allowed for e in ("Development", "Staging", "Production"))


def test_an_environment_outside_the_lifecycle_is_never_open() -> None:
    d = decide(progress(THREE, _ok("Development", "Staging")), "Hotfix")
    assert not d.allowed and d.phase is None


def test_minimum_successful_counts_distinct_environments_of_the_phase() -> None:
    lc = Lifecycle((Phase("Test", ("Test A", "Test B", "Test C"), minimum_successful=2), Phase("Prod", ("Prod",))))
    assert not decide(progress(lc, _ok("Test A", "test a")), "Prod").allowed  # the same environment twice is one
    assert decide(progress(lc, _ok("Test A", "Test C")), "Prod").allowed


def test_optional_phases_may_be_skipped_but_still_count_when_passed() -> None:
    lc = Lifecycle((Phase("Dev", ("Dev",)), Phase("QA", ("QA",), optional=True), Phase("Prod", ("Prod",))))
    assert decide(progress(lc, _ok("Dev")), "Prod").allowed
    assert decide(progress(lc, _ok("Dev")), "QA").allowed
    assert not decide(progress(lc, []), "Prod").allowed  # the required Dev before the optional QA still counts
    only_optional_first = Lifecycle((Phase("QA", ("QA",), optional=True), Phase("Prod", ("Prod",))))
    assert decide(progress(only_optional_first, []), "Prod").allowed


def test_a_waiver_skips_exactly_the_phase_waived_and_is_named() -> None:
    waived = progress(THREE, _ok("Development"), waived=["staging"])
    d = decide(waived, "Production")
    assert d.allowed and d.waived == ("Staging",)
    # waiving Staging does not also waive Development, which Staging would have needed
    d = decide(progress(THREE, [], waived=["Staging"]), "Production")
    assert not d.allowed and d.blocking is not None and d.blocking.phase.name == "Development"
    # a waiver that evidence made unnecessary is not recorded as relied upon
    d = decide(progress(THREE, _ok("Development", "Staging"), waived=["Staging"]), "Production")
    assert d.allowed and d.waived == ()


def test_a_tenants_deployment_counts_its_own_and_untenanted_successes_only() -> None:
    runs = _ok("Development") + _ok("Staging", tenant="Acme Corp")
    assert decide(progress(THREE, runs, tenant="acme corp"), "Production").allowed
    assert not decide(progress(THREE, runs, tenant="Globex"), "Production").allowed
    assert not decide(progress(THREE, runs), "Production").allowed  # untenanted: Acme Corp's run is not its proof


@pytest.mark.parametrize("make, problem", [
    (lambda: Phase("P", ()), "at least one environment"),
    (lambda: Phase("P", ("A", "a")), "listed twice"),
    (lambda: Phase("P", ("A",), minimum_successful=2), "minimum_successful"),
    (lambda: Phase("P", ("A",), minimum_successful=0), "minimum_successful"),
    (lambda: Lifecycle(()), "at least one phase"),
    (lambda: Lifecycle((Phase("P", ("A",)), Phase("p", ("B",)))), "two phases"),
    (lambda: Lifecycle((Phase("P", ("A",)), Phase("Q", ("a",)))), "belongs to one phase"),
])
def test_an_invalid_lifecycle_cannot_be_built(make: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        make()  # type: ignore[operator]


def test_a_refresh_in_the_same_second_as_the_proof_counts_as_after_it() -> None:
    """Decision 682: the refresh is stored in whole seconds, the proof's end with a fraction; a tie
    cannot be ordered, so it is flagged (a proof 0.7 s into second 100, a refresh recorded as 100)."""
    assert updated_after_proof(100.7, 100)
    assert updated_after_proof(99.2, 100)
    assert not updated_after_proof(101.0, 100)
    assert not updated_after_proof(None, 100) and not updated_after_proof(100.7, None)
