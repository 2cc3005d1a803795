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


def columns(table: Node) -> list[tuple[str, str] | None]:
    """A grid table's columns in order: (zone, environment) from its header cells' hooks, None
    for the corner (the column of project names)."""
    heads = table.by_tag("thead")[0].by_tag("th")
    return [(th.attrs["data-zone"] or "", th.attrs["data-environment"] or "") if "data-environment" in th.attrs
            else None for th in heads]


def _children(tr: Node) -> list[Node]:
    return [c for c in tr.children if isinstance(c, Node) and c.tag in ("th", "td")]


def all_cells(doc: Node) -> dict[tuple[str, str | None, str, str], Node]:
    """Every grid cell keyed by (project slug, tenant or None, zone, environment), found the way
    README tells scripts to: in each zone's table, a row by its ``data-project`` (and
    ``data-tenant``), a column by its header's ``data-zone`` and ``data-environment``, and the
    cell at the header's index among the row's cells."""
    out: dict[tuple[str, str | None, str, str], Node] = {}
    for table in doc.by_class("grid"):
        cols = columns(table)
        for tr in table.by_tag("tr"):
            if "data-project" not in tr.attrs:
                continue
            cells = _children(tr)
            assert len(cells) == len(cols), f"a row of {len(cells)} cells under {len(cols)} headers"
            for col, cell in zip(cols, cells):
                if col is None:
                    assert cell.tag == "th"
                    continue
                assert cell.tag == "td"
                key = (tr.attrs["data-project"] or "", tr.attrs.get("data-tenant"), *col)
                assert key not in out, f"two grid cells for {key}"
                out[key] = cell
    return out


def find_cell(doc: Node, project: str, zone: str, environment: str, tenant: str | None = None) -> Node:
    """The grid cell of ``project`` (slug) in ``zone`` and ``environment`` (``tenant``: a tenant's row)."""
    return all_cells(doc)[(project, tenant, zone, environment)]


def grid_cells(doc: Node) -> dict[tuple[str, str, str], Node]:
    """Grid cells of untenanted rows keyed by (project slug, zone, environment)."""
    return {(p, z, e): n for (p, t, z, e), n in all_cells(doc).items() if t is None}


def tenant_cells(doc: Node) -> dict[tuple[str, str, str, str], Node]:
    """Grid cells of tenants' rows keyed by (project slug, tenant, zone, environment)."""
    return {(p, t, z, e): n for (p, t, z, e), n in all_cells(doc).items() if t is not None}


def release(cell: Node) -> str | None:
    """The release a cell shows (its ``<b>``), None when nothing was deployed there."""
    found = cell.by_tag("b")
    assert len(found) <= 1
    return found[0].text() if found else None


def line(cell: Node) -> str:
    """The cell's own text, not that of its elements (inside its link when it has one): the state
    as a word, then, after a comma, the age (``Succeeded, 2d ago``)."""
    own = [c for c in cell.children if isinstance(c, str)]
    for a in (c for c in cell.children if isinstance(c, Node) and c.tag == "a"):
        own.extend(c for c in a.children if isinstance(c, str))
    return "".join(own).strip()


def age(cell: Node) -> str:
    """The age in a cell's line (``2d ago``, ``exported 3h ago``)."""
    return line(cell).partition(", ")[2]


def earlier_failures(cell: Node) -> list[str]:
    """A cell's earlier failures as written (``2.4.0 partial``), newest first."""
    return [li.text() for li in cell.by_tag("li")]
