"""The deploy engine end to end: real folders as targets, real bash and Python subprocesses."""

from __future__ import annotations

import hashlib
import json
import threading
import zipfile
from pathlib import Path
from typing import Any


from bundlekit.deploy.engine import execute
from bundlekit.deploy.model import DeploymentRecord, DeployRequest, PackageInput, VariableInput
from bundlekit.deploy.plan import build_plan
from bundlekit.deploy.targets import LocalFolderTarget
from bundlekit.export.releasefile import load_release
from bundlekit.format.manifest import Step
from tests.conftest import FIXTURES, RELEASE, raises_code
from tests.deploy.test_plan import NOW, deploy, package_zip, request_for, script, var, web_db

API_KEY = "api-key-canary-7731"


def acme_request(tmp_path: Path, extra: tuple[VariableInput, ...] = (), **kw: Any) -> DeployRequest:
    """The fixture release (fixtures/acme/release.toml) to Production, on web-01 and db-01."""
    spec = load_release(RELEASE)
    packages = []
    for source in spec.packages:
        assert source.path is not None
        digest = hashlib.sha256(source.path.read_bytes()).hexdigest()
        packages.append(PackageInput(source.id, source.version, source.path, digest, source.path.name))
    variables = [VariableInput(v.name, v.value, v.sensitive, {k: frozenset(s) for k, s in v.scope.items()},
                               "placeholder" if v.placeholder else "release") for v in spec.variables]
    variables.append(VariableInput("Acme.ApiKey", API_KEY, True, source="local"))  # production's binding
    fields: dict[str, Any] = dict(
        deployment_id="deployments-7", project_name=spec.project["name"], project_slug=spec.project["slug"],
        space=spec.project["space"], release_version=spec.release["version"], channel=spec.release["channel"],
        environment="Production", steps=spec.steps, packages=tuple(packages),
        variables=tuple(variables) + extra, targets=web_db(tmp_path), now=NOW)
    fields.update(kw)
    return DeployRequest(**fields)


def run_of(record: DeploymentRecord, step: str, target: str | None = None) -> Any:
    found = [r for r in record.runs if r.step == step and (target is None or r.target == target)]
    assert len(found) == 1, (step, target, record.runs)
    return found[0]


# ----------------------------------------------------------------------------- the fixture release


def test_the_acme_release_deploys_across_two_targets_with_outputs_flowing_between_them(tmp_path: Path) -> None:
    request = acme_request(tmp_path)
    events: list[dict[str, Any]] = []
    record = execute(build_plan(request), request, on_event=events.append)

    assert record.state == "Success"
    assert [(r.step, r.target, r.state) for r in record.runs] == [
        ("Run migrations", "db-01", "Success"), ("Deploy web", "web-01", "Success"),
        ("Smoke test", "web-01", "Success")]
    migrate = run_of(record, "Run migrations")
    assert "migrating database acme_prod on db-01" in migrate.log  # the Production-scoped value won
    assert [(o.name, o.sensitive) for o in migrate.outputs] == [("SchemaVersion", False), ("MigrationToken", True)]
    # The python step on web-01 read the output the bash step set on db-01 (it asserts it is 42).
    assert "smoke test on web-01: schema 42" in run_of(record, "Smoke test").log

    installed = tmp_path / "web-01" / "Acme.Web" / "1.4.0"
    settings = json.loads((installed / "appsettings.json").read_text())
    assert settings["Acme"] == {"SchemaVersion": "42", "Environment": "Production", "Machine": "web-01",
                                "ApiKey": API_KEY}
    assert settings["ConnectionStrings"]["Default"] == "Server=db.prod;Database=acme_prod;Password=s3cret-value"
    assert (installed / "index.html").read_text() == "<h1>Acme Web 1.4.0</h1>\n"
    deploy_web = run_of(record, "Deploy web")
    assert f"deployed Acme.Web to {installed}" in deploy_web.log  # Deploy.sh ran in the package folder
    assert [(n, t, o.name, o.value) for n, t, o in record.outputs() if o.name.startswith("Package.")] == [
        ("Deploy web", "web-01", "Package.InstallationDirectoryPath", str(installed))]
    assert not (tmp_path / "db-01" / "Acme.Web").exists()  # the web package went to web targets only
    assert [e["event"] for e in events if e["event"] != "run_log" and not e["event"].startswith("package_")] == (
        ["deployment_started"] + ["run_started", "run_finished"] * 3 + ["deployment_finished"])
    # Logs stream back live, line by line, masked in the zone before anyone sees them.
    lines = [e["line"] for e in events if e["event"] == "run_log"]
    assert "smoke test on web-01: schema 42" in lines
    assert not any(API_KEY in line or "s3cret-value" in line for line in lines)
    # The package's transfer to the target's runner and its extraction there are reported for
    # progress bars: each phase's total, then bytes adding up to it.
    archive = FIXTURES / "acme" / "packages" / "Acme.Web.1.4.0.zip"
    with zipfile.ZipFile(archive) as z:
        content = sum(i.file_size for i in z.infolist())
    for phase, total in (("transfer", archive.stat().st_size), ("extract", content)):
        (started,) = [e for e in events if e["event"] == "package_started" and e["phase"] == phase]
        assert (started["target"], started["package"]) == ("web-01", "Acme.Web 1.4.0")
        moved = [e["bytes"] for e in events if e["event"] == "package_progress" and e["phase"] == phase]
        assert started["total"] == sum(moved) == total > 0


