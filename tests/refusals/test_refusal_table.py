"""The refusal table: every error code a user can cause, caused through the real CLI.

One row per registered code that a user can cause (``bundlekit/error_codes.py``; codes no user
can cause say why there). Each row prepares its bad input in a private copy of shared zones
(``tests/refusals/world.py``), runs one ``bundlekit`` command through the CLI's entry point in
this process (decision 129: a process of its own cost 1.5 s a row and proved nothing more), and
checks:

- the code in the ``--json`` error object (or ``error [code]`` on stderr for the few commands
  without ``--json``), and the old codes under ``aliases``;
- the exit status, which is the registry's for that code;
- that the zone's home and every output path are byte-identical afterwards (every file, folder,
  link and mode), or, for the documented exceptions (spec/errors.md), exactly what changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pytest

from bundlekit.error_codes import REGISTRY
from tests.conftest import cli_in_process, snapshot
from tests.refusals.rows_bundles import ROWS as BUNDLE_ROWS
from tests.refusals.rows_deploy import ROWS as DEPLOY_ROWS
from tests.refusals.rows_fleet import ROWS as FLEET_ROWS
from tests.refusals.rows_fleet import machines
from tests.refusals.rows_inputs import ROWS as INPUT_ROWS
from tests.refusals.rows_promotion import ROWS as PROMOTION_ROWS
from tests.refusals.rows_self import ROWS as SELF_ROWS
from tests.refusals.rows_state import ROWS as STATE_ROWS
from tests.refusals.rows_transport import ROWS as TRANSPORT_ROWS
from tests.refusals.world import Ctx, Row, build_base

ROWS: list[Row] = (INPUT_ROWS + BUNDLE_ROWS + DEPLOY_ROWS + PROMOTION_ROWS + FLEET_ROWS + TRANSPORT_ROWS
                   + STATE_ROWS + SELF_ROWS)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = build_base(tmp_path_factory.mktemp("refusal-base"))
    with machines(root):  # the SSH machines of the fleet rows (tests/refusals/rows_fleet.py)
        yield root


def error_object(stdout: str) -> dict[str, Any]:
    """The ``{"error": ...}`` object: stdout is one JSON document (a deployment that ran and failed
    prints its record with the error in it)."""
    found = json.loads(stdout)
    assert isinstance(found, dict) and "error" in found, f"no error object in: {stdout[:2000]!r}"
    return found["error"]  # type: ignore[no-any-return]


def stderr_code(stderr: str) -> str:
    line = next(line for line in stderr.splitlines() if line.startswith("error ["))
    return line[len("error ["):line.index("]")]


@pytest.mark.parametrize("row", [pytest.param(row, id=row.id) for row in ROWS])
def test_refusal_gives_its_code_and_exit_status_and_changes_nothing(row: Row, base: Path, tmp_path: Path,
                                                                    request: pytest.FixtureRequest) -> None:
    ctx = Ctx(base, tmp_path, _pg=lambda: request.getfixturevalue("pg_server"))
    call = row.make(ctx)
    watched = [p for p in (call.home, *call.outputs) if p is not None]
    before = snapshot(*watched)
    args = [*call.args, *(["--json"] if call.json else [])]
    try:
        done = cli_in_process(*args, home=call.home, env=call.env)
    finally:
        for held in call.hold:
            held.close()
    entry = REGISTRY[row.code]
    reported = "deploy_failed" if call.expect == "deployment" else row.code
    if call.json:
        err = error_object(done.stdout)
        assert err["code"] == reported, f"{err}\n{done.stderr}"
        assert err.get("aliases", []) == list(REGISTRY[reported].aliases)
        assert err["message"]
    else:
        assert stderr_code(done.stderr) == reported, done.stderr
    assert done.returncode == REGISTRY[reported].exit_code, done.stderr
    after = snapshot(*watched)
    if call.expect == "unchanged":
        assert after == before
        return
    # A documented exception (spec/errors.md): only the zone's state database changed, and
    # it now holds the refusal entry, or the Failed deployment whose run names the code.
    assert call.home is not None and entry.exception == call.expect
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    assert changed == {str(call.home / "state.db")}
    if call.expect == "refusal":
        refused = json.loads(cli_in_process("outbox", "list", "--json", home=call.home).stdout)["refusals"]
        assert [(r["code"], r["destination"], r["packed_in"]) for r in refused] == [(entry.code, "dev", None)]
        return
    latest = json.loads(cli_in_process("deployments", "list", "--json", home=call.home).stdout)["deployments"][0]
    assert latest["state"] == "Failed"
    shown = json.loads(cli_in_process("deployments", "show", latest["id"], "--json", home=call.home).stdout)
    runs = shown["record"]["runs"]
    if call.expect == "preflight":
        assert [r["step"] for r in runs] == ["(preflight)"] and f"[{entry.code}]" in runs[0]["reason"]
    else:  # the run that failed names the code (deploy_failed itself: a script that exited non-zero)
        reason = "" if entry.code == "deploy_failed" else f"[{entry.code}]"
        assert any(r["state"] == "Failed" and reason in (r["reason"] or "") for r in runs), runs


def test_every_code_a_user_can_cause_has_a_row_and_every_row_is_such_a_code() -> None:
    rows = {row.code for row in ROWS}
    causable = {code for code, entry in REGISTRY.items() if entry.user_causable}
    assert sorted(causable - rows) == [], "codes a user can cause without a row in the refusal table"
    assert sorted(rows - causable) == [], "rows for codes the registry says no user can cause"
