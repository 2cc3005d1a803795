"""Structured configuration and required placeholders through the real CLI, export to deploy.

One world: a release whose package step names YAML, XML and Java properties files in
``structured_config`` is exported from the development zone, imported in production and
deployed to a folder target. What a release engineer relies on: each matched value is
replaced, everything else in the file (comments, order, quoting, spacing, declaration,
namespaces, line endings) stays byte for byte, files outside the globs are left alone, and
``appsettings.json`` / ``appsettings.<Environment>.json`` keep applying without being named.
Before that, a required placeholder of the release, which no step renders, refuses the
deployment until production binds it, and its optional one never does.
"""

from __future__ import annotations

import io
import shlex
import zipfile
from pathlib import Path

import pytest

from tests.conftest import run_cli, snapshot
from tests.e2e.world import World, json_of, make_world

VALUES_YAML = """\
# values for the shop (kept as written)
service:
  port: 8080      # the public port
  host: "localhost"
replicas: 1
features: [search, cart]
# end of file
"""

WEB_CONFIG = """\
<?xml version="1.0" encoding="utf-8"?>
<!-- shop settings: edited by deployment -->
<configuration xmlns:x="urn:acme:features">
  <appSettings>
    <add key="Port" value="80" />
    <add key='Mode'   value='dev'/>
  </appSettings>
  <x:feature name="search">on</x:feature>
  <empty></empty>
</configuration>
"""

APP_PROPERTIES = (b"# database\r\n"
                  b"db.url = jdbc:postgresql://localhost/dev\r\n"
                  b"db.pool=5\r\n"
                  b"! cache\r\n"
                  b"cache.dir : /tmp/cache\r\n")

APPSETTINGS = '{\n  "Logging": {\n    "Level": "Info"\n  },\n  "port": 80\n}\n'
APPSETTINGS_PRODUCTION = '{\n  "Feature": {\n    "Beta": true\n  }\n}\n'
OUTSIDE = "# not in structured_config\nreplicas: 1\n"

RELEASE_ADDITIONS = """
[[packages]]
id = "Acme.Config"
version = "1.4.0"
file = "packages/Acme.Config.1.4.0.zip"

[[steps]]
name = "Configure"
type = "package"
package = "Acme.Config"
roles = ["web"]
structured_config = ["config/*.yaml", "conf/web.config", "app.properties"]

[[variables]]
name = "Service:Port"
value = "9090"

[[variables]]
name = "replicas"
value = "#{Acme.Replicas}"

[[variables]]
name = "Acme.Replicas"
value = "3"

[[variables]]
name = "features:1"
value = "checkout"

[[variables]]
name = "/configuration/appSettings/add[@key='Port']/@value"
value = "8443"

[[variables]]
name = "//x:feature[@name='search']"
value = "off"

[[variables]]
name = "DB.URL"
value = "jdbc:postgresql://db.prod/shop"

[[variables]]
name = "cache.dir"
value = "/var/cache/acme"

[[variables]]
name = "Logging:Level"
value = "Warning"

[[variables]]
name = "Feature:Beta"
value = "false"

[[variables]]
name = "Payment.MerchantId"
placeholder = true
description = "Read by the app from its environment; no step renders it."

[[variables]]
name = "Payment.Region"
placeholder = true
required = false
description = "Optional: the gateway picks a region when none is given."
"""


def _package(path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config/values.yaml", VALUES_YAML)
        archive.writestr("conf/web.config", WEB_CONFIG)
        archive.writestr("app.properties", APP_PROPERTIES)
        archive.writestr("appsettings.json", APPSETTINGS)
        archive.writestr("appsettings.Production.json", APPSETTINGS_PRODUCTION)
        archive.writestr("other/values.yaml", OUTSIDE)
    path.write_bytes(buffer.getvalue())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The fixture release plus the configuration package and step, imported in production;
    its required placeholder Acme.ApiKey is not bound yet."""
    w = make_world(tmp_path_factory.mktemp("structured"))
    _package(w.release_dir / "packages" / "Acme.Config.1.4.0.zip")
    release = w.release_dir / "release.toml"
    release.write_text(release.read_text() + RELEASE_ADDITIONS)
    w.cli("import", w.export("acme-1.4.0.bundle"), home=w.prod)
    return w


def _deploy(w: World, *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    r = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json", *extra, home=w.prod)
    return r.returncode, json_of(r.stdout)


def test_an_unbound_required_placeholder_no_step_renders_refuses_and_says_how_to_bind_it(world: World) -> None:
    # Payment.MerchantId appears in no script, file or value: only `required` (the default) asks for it.
    home, targets = snapshot(world.prod), snapshot(world.root / "targets")
    code, out = _deploy(world, "--dry-run")
    assert code == 5
    error = out["error"]
    assert error["code"] == "preflight_unresolved_variables"
    at = f"--home {shlex.quote(str(world.prod))}"  # the bound value goes to the zone refused in (decision 964)
    assert ("Payment.MerchantId in step 'Run migrations' on db-01, the release's required placeholders: a "
            "placeholder with no value in this zone: bind one with "
            f"`bundlekit variables set acme-web Payment.MerchantId VALUE {at}`") in error["message"]
    # Acme.ApiKey, which appsettings.json renders, is missing too; the optional placeholder is not.
    assert f"`bundlekit variables set acme-web Acme.ApiKey - --sensitive {at}`" in error["message"]
    assert "Payment.Region" not in error["message"]
    assert sorted({d["name"] for d in error["details"]}) == ["Acme.ApiKey", "Payment.MerchantId"]
    assert snapshot(world.prod) == home and snapshot(world.root / "targets") == targets


def test_structured_config_is_applied_in_place_and_the_rest_of_each_file_is_kept(world: World) -> None:
    done = run_cli("variables", "set", "acme-web", "Acme.ApiKey", "-", "--sensitive", input=b"k-structured\n",
                   home=world.prod)
    assert done.returncode == 0, done.stderr
    world.cli("variables", "set", "acme-web", "Payment.MerchantId", "m-1234", home=world.prod)
    code, out = _deploy(world)
    assert code == 0, out
    root = world.root / "targets" / "web-01" / "Acme.Config" / "1.4.0"
    assert (root / "config/values.yaml").read_text() == (VALUES_YAML.replace("port: 8080", "port: 9090")
                                                         .replace("replicas: 1", "replicas: 3")
                                                         .replace("[search, cart]", "[search, checkout]"))
    assert (root / "conf/web.config").read_text() == (WEB_CONFIG.replace('value="80"', 'value="8443"')
                                                      .replace('name="search">on<', 'name="search">off<'))
    assert (root / "app.properties").read_bytes() == (
        APP_PROPERTIES.replace(b"jdbc:postgresql://localhost/dev", b"jdbc\\:postgresql\\://db.prod/shop")
        .replace(b"/tmp/cache", b"/var/cache/acme"))  # ':' escaped as Properties.store writes it
    # appsettings files apply without being named (JSON is re-serialised, decision 043).
    assert (root / "appsettings.json").read_text() == APPSETTINGS.replace('"Info"', '"Warning"')
    assert (root / "appsettings.Production.json").read_text() == APPSETTINGS_PRODUCTION.replace("true", "false")
    assert (root / "other/values.yaml").read_text() == OUTSIDE  # outside every glob
    shown = json_of(run_cli("deployments", "show", out["deployment_id"], "--json", home=world.prod).stdout)
    [configure] = [r for r in shown["record"]["runs"] if r["step"] == "Configure"]
    assert configure["state"] == "Success"
