"""A tiny DOM for tests: html.parser builds a tree we can query by tag, class and attribute.

Used on our own HTML and on the DOM Chromium dumps after parsing it, so both checks read
the page the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Callable, Iterator

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None] = field(default_factory=dict)
    children: list["Node | str"] = field(default_factory=list)

    def iter(self) -> Iterator["Node"]:
        yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.iter()

    def find_all(self, pred: Callable[["Node"], bool]) -> list["Node"]:
        return [n for n in self.iter() if pred(n)]

    def by_tag(self, tag: str) -> list["Node"]:
        return self.find_all(lambda n: n.tag == tag)

    def by_class(self, cls: str) -> list["Node"]:
        return self.find_all(lambda n: cls in (n.attrs.get("class") or "").split())

    def by_id(self, ident: str) -> "Node | None":
        found = self.find_all(lambda n: n.attrs.get("id") == ident)
        return found[0] if found else None

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    b = _Builder()
    b.feed(html)
    b.close()
    return b.root


def grid_cells(doc: Node) -> dict[tuple[str, str, str], Node]:
    """Grid cells of untenanted rows keyed by (project slug, zone, environment) from their data-* hooks."""
    out: dict[tuple[str, str, str], Node] = {}
    for n in doc.find_all(lambda n: n.tag == "td" and "data-project" in n.attrs and not n.attrs.get("data-tenant")):
        key = (n.attrs["data-project"] or "", n.attrs.get("data-zone") or "", n.attrs.get("data-environment") or "")
        assert key not in out, f"two grid cells for {key}"
        out[key] = n
    return out


def tenant_cells(doc: Node) -> dict[tuple[str, str, str, str], Node]:
    """Grid cells of tenants' rows keyed by (project slug, tenant, zone, environment)."""
    out: dict[tuple[str, str, str, str], Node] = {}
    for n in doc.find_all(lambda n: n.tag == "td" and n.attrs.get("data-tenant")):
        key = (n.attrs["data-project"] or "", n.attrs["data-tenant"] or "", n.attrs.get("data-zone") or "",
               n.attrs.get("data-environment") or "")
        assert key not in out, f"two grid cells for {key}"
        out[key] = n
    return out
