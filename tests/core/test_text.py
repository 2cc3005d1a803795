"""The one sanitizer: hostile text shown escaped on a terminal, in HTML and in JSON alike."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bundlekit.core.text import MASK, dumps, html_text, is_clean, terminal_text

# (hostile text, how a terminal line shows it)
HOSTILE = [
    ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),                      # ANSI CSI (SGR colour)
    ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),                                # CSI: clear screen, cursor home
    ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),                          # OSC: window title, BEL ended
    ("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "\\x1b]8;;http://evil\\x1b\\link\\x1b]8;;\\x1b\\"),  # OSC 8 hyperlink
    ("\x9b31m8-bit CSI", "\\x9b31m8-bit CSI"),                           # C1 CSI
    ("\x9d0;title\x9c", "\\x9d0;title\\x9c"),                            # C1 OSC ... ST
    ("nul\x00bel\x07bs\x08", "nul\\x00bel\\x07bs\\x08"),                  # C0
    ("del\x7f", "del\\x7f"),
    ("over\rwrite", "over\\x0dwrite"),                                   # CR would overwrite the line
    ("forged\nOK: verified", "forged\\x0aOK: verified"),                 # a line of its own
    ("tab\tstop", "tab\\x09stop"),
    ("\u202etxt.exe", "\\u202etxt.exe"),                                 # bidi override
    ("a\u2066b\u2069c\u200fd\u061c", "a\\u2066b\\u2069c\\u200fd\\u061c"),  # isolates, marks
    ("line\u2028sep\u2029", "line\\u2028sep\\u2029"),
    ("lone\udc80", "lone\\udc80"),
]


@pytest.mark.parametrize("text, shown", HOSTILE, ids=[repr(t)[:30] for t, _ in HOSTILE])
def test_hostile_text_is_shown_escaped_on_one_terminal_line(text: str, shown: str) -> None:
    out = terminal_text(text)
    assert out == shown
    assert is_clean(out) and out.isprintable()


@pytest.mark.parametrize("text", ["plain", "caf\u00e9 \u65e5\u672c \U0001f680", "a\\x1b literal backslash",
                                  "zero\u200bwidth joiner \u200d emoji \U0001f468\u200d\U0001f469", "\u00a0nbsp"])
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert terminal_text(text) == text and is_clean(text)


def test_multiline_keeps_lines_and_tabs_and_breaks_on_carriage_returns() -> None:
    log = "step 1\tok\r\nprogress 10%\rprogress 100%\n\x1b[32mdone\x1b[0m\n"
    assert terminal_text(log, multiline=True) == "step 1\tok\nprogress 10%\nprogress 100%\n\\x1b[32mdone\\x1b[0m\n"


@pytest.mark.parametrize("text, shown", HOSTILE, ids=[repr(t)[:30] for t, _ in HOSTILE])
def test_html_shows_the_same_escapes_and_opens_no_tag(text: str, shown: str) -> None:
    out = html_text(text + "<script>alert('x')</script>\"&", multiline=False)
    assert "<" not in out and ">" not in out and '"' not in out and "'" not in out
    assert out.startswith(shown.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                          .replace('"', "&quot;").replace("'", "&#x27;"))
    assert "&lt;script&gt;" in out


@pytest.mark.parametrize("text, _shown", HOSTILE, ids=[repr(t)[:30] for t, _ in HOSTILE])
def test_json_is_exact_yet_carries_no_raw_control_or_angle_bracket(text: str, _shown: str) -> None:
    obj = {"notes": text + "</script><b>", "nested": [text]}
    out = dumps(obj, indent=2, sort_keys=True)
    assert json.loads(out) == obj  # machines get the exact data back
    assert "<" not in out and ">" not in out and "&" not in out
    assert is_clean(out, multiline=True), repr(out)


def test_json_keeps_readable_unicode() -> None:
    assert dumps({"name": "caf\u00e9 \u65e5\u672c"}) == '{"name": "caf\u00e9 \u65e5\u672c"}'


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_no_text_survives_with_a_control_character(text: str) -> None:
    line = terminal_text(text)
    assert is_clean(line) and "\x1b" not in line and "\n" not in line and "\r" not in line
    block = terminal_text(text, multiline=True)
    assert is_clean(block, multiline=True) and "\x1b" not in block and "\r" not in block
    assert json.loads(dumps(text)) == text


def test_one_mask_constant_for_every_sensitive_value_shown() -> None:
    from pathlib import Path

    import bundlekit

    assert MASK == "********"  # what Octopus prints, so operators recognise it
    root = Path(bundlekit.__file__).parent
    defining = [str(p.relative_to(root)) for p in root.rglob("*.py") if '"********"' in p.read_text("utf-8")]
    assert defining == ["core/text.py"]
    # ... and no other mask of another length (a state URL once showed its password as ``***``)
    import ast
    import re

    masks = [f"{p.relative_to(root)}:{n.lineno} {n.value!r}" for p in root.rglob("*.py")
             for n in ast.walk(ast.parse(p.read_text("utf-8")))
             if isinstance(n, ast.Constant) and isinstance(n.value, str) and re.search(r"(^|[:=])\*{3,}$", n.value)]
    assert masks == ["core/text.py:32 '********'"]


def test_a_state_url_shows_its_secrets_as_the_one_mask() -> None:
    from bundlekit.zone.state_url import split_state_url

    url = split_state_url("postgresql://bk:hunter2@db.example:5432/prod?sslpassword=s3cret", where="--state")
    assert url.masked == f"postgresql://bk:{MASK}@db.example:5432/prod?sslpassword={MASK}"
    assert "hunter2" not in url.masked and "s3cret" not in url.masked


def test_a_hint_quotes_a_name_so_the_shell_runs_nothing_in_it() -> None:
    from bundlekit.core.text import shell_word

    assert shell_word("Payments") == "Payments"  # a plain name reads as typed
    assert shell_word("$(touch /tmp/x)") == "'$(touch /tmp/x)'"
    assert shell_word('Team "A"') == "'Team \"A\"'"
    assert shell_word("it's") == "'it'\"'\"'s'"


def test_wide_characters_take_two_cells_and_marks_none() -> None:
    from bundlekit.core.text import cell_width, fit_cells, pad_cells

    assert cell_width("Payments") == 8
    assert cell_width("\U0001F600") == 2 and cell_width("\uff30\uff41\uff59") == 6  # emoji, full-width "Pay"
    assert cell_width("e\u0301") == 1 and cell_width("a\u200db") == 2  # a combining accent, a zero-width joiner
    assert cell_width(pad_cells("\U0001F600", 24)) == 24 == cell_width(pad_cells("Payments", 24))
    cut = fit_cells("\uff30" * 20, 12)
    assert cell_width(cut) == 12 and cut.endswith("\u2026 ")  # a wide character never split: one cell spare
