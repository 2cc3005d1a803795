"""appsettings.json as Octopus users write it: Json.NET's comments deploy, and a file that does
not parse is refused with the fix that fits why it is configured."""

from __future__ import annotations

from pathlib import Path

import pytest

from bundlekit.format.manifest import Step
from tests.deploy.test_plan import deploy, package_zip, refusal, request_for, var, web_db

APPSETTINGS = """{
  // the database this site uses
  "ConnectionStrings": { "Default": "Server=dev" },  /* replaced per environment */
  "Logging": { "Level": "Debug", },
}
"""


def test_appsettings_with_comments_deploys_and_keeps_its_comments(tmp_path: Path) -> None:
    package = package_zip(tmp_path / "store" / "Acme.Web.1.0.0.zip", {"appsettings.json": APPSETTINGS})
    step = Step(name="Deploy", type="package", roles=("web",), package="Acme.Web")
    record = deploy(request_for([step], [var("ConnectionStrings:Default", "Server=prod"), var("Logging:Level", "Warn")],
                                targets=web_db(tmp_path), packages=(package,)))
    assert record.state == "Success", record.runs
    written = (tmp_path / "web-01" / "Acme.Web" / "1.0.0" / "appsettings.json").read_text()
    assert written == APPSETTINGS.replace('"Server=dev"', '"Server=prod"').replace('"Debug"', '"Warn"')


@pytest.mark.parametrize("file, keys, fix", [
    ("appsettings.json", {}, "rename it: appsettings.json and appsettings.<environment>.json are always configured"),
    ("config/app.json", {"substitute": ("config/*.json",)}, "leave it out of the step's substitute patterns"),
    ("config/app.json", {"structured_config": ("config/*.json",)}, "remove it from the step's structured_config"),
])
def test_a_json_file_that_does_not_parse_is_refused_with_the_fix_for_why_it_is_configured(
        tmp_path: Path, file: str, keys: dict[str, tuple[str, ...]], fix: str) -> None:
    package = package_zip(tmp_path / "store" / "Acme.Web.1.0.0.zip", {file: '{\n  "Level": "Debug" "x"\n}\n'})
    step = Step(name="Deploy", type="package", roles=("web",), package="Acme.Web", **keys)  # type: ignore[arg-type]
    error = refusal(request_for([step], [var("Level", "Warn")], targets=web_db(tmp_path), packages=(package,)),
                    "invalid_structured_config")
    assert f"{file} in package Acme.Web 1.0.0 is not valid JSON at line 2, column 20" in error.message
    assert fix in error.message
    if "structured_config" not in keys:
        assert "structured_config" not in error.message
    assert not (tmp_path / "web-01" / "Acme.Web").exists()
