"""Reading a user's TOML: nesting is bounded, never a RecursionError (decision 671)."""

from __future__ import annotations

import tomllib

import pytest

from bundlekit.format.usertoml import MAX_TOML_DEPTH, loads_user_toml


def test_nesting_up_to_the_limit_is_read_and_one_level_more_is_a_toml_error() -> None:
    inner = MAX_TOML_DEPTH - 1  # the top table is the first level
    expected: list[object] = []
    for _ in range(inner - 1):
        expected = [expected]
    assert loads_user_toml("a = " + "[" * inner + "]" * inner) == {"a": expected}
    with pytest.raises(tomllib.TOMLDecodeError, match="nested more than 64 levels deep"):
        loads_user_toml("a = " + "[" * (inner + 1) + "]" * (inner + 1))


@pytest.mark.parametrize("text", ["a=" + "[" * 5000 + "]" * 5000, "x=" + "{a=" * 3000 + "1" + "}" * 3000,
                                  "[" + ".".join(["t"] * 200) + "]\nk = 1"])
def test_a_file_nested_past_the_parsers_stack_is_a_toml_error_not_a_recursion_error(text: str) -> None:
    with pytest.raises(tomllib.TOMLDecodeError, match="flatten the file"):
        loads_user_toml(text)
