"""Commands print through the one escaping printer (``bundlekit/cli/common.py``: ``echo``,
``echo_text``, ``emit_json``), so text from a bundle, a receipt, a script or a remote machine
cannot steer the terminal (issue 12, "Terminal control characters"). A source scan: every
other ``click.echo`` in the CLI is one of the few reviewed below, each printing text that is
escaped already or is the zone's own exact bytes."""

from __future__ import annotations

import ast
from pathlib import Path

CLI = Path(__file__).resolve().parents[2] / "bundlekit" / "cli"

REVIEWED = {
    ("progress.py", "terminal_text(line)"),  # escaped
    ("receipt_cmds.py", "render_text(view, now, width=width, only=only)"),  # the grid escapes every cell itself
    ("receipt_cmds.py", "dumps({'url': url, 'port': p}, sort_keys=True)"),  # escaped JSON
    ("zone_cmds.py", "data.decode()"),  # this zone's own identity card, byte for byte
}


def test_nothing_prints_around_the_escaping_printer() -> None:
    found = set()
    for path in sorted(CLI.glob("*.py")):
        if path.name == "common.py":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "click" \
                    and node.func.attr in ("echo", "secho"):
                found.add((path.name, ast.unparse(node.args[0]) if node.args else ""))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                found.add((path.name, "print"))
    assert found <= REVIEWED, sorted(found - REVIEWED)
