"""Every command that lists or changes what a space owns keeps to that space (decisions 660 and 750).

``prod`` holds ``Payments`` and ``Web`` besides ``Default``. Zone ``dev`` is trusted in ``Payments``
and exports ``Acme Web`` naming its space ``payments`` (another spelling: the zone's is what
counts); zone ``devb`` is trusted in ``Web`` and exports ``Web Site``. Each space has its own two
targets in Production, and each project is deployed there. Refusals leave prod's home exactly as
it was (the snapshot of every file).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import cli_in_process
from tests.e2e.test_spaces import ok, release

#: The first step of the fixture release, told to print the space it runs in.
MIGRATE = 'echo "migrating database #{Acme.Db.Name} on #{Octopus.Machine.Name}"\n'
SAYS_SPACE = 'echo "space [#{Octopus.Space.Name}]"\n'


def _release(root: Path, folder: str, name: str, space: str | None, version: str = "1.4.0") -> Path:
    toml = release(root, folder, space)
    text = toml.read_text().replace('name = "Acme Web"', f'name = "{name}"', 1).replace(MIGRATE, MIGRATE + SAYS_SPACE, 1)
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
    w = {name: tmp_path / name for name in ("dev", "devb", "prod")}
    for name, home in w.items():
        ok("init", "--zone", name, home=home)
        ok("identity", "-o", tmp_path / f"{name}.card", home=home)
    prod = w["prod"]
    ok("spaces", "add", "Payments", home=prod)
    ok("spaces", "add", "Web", home=prod)
    for source, space in (("dev", "Payments"), ("devb", "Web")):
        ok("trust", "add", tmp_path / "prod.card", home=w[source])
        ok("trust", "add", tmp_path / f"{source}.card", "--space", space, home=prod)
    for source, name, space, slug in (("dev", "Acme Web", "payments", "acme-web"), ("devb", "Web Site", "Web", "web-site")):
        bundle = tmp_path / f"{slug}.bundle"
        ok("export", _release(tmp_path, f"rel-{slug}", name, space), "--to", "prod", "-o", bundle, home=w[source])
        ok("import", bundle, "--space", space, home=prod)
        ok("variables", "set", slug, "Acme.ApiKey", "k", "--sensitive", "--space", space, home=prod)
    _targets(prod, tmp_path, "Payments", "pay")
    _targets(prod, tmp_path, "Web", "web")
    w["root"] = tmp_path
    return w


def _logs(prod: Path, deployment_id: str) -> str:
    shown = json.loads(ok("deployments", "show", deployment_id, "--json", home=prod))
    return "\n".join(r["log"] for r in shown["record"]["runs"])


def test_a_deployment_names_the_space_its_project_belongs_to_here_as_octopus_space_name(
        world: dict[str, Path]) -> None:
    prod = world["prod"]
    pay = _deploy(prod, "acme-web", "1.4.0", "Payments")
    web = _deploy(prod, "web-site", "1.4.0", "Web")
    # the zone's spelling (Payments), not the release file's (payments)
    assert "space [Payments]" in _logs(prod, pay["deployment_id"])
    assert "space [Web]" in _logs(prod, web["deployment_id"])


def test_a_release_naming_a_space_this_zone_lacks_deploys_as_default(tmp_path: Path) -> None:
    homes = {name: tmp_path / name for name in ("dev", "prod")}
    for name, home in homes.items():
        ok("init", "--zone", name, home=home)
        ok("identity", "-o", tmp_path / f"{name}.card", home=home)
    ok("trust", "add", tmp_path / "prod.card", home=homes["dev"])
    ok("trust", "add", tmp_path / "dev.card", home=homes["prod"])
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
