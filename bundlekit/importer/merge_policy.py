"""Conflict policy files for secure-zone import (normative text: ``spec/merge.md``, "Policy file").

This module owns the TOML policy format: an optional ``default`` strategy and an ordered
list of ``[[rule]]`` tables that decide a :class:`~bundlekit.importer.merge.Conflict`
(first matching rule wins). :func:`load_policy` is its only I/O; everything else is pure.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from bundlekit.format.usertoml import loads_user_toml
from bundlekit.core.files import open_regular
from bundlekit.errors import UsageError
from bundlekit.importer.merge import Conflict
from bundlekit.importer.merge_model import KINDS, STRATEGIES, parse_variable_key

__all__ = ["MAX_POLICY_BYTES", "RULE_KINDS", "MergePolicy", "PolicyRule", "load_policy"]

RULE_KINDS = (*KINDS, "*")
MAX_POLICY_BYTES = 1 << 20  # a policy is a handful of rules; anything bigger is a mistake
_RULE_KEYS = ("kind", "name", "environment", "property", "resolution")
_HINT = "see spec/merge.md, 'Policy file'"


def _invalid(source: str, where: str, problem: str, **details: Any) -> UsageError:
    return UsageError(f"policy file {source}: {where}: {problem}; {_HINT}", code="invalid_policy",
                      details={"file": source, **details})


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """One ``[[rule]]``: which conflicts it matches and how it resolves them.

    ``index`` is the rule's 1-based position in its file; ``prop`` is the TOML ``property``
    key. Glob patterns are matched case-insensitively with :func:`fnmatch.fnmatchcase`.
    """

    index: int
    kind: str
    resolution: str
    name: str | None = None
    environment: str | None = None
    prop: str | None = None
    source: str = "<policy>"

    def __post_init__(self) -> None:
        def bad(key: str, problem: str) -> UsageError:
            return _invalid(self.source, f"rule {self.index}, key '{key}'", problem, rule=self.index, key=key)

        if self.kind not in RULE_KINDS:
            raise bad("kind", f"expected one of {', '.join(RULE_KINDS)}, got {self.kind!r}")
        if self.resolution not in STRATEGIES:
            raise bad("resolution", f"expected one of {', '.join(STRATEGIES)}, got {self.resolution!r}")
        for key, value in (("name", self.name), ("environment", self.environment), ("property", self.prop)):
            if value is not None and (not isinstance(value, str) or not value):
                raise bad(key, f"expected a non-empty glob string, got {value!r}")
        # a filter that can never match its kind is a mistake, not a rule that silently never fires
        if self.name is not None and self.kind == "step_order":
            raise bad("name", "a step_order conflict has no name; remove 'name' or change 'kind'")
        if self.environment is not None and self.kind not in ("variable", "*"):
            raise bad("environment", "only variables have an environment scope; use kind = \"variable\"")
        if self.prop is not None and self.kind not in ("step_property", "*"):
            raise bad("property", "only step_property conflicts have a property; use kind = \"step_property\"")

    @property
    def label(self) -> str:
        return f"{self.source} rule {self.index}"

    def matches(self, conflict: Conflict) -> bool:
        if self.kind not in ("*", conflict.kind):
            return False
        if self.name is not None:
            name = _conflict_name(conflict)
            if name is None or not fnmatchcase(name, self.name.lower()):
                return False
        if self.environment is not None:
            if conflict.kind != "variable":
                return False
            envs = parse_variable_key(conflict.key)[1].get("environment", [])
            if not any(fnmatchcase(env, self.environment.lower()) for env in envs):
                return False
        if self.prop is not None:
            if conflict.kind != "step_property" or conflict.prop is None:
                return False
            if not fnmatchcase(conflict.prop.lower(), self.prop.lower()):
                return False
        return True


def _conflict_name(conflict: Conflict) -> str | None:
    """The lowercased name a rule's ``name`` glob is matched against."""
    if conflict.kind == "variable":
        return parse_variable_key(conflict.key)[0]
    if conflict.kind == "step_order":
        return None
    return conflict.key  # step name or package id, already lowercased by identity


@dataclass(frozen=True, slots=True)
class MergePolicy:
    """Ordered rules plus an optional default strategy; the first matching rule wins."""

    rules: tuple[PolicyRule, ...] = ()
    default: str | None = None
    source: str = "<policy>"

    def __post_init__(self) -> None:
        if self.default is not None and self.default not in STRATEGIES:
            raise _invalid(self.source, "key 'default'",
                           f"expected one of {', '.join(STRATEGIES)}, got {self.default!r}", key="default")

    def match(self, conflict: Conflict) -> PolicyRule | None:
        return next((rule for rule in self.rules if rule.matches(conflict)), None)

    def resolve(self, conflict: Conflict) -> str | None:
        """The resolution of the first matching rule, or ``None`` when no rule matches."""
        rule = self.match(conflict)
        return rule.resolution if rule else None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<policy>") -> MergePolicy:
        """Build a policy from parsed TOML, refusing unknown keys and wrong types."""
        for key in data:
            if key not in ("default", "rule"):
                hint = " (rules are written as [[rule]] tables)" if key in ("rules", "Rule") else ""
                raise _invalid(source, f"key '{key}'", f"unknown top-level key{hint}; "
                               "expected only 'default' and [[rule]] tables", key=key)
        raw_rules = data.get("rule", [])
        if not isinstance(raw_rules, list):
            raise _invalid(source, "key 'rule'", "expected an array of tables written as [[rule]], "
                           "not a single [rule] table", key="rule")
        rules = []
        for index, table in enumerate(raw_rules, start=1):
            if not isinstance(table, Mapping):
                raise _invalid(source, f"rule {index}", "expected a table", rule=index)
            for key, value in table.items():
                if key not in _RULE_KEYS:
                    raise _invalid(source, f"rule {index}, key '{key}'",
                                   f"unknown key; expected some of {', '.join(_RULE_KEYS)}", rule=index, key=key)
                if not isinstance(value, str):
                    raise _invalid(source, f"rule {index}, key '{key}'",
                                   f"expected a string, got {type(value).__name__}", rule=index, key=key)
            for key in ("kind", "resolution"):
                if key not in table:
                    raise _invalid(source, f"rule {index}, key '{key}'", "missing required key",
                                   rule=index, key=key)
            rules.append(PolicyRule(index=index, kind=table["kind"], resolution=table["resolution"],
                                    name=table.get("name"), environment=table.get("environment"),
                                    prop=table.get("property"), source=source))
        default = data.get("default")
        if default is not None and not isinstance(default, str):
            raise _invalid(source, "key 'default'", f"expected a string, got {type(default).__name__}",
                           key="default")
        return cls(rules=tuple(rules), default=default, source=source)


def load_policy(path: str | os.PathLike[str]) -> MergePolicy:
    """Read and validate a TOML policy file; every problem is ``UsageError(code="invalid_policy")``."""
    source = os.fspath(path)
    try:
        with open_regular(source, f"--policy {source}") as fh:
            raw = fh.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        raise _invalid(source, "cannot read", f"{exc.strerror or exc}; check the --policy path") from None
    if len(raw) > MAX_POLICY_BYTES:
        raise _invalid(source, "size", f"larger than {MAX_POLICY_BYTES} bytes; a policy is a few rules")
    try:
        data = loads_user_toml(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _invalid(source, "encoding", f"not UTF-8 at byte {exc.start}") from None
    except tomllib.TOMLDecodeError as exc:
        raise _invalid(source, "TOML syntax", str(exc)) from None
    return MergePolicy.from_dict(data, source=source)
