"""Evaluate a parsed template against a :class:`VariableDictionary`.

One :class:`_Evaluator` per call: it resolves names (locals of ``#{each}`` first, then
the dictionary, then inside JSON values), evaluates variable values recursively with
cycle detection, applies filters, and records what it could not resolve; the block
tokens (``#{if}``, ``#{each}``, ``#{calc}``) are evaluated by :mod:`.blocks`. It never
touches the filesystem or the clock (the reference time for ``NowDate`` is passed in).

Allow-missing mode (Octostache's behaviour) leaves a token it cannot evaluate in place
and lists the names in :attr:`RenderResult.missing`; strict mode raises a
:class:`SubstitutionError` naming every one of them after evaluating the whole template.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from bundlekit.substitution import blocks
from bundlekit.substitution import jsonvalues as js
from bundlekit.substitution.errors import (
    CYCLE,
    FILTER_FAILED,
    SYNTAX,
    TOO_DEEP,
    TOO_LARGE,
    UNRESOLVED,
    SubstitutionError,
    line_column,
)
from bundlekit.substitution.filters import FilterFailure, apply_filter
from bundlekit.substitution.items import Item, Scope, Steps, collection_items, indexed_items, is_word
from bundlekit.substitution.parser import ParseFailure, parse_name, parse_template
from bundlekit.substitution.result import ComputedPath, RenderResult, shown_path
from bundlekit.substitution.syntax import Calc, Expr, Ident, If, Literal, Node, Subst, Symbol, Text
from bundlekit.substitution.variables import Key, VariableDictionary, _Entry, path_display, path_key

__all__ = ["RenderResult", "render", "render_strict", "evaluate", "syntax_error"]

MAX_VARIABLE_DEPTH = 48  # a value referring to a value ... this deep is refused, not a RecursionError
MAX_TEXT = 32 * 1024 * 1024  # characters; a template that expands beyond this is refused


class _JsonSelfReference(Exception):
    """Internal: a path into a JSON value leads back to itself; the path is unresolved, not a cycle."""


#: What a failing filter says when its input or an option derives from a sensitive value:
#: a reason would quote the value (an invalid pattern, a non-version) or tell its length.
SECRET_FILTER_REASON = ("cannot be applied; its input or an option derives from a sensitive value, so the "
                        "reason is not shown: check the filter's options and the form of the values it reads")


def syntax_error(text: str, failure: ParseFailure, label: str) -> SubstitutionError:
    line, column = line_column(text, failure.pos)
    return SubstitutionError(
        f"{label}: syntax error at line {line}, column {column}: {failure.reason}. "
        "Fix the template, or write '##{' where a literal '#{' is meant",
        code=SYNTAX,
        details={"line": line, "column": column, "reason": failure.reason},
    )


def render(
    template: str, variables: VariableDictionary, *, allow_missing: bool = True, now: datetime | None = None,
    lenient_syntax: bool | None = None,
) -> RenderResult:
    """Render ``template``. Strict mode (``allow_missing=False``) raises on anything unresolved.

    ``lenient_syntax`` (default: the same as ``allow_missing``) leaves a token that does not
    parse as text, listed in :attr:`RenderResult.skipped`, instead of raising
    ``template_syntax``: what Octopus does in substituted files, where a ``#{`` may belong
    to the file's own language. Raises :class:`SubstitutionError`.
    """
    if not isinstance(template, str):
        raise SubstitutionError(f"a template is text, not {type(template).__name__}", code=SYNTAX)
    lenient = allow_missing if lenient_syntax is None else lenient_syntax
    failures: list[ParseFailure] = []
    try:
        nodes = parse_template(template, recover=lenient, skipped=failures)
    except ParseFailure as failure:
        raise syntax_error(template, failure, "template") from None
    ev = _Evaluator(variables, now)
    for skip in failures:  # at the position strict mode reports, so both modes agree
        line, column = line_column(template, skip.failed)
        message = f"template, line {line}, column {column}: token left as text: {skip.reason}"
        ev.skipped.append(message)
        if allow_missing:
            ev.problems.append(message)
    text = ev.guarded(lambda: ev.run(nodes, template, "template"))
    if not allow_missing:
        ev.raise_if_incomplete()
    return ev.result(text)


def render_strict(template: str, variables: VariableDictionary, *, now: datetime | None = None) -> str:
    """The rendered text; raises SubstitutionError(code="unresolved_variables") naming every missing name."""
    return render(template, variables, allow_missing=False, now=now).text


def evaluate(name: str, variables: VariableDictionary, *, now: datetime | None = None) -> RenderResult:
    """A variable's fully evaluated value (allow-missing semantics; an undefined name gives '')."""
    ev = _Evaluator(variables, now)
    path = parse_name(name) if isinstance(name, str) else None

    def run() -> str:
        if path is None:
            entry = variables._entry_by_name(name)
            if entry is None:
                ev.miss([("r", str(name).strip())])
                return ""
            return ev.value_of(entry, ())
        value = ev.resolve_global(list(path), ())
        if value is js.ABSENT:
            display = path_display(path)
            ev.absent.setdefault(display.casefold(), display)
            return ""
        if not isinstance(value, str):
            ev.miss(list(path))
            return ""
        return value

    return ev.result(ev.guarded(run))


