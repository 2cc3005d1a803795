"""`outbox pack` killed between recording its receipt and renaming it into place loses no receipt.

The kill is placed exactly: a real `bundlekit outbox pack` process whose rename into place
SIGKILLs the process itself (what a kill at that instant does), so the state says the entries
travel in a receipt whose file is not at its path yet.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bundlekit.deploy.service import deploy
from tests.conftest import Zones, cli_in_process
from tests.importer.helpers import deployable_prod

#: `bundlekit outbox pack`, killed by SIGKILL at the moment it would rename the finished receipt.
KILLED_PACK = """
import os, signal, sys
from bundlekit.format.container import BundleWriter
BundleWriter.commit = lambda self: os.kill(os.getpid(), signal.SIGKILL)
from bundlekit.cli import main
sys.argv = ["bundlekit"] + sys.argv[1:]
main()
"""


def ready_prod(tmp_path: Path) -> Zones:
    """dev and prod; prod imported acme-web 1.4.0, bound its API key and has two local targets."""
    z = deployable_prod(tmp_path)
    return z


def killed_pack(out: Path, home: Path) -> None:
    """`bundlekit outbox pack -o OUT` SIGKILLed once its receipt is recorded, before the rename."""
    killed = subprocess.run([sys.executable, "-c", KILLED_PACK, "outbox", "pack", "-o", str(out), "--home",
                             str(home)], capture_output=True, text=True, timeout=300,
                            env={k: v for k, v in os.environ.items() if k != "BUNDLEKIT_HOME"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not out.exists()  # recorded as written, but not renamed into place


def test_a_pack_killed_after_its_commit_leaves_the_receipt_to_be_finished(tmp_path: Path) -> None:
    z = ready_prod(tmp_path)
    record = deploy(z.prod, "acme-web", "1.4.0", "Production", now=time.time()).record
    assert record is not None
    z.prod.close()
    out = tmp_path / "media" / "receipt.bundle"
    out.parent.mkdir()
    killed_pack(out, z.prod.home)

    listed = json.loads(cli_in_process("outbox", "list", "--json", home=z.prod.home).stdout)
    assert [f["path"] for f in listed["files"]] == [str(out.resolve())]
    assert out.exists() and [p.name for p in out.parent.iterdir()] == ["receipt.bundle"]
    again = cli_in_process("outbox", "pack", "-o", tmp_path / "media" / "again.bundle", home=z.prod.home)
    assert again.returncode != 0 and "outbox_empty" in again.stderr  # nothing waits: it was packed once

    imported = cli_in_process("import", out, "--json", home=z.dev.home)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert record.deployment_id in imported.stdout
