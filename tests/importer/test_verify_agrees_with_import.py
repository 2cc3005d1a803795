"""`verify`, `import --dry-run` and `import` refuse a bundle alike (decision 600).

Each attack is a bundle a trusted source could sign that `verify` used to accept and `import`
then refused: duplicate identities, a damaged rotation statement, a sealed value that does not
open to text, a release its trust policy forbids. All three now run the same checks
(``importer/contents.py``) and give the same code; `verify` and the dry run change nothing, the
import only queues its refusal for the source (decision 153).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import pytest

from bundlekit.errors import BundleError
from bundlekit.format import crypto
from bundlekit.format.crypto import raw_public
from bundlekit.importer.importer import import_bundle
from bundlekit.importer.verify import verify_bundle
from bundlekit.receipt.ingest import reveal_output
from bundlekit.receipt.build import output_seal_ad
from bundlekit.trust.policy import SourcePolicy
from tests.conftest import Zones, make_zones, raises_code, snapshot
from tests.importer.helpers import export, only_the_refusal_changed
from tests.refusals.forge import resign

#: Their state tests run on both engines (decision 772).
pytestmark = pytest.mark.usefixtures("state_engine")


def _forged(z: Zones, mutate: Callable[[dict[str, Any]], None]) -> Path:
    """The fixture release exported by dev, changed by ``mutate`` and signed again by dev's key."""
    bundle = export(z, z.tmp / "acme.bundle")
    return resign(bundle, z.tmp / "forged.bundle", z.dev.home, mutate=mutate)


def _all_three_refuse(z: Zones, bundle: Path, code: str) -> BundleError:
    """``verify``, a dry run and the import itself refuse ``bundle`` with ``code``; the first two
    change nothing in prod's home, the import only its refusal entry when the code's family is
    reported to the source (else nothing either)."""
    now = int(time.time())
    before = snapshot(z.prod.home)
    with raises_code(code):
        verify_bundle(z.prod, bundle, now=now)
    with raises_code(code):
        import_bundle(z.prod, bundle, now=now, dry_run=True)
    assert snapshot(z.prod.home) == before
    with raises_code(code) as info:
        import_bundle(z.prod, bundle, now=now)
    if info.value.family in ("verification", "trust", "format"):
        only_the_refusal_changed(z.prod, before, snapshot(z.prod.home), code)
    else:
        assert snapshot(z.prod.home) == before
    return info.value


def _variable(m: dict[str, Any], name: str) -> dict[str, Any]:
    return next(v for v in m["variables"] if v["name"] == name)


def test_a_variable_listed_twice_under_another_case_is_refused_by_verify_as_by_import(zones: Zones) -> None:
    def twice(m: dict[str, Any]) -> None:
        first = dict(m["variables"][0])
        assert not first["sensitive"]
        m["variables"].append({**first, "name": first["name"].upper(), "value": "other"})

    err = _all_three_refuse(zones, _forged(zones, twice), "duplicate_identity")
    assert "variables[0]" in err.message and err.details["section"] == "variables"


def test_a_placeholder_with_the_identity_of_a_variable_is_refused_by_verify_as_by_import(zones: Zones) -> None:
    def shadowed(m: dict[str, Any]) -> None:
        v = next(v for v in m["variables"] if not v["sensitive"])
        m["placeholders"].append({"name": v["name"], "scope": v["scope"], "sensitive": False, "required": True})

    err = _all_three_refuse(zones, _forged(zones, shadowed), "duplicate_identity")
    assert "placeholders[" in err.message


def test_two_versions_of_one_package_id_are_refused_by_verify_as_by_import(zones: Zones) -> None:
    def two_versions(m: dict[str, Any]) -> None:
        p = m["packages"][0]
        m["packages"].append({**p, "version": "0.9.0", "included": False, "file": "Other.zip"})

    err = _all_three_refuse(zones, _forged(zones, two_versions), "duplicate_identity")
    assert err.details["section"] == "packages" and "packages[1]" in err.message


@pytest.mark.parametrize("field", ["old_key", "new_key", "old_signature", "new_signature"])
@pytest.mark.parametrize("damage", ["not base64 !", "AAAA", "QQ"], ids=["not-base64", "wrong-length", "not-canonical"])
def test_a_rotation_statement_with_damaged_base64_is_invalid_rotation_naming_the_field(
        zones: Zones, field: str, damage: str) -> None:
    """It was ``malformed`` (a format error with no statement or bundle named) and only at import."""
    def rotated(m: dict[str, Any]) -> None:
        statement = {"zone_id": m["source"]["zone_id"], "old_key": crypto.b64(b"\x02" * 32),
                     "new_key": crypto.b64(b"\x03" * 32), "issued": 1, "old_signature": crypto.b64(b"\x04" * 64),
                     "new_signature": crypto.b64(b"\x05" * 64)}
        statement[field] = damage
        m["rotations"] = [statement]

    err = _all_three_refuse(zones, _forged(zones, rotated), "invalid_rotation")
    assert f"rotations[0].{field}" in err.message and "forged.bundle" in err.message


