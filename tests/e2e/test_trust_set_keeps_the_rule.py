"""A trust rule is changed in place, and the refusals that need a change name the command that works
(review newuser findings 2, 7 and 11; decision 946).

The findings' own steps, through the real CLI: a second `trust add` (the README's relay section on a
prod that already trusts dev) is refused `already_trusted` naming `bundlekit trust set ...`, which
then works and keeps the rest of the rule; `trust set` changes every setting `trust add` takes but
the card; `policy_denied` names the `trust set --projects` that admits the project; `trust add
--spaces Payments` without `--space` warns, and an import of a release naming another space than the
one it enters says so. Every refusal leaves the home as it was (the snapshot of every file).
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import run_cli, snapshot
from tests.e2e.test_spaces import ok, zones

WIDGET = """[project]
name = "Widget API"
{space}[release]
version = "{version}"
channel = "Default"
[[steps]]
name = "Say hello"
type = "script"
syntax = "bash"
script = 'echo hello'
"""


def script_release(root: Path, name: str, *, project: str = "Widget API", space: str | None = None,
                   version: str = "1.0.0") -> Path:
    """``root/NAME.toml``: the reviewer's release file of one script step (no package), of
    ``project``, naming ``space`` when given."""
    path = root / f"{name}.toml"
    text = WIDGET.format(space=f'space = "{space}"\n' if space else "", version=version)
    path.write_text(text.replace("Widget API", project), encoding="utf-8")
    return path


def _refused(done: subprocess.CompletedProcess[str], code: str, exit_code: int) -> str:
    """The message of a refusal printed on stderr as ``error [code]: ...``."""
    assert done.returncode == exit_code, done.stdout + done.stderr
    found = re.search(r"error \[(\w+)\]: (.*)", done.stderr)
    assert found is not None and found.group(1) == code, done.stderr
    return found.group(2)


def _suggested(message: str) -> list[str]:
    """The `bundlekit trust set ...` command a message names, as its words."""
    found = re.search(r"`(bundlekit trust set [^`]*)`", message)
    assert found is not None, message
    return shlex.split(found.group(1))


def _run(words: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a command a message suggested, exactly as printed (``bundlekit`` is this checkout's)."""
    assert words[0] == "bundlekit"
    return subprocess.run([sys.executable, "-m", "bundlekit", *words[1:]], capture_output=True, text=True,
                          timeout=120)


def _rule(home: Path, name: str) -> dict[str, Any]:
    rules = json.loads(ok("trust", "list", "--json", home=home))["zones"]
    return next(r for r in rules if r["name"] == name)  # type: ignore[no-any-return]


def test_a_second_trust_add_with_via_names_the_trust_set_that_works_and_it_keeps_projects_and_threshold(
        tmp_path: Path) -> None:
    """Finding 2: the README's relay section on a prod set up by its first round trip."""
    w = zones(tmp_path, "dev", "staging", "prod")
    prod = w["prod"]
    ok("trust", "add", tmp_path / "dev.card", "--projects", "acme-*", "--threshold", "1", home=prod)
    ok("trust", "add", tmp_path / "staging.card", home=prod)
    ok("trust", "set", "dev", "--evidence-for", "Development", "--new", home=prod)
    before = snapshot(prod)
    message = _refused(run_cli("trust", "add", tmp_path / "dev.card", "--via", "staging", home=prod),
                       "already_trusted", 1)
    assert snapshot(prod) == before
    assert "trust remove" not in message, message  # the destructive way is not the advice
    assert _suggested(message) == ["bundlekit", "trust", "set", "dev", "--via", "staging", "--home", str(prod)]
    done = _run(_suggested(message))
    assert done.returncode == 0, done.stderr
    rule = _rule(prod, "dev")
    assert rule["via"] == ["staging"]
    assert (rule["policy"]["projects"], rule["policy"]["threshold"], rule["policy"]["evidence_for"]) == (
        ["acme-*"], 1, ["Development"])


def test_a_second_trust_add_names_every_option_it_was_given_and_no_default(tmp_path: Path) -> None:
    w = zones(tmp_path, "dev", "prod")
    prod = w["prod"]
    ok("trust", "add", tmp_path / "dev.card", home=prod)
    message = _refused(run_cli("trust", "add", tmp_path / "dev.card", "--projects", "acme-*,bundlekit",
                               "--environments", "Staging", "--environments", "Production", home=prod),
                       "already_trusted", 1)
    assert _suggested(message) == ["bundlekit", "trust", "set", "dev", "--projects", "acme-*,bundlekit",
                                   "--environments", "Staging", "--environments", "Production", "--home", str(prod)]
    assert _run(_suggested(message)).returncode == 0
    policy = _rule(prod, "dev")["policy"]
    assert (policy["projects"], policy["environments"]) == (["acme-*", "bundlekit"], ["Staging", "Production"])
    plain = _refused(run_cli("trust", "add", tmp_path / "dev.card", home=prod), "already_trusted", 1)
    assert "`bundlekit trust set dev --help` lists the options" in plain, plain


