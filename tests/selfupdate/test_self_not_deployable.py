"""The reserved project bundlekit is installed with self-update and never deployed (newuser finding
5): `deploy bundlekit ...` once "succeeded" with no step, was recorded and reported back to the
source as a success although nothing was installed. Every command that would run, plan, gate or
prove a deployment of it is refused, naming the command that installs it, and changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli, snapshot
from tests.selfupdate.conftest import NEWER, accepted, small_self_bundle, two_zones


def _refusal(done: object) -> dict[str, object]:
    assert done.returncode == 2, (done.stdout, done.stderr)  # type: ignore[attr-defined]
    return json.loads(done.stdout)["error"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("args", [
    ("deploy", "bundlekit", NEWER, "--environment", "Production"),
    ("deploy", "bundlekit", NEWER, "--environment", "Production", "--dry-run"),  # the plan
    ("deploy", "BundleKit", NEWER, "--environment", "Production", "--receipt-out", "r.bundle"),
    ("lifecycle", "show", "bundlekit"),
    ("lifecycle", "waive", "bundlekit", "--phase", "Staging", "--reason", "hotfix"),
])
def test_the_reserved_project_is_never_deployed_planned_or_gated_and_the_refusal_names_self_update(
        tmp_path: Path, args: tuple[str, ...]) -> None:
    dev, prod = two_zones(tmp_path)
    (tmp_path / "t").mkdir()
    assert run_cli("targets", "add", "web-01", "--environment", "Production", "--role", "web", "--root",
                   tmp_path / "t", home=prod).returncode == 0
    bundle = small_self_bundle(tmp_path, dev)
    accepted(prod, bundle)  # as `self-update` leaves it
    before = snapshot(prod, tmp_path / "r.bundle")
    err = _refusal(run_cli(*args, "--json", home=prod))
    assert err["code"] == "self_not_deployable"
    assert f"`bundlekit self-update BUNDLE --home {prod}`" in str(err["message"])
    assert snapshot(prod, tmp_path / "r.bundle") == before  # no deployment, no receipt queued, no waiver
    assert "no receipts waiting" in run_cli("outbox", "list", home=prod).stdout


def test_the_source_that_made_bundlekit_s_release_cannot_deploy_it_either(tmp_path: Path) -> None:
    dev, _ = two_zones(tmp_path)
    small_self_bundle(tmp_path, dev)  # registered in dev, "created here"
    (tmp_path / "t").mkdir()
    assert run_cli("targets", "add", "web-01", "--environment", "Development", "--role", "web", "--root",
                   tmp_path / "t", home=dev).returncode == 0
    before = snapshot(dev)
    err = _refusal(run_cli("deploy", "bundlekit", NEWER, "--environment", "Development", "--json", home=dev))
    assert err["code"] == "self_not_deployable"
    assert snapshot(dev) == before
