"""The fix lint gives for an XPath that selects nothing because the XML file's elements are in a
default namespace (decisions 730, 811): the same XPath with each element step written as
``*[local-name()='name']``, ready to copy.

The usual forms are rewritten: element steps after ``/`` or ``//``, each with its predicates
(``add[@key='a']``), ending at an attribute (``@value``) or ``text()``; predicates are kept as
written when they read only attributes, literals and functions (``[@key='a']``, ``[1]``,
``[last()]``). A path with anything else (a prefix, an axis, an element name inside a
predicate) gets no rewrite, and neither does an absolute path whose first step cannot be the
file's root element: it selects nothing there whatever its namespace (every XPath variable is
applied to every XML file of the step, so it is likely meant for another one).
"""

from __future__ import annotations

import re

__all__ = ["local_name_xpath", "root_name"]

_NAME = r"[A-Za-z_][\w.-]*"
_STEP = re.compile(rf"(?P<name>{_NAME}|\*)(?P<predicates>(\[[^\[\]]*\])*)")
_LEAF = re.compile(rf"@{_NAME}|@\*|text\(\)|node\(\)|\.|\.\.")
_LITERAL = re.compile(r"'[^']*'|\"[^\"]*\"")
_BARE = re.compile(rf"(?<![@\w.-]){_NAME}(?![\w.-]*\s*\()")
_OPERATORS = {"and", "or", "div", "mod"}
_MARKUP = re.compile(r"<!--.*?-->|<\?.*?\?>|<!DOCTYPE[^\[>]*(\[.*?\])?\s*>", re.DOTALL)
_ROOT = re.compile(r"<([^\s/>!?]+)")


def _plain_predicates(predicates: str) -> bool:
    """Whether the predicates name no element (attributes, literals, numbers, functions only)."""
    bare = _BARE.findall(_LITERAL.sub("''", predicates))
    return all(word in _OPERATORS for word in bare)


def _split(path: str) -> list[tuple[str, str]] | None:
    """(separator, step) pairs of ``path`` (``/`` or ``//`` before each step), None when a
    separator stands inside a predicate or a literal (too unusual to rewrite)."""
    out: list[tuple[str, str]] = []
    for m in re.finditer(r"(//?)([^/]*)", path):
        out.append((m.group(1), m.group(2)))
    if "".join(s + step for s, step in out) != path or not out:
        return None
    return out


def local_name_xpath(path: str, root: str | None) -> str | None:
    """``path`` with each element step written as ``*[local-name()='name']`` (predicates,
    attributes and ``text()`` kept), or None when it is not one of the forms rewritten or when
    ``root`` (the local name of the file's root element, if known) cannot match its first step."""
    if not path.startswith("/") or "::" in path or "|" in path:
        return None
    steps = _split(path)
    if steps is None:
        return None
    written = []
    for n, (sep, step) in enumerate(steps):
        last = n == len(steps) - 1
        if last and _LEAF.fullmatch(step):
            written.append(sep + step)
            continue
        m = _STEP.fullmatch(step)
        if m is None or not _plain_predicates(m.group("predicates")):
            return None
        if n == 0 and sep == "/" and root is not None and m.group("name") not in ("*", root):
            return None
        name = m.group("name")
        head = "*" if name == "*" else f"*[local-name()='{name}']"
        written.append(sep + head + m.group("predicates"))
    if not any("local-name()" in w for w in written):
        return None
    return "".join(written)


def root_name(text: str) -> str | None:
    """The local name (prefix left out) of the root element of the XML ``text``, read without a
    parser: the first start tag after the declaration, comments, processing instructions and
    the document type."""
    m = _ROOT.search(_MARKUP.sub("", text[:65536]))
    return m.group(1).rpartition(":")[2] if m is not None else None