def test_trust_set_changes_spaces_projects_environments_and_threshold_and_keeps_the_rest(tmp_path: Path) -> None:
    w = zones(tmp_path, "dev", "staging", "prod")
    prod = w["prod"]
    ok("trust", "add", tmp_path / "staging.card", home=prod)
    ok("trust", "add", tmp_path / "dev.card", "--via", "staging", "--evidence-for", "QA", "--new", home=prod)
    done = run_cli("trust", "set", "dev", "--spaces", "Default", "--projects", "acme-*", "--projects", "billing",
                   "--environments", "Prod*", "--threshold", "2", home=prod)
    assert done.returncode == 0, done.stderr
    assert "spaces Default, projects acme-*,billing, environments Prod*" in done.stdout
    rule = _rule(prod, "dev")
    assert rule["policy"]["spaces"] == ["Default"] and rule["policy"]["projects"] == ["acme-*", "billing"]
    assert rule["policy"]["environments"] == ["Prod*"] and rule["policy"]["threshold"] == 2
    assert rule["via"] == ["staging"] and rule["policy"]["evidence_for"] == ["QA"] and rule["space"] == "Default"
    before = snapshot(prod)
    message = _refused(run_cli("trust", "set", "dev", "--threshold", "0", home=prod), "invalid_policy", 2)
    assert "--threshold 0" in message
    assert snapshot(prod) == before


def test_policy_denied_names_the_trust_set_that_admits_the_project_and_that_command_works(tmp_path: Path) -> None:
    """Finding 7's refusal, with a release of a project the rule's globs leave out."""
    w = zones(tmp_path, "dev", "prod")
    dev, prod = w["dev"], w["prod"]
    ok("trust", "add", tmp_path / "prod.card", home=dev)
    ok("trust", "add", tmp_path / "dev.card", "--projects", "acme-*", "--threshold", "1", home=prod)
    bundle = tmp_path / "w.bundle"
    ok("export", script_release(tmp_path, "widget"), "--to", "prod", "-o", bundle, home=dev)
    message = _refused(run_cli("import", bundle, home=prod), "policy_denied", 3)
    assert "may not send project 'Widget API' (allowed: acme-*)" in message
    # the --home given (decision 964); the refusal entry that goes back to dev keeps it out
    # (tests/e2e/test_hints_name_the_home.py)
    assert _suggested(message) == ["bundlekit", "trust", "set", "dev", "--projects", "acme-*,widget-api", "--home", str(prod)]
    assert json.loads(ok("releases", "list", "--json", home=prod))["releases"] == []
    done = _run(_suggested(message))
    assert done.returncode == 0, done.stderr
    ok("import", bundle, home=prod)


def test_policy_denied_for_an_environment_names_the_environments_to_add(tmp_path: Path) -> None:
    w = zones(tmp_path, "dev", "prod")
    dev, prod = w["dev"], w["prod"]
    ok("trust", "add", tmp_path / "prod.card", home=dev)
    ok("trust", "add", tmp_path / "dev.card", "--environments", "Staging", home=prod)
    ok("export", script_release(tmp_path, "widget"), "--to", "prod", "-o", tmp_path / "w.bundle", home=dev)
    ok("import", tmp_path / "w.bundle", home=prod)
    ok("targets", "add", "web-01", "--environment", "Production", "--role", "web", "--root", tmp_path / "t", home=prod)
    message = _refused(run_cli("deploy", "widget-api", "1.0.0", "--environment", "Production", home=prod),
                       "policy_denied", 3)
    assert _suggested(message) == ["bundlekit", "trust", "set", "dev", "--environments", "Staging,Production",
                                   "--home", str(prod)]


def test_trust_add_spaces_of_another_space_without_space_warns_and_names_the_move_that_works(tmp_path: Path) -> None:
    """Finding 11: `--spaces Payments` meant as `--space Payments`."""
    w = zones(tmp_path, "paydev", "prod")
    paydev, prod = w["paydev"], w["prod"]
    for home in (paydev, prod):
        ok("spaces", "add", "Payments", home=home)
    ok("trust", "add", tmp_path / "prod.card", home=paydev)
    done = run_cli("trust", "add", tmp_path / "paydev.card", "--spaces", "Payments", home=prod)
    assert done.returncode == 0, done.stderr
    assert "in space Default" in done.stdout
    warning = next(line for line in done.stderr.splitlines() if line.startswith("warning: "))
    assert "--space was not given" in warning and "enter space Default" in warning, warning
    assert _suggested(warning) == ["bundlekit", "trust", "set", "paydev", "--space", "Payments", "--home", str(prod)]
    assert _run(_suggested(warning)).returncode == 0
    assert _rule(prod, "paydev")["space"] == "Payments"
    bundle = tmp_path / "pay.bundle"
    ok("export", script_release(tmp_path, "pay", project="Pay Web", space="Payments"), "--to", "prod", "-o", bundle,
       home=paydev)
    imported = run_cli("import", bundle, "--space", "Payments", home=prod)
    assert imported.returncode == 0, imported.stderr
    assert "into space Payments" in imported.stdout and "note:" not in imported.stdout


