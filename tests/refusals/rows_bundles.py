"""Refusal table rows: bundles that are malformed, unauthentic, untrusted, old, or in conflict."""

from __future__ import annotations

import hashlib
import struct
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bundlekit.format import crypto
from bundlekit.format.container import HEADER_SIZE
from tests.refusals.forge import duplicate_first_key, flip, parts, resign, tiny_maps, unsorted
from tests.refusals.world import Call, Ctx, Row, copy, ok, write_zip


def _verify(ctx: Ctx, bundle: Path) -> Call:
    return Call(["verify", bundle], home=ctx.prod, outputs=[bundle])


def _import(ctx: Ctx, bundle: Path, home: str = "prod", *extra: object, expect: str = "unchanged") -> Call:
    return Call(["import", bundle, *extra], home=ctx.get(home), outputs=[bundle], expect=expect)


def _refused_import(ctx: Ctx, bundle: Path, home: str = "prod") -> Call:
    """An import of a bundle that really came from dev: the refusal is reported back (decision 153)."""
    return _import(ctx, bundle, home, expect="refusal")


def _bytes(ctx: Ctx, name: str, data: bytes) -> Path:
    return ctx.file(name, data)


def _acme(ctx: Ctx) -> bytes:
    return ctx.get("acme.bundle").read_bytes()


def _header(ctx: Ctx, **fields: int) -> Path:
    data = _acme(ctx)
    names = ("magic", "major", "minor", "kind", "reserved", "blobs", "manifest")
    values = dict(zip(names, struct.unpack(">8sHHB3sQQ", data[:HEADER_SIZE])))
    values.update(fields)  # type: ignore[arg-type]
    return _bytes(ctx, "bad.bundle", struct.pack(">8sHHB3sQQ", *values.values()) + data[HEADER_SIZE:])


def _forged(ctx: Ctx, name: str = "forged.bundle", **kw: Any) -> Path:
    return resign(ctx.get("acme.bundle"), ctx.path(name), ctx.dev, **kw)


def _blob_byte(ctx: Ctx, where: float) -> Path:
    data = _acme(ctx)
    _, blobs, _ = parts(data)
    return _bytes(ctx, "bad.bundle", flip(data, HEADER_SIZE + int(len(blobs) * where)))


def _exported(ctx: Ctx, *, env: dict[str, str] | None = None, to: str = "prod", home: str = "dev",
              release: Path | None = None, extra: tuple[object, ...] = ()) -> Path:
    out = ctx.path(f"exported-{len(list(ctx.root.glob('exported-*')))}.bundle")
    ok("export", release or ctx.get("release") / "release.toml", "--to", to, "-o", out, *extra, home=ctx.get(home),
       env=env)
    return out


def _sde(days: int) -> dict[str, str]:
    return {"SOURCE_DATE_EPOCH": str(int(time.time()) + days * 86400)}


def _retrust_dev(ctx: Ctx, home: str, *options: object) -> Path:
    zone = ctx.get(home)
    ok("trust", "remove", "dev", home=zone)
    ok("trust", "add", ctx.get("dev.card"), *options, home=zone)
    return zone


def _revoked(ctx: Ctx) -> Call:
    key = Ed25519PrivateKey.from_private_bytes((ctx.dev / "keys" / "signing.key").read_bytes())
    ok("trust", "revoke", crypto.key_id("ed25519", crypto.raw_public(key)), home=ctx.prod)
    return _verify(ctx, ctx.get("acme.bundle"))


def _rolled_back(ctx: Ctx) -> Call:
    older = _exported(ctx, release=ctx.release(version="1.4.1"))
    newer = _exported(ctx, release=ctx.release(version="1.4.2"))
    ok("import", newer, home=ctx.prod)
    return _refused_import(ctx, older)


def _sequence_reused(ctx: Ctx) -> Call:
    copy(ctx.dev, ctx.path("dev_restored"))  # a backup of dev, taken before the first export
    first = _exported(ctx, release=ctx.release(version="1.4.1"), extra=("--sequence", "9"))
    ok("import", first, home=ctx.prod)
    # dev restored from that backup re-cuts 1.4.1 and pins the number the first one used (dev itself
    # refuses to, sequence_taken: decision 800)
    second = ctx.path("restored.bundle")
    ok("export", ctx.release(("Adds the order history page", "Adds the order page"), version="1.4.1"), "--to", "prod",
       "-o", second, "--sequence", "9", home=ctx.path("dev_restored"))
    return _refused_import(ctx, second)


