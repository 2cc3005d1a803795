"""Structured configuration variables for YAML files, through ruamel.yaml's round-trip mode.

The key path is the JSON one (``Logging:LogLevel:Default``, ``Servers:0:Name``, keys matched
case-insensitively; a name without ``:`` is a top-level key). ruamel.yaml keeps comments,
key order, anchors, quoting style and the document's indentation, so an edited file differs
from the original only where a value was replaced. A scalar keeps its type where the new
text allows (``true`` stays a boolean, ``8080`` a number), a quoted string keeps its quotes,
and a mapping or sequence replaced whole takes the value parsed as YAML. Octopus's rules.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import ScalarString

from bundlekit.runtime.structured.base import ConfigEdit, ConfigParseError, is_reserved
from bundlekit.runtime.structured.jsonfile import convert_scalar

__all__ = ["apply_yaml"]


def _yaml() -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.preserve_quotes = True
    yaml.width = 1 << 30  # never re-wrap long lines
    return yaml


def _fragment(text: str) -> Any:
    try:
        return _yaml().load(text)
    except YAMLError:
        return text


def _convert(old: Any, text: str) -> Any:
    if isinstance(old, (CommentedMap, CommentedSeq, dict, list)):
        parsed = _fragment(text)
        return parsed if isinstance(parsed, (dict, list)) else text
    if isinstance(old, ScalarString):
        return type(old)(text)  # keep the quoting style
    if isinstance(old, str):
        return text
    return convert_scalar(old, text)


def _indents(text: str) -> tuple[int, int]:
    """(mapping indent, offset of a sequence's dash under its key) as the file writes them."""
    mapping: int | None = None
    offset: int | None = None
    previous: tuple[int, str] | None = None
    for line in text.splitlines():
        body = line.lstrip(" ")
        if not body or body.startswith("#"):
            continue
        indent = len(line) - len(body)
        if previous is not None and previous[1].rstrip().endswith(":") and indent >= previous[0]:
            step = indent - previous[0]
            if body.startswith("- "):
                offset = step if offset is None else offset
            elif step > 0 and not previous[1].startswith("- "):
                mapping = step if mapping is None else min(mapping, step)
        previous = (indent, body)
    return mapping or 2, offset or 0


def _walk(node: Any, path: list[str], variables: dict[str, tuple[str, str]],
          replaced: list[tuple[str, str]]) -> None:
    keys: list[Any] = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
    for key in keys:
        child_path = path + [str(key)]
        joined = ":".join(child_path)
        found = variables.get(joined.casefold())
        if found is not None:
            node[key] = _convert(node[key], found[1])
            replaced.append((found[0], joined))
        else:
            _walk(node[key], child_path, variables, replaced)


def apply_yaml(text: str, variables: Mapping[str, str]) -> ConfigEdit:
    """Replace the values at the key paths named by ``variables`` in every document of ``text``."""
    yaml = _yaml()
    try:
        documents = list(yaml.load_all(text))
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        raise ConfigParseError("yaml", str(error.problem or error.context or "syntax error"), line, column) from None
    except (YAMLError, RecursionError) as error:
        raise ConfigParseError("yaml", str(error) or "nested too deeply") from None
    if not documents or not all(isinstance(d, (dict, list)) for d in documents):
        raise ConfigParseError("yaml", "the document is not a mapping or a sequence")
    folded = {name.casefold(): (name, value) for name, value in variables.items() if not is_reserved(name)}
    replaced: list[tuple[str, str]] = []
    for document in documents:
        _walk(document, [], folded, replaced)
    if not replaced:
        return ConfigEdit(None)
    indent, offset = _indents(text)
    yaml.indent(mapping=indent, sequence=offset + 2, offset=offset)
    yaml.explicit_start = text.lstrip().startswith("---")
    out = io.StringIO()
    if len(documents) == 1:
        yaml.dump(documents[0], out)
    else:
        yaml.dump_all(documents, out)
    rendered = out.getvalue()
    if "\r\n" in text:
        rendered = rendered.replace("\r\n", "\n").replace("\n", "\r\n")
    if not text.endswith(("\n", "\r")):
        rendered = rendered.rstrip("\r\n")
    return ConfigEdit(rendered, tuple(replaced))
