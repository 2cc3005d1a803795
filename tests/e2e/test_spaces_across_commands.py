"""Every command that lists or changes what a space owns keeps to that space (decisions 660 and 750).

``prod`` holds ``Payments`` and ``Shop`` besides ``Default``. Zone ``dev`` is trusted in ``Payments``
and exports ``Acme Web`` naming its space ``payments`` (another spelling: the zone's is what
counts); zone ``devb`` is trusted in ``Shop`` and exports ``Web Site``. Each space has its own two
targets in Production, and each project is deployed there. Refusals leave prod's home exactly as
it was (the snapshot of every file).
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import cli_in_process, run_cli, snapshot
from tests.e2e.test_spaces import ok, refused, release, zones
from tests.reported import unchanged_or_reported

#: The first step of the fixture release, told to print the space it runs in.
MIGRATE = 'echo "migrating database #{Acme.Db.Name} on #{Octopus.Machine.Name}"\n'
SAYS_SPACE = 'echo "space [#{Octopus.Space.Name}]"\n'


#: A lifecycle for the world's releases: Production opens once Staging passed (or is waived).
LIFECYCLE = """[lifecycle]
[[lifecycle.phases]]
name = "Staging"
environments = ["Staging"]

[[lifecycle.phases]]
name = "Production"
environments = ["Production"]

