"""What ``bundlekit lint`` reports: findings, their stable codes, and where in the release file they are.

A :class:`Finding` names the file, the key path (``steps[1].script``) or package member, the
line and column where there is one, and a suggestion. The codes are a fixed vocabulary
(:data:`FINDING_CODES`, listed in ``spec/release-file.md``, "Lint"); a check that reports a
refusal another part of bundlekit makes (a package member extraction refuses, a rule of
:func:`~bundlekit.export.releasefile.load_release`) uses that refusal's error code.

:func:`locate` finds a key path in the TOML text without a second parser: the line of the
table header (``[[steps]]``, counted), then the key's line below it. The headers are read
once per text (:class:`TomlIndex`), so placing every finding of a release costs one pass over
the file, not one per finding. A string value is read as TOML reads it, escapes and
multi-line strings included (:mod:`~bundlekit.export.toml_strings`), so a template problem
gets the line and column of its token in the release file itself.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Sequence

from bundlekit.export.toml_strings import value_offsets

__all__ = ["Finding", "FINDING_CODES", "ERROR", "WARNING", "locate", "TomlIndex", "toml_index", "value_offset",
           "line_column", "key_path", "parse_key_path", "NameSet", "Malformed", "entries", "names_of"]

ERROR = "error"
WARNING = "warning"

#: Code -> what it means. Codes of refusals made elsewhere (``unsafe_package``,
#: ``ambiguous_variable``, ...) are added by the check that reports them.
FINDING_CODES: dict[str, str] = {
    "invalid_toml": "the release file is not valid TOML",
    "unknown_key": "a key the release file's schema does not have (a misspelling, with the closest key)",
    "invalid_value": "a value the release file's schema does not allow",
    "template_syntax": "a #{...} template does not parse (script, variable value or substituted file)",
    "undefined_variable": "a template refers to a name no variable, placeholder, system variable or output defines",
    "unknown_output_step": "an output reference names a step the release does not have",
    "output_not_yet_set": "an output reference names a step that does not run before the reference is used",
    "unreferenceable_step_name": "a step name #{Octopus.Action[...]} cannot name (it contains '[', ']', '{' or '}')",
    "pattern_matches_nothing": "a substitute or structured_config pattern matches no file of the step's package",
    "config_path_matches_nothing": "a variable named like a configuration path (A:B) that no configuration file has",
    "json_member_missing": "a template path into a JSON value names a member the value does not have (renders empty)",
    "unknown_environment": "an environment no lifecycle phase (or target inventory) has, or a near-miss of one",
    "unknown_role": "a role scope no step has (or no target in the inventory has)",
    "unknown_step": "a variable scoped to a step the release does not have",
    "role_without_targets": "a step runs on a role no target in the inventory has (in the step's environments)",
    "unused_placeholder": "a placeholder no step's script, variable value or substituted file uses",
    "unknown_filter": "a template applies a filter bundlekit does not have (with the nearest filter names)",
    "output_of_disabled_step": "an output reference names a disabled step, whose outputs are never set",
    "ambiguous_package_script": "a package has two scripts for one phase in its root (PreDeploy.sh and PreDeploy.py)",
    "tenant_name_without_tenants": "#{Octopus.Deployment.Tenant.Name} used outside an #{if} by a release that "
                                   "scopes nothing to a tenant (untenanted deployments refuse it)",
    "more_notes": "(a manifest's lint_notes only) how many more warnings were left out",
    "computed_output_step": "an output reference whose step is named by a value only a deployment knows (a "
                            "placeholder, a scoped value): refused there unless the value names an earlier step",
    "output_never_set": "an output reference to a script step whose script never sets that output name",
    "structured_config_warning": "what a deployment would warn about applying a variable to a configuration file "
                                 "(an XPath that selects nothing in a default namespace, a character XML cannot hold)",
}

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*(\]\]?)\s*(#.*)?$")


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: ``severity`` is :data:`ERROR` (export refuses) or :data:`WARNING`;
    ``line``/``column`` are 1-based, in ``file`` (None where there is no position)."""

    severity: str
    code: str
    message: str
    file: str
    path: str | None = None
    line: int | None = None
    column: int | None = None
    suggestion: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` form: every field, ``null`` where there is none."""
        return {"severity": self.severity, "code": self.code, "message": self.message, "file": self.file,
                "path": self.path, "line": self.line, "column": self.column, "suggestion": self.suggestion}

    def text(self) -> str:
        """One line for a person: ``file:line:column: severity [code] path: message (fix)``; a fix
        that has parentheses of its own follows a semicolon instead (``message; fix``), so none
        are nested."""
        where = self.file + (f":{self.line}" if self.line else "") + (f":{self.column}" if self.column else "")
        at = f"{self.path}: " if self.path else ""
        fix = "" if not self.suggestion else (f"; {self.suggestion}" if set("()") & set(self.suggestion)
                                              else f" ({self.suggestion})")
        return f"{where}: {self.severity} [{self.code}] {at}{self.message}{fix}"


class Malformed(dict):  # type: ignore[type-arg]
    """An element of a release file's ``[[steps]]``, ``[[variables]]`` or ``[[packages]]`` that its
    schema refused (the schema's findings say why), or what stands in for it: the checks after
    the schema skip it (:func:`entries`), but its name still counts as defined (:func:`names_of`)."""


def entries(doc: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    """(index, element) of every well-formed element of the array of tables ``key``."""
    items = doc.get(key)
    return [(i, e) for i, e in enumerate(items if isinstance(items, list) else [])
            if isinstance(e, dict) and not isinstance(e, Malformed)]


def names_of(doc: dict[str, Any], key: str) -> list[str | None]:
    """The ``name`` of each element of ``key``, by index (None where there is no text one),
    malformed elements included: a name written is a name defined."""
    items = doc.get(key)
    return [e["name"] if isinstance(e, dict) and isinstance(e.get("name"), str) and e["name"] else None
            for e in (items if isinstance(items, list) else [])]


def _member_prefixes(name: str) -> list[str]:
    """``a.b[c]`` -> ``["a", "a.b"]``: the names ``name`` is a member of."""
    return [name[:i] for i, c in enumerate(name) if c in ".[" and i]


class NameSet:
    """Casefolded variable names, where a name stands for itself and its members: ``covers(n)``
    when ``n`` is one of them, a member of one (``Config.Port`` of ``Config``) or one they are
    members of (``Config`` of ``Config.Port``). Each lookup costs the length of ``n``, not the
    number of names (lint runs one per reference)."""

    def __init__(self, names: Iterable[str]) -> None:
        self._names = {n.casefold() for n in names}
        self._owners = {p for n in self._names for p in _member_prefixes(n)}

    def covers(self, name: str) -> bool:
        folded = name.casefold()
        return (folded in self._names or folded in self._owners
                or any(p in self._names for p in _member_prefixes(folded)))


def key_path(parts: Sequence[str | int]) -> str:
    """``["steps", 1, "script"]`` -> ``steps[1].script``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_key_path(text: str) -> list[str | int]:
    """The inverse of :func:`key_path`; also reads the schema's ``steps.1.type`` form."""
    parts: list[str | int] = []
    for piece in re.findall(r"\[(\d+)\]|([^.\[\]]+)", text):
        index, name = piece
        if index:
            parts.append(int(index))
        elif name.isdigit():
            parts.append(int(name))
        else:
            parts.append(name)
    return parts


@lru_cache(maxsize=4)
def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in re.finditer("\n", text)]


def line_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` in ``text`` (the line starts of the last few texts
    are kept, so placing many findings in one file reads it once)."""
    starts = _line_starts(text)
    line = bisect.bisect_right(starts, offset)
    return line, offset - starts[line - 1] + 1


def _key_at(text: str, start: int, end: int, key: str) -> int | None:
    """Offset of ``key =`` (bare or quoted) between ``start`` and ``end``, or None."""
    pattern = re.compile(r"(?m)(^|[{,]\s*)\s*(" + re.escape(key) + r"|\"" + re.escape(key) + r"\")\s*=")
    found = pattern.search(text, start, end)
    return found.start(2) if found else None


def _headers(text: str) -> list[tuple[int, str, bool]]:
    """(offset, dotted name, is array-of-tables) of every table header."""
    out = []
    offset = 0
    for line in text.splitlines(keepends=True):
        m = _HEADER.match(line)
        if m and (m.group(1) == "[[") == (m.group(3) == "]]"):
            name = ".".join(p.strip().strip('"') for p in m.group(2).split("."))
            out.append((offset + line.index("["), name, m.group(1) == "[["))
        offset += len(line)
    return out


class TomlIndex:
    """Where the table headers of one TOML text are, read once: a key path is then found with
    a dict lookup for its table and a search of that table's lines only (linear in the file
    however many key paths a lint places, instead of one pass over the file per key path)."""

    def __init__(self, text: str) -> None:
        self.text = text
        headers = _headers(text)
        self._starts = [o for o, _, _ in headers]
        self._first: dict[str, int] = {}
        self._arrays: dict[str, list[int]] = {}
        for offset, name, is_array in headers:
            self._first.setdefault(name, offset)
            if is_array:
                self._arrays.setdefault(name, []).append(offset)

    def _table_end(self, pos: int) -> int:
        after = bisect.bisect_right(self._starts, pos)
        return self._starts[after] if after < len(self._starts) else len(self.text)

    def locate(self, parts: Sequence[str | int]) -> int | None:
        """:func:`locate` in this index's text."""
        pos: int | None = None
        end = len(self.text)
        rest = list(parts)
        # The longest table prefix written as a header: [[steps]] counted, [lifecycle] by name.
        table: list[str] = []
        while rest:
            name = rest[0]
            if not isinstance(name, str):
                break
            dotted = ".".join(table + [name])
            count = rest[1] if len(rest) > 1 and isinstance(rest[1], int) else None
            if dotted not in self._first:
                break
            if count is not None:
                arrays = self._arrays.get(dotted, [])
                if count >= len(arrays):
                    break
                pos = arrays[count]
                rest = rest[2:]
            else:
                pos = self._first[dotted]
                rest = rest[1:]
            table.append(name)
            end = self._table_end(pos)
        start = pos if pos is not None else 0
        if pos is None:  # keys before the first header
            end = self._starts[0] if self._starts else len(self.text)
        for part in rest:
            if isinstance(part, int):
                continue  # an element of an inline array: the key's line is close enough
            found = _key_at(self.text, start, end, part)
            if found is None:
                break
            pos = start = found
        return pos


@lru_cache(maxsize=2)
def toml_index(text: str) -> TomlIndex:
    """The :class:`TomlIndex` of ``text``, built once for the (one or two) texts a lint is placing
    findings in: every check calls :func:`locate` with the same release text."""
    return TomlIndex(text)


def locate(text: str, parts: Sequence[str | int]) -> int | None:
    """The offset of the key path ``parts`` in the TOML ``text``, or of its nearest enclosing
    table or key found; None when not even the first part is found."""
    return toml_index(text).locate(parts)


def value_offset(text: str, key_at: int | None, value: str) -> int | None:
    """Where the string ``value`` starts in ``text``: its first character in the string written
    after the key at ``key_at`` (escapes and multi-line strings read as TOML reads them,
    :mod:`~bundlekit.export.toml_strings`), or None when no string there reads as ``value``."""
    offsets = value_offsets(text, key_at, value)
    return offsets[0] if offsets is not None else None
