"""The state database's password never shows: not in a message, `--json`, a settings refusal, a
process listing (command line or environment), nor echoed while it is typed.

These run the real CLI against a real PostgreSQL server (tests/pgserver.py), with roles whose
passwords hold every character a URL gives a meaning to.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from tests.conftest import run_cli, snapshot
from tests.terminal import read_until
from tests.pgserver import PostgresServer

#: A password of characters that mean something in a URL, and a stretch no output contains.
ODD = "p%zz@:/?#&=[] ü-QXJV"


def _ok(*args: object, home: Path, input: bytes | None = None) -> dict:  # type: ignore[type-arg]
    r = run_cli(*map(str, args), "--json", home=home, input=input)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout) if r.stdout.strip() else {}


def _role(pg: PostgresServer, password: str) -> tuple[str, str]:
    """A new database owned by a new role with ``password``; returns (role, database)."""
    database = pg.new_database().rsplit("/", 1)[1]
    role = f"r_{database}"
    quoted = password.replace("'", "''")
    pg.sql("postgres", f"CREATE ROLE {role} LOGIN PASSWORD '{quoted}'")
    pg.sql("postgres", f"ALTER DATABASE {database} OWNER TO {role}")
    return role, database


def _home(pg: PostgresServer, tmp: Path) -> tuple[Path, str]:
    """A zone on a new database, made with the cluster's password from a file; returns (home, database)."""
    url = pg.new_database()
    home = tmp / "prod"
    _ok("init", "--zone", "prod", "--state", url, "--state-password-file", pg.password_file, home=home)
    (home / "keys" / "state.password").unlink()  # from here on the URL in bundlekit.conf is all there is
    return home, url.rsplit("/", 1)[1]


def _forms(password: str) -> list[str]:
    """The password as written and as it could be quoted: decoded, encoded, and its odd stretch."""
    return [password, quote(password, safe=""), "QXJV", "zz@"]


def test_a_password_with_a_bad_percent_escape_in_the_settings_never_shows(pg_server: PostgresServer,
                                                                         tmp_path: Path) -> None:
    """The attack: libpq quoted the raw token of a bad escape in its message, which bundlekit
    passed on as state_unreachable; the masking knew only the decoded password."""
    home, database = _home(pg_server, tmp_path)
    for password in ("p%zzwQXJV%41", "p%zzwQXJV", "QXJV%4"):
        url = f"postgresql://bundlekit:{password}@127.0.0.1:{pg_server.port}/{database}"
        (home / "bundlekit.conf").write_text(f"BUNDLEKIT_STATE={url}\n")
        before = snapshot(home)
        for json_flag in (["--json"], []):
            r = run_cli("trust", "list", *json_flag, home=home)
            out = r.stdout + r.stderr
            assert r.returncode == 1 and "invalid_node_settings" in out, out
            assert f"BUNDLEKIT_STATE in {home / 'bundlekit.conf'}, line 1" in out and "password" in out
            assert "QXJV" not in out and "zzw" not in out and "Traceback" not in out, out
        assert snapshot(home) == before


def test_an_ipv6_state_url_never_closed_is_a_refusal_naming_the_setting(pg_server: PostgresServer,
                                                                       tmp_path: Path) -> None:
    home, _ = _home(pg_server, tmp_path)
    (home / "bundlekit.conf").write_text("BUNDLEKIT_STATE=postgresql://bk:QXJV@[::1/db\n")
    before = snapshot(home)
    r = run_cli("deployments", "list", "--json", home=home)
    error = json.loads(r.stdout)["error"]
    assert (r.returncode, error["code"]) == (1, "invalid_node_settings") and "Traceback" not in r.stderr
    assert "IPv6" in error["message"] and "BUNDLEKIT_STATE in" in error["message"] and "QXJV" not in r.stdout
    assert snapshot(home) == before
    r = run_cli("init", "--zone", "x", "--state", "postgresql://[::1/db", "--json", home=tmp_path / "new")
    assert (r.returncode, json.loads(r.stdout)["error"]["code"]) == (2, "invalid_state_url")
    assert "--state: not a PostgreSQL state URL" in r.stdout and not (tmp_path / "new").exists()


