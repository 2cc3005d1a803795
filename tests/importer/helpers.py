"""Helpers for import tests: export a variant of the fixture release, sign, snapshot state."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any, Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bundlekit.export.exporter import export_release
from bundlekit.format import codec, crypto
from bundlekit.format.container import HEADER_SIZE, BundleFile, Header, SignatureRecord, add_signature
from bundlekit.format.manifest import from_dict
from bundlekit.receipt.outbox import list_outbox
from bundlekit.zone.home import Zone
from bundlekit.zone.state import open_state
from tests.conftest import RELEASE, Zones
from tests.refusals.forge import edit_keeping_id


def export(z: Zones, out: Path, release: Path = RELEASE, **kw: Any) -> Path:
    export_release(z.dev, release, "prod", out, now=int(time.time()), **kw)
    return out


def deployable_prod(tmp_path: Path) -> Zones:
    """Zones whose prod imported acme-web 1.4.0 from dev, bound its sensitive API key, and has a
    local folder target for each of its roles in Production (under ``tmp_path / "t"``)."""
    from bundlekit.importer import edits
    from bundlekit.importer.importer import import_bundle
    from bundlekit.zone.targets import add_target
    from tests.conftest import make_zones

    z = make_zones(tmp_path)
    import_bundle(z.prod, export(z, tmp_path / "a.bundle"), now=int(time.time()))
    edits.set_variable(z.prod, "acme-web", "Acme.ApiKey", "k-456789", sensitive=True, now=int(time.time()))
    add_target(z.prod, "db-01", "Production", ("db",), tmp_path / "t" / "db-01", 0)
    add_target(z.prod, "web-01", "Production", ("web",), tmp_path / "t" / "web-01", 0)
    return z


def only_the_refusal_changed(zone: Zone, before: dict[str, Any], after: dict[str, Any], code: str) -> None:
    """What refusing an authentic bundle may change (decision 153): the state database, which now
    holds a refusal entry with ``code`` for the bundle's source, and nothing else in the home
    (``before`` and ``after``: ``tests.conftest.snapshot`` of the home)."""
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    on_sqlite = not (zone.home / "bundlekit.conf").exists()  # else the state is in PostgreSQL, not the home
    assert changed == ({str(zone.home / "state.db")} if on_sqlite else set()), changed
    assert list_outbox(zone)["refusals"][-1]["code"] == code


def cosign(bundle: Path, key: Ed25519PrivateKey) -> None:
    add_signature(bundle, lambda msg, kind: SignatureRecord(crypto.raw_public(key), crypto.sign(key, kind, msg)))


def duplicate_last_signature(bundle: Path) -> None:
    data = bundle.read_bytes()
    bundle.write_bytes(data + data[-96:])


def edit_release(release_dir: Path, old: str, new: str) -> Path:
    path = release_dir / "release.toml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return path


STATE_QUERIES = {
    "projects": "SELECT slug, name, space, source_zone_id, local, base FROM projects ORDER BY slug",
    "releases": "SELECT project_slug, version, bundle_digest, sequence, content_digest, snapshot FROM releases "
                "ORDER BY project_slug, version",
    "packages": "SELECT id, version, sha256 FROM packages ORDER BY id, version",
    "incoming": "SELECT * FROM incoming ORDER BY source_zone_id",
    "imports": "SELECT digest, sequence, project_slug, release FROM imports ORDER BY digest",
    "secrets": "SELECT fingerprint FROM secrets ORDER BY fingerprint",
    "trusted_keys": "SELECT key_id, zone_id, role FROM trusted_keys ORDER BY key_id",
    "revoked_keys": "SELECT key_id FROM revoked_keys ORDER BY key_id",
}


def zone_state(home: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The zone's logical state (timestamps left out), read with a fresh connection.

    A SQLite home is read with the driver itself (what is on disk); a home whose state is in
    PostgreSQL through the data layer."""
    if (home / "bundlekit.conf").exists():
        db = open_state(home)
        try:
            return {name: [tuple(r.values()) for r in db.all(q)] for name, q in STATE_QUERIES.items()}
        finally:
            db.close()
    conn = sqlite3.connect(str(home / "state.db"))
    try:
        return {name: [tuple(r) for r in conn.execute(q)] for name, q in STATE_QUERIES.items()}
    finally:
        conn.close()


def resign(bundle: Path, out: Path, keys: list[Ed25519PrivateKey], edit: Callable[[dict[str, Any]], None]) -> Path:
    """Write ``out``: ``bundle`` with its manifest changed by ``edit`` and signed afresh by ``keys``
    (what a source zone holding those keys could produce)."""
    with BundleFile(bundle) as bf:
        header = bf.header
        doc = codec.decode(bf.manifest_bytes)
    edit_keeping_id(doc, header.minor, edit)
    manifest = from_dict(doc).encode()
    head = Header(header.major, header.minor, header.kind, header.blobs_length, len(manifest)).to_bytes()
    blobs = bundle.read_bytes()[HEADER_SIZE:HEADER_SIZE + header.blobs_length]
    message = head + manifest
    signatures = b"".join(crypto.raw_public(k) + crypto.sign(k, header.kind, message) for k in keys)
    out.write_bytes(head + blobs + manifest + signatures)
    return out
