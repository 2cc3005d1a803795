"""README's "Updating bundlekit across the gap" can be pasted in a checkout (newuser36 finding 8):
it builds the wheel of the checkout itself (`.`) and names the wheel and bundle of the version that
checkout is, never one that does not exist; `self-update --help` chains with `export-self --help`."""

from __future__ import annotations

import re

from bundlekit import __version__
from bundlekit.cli import cli
from tests.conftest import ROOT


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Updating bundlekit across the gap")
    return text[start:text.index("\n## ", start + 1)]


def test_the_walkthrough_builds_this_checkout_and_names_its_version_only() -> None:
    section = _section()
    assert "pip wheel --no-deps -w ./wheelhouse . " in section
    versions = set(re.findall(r"bundlekit-(\d+\.\d+\.\d+)", section))
    assert versions == {__version__}, versions
    assert f"./wheelhouse/bundlekit-{__version__}-py3-none-any.whl" in section


def test_self_update_help_example_installs_the_bundle_export_self_help_writes() -> None:
    written = re.search(r"-o (\S+)", cli.commands["export-self"].epilog or "")
    assert written is not None
    assert f"bundlekit self-update {written.group(1)} " in (cli.commands["self-update"].epilog or "")
    assert "0.2.0" not in (cli.commands["self-update"].epilog or "")
