"""The last net under every lint check: no finding quotes a piece of a sensitive value (decisions
572, 810).

A check quoting a secret is a bug of that check; :func:`redacted` catches it for every check,
present and future, and replaces such a finding by one that names the variable and keeps the
position only. A finding is replaced when its message or suggestion holds, case aside:

* the whole value (stripped), as a whole token when it is shorter than :data:`MIN_RUN`
  characters (a secret ``pw1`` is found in ``'pw1'`` but not in ``pw12``);
* a word of the value (letters or digits) of :data:`MIN_WORD` or more, as a whole word;
* a run of :data:`MIN_RUN` characters or more of the value, anywhere;
* the whole value's hex (either case), base64 or base64url encoding, for a value of
  :data:`MIN_WORD` characters or more (the forms log masking also hides, decision 550).

A piece the rest of the release file also writes (a variable or step name, a role) is no
secret; for a value not found in the text as written (escapes), only the names count.

And an occurrence is not a quote when it is bundlekit's own wording: when the occurrence with the
word before or after it stands in one string constant of the modules that write findings
(:func:`wording`). A password ``my secret pw`` leaves "unless the secret is written" alone, a
value ``step`` leaves "the release has no such step" alone, while ``member 'step'`` or ``did you
mean 'step'?`` is still a quote: those constants end at the quote.
"""

from __future__ import annotations

import ast
import base64
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from bundlekit.export.lint_model import Finding, entries, locate, names_of
from bundlekit.export.toml_strings import value_offsets

__all__ = ["redacted", "wording", "MIN_WORD", "MIN_RUN"]

#: The shortest word of a sensitive value that is looked for on its own.
MIN_WORD = 4
#: The shortest run of a sensitive value (across spaces and punctuation) that is looked for.
MIN_RUN = 8
#: The packages whose string constants are the wording of findings (checks, the rules and
#: refusals they report, the parsers whose reasons they quote).
_WORDING_PACKAGES = ("export", "substitution", "runtime/structured", "core", "format", "package")
_WORD = re.compile(r"[^\W_]+")


@lru_cache(maxsize=1)
def wording() -> str:
    """Every string constant (docstrings left out) of the modules that write findings, casefolded,
    joined by NUL (no finding holds one): what a finding says in its own words. Read from the
    source once per process, and only when a finding holds a piece of a secret."""
    root = Path(__file__).resolve().parent.parent
    out: set[str] = set()
    for package in _WORDING_PACKAGES:
        for path in sorted((root / package).glob("*.py")):  # each package is one flat folder
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (OSError, SyntaxError, UnicodeDecodeError):
                continue
            docstrings = {id(body[0].value) for node in ast.walk(tree)
                          if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                          and (body := node.body) and isinstance(body[0], ast.Expr)
                          and isinstance(body[0].value, ast.Constant)}
            out.update(n.value.casefold() for n in ast.walk(tree)
                       if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings)
    return "\0".join(sorted(out))


