"""Prune's claim is watched: when its PostgreSQL connection ends mid-removal, prune stops there.

The claim is a session advisory lock that ends with the connection (a server restart, a
terminated backend, a network fault); from then on imports and deployments on other nodes go
ahead. Prune asks before each removal whether the claim is still its own (decision 771): it
stops, records nothing, is refused ``prune_claim_lost``, and prune run again removes the rest.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bundlekit.retention import prune
from bundlekit.retention.prune import apply_prune, plan_prune
from bundlekit.zone.home import open_zone
from tests.cli.operator_world import ok, world
from tests.conftest import raises_code
from tests.pgserver import PostgresServer
from tests.retention.test_prune import _release_version


def test_a_prune_whose_connection_ends_mid_removal_stops_and_a_rerun_finishes(
        tmp_path: Path, pg_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    w = world(tmp_path / "w", pg=pg_server)
    for n, version in enumerate(("1.0.0", "1.1.0", "1.2.0", "1.3.0")):
        bundle = w.root / f"acme-{version}.bundle"
        ok("export", _release_version(w, version), "--to", "prod", "-o", bundle, home=w.dev)
        ok("import", bundle, home=w.prod)
        if n == 0:
            ok("variables", "set", "acme-web", "Acme.ApiKey", "k-claim", "--sensitive", home=w.prod)
        ok("deploy", "acme-web", version, "--environment", "Production", home=w.prod)
    ok("retention", "set", "--keep", "1", home=w.prod)
    real_remove = prune._remove
    removed: list[Path] = []

    with open_zone(w.prod) as z:
        plan = plan_prune(z, now=int(time.time()))
        in_zone = [Path(r.path) for r in plan.removals if r.target is None and r.path]
        assert len(in_zone) >= 2 and all(p.exists() for p in in_zone), plan.removals
        backend = z.db.holder()

        def remove_then_lose_the_connection(path: Path) -> tuple[int, str]:
            out = real_remove(path)
            removed.append(path)
            if len(removed) == 1:  # the server ends prune's connection, and its claim with it
                ended = pg_server.sql("postgres", f"SELECT pg_terminate_backend({backend}, 30000)")
                assert ended == [(True,)], ended
            return out

        monkeypatch.setattr(prune, "_remove", remove_then_lose_the_connection)
        with raises_code("prune_claim_lost") as info:
            apply_prune(z, plan, now=int(time.time()))
    monkeypatch.undo()
    assert removed == in_zone[:1]  # stopped before the next removal
    assert f"after 1 of {len(plan.removals)} removals" in info.value.message
    assert "bundlekit prune` again" in info.value.message
    assert all(p.exists() for p in in_zone[1:])
    with open_zone(w.prod) as z:
        assert z.db.scalar("SELECT COUNT(*) AS n FROM prune_runs") == 0  # nothing recorded
        again = plan_prune(z, now=int(time.time()))
        result = apply_prune(z, again, now=int(time.time()))
    assert result.not_removed == [], result.not_removed
    assert not any(p.exists() for p in in_zone)  # the re-run finished it
    ok("deploy", "acme-web", "1.3.0", "--environment", "Production", home=w.prod)  # what is kept still deploys