def test_trust_add_spaces_with_space_default_given_is_not_warned_and_a_dead_glob_of_another_space_is(
        tmp_path: Path) -> None:
    w = zones(tmp_path, "paydev", "shopdev", "prod")
    prod = w["prod"]
    ok("spaces", "add", "Payments", home=prod)
    ok("spaces", "add", "Shop", home=prod)
    meant = run_cli("trust", "add", tmp_path / "paydev.card", "--space", "Default", "--spaces", "Payments",
                    "--json", home=prod)
    assert meant.returncode == 0 and "warning" not in meant.stderr, meant.stderr
    assert json.loads(meant.stdout)["warnings"] == []
    dead = run_cli("trust", "add", tmp_path / "shopdev.card", "--space", "Shop", "--spaces", "Payments", "--json",
                   home=prod)
    assert dead.returncode == 0, dead.stderr
    (warning,) = json.loads(dead.stdout)["warnings"]
    assert "admits no release of zone shopdev" in warning, warning
    assert _suggested(warning) == ["bundlekit", "trust", "set", "shopdev", "--spaces", "Shop", "--home", str(prod)]


def test_an_import_of_a_release_naming_another_space_says_where_it_entered_before_and_after(tmp_path: Path) -> None:
    """Finding 11's import: the release names Payments, the rule (in Default) takes it into Default."""
    w = zones(tmp_path, "paydev", "prod")
    paydev, prod = w["paydev"], w["prod"]
    for home in (paydev, prod):
        ok("spaces", "add", "Payments", home=home)
    ok("trust", "add", tmp_path / "prod.card", home=paydev)
    ok("trust", "add", tmp_path / "paydev.card", "--spaces", "Payments", home=prod)
    bundle = tmp_path / "pay.bundle"
    ok("export", script_release(tmp_path, "pay", project="Pay Web", space="Payments"), "--to", "prod", "-o", bundle,
       home=paydev)
    for args, verb in ((("--dry-run",), "would enter"), ((), "entered")):
        done = run_cli("import", bundle, *args, home=prod)
        assert done.returncode == 0, done.stderr
        note = next(line for line in done.stdout.splitlines() if line.strip().startswith("note: "))
        assert f"names space Payments ([project] space); it {verb} space Default" in note, note
        assert _suggested(note) == ["bundlekit", "trust", "set", "paydev", "--space", "Payments", "--home", str(prod)]
    listed = json.loads(ok("releases", "list", "--json", home=prod))["releases"]
    assert [(r["project"], r["in_space"]) for r in listed] == [("Pay Web", "Default")]


def test_trust_set_space_moves_the_rule_and_says_its_projects_stay(tmp_path: Path) -> None:
    w = zones(tmp_path, "paydev", "staging", "prod")
    paydev, prod = w["paydev"], w["prod"]
    ok("spaces", "add", "Payments", home=prod)
    ok("trust", "add", tmp_path / "prod.card", home=paydev)
    ok("trust", "add", tmp_path / "paydev.card", "--projects", "pay-*", home=prod)
    ok("export", script_release(tmp_path, "pay", project="Pay Web"), "--to", "prod", "-o", tmp_path / "p.bundle",
       home=paydev)
    ok("import", tmp_path / "p.bundle", home=prod)
    moved = run_cli("trust", "set", "paydev", "--space", "payments", home=prod)
    assert moved.returncode == 0, moved.stderr
    assert "1 project(s) of space Default stay there" in moved.stderr
    rule = _rule(prod, "paydev")
    assert (rule["space"], rule["policy"]["projects"]) == ("Payments", ["pay-*"])  # the zone's spelling; kept


def test_a_relay_other_rules_need_cannot_move_to_another_space(tmp_path: Path) -> None:
    w = zones(tmp_path, "dev", "staging", "prod")
    prod = w["prod"]
    ok("spaces", "add", "Payments", home=prod)
    ok("trust", "add", tmp_path / "staging.card", home=prod)
    ok("trust", "add", tmp_path / "dev.card", "--via", "staging", home=prod)
    before = snapshot(prod)
    message = _refused(run_cli("trust", "set", "staging", "--space", "Payments", home=prod), "invalid_policy", 2)
    assert "relays the releases of zone(s) dev" in message and f"`bundlekit trust set dev --no-via --home {shlex.quote(str(prod))}`" in message
    assert snapshot(prod) == before
    # dev's rule may move with its relay: staging, trusted in Default, relays for every space (decision 945)
    moved = run_cli("trust", "set", "dev", "--space", "Payments", home=prod)
    assert moved.returncode == 0, moved.stderr
