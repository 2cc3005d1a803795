"""A killed writer's temporary file in a user's folder is removed by the next bundlekit command
that writes there, and only it (decision 886). Real processes, SIGKILL, the real CLI.

Review v31-att: `bundlekit export` killed while it streamed a large package left a hidden
``.tmp`` file in the output folder for good. Every command that writes a user's file
atomically (bundles and receipts, cards, key pairs, the dashboard page, an inventory, media
volumes and joins, backups) now removes first what killed bundlekit writers left in that
folder: bundlekit's own temporary names whose writer's lock is gone (files, and the scratch
folder a backup keeps its copy of the state in), nothing else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bundlekit.core.atomic import AtomicFile, is_temp_name
from tests.conftest import run_cli, snapshot
from tests.core.test_atomic_leftovers import killed_writer
from tests.e2e.world import World, make_world

#: A package of 96 MiB of hex text: compressed while it streams, for seconds rather than instants.
BIG = 96


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("killed"))


def _big_release(w: World) -> Path:
    rel = w.release_dir / "big.toml"
    text = (w.release_dir / "release.toml").read_text()
    rel.write_text(text.replace("[[packages]]", '[[packages]]\nid = "Acme.Data"\nversion = "1.0.0"\n'
                                                'file = "packages/data.bin"\n\n[[packages]]', 1))
    with open(w.release_dir / "packages" / "data.bin", "wb") as f:
        for _ in range(BIG * 2):
            f.write(os.urandom(1 << 18).hex().encode())
    return rel


#: A user's files that look a little like temporaries: none of them is bundlekit's.
DECOYS = (".notes.tmp", ".acme.bundle.k2hsv3gb.tmp", "draft.bundle")


def _decoys(folder: Path) -> dict[str, tuple[str, int, str]]:
    """Write the :data:`DECOYS` in ``folder``; returns their snapshot."""
    for name in DECOYS:
        (folder / name).write_text(f"the user's {name}")
    return snapshot(*(folder / name for name in DECOYS))


def _temps(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_temp_name(p.name))


def _streaming(folder: Path) -> bool:
    """Whether a temporary file in ``folder`` holds more than 1 MiB (the package is streaming)."""
    for t in _temps(folder):
        try:
            if t.stat().st_size > (1 << 20):
                return True
        except FileNotFoundError:
            pass  # renamed or removed since it was listed
    return False


def test_an_export_killed_mid_stream_leaves_a_temporary_the_next_export_removes(world: World) -> None:
    w = world
    media = w.root / "media-killed"
    media.mkdir()
    decoys = _decoys(media)
    big = _big_release(w)
    env = {k: v for k, v in os.environ.items() if k != "BUNDLEKIT_HOME"}
    proc = subprocess.Popen([sys.executable, "-m", "bundlekit", "export", str(big), "--to", "prod", "-o",
                             str(media / "big.bundle"), "--home", str(w.dev)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 600  # a hang, not a measurement
    while not _streaming(media):
        assert proc.poll() is None, f"export ended (exit {proc.returncode}) before it was killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and not (media / "big.bundle").exists()
    [left] = _temps(media)
    assert left.name.startswith(".bundlekit-") and left.name.endswith(".big.bundle.tmp")

    live = AtomicFile(media / "being-written.card")  # another bundlekit writer, alive
    live.write(b"not finished")
    r = run_cli("export", w.release_dir / "release.toml", "--to", "prod", "-o", media / "small.bundle", home=w.dev)
    assert r.returncode == 0, r.stderr
    assert f"removed {left} (" in r.stderr and "a temporary file a killed bundlekit command left there" in r.stderr
    assert not left.exists() and (media / "small.bundle").is_file()
    assert snapshot(*(media / name for name in DECOYS)) == decoys
    assert _temps(media) == [live.tmp_path]  # a file being written is never taken for a leftover
    live.commit()
    assert (media / "being-written.card").read_bytes() == b"not finished" and _temps(media) == []


def _identity(w: World, out: Path) -> list[object]:
    return ["identity", "-o", out / "dev.card", "--home", w.dev]


def _dashboard(w: World, out: Path) -> list[object]:
    return ["dashboard", "--html", out / "board.html", "--home", w.dev]


def _inventory(w: World, out: Path) -> list[object]:
    return ["targets", "export-inventory", "-o", out / "inventory.json", "--home", w.prod]


def _keys(w: World, out: Path) -> list[object]:
    return ["keys", "new", "--name", "alice", "-o", out / "alice"]


def _split(w: World, out: Path) -> list[object]:
    bundle = w.root / "media" / "for-split.bundle"
    if not bundle.exists():
        w.export("for-split.bundle")
    return ["media", "split", bundle, "--volume-size", "64K", "--out", out]


def _join(w: World, out: Path) -> list[object]:
    volumes = w.root / "volumes"
    if not volumes.exists():
        assert run_cli(*_split(w, volumes)).returncode == 0
    return ["media", "join", volumes, "-o", out / "joined.bundle"]


def _backup(w: World, out: Path) -> list[object]:
    words = w.root / "backup-passphrase"
    words.write_text("a long backup passphrase\n")
    return ["zone", "backup", "-o", out / "prod.zbak", "--passphrase-file", words, "--home", w.prod]


@pytest.mark.parametrize("command", [_identity, _dashboard, _inventory, _keys, _split, _join, _backup],
                         ids=lambda c: c.__name__.strip("_"))
def test_every_command_writing_a_user_s_file_removes_killed_writers_leftovers_there(  # type: ignore[no-untyped-def]
        world: World, tmp_path: Path, command) -> None:
    out = tmp_path / "out"
    out.mkdir()
    decoys = _decoys(out)
    args = command(world, out)
    left = [killed_writer(out / "interrupted.bundle", 5000), killed_writer(out / "dev.card", 300),
            killed_writer(out, 2000, folder=True)]  # a killed backup's copy of its zone's state
    r = run_cli(*args)  # type: ignore[arg-type]
    assert r.returncode == 0, r.stderr
    assert not any(p.exists() for p in left), sorted(p.name for p in out.iterdir())
    assert _temps(out) == []
    shown = r.stdout + r.stderr  # media split names them in its own report, the others on stderr
    assert all(str(p) in shown for p in left) or "removed 3 temporary file(s)" in shown, shown
    assert snapshot(*(out / name for name in DECOYS)) == decoys
