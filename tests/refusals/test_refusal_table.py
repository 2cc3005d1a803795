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

Every row whose refusal needs nothing earlier imports recorded is also given to `verify`,
`import --dry-run` and `import` in turn, which must refuse it with the same code and exit
status and leave the home as the rule says (decision 600): so every such code is an import
refusal proven to change nothing, not only a `verify` one.

Protected keys and backups made here record a low scrypt cost (``low_scrypt_cost``, decision
700): the rows prove refusals, not the cost.
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
from tests.refusals.rows_keys import ROWS as KEY_ROWS
from tests.refusals.rows_promotion import ROWS as PROMOTION_ROWS
from tests.refusals.rows_relay import ROWS as RELAY_ROWS
from tests.refusals.rows_self import ROWS as SELF_ROWS
from tests.refusals.rows_state import ROWS as STATE_ROWS
from tests.refusals.rows_transport import ROWS as TRANSPORT_ROWS
from tests.refusals.world import Ctx, Row, build_base

pytestmark = pytest.mark.usefixtures("low_scrypt_cost")

ROWS: list[Row] = (INPUT_ROWS + BUNDLE_ROWS + DEPLOY_ROWS + PROMOTION_ROWS + FLEET_ROWS + TRANSPORT_ROWS
                   + STATE_ROWS + SELF_ROWS + KEY_ROWS + RELAY_ROWS)


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
    ctx.run_targets()  # prod_run's local targets are this row's fresh folders, whatever an earlier row left in its own
    call = row.make(ctx)
    watched = [p for p in (call.home, *call.outputs) if p is not None]
    assert watched, "a row names the home or the paths its command could change, so that nothing changing is proven"
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
    # ... and its audit trail ends with the refusal, after the entries of what the command changed
    trail = json.loads(cli_in_process("audit", "--json", home=call.home).stdout)["entries"]
    assert (trail[-1]["result"], trail[-1]["code"], trail[-1]["changes"]) == ("refused", reported, {})
    assert trail[-2]["result"] == "ok" and trail[-2]["command"] == trail[-1]["command"]
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


#: Codes whose refusal depends on what earlier imports recorded (sequences, the projects and
#: releases held, the packages held and the store), or that only a receipt's import makes:
#: `verify` cannot make them, so their rows are not given to it (decision 600).
NEEDS_STATE = frozenset({"rollback", "sequence_reused", "replay", "unknown_bundle", "receipt_mismatch",
                         "package_mismatch", "package_missing", "conflict", "release_exists"})
#: Rows of the codes above that are about another command than verifying or importing a bundle.
OTHER_COMMANDS = frozenset({"not_a_bundle-inspect-a-folder", "not_a_bundle-split-a-folder", "duplicate_identity",
                            "release_exists-export", "policy_denied-deploy", "sequence_taken"})
AGREEING = [row for row in BUNDLE_ROWS if row.code not in NEEDS_STATE and row.id not in OTHER_COMMANDS]
AGREEING += [row for row in INPUT_ROWS if row.id in ("bundle_not_found", "not_a_file-bundle-fifo")]


def _refused_by(args: list[Any], call: Any) -> tuple[dict[str, Any], int]:
    done = cli_in_process(*args, "--json", home=call.home, env=call.env)
    return error_object(done.stdout), done.returncode


@pytest.mark.parametrize("row", [pytest.param(row, id=row.id) for row in AGREEING])
def test_verify_dry_run_and_import_refuse_alike_and_change_nothing(row: Row, base: Path, tmp_path: Path,
                                                                   request: pytest.FixtureRequest) -> None:
    """The bundle of a row `verify` or `import` refuses, given to all three: one code, one exit
    status; `verify` and the dry run change nothing, the import nothing either or (an authentic
    bundle, a reported family) only the refusal entry its code documents (decision 153)."""
    ctx = Ctx(base, tmp_path, _pg=lambda: request.getfixturevalue("pg_server"))
    ctx.run_targets()  # prod_run's local targets are this row's fresh folders, whatever an earlier row left in its own
    call = row.make(ctx)
    assert call.args[0] in ("verify", "import") and call.home is not None, call.args
    bundle = call.args[1]
    watched = [call.home, *call.outputs]
    before = snapshot(*watched)
    try:
        found = {"verify": _refused_by(["verify", bundle], call),
                 "import --dry-run": _refused_by(["import", bundle, "--dry-run"], call)}
        assert snapshot(*watched) == before
        found["import"] = _refused_by(["import", bundle], call)
    finally:
        for held in call.hold:
            held.close()
    codes = {how: (err["code"], status) for how, (err, status) in found.items()}
    assert set(codes.values()) == {(row.code, REGISTRY[row.code].exit_code)}, codes
    after = snapshot(*watched)
    if after == before:
        return
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    assert REGISTRY[row.code].exception == "refusal" and changed == {str(call.home / "state.db")}, changed
    refused = json.loads(cli_in_process("outbox", "list", "--json", home=call.home).stdout)["refusals"]
    assert [r["code"] for r in refused] == [row.code]


def test_the_rows_kept_from_verify_dry_run_and_import_are_named_rightly() -> None:
    """The exclusions above name real rows and registered codes, and the kinds of issue 12 are among
    those given to all three (a stale name would silently exclude nothing, or everything)."""
    ids = {row.id for row in ROWS}
    assert OTHER_COMMANDS <= ids and NEEDS_STATE <= set(REGISTRY) and len(AGREEING) > len(BUNDLE_ROWS) // 2
    assert {"duplicate_identity", "invalid_rotation", "invalid_seal", "policy_denied", "package_not_shared",
            "blob_corrupt", "expired", "untrusted"} <= {row.code for row in AGREEING}
