"""An option that takes one role or scope name per use, given a list joined by commas (newuser36
finding 9, decision 976): refused `joined_names` with the repeated options to type instead, the
home unchanged; a name a release really spells with a comma still works; listings quote a name
holding a comma, so one role never reads as two."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

from tests.conftest import run_cli, snapshot
from tests.e2e.world import make_world, ok


def test_a_comma_in_targets_add_role_is_refused_naming_the_repeated_option(tmp_path: Path) -> None:
    home = tmp_path / "staging"
    ok("init", "--zone", "staging", home=home)
    before = snapshot(home)
    r = run_cli("targets", "add", "sweb", "--environment", "Staging", "--role", "web,db", "--root",
                tmp_path / "ts" / "web", "--json", home=home)
    assert r.returncode == 2, r.stdout + r.stderr
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "joined_names", err
    assert "--role 'web,db'" in err["message"] and "--role web --role db" in err["message"], err
    assert snapshot(home) == before and not (tmp_path / "ts").exists()


def test_a_comma_in_a_variables_scope_is_refused_even_with_new_and_a_known_one_is_taken(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    toml = w.release_dir / "release.toml"
    toml.write_text(toml.read_text().replace('roles = ["db"]', 'roles = ["db,primary"]', 1))
    ok("import", w.export("a.bundle"), home=w.prod)
    before = snapshot(w.prod)
    for scope in (("--role", "web,db"), ("--machine", "web-01, db-01"), ("--environment", "Production,Staging")):
        r = run_cli("variables", "set", "acme-web", "Acme.Theme", "dark", *scope, "--new", "--json", home=w.prod)
        assert r.returncode == 2, r.stdout + r.stderr
        err = json.loads(r.stdout)["error"]
        assert err["code"] == "joined_names" and f"repeat the option for each name: {scope[0]} " in err["message"], err
    assert snapshot(w.prod) == before
    # a role a step of the release names with its comma is one role: a target and a scope may name it
    ok("targets", "add", "db-02", "--environment", "Production", "--role", "db,primary", "--root",
       tmp_path / "targets" / "db-02", home=w.prod)
    ok("variables", "set", "acme-web", "Acme.Theme", "dark", "--role", "db,primary", "--new", home=w.prod)
    listing = ok("variables", "list", "acme-web", home=w.prod)
    assert "role='db,primary'" in listing, listing


def test_targets_list_quotes_a_role_holding_a_comma(tmp_path: Path) -> None:
    """A role an older bundlekit let in reads as one role, not as the two of `--role web --role db`."""
    home = tmp_path / "staging"
    ok("init", "--zone", "staging", home=home)
    ok("targets", "add", "sweb", "--environment", "Staging", "--role", "web", "--root", tmp_path / "t1", home=home)
    ok("targets", "add", "sweb2", "--environment", "Staging", "--role", "web", "--role", "db", "--root",
       tmp_path / "t2", home=home)
    with closing(sqlite3.connect(home / "state.db")) as db, db:
        db.execute("UPDATE targets SET roles = ? WHERE name = 'sweb'", (json.dumps(["web,db"]),))
    rows = {line.split()[1]: line for line in ok("targets", "list", home=home).splitlines() if "Staging" in line}
    assert "'web,db'" in rows["sweb"] and "db,web" in rows["sweb2"] and "'" not in rows["sweb2"], rows


def test_a_comma_in_export_self_platform_is_refused_before_the_wheelhouse_is_read(tmp_path: Path) -> None:
    """pip takes one tag per --platform; `a,b` was read as one tag no wheel has, and the refusal
    listed every wheel as for another platform."""
    home = tmp_path / "dev"
    ok("init", "--zone", "dev", home=home)
    before = snapshot(home)
    r = run_cli("export-self", "--to", "prod", "-o", tmp_path / "self.bundle", "--wheelhouse", tmp_path / "none",
                "--platform", "manylinux_2_17_x86_64,linux_x86_64", "--json", home=home)
    err = json.loads(r.stdout)["error"]
    assert r.returncode == 2 and err["code"] == "joined_names", err
    assert "--platform manylinux_2_17_x86_64 --platform linux_x86_64" in err["message"], err
    assert snapshot(home) == before and not (tmp_path / "self.bundle").exists()
