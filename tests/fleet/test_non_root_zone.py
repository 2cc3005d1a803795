"""A zone run by an ordinary OS user, in the default sandbox, beside that user's other zones.

The laptop layout of the README's round trip: one OS user runs dev, staging and prod side by
side, and keeps a 0600 file of its own outside every home (a ``PGPASSFILE``, say). prod trusts dev
for the ``Hostile`` project only; dev's release has a roleless step and a step on a local folder
target that try to read staging's, dev's and prod's keys (by their paths, and by the key probe's
walk from every folder they are given) and that file. The user itself can read all of them
(checked first, so the denials mean something); the steps read none (decision 760), and none of
it reaches the record, the deploy's output, the receipt, the source's outputs or its dashboard.

Run as root, the zone's OS user is a throwaway unprivileged account created here (as the
worker-user tests do) and removed afterwards; run as another user, the zones are that user's.
The homes live under /var/tmp, outside the sandbox's private /tmp.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fleet.hostile import var_folder  # noqa: F401 (a fixture)
from tests.fleet.test_hostile_steps import hostile_release, key_forms, require_bwrap

OWNER_SECRET = "owner-only-pgpass-line-7d41c9"

PRELUDE = r'''
import os
for path in LOOK_AT:
    try:
        with open(path, "rb") as handle:
            print("READ", path, handle.read(64).hex())
    except OSError as error:
        print("DENIED", path, error.errno)
'''


@dataclass(frozen=True)
class Owner:
    """The OS user that runs the zones (uid/gid; ``switch`` when the test must become it)."""

    uid: int
    gid: int
    switch: bool

    def run(self, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
        """``args`` run as this user with a plain environment (no root's variables)."""
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(cwd)}
        extra = {"user": self.uid, "group": self.gid, "extra_groups": []} if self.switch else {}
        return subprocess.run(list(map(str, args)), capture_output=True, text=True, env=env, cwd=cwd, timeout=300,
                              **extra)  # type: ignore[call-overload]

    def cli(self, *args: str | Path, home: Path) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "bundlekit", *args, "--home", home, cwd=home.parent)

    def ok(self, *args: str | Path, home: Path) -> str:
        done = self.cli(*args, home=home)
        assert done.returncode == 0, f"bundlekit {' '.join(map(str, args))}: {done.stdout}\n{done.stderr}"
        return done.stdout


@pytest.fixture
def owner() -> Iterator[Owner]:
    """As root: a throwaway unprivileged account (removed afterwards); else the current user."""
    if os.geteuid() != 0:
        yield Owner(os.getuid(), os.getgid(), switch=False)
        return
    if shutil.which("useradd") is None or shutil.which("userdel") is None:
        pytest.fail("the non-root zone test, run as root, needs useradd/userdel: run `apt-get install -y passwd`")
    name = f"bkz{os.getpid() % 100000}"
    subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                    "--user-group", name], check=True, capture_output=True)
    entry = pwd.getpwnam(name)
    assert entry.pw_uid != 0
    opened = _let_others_through(Path(sys.executable).parent, Path(__file__).resolve().parents[2])
    try:
        yield Owner(entry.pw_uid, entry.pw_gid, switch=True)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)
        subprocess.run(["groupdel", name], check=False, capture_output=True)
        for folder, mode in opened:
            os.chmod(folder, mode)


def _let_others_through(*paths: Path) -> list[tuple[Path, int]]:
    """Let other users pass through (o+x, not list) every folder above ``paths`` that stops them:
    the throwaway account must start this checkout's interpreter, and a checkout in a private
    folder (`mktemp -d` makes it 0700) would refuse it. Returns (folder, mode before), to restore."""
    opened: list[tuple[Path, int]] = []
    for path in paths:
        for folder in (path, *path.parents):
            mode = stat.S_IMODE(folder.stat().st_mode)
            if not mode & stat.S_IXOTH and folder not in [f for f, _ in opened]:
                os.chmod(folder, mode | stat.S_IXOTH)
                opened.append((folder, mode))
    return opened


def test_a_non_root_zones_steps_read_neither_a_sibling_zones_keys_nor_the_users_own_files(
        var_folder: Path, owner: Owner) -> None:
    require_bwrap()
    base = var_folder / "zones"
    base.mkdir()
    os.chown(base, owner.uid, owner.gid)
    dev, staging, prod = base / "dev", base / "staging", base / "prod"
    for home in (dev, staging, prod):
        done = owner.cli("init", "--zone", home.name, home=home)
        assert done.returncode == 0, done.stderr
        owner.ok("identity", "-o", base / f"{home.name}.card", home=home)
    assert "WARNING" in done.stderr and "bubblewrap" in done.stderr  # no worker user: said at init (F20-4)
    owner.ok("trust", "add", base / "prod.card", home=dev)
    owner.ok("trust", "add", base / "dev.card", "--projects", "Hostile", home=prod)
    owner.ok("targets", "add", "web-01", "--environment", "Production", "--role", "web", "--root", base / "web-01",
             home=prod)
    secret = base / "pgpass"
    done = owner.run(sys.executable, "-c", f"import os; os.umask(0o077); open({str(secret)!r}, 'w').write("
                     f"{OWNER_SECRET!r})", cwd=base)
    assert done.returncode == 0, done.stderr
    assert (secret.stat().st_mode & 0o777) == 0o600 and secret.stat().st_uid == owner.uid
    keys = sorted(str(p) for home in (dev, staging, prod) for p in (home / "keys").iterdir())
    assert any(k.endswith("staging/keys/sealing.key") for k in keys)
    look_at = [*keys, str(secret)]
    # the zones' OS user reads every one of them: only the sandbox can keep them from its steps
    done = owner.run(sys.executable, "-c", PRELUDE.replace("LOOK_AT", repr(look_at)), cwd=base)
    assert done.returncode == 0 and done.stdout.count("READ ") == len(look_at), done.stdout + done.stderr

    release = hostile_release(var_folder / "release", prod, PRELUDE.replace("LOOK_AT", repr(look_at)))
    bundle, receipt = base / "hostile.bundle", base / "receipt.bundle"
    owner.ok("export", release, "--to", "prod", "-o", bundle, home=dev)
    owner.ok("import", bundle, home=prod)
    deployed = owner.cli("deploy", "Hostile", "1.0.0", "--environment", "Production", "--receipt-out", receipt,
                         home=prod)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert "WARNING" in deployed.stderr and "bubblewrap" in deployed.stderr
    shown = owner.ok("deployments", "show", "Deployments-1", "--json", home=prod)
    # both steps ran (as the zone's user, not as nobody), were denied every file and found no key
    assert shown.count("KEYS-FOUND 0 []") == 2, shown
    assert shown.count("DENIED ") == 2 * len(look_at) and "READ " not in shown, shown
    owner.ok("import", receipt, home=dev)
    texts = [shown, deployed.stdout, deployed.stderr, receipt.read_bytes().decode("latin-1"),
             owner.ok("outputs", "Hostile", "--zone", "prod", "--reveal", home=dev),
             owner.ok("dashboard", "--json", home=dev)]
    assert all(OWNER_SECRET not in text and OWNER_SECRET.encode().hex() not in text for text in texts)
    for home in (dev, staging, prod):
        for form in key_forms(home):
            assert all(form.decode("latin-1") not in text for text in texts), (home, form)
