"""The dashboard in a real browser: headless Chromium parses the page (from a file and from
the local server) and we read back the DOM it built; a screenshot is kept under
``artifacts/`` for people to look at.

No extra Python packages: Chromium's ``--dump-dom`` and ``--screenshot`` switches, read with
html.parser. A missing Chromium FAILS the test (``.ci/run`` installs it); it is never skipped.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import zlib
from pathlib import Path

import pytest

from bundlekit.dashboard.html import render_html
from bundlekit.dashboard.server import serve

from .dom import age, earlier_failures, grid_cells, line, parse, release
from .sample import EXPECTED_CELLS, NOW, SECRET, sample_view
from .test_html import HOSTILE, hostile_view

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
TIMEOUT = 60
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def chromium() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found is None:
        pytest.fail("Chromium is not installed: the browser test needs the Debian package `chromium` "
                    "(/usr/bin/chromium). `.ci/run` installs it; locally run "
                    "`apt-get update && apt-get install -y chromium`.")
    return found


def run_chromium(tmp_path: Path, *args: str) -> str:
    """Run Chromium with a fresh profile and home; returns stdout. Fails after 60 s."""
    profile = Path(tempfile.mkdtemp(prefix="profile-", dir=tmp_path))
    home = Path(tempfile.mkdtemp(prefix="home-", dir=tmp_path))
    env = dict(os.environ, HOME=str(home))
    proc = subprocess.Popen([chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.communicate()
        pytest.fail(f"chromium did not finish within {TIMEOUT} s: {' '.join(args)}")
    finally:
        _kill_group(proc.pid)  # helpers it left behind (only this run's own session)
    if proc.returncode != 0:
        pytest.fail(f"chromium exited with {proc.returncode}: {err[-3000:]}")
    return out


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def png_size_and_pixels(path: Path) -> tuple[int, int, bytes]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    idat, pos = b"", 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def test_browser_builds_every_grid_cell_with_its_state_and_release(tmp_path: Path) -> None:
    page = tmp_path / "dashboard.html"
    page.write_text(render_html(sample_view(), NOW), encoding="utf-8")
    doc = parse(run_chromium(tmp_path, "--dump-dom", page.as_uri()))
    cells = grid_cells(doc)
    assert set(cells) == set(EXPECTED_CELLS)
    for key, (state, shown) in EXPECTED_CELLS.items():
        assert cells[key].attrs["data-state"] == state, key
        assert release(cells[key]) == shown, key
    exported = cells[("acme-web", "prod", "Production")]
    assert line(exported) == "Awaiting receipt, exported 3h ago"
    section = doc.by_id((exported.by_tag("a")[0].attrs["href"] or "")[1:])
    assert section is not None and "Previous success1.3.0" in section.text()
    failed = cells[("billing-api", "prod", "Staging")]
    assert age(failed) == "3h ago" and failed.by_class("prev")[0].text() == "last success: 2.0.3"
    href = failed.by_tag("a")[0].attrs["href"] or ""
    section = doc.by_id(href[1:])
    assert section is not None and "already exists" in section.text()
    assert SECRET not in doc.text()


def test_browser_keeps_hostile_names_and_logs_as_text(tmp_path: Path) -> None:
    page = tmp_path / "hostile.html"
    page.write_text(render_html(hostile_view(), NOW), encoding="utf-8")
    doc = parse(run_chromium(tmp_path, "--dump-dom", page.as_uri()))
    assert not doc.by_tag("script") and not doc.by_tag("img") and not doc.by_tag("u")
    assert [b.text() for b in doc.by_tag("b")] == [HOSTILE]  # the one release, as text
    assert doc.by_class("pname")[0].text() == HOSTILE
    assert HOSTILE in doc.by_tag("pre")[0].text()
    assert doc.by_tag("title")[0].text() == f"Deployments \u00b7 zone {HOSTILE}"
    assert SECRET not in doc.text()


def test_browser_screenshot_is_saved_as_a_test_artifact(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = tmp_path / "dashboard.html"
    page.write_text(render_html(sample_view(), NOW), encoding="utf-8")
    shots = {"dashboard.png": (1400, 900), "dashboard-deployments.png": (1400, 2400)}
    for name, (w, h) in shots.items():
        out = ARTIFACTS / name
        out.unlink(missing_ok=True)
        run_chromium(tmp_path, f"--screenshot={out}", f"--window-size={w},{h}", "--hide-scrollbars",
                     "--run-all-compositor-stages-before-draw", page.as_uri())
        width, height, pixels = png_size_and_pixels(out)
        assert (width, height) == (w, h)
        # A blank or failed render is one colour; the dashboard has many.
        assert len(set(pixels)) > 50, f"{out} looks blank"


def test_browser_loads_the_dashboard_from_the_local_server(tmp_path: Path) -> None:
    ports: queue.Queue[int] = queue.Queue()
    t = threading.Thread(target=serve, args=(sample_view, "127.0.0.1", 0),
                         kwargs={"ready": ports.put, "max_requests": 1}, daemon=True)
    t.start()
    port = ports.get(timeout=10)
    doc = parse(run_chromium(tmp_path, "--dump-dom", f"http://127.0.0.1:{port}/"))
    t.join(timeout=10)
    assert not t.is_alive()
    cells = grid_cells(doc)
    assert set(cells) == set(EXPECTED_CELLS)
    assert cells[("billing-api", "prod", "Production")].attrs["data-state"] == "partial"


def test_browser_shows_every_failure_and_one_column_per_environment_in_lifecycle_order(tmp_path: Path) -> None:
    """A real zone's dashboard: a failed attempt followed by a success in the same cell, an
    environment typed in other case, and imports another zone refused. Chromium must show the
    columns in lifecycle order (not alphabetical), one per environment, and every failure
    counted in the header and reachable from the grid."""
    from tests.conftest import run_cli
    from tests.e2e.promotion_world import LIFECYCLE_RELEASE, make_promo, ok

    w = make_promo(tmp_path / "w")
    fail = 'assert schema == "42", schema\nassert "#{Acme.Fail}" != "yes", "told to fail"'
    release = w.release(LIFECYCLE_RELEASE, ('assert schema == "42", schema', fail),
                        ("[[variables]]", '[[variables]]\nname = "Acme.Fail"\nvalue = "no"\n\n[[variables]]'))
    ok("releases", "create", release, home=w.dev)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-dev", "--sensitive", home=w.dev)
    w.targets(w.dev, "Development", "Staging", "Production")
    ok("deploy", "acme-web", "1.5.0", "--environment", "Development", home=w.dev)
    ok("variables", "set", "acme-web", "Acme.Fail", "yes", "--environment", "Staging", home=w.dev)
    assert run_cli("deploy", "acme-web", "1.5.0", "--environment", "Staging", home=w.dev).returncode == 5
    ok("variables", "unset", "acme-web", "Acme.Fail", "--environment", "Staging", home=w.dev)
    ok("deploy", "acme-web", "1.5.0", "--environment", "staging", home=w.dev)  # the release says "Staging"
    ok("deploy", "acme-web", "1.5.0", "--environment", "PRODUCTION", home=w.dev)
    # prod refuses a bundle whose sequence it already saw with other bytes; the refusal comes back.
    # dev itself never writes two bundles under one number (decision 800): a copy of it taken now,
    # as a restored backup, does, knowing nothing of the first
    restored = shutil.copytree(w.dev, tmp_path / "dev-restored", symlinks=True)
    first = w.export(release, "prod", "first.bundle")
    ok("import", first, home=w.prod)
    again = tmp_path / "again.bundle"
    ok("export", w.release(LIFECYCLE_RELEASE, version="1.5.1"), "--to", "prod", "-o", again, "--sequence", "1",
       home=restored)
    assert run_cli("import", again, home=w.prod).returncode == 3
    ok("outbox", "pack", "-o", tmp_path / "refusal.bundle", home=w.prod)
    ok("import", tmp_path / "refusal.bundle", home=restored)
    page = tmp_path / "dashboard.html"
    r = run_cli("dashboard", "--html", page, home=restored)
    assert r.returncode == 0, r.stderr

    doc = parse(run_chromium(tmp_path, "--dump-dom", page.as_uri()))
    cells = grid_cells(doc)
    assert [(z, e) for (_s, z, e) in cells] == [("dev", "Development"), ("dev", "Staging"), ("dev", "Production"),
                                               ("prod", "(awaiting)")]
    staging = cells[("acme-web", "dev", "Staging")]
    assert staging.attrs["data-state"] == "succeeded" and earlier_failures(staging) == ["1.5.0 failed"]
    targets = [doc.by_id((a.attrs["href"] or "")[1:]) for a in staging.by_tag("a")]  # the card, the failure
    assert all(t is not None and t.tag == "section" for t in targets)
    failed = [t for t in targets if t is not None and "Failed" in t.by_class("badge")[0].text()]
    assert len(failed) == 1 and "told to fail" in failed[0].text()
    refused = cells[("acme-web", "prod", "(awaiting)")]
    assert refused.attrs["data-state"] == "refused" and "sequence_reused" in refused.text()
    chips = {li.text().strip() for li in doc.by_tag("header")[0].by_tag("li")}
    assert {"\u2716 1 failed", "\u2298 1 refused"} <= chips
    (failures,) = [s for s in doc.by_tag("section") if s.attrs.get("id") == "failures"]
    links = failures.by_tag("a")
    assert len(links) == 2 and all(doc.by_id((a.attrs["href"] or "")[1:]) is not None for a in links)
