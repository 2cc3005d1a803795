"""Variables substituted into package files as Octopus does: text that is not a token stays text."""

from __future__ import annotations

from pathlib import Path

from bundlekit.format.manifest import Step
from tests.conftest import raises_code
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
    error = refusal(request_for([step], [], targets=web_db(tmp_path), packages=(package,)),
                    "preflight_unresolved_variables")
    assert "Site.Name" in error.message


def test_a_hash_brace_that_is_not_a_token_in_a_script_is_refused_before_anything_runs(tmp_path: Path) -> None:
    error = refusal(request_for([script("Run", 'echo "#{*}"')], [], targets=web_db(tmp_path)),
                    "preflight_template_syntax")
    assert "line 1, column 9" in error.message


def test_utf16_and_utf32_files_with_bom_are_substituted_in_their_own_encoding(tmp_path: Path) -> None:
    text = "name=#{Site.Name}\r\nkeep=as is\r\n"
    files = {"a16le.conf": b"\xff\xfe" + text.encode("utf-16-le"),
             "a16be.conf": b"\xfe\xff" + text.encode("utf-16-be"),
             "a32le.conf": b"\xff\xfe\x00\x00" + text.encode("utf-32-le"),
             "a8bom.conf": b"\xef\xbb\xbf" + text.encode("utf-8"), "a8.conf": text.encode("utf-8")}
    package = package_zip(tmp_path / "store" / "Acme.Web.1.0.0.zip", dict(files))
    step = Step(name="Deploy", type="package", roles=("web",), package="Acme.Web", substitute=("*.conf",))
    record = deploy(request_for([step], [var("Site.Name", "shop ☃")], targets=web_db(tmp_path), packages=(package,)))
    assert record.state == "Success", record.runs
    root = tmp_path / "web-01" / "Acme.Web" / "1.0.0"
    done = text.replace("#{Site.Name}", "shop ☃")
    for name, original in files.items():
        bom_len = len(original) - len(text.encode({"a16le.conf": "utf-16-le", "a16be.conf": "utf-16-be",
                                                   "a32le.conf": "utf-32-le"}.get(name, "utf-8")))
        codec = {"a16le.conf": "utf-16-le", "a16be.conf": "utf-16-be", "a32le.conf": "utf-32-le"}.get(name, "utf-8")
        assert (root / name).read_bytes() == original[:bom_len] + done.encode(codec), name


def test_utf16_without_bom_is_refused_before_anything_runs(tmp_path: Path) -> None:
    package = package_zip(tmp_path / "store" / "Acme.Web.1.0.0.zip",
                          {"a.conf": "name=#{Site.Name}".encode("utf-16-le")})
    step = Step(name="Deploy", type="package", roles=("web",), package="Acme.Web", substitute=("*.conf",))
    error = refusal(request_for([step], [var("Site.Name", "shop")], targets=web_db(tmp_path), packages=(package,)),
                    "member_not_text")
    assert "byte order mark" in error.message


def test_structured_config_applies_yaml_xml_and_properties_by_name_and_content(tmp_path: Path) -> None:
    package = package_zip(tmp_path / "store" / "Acme.Web.1.0.0.zip", {
        "config/values.yaml": "# chart values\nimage:\n  tag: \"1.0\"  # pinned\nreplicas: 1\n",
        "web.config": "<configuration>\n  <add key='Port' value='80'/>\n</configuration>\n",
        "app.properties": "# db\ndb.url=jdbc:dev\n",
        "untouched.yaml": "a: 1\n"})
    step = Step(name="Deploy", type="package", roles=("web",), package="Acme.Web",
                structured_config=("config/*.yaml", "web.config", "*.properties"))
    variables = [var("image:tag", "#{Release.Tag}"), var("Release.Tag", "1.4.0"), var("replicas", "3"),
                 var("/configuration/add[@key='Port']/@value", "8080"), var("db.url", "jdbc:prod"),
                 var("a", "never: untouched.yaml is not in structured_config")]
    record = deploy(request_for([step], variables, targets=web_db(tmp_path), packages=(package,)))
    assert record.state == "Success", record.runs
    root = tmp_path / "web-01" / "Acme.Web" / "1.0.0"
    # Only the value changes: the two spaces before the comment stay (decision 521).
    assert (root / "config/values.yaml").read_text() == "# chart values\nimage:\n  tag: \"1.4.0\"  # pinned\nreplicas: 3\n"
    assert (root / "web.config").read_text() == "<configuration>\n  <add key='Port' value='8080'/>\n</configuration>\n"
    assert (root / "app.properties").read_text() == "# db\ndb.url=jdbc\\:prod\n"
    assert (root / "untouched.yaml").read_text() == "a: 1\n"
    log = next(r for r in record.runs if r.step == "Deploy").log
    assert "structured configuration (YAML): replaced image:tag, replicas in config/values.yaml" in log
    assert "structured configuration (XML): replaced /configuration/add[@key='Port']/@value in web.config" in log


