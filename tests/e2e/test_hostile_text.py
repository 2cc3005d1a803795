"""Text from a bundle or a receipt cannot steer the operator's terminal, page or JSON consumer.

A release whose notes and variable value carry terminal escape sequences (CSI, OSC, C1
controls, a bidi override) and whose script prints some, carried through the real CLI: every
command that shows that text prints it escaped; ``--json`` gives it back exactly, with no raw
control character and no ``<``. (Labels such as step names cannot carry them at all: they are
refused where they enter, spec/names.md section 5; the refusal table proves it.)
"""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import run_cli
from tests.e2e.world import API_KEY, World, make_world

NOTES = "Fixes\x1b[2J\x1b[H screen\x1b]0;owned\x07 title\n\x9b31m C1 \u202etxt.exe <b>bold</b>"
VALUE = "blue\x1b[5m blink \u202etset"  # a value shown reversed unless escaped
# Raw bytes that must never reach a terminal: ESC, BEL, C1 CSI/OSC/ST, bidi overrides, lone CR.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    w = make_world(tmp_path_factory.mktemp("hostile"))
    path = w.release_dir / "release.toml"
    text = path.read_text()
    text = text.replace('notes = "Adds the order history page; migrates the orders schema."',
                        "notes = " + json.dumps(NOTES))
    text = text.replace('value = "acme_dev"', "value = " + json.dumps(VALUE))
    text = text.replace('print(f"smoke test on',
                        'print("\\x1b]0;log-owned\\x07\\x1b[31mred\\rover Smoke \\u202etset")\nprint(f"smoke test on')
    path.write_text(text)
    w.bundle = w.export("hostile.bundle")  # type: ignore[attr-defined]
    w.cli("import", w.bundle, home=w.prod)  # type: ignore[attr-defined]
    w.cli("variables", "set", "acme-web", "Acme.ApiKey", API_KEY, "--sensitive", home=w.prod)
    w.cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--receipt-out",
          w.root / "media" / "receipt.bundle", home=w.prod)
    w.cli("import", w.root / "media" / "receipt.bundle", home=w.dev)
    return w


def _shown(*args: object, home: object = None) -> str:
    r = run_cli(*args, home=home)  # type: ignore[arg-type]
    assert r.returncode == 0, r.stderr
    assert not RAW.search(r.stdout), f"raw control character in `{' '.join(map(str, args))}`: {r.stdout!r}"
    assert not RAW.search(r.stderr)
    return r.stdout


def test_inspect_prints_release_notes_escape_sequences_escaped(world: World) -> None:
    out = _shown("inspect", world.bundle)  # type: ignore[attr-defined]
    assert "Fixes\\x1b[2J\\x1b[H screen\\x1b]0;owned\\x07 title" in out
    assert "\\x9b31m C1 \\u202etxt.exe" in out
    assert "blue\\x1b[5m blink \\u202etset" in out


def test_show_prints_release_notes_escape_sequences_escaped(world: World) -> None:
    out = _shown("show", "acme-web", "1.4.0", home=world.prod)
    assert "Fixes\\x1b[2J\\x1b[H screen\\x1b]0;owned\\x07 title" in out
    assert "\\x9b31m C1 \\u202etxt.exe" in out  # the notes' second line, on its own line
    assert "blue\\x1b[5m blink \\u202etset" in out


@pytest.mark.parametrize("args", [("inspect", "{bundle}", "--json"), ("show", "acme-web", "--json", "@prod")])
def test_json_gives_the_exact_text_without_raw_controls_or_tags(world: World, args: tuple[str, ...]) -> None:
    home = world.prod if "@prod" in args else None
    argv = [world.bundle if a == "{bundle}" else a for a in args if a != "@prod"]  # type: ignore[attr-defined]
    r = run_cli(*argv, home=home)
    assert r.returncode == 0, r.stderr
    assert not RAW.search(r.stdout) and "<" not in r.stdout
    data = json.loads(r.stdout)
    assert data["release"]["notes"] == NOTES
    assert VALUE in [v["value"] for v in data["variables"]]


def test_deployment_log_escape_sequences_are_escaped_in_show_and_on_the_dashboard(world: World) -> None:
    listed = json.loads(_shown("deployments", "list", "--json", home=world.prod))["deployments"]
    out = _shown("deployments", "show", listed[0]["id"], home=world.prod)
    assert "\\x1b]0;log-owned\\x07\\x1b[31mred" in out
    assert "Smoke \\u202etset" in out
    _shown("releases", "list", home=world.prod)
    _shown("deployments", "list", home=world.prod)
    _shown("outbox", "list", home=world.prod)
    _shown("dashboard", home=world.dev)
    view = run_cli("dashboard", "--json", home=world.dev)
    assert not RAW.search(view.stdout) and "<" not in view.stdout
    page = world.root / "dashboard.html"
    _shown("dashboard", "--html", page, home=world.dev)
    html = page.read_text("utf-8")
    assert not RAW.search(html)
    assert "\\x1b]0;log-owned\\x07\\x1b[31mred" in html and "Smoke \\u202etset" in html


def test_serve_gives_the_page_and_its_json_with_every_control_escaped_and_no_tag(world: World) -> None:
    """The finding's third surface: what `serve` answers over HTTP (the page and the JSON it
    reads), not only the files `dashboard` writes."""
    import os
    import subprocess
    import sys
    import urllib.request

    env = {k: v for k, v in os.environ.items() if k != "BUNDLEKIT_HOME"}
    proc = subprocess.Popen([sys.executable, "-m", "bundlekit", "serve", "--home", str(world.dev), "--port", "0",
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["url"]
        with urllib.request.urlopen(url + "api/dashboard.json", timeout=30) as answer:
            body = answer.read().decode("utf-8")
        with urllib.request.urlopen(url, timeout=30) as answer:
            page = answer.read().decode("utf-8")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert not RAW.search(body) and "<" not in body and json.loads(body)["zone_name"] == "dev"
    assert not RAW.search(page)
    assert "\\x1b]0;log-owned\\x07\\x1b[31mred" in page and "Smoke \\u202etset" in page
