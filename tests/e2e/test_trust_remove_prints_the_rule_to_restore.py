"""`trust remove` of a relay a --via rule needs prints the complete command that trusts it again
with the rule it had (atk36 finding 3): "then `bundlekit trust set --home x/prod` as before" failed
when pasted (`Missing argument 'NAME'`) and did not say what "before" was.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.conftest import run_cli
from tests.e2e.test_relay import Chain


def _rule(home: Path, name: str) -> dict:  # type: ignore[type-arg]
    zones = json.loads(run_cli("trust", "list", "--json", home=home).stdout)["zones"]
    return next(z for z in zones if z["name"] == name)


def test_the_printed_trust_add_after_removing_a_relay_restores_its_whole_rule(tmp_path: Path) -> None:
    c = Chain(tmp_path)
    for name in ("dev", "staging", "prod"):
        c.zone(name)
    c.setup("trust", "add", c.card("staging"), "--projects", "acme-*", "--evidence-for", "Staging", home="prod")
    c.trust("prod", "dev", via=("staging",))
    before = _rule(c.home("prod"), "staging")
    r = run_cli("trust", "remove", "staging", home=c.home("prod"))
    assert r.returncode == 0, r.stderr
    assert "`bundlekit trust set --home" not in r.stderr and "as before" not in r.stderr, r.stderr
    printed = [cmd for cmd in re.findall(r"`(bundlekit trust add [^`]*)`", r.stderr)]
    assert len(printed) == 1, r.stderr
    words = shlex.split(printed[0])
    assert words[-2:] == ["--home", str(c.home("prod"))], printed
    env = {k: v for k, v in os.environ.items() if k != "BUNDLEKIT_HOME"}
    again = subprocess.run([sys.executable, "-m", "bundlekit", *words[1:]], cwd=tmp_path, capture_output=True,
                           text=True, env=env, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    after = _rule(c.home("prod"), "staging")
    assert after["policy"] == before["policy"], (before, after)
