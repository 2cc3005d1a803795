"""Structured configuration variables for YAML files, through ruamel.yaml's round-trip mode.

The key path is the JSON one (``Logging:LogLevel:Default``, ``Servers:0:Name``, keys matched
case-insensitively; a name without ``:`` is a top-level key). A scalar keeps its type where
the new text allows (``true`` stays a boolean, ``8080`` a number), a quoted string keeps its
quotes, and a mapping or sequence replaced whole takes the value parsed as YAML (or JSON), written
in the style the replaced one had: block stays block, flow stays flow. Octopus's rules.

Writing (decision 521): when every replaced value is a plain or quoted scalar (without anchor
or tag) and every new value fits on one line, the new scalars are spliced into the original
text at the positions ruamel.yaml's composer reports, so everything else stays byte for byte
(spacing before a comment, ``~``, trailing blanks, each sequence's own indentation, a plain
scalar folded over lines). The spliced text is accepted only if it loads to exactly the data
the round-trip dump would write; otherwise, and for block scalars, aliases and structures, the
document is dumped in round-trip mode, which keeps comments, key order, anchors, quoting and
the detected indentation, but not those details.
"""

from __future__ import annotations

import copy
import difflib
import io
import json
import re
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
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


def _restyle(node: Any, flow: bool) -> None:
    """Write ``node`` and everything in it in flow style (``flow``) or block style."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (CommentedMap, CommentedSeq)):
            item.fa.set_flow_style() if flow else item.fa.set_block_style()
            stack.extend(item.values() if isinstance(item, CommentedMap) else item)


def _commented(data: Any) -> Any:
    """JSON data as round-trip YAML nodes (so a string is quoted only where YAML needs it)."""
    if isinstance(data, dict):
        out = CommentedMap()
        for key, value in data.items():
            out[key] = _commented(value)
        return out
    if isinstance(data, list):
        return CommentedSeq(_commented(value) for value in data)
    return data


def _structure(text: str) -> Any:
    """The value a mapping or sequence is replaced by: JSON data when the text is JSON, else YAML."""
    try:
        return _commented(json.loads(text))
    except (ValueError, RecursionError):
        return _fragment(text)


def _convert(old: Any, text: str) -> Any:
    if isinstance(old, (CommentedMap, CommentedSeq, dict, list)):
        parsed = _structure(text)
        if not isinstance(parsed, (dict, list)):
            return text
        # The file decides the layout, not how the value happened to be written (a value given
        # as JSON, `[a, b]`, replaces a block sequence with a block sequence).
        _restyle(parsed, bool(isinstance(old, (CommentedMap, CommentedSeq)) and old.fa.flow_style()))
        return parsed
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


#: Most values a YAML file may hold once its aliases are expanded: a 300-byte file of nested
#: aliases expands to billions, and every path through them would be walked (decision 523).
MAX_EXPANDED_VALUES = 1_000_000


def _expanded_size(documents: list[Any]) -> int:
    """How many values ``documents`` hold with every alias expanded, counted in time linear in
    the distinct values (a value an alias repeats is counted once and its size reused)."""
    sizes: dict[int, int] = {}

    def size(node: Any) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        known = sizes.get(id(node))
        if known is None:
            children = list(node.keys()) + list(node.values()) if isinstance(node, dict) else node
            known = sizes[id(node)] = 1 + sum(size(child) for child in children)
        return known

    return sum(size(d) for d in documents)


def _unaliased(node: Any) -> Any:
    """A copy of ``node`` with no anchors, to stand where an alias to it stood (decision 647)."""
    copied = copy.deepcopy(node)
    stack = [copied]
    while stack:
        item = stack.pop()
        if isinstance(item, (CommentedMap, CommentedSeq)):
            item.anchor.value, item.anchor.always_dump = None, False
            stack.extend(item.values() if isinstance(item, CommentedMap) else item)
    return copied


def _walk(node: Any, path: list[Any], variables: dict[str, tuple[str, str]],
          replaced: list[tuple[str, str]], changes: list[tuple[list[Any], Any]], seen: set[int]) -> None:
    """Replace what ``variables`` name under ``node``. ``seen``: the containers already walked; a
    container met again is an alias, and when a variable names a path under it, that path gets a
    copy of its own, so the anchored original and every other alias keep their values."""
    seen.add(id(node))
    keys: list[Any] = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
    for key in keys:
        child_path = path + [key]
        joined = ":".join(str(k) for k in child_path)
        found = variables.get(joined.casefold())
        if found is not None:
            node[key] = _convert(node[key], found[1])
            replaced.append((found[0], joined))
            changes.append((child_path, node[key]))
            continue
        child = node[key]
        if not isinstance(child, (dict, list)):
            continue
        if id(child) in seen:
            below = joined.casefold() + ":"
            if not any(name.startswith(below) for name in variables):
                continue  # walked where it is anchored; nothing names a path under this alias
            child = node[key] = _unaliased(child)
        _walk(child, child_path, variables, replaced, changes, seen)


def _data(value: Any) -> Any:
    """``value`` as plain, comparable data that tells a boolean from a number (True == 1 in Python)."""
    if isinstance(value, dict):
        return ("map", [(_data(k), _data(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("seq", [_data(v) for v in value])
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return (kind.__name__, kind(value))
    return (type(value).__name__, str(value))


def _scalar_text(value: Any) -> str | None:
    """How round-trip mode writes ``value`` as a one-line mapping value; None if not on one line."""
    out = io.StringIO()
    _yaml().dump({"k": value}, out)
    written = out.getvalue()
    if not written.startswith("k:") or written.count("\n") != 1:
        return None
    return written[2:].rstrip("\n").lstrip(" ")


def _value_span(text: str, root: Any, path: list[Any]) -> tuple[int, int] | None:
    """Where the plain or quoted scalar at ``path`` is written in ``text``; None when it is anything else."""
    node = root
    for key in path:
        if isinstance(node, MappingNode):
            node = next((v for k, v in node.value if isinstance(k, ScalarNode) and k.value == str(key)), None)
        elif isinstance(node, SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            return None
        if node is None:
            return None
    if not isinstance(node, ScalarNode) or node.style not in (None, "'", '"') or node.anchor is not None:
        return None
    start, end = node.start_mark.index, node.end_mark.index
    if text[start:start + 1] in ("!", "&", "*"):
        return None
    return start, end


def _splice(text: str, changes: list[tuple[int, list[Any], Any]]) -> str | None:
    """``text`` with each changed scalar written in place, or None when that is not possible."""
    try:
        roots = list(_yaml().compose_all(text))
    except YAMLError:
        return None
    edits: list[tuple[int, int, str]] = []
    for document, path, value in changes:
        span = _value_span(text, roots[document], path) if document < len(roots) else None
        written = _scalar_text(value)
        if span is None or written is None:
            return None
        edits.append((span[0], span[1], written))
    edits.sort()
    out, last = [], 0
    for start, end, written in edits:
        if start < last:
            return None
        out.append(text[last:start])
        out.append(written)
        last = end
    out.append(text[last:])
    return "".join(out)


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
    except TypeError as error:  # a mapping used as a key (`? [{}]`): the loader cannot hash it
        raise ConfigParseError("yaml", f"a key that is not a scalar ({error})") from None
    if not documents or not all(isinstance(d, (dict, list)) for d in documents):
        raise ConfigParseError("yaml", "the document is not a mapping or a sequence")
    try:
        expanded = _expanded_size(documents)
    except RecursionError:
        raise ConfigParseError("yaml", "nested too deeply") from None
    if expanded > MAX_EXPANDED_VALUES:
        raise ConfigParseError("yaml", f"its aliases expand it to {expanded} values, more than "
                                       f"{MAX_EXPANDED_VALUES}: write the repeated parts out, or use fewer aliases")
    folded = {name.casefold(): (name, value) for name, value in variables.items() if not is_reserved(name)}
    replaced: list[tuple[str, str]] = []
    changes: list[tuple[int, list[Any], Any]] = []
    seen: set[int] = set()
    for number, document in enumerate(documents):
        found: list[tuple[list[Any], Any]] = []
        _walk(document, [], folded, replaced, found, seen)
        changes.extend((number, path, value) for path, value in found)
    if not replaced:
        return ConfigEdit(None)
    spliced = _splice(text, changes)
    if spliced is not None:
        try:
            if [_data(d) for d in _yaml().load_all(spliced)] == [_data(d) for d in documents]:
                return ConfigEdit(spliced, tuple(replaced))
        except YAMLError:
            pass
    indent, offset = _indents(text)
    yaml.indent(mapping=indent, sequence=offset + 2, offset=offset)
    yaml.explicit_start = text.lstrip().startswith("---")
    out = io.StringIO()
    if len(documents) == 1:
        yaml.dump(documents[0], out)
    else:
        yaml.dump_all(documents, out)
    rendered = _with_line_endings(text, out.getvalue())
    if not text.endswith(("\n", "\r")):
        rendered = rendered.rstrip("\r\n")
    return ConfigEdit(rendered, tuple(replaced))


_BREAK = re.compile(r"\r\n|\r|\n")  # YAML's line breaks (YAML 1.2, section 5.4)


def _lines(text: str) -> tuple[list[str], list[str]]:
    """The lines of ``text`` without their breaks, and each line's break (``""`` for a last
    line without one)."""
    bodies, breaks, last = [], [], 0
    for m in _BREAK.finditer(text):
        bodies.append(text[last:m.start()])
        breaks.append(m.group())
        last = m.end()
    if last < len(text):
        bodies.append(text[last:])
        breaks.append("")
    return bodies, breaks


def _with_line_endings(original: str, rendered: str) -> str:
    """``rendered`` (the dump, LF only) with each line that the dump left as it was in
    ``original`` ending as it did there, byte for byte: a file with LF and CRLF lines keeps
    both. A line the dump changed or added takes the break of the original line it stands in
    for (or follows), and the file's most common break where there is none."""
    old, old_breaks = _lines(original)
    new, _ = _lines(rendered)
    written = [b for b in old_breaks if b]
    common = max(("\n", "\r\n", "\r"), key=written.count) if written else "\n"
    breaks: list[str] = [common] * len(new)
    for _, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new).get_opcodes():
        for k in range(j2 - j1):
            if i1 + k < i2:  # the same line, or a changed one standing where an old line stood
                brk = old_breaks[i1 + k]
            else:  # a line the dump added: the break of the old line it follows
                brk = old_breaks[i2 - 1] if i2 > 0 else ""
            breaks[j1 + k] = brk or common
    return "".join(body + brk for body, brk in zip(new, breaks))
