"""A receipt is never written over an existing file (finding 19.1, decision 460).

Packing daily to one name used to replace the receipt not carried yet: its deployments stayed
marked packed into a file that no longer existed and never reached their source. Now the second
pack is refused ``file_exists`` with nothing changed, and each receipt, packed under its own
name, brings its deployments home.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from bundlekit.deploy.service import deploy
from bundlekit.receipt.build import write_receipt
from bundlekit.zone.home import Zone, open_zone
from tests.conftest import cli_in_process, raises_code
from tests.reliability.test_pack_killed import killed_pack, ready_prod


def _deployed(prod: Zone) -> str:
    record = deploy(prod, "acme-web", "1.4.0", "Production", now=time.time()).record
    assert record is not None and record.state == "Success"
    return record.deployment_id


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_second_pack_to_the_same_name_is_refused_and_every_deployment_still_reaches_its_source(
        tmp_path: Path) -> None:
    z = ready_prod(tmp_path)
    first_id = _deployed(z.prod)
    media = tmp_path / "media"
    media.mkdir()
    receipts = media / "receipts.bundle"
    packed = cli_in_process("outbox", "pack", "-o", receipts, home=z.prod.home)
    assert packed.returncode == 0, packed.stderr
    kept = _digest(receipts)
    second_id = _deployed(z.prod)  # the next day's deployment
    state = _digest(z.prod.home / "state.db")

    again = cli_in_process("outbox", "pack", "-o", receipts, "--json", home=z.prod.home)
    assert again.returncode == 1, again.stdout + again.stderr
    error = json.loads(again.stdout)["error"]
    assert error["code"] == "file_exists"
    assert str(receipts) in error["message"] and "Carry it and import it first" in error["message"]
    assert "another name" in error["message"] and "nothing was packed" in error["message"]
    assert _digest(receipts) == kept  # the receipt not carried yet is untouched
    assert _digest(z.prod.home / "state.db") == state
    assert sorted(p.name for p in media.iterdir()) == ["receipts.bundle"]  # no temporary file left
    listed = json.loads(cli_in_process("outbox", "list", "--json", home=z.prod.home).stdout)
    assert [e["deployment_id"] for e in listed["pending"]] == [second_id]

    other = media / "receipts-2.bundle"
    assert cli_in_process("outbox", "pack", "-o", other, home=z.prod.home).returncode == 0
    for path in (other, receipts):  # carried back in any order
        imported = cli_in_process("import", path, "--json", home=z.dev.home)
        assert imported.returncode == 0, imported.stdout + imported.stderr
    known = json.loads(cli_in_process("dashboard", "--json", home=z.dev.home).stdout)
    text = json.dumps(known)
    assert first_id in text and second_id in text


def test_a_receipt_recorded_and_still_parked_at_a_path_is_not_replaced_by_another(tmp_path: Path) -> None:
    """The check under the write lock: a pack killed after its commit left its receipt parked
    beside the path (the path itself empty); another receipt for that path is refused."""
    z = ready_prod(tmp_path)
    _deployed(z.prod)
    z.prod.close()
    out = tmp_path / "media" / "receipt.bundle"
    out.parent.mkdir()
    killed_pack(out, z.prod.home)
    [parked] = list(out.parent.iterdir())
    assert parked.name.endswith(".receipt")
    kept = _digest(parked)

    prod = open_zone(z.prod.home)
    try:
        second = _deployed(prod)
        with raises_code("file_exists", match="Carry it and import it first"):
            write_receipt(prod, z.dev.zone_id, [second], out, now=int(time.time()))
        assert [p.name for p in out.parent.iterdir()] == [parked.name] and _digest(parked) == kept
        assert json.loads(cli_in_process("outbox", "list", "--json", home=z.prod.home).stdout)["pending"][0][
            "deployment_id"] == second
    finally:
        prod.close()
    assert out.exists() and _digest(out) == kept  # `outbox list` finished the parked one
