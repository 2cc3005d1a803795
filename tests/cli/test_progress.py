"""Progress on long work: shown on a terminal (one bar per item), never when redirected, with
--quiet or --json, and without colour under NO_COLOR."""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from bundlekit.cli.progress import Bars, shows_progress
from bundlekit.core.progress import begin
from tests.transport.helpers import write_payload

MiB = 1 << 20
_COLOUR = re.compile(r"\x1b\[[0-9;]*(3[0-9]|9[0-7]|38;)[0-9;]*m")  # SGR that sets a foreground colour
_ESC = re.compile(r"\x1b\[")


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_drawn_only_on_a_terminal_without_quiet_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    assert shows_progress(False, False, FakeTerminal())
    assert not shows_progress(False, False, io.StringIO())  # redirected
    assert not shows_progress(True, False, FakeTerminal())  # --quiet
    assert not shows_progress(False, True, FakeTerminal())  # --json
    monkeypatch.setenv("TERM", "dumb")
    assert not shows_progress(False, False, FakeTerminal())


def _draw(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "120")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    out = FakeTerminal()
    with Bars("split", stream=out) as bars:
        for name in ("acme.bundle.001-of-002.bkvol", "acme.bundle.002-of-002.bkvol"):
            begin(bars, name, 4 * MiB)
            for _ in range(4):
                bars(MiB)
    return out.getvalue()


def test_one_bar_per_item_with_percentage_and_size(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _draw(monkeypatch)
    assert "acme.bundle.001-of-002.bkvol" in text and "acme.bundle.002-of-002.bkvol" in text
    assert "100%" in text and "4.0/4.0 MiB" in text


def test_no_colour_under_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert _COLOUR.search(_draw(monkeypatch, FORCE_COLOR="1")), "the check must see colour when allowed"
    monkeypatch.delenv("FORCE_COLOR")
    plain = _draw(monkeypatch, NO_COLOR="1")
    assert "100%" in plain and not _COLOUR.search(plain)


def test_labels_from_a_bundle_are_shown_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    out = FakeTerminal()
    with Bars("x", stream=out) as bars:
        begin(bars, "evil\x1b]0;owned\x07", 1)
        bars(1)
    assert "\x1b]0;owned" not in out.getvalue()


@pytest.mark.parametrize("label", ["[/]", "acme-[v2].bundle", "[bold]x.bundle", "[link=file:///etc]y[/link]"])
def test_a_label_is_text_never_markup(monkeypatch: pytest.MonkeyPatch, label: str) -> None:
    """Review v33-15a F3/F4: an announced name '[/]' made the receiver die with rich's MarkupError,
    and '[v2]' vanished from a volume's bar."""
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", "120")
    out = FakeTerminal()
    with Bars("x", stream=out) as bars:
        begin(bars, label, 1)
        bars(1)
    assert label in out.getvalue()


def _split_args(tmp_path: Path, out: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bundlekit", "media", "split", str(tmp_path / "big.bin"), "--volume-size", "8M",
            "--out", str(tmp_path / out), *extra]


def _env() -> dict[str, str]:
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="120")
    env.pop("NO_COLOR", None)
    return env


def _under_terminal(args: list[str]) -> tuple[str, str, int]:
    """Run with stderr on a pseudo-terminal (120 columns) and stdout on a pipe: (terminal, stdout, exit)."""
    main, child = os.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=child, env=_env())
    os.close(child)
    seen = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    stdout = proc.communicate(timeout=120)[0]
    os.close(main)
    return seen.decode("utf-8", "replace"), stdout.decode(), proc.returncode


