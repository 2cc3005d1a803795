"""A hostile step in the default bubblewrap sandbox tries to undo it, with the zone's home outside /tmp.

The homes, the worker folder and the local target live under /var/tmp: the sandbox's private
/tmp plays no part, so only what the sandbox does for the home protects it. Both steps (roleless,
on the zone's worker; and on a local folder target) first try to unmount the empty folder laid
over the home, print their uid and effective capabilities, and try to read a file only the zone's
OS user may read (outside the home), then run the key probe. Decisions 450 and 760.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.fleet.hostile import public_folder, var_folder  # noqa: F401 (fixtures)
from tests.fleet.test_hostile_steps import deploy_hostile, require_bwrap
from tests.e2e.world import ok

ESCAPE = r'''
import os, subprocess
done = subprocess.run(["umount", "HOME_GUESS"], capture_output=True)
print("UMOUNT-RC", done.returncode)
caps = [line.split()[1] for line in open("/proc/self/status") if line.startswith("CapEff:")]
print("STEP-UID", os.getuid(), "CAPEFF", caps[0])
try:
    with open(os.path.join(os.path.dirname("HOME_GUESS"), "owner-only.txt")) as handle:
        print("OWNER-FILE-READ", handle.read())
except OSError as error:
    print("OWNER-FILE-DENIED", error.errno)
'''


def test_a_sandboxed_step_cannot_unmount_what_hides_the_home_nor_read_the_owners_files(
        var_folder: Path, public_folder: Path, request: pytest.FixtureRequest) -> None:
    require_bwrap()
    base = var_folder / "zones"
    base.mkdir()
    secret = var_folder / "zones" / "owner-only.txt"  # beside the homes: HOME_GUESS's folder
    secret.write_text("only-the-zone-owner-reads-this")
    secret.chmod(0o600)
    _, prod, _, deployed = deploy_hostile("sandbox", base, var_folder, request, prelude=ESCAPE)
    assert str(prod).startswith("/var/tmp/")
    shown = ok("deployments", "show", "Deployments-1", "--json", home=prod)
    assert shown.count("KEYS-FOUND 0 []") == 2, shown  # both steps ran and read no key
    assert shown.count("UMOUNT-RC") == 2 and "UMOUNT-RC 0" not in shown, shown
    assert re.findall(r"CAPEFF (\w+)", shown) == ["0000000000000000"] * 2, shown
    if os.geteuid() == 0:  # a root zone's steps run as nobody, not as root with its powers dropped
        assert "STEP-UID 0 " not in shown and shown.count("STEP-UID") == 2, shown
    # root zone or not: the file is not in the sandbox's allow-list (decision 760)
    assert "only-the-zone-owner-reads-this" not in shown + deployed.stdout + deployed.stderr
    assert shown.count("OWNER-FILE-DENIED") == 2, shown