def _is_wording(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` (casefolded finding text) is bundlekit's own wording: with the
    whole word before it, or the whole word after it, and what lies between, it stands in one
    string constant."""
    corpus = wording()
    before = re.search(r"[^\W_]+[\W_]*$", text[:start])
    if before is not None and text[before.start():end] in corpus:
        return True
    after = re.match(r"[\W_]*[^\W_]+", text[end:])
    return after is not None and text[start:end + after.end()] in corpus


def _bounded(text: str, start: int, end: int) -> bool:
    return (start == 0 or not text[start - 1].isalnum()) and (end == len(text) or not text[end].isalnum())


def _runs(text: str) -> set[str]:
    """Every run of :data:`MIN_RUN` characters of ``text``."""
    return {text[i:i + MIN_RUN] for i in range(len(text) - MIN_RUN + 1)}


def _encodings(value: str) -> set[str]:
    raw = value.encode("utf-8")
    forms = {raw.hex(), raw.hex().upper()}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        full = encode(raw).decode("ascii")
        forms.update((full, full.rstrip("=")))
    return forms


class _Secret:
    """One sensitive value: its pieces (casefolded) and what counts as written elsewhere."""

    def __init__(self, name: str, value: str, public: str, public_words: set[str], public_runs: set[str]) -> None:
        self.name = name
        whole = value.strip().casefold()
        short = len(whole) < MIN_RUN
        self.whole = whole if whole and not _found(public, whole, short, quotes_only=False) else None
        self.words = {w for w in _WORD.findall(whole) if len(w) >= MIN_WORD and w not in public_words}
        self.runs = _runs(whole) - public_runs
        self.encoded = _encodings(value.strip()) if len(whole) >= MIN_WORD else set()

    def quoted(self, text: str, exact: str) -> int:
        """The length of the longest piece of this secret that ``text`` (a finding's words,
        casefolded; ``exact``: the same, not casefolded, for the encodings) quotes, 0 for none."""
        best = 0
        if self.whole is not None:
            best = _found(text, self.whole, bounded=len(self.whole) < MIN_RUN)
        for word in self.words:
            best = max(best, _found(text, word, bounded=True))
        if best < MIN_RUN:  # the runs the finding has at all, then whether one is a quote
            for run in sorted(self.runs & _runs(text)):
                if _found(text, run, bounded=False):
                    best = MIN_RUN
                    break
        if any(form in exact for form in self.encoded):
            best = max(best, len(self.whole or "x"))
        return best


def _found(text: str, piece: str, bounded: bool, quotes_only: bool = True) -> int:
    """``len(piece)`` when ``text`` has it (as a whole token when ``bounded``; with ``quotes_only``,
    an occurrence that is not bundlekit's wording), else 0."""
    at = text.find(piece)
    while at >= 0:
        end = at + len(piece)
        if (not bounded or _bounded(text, at, end)) and not (quotes_only and _is_wording(text, at, end)):
            return len(piece)
        at = text.find(piece, at + 1)
    return 0


def _secrets(doc: dict[str, Any], text: str) -> list[tuple[int, _Secret]]:
    found = [(i, v["name"] if isinstance(v.get("name"), str) else "", v["value"])
             for i, v in entries(doc, "variables")
             if v.get("sensitive") is True and isinstance(v.get("value"), str) and v["value"]]
    if not found:
        return []
    spans, unplaced = [], set()
    for i, _, value in found:
        at = value_offsets(text, locate(text, ["variables", i, "value"]), value)
        if at is None:  # not found as written: its words may stand in the text, yet are secret
            unplaced.add(i)
        else:
            spans.append((at[0], at[-1]))
    public, last = [], 0
    for start, end in sorted(spans):
        public.append(text[last:start])
        last = max(last, end)
    public.append(text[last:])
    outside = "\n".join(public).casefold()
    names = "\n".join(n for key in ("steps", "variables") for n in names_of(doc, key) if n).casefold()
    out = []
    public_runs: dict[str, set[str]] = {}
    for i, name, value in found:
        seen = names if i in unplaced else outside
        if seen not in public_runs:
            public_runs[seen] = _runs(seen)
        out.append((i, _Secret(name, value, seen, set(_WORD.findall(seen)), public_runs[seen])))
    return out


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def redacted(findings: Iterable[Finding], doc: dict[str, Any], text: str) -> list[Finding]:
    """``findings`` with any that quotes a piece of a sensitive value of ``doc`` (the release as
    written; ``text``: its TOML) replaced by one that names that variable (the one whose longest
    piece it quotes; of equals, the one the finding is about) and keeps the position only."""
    findings = list(findings)
    secrets = _secrets(doc, text)
    if not secrets:
        return findings
    out = []
    for f in findings:
        exact = f"{f.message}\n{f.suggestion or ''}"
        folded = exact.casefold()
        scored = [(length, (f.path or "").startswith(f"variables[{i}]"), -i, s.name)
                  for i, s in secrets if (length := s.quoted(folded, exact))]
        if not scored:
            out.append(f)
            continue
        owner = max(scored)[3]
        out.append(Finding(f.severity, f.code, f"{_article(f.code)} {f.code} finding that would quote part of the "
                           f"sensitive value of {owner!r} (not shown)", f.file, f.path, f.line, f.column,
                           "look at the line and column given, in the file named"))
    return out