def _sequence_taken(ctx: Ctx) -> Call:
    """v30-10 NEW-2: dev pins for 1.4.2 the number it gave 1.4.1's bundle for prod; a second bundle
    under that id would make dev forget the first and refuse the receipts answering it."""
    _exported(ctx, release=ctx.release(version="1.4.1"), extra=("--sequence", "9"))
    out = ctx.path("pinned-again.bundle")
    return Call(["export", ctx.release(version="1.4.2"), "--to", "prod", "-o", out, "--sequence", "9"],
                home=ctx.dev, outputs=[out])


def _replayed_receipt(ctx: Ctx) -> Call:
    """r2 (already imported) signed again by prod under an older sequence: late, and adding no
    entry (a late receipt that adds one is accepted, decision 153)."""
    replayed = resign(ctx.get("r2.bundle"), ctx.path("r2-replayed.bundle"), ctx.get("prod_deployed"),
                      mutate=lambda m: m.update(sequence=1))
    return _import(ctx, replayed, "dev_receipts")


def _misreported_receipt(field: str, value: Any) -> Any:
    """r1 (not yet imported by dev_receipts, so late but adding its deployment) signed again by
    prod with its entry's ``field`` ("release", "slug" or "sequence"; "runs": its first run's state,
    the entry then saying "Success") changed to ``value``: the entry answers a bundle dev exported
    but misdescribes it."""
    def mutate(m: dict[str, Any]) -> None:
        entry = m["receipts"][0]
        if field == "slug":
            entry["project"]["slug"] = value
        elif field == "sequence":
            entry["release_bundle"]["sequence"] = value
        elif field == "runs":  # "Success" while its own run ended ``value`` (review r1015a A8)
            entry["state"] = "Success"
            entry["runs"][0]["state"] = value
        else:
            entry[field] = value

    def call(ctx: Ctx) -> Call:
        forged = resign(ctx.get("r1.bundle"), ctx.path(f"r1-{field}.bundle"), ctx.get("prod_deployed"),
                        mutate=mutate)
        return _import(ctx, forged, "dev_receipts")
    return call


def _package_changed(ctx: Ctx) -> Call:
    release = ctx.release(version="1.4.1")
    write_zip(release.parent / "packages" / "Acme.Web.1.4.0.zip", {"appsettings.json": b"{}", "index.html": b"<p>"})
    return _refused_import(ctx, _exported(ctx, release=release))


def _conflict(ctx: Ctx) -> Call:
    ok("variables", "set", "acme-web", "Acme.Db.Name", "acme_local", "--environment", "Production", home=ctx.prod)
    return _import(ctx, _exported(ctx, release=ctx.release(('value = "acme_prod"', 'value = "acme_main"'),
                                                           version="1.4.1")))


def _twice(ctx: Ctx, version: str) -> Path:
    release = ctx.release(version=version)
    release.write_text(release.read_text() + '\n[[variables]]\nname = "Acme.Db.Name"\nvalue = "acme_dev"\n')
    return release


def _manifest(**changes: Any) -> Any:
    return lambda m: m.update(changes)


def _by_reference_one_byte_more(m: dict[str, Any]) -> None:
    """Every package the manifest lists by reference (not included, no delta) claims one byte more."""
    refs = [p for p in m["packages"] if not p["included"] and "delta" not in p]
    assert refs, m["packages"]
    for p in refs:
        p["size"] += 1


def _first_blob(**changes: Any) -> Any:
    def mutate(m: dict[str, Any]) -> None:
        m["blobs"][0].update(changes)
        for p in m["packages"]:
            if "size" in changes:
                p["size"] = changes["size"]
    return mutate


def _bad_seal(m: dict[str, Any]) -> None:
    secret = next(v for v in m["variables"] if v["sensitive"])
    secret["sealed"] = crypto.b64(b"\x01" * 80)


def _bad_rotation(m: dict[str, Any]) -> None:
    m["rotations"] = [{"zone_id": m["source"]["zone_id"], "old_key": crypto.b64(b"\x02" * 32),
                       "new_key": crypto.b64(b"\x03" * 32), "issued": 1, "old_signature": crypto.b64(b"\x04" * 64),
                       "new_signature": crypto.b64(b"\x05" * 64)}]


