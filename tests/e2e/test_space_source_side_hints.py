"""A release for a space needs the source zone's side too (newuser36 finding 10): the release file's
`space = "..."` and a space of that name in the source zone. The refusals on the way say both
steps."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.conftest import ROOT, run_cli, snapshot
from tests.e2e.world import ok

PAY = """[project]
name = "Payments Web"
space = "Default"
[release]
version = "1.0.0"
channel = "Default"
[[steps]]
name = "Hello"
type = "script"
syntax = "bash"
script = "echo hi"
"""


def _error(done, code: str) -> str:  # type: ignore[no-untyped-def]
    found = re.search(r"error \[(\w+)\]: (.*)", done.stderr, re.S)
    assert done.returncode != 0 and found is not None and found.group(1) == code, done.stdout + done.stderr
    return found.group(2)


def test_following_the_refusals_of_a_release_for_another_space_leads_to_an_import(tmp_path: Path) -> None:
    paydev, prod = tmp_path / "pay dev", tmp_path / "prod"
    for name, home in (("paydev", paydev), ("prod", prod)):
        ok("init", "--zone", name, home=home)
        ok("identity", "-o", tmp_path / f"{name}.card", home=home)
    ok("trust", "add", tmp_path / "prod.card", home=paydev)
    ok("spaces", "add", "Payments", home=prod)
    ok("trust", "add", tmp_path / "paydev.card", "--space", "Payments", home=prod)
    release = tmp_path / "pay.toml"
    release.write_text(PAY)
    ok("export", release, "--to", "prod", "-o", tmp_path / "a.bundle", home=paydev)

    denied = _error(run_cli("import", tmp_path / "a.bundle", "--space", "Payments", home=prod), "space_denied")
    assert "space = 'Payments' under [project]" in denied, denied
    [add_there] = re.findall(r"in zone paydev, `(bundlekit spaces add [^`]*)`", denied)
    assert add_there == "bundlekit spaces add Payments", denied

    # a project paydev created in Default stays there (decision 660): the team's next project, for Payments
    release.write_text(PAY.replace('space = "Default"', 'space = "Payments"').replace("Payments Web", "Payments Api"))
    before = snapshot(paydev)
    unknown = _error(run_cli("export", release, "--to", "prod", "-o", tmp_path / "b.bundle", home=paydev),
                     "unknown_space")
    [add_here] = re.findall(r"`(bundlekit spaces add [^`]*)`", unknown)
    assert shlex.split(add_here) == ["bundlekit", "spaces", "add", "Payments", "--home", str(paydev)], unknown
    assert "run the same command again" in unknown and snapshot(paydev) == before
    ok(*shlex.split(add_here)[1:])
    ok("export", release, "--to", "prod", "-o", tmp_path / "b.bundle", home=paydev)
    ok("import", tmp_path / "b.bundle", "--space", "Payments", home=prod)


def test_readme_spaces_section_shows_the_source_zones_side() -> None:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Spaces: teams apart inside one zone"):text.index("## Updating bundlekit across")]
    assert "bundlekit spaces add Payments --home ./payments-dev" in section
    assert 'space = "Payments"' in section and "--home ./payments-dev" in section
