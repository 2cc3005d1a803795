"""A zone's egress policy: what its receipts may carry back to the zones releases came from.

Pure: text or a mapping in, a checked :class:`EgressPolicy` out, and for one output or log
the decision. The file format is ``spec/egress.md``; decision 551 records the defaults.

Defaults (a project no rule matches, or a zone that never set a policy): sensitive output
variables are **withheld** (the receipt names them, never their value or length); plain
outputs, states, times and the masked logs go back whole. A rule, matched by a glob on the
project's slug or name, may let named sensitive outputs go back sealed to the source
(``allow_sensitive``), withhold outputs by name whatever their kind (``withhold``), withhold
the logs (``logs = "withhold"``) or cap each log's size (``log_limit``), and let the audit
entries of the deployments a receipt reports go back (``audit = "send"``; withheld by default,
decision 591). The first rule that matches a project decides for it; output names compare
case-insensitively, like variable names.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from bundlekit.core.hints import home_flag
from bundlekit.format.usertoml import loads_user_toml
from bundlekit.core.names import label_problem
from bundlekit.errors import UsageError

__all__ = ["EgressRule", "EgressPolicy", "DEFAULT_RULE", "MIN_LOG_LIMIT", "MAX_RULES", "parse_policy",
           "LEAVING", "SEALED", "WITHHELD"]

#: What happens to one output variable at the border (``spec/egress.md``).
LEAVING, SEALED, WITHHELD = "leaving", "sealed", "withheld"
#: The smallest ``log_limit`` (bytes): room for the note that says the log was cut, and some of it.
MIN_LOG_LIMIT = 1024
#: The largest ``log_limit``: the engine keeps at most 10 MiB of a log anyway.
MAX_LOG_LIMIT = 1 << 40
#: Most rules one policy holds, and names one list of a rule holds.
MAX_RULES = 1000
MAX_NAMES = 10_000
_KEYS = {"projects", "allow_sensitive", "withhold", "logs", "log_limit", "audit"}


def _fold(name: str) -> str:
    return name.casefold()


#: Characters that make a glob: refused in ``allow_sensitive``, where names are exact (decision 672).
_GLOB_CHARS = "*?["


def _withheld_by(name: str, pattern: str) -> bool:
    """Whether ``withhold`` entry ``pattern`` (an exact name or a glob, case-insensitive) covers
    output ``name``: a name with glob characters in it is still matched by itself."""
    folded, pattern = _fold(name), _fold(pattern)
    return folded == pattern or fnmatch.fnmatchcase(folded, pattern)


@dataclass(frozen=True, slots=True)
class EgressRule:
    """What a receipt carries for the projects whose slug or name matches one of ``projects``.

    ``allow_sensitive``: exact output variable names; ``withhold``: names or globs (both
    case-insensitive; withholding wins, decision 672). ``logs``: ``send``
    or ``withhold``. ``log_limit``: bytes each carried log is cut to (None: whole). ``audit``:
    ``send`` or ``withhold`` (default) the audit entries of each deployment the receipt reports."""

    projects: tuple[str, ...] = ("*",)
    allow_sensitive: tuple[str, ...] = ()
    withhold: tuple[str, ...] = ()
    logs: str = "send"
    log_limit: int | None = None
    audit: str = "withhold"

    def matches(self, slug: str, name: str) -> bool:
        """Whether this rule is for the project ``slug`` (named ``name``); globs are case-insensitive."""
        return any(fnmatch.fnmatchcase(v.lower(), p.lower()) for p in self.projects for v in (slug, name))

    def output(self, name: str, sensitive: bool) -> str:
        """:data:`LEAVING` (a plain value), :data:`SEALED` (sealed to the source) or :data:`WITHHELD`."""
        if any(_withheld_by(name, pattern) for pattern in self.withhold):
            return WITHHELD
        if not sensitive:
            return LEAVING
        return SEALED if _fold(name) in {_fold(n) for n in self.allow_sensitive} else WITHHELD

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"projects": list(self.projects), "allow_sensitive": list(self.allow_sensitive),
                             "withhold": list(self.withhold), "logs": self.logs}
        if self.log_limit is not None:
            d["log_limit"] = self.log_limit
        if self.audit != "withhold":
            d["audit"] = self.audit
        return d


#: What a receipt carries for a project no rule names.
DEFAULT_RULE = EgressRule()


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """The zone's rules, in order; the first that matches a project decides (else :data:`DEFAULT_RULE`)."""

    rules: tuple[EgressRule, ...] = ()

    def rule_for(self, slug: str, name: str) -> EgressRule:
        """The rule that decides for project ``slug`` (named ``name``)."""
        return next((r for r in self.rules if r.matches(slug, name)), DEFAULT_RULE)

    def to_dict(self) -> dict[str, Any]:
        return {"rules": [r.to_dict() for r in self.rules]}

    def to_toml(self) -> str:
        """The policy in the file format of ``spec/egress.md`` (what ``egress set`` reads back)."""
        lines = ["# bundlekit egress policy (spec/egress.md): the first rule matching a project decides;",
                 "# a project no rule matches: sensitive outputs withheld, plain outputs and whole logs sent."]
        for r in self.rules:
            lines += ["", "[[rule]]", f"projects = {_toml_list(r.projects)}"]
            if r.allow_sensitive:
                lines.append(f"allow_sensitive = {_toml_list(r.allow_sensitive)}")
            if r.withhold:
                lines.append(f"withhold = {_toml_list(r.withhold)}")
            lines.append(f'logs = "{r.logs}"')
            if r.log_limit is not None:
                lines.append(f"log_limit = {r.log_limit}")
            if r.audit != "withhold":
                lines.append(f'audit = "{r.audit}"')
        return "\n".join(lines) + "\n"


