"""The one registry of error codes: every raise uses it, and spec/errors.md is generated from it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bundlekit.error_codes import ALIASES, FAMILIES, REGISTRY
from bundlekit.errors import (BundleError, ConflictError, DeployError, ErrorCodeMisuse, FormatError, InputError,
                              StateError, TransportError, TrustError, UsageError, VerificationError, exit_code_for)
from bundlekit.substitution import SubstitutionError
from tests.codescan import ERROR_CLASSES, scan

ROOT = Path(__file__).resolve().parent.parent

#: Callables with a parameter named ``code`` that is not an error code.
NOT_ERROR_CODES = frozenset({
    "lookup",  # the registry's own lookup (and unrelated lookups sharing the name)
    "log_request",  # http.server's status code
    "VolumeHeader",  # a media volume's erasure-code id, a number
    "Finding",  # a lint finding's code: bundlekit.export.lint_model.FINDING_CODES, or a refusal's code it reports
    "finding",  # the same, through lint_scope's helper that also finds the line
})

#: Codes forwarded from an error or record caught or built nearby; the scan reads every
#: value those carry where they are made, so these add no code of their own.
FORWARDED = {
    ("bundlekit/cli/transport_cmds.py", "report.code"),  # MediaReport.code, built in media_scan
    ("bundlekit/package/archive.py", "problem.code"),  # _Refusal(code=...), scanned at each raise
    # every member problem at once, for lint: the same _Refusal codes, and read_members' own DeployError codes
    ("bundlekit/package/survey.py", "refusal.code"),
    ("bundlekit/package/survey.py", "error.code"),
    ("bundlekit/format/codec.py", "err.code"),  # a FormatError from the decoder's own hook, re-raised
    ("bundlekit/importer/refusal.py", "err.code"),  # the refused import's own code, kept in its refusal entry
    # a relay hop record's decoder code, re-raised with what to do (review atk35 F8)
    ("bundlekit/format/relay.py", "err.code"),
    # the import's rollback / sequence_reused, re-raised by relay with "nothing was written" (decision 957)
    ("bundlekit/export/relay.py", "err.code"),
    # a receipt's refusal entry that answers no export: the check's own unknown_bundle or untrusted_relay,
    # re-raised with words for a refusal entry (decision 969)
    ("bundlekit/receipt/ingest.py", "err.code"),
    # a code a step runner reported; runner_error keeps it only if registered (else runner_failed)
    ("bundlekit/deploy/session.py", "str(message.get('code'))"),
    # the one code every target's preflight failure shares (each raised where the scan sees it)
    ("bundlekit/deploy/fleet.py", "codes.pop()"),
    # a target's preflight failure re-raised with "Nothing was run" and the target in its details
    ("bundlekit/deploy/fleet.py", "error.code"),
    # the code of an error a transfer process met (raised there, by the same code as the zone's own transfer)
    ("bundlekit/deploy/transfer.py", "code"),
    # a refused command's own code, kept in the audit entry that ends its trail (decision 590)
    ("bundlekit/cli/common.py", "err.code"),
    ("bundlekit/cli/common.py", "ctx.meta"),
    ("bundlekit/zone/audit.py", "refusal"),
    # the code deploy ends with, recorded before deploy --receipt-out writes the receipt (decision 790)
    ("bundlekit/deploy/service.py", "refused"),
    # that code again, on the entries the command writes after it (the receipt's; decision 885)
    ("bundlekit/zone/audit.py", "now.closed"),
}

FAMILY_CLASSES = {UsageError: "usage", InputError: "input", FormatError: "format", VerificationError: "verification",
                  TrustError: "trust", ConflictError: "conflict", DeployError: "deploy",
                  TransportError: "transport", StateError: "state", SubstitutionError: "input"}


@pytest.fixture(scope="module")
def source_scan():  # type: ignore[no-untyped-def]
    return scan(ROOT / "bundlekit", ignore=NOT_ERROR_CODES)


def test_every_code_raised_in_the_source_is_registered(source_scan) -> None:  # type: ignore[no-untyped-def]
    unregistered = {code: [f"{s.path}:{s.line}" for s in sites]
                    for code, sites in source_scan.codes.items() if code not in REGISTRY}
    assert unregistered == {}


def test_every_registered_code_is_raised_somewhere(source_scan) -> None:  # type: ignore[no-untyped-def]
    assert sorted(set(REGISTRY) - set(source_scan.codes)) == []


def test_codes_the_scan_cannot_resolve_are_only_reviewed_forwards(source_scan) -> None:  # type: ignore[no-untyped-def]
    assert {(path, text) for path, _, text in source_scan.unresolved} == FORWARDED


def test_every_error_class_is_constructed_with_a_code_of_its_family(source_scan) -> None:  # type: ignore[no-untyped-def]
    wrong = [f"{site.path}:{site.line} {site.callee}(code={code!r}) but {code!r} is {REGISTRY[code].family}"
             for site, code in source_scan.constructions
             if code in REGISTRY and REGISTRY[code].family != ERROR_CLASSES[site.callee]]
    assert wrong == []


def test_scan_follows_codes_passed_through_helpers_and_constants(source_scan) -> None:  # type: ignore[no-untyped-def]
    # Each of these reaches its raise only through a helper parameter, a constant, a dict or a
    # dataclass field; a scan that only read `code="..."` literals would miss them.
    for code in ("unsafe_path", "unsafe_package", "variable_cycle", "invalid_variable", "invalid_dashboard_view",
                 "preflight_variable_cycle", "rollback", "replay", "volumes_incomplete", "filter_failed"):
        assert code in source_scan.codes, code


def test_a_helper_that_builds_an_error_is_checked_as_the_class_it_builds(tmp_path: Path) -> None:
    """The reviewer's example: ``_fail(..., "file_not_found")`` returned ``UsageError(code=code)``,
    an input-family code in a usage error, which crashed at run time. The scan follows the code
    through helpers (and a class passed in as a parameter) to the class it ends up in."""
    pkg = tmp_path / "bundlekit"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "m.py").write_text(
        "from bundlekit.errors import InputError, UsageError\n"
        "def _fail(where, problem, code='invalid_release'):\n"
        "    return UsageError(f'{where}: {problem}', code=code)\n"
        "def _raise(error, code):\n"
        "    return error('bad', code=code)\n"
        "def check(value, *, error, code):\n"
        "    raise _raise(error, code)\n"
        "def load(path):\n"
        "    check(path, error=InputError, code='unsafe_path')\n"
        "    raise _fail(path, 'missing', 'file_not_found')\n")
    found = {(s.callee, s.via, code) for s, code in scan(pkg).constructions}
    assert found == {("UsageError", "_fail", "invalid_release"), ("UsageError", "_fail", "file_not_found"),
                     ("InputError", "check", "unsafe_path")}


def test_unregistered_code_fails_loudly() -> None:
    with pytest.raises(ErrorCodeMisuse, match="'no_such_code' is not registered"):
        InputError("x", code="no_such_code")


def test_code_raised_as_another_family_fails_loudly() -> None:
    with pytest.raises(ErrorCodeMisuse, match="'expired' belongs to family 'verification'"):
        InputError("x", code="expired")
    with pytest.raises(ErrorCodeMisuse, match="family '\\(none\\)'"):
        BundleError("x", code="expired")


def test_misuse_is_not_swallowed_by_handlers_of_refusals_or_value_errors() -> None:
    assert not issubclass(ErrorCodeMisuse, (BundleError, ValueError))


def test_exit_code_comes_from_the_registry_per_code() -> None:
    for entry in REGISTRY.values():
        cls = next(c for c, f in FAMILY_CLASSES.items() if f == entry.family)
        err = cls("x", code=entry.code)
        assert exit_code_for(err) == entry.exit_code == FAMILIES[entry.family][0], entry.code
    assert exit_code_for(ValueError("not ours")) == 1


def test_families_exit_as_the_readme_documents() -> None:
    assert {f: e for f, (e, _) in FAMILIES.items()} == {
        "usage": 2, "input": 1, "format": 3, "verification": 3, "trust": 3, "conflict": 4, "deploy": 5,
        "transport": 1, "state": 1}
    for cls, family in FAMILY_CLASSES.items():
        assert cls.family == family and cls.exit_code == FAMILIES[family][0]


def test_a_missing_bundle_does_not_exit_like_a_tampered_one() -> None:
    assert REGISTRY["bundle_not_found"].exit_code == 1 and REGISTRY["file_not_found"].exit_code == 1
    assert REGISTRY["invalid_signature"].exit_code == 3
    assert "not_found" not in REGISTRY and set(ALIASES["not_found"]) == {"bundle_not_found", "file_not_found"}


def test_naming_is_settled_invalid_first() -> None:
    assert [c for c in REGISTRY if c.endswith("_invalid")] == []
    assert ALIASES["card_invalid"] == ("invalid_card",) and "card_invalid" not in REGISTRY
    for old in ("signature_invalid", "seal_invalid", "rotation_invalid", "key_invalid", "dashboard_view_invalid"):
        assert old not in REGISTRY and len(ALIASES[old]) == 1, old


def test_every_code_says_whether_a_user_can_cause_it() -> None:
    for entry in REGISTRY.values():
        assert entry.user_causable == (entry.internal == ""), entry.code
        assert len(entry.meaning) <= 110 and len(entry.internal) <= 110, entry.code


def test_error_json_carries_old_codes_as_aliases() -> None:
    err = InputError("card altered", code="invalid_card")
    assert err.to_dict() == {"code": "invalid_card", "message": "card altered", "aliases": ["card_invalid"]}
    plain = ConflictError("two edits disagree", code="conflict", details=[{"key": "a"}])
    assert plain.to_dict() == {"code": "conflict", "message": "two edits disagree", "details": [{"key": "a"}]}


def test_spec_errors_is_generated_from_the_registry() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_errors.py"), "--check"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    text = (ROOT / "spec" / "errors.md").read_text()
    listed = set(re.findall(r"^\| `([a-z0-9_]+)` \| [a-z]+ \| \d \|", text, re.M))
    assert listed == set(REGISTRY)
    assert "A refusal leaves the home as it was" in text and "spec/deploy.md" in text


def test_gen_errors_check_fails_on_a_stale_spec_and_regenerating_fixes_it(tmp_path: Path) -> None:
    script = str(ROOT / "scripts" / "gen_errors.py")
    text = (ROOT / "spec" / "errors.md").read_text()
    stale = tmp_path / "errors.md"
    stale.write_text(text.replace("| `expired` |", "| `expired_long_ago` |"))
    check = subprocess.run([sys.executable, script, "--spec", str(stale), "--check"], capture_output=True, text=True)
    assert check.returncode == 1 and "out of date" in check.stderr
    subprocess.run([sys.executable, script, "--spec", str(stale)], check=True)
    assert stale.read_text() == text


def test_every_pytest_raises_in_the_suite_checks_the_code_or_the_message() -> None:
    # Refusals are caught with tests.conftest.raises_code (which checks the code); any other
    # exception with pytest.raises(..., match=...). A bare pytest.raises passes for the wrong error.
    import ast

    loose = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "raises" and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "pytest"):
                continue
            names = {n.id for n in ast.walk(node.args[0]) if isinstance(n, ast.Name)} if node.args else set()
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if path.name == "conftest.py" and names == {"BundleError"}:
                continue  # raises_code itself
            if names & set(ERROR_CLASSES):
                loose.append(f"{where}: use raises_code(CODE) for {sorted(names & set(ERROR_CLASSES))}")
            elif not any(k.arg == "match" for k in node.keywords):
                loose.append(f"{where}: pytest.raises without match=")
    assert loose == []
