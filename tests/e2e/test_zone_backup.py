"""`zone backup` / `zone restore` through the real CLI in subprocesses (decision 581).

prod (keys protected) has imported and deployed the fixture release and holds a sensitive
value. It is backed up, its machine "lost" (the home deleted), and restored into a new folder:
the restored zone deploys, imports the next release and answers as before. Another zone's
backup, a tampered or truncated one, a wrong or missing passphrase are refused, the home
byte-identical after.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, run_cli, snapshot

ENV = "BUNDLEKIT_PASSPHRASE_FILE"
KEY_PASS = "zone-key-passphrase-4410"
BACKUP_PASS = "backup-passphrase-canary-7731"
API_KEY = "api-key-canary-backup-2290"


def _passfile(path: Path, text: str) -> Path:
    path.write_text(text + "\n")
    os.chmod(path, 0o600)
    return path


class World:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.dev, self.prod = root / "dev", root / "prod"
        self.keys = _passfile(root / "keys.pass", KEY_PASS)
        self.backup_pass = _passfile(root / "backup.pass", BACKUP_PASS)
        self.outputs: list[str] = []

    def run(self, *args: object, home: Path | None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        r = run_cli(*map(str, args), home=home, env={ENV: str(self.keys), **(env or {})})
        self.outputs += [r.stdout, r.stderr]
        return r

    def ok(self, *args: object, home: Path | None, env: dict[str, str] | None = None) -> str:
        r = self.run(*args, home=home, env=env)
        assert r.returncode == 0, f"bundlekit {' '.join(map(str, args))}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r.stdout

    def backup(self, home: Path, out: Path) -> Path:
        self.ok("zone", "backup", "-o", out, "--passphrase-file", self.backup_pass, home=home)
        return out

    def restore(self, backup: Path, home: Path, *extra: object, env: dict[str, str] | None = None,
                passfile: Path | None = None):  # type: ignore[no-untyped-def]
        """The backup's passphrase by --passphrase-file (never BUNDLEKIT_PASSPHRASE_FILE, which gives
        the keys' passphrase: the restore signs its audit entry with the restored keys)."""
        given = ("--passphrase-file", passfile or self.backup_pass) if passfile != Path() else ()
        return self.run("zone", "restore", backup, "--json", *given, *extra, home=home, env=env)


def _set_version(release: Path, new: str) -> None:
    path = release / "release.toml"
    path.write_text(path.read_text().replace('version = "1.4.0"\nchannel', f'version = "{new}"\nchannel', 1))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    w = World(tmp_path_factory.mktemp("backup"))
    shutil.copytree(FIXTURES / "acme", w.root / "release")
    w.ok("init", "--zone", "dev", home=w.dev)
    w.ok("init", "--zone", "prod", "--passphrase-file", w.keys, home=w.prod)
    for name, home in (("dev", w.dev), ("prod", w.prod)):
        w.ok("identity", "-o", w.root / f"{name}.card", home=home)
    w.ok("trust", "add", w.root / "prod.card", home=w.dev)
    w.ok("trust", "add", w.root / "dev.card", home=w.prod)
    for name, role in (("db-01", "db"), ("web-01", "web")):
        w.ok("targets", "add", name, "--environment", "Production", "--role", role, "--root",
             w.root / "targets" / name, home=w.prod)
    w.ok("export", w.root / "release" / "release.toml", "--to", "prod", "-o", w.root / "a.bundle", home=w.dev)
    w.ok("import", w.root / "a.bundle", home=w.prod)
    w.ok("variables", "set", "acme-web", "Acme.ApiKey", "--from-file", _passfile(w.root / "api.key", API_KEY),
         "--sensitive", home=w.prod)
    w.ok("deploy", "acme-web", "1.4.0", "--environment", "Production", "--receipt-out", w.root / "r1.bundle",
         home=w.prod)
    w.backup(w.prod, w.root / "prod.zbak")
    return w


