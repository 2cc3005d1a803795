"""Local production edits survive later imports; conflicts are shown masked and change nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path


import pytest

from bundlekit.importer.importer import import_bundle
from bundlekit.importer.merge_policy import load_policy
from bundlekit.importer import edits
from bundlekit.zone import projects, secrets
from tests.conftest import CANARY, Zones, raises_code, run_cli, snapshot, state_bytes
from tests.importer.helpers import edit_release, export

#: Their state tests run on both engines (decision 772).
pytestmark = pytest.mark.usefixtures("state_engine")


def _now() -> int:
    return int(time.time())


def _bump(release_dir: Path) -> None:
    edit_release(release_dir, 'version = "1.4.0"\nchannel', 'version = "1.5.0"\nchannel')


def _local(z: Zones) -> dict:  # type: ignore[type-arg]
    return projects.find_project(z.prod.db, "acme-web", "prod").local


def test_placeholder_binding_survives_next_import(zones: Zones, release_dir: Path, tmp_path: Path) -> None:
    import_bundle(zones.prod, export(zones, tmp_path / "1.bundle"), now=_now())
    edits.set_variable(zones.prod, "Acme Web", "Acme.ApiKey", "prod-api-key", sensitive=True, now=_now())
    rel = edit_release(release_dir, 'version = "1.4.0"\nchannel', 'version = "1.5.0"\nchannel')
    import_bundle(zones.prod, export(zones, tmp_path / "2.bundle", release=rel), now=_now())
    entry = _local(zones)["variables"]["acme.apikey"]
    assert entry["placeholder"] is True and entry["value"].startswith("secret:")


def test_disabled_step_survives_script_change(zones: Zones, release_dir: Path, tmp_path: Path) -> None:
    import_bundle(zones.prod, export(zones, tmp_path / "1.bundle"), now=_now())
    edits.set_step_enabled(zones.prod, "acme-web", "Smoke test", False, _now())
    _bump(release_dir)
    rel = edit_release(release_dir, 'print(f"smoke test', 'print(f"SMOKE test')
    import_bundle(zones.prod, export(zones, tmp_path / "2.bundle", release=rel), now=_now())
    step = _local(zones)["steps"]["smoke test"]
    assert step["enabled"] is False and "SMOKE test" in step["script"]


def test_conflicting_change_fails_with_masked_conflict_and_changes_nothing(zones: Zones, release_dir: Path,
                                                                          tmp_path: Path) -> None:
    import_bundle(zones.prod, export(zones, tmp_path / "1.bundle"), now=_now())
    edits.set_variable(zones.prod, "acme-web", "Acme.Db.Password", "prod-only-password", sensitive=True,
                       now=_now())
    _bump(release_dir)
    rel = edit_release(release_dir, f'value = "{CANARY}"', 'value = "dev-rotated-password"')
    b2 = export(zones, tmp_path / "2.bundle", release=rel)
    before = snapshot(zones.prod.home)
    with raises_code("conflict") as info:
        import_bundle(zones.prod, b2, now=_now())
    assert info.value.exit_code == 4 and "acme.db.password" in info.value.message.lower()
    text = info.value.message + json.dumps(info.value.details)
    for secret in ("prod-only-password", "dev-rotated-password", CANARY):
        assert secret not in text
    assert snapshot(zones.prod.home) == before
    r = run_cli("import", b2, "--json", home=zones.prod.home)
    assert r.returncode == 4 and json.loads(r.stdout)["error"]["code"] == "conflict"
    assert "prod-only-password" not in r.stdout + r.stderr
    dry = run_cli("import", b2, "--dry-run", home=zones.prod.home)
    assert dry.returncode == 4 and "CONFLICT" in dry.stdout
    assert snapshot(zones.prod.home) == before
    ok = run_cli("import", b2, "--on-conflict", "keep-local", home=zones.prod.home)
    assert ok.returncode == 0, ok.stderr


def test_take_incoming_and_policy_file(zones: Zones, release_dir: Path, tmp_path: Path) -> None:
    import_bundle(zones.prod, export(zones, tmp_path / "1.bundle"), now=_now())
    edits.set_variable(zones.prod, "acme-web", "Acme.Db.Name", "prod_local", scope={"environment": ("Production",)},
                       now=_now())
    _bump(release_dir)
    rel = edit_release(release_dir, 'value = "acme_prod"', 'value = "acme_prod_v2"')
    b2 = export(zones, tmp_path / "2.bundle", release=rel)
    policy = tmp_path / "policy.toml"
    policy.write_text('[[rule]]\nkind = "variable"\nenvironment = "Production"\nresolution = "keep-local"\n')
    plan = import_bundle(zones.prod, b2, now=_now(), policy=load_policy(policy))
    assert plan.merge is not None and len(plan.merge.resolved) == 1
    key = "acme.db.name[environment=production]"
    assert _local(zones)["variables"][key]["value"] == "prod_local"


def test_dry_run_changes_nothing(zones: Zones, tmp_path: Path) -> None:
    b = export(zones, tmp_path / "1.bundle")
    before = snapshot(zones.prod.home)
    r = run_cli("import", b, "--dry-run", "--json", home=zones.prod.home)
    assert r.returncode == 0 and json.loads(r.stdout)["dry_run"] is True
    assert snapshot(zones.prod.home) == before


def test_variables_and_steps_cli(zones: Zones, tmp_path: Path) -> None:
    import_bundle(zones.prod, export(zones, tmp_path / "1.bundle"), now=_now())
    zones.close()
    h = zones.prod.home
    r = run_cli("variables", "set", "ACME-WEB", "Acme.ApiKey", "api-key-canary-123", "--sensitive", home=h)
    assert r.returncode == 0, r.stderr
    r = run_cli("variables", "list", "Acme Web", "--json", home=h)
    rows = {v["name"]: v for v in json.loads(r.stdout)["variables"]}
    assert rows["Acme.ApiKey"]["value"] == "********" and "api-key-canary-123" not in r.stdout
    assert b"api-key-canary-123" not in state_bytes(h)
    assert run_cli("steps", "disable", "acme-web", "smoke test", home=h).returncode == 0
    show = json.loads(run_cli("show", "acme-web", "--json", home=h).stdout)
    assert {s["name"]: s["enabled"] for s in show["steps"]}["Smoke test"] is False
    assert run_cli("variables", "unset", "acme-web", "Acme.ApiKey", home=h).returncode == 0
    r = run_cli("show", "nope", home=h)
    assert r.returncode == 1 and "unknown_project" in r.stderr


def _entries(z: Zones, key: str) -> list[dict]:  # type: ignore[type-arg]
    """The variable ``key`` in the project's local copy, its base and every release snapshot."""
    project = projects.find_project(z.prod.db, "acme-web", "prod")
    releases = [projects.get_release(z.prod.db, project, r["version"])["snapshot"]
                for r in projects.list_releases(z.prod.db)]
    return [s["variables"][key] for s in [project.local, project.base, *releases] if key in s["variables"]]