def test_a_rotation_statement_no_key_signed_is_refused_by_verify_as_by_import(zones: Zones) -> None:
    def rotated(m: dict[str, Any]) -> None:
        m["rotations"] = [{"zone_id": m["source"]["zone_id"], "old_key": crypto.b64(raw_public(_ed())),
                           "new_key": crypto.b64(raw_public(_ed())), "issued": 1,
                           "old_signature": crypto.b64(b"\x04" * 64), "new_signature": crypto.b64(b"\x05" * 64)}]

    _all_three_refuse(zones, _forged(zones, rotated), "invalid_rotation")


def _ed() -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    return Ed25519PrivateKey.generate()


def _resealed(z: Zones, plain: bytes) -> Callable[[dict[str, Any]], None]:
    """Seal ``plain`` as the sensitive variable's value, correctly for prod, this bundle and the variable."""
    def mutate(m: dict[str, Any]) -> None:
        v = next(v for v in m["variables"] if v["sensitive"])
        ad = crypto.seal_ad(m["bundle_id"], m["destination"]["key_id"],
                            crypto.seal_label("variable", v["name"], v["scope"]))
        v["sealed"] = crypto.b64(crypto.seal(raw_public(z.prod.sealing_key()), plain, ad))
    return mutate


def test_a_sealed_value_that_opens_to_bytes_that_are_not_text_is_invalid_seal_everywhere(zones: Zones) -> None:
    """A trusted source sealed bytes that are no UTF-8: a coded refusal, never a UnicodeDecodeError."""
    err = _all_three_refuse(zones, _forged(zones, _resealed(zones, b"c4n4ry \xff\xfe")), "invalid_seal")
    assert "not UTF-8" in err.message and "forged.bundle" in err.message
    assert "c4n4ry" not in err.message and "\\xff" not in err.message


def test_a_sealed_value_sealed_right_opens_and_is_imported(zones: Zones) -> None:
    """The control: the same forgery with UTF-8 text passes all three."""
    bundle = _forged(zones, _resealed(zones, "pässword".encode()))
    now = int(time.time())
    assert list(verify_bundle(zones.prod, bundle, now=now).opened.values()) == ["pässword"]
    import_bundle(zones.prod, bundle, now=now)


def test_a_sealed_value_that_does_not_open_is_refused_by_verify_as_by_import(zones: Zones) -> None:
    def bad(m: dict[str, Any]) -> None:
        next(v for v in m["variables"] if v["sensitive"])["sealed"] = crypto.b64(b"\x01" * 80)

    _all_three_refuse(zones, _forged(zones, bad), "invalid_seal")


def test_a_sealed_value_that_is_not_base64_is_refused_by_verify_as_by_import(zones: Zones) -> None:
    def bad(m: dict[str, Any]) -> None:
        next(v for v in m["variables"] if v["sensitive"])["sealed"] = "not base64!"

    err = _all_three_refuse(zones, _forged(zones, bad), "malformed")
    assert "variables[" in err.message and "forged.bundle" in err.message


def test_a_release_its_trust_policy_forbids_is_refused_by_verify_as_by_import(tmp_path: Path) -> None:
    z = make_zones(tmp_path, SourcePolicy(projects=("billing-*",)))
    try:
        _all_three_refuse(z, export(z, tmp_path / "acme.bundle"), "policy_denied")
    finally:
        z.close()


def test_revealing_an_output_sealed_as_bytes_that_are_not_text_is_invalid_seal(zones: Zones) -> None:
    """`outputs --reveal` at the source opened with ``.decode("utf-8")``: a traceback."""
    ad = output_seal_ad("Deployments-7", zones.dev.sealing_key_id, "Migrate", "db-01", "Token")
    output = {"name": "Token", "sensitive": True,
              "sealed": crypto.b64(crypto.seal(raw_public(zones.dev.sealing_key()), b"\xc3\x28", ad))}
    with raises_code("invalid_seal", match="not UTF-8"):
        reveal_output(zones.dev, "Deployments-7", "Migrate", "db-01", output)
    good = {**output, "sealed": crypto.b64(crypto.seal(raw_public(zones.dev.sealing_key()), "tök".encode(), ad))}
    assert reveal_output(zones.dev, "Deployments-7", "Migrate", "db-01", good) == "tök"


def test_a_stored_secret_that_opens_to_bytes_that_are_not_text_is_state_damaged(zones: Zones) -> None:
    """Anyone with the zone's public sealing key and write access to its state could seal bytes
    under a stored reference; reading it back is a coded refusal, never a UnicodeDecodeError."""
    from bundlekit.zone import secrets

    with zones.prod.db.transaction() as tx:
        ref = secrets.store(zones.prod, tx, "placeholder")
    forged = crypto.seal(raw_public(zones.prod.sealing_key()), b"\xff\xfe", secrets._ad(zones.prod, ref))
    with zones.prod.db.transaction() as tx:
        tx.run("UPDATE secrets SET sealed = ? WHERE fingerprint = ?", (forged, ref))
    with raises_code("state_damaged", match="not UTF-8"):
        secrets.reveal(zones.prod, ref)