[[packages]]"""


def _release(root: Path, folder: str, name: str, space: str | None, version: str = "1.4.0",
             lifecycle: bool = False) -> Path:
    toml = release(root, folder, space)
    text = toml.read_text().replace('name = "Acme Web"', f'name = "{name}"', 1).replace(MIGRATE, MIGRATE + SAYS_SPACE, 1)
    text = text.replace("[[packages]]", LIFECYCLE, 1) if lifecycle else text
    toml.write_text(text.replace('version = "1.4.0"\nchannel', f'version = "{version}"\nchannel', 1))
    return toml


def _targets(prod: Path, root: Path, space: str, prefix: str) -> None:
    for role in ("db", "web"):
        name = f"{prefix}-{role}"
        ok("targets", "add", name, "--environment", "Production", "--role", role, "--root", root / "t" / name,
           "--space", space, home=prod)


def _deploy(prod: Path, slug: str, version: str, space: str) -> dict:  # type: ignore[type-arg]
    return json.loads(ok("deploy", slug, version, "--environment", "Production", "--space", space, "--json",
                         home=prod))


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    w = zones(tmp_path, "dev", "devb", "prod")
    prod = w["prod"]
    ok("spaces", "add", "Payments", home=prod)
    ok("spaces", "add", "Shop", home=prod)
    for source, space in (("dev", "Payments"), ("devb", "Shop")):
        ok("spaces", "add", space, home=w[source])  # where the source creates the releases it exports (decision 887)
        ok("trust", "add", tmp_path / "prod.card", home=w[source])
        ok("trust", "add", tmp_path / f"{source}.card", "--space", space, home=prod)
    for source, name, space, slug in (("dev", "Acme Web", "payments", "acme-web"), ("devb", "Web Site", "Shop", "web-site")):
        bundle = tmp_path / f"{slug}.bundle"
        ok("export", _release(tmp_path, f"rel-{slug}", name, space, lifecycle=True), "--to", "prod", "-o", bundle,
           home=w[source])
        ok("import", bundle, "--space", space, home=prod)
        ok("variables", "set", slug, "Acme.ApiKey", "k", "--sensitive", "--space", space, home=prod)
        ok("lifecycle", "waive", slug, "--phase", "Staging", "--reason", "hotfix", "--space", space, home=prod)
    _targets(prod, tmp_path, "Payments", "pay")
    _targets(prod, tmp_path, "Shop", "shop")
    w["root"] = tmp_path
    return w


def _logs(prod: Path, deployment_id: str) -> str:
    shown = json.loads(ok("deployments", "show", deployment_id, "--json", home=prod))
    return "\n".join(r["log"] for r in shown["record"]["runs"])


def test_a_deployment_names_the_space_its_project_belongs_to_here_as_octopus_space_name(
        world: dict[str, Path]) -> None:
    prod = world["prod"]
    pay = _deploy(prod, "acme-web", "1.4.0", "Payments")
    web = _deploy(prod, "web-site", "1.4.0", "Shop")
    # the zone's spelling (Payments), not the release file's (payments)
    assert "space [Payments]" in _logs(prod, pay["deployment_id"])
    assert "space [Shop]" in _logs(prod, web["deployment_id"])


def test_a_release_naming_a_space_this_zone_lacks_deploys_as_default(tmp_path: Path) -> None:
    homes = zones(tmp_path, "dev", "prod")
    ok("trust", "add", tmp_path / "prod.card", home=homes["dev"])
    ok("trust", "add", tmp_path / "dev.card", home=homes["prod"])
    ok("spaces", "add", "Team", home=homes["dev"])
    bundle = tmp_path / "team.bundle"
    ok("export", _release(tmp_path, "rel", "Acme Web", "Team"), "--to", "prod", "-o", bundle, home=homes["dev"])
    ok("import", bundle, home=homes["prod"])
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k", "--sensitive", home=homes["prod"])
    _targets(homes["prod"], tmp_path, "Default", "t")
    out = _deploy(homes["prod"], "acme-web", "1.4.0", "Default")
    assert "space [Default]" in _logs(homes["prod"], out["deployment_id"])


def test_octopus_space_id_is_not_defined_and_lint_says_so(tmp_path: Path) -> None:
    toml = _release(tmp_path, "rel", "Acme Web", None)
    toml.write_text(toml.read_text().replace("#{Octopus.Space.Name}", "#{Octopus.Space.Id}", 1))
    done = cli_in_process("lint", toml, "--json")
    [finding] = json.loads(done.stdout)["findings"]
    assert done.returncode != 0 and finding["code"] == "undefined_variable", finding
    assert "Octopus.Space.Id" in finding["message"] and "Octopus.Space.Name" in finding["suggestion"]


def test_listings_name_each_rows_space_and_keep_to_one_space_when_given(world: dict[str, Path]) -> None:
    prod = world["prod"]
    pay = _deploy(prod, "acme-web", "1.4.0", "Payments")["deployment_id"]
    web = _deploy(prod, "web-site", "1.4.0", "Shop")["deployment_id"]

    def rows(*cmd: str, key: str, space: str | None = None) -> list[tuple[str, str]]:
        args = (*cmd, *(("--space", space) if space else ()), "--json")
        return sorted((r["slug"] if "slug" in r else r.get("name") or r["id"], r["in_space"] if "in_space" in r
                       else r["space"]) for r in json.loads(ok(*args, home=prod))[key])

    listings = {("deployments", "list"): ("deployments", [(pay, "Payments"), (web, "Shop")]),
                ("releases", "list"): ("releases", [("acme-web", "Payments"), ("web-site", "Shop")]),
                ("targets", "list"): ("targets", [("pay-db", "Payments"), ("pay-web", "Payments"),
                                                  ("shop-db", "Shop"), ("shop-web", "Shop")]),
                ("lifecycle", "waivers"): ("waivers", [("acme-web", "Payments"), ("web-site", "Shop")])}
    labels = {"deployments": (pay, web), "releases": ("Acme Web", "Web Site"), "targets": ("pay-db", "shop-db"),
              "waivers": ("Acme Web", "Web Site")}
    for cmd, (key, every) in listings.items():
        assert rows(*cmd, key=key) == every, cmd  # without --space: every space, each row naming its own
        for space in ("Payments", "shop", "Default"):  # any case names the space
            assert rows(*cmd, key=key, space=space) == [r for r in every if r[1].casefold() == space.casefold()], cmd
        lines = ok(*cmd, home=prod).splitlines()  # the text names each row's space too
        for label, space in zip(labels[key], ("Payments", "Shop")):
            assert any(label in line and space in line for line in lines), (cmd, label, lines)
        text = ok(*cmd, "--space", "Payments", home=prod)
        assert labels[key][0] in text and labels[key][1] not in text and "Shop" not in text, (cmd, text)
    assert rows("lifecycle", "waivers", "acme-web", key="waivers", space="Payments") == [("acme-web", "Payments")]
    listed = json.loads(ok("variables", "list", "web-site", "--space", "shop", "--json", home=prod))
    assert listed["in_space"] == "Shop"  # the zone's spelling of the space the project was found in
    shown = json.loads(ok("deployments", "show", web, "--json", home=prod))
    assert shown["in_space"] == "Shop" and "space: Shop" in ok("deployments", "show", web, home=prod)
    before = snapshot(prod)
    err = refused("deployments", "show", web, "--space", "Payments", home=prod)
    assert err["code"] == "unknown_deployment" and "Shop" not in err["message"], err
    # a project slug is the zone's: the refusal says which space holds it (decision 946, review newuser 3)
    err = refused("lifecycle", "waivers", "web-site", "--space", "Payments", home=prod)
    assert err["code"] == "unknown_project" and err["details"]["suggestions"] == [], err
    assert "project web-site is in space Shop; add `--space Shop`" in err["message"], err
    for cmd in (["deployments", "list"], ["releases", "list"], ["targets", "list"], ["lifecycle", "waivers"]):
        assert refused(*cmd, "--space", "Paymens", home=prod)["code"] == "unknown_space", cmd
    assert snapshot(prod) == before


def _more_releases(world: dict[str, Path], versions: tuple[str, ...]) -> None:
    """Export and import ``versions`` of both projects, each into its source's space."""
    root, prod = world["root"], world["prod"]
    for source, name, space, slug in (("dev", "Acme Web", "payments", "acme-web"), ("devb", "Web Site", "Shop", "web-site")):
        for v in versions:
            bundle = root / f"{slug}-{v}.bundle"
            ok("export", _release(root, f"rel-{slug}-{v}", name, space, v, lifecycle=True), "--to", "prod", "-o",
               bundle, home=world[source])
            ok("import", bundle, "--space", space, home=prod)