def _bad_rotation_base64(m: dict[str, Any]) -> None:
    """A statement whose new key is not base64 (it was ``malformed``, naming no statement)."""
    _bad_rotation(m)
    m["rotations"][0]["new_key"] = "not base64!"


def _not_text(ctx: Ctx, home: str) -> Any:
    """The sensitive variable sealed right for ``home``'s zone, this bundle and the variable, but
    as bytes that are not UTF-8 (a value is text, spec §8)."""
    key = X25519PrivateKey.from_private_bytes((ctx.get(home) / "keys" / "sealing.key").read_bytes())

    def mutate(m: dict[str, Any]) -> None:
        secret = next(v for v in m["variables"] if v["sensitive"])
        ad = crypto.seal_ad(m["bundle_id"], m["destination"]["key_id"],
                            crypto.seal_label("variable", secret["name"], secret["scope"]))
        secret["sealed"] = crypto.b64(crypto.seal(crypto.raw_public(key), b"\xff\xfe not text", ad))
    return mutate


def _variable_twice(m: dict[str, Any]) -> None:
    """A plain variable listed again under its name in upper case: the same identity."""
    first = next(v for v in m["variables"] if not v["sensitive"])
    m["variables"].append({**first, "name": first["name"].upper()})


def _package_twice(m: dict[str, Any]) -> None:
    """A second version of the release's package id, listed by reference: one id, two versions."""
    p = m["packages"][0]
    m["packages"].append({**p, "version": "0.9.0", "file": "Acme.Web.0.9.0.zip", "included": False})


def _claims_other_source(ctx: Ctx) -> Any:
    other_id = (ctx.get("other") / "zone.json").read_text().split('"zone_id": "')[1].split('"')[0]
    return lambda m: m["source"].update(zone_id=other_id, name="other")


def _without_packages(m: dict[str, Any]) -> None:
    m["packages"] = []
    for step in m["steps"]:
        step.pop("package", None)
        if step["type"] == "package":
            step.update(type="script", syntax="bash", script="true")
            step.pop("substitute", None)



def _structured(pattern: str) -> Any:
    """The package step also applies structured configuration to ``pattern`` (re-signed by dev)."""
    def mutate(m: dict[str, Any]) -> None:
        next(s for s in m["steps"] if s["type"] == "package")["structured_config"] = [pattern]
    return mutate


def _lose_acme_package(ctx: Ctx) -> None:
    """prod's store loses the Acme.Web 1.4.0 dev delivered (removed by hand, a disk replaced)."""
    sha = hashlib.sha256((ctx.get("release") / "packages" / "Acme.Web.1.4.0.zip").read_bytes()).hexdigest()
    (ctx.prod / "packages" / "sha256" / sha[:2] / sha).unlink()


def _as_delta(ctx: Ctx, *, recipe: list[list[int]] | None = None, base_sha: str | None = None,
              sha: str | None = None, base_size: int | None = None) -> Path:
    """``delta.bundle`` (release 1.4.1) with its package re-signed as Acme.Web 1.4.1 rebuilt from the
    1.4.0 that prod holds: its first 100 bytes, then all but its last 100 (no data blob)."""
    base = (ctx.get("release") / "packages" / "Acme.Web.1.4.0.zip").read_bytes()
    new = base[:100] + base[:-100]

    def mutate(m: dict[str, Any]) -> None:
        m["packages"][0].update(
            version="1.4.1", file="Acme.Web.1.4.1.zip", size=len(new), sha256=sha or hashlib.sha256(new).hexdigest(),
            included=False, delta={
                "base": {"id": "Acme.Web", "version": "1.4.0", "sha256": base_sha or hashlib.sha256(base).hexdigest(),
                         "size": base_size or len(base)},
                "recipe": recipe or [[0, 0, 100], [0, 0, len(base) - 100]]})

    return resign(ctx.get("delta.bundle"), ctx.path("delta-forged.bundle"), ctx.get("dev_receipts"), mutate=mutate)


