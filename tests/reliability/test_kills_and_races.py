"""The real CLI SIGKILLed during deploy, import and receipt import, and commands raced on one zone.

A few rounds of ``scripts/kill_campaign.py`` (which runs hundreds; its figures are in the
README's reliability section): every kill is followed by the next command and the checks of
``tests/reliability/campaign.py``, and by a retry that must succeed and leave nothing behind.
"""

from __future__ import annotations

import random
from pathlib import Path

from tests.reliability import campaign


def test_kills_during_deploy_import_and_receipt_import_end_in_known_states(tmp_path: Path) -> None:
    w = campaign.make_world(tmp_path, files=60)
    tally = campaign.Tally()
    rng = random.Random(19)
    campaign.kill_deploys(w, tally, 2, rng, retry_every=2)
    campaign.kill_imports(w, tally, 1, rng)
    campaign.kill_receipt_imports(w, tally, 1, rng)
    assert tally.problems == []
    assert tally.retries == 3 and sum(tally.kills.values()) + tally.finished_first == 4


def test_imports_and_deploys_started_together_end_in_success_or_a_code_and_lose_no_record(tmp_path: Path) -> None:
    w = campaign.make_world(tmp_path, files=60)
    tally = campaign.Tally()
    campaign.prepare_races(w)
    campaign.concurrent_run(w, tally, 3, 0)
    assert tally.problems == []
    assert tally.commands == 6 and sum(tally.outcomes.values()) == 6
    assert tally.outcomes.get("import: success") == 3  # the bundle imported twice at once: one import, one no-op
