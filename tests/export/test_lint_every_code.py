"""Every kind of finding lint makes, each triggered once: each says what to do (no null
suggestion), and together they are every code lint has (FINDING_CODES) and every rule of the
release file beyond its schema (release_rules), so a new check cannot arrive without a case.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Callable

import pytest

from bundlekit.export.lint_model import FINDING_CODES
from tests.conftest import cli_in_process
from tests.export.test_lint import RELEASE, _hostile_zip, edit

Case = Callable[[Path], tuple[Path, Path | None]]  # release folder -> (release file, targets file)

ZIP = "packages/Acme.Web.1.4.0.zip"


def _edit(*pairs: tuple[str, str], append: str = "") -> Case:
    def make(d: Path) -> tuple[Path, Path | None]:
        path = d / RELEASE
        for old, new in pairs:
            edit(d, old, new)
        path.write_text(path.read_text() + append)
        return path, None
    return make


def _inventory(d: Path, roles: list[str]) -> Path:
    out = d / "targets.json"
    out.write_text(json.dumps({"format": "bundlekit-targets/1", "zone": "prod", "environments": ["Production"],
                               "targets": [{"name": "web-01", "environment": "Production", "roles": roles}]}))
    return out


def _with_targets(roles: list[str], *pairs: tuple[str, str]) -> Case:
    def make(d: Path) -> tuple[Path, Path | None]:
        return _edit(*pairs)(d)[0], _inventory(d, roles)
    return make


def _not_toml(d: Path) -> tuple[Path, Path | None]:
    (d / RELEASE).write_text("[project\nname = 'x'\n")
    return d / RELEASE, None


def _package(write: Callable[[Path], None]) -> Case:
    def make(d: Path) -> tuple[Path, Path | None]:
        write(d / ZIP)
        return d / RELEASE, None
    return make


def _not_an_archive(path: Path) -> None:
    path.write_bytes(b"PK\x03\x04 this is no zip")


LIFECYCLE = ('[[packages]]', '[lifecycle]\n[[lifecycle.phases]]\nname = "Production"\nenvironments = ["Production"]'
             '\n\n[[packages]]')
SECRET_FROM_ENV = ('value = "s3cret-value"', 'value_from = { env = "BUNDLEKIT_LINT_NEVER_SET" }')

#: code -> a release that breaks exactly that rule or check.
CASES: dict[str, Case] = {
    "invalid_toml": _not_toml,
    "unknown_key": _edit(('scope = { environment', 'scope = { enviroment')),
    "invalid_value": _edit(('type = "package"', 'type = "pakage"')),
    "template_syntax": _edit(('echo "migrating database', 'echo "migrating #{if Ready}database')),
    "undefined_variable": _edit(("#{Acme.Db.Name} on", "#{Acme.Db.Nmae} on")),
    "unknown_filter": _edit(("#{Acme.Db.Name} on", "#{Acme.Db.Name | ToUper} on")),
    "unknown_output_step": _edit(("Octopus.Action[Run migrations]", "Octopus.Action[Run migration]")),
    "output_not_yet_set": _edit(('echo "migrating', 'echo "#{Octopus.Action[Smoke test].Output.X}"\necho "migrating')),
    "unreferenceable_step_name": _edit(('name = "Deploy web"', 'name = "Deploy [web]"')),
    "pattern_matches_nothing": _edit(('"index.html"]', '"indx.html"]')),
    "unknown_environment": _edit(LIFECYCLE, ('environment = ["Production"]', 'environment = ["Prodution"]')),
    "unknown_role": _edit(append='\n[[variables]]\nname = "Acme.Role"\nvalue = "x"\nscope = { role = "wbe" }\n'),
    "unknown_step": _edit(('environment = ["Production"] }', 'environment = ["Production"], step = "Smoke tst" }')),
    "role_without_targets": _with_targets(["web"]),
    "unused_placeholder": _edit(append='\n[[variables]]\nname = "Acme.Unused"\nplaceholder = true\n'),
    "tenant_name_without_tenants": _edit(("#{Acme.Db.Name} on", "#{Acme.Db.Name} for #{Octopus.Deployment.Tenant.Name} on")),
    "output_of_disabled_step": _edit(('name = "Run migrations"', 'name = "Run migrations"\nenabled = false')),
    "ambiguous_package_script": _package(lambda p: _zip_with(p, {"PreDeploy.sh": "echo", "predeploy.py": "x"})),
    # extraction's own codes, for a member and for the archive
    "unsafe_package": _package(_hostile_zip),
    "corrupt_package": _package(_not_an_archive),
    # the rules beyond the schema (release_rules), each under the code load_release refuses it with
    "unsafe_path": _edit((f'file = "{ZIP}"', 'file = "../outside.zip"')),
    "package_file_missing": _edit((f'file = "{ZIP}"', 'file = "packages/Acme.Web.1.4.1.zip"')),
    "invalid_release": _edit(('name = "Smoke test"', 'name = "Deploy web"')),
    "value_source_missing": _edit(SECRET_FROM_ENV),
    "ambiguous_variable": _edit(append='\n[[variables]]\nname = "Acme.Db.Name"\nvalue = "x"\n'),
    # the substitution engine's own refusals, as a deploy's preflight meets them
    "variable_cycle": _edit(append='\n[[variables]]\nname = "A"\nvalue = "#{B}"\n\n[[variables]]\nname = "B"\n'
                                   'value = "#{A}"\n'),
    "unresolved_variables": _edit(append='\n[[variables]]\nname = "Self"\nvalue = "#{Self.Y}"\n'),
    "filter_failed": _edit(append='\n[[variables]]\nname = "Cut"\nvalue = "#{Acme.Db.Name | Substring 99 1}"\n'),
}


def _zip_with(path: Path, extra: dict[str, str]) -> None:
    with zipfile.ZipFile(path, "a") as z:
        for name, text in extra.items():
            z.writestr(name, text)


# Structured configuration's findings (export/lint_configs.py), on a tree that has that check.
if "invalid_structured_config" in FINDING_CODES:
    CASES["invalid_structured_config"] = _package(lambda p: _zip_with(p, {"appsettings.Production.json": '{"A": 1,,}'}))
if "json_member_missing" in FINDING_CODES:
    CASES["json_member_missing"] = _edit(append="\n[[variables]]\nname = \"Cfg\"\nvalue = '{\"Db\": {\"Port\": 1}}'\n"
                                                "\n[[steps]]\nname = \"Use cfg\"\ntype = \"script\"\nsyntax = \"bash\"\n"
                                                "roles = [\"db\"]\nscript = 'echo #{Cfg.Db.Prot}'\n")
if "config_path_matches_nothing" in FINDING_CODES:
    CASES["config_path_matches_nothing"] = _edit(append='\n[[variables]]\nname = "Logging:LogLevel:Defualt"\n'
                                                        'value = "x"\n')


def _xpath_into_a_default_namespace(d: Path) -> tuple[Path, Path | None]:
    _zip_with(d / ZIP, {"web.config": '<configuration xmlns="urn:c"><appSettings/></configuration>'})
    return _edit(('substitute = ["appsettings.json", "index.html"]',
                  'substitute = ["appsettings.json", "index.html"]\nstructured_config = ["web.config"]'),
                 append='\n[[variables]]\nname = "/configuration/appSettings"\nvalue = "x"\n')(d)


CASES["structured_config_warning"] = _xpath_into_a_default_namespace
CASES["output_never_set"] = _edit(("Output.SchemaVersion}", "Output.SchemaVerison}"))
CASES["computed_output_step"] = _edit(('print(f"smoke test', 'print("#{Octopus.Action[#{Step.Name}].Output.X}")\n'
                                                             'print(f"smoke test'),
                                      append='\n[[variables]]\nname = "Step.Name"\nplaceholder = true\n')


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_kind_of_finding_is_found_and_says_what_to_do(release_dir: Path, code: str) -> None:
    path, targets = CASES[code](release_dir)
    r = cli_in_process("lint", path, "--json", *(["--targets", targets] if targets else []))
    report = json.loads(r.stdout)
    assert code in [f["code"] for f in report["findings"]], report
    assert [f for f in report["findings"] if not f["suggestion"]] == []  # no finding without a fix
    assert r.returncode == (2 if report["errors"] else 0)


def test_the_cases_cover_every_finding_code_and_every_rule_beyond_the_schema() -> None:
    rule_codes = {"unsafe_path", "package_file_missing", "invalid_release", "value_source_missing",
                  "ambiguous_variable"}
    archive_codes = {"unsafe_package", "corrupt_package"}
    engine_codes = {"variable_cycle", "unresolved_variables", "filter_failed"}
    assert set(CASES) == (set(FINDING_CODES) - {"more_notes"}) | rule_codes | archive_codes | engine_codes


def test_an_unsafe_substitute_pattern_is_one_finding_at_its_key_with_the_patterns_fix(release_dir: Path) -> None:
    # It was also reported at packages[0].file, telling the user to rebuild a package that is fine.
    path = edit(release_dir, '"index.html"]', '"../index.html"]')
    r = cli_in_process("lint", path, "--json")
    [finding] = json.loads(r.stdout)["findings"]
    assert (finding["code"], finding["path"]) == ("unsafe_path", "steps[1].substitute[1]")
    assert finding["suggestion"] == ("write the pattern relative to the package root, without '..' or a leading '/' "
                                     "(for example 'config/*.json')")


@pytest.mark.parametrize("with_targets", [False, True], ids=["alone", "with-inventory"])
def test_a_role_scope_one_edit_from_a_known_role_gets_it_as_did_you_mean(release_dir: Path,
                                                                        with_targets: bool) -> None:
    path, _ = CASES["unknown_role"](release_dir)
    targets = ["--targets", _inventory(release_dir, ["web", "db"])] if with_targets else []
    r = cli_in_process("lint", path, "--json", *targets)
    [finding] = json.loads(r.stdout)["findings"]
    assert (finding["severity"], finding["code"], finding["suggestion"]) == ("warning", "unknown_role",
                                                                            "did you mean 'web'?")


def test_a_role_scope_far_from_every_role_names_the_roles_there_are(release_dir: Path) -> None:
    path = edit(release_dir, 'scope = { environment = ["Production"] }', 'scope = { role = "frontend" }')
    r = cli_in_process("lint", path, "--json", "--targets", _inventory(release_dir, ["web", "db"]))
    [finding] = json.loads(r.stdout)["findings"]
    assert finding["code"] == "unknown_role"
    assert finding["suggestion"] == ("scope it to a role a target has ('web', 'db'), or add a target with this "
                                     "role in the deploying zone")


def _targets(d: Path, targets: list[tuple[str, str, list[str]]]) -> str:
    out = d / "targets.json"
    out.write_text(json.dumps({"format": "bundlekit-targets/1", "zone": "prod",
                               "environments": sorted({e for _, e, _ in targets}),
                               "targets": [{"name": n, "environment": e, "roles": r} for n, e, r in targets]}))
    return str(out)


def test_a_role_scope_is_never_told_to_use_a_step_role_that_has_no_target(release_dir: Path) -> None:
    # 'wbe' is one edit from the step role 'web', but no target has 'web' (itself an error):
    # suggesting it would trade one deploy failure for another.
    path, _ = CASES["unknown_role"](release_dir)
    r = cli_in_process("lint", path, "--json", "--targets", _targets(release_dir, [("db-01", "Production", ["db"]),
                                                                                    ("api-01", "Production", ["api"])]))
    [unknown] = [f for f in json.loads(r.stdout)["findings"] if f["code"] == "unknown_role"]
    assert unknown["suggestion"] == ("scope it to a role a target has ('db', 'api'), or add a target with this role "
                                     "in the deploying zone")
    assert [f["path"] for f in json.loads(r.stdout)["findings"] if f["code"] == "role_without_targets"] == [
        "steps[1].roles[0]", "steps[2].roles[0]"]


def test_a_step_role_without_targets_is_told_only_of_roles_with_targets_where_it_runs(release_dir: Path) -> None:
    # 'webs' is one edit from 'web', but its only target is in Staging and the step runs in Production.
    path = edit(release_dir, 'roles = ["web"]\nsubstitute', 'roles = ["web"]\nenvironments = ["Production"]\n'
                'substitute')
    inventory = _targets(release_dir, [("db-01", "Production", ["db", "web"]), ("stage-01", "Staging", ["webs"]),
                                       ("front-01", "Production", ["wex"])])
    edit(release_dir, 'roles = ["web"]\nenvironments', 'roles = ["wec"]\nenvironments')
    r = cli_in_process("lint", path, "--json", "--targets", inventory)
    [finding] = [f for f in json.loads(r.stdout)["findings"] if f["path"] == "steps[1].roles[0]"]
    assert finding["code"] == "role_without_targets"
    assert finding["suggestion"] == "did you mean 'web' or 'wex'?"


#: Every refusal of a deploy's preflight and of export's reading of a release file, and what lint
#: reports for it in the development zone (a finding code with a case above), or why it cannot.
ZONE_FREE_IN_LINT: dict[str, str] = {
    # deploy/plan.py, deploy/context.py
    "ambiguous_package_script": "ambiguous_package_script",
    "invalid_step": "invalid_value",  # type, condition, timeout, syntax and script are the schema's
    "unknown_package": "invalid_release",
    "no_targets_for_roles": "role_without_targets",  # with --targets
    "preflight_template_syntax": "template_syntax",
    "preflight_unresolved_variables": "undefined_variable",  # and unknown_output_step, output_not_yet_set, ...
    "preflight_ambiguous_variable": "ambiguous_variable",
    "preflight_variable_cycle": "variable_cycle",
    "preflight_substitution_too_deep": "variable_cycle",  # the same expansion, past the depth limit
    "preflight_substitution_too_large": "variable_cycle",  # ... past the size limit
    # export/release_rules.py, releasefile.py, exporter.py
    "ambiguous_variable": "ambiguous_variable",
    "invalid_release": "invalid_release",
    "package_file_missing": "package_file_missing",
    "unsafe_path": "unsafe_path",
    "unknown_output_step": "unknown_output_step",
    "package_refused": "unsafe_package",  # every member, under extraction's code
    "value_source_missing": "value_source_missing",  # export's refusal when it is all lint found (decision 710)
}
NEEDS_THE_ZONE: dict[str, str] = {
    "no_zone_target": "whether the deploying zone was given a zone target",
    "target_wrong_environment": "the deploying zone's targets",
    "package_hash_mismatch": "the deploying zone's package store",
    "package_unreadable": "the deploying zone's package store (a package file lint cannot read is corrupt_package)",
    "invalid_duration": "export's --expires, not the release file",
    "invalid_input": "export's --sequence and SOURCE_DATE_EPOCH, not the release file",
    "sequence_taken": "export's --sequence against the bundles this zone already exported (decision 800)",
    "space_denied": "the destination's trust rule in this zone against the project's space here (decision 915)",
}
if "invalid_structured_config" in FINDING_CODES:
    ZONE_FREE_IN_LINT["invalid_structured_config"] = "invalid_structured_config"
else:
    NEEDS_THE_ZONE["invalid_structured_config"] = "not yet in lint on this tree: structured configuration's parsers"


def test_every_refusal_of_the_preflight_and_of_exports_release_reading_is_linted_or_needs_the_zone() -> None:
    # Found by reading the source (tests/codescan.py): a new refusal there fails this test until
    # lint reports it too, or it is said why only the deploying zone can know.
    from bundlekit import __file__ as package_init
    from tests.codescan import scan

    watched = ("bundlekit/deploy/plan.py", "bundlekit/deploy/context.py", "bundlekit/export/release_rules.py",
               "bundlekit/export/releasefile.py", "bundlekit/export/exporter.py")
    found = {code for code, sites in scan(Path(package_init).parent).codes.items()
             if any(site.path in watched for site in sites)}
    assert found == set(ZONE_FREE_IN_LINT) | set(NEEDS_THE_ZONE)
    assert set(ZONE_FREE_IN_LINT.values()) <= set(CASES)  # each has a case above, found by lint
