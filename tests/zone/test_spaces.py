"""Spaces in the zone's state, on both engines (decision 660): the migration puts everything a zone
held before into ``Default``, names compare without case, and lookups stay inside their space."""

from __future__ import annotations

import time
from pathlib import Path

from bundlekit.format.card import parse_card
from bundlekit.trust.policy import SourcePolicy
from bundlekit.zone import projects, retention, spaces, targets, truststore
from tests.conftest import Zones, raises_code
from tests.pgserver import PostgresServer
from tests.zone.test_db import State
from tests.zone.old_schema import before_migration, lay_schema


def test_migrating_puts_every_trust_rule_project_and_target_in_default(tmp_path: Path,
                                                                       pg: PostgresServer | None) -> None:
    state = State(tmp_path, pg)
    old = state.raw()
    before = before_migration("CREATE TABLE spaces")
    with old.transaction() as tx:
        lay_schema(old, tx, before)
        tx.run("INSERT INTO meta(key, value) VALUES ('zone_id', 'z-prod')")
        tx.run("INSERT INTO trusted_zones(zone_id, name, card, sealing_key, policy, added) VALUES (?,?,?,?,?,?)",
               ("z-dev", "dev", b"card", b"k" * 32, "{}", 1))
        tx.run("INSERT INTO projects(slug, name, space, source_zone_id, local, base, updated) VALUES (?,?,?,?,?,?,?)",
               ("acme-web", "Acme Web", "Payments", "z-dev", "{}", "{}", 1))  # the source's label stays
        tx.run("INSERT INTO targets(name, environment, roles, kind, root, added) VALUES (?,?,?,?,?,?)",
               ("web-01", "Production", '["web"]', "local", "/srv/web", 1))
    old.close()
    db = state.open()
    try:
        assert spaces.space_names(db) == ["Default"]
        assert [(r["name"], r["trusted_zones"], r["projects"], r["targets"]) for r in spaces.list_spaces(db)] == [
            ("Default", 1, 1, 1)]
        assert [(p["slug"], p["space"], p["in_space"]) for p in db.all("SELECT slug, space, in_space FROM projects")] \
            == [("acme-web", "Payments", "Default")]
        assert truststore.space_of(db, "z-dev") == "Default"
        assert [t.space for t in targets.list_targets(db, space="Default")] == ["Default"]
        assert projects.find_project(db, "acme-web", "prod", space="Default").in_space == "Default"
    finally:
        db.close()


def test_space_names_are_labels_unique_without_case(any_zones: Zones) -> None:
    prod = any_zones.prod
    now = int(time.time())
    assert spaces.add_space(prod, "Payments EU", now)["name"] == "Payments EU"
    assert spaces.resolve_space(prod.db, "payments eu") == "Payments EU"
    with raises_code("space_exists"):
        spaces.add_space(prod, "PAYMENTS EU", now)
    with raises_code("space_exists"):
        spaces.add_space(prod, "default", now)
    with raises_code("invalid_label"):
        spaces.add_space(prod, " Payments", now)
    # review v33-11a F8: names a person cannot tell from an existing one, or holding invisible
    # formatting characters, are refused
    for look_alike in ("\uff30ayments EU", "Payments\u3000EU"):
        with raises_code("space_exists"):
            spaces.add_space(prod, look_alike, now)
    for hidden in ("Pay\u200bments", "Pay\u00adments", "Pay\ufeffments", "Pay\u2060ments", "Pay\u034fments",
                   "Pay\u3164ments", "Pay\u115fments", "Pay\ufe0fments"):
        with raises_code("invalid_label"):
            spaces.add_space(prod, hidden, now)
    assert [s["name"] for s in spaces.list_spaces(prod.db)] == ["Default", "Payments EU"]
    with raises_code("unknown_space") as info:
        spaces.resolve_space(prod.db, "Paymnets EU")
    assert info.value.details["suggestions"] == ["Payments EU"]
    assert spaces.space_names(prod.db) == ["Default", "Payments EU"]


