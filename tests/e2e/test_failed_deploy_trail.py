"""The audit trail of a deploy that ends refused reads as it ended (decision 885), through the real CLI.

``deploy --receipt-out`` records its refusal first, so the receipt it then writes carries it
(decision 790); the receipt's own entry comes after. That entry must not read ``ok``: every
entry a command writes once its refusal is recorded carries the refusal's code, so the trail's
last entry of a failed or refused deploy says how it ended.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.e2e.world import World, json_of, make_world


def _entries(w: World) -> list[dict[str, Any]]:
    return list(json_of(run_cli("audit", "--json", home=w.prod).stdout)["entries"])


def _of_command(entries: list[dict[str, Any]], after: int) -> list[tuple[dict[str, int], str, str | None]]:
    return [(e["changes"], e["result"], e["code"]) for e in entries if e["seq"] > after]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    w = make_world(tmp_path_factory.mktemp("trail"))
    w.cli("import", w.export("acme-1.4.0.bundle"), home=w.prod)
    return w


def test_a_refused_and_a_failed_deploy_with_receipt_out_end_their_trail_refused(world: World) -> None:
    w = world
    # refused by its preflight: the placeholder Acme.ApiKey is bound by nobody
    start = len(_entries(w))
    receipt = w.root / "media" / "refused.bundle"
    r = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--receipt-out", receipt, home=w.prod)
    assert r.returncode == 5 and "preflight_unresolved_variables" in r.stderr and receipt.exists()
    written = _of_command(_entries(w), start)
    assert [(res, code) for _, res, code in written] == [("ok", None)] + [
        ("refused", "preflight_unresolved_variables")] * 2, written
    assert "receipt_files" in written[-1][0]  # the receipt's own entry is last, and says how the deploy ended
    assert written[-2][0] == {}  # the refusal itself, carried by the receipt, changed no row

    # runs, and fails at its smoke test
    w.cli("variables", "set", "acme-web", "Acme.ApiKey", "k-failing", "--sensitive", home=w.prod)
    w.set_version("1.4.0", "1.5.0")
    rel = w.release_dir / "release.toml"
    rel.write_text(rel.read_text().replace('assert schema == "42", schema', 'assert schema == "43", schema'))
    w.cli("import", w.export("acme-1.5.0.bundle"), home=w.prod)
    start = len(_entries(w))
    receipt = w.root / "media" / "failed.bundle"
    r = run_cli("deploy", "acme-web", "1.5.0", "--environment", "Production", "--receipt-out", receipt, home=w.prod)
    assert r.returncode == 5 and "deploy_failed" in r.stderr and receipt.exists()
    written = _of_command(_entries(w), start)
    refused_at = next(i for i, (_, res, _) in enumerate(written) if res == "refused")
    assert all(res == "ok" for _, res, _ in written[:refused_at])  # the start and the runs
    assert [(res, code) for _, res, code in written[refused_at:]] == [("refused", "deploy_failed")] * 2, written
    assert "receipt_files" in written[-1][0]
    listed = run_cli("audit", home=w.prod).stdout.splitlines()
    last = [line for line in listed if re.match(r"\s*[0-9]+\s+[0-9]{4}-", line)][-1]
    assert "receipt_files 1" in last and last.endswith("refused [deploy_failed]"), last
    assert run_cli("audit", "--verify", home=w.prod).returncode == 0


def test_a_deploy_that_succeeds_with_receipt_out_stays_ok(world: World, tmp_path: Path) -> None:
    w = world
    w.cli("variables", "set", "acme-web", "Acme.ApiKey", "k-ok", "--sensitive", home=w.prod)
    start = len(_entries(w))
    receipt = tmp_path / "ok.bundle"
    r = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--receipt-out", receipt, home=w.prod)
    assert r.returncode == 0, r.stderr
    written = _of_command(_entries(w), start)
    assert written and all((res, code) == ("ok", None) for _, res, code in written), written
    assert "receipt_files" in written[-1][0]