def test_a_retention_policy_of_one_space_never_lets_another_spaces_release_go(world: dict[str, Path]) -> None:
    prod = world["prod"]
    _more_releases(world, ("1.4.1", "1.4.2"))
    for space in ("Default", "Payments"):  # Shop has no policy of its own: it keeps everything
        ok("retention", "set", "--keep", "1", "--space", space, home=prod)
    plan = json.loads(ok("prune", "--dry-run", "--json", home=prod))
    kept = sorted((k["in_space"], k["project"], k["version"]) for k in plan["kept"])
    assert kept == [("Payments", "Acme Web", "1.4.2"),
                    ("Shop", "Web Site", "1.4.0"), ("Shop", "Web Site", "1.4.1"), ("Shop", "Web Site", "1.4.2")]
    assert {(p["space"], p["keep_releases"]) for p in plan["policies"]} == {("Default", 1), ("Payments", 1)}
    shown = json.loads(ok("retention", "show", "--space", "shop", "--json", home=prod))["policies"]
    assert shown == [{"space": "Shop", "environment": None, "keep_releases": None, "keep_days": None,
                      "auto_prune": False}]  # no policy of its own: every release is kept
    lines = ok("retention", "show", home=prod).splitlines()
    assert any("Payments" in line and "keep the last 1" in line for line in lines), lines
    assert any("Shop" in line and "keep every release" in line for line in lines), lines
    ok("retention", "set", "--keep", "2", "--space", "Shop", home=prod)
    plan = json.loads(ok("prune", "--dry-run", "--json", home=prod))
    assert sorted(k["version"] for k in plan["kept"] if k["in_space"] == "Shop") == ["1.4.1", "1.4.2"]
    assert [k["version"] for k in plan["kept"] if k["in_space"] == "Payments"] == ["1.4.2"]
    before = snapshot(prod)
    assert refused("retention", "set", "--keep", "1", "--space", "Nowhere", home=prod)["code"] == "unknown_space"
    assert snapshot(prod) == before


