"""`export --sequence N` never writes a second bundle under an id the zone already wrote (v30-10
NEW-2, decision 800): the second bundle would replace the first's export record, and a receipt
answering the first would then be refused whole, its genuine entries with it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli, snapshot
from tests.e2e.promotion_world import make_promo, ok
from tests.e2e.test_promotion_r1015 import LEGACY_RELEASE


def test_a_pinned_sequence_another_release_has_for_that_zone_is_refused_and_the_first_is_still_answered(
        tmp_path: Path) -> None:
    w = make_promo(tmp_path / "w")
    first = w.root / "media" / "p141-pin.bundle"
    ok("export", w.release(LEGACY_RELEASE, version="1.4.1"), "--to", "prod", "-o", first, "--sequence", "5",
       home=w.dev)
    other = w.release(LEGACY_RELEASE, version="1.4.2")
    second = w.root / "media" / "p142-pin.bundle"
    before = snapshot(w.dev, second)
    r = run_cli("export", other, "--to", "prod", "-o", second, "--sequence", "5", "--json", home=w.dev)
    err = json.loads(r.stdout)["error"]
    assert (err["code"], r.returncode) == ("sequence_taken", 1), r.stdout + r.stderr
    assert "release 1.4.1" in err["message"] and str(first) in err["message"] and "--sequence 5" in err["message"]
    assert "Nothing was written" in err["message"] and "Export without --sequence" in err["message"]
    assert snapshot(w.dev, second) == before  # no record, no number, no release 1.4.2, no file
    # the same number for another zone is another bundle id: allowed
    ok("export", other, "--to", "staging", "-o", w.root / "media" / "s142-pin.bundle", "--sequence", "5",
       home=w.dev)
    # prod refuses the first bundle (a later one came first); the refusal that answers it comes
    # back and is recorded: dev still knows the bundle it answers
    later = w.export(other, "prod", "p142.bundle")
    ok("import", later, home=w.prod)
    assert run_cli("import", first, home=w.prod).returncode == 3
    packed = w.root / "media" / "prod-out.bundle"
    ok("outbox", "pack", "-o", packed, home=w.prod)
    r = run_cli("import", packed, "--json", home=w.dev)
    assert r.returncode == 0, r.stdout + r.stderr
    (refusal,) = json.loads(r.stdout)["refusals"]
    assert (refusal["release"], refusal["code"], refusal["new"]) == ("1.4.1", "rollback", True)
