"""A command a message suggests for this zone carries the --home the operator gave (review newuser35
findings 9, 1 and 2; decision 964).

The finding's own setting: the operator works on prod with --home while $BUNDLEKIT_HOME names
another zone (a decoy that trusts dev too). Every hint below is pasted as printed, with that
$BUNDLEKIT_HOME, and must change prod, never the decoy; the homes hold a space, so a hint that does
not quote the path cannot be pasted at all.
"""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from tests.conftest import run_cli, snapshot
from tests.e2e.world import API_KEY, make_world, ok


def _hints(text: str, command: str) -> list[str]:
    """Every `bundlekit COMMAND ...` a message names, as printed."""
    return re.findall(rf"`(bundlekit {command}[^`]*)`", text)


def _paste(hint: str, decoy: Path, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``hint`` as a shell would split it, with $BUNDLEKIT_HOME naming the decoy zone."""
    words = shlex.split(hint)
    assert words[0] == "bundlekit", hint
    return run_cli(*words[1:], env={"BUNDLEKIT_HOME": str(decoy)}, input=input)


def _error(done: subprocess.CompletedProcess[str], code: str) -> str:
    found = re.search(r"error \[(\w+)\]: (.*)", done.stderr, re.S)
    assert found is not None and found.group(1) == code, done.stdout + done.stderr
    return found.group(2)


def test_pasted_refusal_hints_change_the_zone_refused_in_not_the_one_bundlekit_home_names(tmp_path: Path) -> None:
    root = tmp_path / "a b"
    w = make_world(root)
    prod, decoy = w.prod, root / "decoy"
    ok("init", "--zone", "staging", home=decoy)
    ok("trust", "add", root / "dev.card", home=decoy)
    decoy_before = snapshot(decoy)
    at_prod = f"--home {shlex.quote(str(prod))}"

    # policy_denied: the `trust set` that widens prod's rule
    ok("trust", "set", "dev", "--projects", "other-*", home=prod)
    bundle = w.export("r.bundle")
    message = _error(run_cli("import", bundle, home=prod), "policy_denied")
    [widen] = _hints(message, "trust set")
    assert widen == f"bundlekit trust set dev --projects 'other-*,acme-web' {at_prod}"
    assert _paste(widen, decoy).returncode == 0
    # the refusal goes back to dev in a receipt: there prod's home means nothing
    with closing(sqlite3.connect(prod / "state.db")) as db:
        [(entry,)] = db.execute("SELECT entry FROM refusals").fetchall()
    sent = json.loads(entry)["message"]
    assert "widen its trust rule here" in sent and "--home" not in sent and str(prod) not in sent, sent
    ok("import", bundle, home=prod)

    # preflight_unresolved_variables: the `variables set` that binds the sensitive placeholder
    message = _error(run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", home=prod),
                     "preflight_unresolved_variables")
    binds = _hints(message, "variables set acme-web Acme.ApiKey")
    assert binds and all(at_prod in b for b in binds), message
    assert _paste(binds[0], decoy, input=API_KEY.encode()).returncode == 0
    # the refusal's record travels to dev in a receipt: there prod's home means nothing
    shown = json.loads(ok("deployments", "show", "Deployments-1", "--json", home=prod))
    assert "Acme.ApiKey" in json.dumps(shown) and "--home" not in json.dumps(shown)

    # success: the outbox hint
    done = ok("deploy", "acme-web", "1.4.0", "--environment", "Production", home=prod)
    [pack] = _hints(done, "outbox pack")
    assert pack == f"bundlekit outbox pack --to dev -o FILE {at_prod}"

    # no_targets: the `targets add` for the environment that lost its targets
    for name in ("db-01", "web-01"):
        ok("targets", "remove", name, home=prod)
    message = _error(run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", home=prod), "no_targets")
    [add] = _hints(message, "targets add")
    assert add.endswith(at_prod), message

    assert snapshot(decoy) == decoy_before  # no pasted hint touched the zone $BUNDLEKIT_HOME names


def test_a_hint_without_home_given_names_none(tmp_path: Path) -> None:
    """Without --home the command works on $BUNDLEKIT_HOME, and so does its pasted hint."""
    w = make_world(tmp_path)
    ok("trust", "set", "dev", "--projects", "other-*", home=w.prod)
    bundle = w.export("r.bundle")
    done = run_cli("import", bundle, env={"BUNDLEKIT_HOME": str(w.prod)})
    [widen] = _hints(_error(done, "policy_denied"), "trust set")
    assert widen == "bundlekit trust set dev --projects 'other-*,acme-web'"


def test_init_next_hint_quotes_a_home_with_a_space(tmp_path: Path) -> None:
    home = tmp_path / "q z2"
    out = ok("init", "--zone", "qz2", home=home)
    [hint] = [line for line in out.splitlines() if line.startswith("next: ")]
    words = shlex.split(hint[len("next: "):])
    assert words == ["bundlekit", "identity", "--home", str(home), "-o", "qz2.card"]
    card = tmp_path / "pasted.card"
    assert run_cli(*words[1:4], "-o", card).returncode == 0 and card.is_file()
