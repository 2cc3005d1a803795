"""The deploy preflight: where steps run, and every unresolved reference found before anything runs."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from bundlekit.deploy.engine import execute
from bundlekit.deploy.model import DeploymentRecord, DeployRequest, PackageInput, VariableInput
from bundlekit.deploy.plan import build_plan
from bundlekit.deploy.targets import LocalFolderTarget
from bundlekit.errors import DeployError
from bundlekit.format.manifest import Step
from tests.conftest import raises_code, snapshot

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)

# ----------------------------------------------------------------------------- builders (shared)


def web_db(tmp_path: Path) -> tuple[LocalFolderTarget, LocalFolderTarget]:
    return (LocalFolderTarget("web-01", "Production", frozenset({"web"}), tmp_path / "web-01"),
            LocalFolderTarget("db-01", "Production", frozenset({"db"}), tmp_path / "db-01"))


def script(name: str, text: str, roles: tuple[str, ...] = ("web",), syntax: str = "bash", **kw: Any) -> Step:
    return Step(name=name, type="script", roles=roles, syntax=syntax, script=text, **kw)


def var(name: str, value: str | None, sensitive: bool = False, source: str = "release",
        **scope: str | set[str]) -> VariableInput:
    return VariableInput(name, value, sensitive,
                         {dim: frozenset({v} if isinstance(v, str) else v) for dim, v in scope.items()}, source)


def package_zip(path: Path, files: dict[str, str | bytes], package_id: str = "Acme.Web",
                version: str = "1.0.0") -> PackageInput:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return PackageInput(package_id, version, path, hashlib.sha256(buffer.getvalue()).hexdigest(), path.name)


def request_for(steps: list[Step], variables: list[VariableInput] = [], *, targets: tuple[LocalFolderTarget, ...],
                packages: tuple[PackageInput, ...] = (), **kw: Any) -> DeployRequest:
    fields: dict[str, Any] = dict(deployment_id="deployments-1", project_name="Acme Web", project_slug="acme-web",
                                  space="Default", release_version="1.4.0", channel="Stable",
                                  environment="Production", now=NOW)
    fields.update(kw)
    return DeployRequest(steps=tuple(steps), packages=packages, variables=tuple(variables), targets=targets,
                         **fields)


def deploy(request: DeployRequest) -> DeploymentRecord:
    return execute(build_plan(request), request)


def refusal(request: DeployRequest, code: str) -> DeployError:
    with raises_code(code) as caught:
        build_plan(request)
    return caught.value  # type: ignore[return-value]


def missing_of(error: DeployError) -> set[tuple[str, str, str | None, str]]:
    assert error.code == "preflight_unresolved_variables"
    return {(d["name"], d["step"], d["target"], d["where"]) for d in error.details}


# ----------------------------------------------------------------------------- step selection


def test_steps_run_once_per_target_with_a_role_and_roleless_steps_run_on_the_zone(tmp_path: Path) -> None:
    web, db = web_db(tmp_path)
    web2 = LocalFolderTarget("web-02", "Production", frozenset({"Web", "api"}), tmp_path / "web-02")
    zone = LocalFolderTarget("zone", "Production", frozenset(), tmp_path / "zone")
    request = request_for([script("A", "true", roles=("web", "db")), script("B", "true", roles=()),
                           script("C", "true", roles=("api",))],
                          targets=(web, db, web2), zone_target=zone)
    plan = build_plan(request)
    assert [(r.step, r.target, r.action) for r in plan.runs] == [
        ("A", "web-01", "run"), ("A", "db-01", "run"), ("A", "web-02", "run"),
        ("B", None, "run"), ("C", "web-02", "run")]


def test_disabled_steps_and_steps_for_other_environments_are_skipped_with_the_reason(tmp_path: Path) -> None:
    request = request_for([script("Off", "true", enabled=False),
                           script("Test only", "true", environments=("Test", "Development")),
                           script("Prod", "true", environments=("production",))], targets=web_db(tmp_path))
    plan = build_plan(request)
    assert [(r.step, r.action) for r in plan.runs] == [("Off", "skip"), ("Test only", "skip"), ("Prod", "run")]
    assert plan.runs[0].reason == "the step is disabled"
    assert "Test, Development" in (plan.runs[1].reason or "") and "Production" in (plan.runs[1].reason or "")


def test_a_step_whose_roles_no_target_has_is_refused_not_silently_skipped(tmp_path: Path) -> None:
    error = refusal(request_for([script("Cache", "true", roles=("cache",))], targets=web_db(tmp_path)),
                    "no_targets_for_roles")
    assert "cache" in error.message


def test_a_roleless_step_needs_a_zone_target(tmp_path: Path) -> None:
    refusal(request_for([script("Notify", "true", roles=())], targets=web_db(tmp_path)), "no_zone_target")


def test_a_target_of_another_environment_is_refused(tmp_path: Path) -> None:
    stray = LocalFolderTarget("test-01", "Test", frozenset({"web"}), tmp_path / "t")
    refusal(request_for([script("A", "true")], targets=(stray,)), "target_wrong_environment")


@pytest.mark.parametrize("step,code", [
    (Step(name="X", type="docker", roles=("web",)), "invalid_step"),
    (Step(name="X", type="script", roles=("web",), syntax="powershell", script="x"), "invalid_step"),
    (Step(name="X", type="script", roles=("web",), syntax="bash", script="x", condition="sometimes"), "invalid_step"),
    (Step(name="X", type="package", roles=("web",), package="Nope"), "unknown_package"),
])
def test_malformed_steps_are_refused(tmp_path: Path, step: Step, code: str) -> None:
    refusal(request_for([step], targets=web_db(tmp_path)), code)


# ----------------------------------------------------------------------------- unresolved references


def test_an_unbound_placeholder_is_found_before_anything_runs_and_targets_stay_untouched(tmp_path: Path) -> None:
    web, db = web_db(tmp_path)
    for target in (web, db):
        (target.root / "Acme.Web" / "0.9.0").mkdir(parents=True)
        (target.root / "Acme.Web" / "0.9.0" / "app.txt").write_text("previous release")
    package = package_zip(tmp_path / "store" / "Acme.Web.1.0.0.zip", {
        "appsettings.json": json.dumps({"ConnectionStrings": {"Default": "dev"}, "Key": "#{Api.Key}"}),
        "index.html": "<h1>#{Banner}</h1>"})
    steps = [
        script("Migrate", "echo '#{Db.Password}' > ran.txt", roles=("db",)),
        Step(name="Deploy web", type="package", roles=("web",), package="Acme.Web",
             substitute=("*.json", "index.html")),
        script("Smoke", "echo #{Smoke.Url} #{Octopus.Machine.Name}", syntax="bash"),
    ]
    variables = [var("Api.Key", None, True, "placeholder"), var("Db.Password", None, True, "placeholder"),
                 var("Banner", "Welcome to #{Region.Name}"),
                 var("ConnectionStrings:Default", "Server=db;Password=#{Db.Password}"),
                 var("Smoke.Url", "https://#{Region.Name}/health", environment="Test")]
    before = snapshot(tmp_path)
    with raises_code("preflight_unresolved_variables") as caught:
        deploy(request_for(steps, variables, targets=(web, db), packages=(package,)))
    assert snapshot(tmp_path) == before
    error = caught.value
    assert error.exit_code == 5
    assert missing_of(error) == {
        ("Db.Password", "Migrate", "db-01", "script"),
        ("Api.Key", "Deploy web", "web-01", "file appsettings.json"),
        ("Region.Name", "Deploy web", "web-01", "variable Banner"),
        ("Db.Password", "Deploy web", "web-01", "variable ConnectionStrings:Default"),
        ("Smoke.Url", "Smoke", "web-01", "script"),
    }
    for name in ("Db.Password", "Api.Key", "Region.Name", "Smoke.Url"):
        assert name in error.message
    # Each hint names the command that gives the value (the reviewer's example: "bind a value for it").
    assert "Api.Key in step 'Deploy web' on web-01, file appsettings.json: a placeholder with no value in this " \
           "zone: bind one with `bundlekit variables set acme-web Api.Key - --sensitive` (it reads the value " \
           "from stdin" in error.message
    assert "no value is scoped to this step, target and environment: add one with `bundlekit variables set " \
           "acme-web Smoke.Url VALUE --environment Production`" in error.message
    assert "Region.Name in step 'Deploy web' on web-01, variable Banner: not defined: define it with `bundlekit " \
           "variables set acme-web Region.Name VALUE --new`" in error.message
    assert "file appsettings.json" in error.message and "variable Banner" in error.message


def test_an_unbound_json_configuration_variable_is_reported_against_its_file(tmp_path: Path) -> None:
    package = package_zip(tmp_path / "p.zip", {"appsettings.json": '{"ConnectionStrings": {"Default": "x"}}'})
    step = Step(name="Deploy", type="package", roles=("web",), package="Acme.Web")
    error = refusal(request_for([step], [var("ConnectionStrings:Default", None, True, "placeholder"),
                                         VariableInput("Unused:Key", None, False, {}, "placeholder", required=False)],
                                targets=web_db(tmp_path), packages=(package,)), "preflight_unresolved_variables")
    assert missing_of(error) == {("ConnectionStrings:Default", "Deploy", "web-01", "file appsettings.json")}


def test_references_in_conditions_and_untaken_branches_are_not_required(tmp_path: Path) -> None:
    body = "#{if Feature.Flag}#{Feature.Url}#{/if}#{each x in Servers}#{x}#{/each} #{unless Quiet}loud#{/unless}"
    plan = build_plan(request_for([script("A", body)], targets=web_db(tmp_path)))
    assert plan.runs[0].action == "run"


def test_a_template_syntax_error_is_refused_in_the_preflight(tmp_path: Path) -> None:
    error = refusal(request_for([script("A", "echo #{if X}never closed")], targets=web_db(tmp_path)),
                    "preflight_template_syntax")
    assert "'A'" in error.message


# ----------------------------------------------------------------------------- output references


def test_output_references_must_name_an_earlier_step_that_runs(tmp_path: Path) -> None:
    steps = [
        script("First", "set_octopusvariable V 1", roles=("db",)),
        script("Reader", "echo #{Octopus.Action[First].Output.V} #{Octopus.Action[Later].Output.V} "
                         "#{Octopus.Action[Reader].Output.V} #{Octopus.Action[Off].Output.V} "
                         "#{Octopus.Action[Nowhere].Output.V}"),
        script("Later", "set_octopusvariable V 2"),
        script("Off", "set_octopusvariable V 3", enabled=False),
    ]
    error = refusal(request_for(steps, targets=web_db(tmp_path)), "preflight_unresolved_variables")
    assert missing_of(error) == {(f"Octopus.Action[{s}].Output.V", "Reader", "web-01", "script")
                                 for s in ("Later", "Reader", "Off", "Nowhere")}
    hints = {d["name"]: d["hint"] for d in error.details}
    assert "runs after this step" in hints["Octopus.Action[Later].Output.V"]
    assert "its own output" in hints["Octopus.Action[Reader].Output.V"]
    assert "skipped" in hints["Octopus.Action[Off].Output.V"]
    assert "no step named" in hints["Octopus.Action[Nowhere].Output.V"]


def test_the_per_machine_form_must_name_a_machine_the_step_ran_on(tmp_path: Path) -> None:
    steps = [script("First", "set_octopusvariable V 1", roles=("db",)),
             script("Reader", "echo #{Octopus.Action[First].Output[db-01].V} #{Octopus.Action[first].Output[DB-01].V}"
                              " #{Octopus.Action[First].Output[web-01].V}")]
    error = refusal(request_for(steps, targets=web_db(tmp_path)), "preflight_unresolved_variables")
    assert missing_of(error) == {("Octopus.Action[First].Output[web-01].V", "Reader", "web-01", "script")}


def test_an_output_reference_inside_a_variable_value_resolves_and_is_listed(tmp_path: Path) -> None:
    steps = [script("First", "set_octopusvariable V 1", roles=("db",)), script("Reader", "echo #{Version.Label}")]
    plan = build_plan(request_for(steps, [var("Version.Label", "v#{Octopus.Action[First].Output.V}")],
                                  targets=web_db(tmp_path)))
    assert plan.runs[1].output_refs == ("Octopus.Action[First].Output.V",)
    assert "Version.Label" in plan.runs[1].variables


# ----------------------------------------------------------------------------- packages and the dry run


def test_a_package_that_changed_in_the_store_is_refused(tmp_path: Path) -> None:
    package = package_zip(tmp_path / "p.zip", {"a.txt": "x"})
    package.path.write_bytes(package.path.read_bytes() + b"tampered")
    step = Step(name="Deploy", type="package", roles=("web",), package="Acme.Web")
    with raises_code("package_hash_mismatch"):
        build_plan(request_for([step], targets=web_db(tmp_path), packages=(package,)))


def test_a_package_with_two_scripts_for_one_phase_is_refused(tmp_path: Path) -> None:
    package = package_zip(tmp_path / "p.zip", {"Deploy.sh": "true", "deploy.py": "pass"})
    step = Step(name="Deploy", type="package", roles=("web",), package="Acme.Web")
    refusal(request_for([step], targets=web_db(tmp_path), packages=(package,)), "ambiguous_package_script")


def test_invalid_json_with_configuration_variables_in_scope_is_refused_before_running(tmp_path: Path) -> None:
    package = package_zip(tmp_path / "p.zip", {"appsettings.json": '{"a": 1, "a": 2}'})
    step = Step(name="Deploy", type="package", roles=("web",), package="Acme.Web")
    error = refusal(request_for([step], [var("a:b", "x")], targets=web_db(tmp_path), packages=(package,)),
                    "invalid_structured_config")
    assert "appsettings.json" in error.message


def test_the_dry_run_plan_lists_names_files_and_keys_never_values(tmp_path: Path) -> None:
    package = package_zip(tmp_path / "p.zip", {
        "appsettings.json": '{"ConnectionStrings": {"Default": "x"}, "Other": "#{Site}"}',
        "appsettings.Production.json": '{"Logging": {"Level": "Info"}}',
        "PreDeploy.py": "print(1)", "Deploy.sh": "echo 2", "config/site.conf": "site=#{Site}"})
    step = Step(name="Deploy", type="package", roles=("web",), package="Acme.Web", substitute=("config/*.conf",
                                                                                                 "*.json"))
    request = request_for([step], [var("Site", "site-value-visible"), var("Db.Password", "pw-canary-0042", True),
                                   var("ConnectionStrings:Default", "pw=#{Db.Password}"),
                                   var("Logging:Level", "Warning")],
                          targets=web_db(tmp_path), packages=(package,))
    plan = build_plan(request)
    run = plan.runs[0]
    assert run.substitute_files == ("appsettings.Production.json", "appsettings.json", "config/site.conf")
    assert {file: (fmt, keys) for file, fmt, keys in run.structured_config} == {
        "appsettings.json": ("json", ("ConnectionStrings:Default",)),
        "appsettings.Production.json": ("json", ("Logging:Level",))}
    assert run.package_scripts == ("PreDeploy.py", "Deploy.sh")
    assert run.sensitive == ("Db.Password",)
    text = json.dumps(plan.to_dict())
    assert "Db.Password" in text and "pw-canary-0042" not in text and "site-value-visible" not in text
    assert plan.to_dict()["packages"] == [{"id": "Acme.Web", "version": "1.0.0", "sha256": package.sha256}]


def test_an_ambiguous_tie_is_refused_naming_the_step_and_target(tmp_path: Path) -> None:
    request = request_for([script("A", "echo #{Port}")], [var("Port", "80", role="web"), var("Port", "81",
                                                                                             role={"web", "db"})],
                          targets=web_db(tmp_path))
    error = refusal(request, "preflight_ambiguous_variable")
    assert "'A' on web-01" in error.message


def test_a_variable_cycle_is_refused_in_the_preflight_naming_the_run(tmp_path: Path) -> None:
    error = refusal(request_for([script("A", "echo #{A}")], [var("A", "x#{B}"), var("B", "#{A}")],
                                targets=web_db(tmp_path)), "preflight_variable_cycle")
    assert "'A' on web-01, script" in error.message
