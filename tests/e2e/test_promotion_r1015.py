"""Promotion and operator findings of review r1015 through the real CLI: one zone's deployments in
that zone's own order whatever its clock said, a release's own variables shown, a lifecycle a
release drops, receipts that contradict themselves, refreshed variables after a phase passed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import run_cli
from tests.e2e.promotion_world import Promo, make_promo, ok

LEGACY_RELEASE = "release.toml"  # the 1.4.0 fixture: no lifecycle
DAY = 86400


def _skewed(seconds: int, *args: str | Path, home: Path) -> subprocess.CompletedProcess[str]:
    """The real CLI with the zone's wall clock ``seconds`` ahead (a VM restored without NTP)."""
    code = ("import sys, time; real = time.time; time.time = lambda: real() + %d; "
            "sys.argv = ['bundlekit'] + sys.argv[1:]; from bundlekit.__main__ import main; sys.exit(main())" % seconds)
    return subprocess.run([sys.executable, "-c", code, *map(str, args), "--home", str(home)],
                          capture_output=True, text=True, timeout=300)


def _failing(w: Promo) -> Path:
    fail = 'assert schema == "42", schema\nassert "#{Acme.Fail}" != "yes", "told to fail"'
    return w.release(LEGACY_RELEASE, ('assert schema == "42", schema', fail),
                     ("[[variables]]", '[[variables]]\nname = "Acme.Fail"\nvalue = "no"\n\n[[variables]]'))


def _dashboard(home: Path) -> dict[str, Any]:
    r = run_cli("dashboard", "--json", home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def test_a_failure_after_a_deploy_stamped_in_the_future_is_the_latest_attempt_on_both_dashboards(
        tmp_path: Path) -> None:
    """r1015a A2: prod's clock ran a day fast for one deployment; the failure made after it with the
    right clock is the cell's latest attempt (not "failed before"), in prod and on the source
    dashboard the receipt feeds; the future time reads as suspicious."""
    w = make_promo(tmp_path / "w")
    ok("import", w.export(_failing(w), "prod", "a.bundle"), home=w.prod)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-zone", "--sensitive", home=w.prod)
    w.targets(w.prod, "Production")
    deploy = ("deploy", "acme-web", "1.4.0", "--environment", "Production")
    ahead = _skewed(DAY, *deploy, home=w.prod)
    assert ahead.returncode == 0, ahead.stdout + ahead.stderr
    ok("variables", "set", "acme-web", "Acme.Fail", "yes", "--environment", "Production", home=w.prod)
    assert run_cli(*deploy, home=w.prod).returncode == 5
    ok("outbox", "pack", "-o", w.root / "media" / "r.bundle", home=w.prod)
    ok("import", w.root / "media" / "r.bundle", home=w.dev)
    for home in (w.prod, w.dev):
        (row,) = _dashboard(home)["projects"]
        (cell,) = [c for c in row["cells"] if c is not None and c["environment"] == "Production"]
        assert (cell["latest"]["state"], cell["latest"]["deployment_id"]) == ("failed", "Deployments-2"), home
        assert cell["previous_success"]["deployment_id"] == "Deployments-1"
        assert cell["failures"] == []
        text = run_cli("dashboard", home=home, env={"COLUMNS": "300"}).stdout
        assert "1.4.0 failed" in text and "failed before" not in text
    listed = ok("deployments", "list", home=w.prod).splitlines()
    assert listed[0].startswith("Deployments-2 ") and "future: clock ahead?" in listed[1]
