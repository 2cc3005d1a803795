"""An environment's name is a label, not a path: one no file can be named after still deploys.

Structured configuration applies to ``appsettings.<environment>.json`` automatically. Before,
an environment such as ``EU:West`` (a valid label) made that pattern an invalid path, and every
package deploy failed its preflight with ``invalid_file_pattern``; now the pattern is left out,
since no package member can have that name (decision 125).
"""

from __future__ import annotations

import glob
from pathlib import Path

import pytest

from bundlekit.deploy.engine import execute
from bundlekit.deploy.plan import build_plan, json_config_patterns
from bundlekit.deploy.targets import LocalFolderTarget
from bundlekit.format.manifest import Step
from tests.deploy.test_plan import package_zip, request_for, var

STEP = Step(name="Deploy", type="package", roles=("web",), package="Acme.Web")


@pytest.mark.parametrize("environment", ["EU:West", "A|B", "Prod\\EU", "QA <nightly>", 'Say "hi"'])
def test_the_environment_pattern_is_left_out_when_no_file_could_have_that_name(environment: str) -> None:
    assert json_config_patterns(STEP, environment) == ["appsettings.json"]


@pytest.mark.parametrize("environment", ["Production", "Production EU", "QA [nightly]", "Staging*"])
def test_the_environment_pattern_is_kept_and_its_glob_characters_escaped(environment: str) -> None:
    assert json_config_patterns(STEP, environment) == ["appsettings.json",
                                                       f"appsettings.{glob.escape(environment)}.json"]


def test_a_package_deploys_to_an_environment_whose_name_is_no_file_name(tmp_path: Path) -> None:
    package = package_zip(tmp_path / "p.zip", {"appsettings.json": '{"Level": "Debug"}', "index.html": "x"})
    target = LocalFolderTarget("web-01", "EU:West", frozenset({"web"}), tmp_path / "web-01")
    request = request_for([STEP], [var("Level", "Warning")], targets=(target,), packages=(package,),
                          environment="EU:West")
    record = execute(build_plan(request), request)
    assert record.state == "Success", record.runs
    installed = tmp_path / "web-01" / "Acme.Web" / "1.0.0" / "appsettings.json"
    assert installed.read_text() == '{"Level": "Warning"}'
