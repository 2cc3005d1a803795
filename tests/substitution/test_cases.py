"""Run the case table (cases.py) through the engine, in the mode each case names, and
check every allow-missing case against strict mode too: strict must raise exactly when
allow-missing left something unresolved, and otherwise render the same text."""

from __future__ import annotations

import pytest

from bundlekit.substitution import VariableDictionary, render

from .cases import CASES, NOW, Case
from tests.conftest import raises_code


def test_case_table_is_large_and_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    assert len(CASES) >= 250


def _render(case: Case, allow_missing: bool):  # type: ignore[no-untyped-def]
    variables = VariableDictionary(case.variables)
    return render(case.template, variables, allow_missing=allow_missing, now=None if case.no_clock else NOW)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case(case: Case) -> None:
    if case.error is not None:
        with raises_code(case.error):
            _render(case, allow_missing=not case.strict)
        return
    result = _render(case, allow_missing=not case.strict)
    assert result.text == case.expect
    if case.missing is not None:
        assert result.missing == case.missing
    if case.absent is not None:
        assert result.absent == case.absent
    if case.strict:
        return
    # The same template in strict mode: an error exactly when something was left unresolved.
    if result.missing:
        with raises_code("unresolved_variables") as info:
            _render(case, allow_missing=False)
        assert info.value.details == list(result.missing)
    elif result.problems:
        with raises_code(("template_syntax", "filter_failed")):
            _render(case, allow_missing=False)
    else:
        assert _render(case, allow_missing=False).text == case.expect
