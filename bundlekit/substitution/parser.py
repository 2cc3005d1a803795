"""Template text -> syntax tree (Octostache grammar), with an optional recovering mode.

Grammar (normative text in ``spec/substitution.md``)::

    template   = { text | token }
    token      = "#{" ( if-block | each-block | calc | expr ) "}"
    if-block   = "if" WS cond "}" template { "#{elseif" WS cond "}" template }
                 ["#{else}" template] "#{/if}"
               | "unless" WS cond "}" template ["#{else}" template] "#{/unless}"
    each-block = "each" WS name WS "in" WS symbol "}" template "#{/each}"
    calc       = "calc" WS sum
    cond       = operand [ ("==" | "!=") operand ]
    operand    = '"' chars '"' | '\\"' chars '\\"' | expr
    expr       = [symbol] { "|" filter { option } }
    symbol     = ident { "." ident | "[" index "]" }
    option     = bare-word | '"' chars '"' | '\\"' chars '\\"' | token

Text rules (Octostache's): ``##{`` is a literal ``#{``; ``##`` right before ``#{`` is one
``#``; any other ``#`` is text. Strict parsing raises :class:`ParseFailure` at the first
error; recovering parsing (``recover=True``) leaves a top-level token that does not parse
as literal text and carries on, as Octostache does with ``haltOnError: false``.
"""

from __future__ import annotations

from bundlekit.substitution.syntax import (
    Calc,
    CalcOp,
    CalcTerm,
    Cond,
    Each,
    Expr,
    Filter,
    Ident,
    If,
    Index,
    Literal,
    Nested,
    Node,
    Num,
    Operand,
    Option,
    Step,
    Subst,
    Symbol,
    Text,
)

__all__ = ["ParseFailure", "parse_template", "parse_name", "MAX_NESTING"]

_BRACES = ("'{' or '}' inside '[...]': a '}' ends the token, so a name in brackets cannot contain braces "
           "(a step named with '{' or '}' cannot be read as Octopus.Action[...]); rename it without them")

MAX_NESTING = 100  # blocks and nested tokens; deeper is refused, never a RecursionError
_IDENT_EXTRA = frozenset("_-:/~()@")
_CLOSERS = ("else", "/if", "/unless", "/each")


class ParseFailure(Exception):
    """Internal: the text does not follow the grammar. ``pos`` is where it went wrong (for a token
    left as text, where that token began); ``failed`` is where it went wrong in every case."""

    def __init__(self, pos: int, reason: str, failed: int | None = None) -> None:
        super().__init__(reason)
        self.pos, self.reason, self.failed = pos, reason, pos if failed is None else failed


def _ident_char(c: str, allow_ws: bool) -> bool:
    return c.isalnum() or c in _IDENT_EXTRA or (allow_ws and c.isspace())


def parse_template(
    text: str, *, recover: bool = False, skipped: list[ParseFailure] | None = None
) -> tuple[Node, ...]:
    """Parse a whole template. Raises ParseFailure unless ``recover``; when recovering,
    each token left as text is appended to ``skipped`` (if given)."""
    parser = _Parser(text)
    parser.skipped = skipped if skipped is not None else []
    return parser.template(recover)


