"""Labels and names from a bundle cannot carry terminal controls; free text shows them escaped.

The finding "Terminal control characters" (issue 12) for every kind of bundle text: a release
re-signed by its real source with ESC sequences (CSI, OSC), BEL, a lone CR and a right-to-left
override (U+202E) in a step name, a variable name, a package id, the project name or the source
zone's name is refused by ``inspect`` and by ``import`` (``invalid_manifest``), and the refusal
quotes the field escaped; in the release notes or a placeholder's description (free text) it is
shown escaped by ``inspect`` and ``show`` (a lone CR as a line break), and given back exactly by
``--json`` with no raw control character and no ``<``. Through the real CLI in subprocesses.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.cli.operator_world import World, ok, world
from tests.conftest import run_cli, snapshot
from tests.refusals.forge import resign

HOSTILE = "\x1b[2J\x1b]0;owned\x07\rover\u202eevil<b>"
SHOWN = "\\x1b[2J\\x1b]0;owned\\x07\\rover\\u202eevil<b>"  # as a refusal quotes it (repr, then escaped)
# As multi-line free text is shown: a lone CR is a line break (it would overwrite the line it ends).
ESCAPED = "\\x1b[2J\\x1b]0;owned\\x07\n    over\\u202eevil<b>"
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

LABELS = {
    "step name": ("steps.1.name", lambda m: m["steps"][1].update(name="Deploy" + HOSTILE)),
    "variable name": ("variables.0.name", lambda m: m["variables"][0].update(name="Acme" + HOSTILE)),
    "package id": ("packages.0.id", lambda m: (m["packages"][0].update(id="Acme" + HOSTILE),
                                               m["steps"][1].update(package="Acme" + HOSTILE))),
    "project name": ("project.name", lambda m: m["project"].update(name="Acme" + HOSTILE)),
    "source zone name": ("source.name", lambda m: m["source"].update(name="dev" + HOSTILE)),
}


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> World:
    return world(tmp_path_factory.mktemp("hostile-labels"))


def _run(*args: object, home: Path | None = None) -> Any:
    r = run_cli(*args, home=home)
    assert "Traceback" not in r.stderr, r.stderr
    assert not RAW.search(r.stdout) and not RAW.search(r.stderr), (args, r.stdout, r.stderr)
    return r


@pytest.mark.parametrize("what", sorted(LABELS))
def test_a_label_with_terminal_controls_is_refused_and_quoted_escaped(w: World, tmp_path: Path, what: str) -> None:
    field, mutate = LABELS[what]
    bundle = resign(w.bundle, tmp_path / "hostile.bundle", w.dev, mutate=mutate)
    r = _run("inspect", bundle)
    assert r.returncode == 3 and "invalid_manifest" in r.stderr and f"{field}: " in r.stderr, r.stderr
    assert SHOWN in r.stderr
    r = _run("inspect", bundle, "--json")
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "invalid_manifest" and "<" not in r.stdout
    before = snapshot(w.prod)
    r = _run("import", bundle, "--json", home=w.prod)
    assert json.loads(r.stdout)["error"]["code"] == "invalid_manifest" and "<" not in r.stdout
    assert snapshot(w.prod) == before


def test_free_text_with_terminal_controls_is_shown_escaped_and_given_back_exactly(w: World, tmp_path: Path) -> None:
    def mutate(m: dict[str, Any]) -> None:
        m["release"]["notes"] = "Fixes" + HOSTILE
        m["placeholders"][0]["description"] = "Key" + HOSTILE

    bundle = resign(w.bundle, tmp_path / "notes.bundle", w.dev, mutate=mutate)
    out = _run("inspect", bundle).stdout
    assert "Fixes" + ESCAPED in out, out
    data = json.loads(_run("inspect", bundle, "--json").stdout)
    assert data["release"]["notes"] == "Fixes" + HOSTILE
    ok("import", bundle, home=w.prod)
    shown = _run("show", "acme-web", "1.4.0", home=w.prod).stdout
    assert "Fixes" + ESCAPED in shown, shown
    shown = _run("show", "acme-web", "1.4.0", "--json", home=w.prod).stdout
    assert "<" not in shown and json.loads(shown)["release"]["notes"] == "Fixes" + HOSTILE
    listed = _run("variables", "list", "acme-web", home=w.prod).stdout
    assert "Acme.ApiKey" in listed
    _run("releases", "list", home=w.prod)
