"""What a zone records about promotion is what happened, through the real CLI: a waiver names
the account that ran `lifecycle waive`, whatever LOGNAME or USER say, and evidence offered
again with a bundle the zone already imported is checked and recorded, never dropped."""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

import pytest

from tests.conftest import run_cli, snapshot
from tests.e2e.promotion_world import LIFECYCLE_RELEASE, Promo, make_promo, ok, okj


def _bind(home: Path) -> None:
    r = run_cli("variables", "set", "acme-web", "Acme.ApiKey", "-", "--sensitive", home=home, input=b"k-zone")
    assert r.returncode == 0, r.stderr


def test_a_waiver_names_the_account_that_ran_it_not_the_name_the_environment_gives(tmp_path: Path) -> None:
    w = make_promo(tmp_path / "w")
    ok("releases", "create", w.release_dir / LIFECYCLE_RELEASE, home=w.dev)
    ok("import", w.export(w.release_dir / LIFECYCLE_RELEASE, "prod", "p.bundle"), home=w.prod)
    spoof = {"LOGNAME": "mallory", "USER": "mallory", "LNAME": "mallory", "USERNAME": "mallory"}
    r = run_cli("lifecycle", "waive", "acme-web", "--phase", "Staging", "--reason", "CAB-1", home=w.prod, env=spoof)
    assert r.returncode == 0, r.stderr
    listed = json.loads(run_cli("lifecycle", "waivers", "--json", home=w.prod).stdout)["waivers"]
    assert [x["author"] for x in listed] == [pwd.getpwuid(os.getuid()).pw_name]


def _offered_again(w: Promo) -> tuple[Path, Path, Path]:
    """1.5.0 through Development (dev) and Staging (staging); prod imports it WITHOUT the receipt.
    Returns (the bundle prod imported, staging's receipt of 1.5.0, staging's receipt of 1.5.1)."""
    ok("releases", "create", w.release_dir / LIFECYCLE_RELEASE, home=w.dev)
    _bind(w.dev)
    w.targets(w.dev, "Development")
    ok("deploy", "acme-web", "1.5.0", "--environment", "Development", home=w.dev)
    ok("import", w.export(w.release_dir / LIFECYCLE_RELEASE, "staging", "s.bundle"), home=w.staging)
    _bind(w.staging)
    w.targets(w.staging, "Staging")
    receipt = w.root / "media" / "staging-receipt.bundle"
    ok("deploy", "acme-web", "1.5.0", "--environment", "Staging", "--receipt-out", receipt, home=w.staging)
    other = w.release(LIFECYCLE_RELEASE, version="1.5.1")
    ok("releases", "create", other, home=w.dev)
    ok("deploy", "acme-web", "1.5.1", "--environment", "Development", home=w.dev)
    ok("import", w.export(other, "staging", "s2.bundle"), home=w.staging)
    wrong = w.root / "media" / "staging-receipt-1.5.1.bundle"
    ok("deploy", "acme-web", "1.5.1", "--environment", "Staging", "--receipt-out", wrong, home=w.staging)
    to_prod = w.export(w.release_dir / LIFECYCLE_RELEASE, "prod", "p.bundle")
    ok("import", to_prod, home=w.prod)
    return to_prod, receipt, wrong


def test_evidence_offered_with_a_bundle_already_imported_is_checked_and_recorded(tmp_path: Path) -> None:
    w = make_promo(tmp_path / "w")
    to_prod, receipt, wrong = _offered_again(w)
    phases = okj("lifecycle", "show", "acme-web", "1.5.0", home=w.prod)["lifecycle"]["phases"]
    assert not phases[1]["passed"]  # the control: nothing proves Staging yet

    before = snapshot(w.prod)
    r = run_cli("import", to_prod, "--evidence", wrong, "--json", home=w.prod)
    assert (json.loads(r.stdout)["error"]["code"], r.returncode) == ("evidence_mismatch", 3), r.stdout + r.stderr
    assert snapshot(w.prod) == before

    r = run_cli("import", to_prod, "--evidence", receipt, "--dry-run", "--json", home=w.prod)
    assert r.returncode == 0, r.stderr
    assert [e["environment"] for e in json.loads(r.stdout)["evidence"]] == ["Staging"]
    assert snapshot(w.prod) == before

    r = run_cli("import", to_prod, "--evidence", receipt, home=w.prod)
    assert r.returncode == 0, r.stderr
    assert "recorded 1 new piece(s) of lifecycle evidence" in r.stdout and "to Staging succeeded" in r.stdout
    phases = okj("lifecycle", "show", "acme-web", "1.5.0", home=w.prod)["lifecycle"]["phases"]
    assert phases[1]["passed"], phases
    again = json.loads(run_cli("import", to_prod, "--evidence", receipt, "--json", home=w.prod).stdout)
    assert again["noop"] and "recorded before" in again["reason"]


def test_an_account_name_that_is_not_a_plain_label_is_recorded_as_its_uid(monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 2 of the r1015 attack review: the author went into state, receipts and the source's
    dashboard unchecked (control characters, markup). The password database's name is recorded
    only when it is a plain label; otherwise, and without an entry, the uid stands for it."""
    from bundlekit.core.operator import operator_name
    uid = os.getuid()

    def named(name: str) -> object:
        return lambda _uid: pwd.struct_passwd((name, "x", uid, 0, "", "/", "/bin/sh"))

    monkeypatch.setattr(pwd, "getpwuid", named("ciso-alice"))
    assert operator_name() == "ciso-alice"
    for hostile in ("evil\x1b[2J", "<script>alert(1)</script>", "two words", "x" * 65, ""):
        monkeypatch.setattr(pwd, "getpwuid", named(hostile))
        assert operator_name() == f"uid {uid}", hostile

    def missing(_uid: int) -> object:
        raise KeyError(_uid)

    monkeypatch.setattr(pwd, "getpwuid", missing)
    assert operator_name() == f"uid {uid}"
