"""Java properties continuation lines: read as Java reads them, in work linear in the file."""

from __future__ import annotations

import pytest

from bundlekit.runtime.structured import propertiesfile
from bundlekit.runtime.structured.propertiesfile import apply_properties, read_properties


def test_a_long_run_of_continuation_lines_is_one_value_and_only_it_is_replaced() -> None:
    text = "a=1\nk=" + "abc\\\n  " * 500 + "end\nz=2\n"
    assert read_properties(text) == {"a": "1", "k": "abc" * 500 + "end", "z": "2"}
    assert apply_properties(text, {"k": "v"}).text == "a=1\nk=v\nz=2\n"


@pytest.mark.parametrize(("text", "expected"), [
    ("k=a\\\\\nb=c\n", {"k": "a\\", "b": "c"}),  # an escaped backslash does not continue
    ("k=a\\\\\\\n  b\n", {"k": "a\\b"}),  # three: an escaped one, then a continuation
    ("k=a\\\r\n  b\\\r  c\n", {"k": "abc"}),  # CRLF and CR line endings continue too
    ("k=a\\\n\nz=1\n", {"k": "a", "z": "1"}),  # a blank line ends the value
])
def test_a_line_continues_when_its_own_trailing_backslashes_are_odd(text: str, expected: dict[str, str]) -> None:
    assert read_properties(text) == expected


def test_the_continuation_check_reads_each_physical_line_once_not_the_value_so_far(
        monkeypatch: pytest.MonkeyPatch) -> None:
    examined = 0
    real = propertiesfile._continues

    def counting(line: str) -> bool:
        nonlocal examined
        examined += len(line)
        return real(line)

    monkeypatch.setattr(propertiesfile, "_continues", counting)
    lines = 2000
    text = "k=" + "abcdefghijklmnopqrstuvwxyz\\\n" * lines + "end\n"
    apply_properties(text, {"k": "v"})
    # read and applied: each physical line is checked about twice; checking the growing
    # value each time would examine about lines * lines * 26 / 2 characters
    assert examined <= 4 * len(text)