def test_a_redeploy_of_the_same_version_replaces_the_installed_package(tmp_path: Path) -> None:
    request = acme_request(tmp_path)
    assert deploy(request).state == "Success"
    installed = tmp_path / "web-01" / "Acme.Web" / "1.4.0"
    (installed / "stale.txt").write_text("left from a hand edit")
    assert deploy(request).state == "Success"
    assert not (installed / "stale.txt").exists()
    assert json.loads((installed / "appsettings.json").read_text())["Acme"]["SchemaVersion"] == "42"


# ----------------------------------------------------------------------------- conditions


def test_a_failure_skips_later_success_steps_but_runs_always_and_failure_steps(tmp_path: Path) -> None:
    steps = [script("Works", "echo fine > works.txt"),
             script("Breaks", "echo about to fail; exit 3", roles=("db",)),
             script("Next", "touch next.txt"),
             script("Cleanup", "echo cleaning up", condition="always"),
             script("Alert", "echo alerting", condition="failure")]
    record = deploy(request_for(steps, targets=web_db(tmp_path)))
    assert record.state == "Failed"
    assert [(r.step, r.state) for r in record.runs] == [
        ("Works", "Success"), ("Breaks", "Failed"), ("Next", "Skipped"), ("Cleanup", "Success"),
        ("Alert", "Success")]
    breaks = run_of(record, "Breaks")
    assert breaks.exit_code == 3 and "exited with code 3" in (breaks.reason or "") and "about to fail" in breaks.log
    assert "'Breaks' on db-01" in (run_of(record, "Next").reason or "")
    assert run_of(record, "Next").started is None
    assert not list(tmp_path.glob("web-01/**/next.txt"))
    assert "cleaning up" in run_of(record, "Cleanup").log


def test_failure_steps_are_skipped_when_nothing_failed(tmp_path: Path) -> None:
    record = deploy(request_for([script("A", "true"), script("Alert", "touch alert", condition="failure")],
                                targets=web_db(tmp_path)))
    assert record.state == "Success"
    assert [(r.step, r.state) for r in record.runs] == [("A", "Success"), ("Alert", "Skipped")]


def test_a_script_past_its_timeout_is_timed_out_and_fails_the_deployment(tmp_path: Path) -> None:
    steps = [script("Hangs", "echo started; sleep 30", timeout=1), script("After", "true")]
    record = deploy(request_for(steps, targets=web_db(tmp_path)))
    hangs = run_of(record, "Hangs")
    assert hangs.state == "TimedOut" and hangs.exit_code is None and "timeout of 1 s" in (hangs.reason or "")
    assert run_of(record, "After").state == "Skipped" and record.state == "Failed"


def test_the_request_timeout_applies_when_the_step_has_none(tmp_path: Path) -> None:
    record = deploy(request_for([script("Hangs", "sleep 30")], targets=web_db(tmp_path), script_timeout=0.5))
    assert run_of(record, "Hangs").state == "TimedOut"


def test_canceling_stops_the_running_script_and_cancels_the_rest(tmp_path: Path) -> None:
    cancel = threading.Event()
    request = request_for([script("Long", "sleep 30"), script("Then", "true", condition="always")],
                          targets=web_db(tmp_path))

    def on_event(event: dict[str, Any]) -> None:
        if event["event"] == "run_started":
            cancel.set()

    record = execute(build_plan(request), request, on_event=on_event, cancel=cancel)
    assert [(r.step, r.state) for r in record.runs] == [("Long", "Canceled"), ("Then", "Canceled")]
    assert record.state == "Canceled"  # stopped on purpose, not failed (decision 402)


def test_an_error_inside_a_run_is_recorded_as_a_failed_run_not_raised(tmp_path: Path) -> None:
    # An output that the earlier step never set is only known to be missing at run time.
    steps = [script("First", "echo no outputs", roles=("db",)),
             script("Reader", "echo #{Octopus.Action[First].Output.Never}"),
             script("Tidy", "true", condition="always")]
    record = deploy(request_for(steps, targets=web_db(tmp_path)))
    reader = run_of(record, "Reader")
    assert reader.state == "Failed" and "Octopus.Action[First].Output.Never" in (reader.reason or "")
    assert "unresolved_variables" in (reader.reason or "")
    assert run_of(record, "Tidy").state == "Success"


def test_a_plan_for_another_request_is_refused(tmp_path: Path) -> None:
    request = request_for([script("A", "true")], targets=web_db(tmp_path))
    other = request_for([script("A", "true")], targets=web_db(tmp_path), deployment_id="deployments-2")
    with raises_code("plan_mismatch"):
        execute(build_plan(other), request)


