"""The one name and path validator: tables of hostile names, each refused with its reason.

These tables are the test vectors of spec/names.md: another implementation can run them.
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bundlekit.core.names import (
    LABEL_RULE, MAX_DEPTH, MAX_LABEL_LENGTH, MAX_NAME_LENGTH, MAX_PATH_BYTES, NAME_RULE, SCHEMA_FORMATS, VERSION_RULE,
    check_file_name, check_label, check_name, check_path, check_version, collisions, component_problem,
    file_name_problem, fold, label_problem, name_problem, path_problem, tree_path_problem, version_problem,
    work_folder_problem,
)
from bundlekit.errors import DeployError, FormatError, InputError, UsageError
from tests.conftest import raises_code
from tests.strategies import labels, names, versions

# (path, words the reason must contain)
BAD_PATHS = [
    # traversal
    ("..", "'..'"),
    ("../evil", "'..'"),
    ("a/../../evil", "'..'"),
    ("a/..", "'..'"),
    # absolute
    ("/etc/passwd", "absolute"),
    ("//server/share/x", "absolute"),
    # drive letters
    ("C:/Windows/evil.dll", "drive letter"),
    ("C:evil", "drive letter"),
    ("a/d:x.txt", "drive letter"),
    # backslash
    ("..\\evil", "backslash"),
    ("dir\\file", "backslash"),
    ("\\\\server\\share", "backslash"),
    # NUL and control characters
    ("evil\x00.txt", "NUL"),
    ("line\nbreak", "control character U+000A"),
    ("cr\rhere", "control character U+000D"),
    ("tab\there", "control character U+0009"),
    ("esc\x1b[31m", "control character U+001B"),
    ("del\x7f", "control character U+007F"),
    ("c1\x9bcsi", "control character U+009B"),
    # bidi overrides: "txt.exe" shown as "exe.txt"
    ("evil\u202etxt.exe", "bidirectional"),
    ("x\u2066y", "bidirectional"),
    # lone surrogate
    ("bad\udc80name", "surrogate"),
    # Windows reserved characters and names
    ("what?.txt", "reserved on Windows"),
    ("a|b", "reserved on Windows"),
    ("stream.txt:secret", "reserved on Windows"),
    ("quote\".txt", "reserved on Windows"),
    ("CON", "device name"),
    ("con", "device name"),
    ("Con.txt", "device name"),
    ("lib/nul.json", "device name"),
    ("COM1.tar.gz", "device name"),
    ("lpt9", "device name"),
    ("com\u00b9", "device name"),
    ("CONOUT$", "device name"),
    ("aux .txt", "device name"),
    # trailing dot or space (Windows drops them)
    ("name.", "ending with '.'"),
    ("dir /file", "ending with '.' or a space"),
    # empty and dot components
    ("", "empty"),
    ("a//b", "empty component"),
    ("./a", "'.' component"),
    ("a/", "empty component"),
    # overlong
    ("x" * 256, "longer than 255"),
    ("\u00e9" * 128, "longer than 255"),  # 256 bytes in UTF-8
    ("/".join(["abcdefghij" * 2] * 50), f"longer than {MAX_PATH_BYTES}"),
    ("/".join(["d"] * 2000), f"nested 2000 levels, more than {MAX_DEPTH} folders deep"),  # depth, not length, is named
    ("/".join(["a"] * (MAX_DEPTH + 1)), f"more than {MAX_DEPTH} folders deep"),
]

GOOD_PATHS = ["a", "app/appsettings.json", ".env", ".well-known/x", "caf\u00e9/\u65e5\u672c.txt", "console.txt",
              "my.con", "auxiliary/file", "x" * 255, "/".join(["a"] * MAX_DEPTH), "a b/c d.txt", "v1.2.3+build@x"]

BAD_NAMES = [
    ("", "empty"),
    ("x" * (MAX_NAME_LENGTH + 1), f"longer than {MAX_NAME_LENGTH}"),
    ("-web", "does not start with a letter or digit"),
    (".hidden", "does not start with a letter or digit"),
    ("web 01", "contains ' '"),
    ("web/01", "contains '/'"),
    ("web\\01", "contains '\\\\'"),
    ("..", "does not start with a letter or digit"),
    ("web\x00", "NUL"),
    ("web\x1b[2J", "control character"),
    ("web\u202e10", "bidirectional"),
    ("caf\u00e9", "contains '\u00e9'"),
    ("prod.", "ends with '.'"),
    ("nul", "device name"),
    ("Aux.Tools", "device name"),
    ("COM3", "device name"),
    ("C:", "contains ':'"),
    (None, "not text"),
]

GOOD_NAMES = ["prod", "web-01", "Acme.Web", "1.4.0", "1.4.0-beta.1+build.7", "alice@example.com", "a_b",
              "Deployments-12", "x" * MAX_NAME_LENGTH, "console", "com10"]


@pytest.mark.parametrize("path, words", BAD_PATHS, ids=[repr(p)[:40] for p, _ in BAD_PATHS])
def test_hostile_relative_path_is_refused_with_its_reason(path: str, words: str) -> None:
    problem = path_problem(path)
    assert problem is not None and words in problem, problem


@pytest.mark.parametrize("path", GOOD_PATHS)
def test_ordinary_relative_path_is_accepted(path: str) -> None:
    assert path_problem(path) is None


@pytest.mark.parametrize("name, words", BAD_NAMES, ids=[repr(n)[:40] for n, _ in BAD_NAMES])
def test_hostile_name_is_refused_with_its_reason(name: str, words: str) -> None:
    problem = name_problem(name)
    assert problem is not None and words in problem, problem


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_ordinary_name_is_accepted(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize("raw, normal", [("./a", "a"), ("a//b/", "a/b"), ("./", ""), ("./x/./y", "x/y")])
def test_archive_style_paths_are_normalised_when_asked(raw: str, normal: str) -> None:
    assert path_problem(raw) is not None
    assert check_path(raw, what="member", error=DeployError, code="unsafe_package", normalise=True) == normal


def test_normalising_never_lets_traversal_through() -> None:
    for raw in ("./../x", "a/./../b", ".//..//x"):
        assert "'..'" in (path_problem(raw, normalise=True) or "")


def test_glob_characters_only_in_file_patterns() -> None:
    assert check_path("config/*.json", what="pattern", error=DeployError, code="invalid_file_pattern",
                      glob=True) == "config/*.json"
    assert check_path("**/app?.[jy]son", what="pattern", error=DeployError, code="invalid_file_pattern",
                      glob=True) == "**/app?.[jy]son"
    assert "reserved on Windows" in (path_problem("config/*.json") or "")
    assert "'..'" in (path_problem("../*.json", glob=True) or "")
    assert "reserved on Windows" in (path_problem("conf/ab:*.json", glob=True) or "")


def test_file_name_is_one_component_and_may_refuse_hidden() -> None:
    assert file_name_problem("app-1.4.0.zip") is None
    assert "a file name, not a path" in (file_name_problem("packages/app.zip") or "")
    assert file_name_problem(".app.zip") is None
    assert "hidden" in (file_name_problem(".app.zip", hidden=False) or "")
    assert "'..'" in (file_name_problem("..", hidden=False) or "")


def test_check_raises_the_family_and_code_the_caller_names() -> None:
    with raises_code("unsafe_package") as deploy:
        check_path("../x", what="member", error=DeployError, code="unsafe_package")
    assert isinstance(deploy.value, DeployError) and "member '../x'" in deploy.value.message
    with raises_code("invalid_manifest") as fmt:
        check_file_name("a/b.zip", what="manifest: packages[0].file", error=FormatError, code="invalid_manifest")
    assert isinstance(fmt.value, FormatError) and "packages[0].file" in fmt.value.message
    with raises_code("invalid_target_name") as name:
        check_name("web 01", what="target name", error=UsageError, code="invalid_target_name")
    assert isinstance(name.value, UsageError) and "target name 'web 01'" in name.value.message


def test_refusal_message_shows_hostile_characters_escaped() -> None:
    with raises_code("unsafe_path") as info:
        check_path("evil\x1b]0;owned\x07\u202e", what="file", error=UsageError, code="unsafe_path")
    assert "\x1b" not in info.value.message and "\u202e" not in info.value.message
    assert "\\x1b" in info.value.message


@pytest.mark.parametrize("names_in, expected", [
    (["App.config", "app.config"], [("App.config", "app.config")]),
    (["caf\u00e9.txt", "cafe\u0301.txt"], [("caf\u00e9.txt", "cafe\u0301.txt")]),  # NFC vs NFD
    (["STRASSE", "stra\u00dfe"], [("STRASSE", "stra\u00dfe")]),  # full case folding
    (["\u212b", "\u00c5"], [("\u212b", "\u00c5")]),  # ANGSTROM SIGN vs A WITH RING
    (["same", "same"], [("same", "same")]),
    (["web-01", "web-02", "WEB-01"], [("web-01", "WEB-01")]),
    (["a", "b", "c"], []),
])
def test_case_and_unicode_collisions_are_found_in_a_set(names_in: list[str], expected: list[tuple[str, str]]) -> None:
    assert collisions(names_in) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_fold_is_idempotent_and_ignores_case_and_normal_form(text: str) -> None:
    assert fold(fold(text)) == fold(text)
    assert fold(text.casefold()) == fold(text)
    assert fold(unicodedata.normalize("NFC", text)) == fold(unicodedata.normalize("NFD", text))


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_an_accepted_path_never_escapes_or_hides_a_component(text: str) -> None:
    assume(path_problem(text) is None)
    parts = text.split("/")
    assert not text.startswith("/") and "\\" not in text and "\x00" not in text
    assert all(p not in ("", ".", "..") and component_problem(p) is None for p in parts)


@settings(max_examples=200, deadline=None)
@given(names)
def test_generated_names_are_valid_names_and_file_names(name: str) -> None:
    assert name_problem(name) is None
    assert file_name_problem(name) is None


# -- labels (spec/names.md section 5) ------------------------------------------------------------

GOOD_LABELS = ["Production", "Production EU", "QA: nightly", "web-server", "../web",
               "Octopus.Action[Deploy web].Output.Url", "\u00dcn\u00efcode \u540d", "x", "L" * MAX_LABEL_LENGTH,
               "a/b\\c <d> |e| \"f\" *?"]
BAD_LABELS = [
    ("", "empty"),
    ("Prod\x1b[31m", "control character U+001B"),
    ("Prod\x1b[31m\u202e", "control character U+001B"),
    ("../web\x9b", "control character U+009B"),
    ("Tab\tName", "control character U+0009"),
    ("two\nlines", "control character U+000A"),
    ("del\x7f", "control character U+007F"),
    ("Smoke \u202etset", "bidirectional-text control U+202E"),
    ("x\u2068y", "bidirectional-text control U+2068"),
    ("Acme\u2028Corp", "line separator U+2028"),
    ("Acme\u2029Corp", "paragraph separator U+2029"),
    ("bad\udc80", "lone surrogate"),
    ("L" * (MAX_LABEL_LENGTH + 1), "longer than 200 characters"),
    (" Production", "white space"),
    ("Production ", "white space"),
    ("   ", "white space"),
    (None, "not text"),
]


@pytest.mark.parametrize("label", GOOD_LABELS)
def test_labels_people_type_are_accepted_whatever_their_punctuation_or_script(label: str) -> None:
    assert label_problem(label) is None
    assert check_label(label, what="environment", error=InputError, code="invalid_label") == label


@pytest.mark.parametrize("label, words", BAD_LABELS)
def test_hostile_labels_are_refused_with_their_reason_and_the_rule(label: object, words: str) -> None:
    problem = label_problem(label)
    assert problem is not None and words in problem
    with raises_code("invalid_label") as info:
        check_label(label, what="environment", error=InputError, code="invalid_label")
    assert info.value.message.endswith(f"{LABEL_RULE}.") and "environment" in info.value.message
    assert not any(ch in info.value.message for ch in "\x1b\x9b\u202e\t\n\u2028\u2029")  # shown escaped


def test_a_refusal_repeats_only_the_start_of_an_absurdly_long_value() -> None:
    with raises_code("invalid_label") as info:
        check_label("T" * 100_000, what="tenant", error=InputError, code="invalid_label")
    assert "'" + "T" * 60 + "'..." in info.value.message and len(info.value.message) < 400
    assert "longer than 200 characters (100000)" in info.value.message


@settings(max_examples=200, deadline=None)
@given(labels)
def test_generated_labels_are_valid_labels(label: str) -> None:
    assert label_problem(label) is None


# -- release versions (spec/names.md section 6) --------------------------------------------------

GOOD_VERSIONS = ["1", "1.4", "1.4.0", "1.4.0.12", "2.0.0-beta.1", "2.0.0-rc-1", "1.4.0+build.7",
                 "2.0.0-beta.1+exp.sha.5114f85", "2024.11.30"]
BAD_VERSIONS = [
    ("1.4.0\u009b31m\u202e/../x", "control character U+009B"),
    ("v1.4", "not a version"),
    ("1.2.3.4.5", "not a version"),
    ("1.4.0-", "not a version"),
    ("1.4.0+", "not a version"),
    ("1.4.0-beta..1", "not a version"),
    ("1.4 beta", "contains ' '"),
    ("1.4.0_beta", "not a version"),
    ("latest", "not a version"),
    ("", "empty"),
]


@pytest.mark.parametrize("version", GOOD_VERSIONS)
def test_octopus_release_numbers_are_valid_versions(version: str) -> None:
    assert version_problem(version) is None
    assert check_version(version, what="release.version", error=UsageError, code="invalid_release") == version


@pytest.mark.parametrize("version, words", BAD_VERSIONS)
def test_anything_else_is_refused_as_a_version_with_what_to_use(version: str, words: str) -> None:
    problem = version_problem(version)
    assert problem is not None and words in problem
    with raises_code("invalid_release") as info:
        check_version(version, what="release.version", error=UsageError, code="invalid_release")
    assert info.value.message.endswith(f"{VERSION_RULE}.")


@settings(max_examples=200, deadline=None)
@given(versions)
def test_generated_versions_are_valid_versions_and_names(version: str) -> None:
    assert version_problem(version) is None and name_problem(version) is None


def test_the_schema_formats_are_these_rules_and_no_others() -> None:
    assert {fmt: rule for fmt, (_, rule) in SCHEMA_FORMATS.items()} == {
        "bundlekit-name": NAME_RULE, "bundlekit-label": LABEL_RULE, "bundlekit-version": VERSION_RULE}
    assert [problem for problem, _ in SCHEMA_FORMATS.values()] == [name_problem, label_problem, version_problem]


# -- paths inside a zone's home (backups) and a target's work folder --------------------------------

@pytest.mark.parametrize("path", ["zone.json", "keys/signing.key", "outbox/a:b", "packages/sha256/ab/cd" + "e" * 60,
                                  "notes/CON", "x/trailing. ", "/".join(["d"] * 64), "a" * 4096])
def test_a_backup_may_name_any_path_inside_the_home_windows_rules_aside(path: str) -> None:
    assert tree_path_problem(path) is None


@pytest.mark.parametrize("path, words", [
    ("", "empty"), ("/etc/passwd", "absolute"), ("a/../../etc", "'..'"), ("..", "'..'"), ("a//b", "empty"),
    ("./a", "'.'"), ("a/", "empty"), ("a\0b", "NUL"), ("a\\..\\b", "backslash"), ("/".join(["d"] * 65), "65 levels"),
    ("a" * 4097, "longer than 4096"), (None, "not text")])
def test_a_backup_path_that_could_leave_the_home_is_refused(path: object, words: str) -> None:
    problem = tree_path_problem(path)
    assert problem is not None and words in problem, problem


@pytest.mark.parametrize("folder", ["/srv/bundlekit", "~/bundlekit", "/srv/a b/..x", "/"])
def test_a_work_folder_is_an_absolute_path_on_the_target(folder: str) -> None:
    assert work_folder_problem(folder) is None


@pytest.mark.parametrize("folder, words", [
    ("relative/dir", "absolute"), ("~root/x", "absolute"), ("/srv/../etc", "'..'"), ("/srv/..", "'..'"),
    ("~/..", "'..'"), ("/srv/a\nb", "line break"), ("/srv/\0", "NUL"), ("/" + "a" * 1024, "longer"),
    (7, "not text")])
def test_a_work_folder_that_is_relative_climbs_or_spans_lines_is_refused(folder: object, words: str) -> None:
    problem = work_folder_problem(folder)
    assert problem is not None and words in problem, problem
