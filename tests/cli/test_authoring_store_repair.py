"""A damaged package copy in the store of the zone that authored the release: deploy refuses it
and its advice, followed to the letter in that zone, mends the store (review v32-att N3: the
advice said only to import the bundle again, which an authoring zone cannot)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from tests.cli.operator_world import bk, ok, world


def test_the_authoring_zone_mends_a_damaged_store_copy_as_the_deploy_refusal_says(tmp_path: Path) -> None:
    w = world(tmp_path)
    r = bk("variables", "set", "acme-web", "Acme.ApiKey", "-", "--sensitive", home=w.dev, input="k-123456789\n")
    assert r.exit_code == 0, r.stderr
    for name, role in (("db-01", "db"), ("web-01", "web")):
        ok("targets", "add", name, "--environment", "Production", "--role", role, "--root", tmp_path / "t" / name,
           home=w.dev)
    stored = sorted(p for p in (w.dev / "packages" / "sha256").rglob("*") if p.is_file())
    assert stored, "the export kept no package copy"
    victim = stored[0]
    victim.write_bytes(os.urandom(victim.stat().st_size))  # damaged on disk, same size
    r = bk("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json", home=w.dev)
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "package_hash_mismatch", err
    assert "releases create" in err["message"] and str(victim) in err["message"], err
    # The advice, as written: remove the file, create the release again.
    assert re.search(r"remove \S+ and run there: `bundlekit releases create RELEASE_FILE`", err["message"])
    victim.unlink()
    ok("releases", "create", w.release, home=w.dev)
    assert hashlib.sha256(victim.read_bytes()).hexdigest() == victim.name
    r = bk("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json", home=w.dev)
    assert r.exit_code == 0, r.stdout + r.stderr
