"""The runner ships its bytecode: a target of the zone's Python compiles nothing, any other compiles
the sources, and the runner's name is the same whichever zone process built it (decision 980)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bundlekit.runtime import pack
from bundlekit.runtime.pack import runner

#: Prints where the code of the runner's main loop came from: the name it was compiled under.
PROBE = ("import sys; sys.path.insert(0, sys.argv[1]); import bundlekit.runtime.agent as a; "
         "print(a.main.__code__.co_filename)")


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _where_main_came_from(pyz: Path) -> str:
    done = subprocess.run([sys.executable, "-s", "-E", "-c", PROBE, str(pyz)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_every_shipped_module_has_its_bytecode_and_this_python_imports_it_without_compiling(tmp_path: Path) -> None:
    members = _members(runner().data)
    sources = sorted(n for n in members if n.endswith(".py"))
    assert sources and all(n + "c" in members for n in sources), [n for n in sources if n + "c" not in members]
    pyz = tmp_path / "runner.pyz"
    pyz.write_bytes(runner().data)
    # Compiled from the archive's source, the code would be named after its path inside the archive.
    assert _where_main_came_from(pyz) == "bundlekit/runtime/agent.py"


def test_a_python_that_cannot_read_the_bytecode_compiles_the_sources_and_the_runner_still_serves(tmp_path: Path) -> None:
    members = _members(runner().data)
    other = tmp_path / "other-python.pyz"
    with zipfile.ZipFile(other, "w") as archive:
        for name, data in sorted(members.items()):
            # Another minor version's magic number: what a target of another Python finds.
            archive.writestr(name, b"\x00\x00\r\n" + data[4:] if name.endswith(".pyc") else data)
    assert _where_main_came_from(other) == f"{other}/bundlekit/runtime/agent.py"
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run([sys.executable, "-s", "-E", str(other), str(work), "x"], stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr  # it started, prepared its folder and ended at the end of stdin


def test_zone_processes_with_different_hash_seeds_build_the_same_runner() -> None:
    shas = set()
    for seed in ("1", "2", "random"):
        done = subprocess.run([sys.executable, "-c", "from bundlekit.runtime.pack import runner; "
                               "print(runner().sha256)"], capture_output=True, text=True, timeout=120, check=False,
                              env={**os.environ, "PYTHONHASHSEED": seed})
        assert done.returncode == 0, done.stderr
        shas.add(done.stdout.strip())
    assert shas == {runner().sha256}


@pytest.mark.parametrize("breakage", ["no interpreter", "garbage out", "fails"])
def test_a_compiler_that_cannot_run_or_answers_garbage_leaves_a_runner_of_sources(
        breakage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if breakage == "no interpreter":
        monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    else:
        monkeypatch.setattr(pack, "_COMPILER", "print('not marshal data')" if breakage == "garbage out"
                            else "raise SystemExit(3)")
    built = pack.runner.__wrapped__()  # a fresh build, not the cached one
    members = _members(built.data)
    assert not any(n.endswith(".pyc") for n in members)
    assert "bundlekit/runtime/agent.py" in members and built.sha256 != runner().sha256