def _views(w: World, home: Path) -> list[object]:
    return [json.loads(w.ok(*args, "--json", home=home)) for args in (
        ("trust", "list"), ("deployments", "list"), ("variables", "list", "acme-web"), ("targets", "list"),
        ("keys", "status"))]


def test_a_restored_zone_after_the_machine_is_lost_deploys_imports_and_verifies_as_before(world: World,
                                                                                          tmp_path: Path) -> None:
    w = world
    before = _views(w, w.prod)
    lost = tmp_path / "prod"  # the original home moved away: the restore has only the backup file
    shutil.move(str(w.prod), str(lost))
    try:
        new = tmp_path / "new-machine" / "prod"
        new.parent.mkdir()
        r = w.restore(w.root / "prod.zbak", new)
        assert r.returncode == 0, r.stdout + r.stderr
        assert json.loads(r.stdout)["zone"] == "prod"
        assert _views(w, new) == before
        status = json.loads(w.ok("keys", "status", "--json", home=new))["keys"]
        assert all(k["protected"] for k in status)  # the keys come back as they were: still protected
        deployed = json.loads(w.ok("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json",
                                   "--receipt-out", tmp_path / "r2.bundle", home=new))
        assert deployed["state"] == "Success"
        config = (w.root / "targets" / "web-01" / "Acme.Web" / "1.4.0" / "appsettings.json").read_text()
        assert "acme_prod" in config
        release = tmp_path / "release"
        shutil.copytree(w.root / "release", release)
        _set_version(release, "1.4.1")
        w.ok("export", release / "release.toml", "--to", "prod", "-o", tmp_path / "b.bundle", home=w.dev)
        w.ok("verify", tmp_path / "b.bundle", home=new)
        w.ok("import", tmp_path / "b.bundle", home=new)
        w.ok("import", tmp_path / "r2.bundle", home=w.dev)  # its receipt is signed with the restored key
    finally:
        shutil.move(str(lost), str(w.prod))


def _refused(w: World, backup: Path, home: Path, code: str, exit_code: int, *extra: object,
             env: dict[str, str] | None = None, passfile: Path | None = None) -> None:
    parent = home.parent
    before = snapshot(parent)
    r = w.restore(backup, home, *extra, env=env, passfile=passfile)
    assert r.returncode == exit_code, r.stdout + r.stderr
    assert json.loads(r.stdout)["error"]["code"] == code, r.stdout
    assert snapshot(parent) == before  # the home, and nothing left beside it


def test_another_zone_s_backup_is_refused_and_the_home_is_unchanged(world: World, tmp_path: Path) -> None:
    other = world.backup(world.dev, tmp_path / "dev.zbak")
    home = tmp_path / "z" / "prod"
    shutil.copytree(world.prod, home, symlinks=True)
    _refused(world, other, home, "backup_zone_mismatch", 3)
    _refused(world, other, home, "backup_zone_mismatch", 3, "--replace")


