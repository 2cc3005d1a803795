"""Spaces keep teams apart inside one zone, through the CLI (issue 11, decision 660).

``prod`` holds the spaces ``Payments`` and ``Web`` besides ``Default``. Zone ``dev`` is trusted in
``Payments`` only and exports the fixture release with ``space = "Payments"`` (a space dev has too:
the release is created there, decision 887); zone ``devb`` is
trusted in ``Web``. Every refusal below leaves prod's home byte-identical (the snapshot of every
file), so neither space changed, but for the refusal entry an import of a release its source signed
queues for that source when it cannot enter the space the source is trusted in (decision 968).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bundlekit.format import codec, crypto
from bundlekit.format.bundleid import bundle_id_of
from tests.conftest import CANARY, FIXTURES, cli_in_process, run_cli, snapshot
from tests.refusals.forge import parts, resign
from tests.reported import unchanged_or_reported


def ok(*args: object, home: Path | None = None) -> str:
    done = cli_in_process(*map(str, args), home=home)
    assert done.returncode == 0, f"bundlekit {' '.join(map(str, args))}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout


def refused(*args: object, home: Path) -> dict[str, Any]:
    """The error object of a command that must fail, with the exit status its code has."""
    done = cli_in_process(*map(str, args), "--json", home=home)
    assert done.returncode != 0, done.stdout
    return json.loads(done.stdout)["error"]  # type: ignore[no-any-return]


def release(root: Path, name: str, space: str | None) -> Path:
    folder = root / name
    shutil.copytree(FIXTURES / "acme", folder)
    toml = folder / "release.toml"
    text = toml.read_text()
    text = text.replace('space = "Default"\n', "" if space is None else f'space = "{space}"\n', 1)
    toml.write_text(text)
    return toml


def zones(root: Path, *names: str) -> dict[str, Path]:
    """Zones ``names`` made under ``root`` (``root/NAME``), each with its card at ``root/NAME.card``."""
    homes = {name: root / name for name in names}
    for name, home in homes.items():
        ok("init", "--zone", name, home=home)
        ok("identity", "-o", root / f"{name}.card", home=home)
    return homes


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    w = zones(tmp_path, "dev", "devb", "prod")
    ok("spaces", "add", "Payments", home=w["prod"])
    ok("spaces", "add", "Web", home=w["prod"])
    ok("trust", "add", tmp_path / "prod.card", home=w["dev"])
    ok("trust", "add", tmp_path / "prod.card", home=w["devb"])
    ok("trust", "add", tmp_path / "dev.card", "--space", "payments", home=w["prod"])  # any case names the space
    ok("trust", "add", tmp_path / "devb.card", "--space", "Web", home=w["prod"])
    w["bundle"] = tmp_path / "acme.bundle"
    ok("spaces", "add", "Payments", home=w["dev"])
    ok("export", release(tmp_path, "rel", "Payments"), "--to", "prod", "-o", w["bundle"], home=w["dev"])
    w["root"] = tmp_path
    return w


def test_spaces_list_shows_default_and_what_each_space_holds(world: dict[str, Path]) -> None:
    prod = world["prod"]
    ok("import", world["bundle"], "--space", "Payments", home=prod)
    rows = json.loads(ok("spaces", "list", "--json", home=prod))["spaces"]
    assert [(r["name"], r["trusted_zones"], r["projects"]) for r in rows] == [
        ("Default", 0, 0), ("Payments", 1, 1), ("Web", 1, 0)]
    assert "Payments" in ok("spaces", "list", home=prod)
    trust = {z["name"]: z["space"] for z in json.loads(ok("trust", "list", "--json", home=prod))["zones"]}
    assert trust == {"dev": "Payments", "devb": "Web"}
    web = json.loads(ok("trust", "list", "--space", "web", "--json", home=prod))["zones"]
    assert [z["name"] for z in web] == ["devb"]


def test_a_space_name_is_a_label_and_unique_without_case(world: dict[str, Path]) -> None:
    prod = world["prod"]
    before = snapshot(prod)
    assert refused("spaces", "add", "payments", home=prod)["code"] == "space_exists"
    assert refused("spaces", "add", "Bad\nName", home=prod)["code"] == "invalid_label"
    err = refused("import", world["bundle"], "--space", "Paymens", home=prod)
    assert err["code"] == "unknown_space" and "Payments" in err["message"]
    assert snapshot(prod) == before


def test_a_release_enters_only_the_space_its_source_is_trusted_in(world: dict[str, Path]) -> None:
    prod = world["prod"]
    before = snapshot(prod)
    for space in ("Default", "Web"):  # Default is also what an import without --space means
        args = ["import", world["bundle"]] + (["--space", space] if space != "Default" else [])
        err = refused(*args, home=prod)
        assert err["code"] == "space_denied" and f"space {space}" in err["message"], err
        assert snapshot(prod) == before  # not even a refusal entry for dev: nothing changed
    out = json.loads(ok("import", world["bundle"], "--space", "Payments", "--json", home=prod))
    assert out["space"] == "Payments" and out["project"] == "Acme Web"
    rows = json.loads(ok("releases", "list", "--space", "Payments", "--json", home=prod))["releases"]
    assert [(r["slug"], r["in_space"]) for r in rows] == [("acme-web", "Payments")]
    assert json.loads(ok("releases", "list", "--space", "Default", "--json", home=prod))["releases"] == []
    assert json.loads(ok("releases", "list", "--space", "Web", "--json", home=prod))["releases"] == []


def _hostile(world: dict[str, Path], space: str, bundle: Path | None = None) -> Path:
    """dev's bundle (``bundle``, else the world's) with ``project.space`` rewritten to ``space``, as
    a compromised dev could write it: bundle id recomputed, the sensitive value sealed again to
    prod for that id, and signed again by dev's own key, so that only what it says about its space
    is wrong."""
    source = bundle if bundle is not None else world["bundle"]
    out = world["root"] / f"hostile-{source.stem}-{space}.bundle"
    fields, _, _ = parts(source.read_bytes())
    prod_key = X25519PrivateKey.from_private_bytes((world["prod"] / "keys" / "sealing.key").read_bytes())

    def name_space(doc: dict[str, Any]) -> None:
        doc["project"]["space"] = space
        doc["bundle_id"] = bundle_id_of(doc["kind"], fields[2], doc["source"]["zone_id"],
                                        doc["destination"]["zone_id"], doc["sequence"], space, doc["project"]["slug"])
        for v in doc["variables"]:
            if v.get("sealed"):
                assert v["name"] == "Acme.Db.Password"
                ad = crypto.seal_ad(doc["bundle_id"], doc["destination"]["key_id"],
                                    crypto.seal_label("variable", v["name"], v["scope"]))
                v["sealed"] = crypto.b64(crypto.seal(crypto.raw_public(prod_key), CANARY.encode(), ad))

    resign(source, out, world["dev"], mutate=name_space)
    assert codec.decode(parts(out.read_bytes())[2])["project"]["space"] == space
    assert ok("verify", out, home=world["prod"]).startswith("OK:")  # authentic: refused for what it says only
    return out


def test_a_hostile_bundle_for_payments_naming_web_changes_neither_space(world: dict[str, Path]) -> None:
    prod = world["prod"]
    ok("import", world["bundle"], "--space", "Payments", home=prod)  # Payments holds dev's project
    hostile = _hostile(world, "Web")
    before = snapshot(prod)
    for space in ("Payments", "Web", "Default"):
        done = run_cli("import", hostile, "--space", space, "--json", home=prod)  # a process of its own
        err = json.loads(done.stdout)["error"]
        assert (err["code"], done.returncode) == ("space_denied", 3), (space, err)
    # dev signed it: refused whatever the space typed, so reported to dev, once (decision 968)
    unchanged_or_reported(prod, before, "space_denied")
    assert [r["code"] for r in json.loads(ok("outbox", "list", "--json", home=prod))["refusals"]] == ["space_denied"]
    assert json.loads(ok("releases", "list", "--space", "Web", "--json", home=prod))["releases"] == []


def test_projects_and_their_variables_are_found_only_in_their_space(world: dict[str, Path]) -> None:
    prod = world["prod"]
    ok("import", world["bundle"], "--space", "Payments", home=prod)
    before = snapshot(prod)
    for space in ("Default", "Web"):
        for cmd in (["variables", "list", "acme-web"], ["variables", "set", "acme-web", "Acme.ApiKey", "k"],
                    ["variables", "unset", "acme-web", "Acme.ApiKey"], ["show", "acme-web"]):
            err = refused(*cmd, "--space", space, home=prod)
            assert err["code"] == "unknown_project" and "acme-web" not in str(err.get("details", {}).get(
                "suggestions")), err
    assert snapshot(prod) == before
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-payments", "--sensitive", "--space", "Payments", home=prod)
    rows = json.loads(ok("variables", "list", "acme-web", "--space", "Payments", "--json", home=prod))["variables"]
    assert [v["origin"] for v in rows if v["name"] == "Acme.ApiKey"] == ["placeholder (bound)"]


def test_a_deployment_sees_only_its_spaces_targets(world: dict[str, Path]) -> None:
    prod, root = world["prod"], world["root"]
    ok("import", world["bundle"], "--space", "Payments", home=prod)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k", "--sensitive", "--space", "Payments", home=prod)
    for name, role in (("web-team-db", "db"), ("web-team-web", "web")):
        ok("targets", "add", name, "--environment", "Production", "--role", role, "--root", root / "t" / name,
           "--space", "Web", home=prod)
    assert json.loads(ok("targets", "list", "--space", "Payments", "--json", home=prod))["targets"] == []
    before = snapshot(prod)
    err = refused("deploy", "acme-web", "1.4.0", "--environment", "Production", "--space", "Payments", home=prod)
    assert err["code"] == "no_targets" and "web-team" not in err["message"]
    assert snapshot(prod) == before
    err = refused("targets", "remove", "web-team-db", "--space", "Payments", home=prod)
    assert err["code"] == "unknown_target"
    err = refused("targets", "add", "web-team-db", "--environment", "Production", "--role", "db", "--root",
                  root / "t" / "other", "--space", "Payments", home=prod)
    assert err["code"] == "target_exists"  # target names stay the zone's (decision 660)
    assert snapshot(prod) == before
    for name, role in (("pay-db", "db"), ("pay-web", "web")):
        ok("targets", "add", name, "--environment", "Production", "--role", role, "--root", root / "t" / name,
           "--space", "Payments", home=prod)
    plan = json.loads(ok("deploy", "acme-web", "1.4.0", "--environment", "Production", "--space", "Payments",
                         "--dry-run", "--json", home=prod))
    used = {r["target"] for r in plan["plan"]["runs"] if r.get("target")}
    assert used and used <= {"pay-db", "pay-web"}, plan["plan"]["runs"]
    inventory = json.loads(ok("targets", "export-inventory", "--space", "Web", home=prod))
    assert sorted(t["name"] for t in inventory["targets"]) == ["web-team-db", "web-team-web"]


def test_a_bundle_without_a_space_and_any_bundle_trusted_in_default_import_into_default(tmp_path: Path) -> None:
    homes = zones(tmp_path, "dev", "prod")
    ok("trust", "add", tmp_path / "prod.card", home=homes["dev"])
    ok("trust", "add", tmp_path / "dev.card", home=homes["prod"])  # Default, as before spaces
    ok("spaces", "add", "Team", home=homes["dev"])  # dev's own space; prod has none of that name
    bundles = []
    for n, space in enumerate((None, "Team")):  # no space written (Default), and one no space here is named
        toml = release(tmp_path, f"rel{n}", space)
        text = toml.read_text().replace('name = "Acme Web"', f'name = "Acme Web {n}"', 1)
        toml.write_text(text)
        bundles.append(tmp_path / f"b{n}.bundle")
        ok("export", toml, "--to", "prod", "-o", bundles[-1], home=homes["dev"])
    for b in bundles:
        ok("import", b, home=homes["prod"])
    rows = json.loads(ok("releases", "list", "--json", home=homes["prod"]))["releases"]
    assert sorted((r["project"], r["space"], r["in_space"]) for r in rows) == [
        ("Acme Web 0", "Default", "Default"), ("Acme Web 1", "Team", "Default")]


def test_the_dashboard_shows_one_space_or_all(world: dict[str, Path]) -> None:
    prod, dev, root = world["prod"], world["dev"], world["root"]
    ok("import", world["bundle"], "--space", "Payments", home=prod)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k", "--sensitive", "--space", "Payments", home=prod)
    for name, role in (("pay-db", "db"), ("pay-web", "web")):
        ok("targets", "add", name, "--environment", "Production", "--role", role, "--root", root / "t" / name,
           "--space", "Payments", home=prod)
    receipt = root / "r.bundle"
    ok("deploy", "acme-web", "1.4.0", "--environment", "Production", "--space", "Payments", "--receipt-out", receipt,
       home=prod)
    # dev has a space Payments (where it created the release), but trusts prod in Default: its
    # receipts belong there
    before = snapshot(dev)
    assert refused("import", receipt, "--space", "Payments", home=dev)["code"] == "space_denied"
    assert snapshot(dev) == before
    ok("import", receipt, home=dev)

    def rows(home: Path, *space: str) -> list[tuple[str, str]]:
        view = json.loads(ok("dashboard", *(("--space", *space) if space else ()), "--json", home=home))
        return [(p["slug"], p["space"]) for p in view["projects"]]

    assert rows(prod) == rows(prod, "payments") == [("acme-web", "Payments")]
    assert rows(prod, "Web") == rows(prod, "Default") == []
    assert refused("dashboard", "--space", "Nowhere", home=prod)["code"] == "unknown_space"
    # the source groups what it sent by the space its release file names
    assert rows(dev) == rows(dev, "Payments") == [("acme-web", "Payments")]
    assert rows(dev, "Default") == []


def test_a_release_created_here_belongs_to_the_space_given_and_stays_there(world: dict[str, Path]) -> None:
    prod, root = world["prod"], world["root"]
    toml = release(root, "local", "Web")
    toml.write_text(toml.read_text().replace('name = "Acme Web"', 'name = "Web Site"', 1))
    ok("releases", "create", toml, "--space", "Web", home=prod)
    rows = json.loads(ok("releases", "list", "--space", "Web", "--json", home=prod))["releases"]
    assert [(r["slug"], r["in_space"], r["local"]) for r in rows] == [("web-site", "Web", True)]
    before = snapshot(prod)
    toml.write_text(toml.read_text().replace('version = "1.4.0"', 'version = "1.4.1"', 1))
    assert refused("releases", "create", toml, "--space", "Payments", home=prod)["code"] == "space_denied"
    for cmd in (["releases", "update-variables", "web-site", "1.4.0"], ["lifecycle", "show", "web-site"],
                ["lifecycle", "waive", "web-site", "--phase", "Staging", "--reason", "hotfix"]):
        assert refused(*cmd, "--space", "Payments", home=prod)["code"] == "unknown_project", cmd
    assert json.loads(ok("lifecycle", "show", "web-site", "--space", "Web", "--json", home=prod))["slug"] == "web-site"
    assert snapshot(prod) == before
    out = json.loads(ok("releases", "update-variables", "web-site", "1.4.0", "--space", "Web", "--dry-run",
                        "--json", home=prod))
    assert out["changes"] == []


def test_a_project_never_moves_to_the_space_its_source_is_trusted_in_later(world: dict[str, Path]) -> None:
    prod, dev, root = world["prod"], world["dev"], world["root"]
    ok("import", world["bundle"], "--space", "Payments", home=prod)
    ok("trust", "remove", "dev", home=prod)
    ok("trust", "add", root / "dev.card", "--space", "Web", home=prod)
    toml = release(root, "moved", "Web")
    toml.write_text(toml.read_text().replace('version = "1.4.0"', 'version = "1.5.0"', 1))
    ok("spaces", "add", "Web", home=dev)
    dev_before = snapshot(dev)
    # dev itself never moves its project to another space (decision 887) ...
    assert refused("export", toml, "--to", "prod", "-o", root / "x.bundle", home=dev)["code"] == "space_denied"
    assert snapshot(dev) == dev_before
    # ... so such a bundle is one its source crafted and signed
    toml.write_text(toml.read_text().replace('space = "Web"', 'space = "Payments"', 1))
    ok("export", toml, "--to", "prod", "-o", root / "plain.bundle", home=dev)
    moved = _hostile(world, "Web", root / "plain.bundle")
    before = snapshot(prod)
    err = refused("import", moved, "--space", "Web", home=prod)
    assert err["code"] == "space_denied" and "belongs to space Payments, not Web" in err["message"], err
    assert err["details"]["held_in"] == "Payments", err
    unchanged_or_reported(prod, before, "space_denied")  # its source signed it: reported to dev (decision 968)
