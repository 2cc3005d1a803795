"""The one change a refused import of an authentic release may make: the refusal entry it queues
for the release's source (spec/errors.md "refusal"; decisions 153 and 968)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import cli_in_process, snapshot


def unchanged_or_reported(home: Path, before: dict[str, Any], code: str) -> None:
    """``home`` is as ``before`` (a :func:`snapshot`), or only its state database changed and the
    outbox's newest refusal entry has ``code``."""
    after = snapshot(home)
    if after == before:
        return
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    assert changed == {str(home / "state.db")}, changed
    queued = json.loads(cli_in_process("outbox", "list", "--json", home=home).stdout)["refusals"]
    assert queued and queued[-1]["code"] == code, queued