def test_a_password_of_any_characters_reaches_the_server_encoded_and_never_shows(pg_server: PostgresServer,
                                                                                tmp_path: Path) -> None:
    home, _ = _home(pg_server, tmp_path)
    role, database = _role(pg_server, ODD)
    encoded = quote(ODD, safe="")
    conf = home / "bundlekit.conf"
    # The right password, percent-encoded: the state opens (it holds no zone: that refusal, not a connection's).
    conf.write_text(f"BUNDLEKIT_STATE=postgresql://{role}:{encoded}@127.0.0.1:{pg_server.port}/{database}\n")
    r = run_cli("trust", "list", "--json", home=home)
    assert json.loads(r.stdout)["error"]["code"] == "not_a_zone", r.stdout
    # A wrong one, in the userinfo and in the query: refused by the server, shown nowhere.
    for wrong in (f"{role}:{encoded}X@127.0.0.1:{pg_server.port}/{database}",
                  f"{role}@127.0.0.1:{pg_server.port}/{database}?password={encoded}X&sslmode=disable"):
        conf.write_text(f"BUNDLEKIT_STATE=postgresql://{wrong}\n")
        r = run_cli("trust", "list", "--json", home=home)
        error = json.loads(r.stdout)["error"]
        assert error["code"] == "state_unreachable" and "password authentication failed" in error["message"]
        assert "***" in error["message"]
        assert not any(form in r.stdout + r.stderr for form in _forms(ODD)), r.stdout


def _pid_texts(pid: int) -> bytes:
    return b"".join(Path(f"/proc/{pid}/{name}").read_bytes() for name in ("cmdline", "environ"))


def test_a_password_from_standard_input_is_kept_in_the_home_never_in_a_process_listing(
        pg_server: PostgresServer, tmp_path: Path) -> None:
    role, database = _role(pg_server, ODD)
    url = f"postgresql://{role}@127.0.0.1:{pg_server.port}/{database}"
    home = tmp_path / "prod"
    made = _ok("init", "--zone", "prod", "--state", url, "--state-password-file", "-", home=home,
               input=ODD.encode() + b"\nsecond line ignored\n")
    assert made["state"] == url
    assert (home / "keys" / "state.password").read_text() == ODD + "\n"
    assert oct((home / "keys" / "state.password").stat().st_mode & 0o777) == "0o600"
    assert not any(form.encode() in (home / "bundlekit.conf").read_bytes() for form in _forms(ODD))
    # A long-running command on that home (the dashboard server), as `ps e` would show it.
    env = {k: v for k, v in os.environ.items() if k != "BUNDLEKIT_HOME"}
    proc = subprocess.Popen([sys.executable, "-m", "bundlekit", "serve", "--home", str(home), "--port", "0",
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None and json.loads(proc.stdout.readline())["url"]
        seen = _pid_texts(proc.pid)
        assert str(home).encode() in seen  # the listing is the server's ...
        assert not any(form.encode() in seen for form in _forms(ODD))  # ... and holds no form of the password
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    empty = run_cli("init", "--zone", "prod", "--state", url, "--state-password-file", "-", "--json",
                    home=tmp_path / "other", input=b"")
    assert json.loads(empty.stdout)["error"]["code"] == "invalid_input" and not (tmp_path / "other").exists()


def test_a_password_typed_at_a_terminal_is_asked_for_and_not_echoed(pg_server: PostgresServer,
                                                                   tmp_path: Path) -> None:
    role, database = _role(pg_server, ODD)
    url = f"postgresql://{role}@127.0.0.1:{pg_server.port}/{database}"
    home = tmp_path / "prod"
    args = [sys.executable, "-m", "bundlekit", "init", "--zone", "prod", "--state", url, "--state-password-file",
            "-", "--home", str(home)]
    pid, fd = pty.fork()  # the child's controlling terminal is the pty, as a person's would be
    if pid == 0:  # pragma: no cover - the child becomes bundlekit
        os.execv(sys.executable, args)
    seen = bytearray()
    try:
        read_until(fd, b"password of the state database: ", seen)
        os.write(fd, ODD.encode() + b"\n")
        read_until(fd, b"created zone prod", seen)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, bytes(seen)
    assert not any(form.encode() in seen for form in _forms(ODD)), bytes(seen)  # not echoed
    assert (home / "keys" / "state.password").read_text() == ODD + "\n"