def test_a_structured_config_file_that_parses_as_no_format_is_refused_naming_it(tmp_path: Path) -> None:
    package = package_zip(tmp_path / "store" / "Acme.Web.1.0.0.zip", {"values.yaml": "a: [1, 2\nb: 3\n"})
    step = Step(name="Deploy", type="package", roles=("web",), package="Acme.Web", structured_config=("*.yaml",))
    error = refusal(request_for([step], [var("a", "x")], targets=web_db(tmp_path), packages=(package,)),
                    "invalid_structured_config")
    assert "values.yaml" in error.message
    assert error.details["format"] == "yaml" and error.details["line"] == 2


def test_a_broken_web_config_is_refused_as_xml_before_anything_runs(tmp_path: Path) -> None:
    package = package_zip(tmp_path / "store" / "Acme.Web.1.0.0.zip",
                          {"web.config": "<configuration>\n  <add key='Port' value='80'></ad>\n</configuration>\n"})
    step = Step(name="Deploy", type="package", roles=("web",), package="Acme.Web", structured_config=("web.config",))
    error = refusal(request_for([step], [var("/configuration/add/@value", "8080")], targets=web_db(tmp_path),
                                packages=(package,)), "invalid_structured_config")
    assert "web.config" in error.message and "not valid XML at line 2" in error.message
    assert error.details["format"] == "xml" and error.details["line"] == 2
    assert not (tmp_path / "web-01" / "Acme.Web").exists()


def test_a_required_placeholder_refuses_the_deployment_even_when_nothing_renders_it(tmp_path: Path) -> None:
    from bundlekit.deploy.model import VariableInput

    steps = [script("Run", "echo hello")]
    unbound = VariableInput("Payment.ApiKey", None, True, {}, "placeholder")
    error = refusal(request_for(steps, [unbound], targets=web_db(tmp_path)), "preflight_unresolved_variables")
    assert "Payment.ApiKey" in error.message and "required placeholders" in error.message
    optional = VariableInput("Payment.ApiKey", None, True, {}, "placeholder", required=False)
    assert deploy(request_for(steps, [optional], targets=web_db(tmp_path))).state == "Success"
    scoped_away = VariableInput("Payment.ApiKey", None, True, {"environment": frozenset({"Test"})}, "placeholder")
    assert deploy(request_for(steps, [scoped_away], targets=web_db(tmp_path))).state == "Success"


def test_a_target_whose_python3_cannot_apply_xml_is_refused_before_any_step_runs(tmp_path: Path) -> None:
    from bundlekit.deploy.fleet import Health
    from bundlekit.deploy.plan import build_plan
    from bundlekit.deploy.service import _refuse_missing_formats

    package = package_zip(tmp_path / "store" / "Acme.Web.1.0.0.zip",
                          {"web.config": "<configuration><add key='Port' value='80'/></configuration>",
                           "values.yaml": "port: 80\n"})
    steps = [script("Migrate", "echo migrate", roles=("db",)),
             Step(name="Deploy", type="package", roles=("web",), package="Acme.Web",
                  structured_config=("web.config", "*.yaml"))]
    request = request_for(steps, [var("/configuration/add/@value", "8080"), var("port", "8080")],
                          targets=web_db(tmp_path), packages=(package,))
    plan = build_plan(request)

    def health(name: str, formats: tuple[str, ...] | None) -> Health:
        return Health(name, "local", str(tmp_path / name), reachable=True, host_key_ok=None, formats=formats)

    without_lxml = [health("db-01", ("json", "properties", "yaml")), health("web-01", ("json", "properties", "yaml"))]
    with raises_code("structured_config_unavailable") as info:
        _refuse_missing_formats(request, plan, without_lxml)
    assert "step 'Deploy' on web-01: web.config (XML)" in info.value.message and "values.yaml" not in info.value.message
    assert info.value.details == [{"step": "Deploy", "target": "web-01", "file": "web.config", "format": "xml"}]
    # A target that has lxml, or one whose runner was only probed (a dry run), is not refused.
    _refuse_missing_formats(request, plan, [health("web-01", ("json", "properties", "xml", "yaml"))])
    _refuse_missing_formats(request, plan, [health("web-01", None)])