def test_a_source_declassifying_a_variable_leaves_it_sealed_in_the_zone_and_later_imports_merge_cleanly(
        zones: Zones, release_dir: Path, tmp_path: Path) -> None:
    import_bundle(zones.prod, export(zones, tmp_path / "1.bundle"), now=_now())
    _bump(release_dir)
    rel = edit_release(release_dir, f'value = "{CANARY}"\nsensitive = true', 'value = "sent-plain-1"')
    plan = import_bundle(zones.prod, export(zones, tmp_path / "2.bundle", release=rel), now=_now())
    assert plan.merge is not None and plan.merge.ok
    edit_release(release_dir, 'version = "1.5.0"\nchannel', 'version = "1.6.0"\nchannel')
    edit_release(release_dir, 'value = "sent-plain-1"', 'value = "sent-plain-2"')
    plan = import_bundle(zones.prod, export(zones, tmp_path / "3.bundle", release=rel), now=_now())
    assert plan.merge is not None and plan.merge.ok and not plan.merge.resolved
    entries = _entries(zones, "acme.db.password")
    assert len(entries) == 5  # local, base, and releases 1.4.0, 1.5.0, 1.6.0
    assert all(e["sensitive"] is True and secrets.is_secret_ref(e["value"]) for e in entries)
    assert secrets.reveal(zones.prod, _local(zones)["variables"]["acme.db.password"]["value"]) == "sent-plain-2"
    state = state_bytes(zones.prod.home)
    assert b"sent-plain-1" not in state and b"sent-plain-2" not in state


def test_a_clear_sensitive_value_left_by_an_older_merge_is_sealed_by_the_next_change(
        zones: Zones, tmp_path: Path) -> None:
    import_bundle(zones.prod, export(zones, tmp_path / "1.bundle"), now=_now())
    local = _local(zones)
    local["variables"]["acme.apikey"].update(value="left-in-clear-canary")  # what a merge before decision 250 stored
    with zones.prod.db.transaction() as tx:
        tx.run("UPDATE projects SET local = ? WHERE slug = 'acme-web'", (json.dumps(local),))
    edits.set_step_enabled(zones.prod, "acme-web", "Smoke test", False, _now())
    entry = _local(zones)["variables"]["acme.apikey"]
    assert secrets.is_secret_ref(entry["value"]) and secrets.reveal(zones.prod, entry["value"]) == "left-in-clear-canary"
    assert b"left-in-clear-canary" not in state_bytes(zones.prod.home)