def _toml_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(_toml_string(i) for i in items) + "]"


def _toml_string(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


def _bad(where: str, what: str) -> UsageError:
    return UsageError(f"{where}: {what}; see spec/egress.md for the file format, or `bundlekit egress show{home_flag()}` for the "
                      "policy in force", code="invalid_policy")


def _names(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(where, "expected a list of strings")
    if len(value) > MAX_NAMES:
        raise _bad(where, f"{len(value)} entries, more than {MAX_NAMES}")
    for i, v in enumerate(value):
        problem = label_problem(v)
        if problem is not None:
            raise _bad(f"{where}[{i}]", f"{v!r} {problem}")
    return tuple(value)


def _rule(d: Any, where: str) -> EgressRule:
    if not isinstance(d, Mapping):
        raise _bad(where, "expected a table")
    unknown = sorted(set(d) - _KEYS)
    if unknown:
        raise _bad(where, f"unknown key(s) {', '.join(map(repr, unknown))} (known: {', '.join(sorted(_KEYS))})")
    if "projects" not in d:
        raise _bad(where, "'projects' is missing: list the project globs the rule is for (\"*\" for every project)")
    projects = _names(d["projects"], f"{where}.projects")
    if not projects:
        raise _bad(f"{where}.projects", "the list is empty: a rule must name at least one project glob")
    logs = d.get("logs", "send")
    if logs not in ("send", "withhold"):
        raise _bad(f"{where}.logs", f"{logs!r} is not \"send\" or \"withhold\"")
    limit = d.get("log_limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or not MIN_LOG_LIMIT <= limit <= MAX_LOG_LIMIT):
        raise _bad(f"{where}.log_limit", f"{limit!r} is not a number of bytes from {MIN_LOG_LIMIT} to {MAX_LOG_LIMIT}")
    if limit is not None and logs == "withhold":
        raise _bad(where, "log_limit caps logs that are sent; this rule withholds them (drop one of the two)")
    audit = d.get("audit", "withhold")
    if audit not in ("send", "withhold"):
        raise _bad(f"{where}.audit", f"{audit!r} is not \"send\" or \"withhold\"")
    allow = _names(d.get("allow_sensitive", []), f"{where}.allow_sensitive")
    for i, name in enumerate(allow):
        if any(ch in name for ch in _GLOB_CHARS):
            raise _bad(f"{where}.allow_sensitive[{i}]", f"{name!r} looks like a glob: the names of sensitive outputs "
                       "allowed to leave are exact, one decision per value (globs are for 'withhold' and "
                       "'projects'); list each output by its name")
    withhold = _names(d.get("withhold", []), f"{where}.withhold")
    both = sorted({_fold(a) for a in allow if any(_withheld_by(a, w) for w in withhold)})
    if both:
        raise _bad(where, f"{', '.join(map(repr, both))} both allowed and withheld: say one")
    return EgressRule(projects, allow, withhold, logs, limit, audit)


def parse_policy(source: str | Mapping[str, Any], where: str) -> EgressPolicy:
    """A checked policy from the TOML text of a policy file (``spec/egress.md``) or its mapping
    (``{"rules": [...]}``, as :meth:`EgressPolicy.to_dict` gives it, or ``{"rule": [...]}`` as the
    TOML has it). ``where`` names the file in messages. Raises ``UsageError`` ``invalid_policy``
    naming the key and what to do."""
    if isinstance(source, str):
        try:
            doc: Mapping[str, Any] = loads_user_toml(source)
        except tomllib.TOMLDecodeError as err:
            raise _bad(where, f"not valid TOML ({err})") from None
    else:
        doc = source
    # A file says [[rule]]; "rules" is the stored form's key (to_dict), not a second spelling of it.
    unknown = sorted(set(doc) - ({"rule"} if isinstance(source, str) else {"rule", "rules"}))
    if unknown:
        raise _bad(where, f"unknown key(s) {', '.join(map(repr, unknown))} (a policy is a list of [[rule]] tables)")
    rules = doc.get("rule", doc.get("rules", []))
    if not isinstance(rules, list):
        raise _bad(f"{where}: rule", "expected [[rule]] tables")
    if len(rules) > MAX_RULES:
        raise _bad(where, f"{len(rules)} rules, more than {MAX_RULES}")
    return EgressPolicy(tuple(_rule(r, f"{where}: rule[{i}]") for i, r in enumerate(rules)))