ROWS = [
    # -- format -----------------------------------------------------------------------------
    Row("malformed", lambda c: _verify(c, _header(c, reserved=b"\x00\x01\x00"))),  # type: ignore[arg-type]
    Row("truncated", lambda c: _verify(c, _bytes(c, "bad.bundle", _acme(c)[:20]))),
    Row("trailing_bytes", lambda c: _verify(c, _bytes(c, "bad.bundle", _acme(c) + b"\0"))),
    Row("not_a_bundle", lambda c: _verify(c, _bytes(c, "bad.bundle", b"PK\x03\x04" + _acme(c)[4:]))),
    Row("not_a_bundle", lambda c: Call(["inspect", c.file("adir/keep.txt", b"").parent], outputs=[c.path("adir")]),
        name="inspect-a-folder"),
    Row("not_a_bundle", lambda c: Call(["media", "split", c.file("adir/keep.txt", b"").parent, "--out",
                                        c.path("vols")], outputs=[c.path("adir"), c.path("vols")]),
        name="split-a-folder"),
    Row("unsupported_version", lambda c: _verify(c, _header(c, major=2))),
    Row("limit_exceeded", lambda c: _verify(c, _header(c, manifest=1 << 40))),
    Row("limit_exceeded", lambda c: _import(c, _forged(c, encode=tiny_maps)), name="manifest-of-tiny-maps"),
    Row("duplicate_key", lambda c: _verify(c, _forged(c, encode=duplicate_first_key))),
    Row("non_canonical", lambda c: _verify(c, _forged(c, encode=unsorted))),
    Row("invalid_manifest", lambda c: _verify(c, _forged(c, mutate=_manifest(sequence=0)))),
    # a path that leaves the package, refused at the door, not first by deploy (issue 20, finding F5)
    Row("invalid_manifest", lambda c: _verify(c, _forged(c, mutate=_structured("../../../../var/tmp/victim.json"))),
        name="structured-config-parent"),
    Row("invalid_manifest", lambda c: _import(c, _forged(c, mutate=_structured("/etc/passwd")), "prod", "--dry-run"),
        name="structured-config-absolute-dry-run"),
    Row("invalid_manifest", lambda c: _import(c, _forged(c, mutate=_structured("config/../../x.json"))),
        name="structured-config-import"),
    Row("unreferenced_blob", lambda c: _verify(c, _forged(c, mutate=_without_packages))),
    # -- verification -----------------------------------------------------------------------
    Row("blob_corrupt", lambda c: _verify(c, _blob_byte(c, 0.0))),
    Row("blob_hash_mismatch", lambda c: _verify(c, _blob_byte(c, 0.5))),
    Row("blob_layout", lambda c: _verify(c, _forged(c, mutate=_first_blob(offset=1)))),
    Row("blob_size_mismatch", lambda c: _verify(c, _forged(c, mutate=_first_blob(size=1)))),
    Row("invalid_signature", lambda c: _verify(c, _bytes(c, "bad.bundle", flip(_acme(c), len(_acme(c)) - 1)))),
    Row("invalid_seal", lambda c: _refused_import(c, _forged(c, mutate=_bad_seal), "prod_fresh")),
    Row("invalid_rotation", lambda c: _refused_import(c, _forged(c, mutate=_bad_rotation), "prod_fresh")),
    # `verify` refuses what `import` refuses (decision 600); damaged base64 is the statement's defect too
    Row("invalid_rotation", lambda c: _verify(c, _forged(c, mutate=_bad_rotation_base64)), name="verify-base64"),
    Row("invalid_seal", lambda c: _verify(c, _forged(c, mutate=_bad_seal)), name="verify"),
    Row("invalid_seal", lambda c: _refused_import(c, _forged(c, mutate=_not_text(c, "prod_fresh")), "prod_fresh"),
        name="not-utf8"),
    Row("expired", lambda c: _verify(c, _exported(c, env=_sde(-40)))),
    Row("not_yet_valid", lambda c: _verify(c, _exported(c, env=_sde(3)))),
    Row("kind_mismatch", lambda c: _verify(c, _forged(c, header_kind="receipt"))),
    Row("bundle_id_mismatch", lambda c: _verify(c, _forged(c, mutate=_manifest(bundle_id="0" * 32)))),
    Row("wrong_destination", lambda c: (ok("trust", "add", c.get("other.card"), home=c.dev),
                                        _verify(c, _exported(c, to="other")))[1]),
    Row("package_mismatch", _package_changed),
    Row("package_missing", lambda c: (_lose_acme_package(c), _refused_import(c, c.get("delta.bundle")))[1]),
    Row("invalid_delta", lambda c: _verify(c, _as_delta(c, recipe=[[0, 1, 710]]))),
    Row("delta_base_missing", lambda c: (_lose_acme_package(c), _refused_import(c, _as_delta(c)))[1]),
    Row("rebuilt_package_mismatch", lambda c: _refused_import(c, _as_delta(c, sha="cd" * 32))),
    # The base prod holds, named with one byte more (every range of the recipe still inside it).
    Row("package_size_mismatch", lambda c: _refused_import(c, _as_delta(c, base_size=len(
        (c.get("release") / "packages" / "Acme.Web.1.4.0.zip").read_bytes()) + 1))),
    # A package listed by reference (no delta) that prod holds, named with one byte more: `verify` with prod's
    # home compares its size as the import does (spec 5.1; conformance vector package-by-reference-size-differs)
    Row("package_size_mismatch", lambda c: _verify(c, resign(c.get("delta.bundle"), c.path("bigger.bundle"), c.dev,
                                                             mutate=_by_reference_one_byte_more)), name="verify"),
    # A variable listed twice with the same scope: export refuses it, creating the release in dev.
    Row("duplicate_identity", lambda c: Call(["export", _twice(c, version="1.4.1"), "--to", "prod", "-o",
                                              c.path("twice.bundle")], home=c.dev, outputs=[c.path("twice.bundle")])),
    # ... and a bundle a source signed with one identity twice: verify and import alike (decision 600)
    Row("duplicate_identity", lambda c: _verify(c, _forged(c, mutate=_variable_twice)), name="verify-variable"),
    Row("duplicate_identity", lambda c: _import(c, _forged(c, mutate=_package_twice), "prod_fresh"),
        name="import-package"),
    Row("rollback", _rolled_back),
    Row("replay", _replayed_receipt),
    Row("sequence_reused", _sequence_reused),
    Row("sequence_taken", _sequence_taken),
    Row("unknown_bundle", lambda c: _import(c, c.get("r1.bundle"), "dev_pre")),
    Row("receipt_mismatch", _misreported_receipt("release", "9.9.9"), name="release"),
    Row("receipt_mismatch", _misreported_receipt("slug", "billing-api"), name="project"),
    Row("receipt_mismatch", _misreported_receipt("sequence", 7), name="sequence"),
    Row("receipt_mismatch", _misreported_receipt("runs", "Failed"), name="success-with-a-failed-run"),
    # -- trust ------------------------------------------------------------------------------
    Row("untrusted", lambda c: _verify(c, _exported(c, home="other"))),
    Row("key_revoked", _revoked),
    Row("threshold_not_met", lambda c: (_retrust_dev(c, "prod", "--threshold", "2"),
                                        _verify(c, c.get("acme.bundle")))[1]),
    Row("policy_denied", lambda c: (_retrust_dev(c, "prod_fresh", "--projects", "billing-*"),
                                    _refused_import(c, c.get("acme.bundle"), "prod_fresh"))[1]),
    Row("policy_denied", lambda c: (_retrust_dev(c, "prod_fresh", "--projects", "billing-*"),
                                    Call(["verify", c.get("acme.bundle")], home=c.get("prod_fresh"),
                                         outputs=[c.get("acme.bundle")]))[1], name="verify"),
    Row("policy_denied", lambda c: (_retrust_dev(c, "prod", "--environments", "Staging"),
                                    Call(["deploy", "acme-web", "1.4.0", "--environment", "Production"],
                                         home=c.prod))[1], name="deploy"),
    Row("source_mismatch", lambda c: _verify(c, _forged(c, mutate=_claims_other_source(c)))),
    # dev lists Acme.Web 1.4.0 by reference, but never delivered it to this prod (decision 290)
    Row("package_not_shared", lambda c: _refused_import(c, c.get("delta.bundle"), "prod_fresh")),
    # ... and `verify` with that zone's home says so too, before anyone tries the import (finding 20.3)
    Row("package_not_shared", lambda c: Call(["verify", c.get("delta.bundle")], home=c.get("prod_fresh"),
                                             outputs=[c.get("delta.bundle")]), name="verify"),
    # -- conflict ---------------------------------------------------------------------------
    Row("conflict", _conflict),
    # dev replaced its release (--replace); prod, which imported the first one, refuses the other
    Row("release_exists", lambda c: _import(c, _exported(c, release=c.release(
        ("Adds the order history page", "Adds the order page")), extra=("--replace",)))),
    # dev itself refuses to export other content under a version it created (finding 10.1)
    Row("release_exists", lambda c: Call(["export", c.release(("Adds the order history page", "Adds the order page")),
                                          "--to", "prod", "-o", c.path("edited.bundle")], home=c.dev,
                                         outputs=[c.path("edited.bundle")]), name="export"),
]
