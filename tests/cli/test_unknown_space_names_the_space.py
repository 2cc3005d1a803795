"""`unknown_space` names the space it refuses in the `spaces add` it prints, shell-quoted, with the
--home given (newuser36 finding 7's same kind), where it printed `spaces add NAME`; a name `spaces
add` would refuse (too long) stays NAME and is not repeated whole."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.conftest import run_cli
from tests.e2e.world import ok


def _error(done, code: str) -> str:  # type: ignore[no-untyped-def]
    found = re.search(r"error \[(\w+)\]: (.*)", done.stderr, re.S)
    assert done.returncode != 0 and found is not None and found.group(1) == code, done.stdout + done.stderr
    return found.group(2)


def test_unknown_space_prints_the_space_it_refuses_shell_quoted(tmp_path: Path) -> None:
    home = tmp_path / "prod"
    ok("init", "--zone", "prod", home=home)
    for typed, word in (("Finance", "Finance"), ("Team A", "'Team A'")):
        message = _error(run_cli("dashboard", "--space", typed, home=home), "unknown_space")
        assert f"`bundlekit spaces add {word} --home {shlex.quote(str(home))}`" in message, message
    message = _error(run_cli("dashboard", "--space", "x" * 500, home=home), "unknown_space")
    assert "`bundlekit spaces add NAME --home" in message and "x" * 200 not in message, message