def test_space_names_differing_by_a_run_of_white_space_or_by_small_capitals_are_one_space(any_zones: Zones) -> None:
    """Review atk35 #2 and #3 (decision 960): ``Pay  ments`` reads ``Pay ments`` (a page shows
    runs of white space as one), ``ᴘᴀʏᴍᴇɴᴛꜱ`` reads ``PAYMENTS``; spaces add refuses them as the
    existing space and --space takes them for it."""
    prod = any_zones.prod
    now = int(time.time())
    spaces.add_space(prod, "Pay ments", now)
    spaces.add_space(prod, "Payments", now)
    for alike, existing in (("Pay  ments", "Pay ments"), ("Pay \u2003 ments", "Pay ments"), ("Pay\u3000\u3000ments", "Pay ments"),
                            ("\u1d18\u1d00\u028f\u1d0d\u1d07\u0274\u1d1b\ua731", "Payments"),
                            ("\u1d18ayments", "Payments"), ("PAYMENT\ua731", "Payments")):
        with raises_code("space_exists") as info:
            spaces.add_space(prod, alike, now)
        assert info.value.details["space"] == existing
        assert spaces.resolve_space(prod.db, alike) == existing
    assert spaces.code_points("Pay  ments") == "2 spaces in a row"
    assert spaces.space_names(prod.db) == ["Default", "Pay ments", "Payments"]
    spaces.add_space(prod, "Pay ment", now)  # a name that reads differently is still another space


def test_a_zone_is_trusted_in_one_space_and_lookups_stay_in_theirs(any_zones: Zones, tmp_path: Path) -> None:
    prod, dev = any_zones.prod, any_zones.dev
    now = int(time.time())
    spaces.add_space(prod, "Web", now)
    card = parse_card(dev.card_bytes(), "dev.card")
    with raises_code("already_trusted"):  # make_zones trusted dev in Default
        truststore.add_zone(prod, card, SourcePolicy(), now, space="Web")
    truststore.remove_zone(prod, "dev")
    assert truststore.add_zone(prod, card, SourcePolicy(), now, space="Web").space == "Web"
    assert [e.name for e in truststore.list_zones(prod, space="Default")] == []
    assert truststore.space_of(prod.db, dev.zone_id) == "Web"
    targets.add_target(prod, "web-01", "Production", ("web",), tmp_path / "t", now, space="Web")
    assert targets.list_targets(prod.db, space="Default") == []
    with raises_code("unknown_target"):
        targets.remove_target(prod, "web-01", space="Default")
    with raises_code("target_exists"):
        targets.add_target(prod, "WEB-01", "Production", ("web",), tmp_path / "u", now)
    assert targets.remove_target(prod, "web-01", space="Web").space == "Web"



def test_migrating_makes_every_retention_policy_defaults_and_policies_are_kept_per_space(
        tmp_path: Path, pg: PostgresServer | None) -> None:
    state = State(tmp_path, pg)
    old = state.raw()
    with old.transaction() as tx:
        lay_schema(old, tx, before_migration("CREATE TABLE retention_rules"))
        tx.run("INSERT INTO meta(key, value) VALUES ('zone_id', 'z-prod')")
        for env, keep, auto in (("", 3, 1), ("Production", 5, 0)):
            tx.run("INSERT INTO retention(environment, keep_releases, keep_days, auto_prune, updated) "
                   "VALUES (?,?,?,?,?)", (env, keep, None, auto, 1))
    old.close()
    db = state.open()
    try:
        assert "retention" not in db.table_names(db)
        kept = retention.policies(db)  # Default's
        assert {k: (p.space, p.keep_releases, p.auto_prune) for k, p in kept.items()} == {
            "": ("Default", 3, True), "production": ("Default", 5, False)}
        retention.change_policy(db, "production", keep_releases=1, keep_days=None, keep_all=False, auto_prune=None,
                                now=2, space="Payments")  # the same environment, another space: a row of its own
        assert retention.policies(db, "Default")["production"].keep_releases == 5
        assert retention.policies(db, "payments")["production"].keep_releases == 1
        assert retention.policies(db, "Payments")[""].keeps_all  # a space's own default: keep everything
        assert retention.policies(db, "Web") == {"": retention.Policy(space="Web")}
    finally:
        db.close()
