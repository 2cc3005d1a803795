"""Conflict policy files: parsing good and bad TOML, rule matching, and precedence over the
global strategy (spec/merge.md, "Policy file")."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest

from bundlekit.importer.merge import Conflict, three_way_merge, variable_key
from bundlekit.importer.merge_policy import MAX_POLICY_BYTES, MergePolicy, PolicyRule, load_policy

from .strategies import pkg, snap, step, var
from tests.conftest import raises_code

GOOD = """
default = "fail"

[[rule]]
kind = "variable"
name = "Acme.*"
environment = "Prod*"
resolution = "keep-local"

[[rule]]
kind = "step_property"
name = "deploy *"
property = "enabled"
resolution = "keep-local"

[[rule]]
kind = "*"
resolution = "take-incoming"
"""


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "policy.toml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _parse(text: str) -> dict:
    return tomllib.loads(text)


def conflict(kind: str, key: str, prop: str | None = None) -> Conflict:
    return Conflict(kind, key, prop, None, None, None, False)


def test_good_policy_file_loads_rules_in_order(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, GOOD))
    assert policy.default == "fail" and policy.source == str(tmp_path / "policy.toml")
    assert [(r.index, r.kind, r.resolution) for r in policy.rules] == [
        (1, "variable", "keep-local"), (2, "step_property", "keep-local"), (3, "*", "take-incoming")]
    assert policy.rules[1].prop == "enabled"


def test_empty_policy_file_has_no_rules_and_no_default(tmp_path: Path) -> None:
    assert load_policy(write(tmp_path, "")) == MergePolicy(source=str(tmp_path / "policy.toml"))


@pytest.mark.parametrize("c, resolution", [
    (conflict("variable", variable_key("ACME.Url", {"environment": ["Production", "Test"]})), "keep-local"),
    (conflict("variable", variable_key("Acme.Url", {"environment": ["Test"]})), "take-incoming"),
    (conflict("variable", variable_key("Acme.Url", {})), "take-incoming"),
    (conflict("variable", variable_key("Other", {"environment": ["Production"]})), "take-incoming"),
    (conflict("step_property", "deploy web", "Enabled"), "keep-local"),
    (conflict("step_property", "deploy web", "script"), "take-incoming"),
    (conflict("step", "deploy web"), "take-incoming"),
    (conflict("step_order", "step_order"), "take-incoming"),
])
def test_first_matching_rule_decides_with_case_insensitive_globs(c: Conflict, resolution: str) -> None:
    assert MergePolicy.from_dict(_parse(GOOD)).resolve(c) == resolution


def test_resolve_is_none_when_no_rule_matches() -> None:
    policy = MergePolicy.from_dict({"rule": [{"kind": "package", "name": "acme.*", "resolution": "keep-local"}]})
    assert policy.resolve(conflict("package", "tools")) is None
    assert policy.resolve(conflict("package", "acme.web")) == "keep-local"
    assert policy.resolve(conflict("variable", "acme.web")) is None


@pytest.mark.parametrize("text, where", [
    ('default = "merge"', "key 'default'"),
    ("default = 1", "key 'default'"),
    ('[[rules]]\nkind = "variable"\nresolution = "fail"', "key 'rules'"),
    ('[rule]\nkind = "variable"\nresolution = "fail"', "key 'rule'"),
    ('[[rule]]\nkind = "variable"', "rule 1, key 'resolution'"),
    ('[[rule]]\nresolution = "fail"', "rule 1, key 'kind'"),
    ('[[rule]]\nkind = "step"\nresolution = "fail"\n[[rule]]\nkind = "stp"\nresolution = "fail"', "rule 2, key 'kind'"),
    ('[[rule]]\nkind = "variable"\nresolution = "keep-remote"', "rule 1, key 'resolution'"),
    ('[[rule]]\nkind = "variable"\nresolution = "fail"\nnmae = "x"', "rule 1, key 'nmae'"),
    ('[[rule]]\nkind = "variable"\nresolution = "fail"\nname = ["a"]', "rule 1, key 'name'"),
    ('[[rule]]\nkind = "variable"\nresolution = "fail"\nname = ""', "rule 1, key 'name'"),
    ('[[rule]]\nkind = "step"\nresolution = "fail"\nenvironment = "Production"', "rule 1, key 'environment'"),
    ('[[rule]]\nkind = "variable"\nresolution = "fail"\nproperty = "script"', "rule 1, key 'property'"),
    ('[[rule]]\nkind = "step_order"\nresolution = "fail"\nname = "x"', "rule 1, key 'name'"),
    ("rule = [1]", "rule 1"),
    ('[[rule]\nkind = "variable"', "TOML syntax"),
])
def test_bad_policy_is_refused_naming_file_rule_and_key(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path, text)
    with raises_code("invalid_policy") as err:
        load_policy(path)
    assert err.value.message.startswith(f"policy file {path}: {where}")
    assert err.value.details["file"] == str(path)


def test_missing_policy_file_is_refused(tmp_path: Path) -> None:
    with raises_code("invalid_policy") as err:
        load_policy(tmp_path / "nope.toml")
    assert "nope.toml" in err.value.message


def test_policy_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    with raises_code("invalid_policy") as err:
        load_policy(write(tmp_path, b'default = "\xff"'))
    assert "UTF-8" in err.value.message


def test_oversized_policy_file_is_refused_without_parsing(tmp_path: Path) -> None:
    with raises_code("invalid_policy") as err:
        load_policy(write(tmp_path, "#" * (MAX_POLICY_BYTES + 1)))
    assert "larger than" in err.value.message


def test_rule_built_directly_is_validated_too() -> None:
    with raises_code("invalid_policy") as err:
        PolicyRule(index=4, kind="variable", resolution="maybe", source="inline")
    assert "rule 4, key 'resolution'" in err.value.message


# ---------------------------------------------------------------- precedence in the merge


BASE = snap([var("Acme.Url", "u", scope={"environment": ["Production"]}), var("Port", "80")],
            [step("Deploy web")], [pkg("tools", "1")])


def _both_changed() -> tuple[dict, dict]:
    local, incoming = copy.deepcopy(BASE), copy.deepcopy(BASE)
    for side, tag in ((local, "local"), (incoming, "incoming")):
        for v in side["variables"].values():
            v["value"] = tag
        side["steps"]["deploy web"]["script"] = tag
        side["packages"]["tools"]["version"] = tag
    return local, incoming


def test_rule_wins_over_the_explicit_strategy_and_the_strategy_covers_the_rest() -> None:
    policy = MergePolicy.from_dict(_parse(GOOD.replace('kind = "*"', 'kind = "package"')), source="p.toml")
    local, incoming = _both_changed()
    plan = three_way_merge(BASE, local, incoming, strategy="take-incoming", policy=policy)
    assert plan.ok
    decided = {(c.kind, c.key): (c.resolution, c.rule) for c in plan.resolved}
    assert decided == {
        ("variable", "acme.url[environment=production]"): ("keep-local", "p.toml rule 1"),
        ("variable", "port"): ("take-incoming", "strategy take-incoming"),
        ("step_property", "deploy web"): ("take-incoming", "strategy take-incoming"),
        ("package", "tools"): ("take-incoming", "p.toml rule 3"),
    }
    assert plan.result["variables"]["acme.url[environment=production]"]["value"] == "local"
    assert plan.result["variables"]["port"]["value"] == "incoming"


def test_policy_default_applies_only_when_no_strategy_is_given() -> None:
    policy = MergePolicy(default="keep-local", source="p.toml")
    local, incoming = _both_changed()
    by_default = three_way_merge(BASE, local, incoming, policy=policy)
    assert by_default.ok and {c.rule for c in by_default.resolved} == {"p.toml default"}
    explicit = three_way_merge(BASE, local, incoming, strategy="fail", policy=policy)
    assert len(explicit.conflicts) == 4 and explicit.resolved == ()


def test_rule_that_says_fail_leaves_the_conflict_and_is_named_in_it() -> None:
    policy = MergePolicy.from_dict({"rule": [{"kind": "package", "resolution": "fail"}]}, source="p.toml")
    local, incoming = _both_changed()
    plan = three_way_merge(BASE, local, incoming, strategy="take-incoming", policy=policy)
    [c] = plan.conflicts
    assert (c.kind, c.rule) == ("package", "p.toml rule 1")
    assert c.describe().endswith("; p.toml rule 1 says fail")
    assert plan.result["packages"]["tools"]["version"] == "local"
