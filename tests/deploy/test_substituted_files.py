"""Variables substituted into package files as Octopus does: text that is not a token stays text."""

from __future__ import annotations

from pathlib import Path

from bundlekit.format.manifest import Step
from tests.deploy.test_plan import deploy, package_zip, refusal, request_for, script, var, web_db

_POWERSHELL = 'Get-Item "#{*}" | Out-Null\n$name = "#{Site.Name}"\n$set = @{ a = 1 }\n'


def test_a_hash_brace_that_is_not_a_token_stays_as_text_in_a_substituted_file(tmp_path: Path) -> None:
    package = package_zip(tmp_path / "store" / "Acme.Web.1.0.0.zip", {"setup.ps1": _POWERSHELL})
    step = Step(name="Deploy", type="package", roles=("web",), package="Acme.Web", substitute=("*.ps1",))
    record = deploy(request_for([step], [var("Site.Name", "shop")], targets=web_db(tmp_path), packages=(package,)))
    assert record.state == "Success", record.runs
    written = (tmp_path / "web-01" / "Acme.Web" / "1.0.0" / "setup.ps1").read_text()
    assert written == 'Get-Item "#{*}" | Out-Null\n$name = "shop"\n$set = @{ a = 1 }\n'


def test_a_missing_variable_in_a_substituted_file_still_refuses_the_deployment(tmp_path: Path) -> None:
    package = package_zip(tmp_path / "store" / "Acme.Web.1.0.0.zip", {"setup.ps1": _POWERSHELL})
    step = Step(name="Deploy", type="package", roles=("web",), package="Acme.Web", substitute=("*.ps1",))
    error = refusal(request_for([step], [], targets=web_db(tmp_path), packages=(package,)))
    assert error.code == "preflight_unresolved_variables" and "Site.Name" in error.message


def test_a_hash_brace_that_is_not_a_token_in_a_script_is_refused_before_anything_runs(tmp_path: Path) -> None:
    error = refusal(request_for([script("Run", 'echo "#{*}"')], [], targets=web_db(tmp_path)))
    assert error.code == "preflight_template_syntax" and "line 1, column 9" in error.message