def parse_name(name: str) -> tuple[tuple[str, str], ...] | None:
    """A variable name as path steps (("i", ident) / ("x", index)), or None if it is not a path.

    Names that are not paths (say ``a$b``) are still stored, but no template can refer to them.
    """
    p = _Parser(name)
    try:
        p.ws()
        sym = p.symbol()
        p.ws()
    except ParseFailure:
        return None
    if p.pos != len(name):
        return None
    steps: list[tuple[str, str]] = []
    for step in sym.steps:
        if isinstance(step, Ident):
            steps.append(("i", step.text))
        else:
            key = step.literal
            if key is None:
                return None
            steps.append(("x", key))
    return tuple(steps)


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.n = len(text)
        self.pos = 0
        self.depth = 0
        self.skipped: list[ParseFailure] = []

    # -- helpers ---------------------------------------------------------------------
    def peek(self) -> str | None:
        return self.s[self.pos] if self.pos < self.n else None

    def ws(self) -> None:
        while self.pos < self.n and self.s[self.pos].isspace():
            self.pos += 1

    def expect(self, ch: str, opener: int, what: str) -> None:
        if self.peek() != ch:
            found = "end of text" if self.pos >= self.n else repr(self.s[self.pos])
            raise ParseFailure(self.pos if self.pos < self.n else opener, f"expected '{ch}' {what}, found {found}")
        self.pos += 1

    def _enter(self, at: int) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ParseFailure(at, f"nesting deeper than {MAX_NESTING} levels")

    # -- text level -------------------------------------------------------------------
    def template(self, recover: bool) -> tuple[Node, ...]:
        nodes, _ = self.block(frozenset(), recover, 0)
        return tuple(nodes)

    def closer_at(self, i: int, closers: frozenset[str] = frozenset()) -> tuple[str, int] | None:
        """If a closing tag (#{else}, #{/if}, ...) starts at i: its name and end offset.

        ``#{elseif X}`` counts only where an ``#{if}`` can take it (``"elseif"`` in
        ``closers``); its end offset is where the condition starts. Elsewhere it is a token.
        """
        j = i + 2
        while j < self.n and self.s[j].isspace():
            j += 1
        if "elseif" in closers and self.s[j : j + 6].lower() == "elseif" and j + 6 < self.n \
                and self.s[j + 6].isspace():
            return "elseif", j + 6
        for tag in _CLOSERS:
            if self.s[j : j + len(tag)].lower() == tag:
                k = j + len(tag)
                while k < self.n and self.s[k].isspace():
                    k += 1
                if k < self.n and self.s[k] == "}":
                    return tag, k + 1
        return None

    def block(self, closers: frozenset[str], recover: bool, opener: int) -> tuple[list[Node], str | None]:
        s = self.s
        nodes_typed: list[Node] = []
        buf: list[str] = []

        def flush() -> None:
            if buf:
                nodes_typed.append(Text("".join(buf)))
                buf.clear()

        while self.pos < self.n:
            i = self.pos
            if s[i] != "#":
                j = s.find("#", i)
                j = self.n if j < 0 else j
                buf.append(s[i:j])
                self.pos = j
                continue
            if i + 1 >= self.n:
                buf.append("#")
                self.pos += 1
            elif s.startswith("##", i) and s.startswith("#{", i + 2):
                buf.append("#")
                self.pos += 2
            elif s.startswith("##{", i):
                buf.append("#{")
                self.pos += 3
            elif s[i + 1] != "{":
                buf.append(s[i : i + 2])
                self.pos += 2
            else:
                tag = self.closer_at(i, closers)
                if tag is not None:
                    name, end = tag
                    if name in closers:
                        flush()
                        self.pos = end
                        return nodes_typed, name
                    if recover:
                        self.skipped.append(ParseFailure(i, f"'#{{{name}}}' has no matching opening block"))
                        buf.append("#{")
                        self.pos = i + 2
                        continue
                    if closers:
                        expected = " or ".join(f"#{{{c}}}" for c in sorted(closers))
                        raise ParseFailure(i, f"'#{{{name}}}' does not close the open block (expected {expected})")
                    raise ParseFailure(i, f"'#{{{name}}}' has no matching opening block")
                if recover:
                    try:
                        node = self.token()
                    except ParseFailure as failure:
                        self.skipped.append(ParseFailure(i, failure.reason, failure.pos))
                        self.depth = 0
                        buf.append("#{")
                        self.pos = i + 2
                        continue
                else:
                    node = self.token()
                flush()
                nodes_typed.append(node)
        if closers:
            want = " or ".join(f"#{{{c}}}" for c in sorted(c for c in closers if c != "else"))
            raise ParseFailure(opener, f"block is never closed (expected {want})")
        flush()
        return nodes_typed, None

    # -- tokens -----------------------------------------------------------------------
    def _bad_closer(self, start: int) -> str:
        """Why the ``#{/`` at ``start`` is no closing tag: a known one without its ``}``
        (``#{/if`` at the end of the text, or followed by other text), or an unknown name."""
        j = start + 3
        while j < self.n and self.s[j].isspace():
            j += 1
        for tag in ("if", "unless", "each"):
            k = j + len(tag)
            if self.s[j:k].lower() == tag and (k >= self.n or not _ident_char(self.s[k], False)):
                return f"unterminated closing tag '#{{/{self.s[j:k]}' (expected '}}' right after it)"
        return "unknown closing tag (expected #{/if}, #{/unless} or #{/each})"

    def token(self) -> Node:
        start = self.pos
        self._enter(start)
        try:
            self.pos += 2
            if self.peek() == "/":  # "#{/" only ever starts a closing tag
                raise ParseFailure(start, self._bad_closer(start))
            after_delim = self.pos
            self.ws()
            kw = self.keyword()
            if kw in ("if", "unless"):
                return self.conditional(start, kw)
            if kw == "each":
                return self.each(start)
            if kw == "calc":
                return self.calc(start)
            self.pos = after_delim
            expr = self.expression(start)
            self.ws()
            self.expect("}", start, "to close '#{'")
            return Subst(expr, self.s[start : self.pos], start)
        finally:
            self.depth -= 1

    def keyword(self) -> str | None:
        for kw in ("if", "unless", "each", "calc"):
            end = self.pos + len(kw)
            if self.s[self.pos : end].lower() == kw and end < self.n and self.s[end].isspace():
                self.pos = end
                self.ws()
                return kw
        return None

    def conditional(self, start: int, kw: str) -> If:
        cond = self.condition(start, kw)
        closer = "/" + kw
        # #{elseif} belongs to #{if} only: #{unless} would make a chain's meaning ambiguous (Octostache).
        closers = frozenset({"else", closer, "elseif"} if kw == "if" else {"else", closer})
        then, tag = self.block(closers, False, start)
        chain: list[tuple[Cond, list[Node], int]] = []
        while tag == "elseif":
            at = self.pos
            self.ws()
            clause = self.condition(start, "elseif")
            body, tag = self.block(closers, False, start)
            chain.append((clause, body, at))
        otherwise: tuple[Node, ...] = ()
        if tag == "else":
            rest, _ = self.block(frozenset({closer}), False, start)
            otherwise = tuple(rest)
        source = self.s[start : self.pos]
        for clause, body, at in reversed(chain):  # an elseif chain is nested ifs in the else branches
            otherwise = (If(clause, False, tuple(body), otherwise, at, source),)
        return If(cond, kw == "unless", tuple(then), otherwise, start, source)

    def condition(self, start: int, kw: str) -> Cond:
        """``operand [== | != operand]`` up to and including the closing ``}``."""
        left = self.operand(start)
        self.ws()
        op: str | None = None
        right: Operand | None = None
        if self.s.startswith("==", self.pos) or self.s.startswith("!=", self.pos):
            op = self.s[self.pos : self.pos + 2]
            self.pos += 2
            self.ws()
            right = self.operand(start)
            self.ws()
        self.expect("}", start, f"to close '#{{{kw} ...'")
        return Cond(left, op, right)

    def operand(self, start: int) -> Operand:
        if self.s.startswith('\\"', self.pos):
            return self.escaped_quoted()
        if self.peek() == '"':
            return self.quoted()
        return self.expression(start, in_condition=True)

    def each(self, start: int) -> Each:
        name_at = self.pos
        var = self.word()
        if not var:
            raise ParseFailure(name_at, "expected an item name after 'each'")
        mark = self.pos
        self.ws()
        if self.pos == mark or self.s[self.pos : self.pos + 2].lower() != "in" or not (
            self.pos + 2 < self.n and self.s[self.pos + 2].isspace()
        ):
            raise ParseFailure(self.pos, "expected 'in' in '#{each item in Collection}'")
        self.pos += 2
        self.ws()
        coll = self.symbol()
        self.ws()
        self.expect("}", start, "to close '#{each ...'")
        body, _ = self.block(frozenset({"/each"}), False, start)
        return Each(var, coll, tuple(body), start)

    # -- expressions ------------------------------------------------------------------
    def expression(self, start: int, in_condition: bool = False) -> Expr:
        self.ws()
        head = None if self.peek() == "|" else self.symbol()
        self.ws()
        filters: list[Filter] = []
        while self.peek() == "|":
            fpos = self.pos
            self.pos += 1
            self.ws()
            name = self.word()
            if not name:
                raise ParseFailure(self.pos, "expected a filter name after '|'")
            filters.append(Filter(name, tuple(self.options(start, in_condition)), fpos))
        return Expr(head, tuple(filters))

    def options(self, start: int, in_condition: bool = False) -> list[Option]:
        out: list[Option] = []
        while True:
            self.ws()
            c = self.peek()
            if c is None:
                raise ParseFailure(start, "unterminated '#{' (expected '}')")
            if c in "|}":
                return out
            if in_condition and (self.s.startswith("==", self.pos) or self.s.startswith("!=", self.pos)):
                return out  # the comparison of a condition ends the filter's options
            if self.s.startswith("#{", self.pos):
                out.append(Nested(self.token()))
            elif self.s.startswith('\\"', self.pos):
                out.append(Literal(self.escaped_quoted()))
            elif c == '"':
                out.append(Literal(self.quoted()))
            else:
                out.append(Literal(self.bare()))

    def bare(self) -> str:
        i = self.pos
        while i < self.n:
            c = self.s[i]
            if c.isspace() or c in '|}"' or self.s.startswith("#{", i):
                break
            i += 1
        word, self.pos = self.s[self.pos : i], i
        return word

    def quoted(self) -> str:
        open_at = self.pos
        end = self.s.find('"', self.pos + 1)
        if end < 0:
            raise ParseFailure(open_at, "unterminated quoted text (missing '\"')")
        text, self.pos = self.s[self.pos + 1 : end], end + 1
        return text

    def escaped_quoted(self) -> str:
        open_at = self.pos
        end = self.s.find('\\"', self.pos + 2)
        if end < 0:
            raise ParseFailure(open_at, "unterminated quoted text (missing '\\\"')")
        text, self.pos = self.s[self.pos + 2 : end], end + 2
        return text

    def word(self) -> str:
        i = self.pos
        while i < self.n and _ident_char(self.s[i], False):
            i += 1
        word, self.pos = self.s[self.pos : i], i
        return word

    def ident(self) -> str:
        at = self.pos
        i = self.pos
        while i < self.n and _ident_char(self.s[i], True):
            i += 1
        text = self.s[self.pos : i].strip()
        self.pos = i
        if not text:
            found = "end of text" if i >= self.n else repr(self.s[i])
            raise ParseFailure(at, f"expected a variable name, found {found}")
        return text

    # -- #{calc} ------------------------------------------------------------------------
    def calc(self, start: int) -> Calc:
        expr = self.calc_sum()
        self.ws()
        self.expect("}", start, "to close '#{calc ...'")
        return Calc(expr, self.s[start : self.pos], start)

    def calc_sum(self) -> CalcTerm:
        left = self.calc_product()
        while True:
            self.ws()
            c = self.peek()
            if c not in ("+", "-"):
                return left
            self.pos += 1
            left = CalcOp(left, c, self.calc_product())

    def calc_product(self) -> CalcTerm:
        left = self.calc_factor()
        while True:
            self.ws()
            c = self.peek()
            if c not in ("*", "/"):
                return left
            self.pos += 1
            left = CalcOp(left, c, self.calc_factor())

    def calc_factor(self) -> CalcTerm:
        self.ws()
        c = self.peek()
        if c == "(":
            self.pos += 1
            inner = self.calc_sum()
            self.ws()
            self.expect(")", self.pos, "to close '(' in '#{calc ...'")
            return inner
        if c is not None and c.isdigit():
            i = self.pos
            while i < self.n and self.s[i].isdigit():
                i += 1
            if i + 1 < self.n and self.s[i] == "." and self.s[i + 1].isdigit():
                i += 1
                while i < self.n and self.s[i].isdigit():
                    i += 1
            number, self.pos = float(self.s[self.pos : i]), i
            return Num(number)
        if c == "{":  # {Name}: a name that contains '-' or '/' and would read as an operator
            self.pos += 1
            self.ws()
            sym = self.symbol()
            self.ws()
            self.expect("}", self.pos, "to close '{' around a name in '#{calc ...'")
            return sym
        return self.symbol()

    def symbol(self) -> Symbol:
        at = self.pos
        steps: list[Step] = [Ident(self.ident())]
        while True:
            c = self.peek()
            if c == ".":
                self.pos += 1
                steps.append(Ident(self.ident()))
            elif c == "[":
                steps.append(self.index())
            else:
                return Symbol(tuple(steps), at)

    def index(self) -> Index:
        open_at = self.pos
        self.pos += 1
        parts: list[str | Expr] = []
        buf: list[str] = []
        depth = 0
        brace_at = -1  # a '{' of the name itself: the '}' that closes it ends the token instead
        while True:
            if self.pos >= self.n:
                raise ParseFailure(open_at, "unterminated '[' (missing ']')")
            c = self.s[self.pos]
            if self.s.startswith("#{", self.pos):
                if buf:
                    parts.append("".join(buf))
                    buf.clear()
                node = self.token()
                if not isinstance(node, Subst):
                    raise ParseFailure(self.pos, "only '#{Name}' substitutions may appear inside '[...]'")
                parts.append(node.expr)
                continue
            if c == "}":
                raise ParseFailure(brace_at, _BRACES) if brace_at >= 0 else \
                    ParseFailure(open_at, "unterminated '[' (missing ']')")
            brace_at = self.pos if c == "{" and brace_at < 0 else brace_at
            if c == "[":
                depth += 1
            elif c == "]":
                if depth == 0:
                    self.pos += 1
                    break
                depth -= 1
            buf.append(c)
            self.pos += 1
        if buf:
            parts.append("".join(buf))
        return Index(tuple(parts))
