"""Shell completion offers the zone's projects, versions, environments and targets, not only commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.operator_world import World, bk, ok, world


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> World:
    w = world(tmp_path_factory.mktemp("completion"))
    ok("import", w.bundle, home=w.prod)
    return w


def _complete(line: str, home: Path | None) -> list[str]:
    words = line.split(" ")
    env = {"_BUNDLEKIT_COMPLETE": "bash_complete", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}
    if home is not None:
        env["BUNDLEKIT_HOME"] = str(home)
    r = bk(env=env)
    assert r.exit_code == 0, r.stderr
    return [row.split(",", 1)[1] for row in r.stdout.splitlines() if row]


def test_commands_complete(w: World) -> None:
    assert "deploy" in _complete("bundlekit dep", None)
    assert "prune" in _complete("bundlekit pr", None)


def test_projects_versions_environments_and_targets_come_from_the_zone(w: World) -> None:
    assert _complete("bundlekit deploy ", w.prod) == ["acme-web"]
    assert _complete("bundlekit deploy acme-web ", w.prod) == ["1.4.0"]
    assert _complete("bundlekit deploy acme-web 1.4.0 --environment P", w.prod) == ["Production"]
    assert _complete("bundlekit targets remove ", w.prod) == ["db-01", "web-01"]
    assert _complete("bundlekit variables set acme-web X y --machine w", w.prod) == ["web-01"]


def test_home_on_the_command_line_is_used_and_a_missing_zone_completes_nothing(w: World, tmp_path: Path) -> None:
    assert _complete(f"bundlekit show --home {w.prod} ", tmp_path / "nowhere") == ["acme-web"]
    assert _complete("bundlekit show ", tmp_path / "nowhere") == []


def test_tenants_complete_from_the_project_and_projects_complete_once_by_slug(w: World) -> None:
    """Finding 15.5: `deploy --tenant` completed nothing, and project names came back mixed
    (`big-app billing Billing Shop shop`)."""
    ok("variables", "set", "acme-web", "Acme.Theme", "dark", "--tenant", "Acme Corp", "--new", home=w.prod)
    assert _complete("bundlekit deploy acme-web 1.4.0 --environment Production --tenant Ac", w.prod) == ["Acme Corp"]
    assert _complete("bundlekit lifecycle show acme-web --tenant ", w.prod) == ["Acme Corp"]
    assert _complete("bundlekit variables list ", w.prod) == ["acme-web"]


def test_trusted_zones_complete_after_to_and_trust_set(w: World) -> None:
    """Finding 15.1: `--to ` completed nothing though the trusted zones are in the state."""
    assert _complete("bundlekit deployments receipt Deployments-1 --to ", w.prod) == ["dev"]
    assert _complete("bundlekit export release.toml --to p", w.dev) == ["prod"]
    assert _complete("bundlekit trust set ", w.prod) == ["dev"]
    assert _complete("bundlekit trust remove d", w.prod) == ["dev"]
    assert _complete("bundlekit zone migrate-state --to ", w.prod) == []  # a database URL there, not a zone
