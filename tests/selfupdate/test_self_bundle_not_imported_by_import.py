"""Plain `bundlekit import` of bundlekit's own release is refused, naming self-update (newuser35
finding 13, decision 972): it "imported bundlekit 0.8.2" without installing or testing it, and from
then on a good older build was refused as a rollback with nothing to roll back to. Only self-update
imports such a release, once its environment runs."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli, snapshot
from tests.selfupdate.conftest import LATER, NEWER, small_self_bundle, two_zones


def test_import_of_a_bundlekit_release_is_refused_naming_self_update_and_changes_nothing(tmp_path: Path) -> None:
    dev, prod = two_zones(tmp_path)
    good = small_self_bundle(tmp_path, dev, version=NEWER)  # sequence 1
    later = small_self_bundle(tmp_path, dev, version=LATER)  # sequence 2: say, a build that does not run
    before = snapshot(prod)
    for args in ((), ("--dry-run",)):
        done = run_cli("import", later, *args, "--json", home=prod)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        err = json.loads(done.stdout)["error"]
        assert err["code"] == "self_not_importable"
        assert f"bundlekit {LATER} from zone dev is bundlekit's own release" in err["message"]
        assert f"`bundlekit self-update {later} --home {prod}`" in err["message"]
        assert snapshot(prod) == before  # not recorded, no refusal queued for dev
    assert "no receipts waiting" in run_cli("outbox", "list", home=prod).stdout
    # the refused import did not make LATER the zone's bundlekit: the good older build still installs
    dry = run_cli("self-update", good, "--dry-run", home=prod)
    assert dry.returncode == 0, dry.stderr
    assert f"would install bundlekit {NEWER}" in dry.stdout


def test_an_import_the_trust_policy_refuses_is_still_refused_and_reported_as_before(tmp_path: Path) -> None:
    dev, prod = two_zones(tmp_path)
    assert run_cli("trust", "set", "dev", "--projects", "acme-*", home=prod).returncode == 0
    bundle = small_self_bundle(tmp_path, dev)
    done = run_cli("import", bundle, "--json", home=prod)
    assert done.returncode == 3, done.stdout
    assert json.loads(done.stdout)["error"]["code"] == "policy_denied"  # the source hears of it (decision 947)
