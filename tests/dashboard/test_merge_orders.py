"""The dashboard's promotion order: lifecycles merged so that each keeps its order."""

from __future__ import annotations

from bundlekit.dashboard.model import merge_orders


def test_a_lifecycle_starting_at_staging_first_still_puts_development_first() -> None:
    job = [["staging"], ["production"]]
    shop = [["development"], ["staging"], ["production"]]
    assert merge_orders([job, shop]) == ["development", "staging", "production"]
    assert merge_orders([shop, job]) == ["development", "staging", "production"]


def test_environments_of_one_phase_keep_their_listed_order_and_others_interleave() -> None:
    a = [["dev"], ["qa", "uat"], ["prod"]]
    b = [["perf"], ["prod"], ["dr"]]
    assert merge_orders([a, b]) == ["dev", "qa", "uat", "perf", "prod", "dr"]


def test_contradicting_lifecycles_still_give_every_environment_once() -> None:
    assert merge_orders([[["a"], ["b"]], [["b"], ["a"]]]) == ["a", "b"]
    assert merge_orders([]) == []
