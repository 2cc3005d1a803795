"""JSON Schema validation with bundlekit's name rules, and messages that say what to fix.

The schemas (``bundlekit/schemas/``) mark names, labels and versions with the ``format``
keyword (``bundlekit-name``, ``bundlekit-label``, ``bundlekit-version``); the rules
themselves live only in :mod:`bundlekit.core.names` (decision 126), and :func:`schema_errors`
asserts them. Used for manifests (``format/manifest.py``) and release files
(``export/releasefile.py``). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bundlekit.core.names import SCHEMA_FORMATS, quoted

if TYPE_CHECKING:
    import jsonschema

__all__ = ["schema_errors", "schema_violations", "Violation", "MAX_ERRORS"]

#: The most violations one validation reports. An input made of many broken entries (a hundred
#: thousand empty maps in a 100 KB manifest) would otherwise cost one error object, with its paths
#: and context, per entry: gigabytes of memory and seconds per thousand entries, before any refusal.
MAX_ERRORS = 100


def _format_checker() -> jsonschema.FormatChecker:
    """The schemas' ``bundlekit-*`` formats, each the rule of :mod:`bundlekit.core.names`
    (no name rule lives in a schema: decision 126). Other formats stay annotations."""
    import jsonschema

    checker = jsonschema.FormatChecker(formats=())
    for fmt, (problem, _rule) in SCHEMA_FORMATS.items():
        checker.checks(fmt)(lambda value, problem=problem: not isinstance(value, str) or problem(value) is None)
    return checker


#: Made on the first validation: jsonschema is imported only by a process that validates
#: something (a command that never reads a manifest or a release file starts ~50 ms sooner).
_FORMAT_CHECKER: jsonschema.FormatChecker | None = None


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule of a schema: where (``path``, keys and indexes from the top), the
    message :func:`schema_errors` prints, the JSON Schema keyword broken (``validator``: "type",
    "required", "minimum", ...), that keyword's value in the schema, the value refused
    (``instance``) and the schema node it was checked against."""

    path: tuple[str | int, ...]
    message: str
    validator: str
    expected: Any
    instance: Any
    schema: Any


def schema_violations(schema: dict[str, Any], data: Any) -> list[Violation]:
    """The schema's violations, in the validator's order, at most :data:`MAX_ERRORS` of them
    (see :func:`schema_errors` for why). A value that breaks a ``bundlekit-*`` format is
    reported with the rule's own reason and what to use."""
    return _collect(schema, data, MAX_ERRORS)


def _collect(schema: dict[str, Any], data: Any, limit: int) -> list[Violation]:
    global _FORMAT_CHECKER
    import jsonschema

    if _FORMAT_CHECKER is None:
        _FORMAT_CHECKER = _format_checker()
    validator = jsonschema.Draft202012Validator(schema, format_checker=_FORMAT_CHECKER)
    out: list[Violation] = []
    for err in validator.iter_errors(data):
        if len(out) == limit:
            break
        err = _specific(err)
        message = err.message
        if err.validator == "format" and err.validator_value in SCHEMA_FORMATS:
            problem, rule = SCHEMA_FORMATS[err.validator_value]
            message = f"{quoted(err.instance)} {problem(err.instance)}: {rule}"
        elif len(message) > 200:  # jsonschema repeats the whole value: never a page of it
            message = f"{quoted(err.instance)} breaks the schema's {err.validator!r} rule"
        out.append(Violation(tuple(err.absolute_path), message, str(err.validator), err.validator_value,
                             err.instance, err.schema))
    return out


def schema_errors(schema: dict[str, Any], data: Any) -> list[str]:
    """The schema's violations as ``key.path: problem``, sorted for stable output: all of them, or
    the first :data:`MAX_ERRORS` the validator finds (it walks the input in its own fixed order)
    followed by ``"... (validation stopped at N problems)"``. A value that breaks a
    ``bundlekit-*`` format is reported with the rule's own reason and what to use."""
    found = _collect(schema, data, MAX_ERRORS + 1)
    out = sorted(f"{'.'.join(str(p) for p in v.path) or '(top level)'}: {v.message}" for v in found[:MAX_ERRORS])
    if len(found) > MAX_ERRORS:
        out.append(f"... (validation stopped at {MAX_ERRORS} problems)")
    return out


def _specific(err: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For a value that matches none of a ``oneOf``'s forms (a scope value is one label or a
    list of them), the broken name rule inside it: "'Acme\\x1b' contains the control character
    U+001B" says what to fix, "is not valid under any of the given schemas" does not."""
    if err.validator in ("oneOf", "anyOf") and err.context:
        named = [e for e in err.context if e.validator == "format" and e.validator_value in SCHEMA_FORMATS]
        if named:
            return min(named, key=lambda e: [str(p) for p in e.absolute_path])
    return err