def test_names_that_must_be_unique_clash_with_a_stable_code_naming_the_rule(world: dict[str, Path]) -> None:
    prod, root = world["prod"], world["root"]
    # devb (trusted in Shop) sends a project whose slug Payments already holds
    bundle = root / "clash.bundle"
    ok("export", _release(root, "clash", "Acme Web", "Shop"), "--to", "prod", "-o", bundle, home=world["devb"])
    local = _release(root, "local", "Acme Web", "Shop", "2.0.0")
    before = snapshot(prod)
    err = refused("import", bundle, "--space", "Shop", home=prod)
    assert err["code"] == "space_denied" and "acme-web" in err["message"], err
    err = refused("releases", "create", local, "--space", "Shop", home=prod)  # not where it came from: that is
    assert err["code"] == "space_denied" and "Acme Web" in err["message"] and "dev" not in err["message"], err
    err = refused("targets", "add", "PAY-DB", "--environment", "Production", "--role", "db", "--root", root / "x",
                  "--space", "Shop", home=prod)
    assert err["code"] == "target_exists" and "Payments" in err["message"], err
    err = refused("trust", "add", root / "dev.card", "--space", "Shop", home=prod)
    assert err["code"] == "already_trusted" and "Payments" in err["message"], err
    assert refused("spaces", "add", "SHOP", home=prod)["code"] == "space_exists"
    unchanged_or_reported(prod, before, "space_denied")  # the import's refusal is reported to devb (decision 968)


