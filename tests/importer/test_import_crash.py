"""SIGKILL the import at many points: the zone is exactly before or after, and re-running converges."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Callable

from bundlekit.zone.location import Settings, parse_state_url, read_settings, write_settings
from tests.conftest import Zones, cli_in_process, make_zones
from tests.importer.helpers import export, zone_state
from tests.pgserver import PostgresServer

RUNNER = Path(__file__).with_name("crash_runner.py")


def _run(kill_at: int, bundle: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RUNNER), str(kill_at), "import", str(bundle), "--home", str(home)],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2])


def _integrity_ok(home: Path) -> bool:
    conn = sqlite3.connect(str(home / "state.db"))
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def _kill_then_rerun(n: int, total: int, bundle: Path, home: Path, before: object, after: object, *,
                     check: Callable[[Path], bool] = lambda home: True) -> str:
    """Kill an import of ``bundle`` at event ``n``: the zone must be ``before`` or ``after``
    (which one is returned), and an import run again must reach ``after``."""
    r = _run(n, bundle, home)
    assert r.returncode == -9, (n, r.returncode, r.stderr[-500:])
    assert check(home), n
    got = zone_state(home)
    assert got in (before, after), f"half an import after a kill at event {n}/{total}"
    rerun = cli_in_process("import", bundle, home=home)  # the next run: no kill point to trace, no process needed
    assert rerun.returncode == 0, rerun.stderr
    assert zone_state(home) == after
    return "before" if got == before else "after"


def test_import_killed_anywhere_is_before_or_after_and_converges(zones: Zones, tmp_path: Path) -> None:
    bundle = export(zones, tmp_path / "a.bundle")
    zones.close()
    pristine = tmp_path / "pristine"
    shutil.copytree(zones.prod.home, pristine)
    before = zone_state(pristine)
    # Reference: a clean import, counting events.
    ref_home = tmp_path / "ref"
    shutil.copytree(pristine, ref_home)
    r = _run(0, bundle, ref_home)
    assert r.returncode == 0, r.stderr
    total = int(re.search(r"EVENTS (\d+)", r.stderr).group(1))  # type: ignore[union-attr]
    after = zone_state(ref_home)
    assert after != before
    points = sorted({max(1, total * i // 26) for i in range(1, 26)} | {total - 3, total - 2, total - 1})
    outcomes = {"before": 0, "after": 0}
    for n in points:
        home = tmp_path / f"crash-{n}"
        shutil.copytree(pristine, home)
        outcomes[_kill_then_rerun(n, total, bundle, home, before, after, check=_integrity_ok)] += 1
        for sha in (row[2] for row in after["packages"]):
            assert (home / "packages" / "sha256" / sha[:2] / sha).is_file()
        shutil.rmtree(home)
    assert outcomes["before"] > 0 and outcomes["after"] > 0, outcomes


def test_a_node_killed_anywhere_in_an_import_leaves_postgresql_state_before_or_after(
        tmp_path: Path, pg_server: PostgresServer) -> None:
    zones = make_zones(tmp_path, pg=pg_server)
    bundle = export(zones, tmp_path / "a.bundle")
    zones.close()
    pristine_db = _database(zones.prod.home)
    before = zone_state(zones.prod.home)
    ref = _node_copy(zones.prod.home, tmp_path / "ref", pg_server, pristine_db)
    r = _run(0, bundle, ref)
    assert r.returncode == 0, r.stderr
    total = int(re.search(r"EVENTS (\d+)", r.stderr).group(1))  # type: ignore[union-attr]
    after = zone_state(ref)
    assert after != before
    outcomes = {"before": 0, "after": 0}
    for n in sorted({max(1, total * i // 8) for i in range(1, 8)} | {total - 2}):
        home = _node_copy(zones.prod.home, tmp_path / f"crash-{n}", pg_server, pristine_db)
        outcomes[_kill_then_rerun(n, total, bundle, home, before, after)] += 1
    assert outcomes["before"] > 0 and outcomes["after"] > 0, outcomes


def _database(home: Path) -> str:
    return read_settings(home).state.masked.rsplit("/", 1)[1]  # type: ignore[union-attr]


def _node_copy(home: Path, dest: Path, pg: PostgresServer, template: str) -> Path:
    """A copy of the node's home pointing at a copy of its database (``template``)."""
    shutil.copytree(home, dest)
    name = f"{template}_{dest.name.replace('-', '_')}"
    pg.admin().execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    write_settings(dest, Settings(parse_state_url(pg.url(name), where="test", allow_password=False), None))
    return dest