def test_restore_over_a_home_needs_replace_and_keeps_the_old_home(world: World, tmp_path: Path) -> None:
    home = tmp_path / "z" / "prod"
    shutil.copytree(world.prod, home, symlinks=True)
    _refused(world, world.root / "prod.zbak", home, "home_not_empty", 1)
    (home / "outbox" / "marker").parent.mkdir(exist_ok=True)
    (home / "outbox" / "marker").write_text("changed after the backup")
    r = world.restore(world.root / "prod.zbak", home, "--replace")
    assert r.returncode == 0, r.stdout + r.stderr
    kept = Path(json.loads(r.stdout)["replaced"])
    assert (kept / "outbox" / "marker").exists() and not (home / "outbox" / "marker").exists()
    assert [p.name for p in home.parent.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("damage", ["flip-middle", "flip-last", "truncate", "append", "header"])
def test_a_tampered_or_truncated_backup_is_refused_before_anything_is_written(world: World, tmp_path: Path,
                                                                            damage: str) -> None:
    data = bytearray((world.root / "prod.zbak").read_bytes())
    if damage == "flip-middle":
        data[len(data) // 2] ^= 1
    elif damage == "flip-last":
        data[-3] ^= 0x80
    elif damage == "truncate":
        del data[-70000:]
    elif damage == "append":
        data += b"\0" * 17
    else:
        data = bytearray(bytes(data).replace(b'"zone":"prod"', b'"zone":"prud"', 1))
    bad = tmp_path / "bad.zbak"
    bad.write_bytes(bytes(data))
    _refused(world, bad, tmp_path / "z" / "new-home", "backup_corrupt", 3)


def test_not_a_backup_wrong_and_missing_passphrases_are_refused(world: World, tmp_path: Path) -> None:
    home = tmp_path / "z" / "new-home"
    home.parent.mkdir()
    _refused(world, world.root / "a.bundle", home, "invalid_backup", 3)
    wrong = _passfile(tmp_path / "wrong.pass", "not the backup passphrase")
    _refused(world, world.root / "prod.zbak", home, "passphrase_wrong", 1, passfile=wrong)
    _refused(world, world.root / "prod.zbak", home, "passphrase_wrong", 1, passfile=world.keys)  # the keys' one
    # R12U-7: the keys' passphrase file is never taken as the backup's, so none was given
    _refused(world, world.root / "prod.zbak", home, "passphrase_missing", 1, passfile=Path(),
             env={ENV: str(world.backup_pass)})


def test_the_backup_holds_no_key_secret_or_passphrase_in_clear(world: World, tmp_path: Path) -> None:
    data = (world.root / "prod.zbak").read_bytes()
    for name in ("signing.key", "sealing.key"):
        assert (world.prod / "keys" / name).read_bytes() not in data
    raw = tmp_path / "dev.zbak"
    world.backup(world.dev, raw)
    blob = raw.read_bytes()
    for name in ("signing.key", "sealing.key"):  # dev's keys are raw on disk: encrypted in its backup
        assert (world.dev / "keys" / name).read_bytes() not in blob
    assert b"zone.json" not in blob and b"acme-web" not in blob  # the paths and the state are encrypted too
    for path in world.root.rglob("*"):
        if path.is_file() and path not in (world.keys, world.backup_pass):
            assert BACKUP_PASS.encode() not in path.read_bytes() and KEY_PASS.encode() not in path.read_bytes()
    assert all(BACKUP_PASS not in text and KEY_PASS not in text for text in world.outputs)


def test_a_kill_at_any_point_of_restore_replace_leaves_a_whole_home_and_keeps_the_old_one(world: World,
                                                                                          tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    parent = tmp_path / "z"
    home = parent / "prod"
    shutil.copytree(world.prod, home, symlinks=True)
    (home / "outbox").mkdir(exist_ok=True)
    (home / "outbox" / "original").write_text("the home before the restore")
    env = {**os.environ, ENV: str(world.keys)}
    env.pop("BUNDLEKIT_HOME", None)
    delay, kills, finished = 0.1, 0, False
    while not finished and kills < 40:
        proc = subprocess.Popen([sys.executable, "-m", "bundlekit", "zone", "restore", str(world.root / "prod.zbak"),
                                 "--passphrase-file", str(world.backup_pass), "--replace", "--home", str(home)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        finished = proc.wait() == 0
        # whatever the moment: the home is a whole zone, the original or the restored one
        assert json.loads((home / "zone.json").read_text())["name"] == "prod"
        assert (home / "state.db").is_file() and (home / "keys" / "sealing.key").is_file()
        delay *= 1.3
    assert finished and kills >= 3
    assert not (home / "outbox" / "original").exists()  # the home now is the backup's
    kept = [p for p in parent.iterdir() if (p / "outbox" / "original").exists()]
    assert len(kept) == 1 and kept[0].name.startswith("prod.replaced-"), sorted(p.name for p in parent.iterdir())
    assert [p.name for p in parent.iterdir() if p.name.startswith(".")] == []
    w = world
    assert w.ok("trust", "list", "--json", home=home) == w.ok("trust", "list", "--json", home=w.prod)
