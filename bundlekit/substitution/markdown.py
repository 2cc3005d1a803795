"""A small Markdown-to-HTML converter for the ``Markdown`` / ``MarkdownToHtml`` filters.

Octostache uses a full CommonMark library; bundlekit implements the subset release notes
use: ATX headings, paragraphs, ``-``/``*``/``+`` and ``1.`` lists, fenced code blocks,
inline code, ``**strong**``/``__strong__``, ``*em*``/``_em_``, ``~~strike~~``,
``[text](url)`` links, bare ``http(s)://`` autolinks and pipe tables (``|a|b|`` over a
``|-|-|`` delimiter row, as GitHub writes them). Text is HTML-escaped. Output has
one block per line, Markdig style (``<p><em>yeah!</em></p>`` + newline).
"""

from __future__ import annotations

import re

__all__ = ["markdown_to_html"]

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s{0,3}[-*+]\s+(.*)$")
_ORDERED = re.compile(r"^\s{0,3}\d{1,9}[.)]\s+(.*)$")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)\s*([\w+-]*)\s*$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")
_AUTOLINK = re.compile(r"(?<![\w\"'=/])(https?://[^\s<>()\"']+[^\s<>()\"'.,;:!?])")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EM_STAR = re.compile(r"(?<!\*)\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?!\*)")
_EM_UNDER = re.compile(r"(?<![\w_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_TABLE_DELIMITER = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _inline(text: str) -> str:
    # Code spans and links become placeholders first so their content is not re-formatted.
    saved: list[str] = []

    def keep(html: str) -> str:
        saved.append(html)
        return f"\x00{len(saved) - 1}\x00"

    text = _CODE_SPAN.sub(lambda m: keep(f"<code>{_escape(m.group(2).strip())}</code>"), text)
    text = _LINK.sub(lambda m: keep(f'<a href="{_escape(m.group(2))}">{_inline(m.group(1))}</a>'), text)
    text = _AUTOLINK.sub(lambda m: keep(f'<a href="{_escape(m.group(1))}">{_escape(m.group(1))}</a>'), text)
    text = _escape(text)
    text = _STRONG.sub(r"<strong>\2</strong>", text)
    text = _EM_STAR.sub(r"<em>\1</em>", text)
    text = _EM_UNDER.sub(r"<em>\1</em>", text)
    text = _STRIKE.sub(r"<del>\1</del>", text)
    return re.sub("\x00(\\d+)\x00", lambda m: saved[int(m.group(1))], text)


def _cells(line: str) -> list[str]:
    text = line.strip()
    text = text[1:] if text.startswith("|") else text
    text = text[:-1] if text.endswith("|") and not text.endswith("\\|") else text
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", text)]


def _align(cell: str) -> str:
    cell = cell.strip()
    if cell.startswith(":") and cell.endswith(":"):
        return ' style="text-align: center;"'
    if cell.endswith(":"):
        return ' style="text-align: right;"'
    return ' style="text-align: left;"' if cell.startswith(":") else ""


def _table(header: str, delimiter: str, rows: list[str]) -> list[str]:
    """A pipe table as Markdig writes it: one tag per line."""
    aligns = [_align(cell) for cell in _cells(delimiter)]
    width = len(aligns)

    def row(line: str, tag: str) -> list[str]:
        cells = (_cells(line) + [""] * width)[:width]
        return ["<tr>", *(f"<{tag}{aligns[k]}>{_inline(cell)}</{tag}>" for k, cell in enumerate(cells)), "</tr>"]

    out = ["<table>", "<thead>", *row(header, "th"), "</thead>"]
    if rows:
        out += ["<tbody>", *(line for r in rows for line in row(r, "td")), "</tbody>"]
    return out + ["</table>"]


def markdown_to_html(source: str) -> str:
    lines = source.strip().replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []
    list_tag = ""

    def end_para() -> None:
        if para:
            out.append("<p>" + _inline("\n".join(para)) + "</p>")
            para.clear()

    def end_list() -> None:
        nonlocal list_tag
        if items:
            out.append(f"<{list_tag}>")
            out.extend(f"<li>{_inline(item)}</li>" for item in items)
            out.append(f"</{list_tag}>")
            items.clear()
        list_tag = ""

    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            end_para()
            end_list()
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(fence.group(1)):
                body.append(lines[i])
                i += 1
            lang = f' class="language-{fence.group(2)}"' if fence.group(2) else ""
            code = _escape("\n".join(body) + "\n") if body else ""
            out.append(f"<pre><code{lang}>{code}</code></pre>")
            i += 1
            continue
        if "|" in line and not para and i + 1 < len(lines) and _TABLE_DELIMITER.match(lines[i + 1]) \
                and "|" in lines[i + 1] and len(_cells(line)) == len(_cells(lines[i + 1])):
            end_list()
            rows: list[str] = []
            i += 2
            while i < len(lines) and lines[i].strip() and "|" in lines[i]:
                rows.append(lines[i])
                i += 1
            out.extend(_table(line, lines[i - len(rows) - 1], rows))
            continue
        heading = _HEADING.match(line)
        bullet = _BULLET.match(line)
        ordered = _ORDERED.match(line)
        if not line.strip():
            end_para()
            end_list()
        elif heading:
            end_para()
            end_list()
            level = len(heading.group(1))
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif bullet or ordered:
            end_para()
            tag = "ul" if bullet else "ol"
            if list_tag and list_tag != tag:
                end_list()
            list_tag = tag
            match = bullet or ordered
            assert match is not None
            items.append(match.group(1))
        elif items and line.startswith((" ", "\t")):
            items[-1] += "\n" + line.strip()
        else:
            end_list()
            para.append(line.strip())
        i += 1
    end_para()
    end_list()
    return "".join(block + "\n" for block in out)
