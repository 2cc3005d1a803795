"""What a killed writer leaves, and what a later writer removes (decision 886).

A writer is a real process killed with SIGKILL mid-write; a live writer is an
:class:`AtomicFile` still open in this process. The sweep removes only bundlekit's own
temporary names whose lock nobody holds: never a user's file, a link, a folder, a FIFO, or a
file being written.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bundlekit.core.atomic import AtomicFile, TempFolder, is_temp_name, sweep_leftovers, tell_swept, write_atomic

ROOT = Path(__file__).resolve().parents[2]
#: Writes a file through AtomicFile, says so on stdout, then waits to be killed.
_WRITER = """
import sys, time
from bundlekit.core.atomic import AtomicFile
out = AtomicFile(sys.argv[1])
out.write(b"x" * int(sys.argv[2]))
out.file.flush()
print(out.tmp_path, flush=True)
time.sleep(600)
"""
#: Makes a scratch folder with a file in it, says where, then waits to be killed.
_FOLDER = """
import sys, time
from bundlekit.core.atomic import TempFolder
with TempFolder(sys.argv[1], "backup") as work:
    (work / "state.db").write_bytes(b"s" * int(sys.argv[2]))
    print(work, flush=True)
    time.sleep(600)
"""


def killed_writer(path: Path, size: int = 4096, *, folder: bool = False) -> Path:
    """The temporary file a process writing ``path`` leaves when it is killed (SIGKILL) mid-write;
    ``folder``: the scratch folder (with ``size`` bytes in it) a process using ``path`` as the
    parent of a :class:`TempFolder` leaves."""
    proc = subprocess.Popen([sys.executable, "-c", _FOLDER if folder else _WRITER, str(path), str(size)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    tmp = Path(proc.stdout.readline().strip())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and (tmp.is_dir() if folder else tmp.is_file() and not path.exists())
    return tmp


def test_a_killed_writer_leaves_a_temporary_the_next_sweep_removes(tmp_path: Path) -> None:
    left = killed_writer(tmp_path / "acme-1.4.0.bundle", 10_000)
    assert left.parent == tmp_path and is_temp_name(left.name) and left.name.startswith(".bundlekit-")
    assert left.name.endswith(".acme-1.4.0.bundle.tmp")
    assert sweep_leftovers(tmp_path) == [(left, 10_000)]
    assert list(tmp_path.iterdir()) == []
    assert sweep_leftovers(tmp_path) == []


def test_a_file_being_written_is_not_swept_and_still_commits(tmp_path: Path) -> None:
    live = AtomicFile(tmp_path / "card")
    live.write(b"half")
    live.sync()  # closed and on disk, not yet renamed: the writer still holds its lock
    assert sweep_leftovers(tmp_path) == []
    assert live.tmp_path.exists()
    live.commit()
    assert (tmp_path / "card").read_bytes() == b"half" and sorted(p.name for p in tmp_path.iterdir()) == ["card"]


def test_a_user_s_files_links_folders_and_fifos_are_never_swept(tmp_path: Path) -> None:
    mine = tmp_path / "mine.txt"
    mine.write_bytes(b"the user's")
    user_files = [".notes.tmp", ".acme.bundle.k2hsv3gb.tmp", "bundlekit-abcdefgh.x.tmp",  # not bundlekit's names
                  ".bundlekit-abcdefgh.x.tmp.keep", ".bundlekit-abc.x.tmp"]
    for name in user_files:
        (tmp_path / name).write_bytes(b"keep")
    (tmp_path / ".bundlekit-linklink.mine.txt.tmp").symlink_to(mine)
    (tmp_path / ".bundlekit-folder00.x.tmp" / "inner").mkdir(parents=True)  # not a scratch folder of bundlekit's
    (tmp_path / ".bundlekit-folder00.x.tmp" / "inner" / "kept").write_text("kept")
    os.mkfifo(tmp_path / ".bundlekit-fifofifo.x.tmp")
    (tmp_path / ".bundlekit-flatflat.photos.tmp").mkdir()  # only files in it, but no label of a scratch folder
    (tmp_path / ".bundlekit-flatflat.photos.tmp" / "a.jpg").write_bytes(b"a")  # (review v32-att N1)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert sweep_leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == before and mine.read_bytes() == b"the user's"


def test_only_the_folder_itself_is_swept(tmp_path: Path) -> None:
    below = tmp_path / "below"
    below.mkdir()
    left = killed_writer(below / "x.bundle")
    assert sweep_leftovers(tmp_path) == [] and left.exists()


def test_a_sweeping_writer_removes_them_first_and_tells_who_asked(tmp_path: Path) -> None:
    left = killed_writer(tmp_path / "old.bundle", 777)
    told: list[tuple[Path, int]] = []
    tell_swept(lambda path, size: told.append((path, size)))
    try:
        out = AtomicFile(tmp_path / "new.card", sweep=True)
        assert out.swept == [(left, 777)] and not left.exists()
        out.commit()
        write_atomic(tmp_path / "quiet.card", b"x")  # a writer that does not sweep: its folder is left alone
        assert killed_writer(tmp_path / "again.bundle").exists()
        internal = AtomicFile(tmp_path / "zone-internal", sweep=False)
        assert internal.swept == []
        internal.discard()
    finally:
        tell_swept(None)
    assert told == [(left, 777)]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["new.card", "quiet.card"]


def test_a_killed_writer_s_scratch_folder_is_swept_and_a_live_one_is_not(tmp_path: Path) -> None:
    left = killed_writer(tmp_path, 2000, folder=True)
    assert left.parent == tmp_path and is_temp_name(left.name) and left.name.endswith(".backup.tmp")
    with TempFolder(tmp_path, "backup") as live:
        (live / "state.db").write_bytes(b"live")
        assert sweep_leftovers(tmp_path) == [(left, 2000)]
        assert not left.exists() and (live / "state.db").read_bytes() == b"live"
    assert list(tmp_path.iterdir()) == []


def test_a_sweep_in_the_instant_before_the_writer_s_lock_costs_the_writer_only_a_new_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    real = tempfile.mkstemp
    made: list[str] = []

    def made_then_swept(*args, **kwargs):  # type: ignore[no-untyped-def]
        fd, name = real(*args, **kwargs)
        made.append(name)
        if len(made) == 1:  # another process sweeps the folder before this writer takes its lock
            assert sweep_leftovers(tmp_path) == [(Path(name), 0)]
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", made_then_swept)
    out = AtomicFile(tmp_path / "card")
    assert len(made) == 2 and out.tmp_path == Path(made[1]) and not Path(made[0]).exists()
    assert sweep_leftovers(tmp_path) == []  # the new name is held
    out.write(b"whole")
    out.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card"] and (tmp_path / "card").read_bytes() == b"whole"
