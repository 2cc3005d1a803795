"""Signature thresholds, approvers, key rotation and revocation at import time."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bundlekit.format.card import IdentityCard, parse_card
from bundlekit.format.crypto import key_id, raw_public
from bundlekit.format.keyfile import ApproverKey, make_rotation
from bundlekit.receipt.outbox import list_outbox
from bundlekit.importer.importer import import_bundle
from bundlekit.trust.policy import SourcePolicy
from bundlekit.zone import truststore
from bundlekit.zone.rotation import rotate_key
from tests.conftest import ENGINE, Zones, make_zones, raises_code, run_cli, snapshot, write_behind
from tests.importer.helpers import cosign, duplicate_last_signature, export, only_the_refusal_changed, resign

#: Their state tests run on both engines (decision 772).
pytestmark = pytest.mark.usefixtures("state_engine")

ALICE = Ed25519PrivateKey.generate()
BOB = Ed25519PrivateKey.generate()
MALLORY = Ed25519PrivateKey.generate()


@pytest.mark.parametrize(
    "threshold, cosigners, duplicate, revoke_alice, expect",
    [
        (1, [], False, False, "ok"),
        (2, [], False, False, "threshold_not_met"),
        (2, [ALICE], False, False, "ok"),
        (2, [], True, False, "threshold_not_met"),          # the zone key twice counts once
        (3, [ALICE], True, False, "threshold_not_met"),     # alice twice counts once
        (3, [ALICE, BOB], False, False, "ok"),
        (2, [MALLORY], False, False, "threshold_not_met"),  # unknown keys are ignored, never counted
        (3, [ALICE, MALLORY, BOB], False, False, "ok"),
        (2, [ALICE], False, True, "threshold_not_met"),     # a revoked approver no longer counts
    ],
    ids=["1-of-1", "2-needs-approver", "zone+alice", "zone-twice", "alice-twice", "zone+alice+bob",
         "unknown-ignored", "unknown-among-known", "revoked-approver"],
)
def test_threshold_table(tmp_path: Path, threshold: int, cosigners: list[Ed25519PrivateKey], duplicate: bool,
                         revoke_alice: bool, expect: str) -> None:
    z = make_zones(tmp_path, policy=SourcePolicy(threshold=threshold))
    for name, key in (("alice", ALICE), ("bob", BOB)):
        truststore.add_signer(z.prod, "dev", ApproverKey(name, raw_public(key)), 0)
    if revoke_alice:
        truststore.revoke(z.prod, key_id("ed25519", raw_public(ALICE)), "left the company", 0)
    b = export(z, tmp_path / "a.bundle")
    for key in cosigners:
        cosign(b, key)
    if duplicate:
        duplicate_last_signature(b)
    if expect == "ok":
        assert not import_bundle(z.prod, b, now=int(time.time())).noop
    else:
        before = snapshot(z.prod.home)
        with raises_code(expect) as info:
            import_bundle(z.prod, b, now=int(time.time()))
        assert info.value.exit_code == 3
        only_the_refusal_changed(z.prod, before, snapshot(z.prod.home), expect)


def test_approvers_alone_without_zone_key_are_untrusted(tmp_path: Path) -> None:
    from bundlekit.format.container import HEADER_SIZE, BundleFile

    z = make_zones(tmp_path, policy=SourcePolicy(threshold=2))
    truststore.add_signer(z.prod, "dev", ApproverKey("alice", raw_public(ALICE)), 0)
    b = export(z, tmp_path / "a.bundle")
    cosign(b, ALICE)
    with BundleFile(b) as bf:
        keep = bf.signatures[1]
        body_end = HEADER_SIZE + bf.header.blobs_length + bf.header.manifest_length
    b.write_bytes(b.read_bytes()[:body_end] + keep.public_key + keep.signature)  # drop the zone's signature
    with raises_code("untrusted"):
        import_bundle(z.prod, b, now=int(time.time()))


def test_sign_cli_adds_approver_signature_without_changing_digest(tmp_path: Path) -> None:
    import json

    z = make_zones(tmp_path, policy=SourcePolicy(threshold=2))
    b = export(z, tmp_path / "a.bundle")
    r = run_cli("keys", "new", "--name", "alice", "-o", tmp_path / "alice")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "alice.key").stat().st_mode & 0o777 == 0o600
    digest_before = json.loads(run_cli("inspect", b, "--json").stdout)["digest"]
    r = run_cli("sign", b, "--key", tmp_path / "alice.key", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["added"] is True
    again = run_cli("sign", b, "--key", tmp_path / "alice.key", "--json")
    assert json.loads(again.stdout)["added"] is False
    assert json.loads(run_cli("inspect", b, "--json").stdout)["digest"] == digest_before
    z.close()
    r = run_cli("import", b, "--json", home=z.prod.home)
    assert r.returncode == 3 and json.loads(r.stdout)["error"]["code"] == "threshold_not_met"
    assert run_cli("trust", "add-signer", tmp_path / "alice.pub", "--for", "dev", home=z.prod.home).returncode == 0
    r = run_cli("import", b, "--json", home=z.prod.home)
    assert r.returncode == 0, r.stdout + r.stderr


def test_key_rotation_accepts_new_key_and_refuses_old(tmp_path: Path) -> None:
    z = make_zones(tmp_path)
    old_signing = z.dev.signing_key()
    import_bundle(z.prod, export(z, tmp_path / "1.bundle"), now=int(time.time()))
    st = rotate_key(z.dev, int(time.time()))
    assert z.dev.signing_key_id == key_id("ed25519", st.new_key)
    b2 = export(z, tmp_path / "2.bundle")  # carries the statement, co-signed by the retired key
    import_bundle(z.prod, b2, now=int(time.time()))
    ids = {r["key_id"] for r in z.prod.db.all("SELECT key_id FROM trusted_keys WHERE role = 'zone'")}
    assert key_id("ed25519", st.new_key) in ids
    revoked = truststore.revoked_key_ids(z.prod)
    assert key_id("ed25519", st.old_key) in revoked
    # A bundle signed only by the old key is now refused.
    from bundlekit.format import crypto
    from bundlekit.format.container import HEADER_SIZE, BundleFile, SignatureRecord

    b3 = export(z, tmp_path / "3.bundle")
    with BundleFile(b3) as bf:
        end = HEADER_SIZE + bf.header.blobs_length + bf.header.manifest_length
        msg = bf.signed_message
    rec = SignatureRecord(raw_public(old_signing), crypto.sign(old_signing, "release", msg))
    b3.write_bytes(b3.read_bytes()[:end] + rec.public_key + rec.signature)
    before = snapshot(z.prod.home)
    with raises_code(("key_revoked", "source_mismatch")):
        import_bundle(z.prod, b3, now=int(time.time()))
    assert snapshot(z.prod.home) == before


def test_forged_rotation_statement_refused(tmp_path: Path) -> None:
    import json

    z = make_zones(tmp_path)
    st = rotate_key(z.dev, int(time.time()))
    forged = dict(st.to_dict())
    forged["new_signature"] = forged["old_signature"]
    # written behind bundlekit's back, as a forger would
    write_behind(z.dev.home, "UPDATE rotations SET statement = ?", (json.dumps(forged),))
    with raises_code("invalid_rotation"):
        export(z, tmp_path / "a.bundle")


def test_revoked_zone_key_refused_at_once(tmp_path: Path) -> None:
    z = make_zones(tmp_path)
    b = export(z, tmp_path / "a.bundle")
    r = run_cli("trust", "revoke", z.dev.signing_key_id, home=z.prod.home)
    assert r.returncode == 0, r.stderr
    with raises_code("key_revoked") as info:
        import_bundle(z.prod, b, now=int(time.time()))
    assert info.value.exit_code == 3


def test_import_refused_by_an_invalid_rotation_statement_stores_nothing_but_the_refusal(zones: Zones,
                                                                                        tmp_path: Path) -> None:
    good = export(zones, tmp_path / "a.bundle")
    st = make_rotation(zones.dev.zone_id, zones.dev.signing_key(), Ed25519PrivateKey.generate(), int(time.time()))
    bad = dict(st.to_dict(), new_signature=st.to_dict()["old_signature"])
    forged = resign(good, tmp_path / "b.bundle", [zones.dev.signing_key()],
                    lambda doc: doc.__setitem__("rotations", [bad]))
    zones.close()
    before = snapshot(zones.prod.home)
    with raises_code("invalid_rotation") as info:
        import_bundle(zones.prod, forged, now=int(time.time()))
    assert info.value.exit_code == 3
    assert "rotations[0]" in info.value.message
    after = snapshot(zones.prod.home)
    # No blob in the package store, no project or key change: only the refusal entry for dev
    # (the documented exception, decision 153) in the state database.
    assert {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)} == (
        {str(zones.prod.home / "state.db")} if ENGINE.pg is None else set())  # PostgreSQL: not in the home
    refused = list_outbox(zones.prod)["refusals"]
    assert [(r["code"], r["destination"], r["packed_in"]) for r in refused] == [("invalid_rotation", "dev", None)]
    import_bundle(zones.prod, good, now=int(time.time()))
    assert (zones.prod.home / "packages").is_dir()


def test_impostor_card_for_a_trusted_zone_is_refused_and_its_bundles_untrusted(zones: Zones, tmp_path: Path) -> None:
    real = parse_card(zones.dev.card_bytes(), "dev.card")
    impostor = Ed25519PrivateKey.generate()
    # Self-consistent and signed, but by the impostor's own key: the zone's name and id are copied.
    fake = IdentityCard(real.name, real.zone_id, raw_public(impostor), real.sealing_key, real.created)
    card = tmp_path / "dev.card"
    card.write_bytes(fake.render(impostor))
    before = snapshot(zones.prod.home)
    r = run_cli("trust", "add", card, "--json", home=zones.prod.home)
    assert r.returncode == 1 and json.loads(r.stdout)["error"]["code"] == "already_trusted"
    assert snapshot(zones.prod.home) == before
    forged = resign(export(zones, tmp_path / "a.bundle"), tmp_path / "forged.bundle", [impostor], lambda doc: None)
    with raises_code("untrusted") as info:
        import_bundle(zones.prod, forged, now=int(time.time()))
    assert info.value.code == "untrusted" and info.value.exit_code == 3
    assert snapshot(zones.prod.home) == before


def test_the_current_key_after_a_rotation_in_the_same_second_is_the_new_one_whatever_the_key_ids(
        tmp_path: Path) -> None:
    # Keys trusted in one second were once told apart by their (random) ids; pick a new key whose
    # id sorts before the old one so that order would name the retired key.
    from bundlekit.zone.rotation import apply_rotations

    z = make_zones(tmp_path)
    now = truststore.get_zone(z.prod, "dev").added
    old = z.dev.signing_key()
    old_id = key_id("ed25519", raw_public(old))
    new = next(k for k in iter(Ed25519PrivateKey.generate, None) if key_id("ed25519", raw_public(k)) < old_id)
    with z.prod.db.transaction() as tx:
        applied = apply_rotations(tx, z.dev.zone_id, [make_rotation(z.dev.zone_id, old, new, now)], now)
    assert applied == [key_id("ed25519", raw_public(new))]
    assert truststore.get_zone(z.prod, "dev").signing_key_id == applied[0]