def test_a_run_under_a_terminal_shows_progress_and_a_redirected_run_shows_none(tmp_path: Path) -> None:
    write_payload(tmp_path / "big.bin", 20 * MiB, 1)
    terminal, stdout, code = _under_terminal(_split_args(tmp_path, "tty"))
    assert code == 0
    for n in (1, 2, 3):
        assert f"big.bin.00{n}-of-003.bkvol" in terminal
    assert "100%" in terminal and "8.0/8.0 MiB" in terminal
    assert stdout.startswith("split big.bin") and not _ESC.search(stdout)  # the result itself is plain

    redirected = subprocess.run(_split_args(tmp_path, "file"), capture_output=True, text=True, env=_env(),
                                timeout=120)
    assert redirected.returncode == 0 and redirected.stdout.startswith("split big.bin")
    assert redirected.stderr == "" and not _ESC.search(redirected.stdout)


def test_json_under_a_terminal_draws_no_progress(tmp_path: Path) -> None:
    write_payload(tmp_path / "big.bin", 12 * MiB, 2)
    terminal, stdout, code = _under_terminal(_split_args(tmp_path, "tty", "--json"))
    assert code == 0 and json.loads(stdout)["data_volumes"] == 2
    assert terminal == ""


def test_a_deployment_under_a_terminal_shows_a_bar_per_target_and_package(tmp_path: Path) -> None:
    from tests.cli.operator_world import ok, world
    w = world(tmp_path / "w")
    ok("import", w.bundle, home=w.prod)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-progress", "--sensitive", home=w.prod)
    terminal, stdout, code = _under_terminal([sys.executable, "-m", "bundlekit", "deploy", "acme-web", "1.4.0",
                                              "--environment", "Production", "--home", str(w.prod)])
    assert code == 0, terminal
    assert "extract on web-01: Acme.Web 1.4.0" in terminal and "100%" in terminal
    assert "MB/s" not in terminal and "GB/s" not in terminal  # rates in the sizes' units (finding 15.2)
    assert "> Deploy web on web-01" in terminal  # step lines print above the bars
    assert stdout.startswith("deployment Deployments-1: Acme Web 1.4.0 to Production: Success")


@pytest.mark.parametrize("columns", [60, 80])
def test_each_bar_stays_on_one_line_of_a_narrow_terminal(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    """The reviewer's example: at 80 columns a multi-GiB bar wrapped "GiB" and "MiB/s" onto a
    second line. Figures never wrap; a long label is cut with an ellipsis instead."""
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", str(columns))
    out = FakeTerminal()
    with Bars("split", stream=out) as bars:
        for name in ("acme-web-1.4.0.bundle.001-of-003.bkvol", "Acme.Web 1.4.0"):
            begin(bars, name, 2100 * MiB)
            for _ in range(30):
                bars(37 * MiB)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    lines = [line for line in re.split(r"[\r\n]", plain) if line.strip()]
    assert lines and all(len(line) <= columns for line in lines), lines
    assert all(re.search(r"\d+% [\d.]+/[\d.]+ GiB", line) for line in lines), lines  # every line a whole bar
    assert any(line.startswith("acme-web-1.4.0") and "…" in line for line in lines)


def test_two_targets_bars_keep_the_target_and_cut_the_package_at_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reviewer's two targets at 80 columns read "transfer Big.App 1.0.0 o…" twice: the
    target, the one thing telling the bars apart, was what got cut (finding 15.2)."""
    from bundlekit.cli.deploy_cmds import _progress
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", "80")
    out = FakeTerminal()
    package = "Big.Application.With.A.Long.Name 1.0.0"
    with Bars("deploy", stream=out) as bars:
        show = _progress(False, False, bars, [])
        assert show is not None
        for phase in ("transfer", "extract"):
            for target in ("p1", "p2"):
                show({"event": "package_started", "step": "s", "target": target, "package": package,
                      "phase": phase, "total": 120 * MiB})
                show({"event": "package_progress", "step": "s", "target": target, "package": package,
                      "phase": phase, "bytes": 60 * MiB})
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    lines = [line for line in re.split(r"[\r\n]", plain) if line.strip()]
    assert lines and all(len(line) <= 80 for line in lines), lines
    for label in ("transfer to p1:", "transfer to p2:", "extract on p1:", "extract on p2:"):
        assert any(line.startswith(label) and "50%" in line for line in lines), (label, lines)
    assert any("…" in line for line in lines), lines  # the package name is what gave way