# ----------------------------------------------------------------------------- output variables


def test_output_variables_per_machine_and_the_unscoped_form(tmp_path: Path) -> None:
    web1, db = web_db(tmp_path)
    web2 = LocalFolderTarget("web-02", "Production", frozenset({"web"}), tmp_path / "web-02")
    zone = LocalFolderTarget("zone", "Production", frozenset(), tmp_path / "zone")
    steps = [
        script("Probe", 'set_octopusvariable Host "host-of-#{Octopus.Machine.Name}"'),
        script("Read", "echo \"mine=#{Octopus.Action[Probe].Output.Host} "
                       "first=#{Octopus.Action[Probe].Output[web-01].Host} "
                       "second=#{Octopus.Action[probe].Output[WEB-02].Host} "
                       "helper=$(get_octopusvariable 'Octopus.Action[Probe].Output[web-02].Host')\""),
        script("On zone", "import sys\nprint('zone sees', '#{Octopus.Action[Probe].Output.Host}')",
               roles=(), syntax="python"),
    ]
    record = deploy(request_for(steps, targets=(web1, db, web2), zone_target=zone))
    assert record.state == "Success", record.runs
    assert ("mine=host-of-web-01 first=host-of-web-01 second=host-of-web-02 helper=host-of-web-02"
            in run_of(record, "Read", "web-01").log)
    assert "mine=host-of-web-02 first=host-of-web-01" in run_of(record, "Read", "web-02").log
    # Not run on either machine: the value set last (the targets run in order) is used.
    assert "zone sees host-of-web-02" in run_of(record, "On zone").log


def test_json_configuration_replaces_existing_keys_and_later_steps_see_the_install_folder(tmp_path: Path) -> None:
    package = package_zip(tmp_path / "store" / "Acme.Web.1.0.0.zip", {
        "appsettings.json": json.dumps({"ConnectionStrings": {"Default": "dev"},
                                        "Features": {"Retries": 1, "Beta": False}}, indent=2) + "\n",
        "config/extra.json": json.dumps({"Features": {"Retries": 0}}),
        "other.json": json.dumps({"ConnectionStrings": {"Default": "untouched"}})})
    step = Step(name="Deploy", type="package", roles=("web",), package="Acme.Web", substitute=("config/*.json",))
    variables = [var("ConnectionStrings:Default", "Server=#{Db.Host};Database=shop"), var("Db.Host", "db.prod"),
                 var("Features:Retries", "5"), var("features:beta", "True"), var("Missing:Key", "ignored")]
    show = script("Show", "echo \"at #{Octopus.Action[Deploy].Output.Package.InstallationDirectoryPath}\"")
    record = deploy(request_for([step, show], variables, targets=web_db(tmp_path), packages=(package,)))
    assert record.state == "Success", record.runs
    root = tmp_path / "web-01" / "Acme.Web" / "1.0.0"
    assert f"at {root}" in run_of(record, "Show").log
    assert json.loads((root / "appsettings.json").read_text()) == {
        "ConnectionStrings": {"Default": "Server=db.prod;Database=shop"}, "Features": {"Retries": 5, "Beta": True}}
    assert json.loads((root / "config/extra.json").read_text()) == {"Features": {"Retries": 5}}
    assert json.loads((root / "other.json").read_text()) == {"ConnectionStrings": {"Default": "untouched"}}
    assert "structured configuration (JSON): replaced ConnectionStrings:Default, Features:Retries, Features:Beta " \
        "in appsettings.json" in \
        run_of(record, "Deploy").log


def test_package_phases_run_in_order_around_substitution(tmp_path: Path) -> None:
    package = package_zip(tmp_path / "store" / "Acme.Web.1.0.0.zip", {
        "site.conf": "name=#{Site.Name}\n",
        "PreDeploy.sh": "echo \"pre sees: $(cat site.conf)\"\n",
        "Deploy.py": "print('deploy sees:', open('site.conf').read().strip())\n"
                     "print('dir', get_octopusvariable('Octopus.Action.Package.InstallationDirectoryPath'))\n",
        "PostDeploy.sh": "echo post; exit 4\n"})
    step = Step(name="Deploy", type="package", roles=("web",), package="Acme.Web", substitute=("*.conf",))
    record = deploy(request_for([step], [var("Site.Name", "shop")], targets=web_db(tmp_path), packages=(package,)))
    run = run_of(record, "Deploy")
    root = tmp_path / "web-01" / "Acme.Web" / "1.0.0"
    assert run.log.index("pre sees: name=#{Site.Name}") < run.log.index("substituted variables in site.conf") \
        < run.log.index("deploy sees: name=shop") < run.log.index("post")
    assert f"dir {root}" in run.log
    assert run.state == "Failed" and run.exit_code == 4 and "PostDeploy.sh exited with code 4" in (run.reason or "")
    assert run.outputs[0].name == "Package.InstallationDirectoryPath"  # set even though a phase failed
    assert not list(root.glob(".bundlekit-run-*"))  # scripts ran in a work folder, not in the package
