"""Messages about the PostgreSQL state name the real cause and a way forward that works."""

from __future__ import annotations

import json
import time
from pathlib import Path

from bundlekit.deploy.service import deploy
from bundlekit.zone import retention
from tests.conftest import run_cli, raises_code
from tests.pgserver import PostgresServer
from tests.zone.test_nodes import _deployable, make_cluster


def _error(r) -> dict:  # type: ignore[no-untyped-def]
    assert r.returncode != 0, r.stdout
    return json.loads(r.stdout)["error"]


def test_a_missing_password_names_the_password_file_option_and_pgpass(pg_server: PostgresServer, tmp_path: Path) -> None:
    r = run_cli("init", "--zone", "prod", "--state", pg_server.new_database(), "--json", home=tmp_path / "prod",
                env={"PGPASSFILE": str(tmp_path / "none"), "PGPASSWORD": ""})
    message = _error(r)["message"]
    assert "--state-password-file" in message and "~/.pgpass" in message and "server is running" not in message


def test_a_wrong_password_says_where_it_came_from_and_not_that_the_server_may_be_down(pg_server: PostgresServer,
                                                                                     tmp_path: Path) -> None:
    home = tmp_path / "prod"
    r = run_cli("init", "--zone", "prod", "--state", pg_server.new_database(), "--state-password-file",
                pg_server.password_file, "--json", home=home)
    assert r.returncode == 0, r.stderr
    (home / "keys" / "state.password").write_text("not-the-password\n")
    message = _error(run_cli("trust", "list", "--json", home=home))["message"]
    assert str(home / "keys" / "state.password") in message and "refused the user's password" in message
    assert "server is running" not in message and "not-the-password" not in message


def test_init_refuses_a_password_file_without_a_state_and_warns_of_an_ignored_environment_variable(
        tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("x\n")
    r = run_cli("init", "--zone", "prod", "--state-password-file", pw, "--json", home=tmp_path / "a")
    assert r.returncode == 2 and _error(r)["code"] == "usage" and not (tmp_path / "a").exists()
    r = run_cli("init", "--zone", "prod", home=tmp_path / "b", env={"BUNDLEKIT_STATE": "postgresql://u@h/db"})
    assert r.returncode == 0 and "ignores the BUNDLEKIT_STATE environment variable" in r.stderr


def test_an_empty_or_missing_password_file_is_a_command_line_mistake(pg_server: PostgresServer, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    url = pg_server.new_database()
    for given in (empty, tmp_path / "missing"):
        r = run_cli("init", "--zone", "prod", "--state", url, "--state-password-file", given, "--json",
                    home=tmp_path / "prod")
        assert r.returncode == 2 and str(given) in _error(r)["message"]
    assert not (tmp_path / "prod").exists()


def test_join_on_an_empty_database_names_the_state_option(pg_server: PostgresServer, tmp_path: Path) -> None:
    a = tmp_path / "a"
    assert run_cli("init", "--zone", "prod", "--state", pg_server.new_database(), "--package-store", tmp_path / "s",
                   "--state-password-file", pg_server.password_file, home=a).returncode == 0
    r = run_cli("join", "--state", pg_server.new_database(), "--package-store", tmp_path / "s", "--from", a,
                "--json", home=tmp_path / "b")
    error = _error(r)
    assert error["code"] == "not_a_zone" and "(--state)" in error["message"] and "bundlekit.conf" not in error["message"]


def test_a_deployment_whose_wait_ran_out_does_not_suggest_waiting_again(pg_server: PostgresServer, tmp_path: Path,
                                                                       release_dir: Path) -> None:
    c = make_cluster(tmp_path, pg_server)
    try:
        _deployable(c, tmp_path, release_dir / "release.toml")
        with c.a.db.transaction() as tx:
            assert c.a.db.claim(tx, retention.PRUNE_CLAIM)  # a prune running on node a
        with raises_code("prune_in_progress") as at_once:
            deploy(c.b, "acme-web", "1.4.0", "Production", now=time.time())
        assert "--wait" in at_once.value.message
        with raises_code("prune_in_progress") as waited:
            deploy(c.b, "acme-web", "1.4.0", "Production", now=time.time(), wait=0.2)
        assert "--wait" not in waited.value.message and "Waited 0.2 s" in waited.value.message
    finally:
        c.close()
