"""Structured configuration variables for XML files: a variable named by an XPath replaces
what the XPath selects, and the rest of the file stays byte for byte as written.

Octopus's rules: a name is an XPath when it contains ``/`` or ``:`` and compiles
(``/configuration/appSettings/add[@key='Port']/@value``, ``//db:connection/text()`` with
the document's own namespace prefixes); every node it selects is replaced: an attribute's
value, an element's text (inside its CDATA section if the element holds one), an element
with child elements by the value read as an XML fragment (skipped with a warning when it is
not one), a comment's or a processing instruction's text.

Two parsers, each for what it does best: lxml (libxml2) evaluates the XPath on a tree, and
the standard library's expat reports where each element, comment and processing instruction
starts in the text, so a replacement is spliced into the original text instead of
re-serialising the document (which would change quoting, empty elements and whitespace).
XML from a package is untrusted: no DTD is loaded, nothing is fetched from the network, and
a document type that declares entities is refused, since entity expansion is how XML bombs
and external-entity reads work. The declarations are found by expat reading the document type
as XML (quotes, comments and processing instructions inside the internal subset are what the
grammar says they are), not by searching the text: a ``]>`` inside a quoted default value
must not end the search early and let an entity through.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from xml.parsers import expat

from lxml import etree

from bundlekit.runtime.structured.base import ConfigEdit, ConfigParseError, is_reserved

__all__ = ["apply_xml"]

_DECLARATION = re.compile(r"^<\?xml[^>]*\?>")
# An XML declaration after leading whitespace is not well-formed XML (and lxml refuses it with a ValueError).
_LATE_DECLARATION = re.compile(r"^\s+(<\?xml)(?=[\s?])")
_XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"
# Steps libxml2 may take to put a selection in document order (sum of the squared lengths of the
# runs of adjacent non-element nodes): a second or two (decision 646).
_ORDER_BUDGET = 100_000_000
# A character XML 1.0 does not allow anywhere, not even written as a character reference.
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass
class _Spans:
    """Where things are in the text (character offsets), in document order."""

    elements: list[tuple[int, int, int, int]]  # (tag start, start-tag end, content end, element end)
    comments: list[tuple[int, int]]  # (start, end) of <!-- ... -->
    instructions: list[tuple[int, int]]  # (start, end) of <? ... ?>
    declarations: list[tuple[str, str]]  # (prefix, namespace) of each xmlns:prefix="..." as written


def _tag_end(text: str, start: int) -> int:
    """The offset just past the '>' of the start tag at ``start`` (quotes respected)."""
    i, quote = start + 1, ""
    while i < len(text):
        c = text[i]
        if quote:
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == ">":
            return i + 1
        i += 1
    return len(text)


def _spans(text: str) -> _Spans:
    data = text.encode("utf-8")
    # expat reports byte offsets; map them to character offsets.
    ascii_only = len(data) == len(text)
    starts = [] if ascii_only else [0]
    if not ascii_only:
        for ch in text:
            starts.append(starts[-1] + len(ch.encode("utf-8")))
    byte_to_char = {b: c for c, b in enumerate(starts)} if not ascii_only else {}

    def at(index: int) -> int:
        return index if ascii_only else byte_to_char[index]

    parser = expat.ParserCreate()
    spans = _Spans([], [], [], [])
    stack: list[int] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        spans.declarations.extend((a[6:], v) for a, v in attrs.items() if a.startswith("xmlns:"))
        begin = at(parser.CurrentByteIndex)
        end = _tag_end(text, begin)
        stack.append(len(spans.elements))
        spans.elements.append((begin, end, end, end))

    def finish(name: str) -> None:
        index = stack.pop()
        begin, tag_end, _, _ = spans.elements[index]
        if text[tag_end - 2 : tag_end] == "/>":
            return  # an empty element: no content, ends with its start tag
        close = at(parser.CurrentByteIndex)
        spans.elements[index] = (begin, tag_end, close, text.index(">", close) + 1)

    in_doctype = [False]  # comments and instructions of the internal subset are not tree nodes

    def doctype(*_args: object) -> None:
        in_doctype[0] = not in_doctype[0]

    def comment(_data: str) -> None:
        if in_doctype[0]:
            return
        begin = at(parser.CurrentByteIndex)
        spans.comments.append((begin, text.index("-->", begin) + 3))

    def instruction(_target: str, _data: str) -> None:
        if in_doctype[0]:
            return
        begin = at(parser.CurrentByteIndex)
        spans.instructions.append((begin, text.index("?>", begin) + 2))

    def skipped(name: str, _parameter: bool) -> None:
        raise ConfigParseError("xml", f"entity reference &{name}; cannot be resolved: bundlekit loads no DTD "
                                      "(XML from a package is untrusted)", parser.CurrentLineNumber,
                               parser.CurrentColumnNumber + 1)

    parser.StartDoctypeDeclHandler = doctype
    parser.EndDoctypeDeclHandler = doctype
    parser.SkippedEntityHandler = skipped
    parser.StartElementHandler = start
    parser.EndElementHandler = finish
    parser.CommentHandler = comment
    parser.ProcessingInstructionHandler = instruction
    try:
        parser.Parse(data, True)
    except expat.ExpatError as error:
        raise ConfigParseError("xml", expat.ErrorString(error.code), error.lineno, error.offset + 1) from None
    return spans


def _escape(value: str, quote: str = "") -> str:
    out = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if quote:
        out = out.replace(quote, "&quot;" if quote == '"' else "&apos;")
    return out


def _is_fragment(value: str) -> bool:
    parser = expat.ParserCreate()
    try:
        parser.Parse(f"<r>{value}</r>", True)
    except expat.ExpatError:
        return False
    return True


class _Prolog(Exception):
    """Raised by the prolog scan: at an entity declaration (``at``: a byte offset in it), or at the root."""

    def __init__(self, at: int = -1) -> None:
        super().__init__()
        self.at = at


def _refuse_entity_declarations(body: str) -> None:
    """Raise :class:`ConfigParseError` when the document type declares an entity (general or
    parameter, internal or external). expat reads the prolog as the grammar says and stops at
    the root element, before any entity could be expanded; a syntax error is left for lxml to
    report with its own position."""
    data = body.encode("utf-8")
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def declared(*_args: object) -> None:
        raise _Prolog(parser.CurrentByteIndex)

    def root(*_args: object) -> None:
        raise _Prolog()

    parser.EntityDeclHandler = declared
    parser.UnparsedEntityDeclHandler = declared
    parser.StartElementHandler = root
    try:
        parser.Parse(data, True)
    except _Prolog as stop:
        if stop.at >= 0:  # expat stands inside the declaration; name where it starts
            before = data[:data.rfind(b"<!", 0, stop.at + 1)].decode("utf-8")
            raise ConfigParseError("xml", "the document type declares entities, which bundlekit does not expand "
                                          "(XML from a package is untrusted)", before.count("\n") + 1,
                                   len(before) - before.rfind("\n")) from None
    except expat.ExpatError:
        pass


def _parse(text: str) -> tuple[etree._ElementTree, str]:
    """The lxml tree and the text with any XML declaration blanked (same length)."""
    declaration = _DECLARATION.match(text)
    if declaration is None and (late := _LATE_DECLARATION.match(text)) is not None:
        before = text[:late.start(1)]
        raise ConfigParseError("xml", "the XML declaration (<?xml ...?>) must be the very first thing in the file; "
                                      "remove what comes before it", before.count("\n") + 1,
                               len(before) - before.rfind("\n"))
    body = text if declaration is None else " " * declaration.end() + text[declaration.end():]
    _refuse_entity_declarations(body)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=False,
                             remove_comments=False, remove_pis=False, strip_cdata=False, huge_tree=False)
    try:
        root = etree.fromstring(body.lstrip(), parser)
    except etree.XMLSyntaxError as error:
        line, column = error.position if error.position else (0, 0)
        raise ConfigParseError("xml", error.msg or "syntax error", line, column) from None
    except ValueError as error:  # lxml refuses some text before parsing it; never a traceback
        raise ConfigParseError("xml", str(error)) from None
    return root.getroottree(), body


def _namespaces(declarations: list[tuple[str, str]], warnings: list[str]) -> dict[str, str]:
    """Prefix -> namespace for XPath: each prefix as first declared in document order (Octopus's
    rule); a prefix declared again for another namespace adds one warning. ``declarations`` are
    the ``xmlns:prefix`` attributes as the start tags write them, so the work is linear in them
    (reading every element's in-scope namespaces was elements x declarations)."""
    found: dict[str, str] = {}
    warned: set[str] = set()
    for prefix, uri in declarations:
        if found.setdefault(prefix, uri) != uri and prefix not in warned:
            warned.add(prefix)
            warnings.append(f"the prefix '{prefix}:' is declared for {found[prefix]} and again for {uri}; "
                            f"an XPath's '{prefix}:' means {found[prefix]}: give each namespace its own prefix")
    return found


def _adjacent_cost(tree: etree._ElementTree) -> tuple[int, int]:
    """``(sum of squares, longest)`` of the runs of sibling nodes with no element between them
    (comments, processing instructions, text). libxml2 puts an XPath's selection in document
    order by walking from each such node back to the nearest element, so sorting a run of n of
    them costs about n * n steps (decision 646)."""
    cost = longest = 0
    parents: list[etree._Element | None] = [None, *tree.iter(etree.Element)]
    for parent in parents:
        run = 1 if parent is not None and parent.text else 0
        children = parent if parent is not None else list(tree.getroot().itersiblings(preceding=True)) + \
            [tree.getroot()] + list(tree.getroot().itersiblings())
        for child in children:
            if isinstance(child.tag, str) and (parent is not None or child is tree.getroot()):
                cost, longest, run = cost + run * run, max(longest, run), 0
            else:
                run += 1
            if parent is not None and child.tail:
                run += 1
        cost, longest = cost + run * run, max(longest, run)
    return cost, longest


def apply_xml(text: str, variables: Mapping[str, str]) -> ConfigEdit:
    """Replace what each XPath-named variable selects; see the module docstring."""
    tree, body = _parse(text)
    spans = _spans(body)
    elements = [e for e in tree.iter() if isinstance(e.tag, str)]
    top = list(tree.getroot().itersiblings(preceding=True))[::-1] + [tree.getroot()] + \
        list(tree.getroot().itersiblings())
    ordered = [n for t in top for n in (t.iter() if isinstance(t.tag, str) else [t])]
    comments = [n for n in ordered if isinstance(n, etree._Comment)]
    instructions = [n for n in ordered if isinstance(n, etree._ProcessingInstruction)]
    if len(elements) != len(spans.elements) or len(comments) != len(spans.comments) \
            or len(instructions) != len(spans.instructions):
        raise ConfigParseError("xml", "the document's entities add markup, which bundlekit does not expand")
    # Node -> its place in document order, so finding a node's span is one look-up (a file
    # of many comments, each replaced, stays linear).
    index = {id(e): i for i, e in enumerate(elements)}
    comment_index = {id(c): i for i, c in enumerate(comments)}
    instruction_index = {id(p): i for i, p in enumerate(instructions)}
    warnings: list[str] = []
    namespaces = _namespaces(spans.declarations, warnings)
    edits: list[tuple[int, int, str, str, str]] = []  # (start, end, new text, variable, where)
    if any(not is_reserved(name) and ("/" in name or ":" in name) for name in variables):
        cost, longest = _adjacent_cost(tree)
        if cost > _ORDER_BUDGET:
            raise ConfigParseError("xml", f"up to {longest} comments, processing instructions and texts follow each "
                                          "other with no element between them, too many for an XPath to select "
                                          "among them in reasonable time; join adjacent comments into one, or put "
                                          "elements between them")
    for name, value in variables.items():
        if is_reserved(name) or ("/" not in name and ":" not in name):
            continue
        try:
            selected = tree.xpath(name, namespaces=namespaces)
        except (etree.XPathError, TypeError, ValueError):
            continue
        if not isinstance(selected, list):
            continue
        if not selected and "/" in name and None in tree.getroot().nsmap and "local-name(" not in name:
            warnings.append(f"{name}: selects nothing; this document's elements are in the default namespace "
                            f"{tree.getroot().nsmap[None]}, where an unprefixed XPath name matches nothing (as in "
                            "Octopus): write each step as *[local-name()='name']")
        bad = _NOT_XML_CHAR.search(value)
        if bad is not None and selected:  # decision 645: kept, with a warning, as a value that is no fragment
            warnings.append(f"{name}: the value holds the character U+{ord(bad.group()):04X}, which XML cannot hold "
                            "(not even as a character reference), so what it selects was kept as it was")
            continue
        for node in selected:
            change = _edit(text, node, value, spans, index, comment_index, instruction_index, warnings, name)
            if change is not None:
                edits.append((*change, name, name))
    edits.sort(key=lambda e: (e[0], -e[1]))
    kept: list[tuple[int, int, str, str, str]] = []
    for edit in edits:
        if kept and edit[0] < kept[-1][1]:
            continue  # inside a node another variable already replaced whole
        kept.append(edit)
    if not kept:
        return ConfigEdit(None, (), tuple(warnings))
    out, last = [], 0
    for start, end, new, _, _ in kept:
        out.append(text[last:start])
        out.append(new)
        last = end
    out.append(text[last:])
    seen: dict[str, str] = {}
    for _, _, _, name, where in kept:
        seen.setdefault(name, where)
    return ConfigEdit("".join(out), tuple(seen.items()), tuple(warnings))


def _comment_text(value: str) -> str:
    """``value`` as a comment's text: XML forbids ``--`` inside a comment and a ``-`` just before
    its closing ``-->``, so a space goes between two hyphens and after a last one (decision 645)."""
    spaced = re.sub(r"-(?=-)", "- ", value)
    return spaced + " " if spaced.endswith("-") else spaced


def _edit(text: str, node: object, value: str, spans: _Spans, index: dict[int, int], comments: dict[int, int],
          instructions: dict[int, int], warnings: list[str], name: str) -> tuple[int, int, str] | None:
    if isinstance(node, etree._Comment):
        begin, end = spans.comments[comments[id(node)]]
        return begin + 4, end - 3, _comment_text(value)
    if isinstance(node, etree._ProcessingInstruction):
        begin, end = spans.instructions[instructions[id(node)]]
        head = re.match(r"<\?\S+\s*", text[begin:end])
        return begin + (head.end() if head else 2), end - 2, value.replace("?>", "? >")
    if isinstance(node, etree._Element):
        return _element_edit(text, spans.elements[index[id(node)]], node, value, warnings, name)
    parent = getattr(node, "getparent", lambda: None)()
    if parent is None or id(parent) not in index:
        return None
    begin, tag_end, content_end, _ = spans.elements[index[id(parent)]]
    if getattr(node, "is_attribute", False):
        wanted = str(getattr(node, "attrname"))  # "{uri}local", or "local" for no namespace
        tag = text[begin:tag_end]
        for m in re.finditer(r"([\w.:-]+)\s*=\s*(['\"])(.*?)\2", tag, re.S):
            if _expanded(m.group(1), parent) == wanted:
                return begin + m.start(3), begin + m.end(3), _escape(value, m.group(2))
        return None
    if getattr(node, "is_text", False) and len(parent) == 0:
        return _element_edit(text, spans.elements[index[id(parent)]], parent, value, warnings, name)
    return None  # text between child elements: not supported, left as it is


def _expanded(written: str, element: etree._Element) -> str | None:
    """The expanded name of the attribute written ``written`` on ``element`` (None for a namespace
    declaration): an unprefixed attribute is in no namespace, a prefixed one in its prefix's."""
    prefix, colon, local = written.rpartition(":")
    if not colon:
        return None if written == "xmlns" else written
    if prefix == "xmlns":
        return None
    uri = _XML_NAMESPACE if prefix == "xml" else element.nsmap.get(prefix)
    return f"{{{uri}}}{local}" if uri is not None else None


def _element_edit(text: str, span: tuple[int, int, int, int], element: etree._Element, value: str,
                  warnings: list[str], name: str) -> tuple[int, int, str] | None:
    begin, tag_end, content_end, end = span
    content = text[tag_end:content_end]
    if len(element) > 0 and not all(isinstance(c, (etree._Comment, etree._ProcessingInstruction)) for c in element):
        if not _is_fragment(value):
            warnings.append(f"{name}: the value is not an XML fragment, so the element's content was kept")
            return None
        return tag_end, content_end, value
    if content.strip().startswith("<![CDATA[") and content.strip().endswith("]]>"):
        inner = value.replace("]]>", "]]]]><![CDATA[>")
        lead = content[: len(content) - len(content.lstrip())]
        trail = content[len(content.rstrip()):]
        return tag_end, content_end, f"{lead}<![CDATA[{inner}]]>{trail}"
    if text[tag_end - 2 : tag_end] == "/>":  # <x/> becomes <x>value</x>
        tag_name = re.match(r"<([^\s/>]+)", text[begin:tag_end])
        assert tag_name is not None
        return tag_end - 2, tag_end, f">{_escape(value)}</{tag_name.group(1)}>"
    return tag_end, content_end, _escape(value)
