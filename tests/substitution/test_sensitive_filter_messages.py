"""A failing filter never quotes a value derived from a sensitive one: not its input, not an
option, not its length (``render --sensitive``, lint, export and the deploy preflight all
report the engine's messages)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bundlekit.substitution import VariableDictionary, render
from bundlekit.substitution.engine import SECRET_FILTER_REASON
from bundlekit.substitution.filters import filter_names

#: Not a regex, a number, a version, base64, a date, a URI or an encoding; an unusual length.
CANARY = "zq(Canary-7x[unclosed"
#: The shapes a filter call can take, the canary reaching it as input, as each option, or both.
CALLS = ("#{{Sec | {f}}}", "#{{Sec | {f} #{{Sec}}}}", "#{{Sec | {f} 1 #{{Sec}}}}", "#{{Sec | {f} 99 1}}",
         "#{{Sec | {f} 1 2 3}}", "#{{X | {f} #{{Sec}}}}", "#{{X | {f} #{{Sec}} #{{Sec}}}}", "#{{X | {f} 1 #{{Sec}}}}",
         "#{{X | {f} #{{Sec}} 1}}", "#{{ | {f} #{{Sec}}}}", "#{{Sec | ToUpper | {f} #{{Sec}}}}")


def _failures(sensitive: bool, name: str) -> list[str]:
    values = VariableDictionary({"Sec": CANARY, "X": "abc"}, sensitive=["Sec"] if sensitive else [])
    out: list[str] = []
    for call in CALLS:
        result = render(call.format(f=name), values, allow_missing=True)
        out.extend(message for _, _, message in result.failed_at)
    return out


@pytest.mark.parametrize("name", filter_names())
def test_every_failing_filter_says_only_that_a_sensitive_value_is_involved(name: str) -> None:
    failures = _failures(True, name)
    assert failures, f"no call made {name} fail: the canary proves nothing for it"
    for message in failures:
        assert message == f"filter {name}: {SECRET_FILTER_REASON}"
        assert CANARY not in message and str(len(CANARY)) not in message


def test_the_same_calls_quote_the_value_when_it_is_not_sensitive() -> None:
    # The canary test can fail: these filters do quote (or measure) their input and options.
    quoted = {name: " ".join(_failures(False, name)) for name in ("VersionMajor", "Truncate", "Replace", "Substring")}
    assert all(CANARY in text for name, text in quoted.items() if name != "Substring"), quoted
    assert f"{len(CANARY)}-character" in quoted["Substring"]


def test_a_filter_written_inside_a_sensitive_value_does_not_quote_its_options() -> None:
    values = VariableDictionary({"Sec": "#{X | Replace hunter2(pw}", "X": "abc"}, sensitive=["Sec"])
    [(label, _, message)] = render("#{Sec}", values).failed_at
    assert (label, message) == ("value of Sec", f"filter Replace: {SECRET_FILTER_REASON}")


def test_a_value_made_from_a_sensitive_one_is_sensitive_through_the_memo_and_each() -> None:
    values = VariableDictionary({"Sec": CANARY, "Copy": "#{Sec}", "X": "abc"}, sensitive=["Sec"])
    result = render("#{Copy} #{Copy | VersionMajor} #{each c in Copy}#{c | Substring 99 1}#{/each}", values)
    assert [m for _, _, m in result.failed_at] == [f"filter VersionMajor: {SECRET_FILTER_REASON}",
                                                   f"filter Substring: {SECRET_FILTER_REASON}"]


def test_render_sensitive_prints_no_secret_in_filter_errors() -> None:
    template = b"#{Sec | VersionMajor} #{X | Truncate #{Sec}} #{X | Replace #{Sec}} #{Sec | Substring 99 1}"
    done = subprocess.run([sys.executable, "-m", "bundlekit", "render", "-", "--var", "Sec=hunter2(pw", "--var",
                           "X=abc", "--sensitive", "Sec"], input=template, capture_output=True, timeout=60,
                          check=False)
    assert done.returncode == 1
    stderr = done.stderr.decode()
    assert "filter_failed" in stderr and stderr.count(SECRET_FILTER_REASON) == 4
    assert "hunter2" not in stderr and "10-character" not in stderr
