"""bundlekit's own bundle refused for its space gets advice that works for it (finding selfatk 3): not
`--space` on import nor a release file's space, which export-self and self-update do not have."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from tests.conftest import run_cli, snapshot
from tests.reported import unchanged_or_reported
from tests.selfupdate.conftest import export_self


def test_a_self_bundle_from_a_source_trusted_in_a_team_space_is_refused_with_advice_for_bundlekit(
        tmp_path: Path, wheelhouse: Path) -> None:
    dev, prod = tmp_path / "dev", tmp_path / "prod"
    for zone, home in (("dev", dev), ("prod", prod)):
        assert run_cli("init", "--zone", zone, home=home).returncode == 0
        assert run_cli("identity", "-o", tmp_path / f"{zone}.card", home=home).returncode == 0
    assert run_cli("trust", "add", tmp_path / "prod.card", home=dev).returncode == 0
    assert run_cli("spaces", "add", "Payments", home=prod).returncode == 0
    assert run_cli("trust", "add", tmp_path / "dev.card", "--space", "Payments", "--projects", "pay-*,bundlekit",
                   home=prod).returncode == 0
    bundle = tmp_path / "self.bundle"
    assert export_self(dev, wheelhouse, bundle).returncode == 0
    before = snapshot(prod)
    for args in (("self-update", bundle, "--dry-run"), ("import", bundle, "--space", "Payments"),
                 ("import", bundle)):
        done = run_cli(*args, "--json", home=prod)
        assert done.returncode == 3, done.stderr
        err = json.loads(done.stdout)["error"]
        assert err["code"] == "space_denied"
        message = err["message"]
        assert "bundlekit's own releases (the reserved project bundlekit) are accepted only in space Default" in message
        assert "trusted in space Payments" in message
        assert "--space" not in message and "release file" not in message
        hint = message.split("`")[3]
        assert shlex.split(hint) == ["bundlekit", "trust", "add", "CARD", "--projects", "PATTERNS,bundlekit", "--home",
                                     str(prod)]
        unchanged_or_reported(prod, before, "space_denied")  # an import reports it to dev (decision 968)
    flag = run_cli("self-update", bundle, "--space", "Payments", home=prod)
    assert flag.returncode == 2
    assert "bundlekit's own releases belong to space Default" in flag.stderr and "release file" not in flag.stderr
