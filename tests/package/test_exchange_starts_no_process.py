"""Swapping two folders in one step asks the C library the process already has: no ``ldconfig``
or compiler run to find it (``ctypes.util.find_library`` starts them; a deployment swaps a
package folder on every target, a key change swaps the keys folder)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import sys
from pathlib import Path
started = []
sys.addaudithook(lambda event, args: started.append(args[1]) if event in ("subprocess.Popen", "os.exec", "os.posix_spawn") else None)
from {module} import {function}
a, b = Path(sys.argv[1]), Path(sys.argv[2])
{function}(a, b)
print((a / "from-b").exists() and (b / "from-a").exists(), started)
"""


@pytest.mark.parametrize("module,function", [("bundlekit.package.extract", "exchange"),
                                             ("bundlekit.zone.keyfiles", "exchange_folders")])
def test_an_exchange_swaps_the_folders_and_starts_no_process(tmp_path: Path, module: str, function: str) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "from-a").touch()
    (b / "from-b").touch()
    done = subprocess.run([sys.executable, "-c", PROBE.format(module=module, function=function), str(a), str(b)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(None, 1) == ["True", "[]\n"], done.stdout
