"""Two nodes of one zone through the real CLI, and moving a SQLite zone to PostgreSQL.

The password of the state database is given in a file and must never show: not on a command
line, not in any output, not in any file of the home except ``keys/state.password`` (0600).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import FIXTURES, cli_in_process, run_cli, snapshot
from tests.pgserver import PostgresServer


def _ok(*args: object, home: Path | None = None) -> dict:  # type: ignore[type-arg]
    r = run_cli(*map(str, args), "--json", home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout) if r.stdout.strip() else {}


def _no_password_anywhere(pg: PostgresServer, *outputs: str, homes: tuple[Path, ...] = ()) -> None:
    for text in outputs:
        assert pg.password not in text
    for home in homes:
        for path in home.rglob("*"):
            if path.is_file() and path.name != "state.password":
                assert pg.password.encode() not in path.read_bytes(), path


def test_two_nodes_by_cli_work_the_same_and_never_show_the_password(pg_server: PostgresServer, tmp_path: Path) -> None:
    url = pg_server.new_database()
    a, b, store = tmp_path / "node-a", tmp_path / "node-b", tmp_path / "store"
    pw = ["--state-password-file", str(pg_server.password_file)]
    made = _ok("init", "--zone", "prod", "--state", url, "--package-store", store, *pw, home=a)
    assert made["state"] == url and made["package_store"] == str(store.resolve())
    joined = _ok("join", "--state", url, "--package-store", store, "--from", a, home=b)  # password reused from a
    assert joined["zone_id"] == made["zone_id"]
    assert oct((b / "keys" / "state.password").stat().st_mode & 0o777) == "0o600"
    dev = tmp_path / "dev"
    _ok("init", "--zone", "dev", home=dev)
    run_cli("identity", "-o", tmp_path / "dev.card", home=dev)
    run_cli("identity", "-o", tmp_path / "prod.card", home=b)
    _ok("trust", "add", tmp_path / "prod.card", home=dev)
    _ok("trust", "add", tmp_path / "dev.card", home=a)  # trusted on a ...
    assert [z["name"] for z in _ok("trust", "list", home=b)["zones"]] == ["dev"]  # ... seen on b
    _ok("export", FIXTURES / "acme" / "release.toml", "--to", "prod", "-o", tmp_path / "acme.bundle", home=dev)
    _ok("import", tmp_path / "acme.bundle", home=b)
    assert _ok("import", tmp_path / "acme.bundle", home=a)["noop"] is True
    assert [r["version"] for r in _ok("releases", "list", home=a)["releases"]] == ["1.4.0"]
    _ok("variables", "set", "acme-web", "Acme.ApiKey", "k-9", "--sensitive", home=a)
    for name, role in (("db-01", "db"), ("web-01", "web")):
        _ok("targets", "add", name, "--environment", "Production", "--role", role, "--root", tmp_path / name, home=b)
    deployed = _ok("deploy", "acme-web", "1.4.0", "--environment", "Production", home=a)
    assert deployed["state"] == "Success"
    assert [d["id"] for d in _ok("deployments", "list", home=b)["deployments"]] == [deployed["deployment_id"]]
    r = run_cli("outbox", "pack", "-o", tmp_path / "receipts.bundle", home=b)
    assert r.returncode == 0, r.stderr
    _no_password_anywhere(pg_server, r.stdout, r.stderr, homes=(a, b))


def test_a_password_in_a_state_url_on_the_command_line_is_refused_and_not_echoed(tmp_path: Path) -> None:
    r = run_cli("init", "--zone", "x", "--state", "postgresql://bk:hunter2-secret@127.0.0.1:1/x", "--json",
                home=tmp_path / "n")
    assert r.returncode == 2 and json.loads(r.stdout)["error"]["code"] == "password_in_url"
    assert "hunter2" not in r.stdout + r.stderr and not (tmp_path / "n").exists()


def test_an_unreachable_state_names_the_url_masked_and_a_retry_succeeds(pg_server: PostgresServer,
                                                                        tmp_path: Path) -> None:
    url = pg_server.new_database()
    home = tmp_path / "prod"
    _ok("init", "--zone", "prod", "--state", url, "--state-password-file", pg_server.password_file, home=home)
    conf = home / "bundlekit.conf"
    good = conf.read_text()
    # a URL with its password in the settings file (allowed there, 0600), pointing at a closed port
    conf.write_text(f"BUNDLEKIT_STATE=postgresql://bundlekit:{pg_server.password}@127.0.0.1:1/x\n")
    before = snapshot(home)
    r = run_cli("trust", "list", "--json", home=home)
    err = json.loads(r.stdout)["error"]
    assert (r.returncode, err["code"]) == (1, "state_unreachable")
    assert "postgresql://bundlekit:********@127.0.0.1:1/x" in err["message"] and pg_server.password not in r.stdout + r.stderr
    assert snapshot(home) == before
    conf.write_text(good)
    assert _ok("trust", "list", home=home)["zones"] == []


def test_a_read_only_database_refuses_an_import_cleanly_and_a_retry_succeeds(pg_server: PostgresServer,
                                                                             tmp_path: Path) -> None:
    url = pg_server.new_database()
    name = url.rsplit("/", 1)[1]
    prod, dev, store = tmp_path / "prod", tmp_path / "dev", tmp_path / "shared-store"
    _ok("init", "--zone", "prod", "--state", url, "--state-password-file", pg_server.password_file,
        "--package-store", store, home=prod)
    _ok("init", "--zone", "dev", home=dev)
    run_cli("identity", "-o", tmp_path / "prod.card", home=prod)
    run_cli("identity", "-o", tmp_path / "dev.card", home=dev)
    _ok("trust", "add", tmp_path / "prod.card", home=dev)
    _ok("trust", "add", tmp_path / "dev.card", home=prod)
    _ok("export", FIXTURES / "acme" / "release.toml", "--to", "prod", "-o", tmp_path / "a.bundle", home=dev)
    pg_server.sql("postgres", f"ALTER DATABASE {name} SET default_transaction_read_only = on")
    before = snapshot(prod, store)
    r = run_cli("import", tmp_path / "a.bundle", "--json", home=prod)
    assert json.loads(r.stdout)["error"]["code"] == "state_read_only", r.stdout
    assert pg_server.sql(name, "SELECT COUNT(*) FROM imports") == [(0,)]
    # "nothing was changed": not in the home, and no package object in the store other nodes share
    assert snapshot(prod, store) == before
    pg_server.sql("postgres", f"ALTER DATABASE {name} SET default_transaction_read_only = off")
    assert _ok("import", tmp_path / "a.bundle", home=prod)["noop"] is False
    assert snapshot(prod, store) != before and pg_server.sql(name, "SELECT COUNT(*) FROM imports") == [(1,)]
    assert list((store / "sha256").rglob("*"))


@dataclass
class _Server:
    proc: subprocess.Popen  # type: ignore[type-arg]
    url: str


def _serve(home: Path) -> _Server:
    env = dict(os.environ)
    env.pop("BUNDLEKIT_HOME", None)
    proc = subprocess.Popen([sys.executable, "-m", "bundlekit", "serve", "--home", str(home), "--port", "0", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    return _Server(proc, json.loads(proc.stdout.readline())["url"])


def _fetch_json(server: _Server) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(server.url + "api/dashboard.json", timeout=60) as page:
        return json.loads(page.read())  # type: ignore[no-any-return]


def test_migrate_state_moves_a_sqlite_zone_verified_and_it_keeps_working(pg_server: PostgresServer,
                                                                         tmp_path: Path) -> None:
    prod, dev = tmp_path / "prod", tmp_path / "dev"
    for name, home in (("prod", prod), ("dev", dev)):
        _ok("init", "--zone", name, home=home)
        run_cli("identity", "-o", tmp_path / f"{name}.card", home=home)
    _ok("trust", "add", tmp_path / "prod.card", home=dev)
    _ok("trust", "add", tmp_path / "dev.card", home=prod)
    _ok("export", FIXTURES / "acme" / "release.toml", "--to", "prod", "-o", tmp_path / "a.bundle", home=dev)
    _ok("import", tmp_path / "a.bundle", home=prod)
    _ok("variables", "set", "acme-web", "Acme.ApiKey", "k-9", "--sensitive", home=prod)
    for name, role in (("db-01", "db"), ("web-01", "web")):
        _ok("targets", "add", name, "--environment", "Production", "--role", role, "--root", tmp_path / name,
            home=prod)
    first = _ok("deploy", "acme-web", "1.4.0", "--environment", "Production", home=prod)
    server = _serve(prod)  # a dashboard already running when the zone moves
    url = pg_server.new_database()
    pw = ["--state-password-file", str(pg_server.password_file)]
    before = snapshot(prod)
    dry = _ok("zone", "migrate-state", "--to", url, "--dry-run", *pw, home=prod)
    assert dry["switched"] is False and dry["rows"] > 0 and snapshot(prod) == before
    assert pg_server.sql(url.rsplit("/", 1)[1], "SELECT to_regclass('meta') IS NULL") == [(True,)]
    moved = _ok("zone", "migrate-state", "--to", url, *pw, home=prod)
    assert moved["switched"] is True and moved["tables"] == dry["tables"]  # same counts and digests
    assert not (prod / "state.db").exists() and (prod / "state.db.migrated").exists()
    assert f"BUNDLEKIT_STATE={url}" in (prod / "bundlekit.conf").read_text()
    second = _ok("deploy", "acme-web", "1.4.0", "--environment", "Production", home=prod)
    assert (first["deployment_id"], second["deployment_id"]) == ("Deployments-1", "Deployments-2")
    assert len(_ok("deployments", "list", home=prod)["deployments"]) == 2
    # The dashboard reads the zone's state where it is now: the deployment made after the move shows,
    # both in a new `dashboard` and in the server started before it (not the renamed SQLite file).
    shown = {d["deployment_id"] for d in _ok("dashboard", home=prod)["deployments"]}
    try:
        served = {d["deployment_id"] for d in _fetch_json(server)["deployments"]}
    finally:
        server.proc.terminate()
        server.proc.wait(timeout=30)
    assert shown == served == {"Deployments-1", "Deployments-2"}
    again = run_cli("zone", "migrate-state", "--to", pg_server.new_database(), "--json", home=prod)
    assert json.loads(again.stdout)["error"]["code"] == "usage"  # already on PostgreSQL


def test_migrate_state_into_a_database_that_holds_another_zone_is_refused(pg_server: PostgresServer,
                                                                         tmp_path: Path) -> None:
    url = pg_server.new_database()
    _ok("init", "--zone", "other", "--state", url, "--state-password-file", pg_server.password_file,
        home=tmp_path / "other")
    home = tmp_path / "prod"
    _ok("init", "--zone", "prod", home=home)
    before = snapshot(home)
    r = run_cli("zone", "migrate-state", "--to", url, "--state-password-file", pg_server.password_file, "--json",
                home=home)
    assert json.loads(r.stdout)["error"]["code"] == "state_not_empty" and "'other'" in r.stdout
    assert snapshot(home) == before


def test_migrate_state_resumes_a_run_that_copied_but_did_not_switch(pg_server: PostgresServer, tmp_path: Path,
                                                                    ) -> None:
    from bundlekit.zone.home import open_zone
    from bundlekit.zone.location import parse_state_url
    from bundlekit.zone.migrate_state import migrate_state

    home = tmp_path / "prod"
    _ok("init", "--zone", "prod", home=home)
    url = parse_state_url(pg_server.new_database(), where="test", allow_password=False)
    with open_zone(home) as z:
        migrate_state(z, url, pg_server.password)
    # put the home back as a crash between the commit and the switch would have left it
    os.replace(home / "state.db.migrated", home / "state.db")
    (home / "bundlekit.conf").unlink()
    (home / "keys" / "state.password").unlink()
    with open_zone(home) as z:
        plan = migrate_state(z, url, pg_server.password)
    assert plan.resume and plan.switched





def test_migrate_state_counts_rows_and_tables_in_words_that_agree(pg_server: PostgresServer, tmp_path: Path) -> None:
    home = tmp_path / "prod"
    cli_in_process("init", "--zone", "prod", home=home).check_returncode()
    cli_in_process("targets", "add", "web-01", "--environment", "Production", "--role", "web", "--root",
                   tmp_path / "web-01", home=home).check_returncode()
    r = cli_in_process("zone", "migrate-state", "--to", pg_server.new_database(), "--dry-run",
                       "--state-password-file", pg_server.password_file, home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    targets = next(line for line in r.stdout.splitlines() if line.split()[:1] == ["targets"])
    assert targets.split()[1:3] == ["1", "row"], targets  # was "1 rows"
    assert " 1 rows" not in r.stdout and " 0 rows" in r.stdout and " tables from " in r.stdout


def test_migrate_state_with_a_package_store_moves_the_packages_and_a_second_node_can_join(
        pg_server: PostgresServer, tmp_path: Path) -> None:
    prod, dev, node_b, shared = tmp_path / "prod", tmp_path / "dev", tmp_path / "node-b", tmp_path / "shared"
    for name, home in (("prod", prod), ("dev", dev)):
        _ok("init", "--zone", name, home=home)
        run_cli("identity", "-o", tmp_path / f"{name}.card", home=home)
    _ok("trust", "add", tmp_path / "prod.card", home=dev)
    _ok("trust", "add", tmp_path / "dev.card", home=prod)
    _ok("export", FIXTURES / "acme" / "release.toml", "--to", "prod", "-o", tmp_path / "a.bundle", home=dev)
    _ok("import", tmp_path / "a.bundle", home=prod)
    objects = sorted(p.name for p in (prod / "packages").rglob("*") if p.is_file())
    url = pg_server.new_database()
    pw = ["--state-password-file", str(pg_server.password_file)]
    before = snapshot(prod)
    dry = _ok("zone", "migrate-state", "--to", url, "--package-store", shared, "--dry-run", *pw, home=prod)
    assert dry["packages"]["objects"] == len(objects) > 0 and snapshot(prod) == before and not shared.exists()
    r = run_cli("zone", "migrate-state", "--to", url, "--package-store", shared, *pw, home=prod)
    assert r.returncode == 0, r.stderr
    assert f"--package-store {shared.resolve()} --from {prod}" in r.stdout and "next: bundlekit join" in r.stdout
    assert sorted(p.name for p in (shared / "sha256").rglob("*") if p.is_file()) == objects
    assert (shared / "bundlekit-store.json").is_file() and (prod / "packages.moved").is_dir()
    assert f"BUNDLEKIT_PACKAGE_STORE={shared.resolve()}" in (prod / "bundlekit.conf").read_text()
    _ok("join", "--state", url, "--package-store", shared, "--from", prod, home=node_b)
    _ok("variables", "set", "acme-web", "Acme.ApiKey", "k-9", "--sensitive", home=node_b)
    for name, role in (("db-01", "db"), ("web-01", "web")):
        _ok("targets", "add", name, "--environment", "Production", "--role", role, "--root", tmp_path / name,
            home=node_b)
    assert _ok("deploy", "acme-web", "1.4.0", "--environment", "Production", home=node_b)["state"] == "Success"


def test_init_with_a_state_but_no_package_store_warns_that_packages_stay_in_the_home(pg_server: PostgresServer,
                                                                                      tmp_path: Path) -> None:
    r = run_cli("init", "--zone", "prod", "--state", pg_server.new_database(), "--state-password-file",
                pg_server.password_file, home=tmp_path / "prod")
    assert r.returncode == 0, r.stderr
    assert "packages stay in this home" in r.stderr and "migrate-state --package-store" in r.stderr
