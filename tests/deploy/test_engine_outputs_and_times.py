"""Output variable names a reader would refuse fail their step; times are milliseconds from the clock.

A script can name an output variable anything (the service message carries the name in
base64). A name with a tab, an escape sequence or 300 characters would make the receipt one the
source zone refuses, so the run fails at that step, with the reason, and the variable is not
kept (decision 125). Start and end times come from the clock the engine is given, in Unix
seconds to the millisecond (decisions 122 and 430).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from bundlekit.deploy.engine import MAX_OUTPUTS_PER_RUN, execute, refused_outputs
from bundlekit.deploy.plan import build_plan
from bundlekit.runtime.service_messages import OutputVariable
from tests.deploy.test_plan import request_for, script, web_db


@pytest.mark.parametrize("name, problem", [
    ("Tab\tName", "contains the control character U+0009"),
    ("Red\x1b[31mName", "contains the control character U+001B"),
    ("Smoke \u202etset", "contains the bidirectional-text control U+202E"),
    ("N" * 201, "is longer than 200 characters"),
    (" Padded", "starts or ends with white space"),
])
def test_a_script_that_sets_an_output_variable_a_reader_would_refuse_fails_its_step(
        tmp_path: Path, name: str, problem: str) -> None:
    text = (f'set_octopusvariable("Good", "1")\n'
            f'set_octopusvariable(bytes.fromhex("{name.encode().hex()}").decode(), "x")\n'
            'print("done")\n')
    request = request_for([script("Emit", text, ("web",), syntax="python"), script("After", "echo after", ("web",))],
                          targets=web_db(tmp_path)[:1])
    record = execute(build_plan(request), request)
    emit, after = record.runs
    assert record.state == "Failed" and emit.state == "Failed" and after.state == "Skipped"
    assert emit.reason is not None and emit.reason.endswith("[invalid_output_variable]")
    assert problem in emit.reason and "rename it in the script" in emit.reason
    assert emit.exit_code == 0  # the script itself succeeded; the name is what failed the step
    assert [o.name for o in emit.outputs] == ["Good"]  # the refused one is not kept
    assert f"error: {emit.reason}" in emit.log


def test_valid_output_names_with_spaces_and_punctuation_are_kept() -> None:
    outputs = [OutputVariable("Db Schema: version", "42", False), OutputVariable("Ünïcode 名", "x", True)]
    kept, refused = refused_outputs(outputs)
    assert kept == outputs and refused is None


def test_more_output_variables_than_a_receipt_run_carries_fail_the_run() -> None:
    outputs = [OutputVariable(f"V{i}", "x", False) for i in range(MAX_OUTPUTS_PER_RUN + 1)]
    kept, refused = refused_outputs(outputs)
    assert len(kept) == MAX_OUTPUTS_PER_RUN
    assert refused is not None and refused.code == "invalid_output_variable"


def test_run_and_deployment_times_are_milliseconds_from_the_injected_clock(tmp_path: Path) -> None:
    ticks = itertools.count(1_700_000_000.2504, 0.5)  # a fake wall clock with fractions finer than a millisecond
    request = request_for([script("One", "echo one", ("web",)), script("Two", "echo two", ("web",))],
                          targets=web_db(tmp_path)[:1])
    record = execute(build_plan(request), request, clock=lambda: next(ticks))
    times = [record.started, record.ended] + [t for r in record.runs for t in (r.started, r.ended)]
    assert record.started == 1_700_000_000.25  # the clock's first reading, to the millisecond (decision 430)
    # every reading kept to the millisecond: .2504 -> .25, .7504 -> .75 (never cut to the second)
    assert all(t is not None and t % 0.5 == 0.25 for t in times), times
    one, two = record.runs
    assert record.started < one.started < one.ended < two.started < two.ended < record.ended  # no ties
    assert record.to_dict()["started"] == record.started  # the JSON form is the same number