def test_serve_shows_one_space_or_all_and_refuses_a_space_the_zone_lacks_before_listening(
        world: dict[str, Path]) -> None:
    prod = world["prod"]
    _deploy(prod, "acme-web", "1.4.0", "Payments")
    _deploy(prod, "web-site", "1.4.0", "Shop")

    def served(*space: str) -> list[tuple[str, str]]:
        proc = subprocess.Popen([sys.executable, "-m", "bundlekit", "serve", "--home", str(prod), "--port", "0",
                                 "--json", *(("--space", *space) if space else ())],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            url = json.loads(proc.stdout.readline())["url"]
            with urllib.request.urlopen(url + "api/dashboard.json", timeout=60) as page:
                view = json.loads(page.read())
            with urllib.request.urlopen(url, timeout=60) as page:
                html = page.read().decode()
            assert all(p["name"] in html for p in view["projects"])
            return sorted((p["slug"], p["space"]) for p in view["projects"])
        finally:
            proc.terminate()
            proc.wait(timeout=60)

    assert served() == [("acme-web", "Payments"), ("web-site", "Shop")]
    assert served("shop") == [("web-site", "Shop")]
    before = snapshot(prod)
    done = run_cli("serve", "--port", "0", "--space", "Shpo", "--json", home=prod)
    assert done.returncode != 0 and json.loads(done.stdout)["error"]["code"] == "unknown_space"
    assert "Shop" in json.loads(done.stdout)["error"]["message"]
    assert snapshot(prod) == before


def test_the_audit_trail_names_the_space_each_change_was_made_in_and_lists_one_space(world: dict[str, Path]) -> None:
    prod = world["prod"]

    def entries(*space: str) -> list[tuple[str, str, str]]:
        listed = json.loads(ok("audit", *(("--space", *space) if space else ()), "--json", home=prod))["entries"]
        # the space as the zone spells it (the world gives Payments as "payments" at times)
        return [(e["command"], str(e["object"].get("project", "")), str(e["object"].get("space", "")))
                for e in listed if e["command"] in ("import", "variables set", "targets add")]

    every = entries()
    assert ("variables set", "acme-web", "Payments") in every and ("variables set", "web-site", "Shop") in every
    assert ("import", "", "Shop") in every and ("targets add", "", "Payments") in every
    shop = entries("shop")
    assert shop and all(space == "Shop" for _, _, space in shop) and ("variables set", "web-site", "Shop") in shop
    assert [e for e in every if e[2] == "Shop"] == shop
    assert "space=Payments" in ok("audit", "--space", "Payments", home=prod)
    before = snapshot(prod)
    assert refused("audit", "--space", "Shpo", home=prod)["code"] == "unknown_space"
    assert refused("audit", "--space", "Shop", "--verify", home=prod)["code"] == "usage"
    assert snapshot(prod) == before


def test_outputs_name_the_space_the_reporting_zones_receipts_belong_to(world: dict[str, Path]) -> None:
    prod, dev, root = world["prod"], world["dev"], world["root"]
    receipt = root / "receipt.bundle"
    ok("deploy", "acme-web", "1.4.0", "--environment", "Production", "--space", "Payments", "--receipt-out", receipt,
       home=prod)
    # dev has a space Payments (where it created the release), but trusts prod in Default: prod's
    # receipts belong there
    ok("import", receipt, home=dev)
    shown = json.loads(ok("outputs", "acme-web", "--zone", "prod", "--json", home=dev))
    assert shown["space"] == "Default" and "SchemaVersion" in {o["name"] for o in shown["outputs"]}
    assert json.loads(ok("outputs", "acme-web", "--zone", "prod", "--space", "default", "--json", home=dev)) == shown
    assert "(space Default)" in ok("outputs", "acme-web", "--zone", "prod", home=dev)
    before = snapshot(dev)
    err = refused("outputs", "acme-web", "--zone", "prod", "--space", "Payments", home=dev)
    assert err["code"] == "unknown_zone" and "space Payments" in err["message"], err
    assert refused("outputs", "acme-web", "--zone", "prod", "--space", "Paymnts", home=dev)["code"] == "unknown_space"
    assert snapshot(dev) == before


def test_targets_check_sees_only_its_spaces_targets(world: dict[str, Path]) -> None:
    prod = world["prod"]
    checked = json.loads(ok("targets", "check", "--space", "Payments", "--json", home=prod))
    assert sorted(t["target"] for t in checked["targets"]) == ["pay-db", "pay-web"]
    before = snapshot(prod)
    err = refused("targets", "check", "shop-db", "--space", "Payments", home=prod)
    assert err["code"] == "unknown_target" and "shop-web" not in err["message"], err
    assert snapshot(prod) == before


def test_auto_prune_follows_the_deployed_projects_space(world: dict[str, Path]) -> None:
    prod = world["prod"]
    ok("retention", "set", "--keep", "1", "--auto-prune", "--space", "Payments", home=prod)
    assert _deploy(prod, "web-site", "1.4.0", "Shop")["pruned"] is None  # Shop asked for no prune
    pruned = _deploy(prod, "acme-web", "1.4.0", "Payments")["pruned"]
    assert pruned is not None and {(p["space"], p["keep_releases"]) for p in pruned["policies"]} >= {("Payments", 1)}
    kept = {(k["in_space"], k["project"]) for k in pruned["kept"]}
    assert ("Shop", "Web Site") in kept and ("Payments", "Acme Web") in kept


def test_an_environment_only_another_space_has_is_unknown_in_this_space_and_the_refusal_says_so(
        world: dict[str, Path]) -> None:
    """Review v33-11a N4: the refusal said no target of the zone names the environment, though
    the zone has one (in Default), so an operator could add the target to the wrong space."""
    prod, root = world["prod"], world["root"]
    ok("targets", "add", "qa-web", "--environment", "QA", "--role", "web", "--root", root / "t" / "qa-web", "--new",
       home=prod)  # Default's
    # the listing groups targets by space, Default first (new-user review 38, F8: the column alternated)
    listed = [(t["space"], t["name"]) for t in json.loads(ok("targets", "list", "--json", home=prod))["targets"]]
    assert listed == [("Default", "qa-web"), ("Payments", "pay-db"), ("Payments", "pay-web"), ("Shop", "shop-db"),
                      ("Shop", "shop-web")], listed
    ok("releases", "create", _release(root, "rel-local", "Local Pay", "Payments"), "--space", "Payments", home=prod)
    before = snapshot(prod)
    err = refused("deploy", "local-pay", "1.4.0", "--environment", "QA", "--space", "Payments", home=prod)
    assert err["code"] == "unknown_environment", err
    assert "of space Payments" in err["message"] and "--space Payments" in err["message"], err
    assert snapshot(prod) == before