class _Evaluator:
    def __init__(self, variables: VariableDictionary, now: datetime | None) -> None:
        self.vars = variables
        self.now = now
        self.missing: dict[str, str] = {}  # folded name -> name as first written
        self.hidden: dict[str, str] = {}  # name -> how messages show it (parts derived from secrets hidden)
        self.used: set[str] = set()
        self.sensitive = False
        self.secret_reads = 0  # sensitive values read so far (memo hits count theirs again)
        self.inside_secret = 0  # > 0 while the text being evaluated is (part of) a sensitive value
        self.problems: list[str] = []
        self.failed_at: list[tuple[str, int, str]] = []
        self.skipped: list[str] = []
        self.absent: dict[str, str] = {}
        self.failures = 0  # tokens left in place so far; lets a caller see if a nested part failed
        self._stack: list[tuple[Key, str, bool]] = []  # (key, name, read through a JSON value)
        self._where: list[tuple[str, str]] = []
        self._memo: dict[Key, tuple[str, int, int]] = {}
        self._parsed: dict[str, tuple[Node, ...] | None] = {}
        self._raw_json: dict[Key, Any] = {}
        self._json_roots: list[Key] = []  # variables being looked into as JSON, outermost first
        self.looping: dict[str, str] = {}  # JSON paths left unresolved because they lead back to themselves

    # -- bookkeeping ----------------------------------------------------------------------
    def guarded(self, run: Any) -> str:
        try:
            result: str = run()
        except RecursionError:
            raise SubstitutionError(
                "the template nests too deeply to evaluate; flatten nested blocks or variable references",
                code=TOO_DEEP,
            ) from None
        return result

    def result(self, text: str) -> RenderResult:
        looping = tuple(n for n in self.missing.values() if n.casefold() in self.looping)
        return RenderResult(text, tuple(self.missing.values()), frozenset(self.used), self.sensitive,
                            tuple(self.problems), tuple(self.skipped), tuple(self.absent.values()),
                            tuple(self.failed_at), looping, tuple(self.hidden.items()))

    def raise_if_incomplete(self) -> None:
        if self.missing:
            names = [self.hidden.get(n, n) for n in self.missing.values()]
            also = f" Also: {'; '.join(self.problems)}" if self.problems else ""
            looping = [self.hidden.get(n, n) for n in self.missing.values() if n.casefold() in self.looping]
            why = (f"{', '.join(looping)} refer(s) back into the value it is read from, so it can never be resolved: "
                   "make that value refer to other variables. " if looping else "")
            raise SubstitutionError(
                f"{len(names)} variable reference(s) could not be resolved: {', '.join(names)}. {why}"
                f"Define these variables, or allow missing values (as 'bundlekit render --allow-missing' does) "
                f"where leaving the tokens in place is intended.{also}",
                code=UNRESOLVED,
                details=names,
            )
        if self.problems:
            raise SubstitutionError(
                "a filter could not be applied: " + "; ".join(self.problems),
                code=FILTER_FAILED,
                details=list(self.problems),
            )

    def miss(self, steps: Steps) -> None:
        display = path_display(tuple(steps))
        self.missing.setdefault(display.casefold(), display)
        shown = self.shown(steps)
        if shown != display:
            self.hidden[display] = shown
        self.failures += 1

    def shown(self, steps: Steps) -> str:
        """The name ``steps`` for a message (:func:`~bundlekit.substitution.result.shown_path`)."""
        return shown_path(steps)

    def problem(self, pos: int, message: str) -> None:
        label, text = self._where[-1] if self._where else ("template", "")
        line, column = line_column(text, pos)
        self.problems.append(f"{label}, line {line}, column {column}: {message}")
        self.failed_at.append((label, pos, message))
        self.failures += 1

    def touch(self, entry: _Entry) -> None:
        self.used.add(path_display(entry.key))
        if entry.sensitive:
            self.sensitive = True
            self.secret_reads += 1

    # -- nodes -----------------------------------------------------------------------------
    def run(self, nodes: Sequence[Node], text: str, label: str) -> str:
        self._where.append((label, text))
        try:
            return self.nodes(nodes, ())
        finally:
            self._where.pop()

    def nodes(self, nodes: Sequence[Node], scopes: tuple[Scope, ...]) -> str:
        text = "".join([self.node(n, scopes) for n in nodes])
        if len(text) > MAX_TEXT:
            raise SubstitutionError(
                f"rendering expands to more than {MAX_TEXT} characters; check for values that repeat each other",
                code=TOO_LARGE,
            )
        return text

    def node(self, n: Node, scopes: tuple[Scope, ...]) -> str:
        if isinstance(n, Text):
            return n.text
        if isinstance(n, Subst):
            value = self.expr(n.expr, scopes)
            return n.source if value is None else value
        if isinstance(n, If):
            return blocks.conditional(self, n, scopes)
        if isinstance(n, Calc):
            return blocks.calc(self, n, scopes)
        return blocks.each(self, n, scopes)

    def expr(self, expr: Expr, scopes: tuple[Scope, ...]) -> str | None:
        # A filter's input or option is secret when a sensitive value was read to make it; inside
        # #{each} an item may come from one read before the loop, so there any read so far counts.
        # The options written inside a sensitive value are part of it.
        reads = -1 if (scopes and self.sensitive) or self.inside_secret else self.secret_reads
        value: str | None = None
        if expr.head is not None:
            value = self.lookup(expr.head, scopes)
            if value is None:
                return None
        for f in expr.filters:
            options: list[str] = []
            for opt in f.options:
                if isinstance(opt, Literal):
                    options.append(opt.text)
                    continue
                before = self.failures
                text = self.node(opt.node, scopes)
                if self.failures != before:
                    return None  # a nested option could not be evaluated: leave the whole token
                options.append(text)
            try:
                value = apply_filter(f.name, value, options, self.now)
            except FilterFailure as exc:
                secret = reads != self.secret_reads
                self.problem(f.pos, f"filter {f.name}: {SECRET_FILTER_REASON if secret else exc}")
                return None
        return value

    # -- names -----------------------------------------------------------------------------
    def steps(self, symbol: Symbol, scopes: tuple[Scope, ...]) -> Steps | None:
        out = ComputedPath()
        hidden: list[int] = []
        for step in symbol.steps:
            if isinstance(step, Ident):
                out.append(("i", step.text))
                continue
            literal = step.literal
            if literal is not None:
                out.append(("x", literal))
                continue
            pieces: list[str] = []
            # As for a filter's input (decision 640): inside #{each}, any read so far counts.
            reads = -1 if scopes and self.sensitive else self.secret_reads
            for part in step.parts:
                if isinstance(part, str):
                    pieces.append(part)
                    continue
                value = self.expr(part, scopes)
                if value is None:
                    return None
                pieces.append(value)
            if reads != self.secret_reads:
                hidden.append(len(out))
            out.append(("x", "".join(pieces).strip()))
        out.hidden = tuple(hidden)
        return out

    def lookup(self, symbol: Symbol, scopes: tuple[Scope, ...]) -> str | None:
        """A name written for output: unresolved -> recorded (JSON gaps render as '')."""
        steps = self.steps(symbol, scopes)
        if steps is None:
            return None
        found = self.resolve(steps, scopes)
        if found is js.ABSENT:  # a member a JSON value does not have renders empty, as in Octostache
            display = path_display(tuple(steps))
            if self.shown(steps) != display:
                self.hidden[display] = self.shown(steps)
            self.absent.setdefault(display.casefold(), display)
            return ""
        if found is None:
            self.miss(steps)
            return None
        return str(found)

    def test_value(self, symbol: Symbol, scopes: tuple[Scope, ...]) -> str:
        """A name in a condition: undefined is '' (false), not an error."""
        steps = self.steps(symbol, scopes)
        if steps is None:
            return ""
        found = self.resolve(steps, scopes)
        return found if isinstance(found, str) else ""

    def resolve(self, steps: Steps, scopes: tuple[Scope, ...]) -> Any:
        key = path_key(tuple(steps))
        for scope in reversed(scopes):
            if key in scope.specials:
                return scope.specials[key]
            if is_word(steps[0], scope.var):
                found = scope.item.value(self, steps[1:], scopes)
                if found is not None:
                    return found
        return self.resolve_global(steps, scopes)

    def resolve_global(self, steps: Steps, scopes: tuple[Scope, ...]) -> Any:
        """str, None (undefined) or js.ABSENT (inside a JSON value, but no such member)."""
        key = path_key(tuple(steps))
        self.used.add(path_display(key))
        entry = self.vars._entry(key)
        if entry is not None:
            return self.value_of(entry, scopes)
        for j, (kind, text) in enumerate(steps):
            if kind == "x" and text == "*":  # Octostache's wildcard: the first member
                members = self.vars._members(key[:j])
                if members:
                    return self.resolve_global([*steps[:j], ("x", members[0][1]), *steps[j + 1 :]], scopes)
                break
        for k in range(len(steps) - 1, 0, -1):
            root = self.vars._entry(key[:k])
            if root is None:
                continue
            self._json_roots.append(root.key)
            self.inside_secret += root.sensitive  # a member's template is part of the value
            try:
                found = self.json_of(root, scopes)
                if found is None:
                    continue
                data, evaluated = found
                read_at: list[int] = []  # a string member read as JSON in turn is evaluated first, once

                def read(text: str, depth: int) -> str:
                    if evaluated or read_at:
                        return text
                    read_at.append(k + depth)
                    inner = tuple(steps[: k + depth])
                    return self.eval_text(text, path_key(inner), path_display(inner), scopes, via_json=True)

                before = self.failures
                node = js.walk(data, [text for _, text in steps[k:]], read)
                if node is js.UNRESOLVED or (read_at and self.failures != before):
                    return None  # the path cannot be followed (or a string read as JSON failed): unresolved
                if node is js.ABSENT:
                    return js.ABSENT
                text = js.to_text(node)
                if evaluated or read_at:
                    return text
                return self.eval_text(text, key, path_display(tuple(steps)), scopes, via_json=True)
            except _JsonSelfReference:  # the path leads back into itself: unresolved, as in Octostache
                display = path_display(tuple(steps))
                self.looping.setdefault(display.casefold(), display)
                return None
            finally:
                self.inside_secret -= root.sensitive
                self._json_roots.pop()
        return None

    def collection(self, symbol: Symbol, scopes: tuple[Scope, ...]) -> list[Item]:
        """What #{each} iterates: undefined is an empty list, not an error."""
        steps = self.steps(symbol, scopes)
        if steps is None:
            return []
        for scope in reversed(scopes):
            if is_word(steps[0], scope.var):
                found = scope.item.members(self, steps[1:], scopes)
                if found is not None:
                    return found
        return self.collection_global(steps, scopes)

    def collection_global(self, steps: Steps, scopes: tuple[Scope, ...]) -> list[Item]:
        key = path_key(tuple(steps))
        members = self.vars._members(key)
        if members:
            self.used.add(path_display(key))
            return indexed_items(steps, members)
        value = self.resolve_global(steps, scopes)
        if not isinstance(value, str) or not value:
            return []
        return collection_items(value)

    # -- values ----------------------------------------------------------------------------
    def value_of(self, entry: _Entry, scopes: tuple[Scope, ...], via_json: bool = False) -> str:
        self.touch(entry)
        self.inside_secret += entry.sensitive
        try:
            return self.eval_text(entry.value, entry.key, entry.name, scopes, via_json)
        finally:
            self.inside_secret -= entry.sensitive

    def json_of(self, entry: _Entry, scopes: tuple[Scope, ...]) -> tuple[Any, bool] | None:
        """The JSON in a variable: parsed raw when it is JSON as written (templates inside
        strings are evaluated when read, so a member may refer to a sibling), else parsed
        after evaluating the whole value (JSON built by a template)."""
        self.touch(entry)
        if entry.key not in self._raw_json:
            raw_data = js.parse_container(entry.value)
            self._raw_json[entry.key] = None if raw_data is not None and js.has_templated_keys(raw_data) else raw_data
        raw = self._raw_json[entry.key]
        if raw is not None:
            return raw, False
        if "#" not in entry.value:
            return None
        data = js.parse_container(self.value_of(entry, scopes, via_json=True))
        return (data, True) if data is not None else None

    def eval_text(self, text: str, key: Key, display: str, scopes: tuple[Scope, ...], via_json: bool = False) -> str:
        """A value evaluated as a template. A name met again while it is being evaluated is a
        cycle (``variable_cycle``), unless the loop passes through a JSON value: a path
        into a value that leads back into it, or a loop through the whole of a value while a
        path into it is being read, is only unresolved (Octostache's rule)."""
        if "#" not in text:
            return text
        memo_ok = not scopes  # with #{each} locals in scope a value may read them: no memo
        if memo_ok and key in self._memo:
            value, failures, reads = self._memo[key]
            self.failures += failures
            self.secret_reads += reads
            return value
        for i, (seen, _, _) in enumerate(self._stack):
            if seen == key:
                if via_json or any(json_step or k in self._json_roots for k, _, json_step in self._stack[i:]):
                    raise _JsonSelfReference()
                cycle = [name for _, name, _ in self._stack[i:]] + [display]
                raise SubstitutionError(
                    f"variable cycle: {' -> '.join(cycle)}; a value must not refer back to itself",
                    code=CYCLE,
                    details=cycle,
                )
        if len(self._stack) >= MAX_VARIABLE_DEPTH:
            raise SubstitutionError(
                f"variables refer to each other more than {MAX_VARIABLE_DEPTH} levels deep "
                f"(at {display}); flatten the chain",
                code=TOO_DEEP,
            )
        if text not in self._parsed:
            try:
                self._parsed[text] = parse_template(text)
            except ParseFailure:
                self._parsed[text] = None  # not a template: the value is used as written
        nodes = self._parsed[text]
        if nodes is None:
            return text
        before, reads_before = self.failures, self.secret_reads
        self._stack.append((key, display, via_json))
        self._where.append((f"value of {display}", text))
        try:
            value = self.nodes(nodes, scopes)
        finally:
            self._stack.pop()
            self._where.pop()
        if memo_ok:
            self._memo[key] = (value, self.failures - before, self.secret_reads - reads_before)
        return value
