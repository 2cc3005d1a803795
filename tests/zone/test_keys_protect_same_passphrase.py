"""`keys protect` given the passphrase the keys already have says nothing changed, and changes
and records nothing (it said "now under the new passphrase" and rewrote them, review r12u
R12U-12); a new passphrase still changes them. Through the CLI in processes of their own, keys
written at the tests' low scrypt cost (decision 700)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import LOW_COST_CLI, run_cli, snapshot


def _cli(*args: str | Path, home: Path, passphrase: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BUNDLEKIT_HOME", "BUNDLEKIT_PASSPHRASE_FILE")}
    if passphrase is not None:
        env["BUNDLEKIT_PASSPHRASE_FILE"] = str(passphrase)
    return subprocess.run([*LOW_COST_CLI, *map(str, args), "--home", str(home)], capture_output=True, text=True,
                          env=env, stdin=subprocess.DEVNULL, timeout=120)


def _passfile(path: Path, text: str) -> Path:
    path.write_text(text + "\n")
    os.chmod(path, 0o600)
    return path


def _entries(home: Path) -> int:
    return len(json.loads(run_cli("audit", "--json", home=home).stdout)["entries"])


def test_protecting_under_the_passphrase_the_keys_have_says_so_and_changes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "kq"
    assert run_cli("init", "--zone", "kq", home=home).returncode == 0
    one = _passfile(tmp_path / "one.pass", "first passphrase 1")
    copy = _passfile(tmp_path / "copy.pass", "first passphrase 1")
    assert _cli("keys", "protect", "--passphrase-file", one, home=home).returncode == 0
    before, entries = snapshot(home), _entries(home)
    for args in ([], ["--passphrase-file", str(copy)]):  # the new one from BUNDLEKIT_PASSPHRASE_FILE, or the same text
        r = _cli("keys", "protect", *args, home=home, passphrase=one)
        assert r.returncode == 0, r.stderr
        assert "already protected by that passphrase: nothing changed" in r.stdout, r.stdout
        assert "new passphrase" not in r.stdout.split(":")[0]
    shown = json.loads(_cli("keys", "protect", "--json", home=home, passphrase=one).stdout)
    assert (shown["unchanged"], shown["changed_passphrase"]) == (True, False)
    assert snapshot(home) == before and _entries(home) == entries  # no rewrite, no audit entry
    two = _passfile(tmp_path / "two.pass", "second passphrase 2")
    changed = _cli("keys", "protect", "--passphrase-file", two, home=home, passphrase=one)
    assert changed.returncode == 0 and "now under the new passphrase" in changed.stdout, changed.stderr
    assert _entries(home) == entries + 1
    assert _cli("keys", "protect", "--json", home=home, passphrase=one).returncode != 0  # the old one opens nothing now


def test_a_change_killed_after_its_swap_is_finished_and_recorded_by_the_next_run_with_the_same_passphrase(
        tmp_path: Path) -> None:
    """A `keys protect` killed after it swapped the keys in leaves ``keys.swap`` (the old keys)
    and no audit entry; the operator's next run gives the new passphrase, which the keys already
    have. It must not say "nothing changed": it removes the leftover and records the change (a
    kill timing in test_key_protection's kill loop found it)."""
    home = tmp_path / "kq"
    assert run_cli("init", "--zone", "kq", home=home).returncode == 0
    one = _passfile(tmp_path / "one.pass", "first passphrase 1")
    assert _cli("keys", "protect", "--passphrase-file", one, home=home).returncode == 0
    entries = _entries(home)
    (home / "keys.swap").mkdir(mode=0o700)  # what a kill between the swap and its removal leaves
    (home / "keys.swap" / "signing.key").write_bytes(b"the old key, raw")
    r = _cli("keys", "protect", home=home, passphrase=one)
    assert r.returncode == 0, r.stderr
    assert "nothing changed" not in r.stdout and "now under the new passphrase" in r.stdout, r.stdout
    assert not (home / "keys.swap").exists()
    assert _entries(home) == entries + 1
    again = _cli("keys", "protect", home=home, passphrase=one)  # now it is a no-op
    assert "already protected by that passphrase: nothing changed" in again.stdout, again.stdout
