"""Every spec test vector in fixtures/vectors/ reaches its `expect:` result (spec §11)."""

from __future__ import annotations

import functools
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from bundlekit.format.card import parse_card
from bundlekit.format.keyfile import parse_rotation
from bundlekit.format.crypto import key_id, open_sealed, seal_ad, unb64
from bundlekit.importer.rebuild import check_bases, check_shared, rebuild_all
from bundlekit.importer.verify import Verifier, check_bundle
from bundlekit.zone.store import PackageStore
from bundlekit.trust.policy import SourcePolicy, TrustedSource
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from tests.memory import peak_of
from tests.conftest import raises_code

VECTORS = Path(__file__).resolve().parents[2] / "fixtures" / "vectors"
KEYS = json.loads((VECTORS / "keys.json").read_text())


def _verifier(path: Path | None = None) -> Verifier:
    """The verifier every vector assumes; with ``path``, as that vector's ``trust:`` line adjusts it
    (threshold, approvers, revoked keys, trusted relays with their rules and the path required:
    fixtures/vectors/README.md)."""
    card = parse_card((VECTORS / KEYS["trusted"]["card"]).read_bytes(), "vector-src.card")
    trust: dict[str, Any] = {}
    if path is not None:
        for line in path.with_suffix(".expect").read_text().splitlines():
            if line.startswith("trust: "):
                trust = json.loads(line[len("trust: "):])
    named = {n: unb64(t.split(":", 1)[1], n, 32) for n, t in KEYS["signing_keys"].items()}
    approvers = frozenset(named[n] for n in trust.get("approvers", ()))
    revoked = frozenset(key_id("ed25519", named[n]) for n in trust.get("revoked", ()))
    threshold = trust.get("threshold", KEYS["trusted"]["threshold"])
    relays = [parse_card((VECTORS / f"{n}.card").read_bytes(), n) for n in trust.get("relays", ())]
    ids = {c.name: c.zone_id for c in relays}
    src = TrustedSource(card.zone_id, card.name, frozenset({card.signing_key}), approvers,
                        SourcePolicy(threshold=threshold, via=tuple(ids[n] for n in trust.get("via", ()))),
                        space=trust.get("space", "Default"))
    others = tuple(_runner().relay_source(c, trust.get("relay_rules", {}).get(c.name, {})) for c in relays)
    me = KEYS["verifier"]
    return Verifier(me["zone_id"], me["name"], me["sealing_key_id"], (src, *others), revoked,
                    KEYS["reference_time"])


def _expectation(path: Path) -> str:
    first = path.with_suffix(".expect").read_text().splitlines()[0]
    assert first.startswith("expect: ")
    return first[len("expect: "):]


ALL = sorted(VECTORS.glob("*.bundle"))


def test_vector_set_covers_valid_and_refused_cases() -> None:
    expects = [_expectation(p) for p in ALL]
    assert sum(e == "ok" for e in expects) >= 3
    assert len({e for e in expects if e != "ok"}) >= 15


def test_every_minor_version_of_the_format_has_a_valid_vector() -> None:
    """A reader of the newest minor accepts every valid vector of every minor (README, "Rules for
    the vectors themselves"): each minor 1.0 to 1.8 has one, so a rule a minor added (1.5: a
    receipt's audit entries, spec §7.3; 1.7: refreshed variables, §7.4; 1.8: a receipt entry's
    relay hops, spec/relay.md §7.1) is not left to the text alone."""
    valid = [p for p in ALL if _expectation(p) == "ok"]
    minors = {int.from_bytes(p.read_bytes()[10:12], "big") for p in valid}
    assert set(range(9)) <= minors, sorted(minors)
    audit = [p for p in valid if p.read_bytes()[10:12] == b"\x00\x05"]
    assert "valid-receipt-audit-entries" in [p.stem for p in audit]
    assert all(p.stem.startswith("valid-receipt-audit-") for p in audit)
    # every receipt-audit-* vector is refused for its audit items, but those pinning step 20a's
    # place among the steps, whose other fault (an earlier step) decides (spec §7.3)
    refused = {p.stem: _expectation(p) for p in ALL if p.stem.startswith("receipt-audit-")}
    earlier = {"receipt-audit-and-expired": "refuse expired", "receipt-audit-and-threshold-not-met":
               "refuse threshold_not_met"}
    assert {n: e for n, e in refused.items() if n in earlier} == earlier
    assert {e for n, e in refused.items() if n not in earlier} == {"refuse invalid_audit_chain"}


def test_no_vector_needs_an_order_among_the_checks_its_input_lines_add() -> None:
    """README, "The .expect file": a vector has at most one of the lines base/state/open/check, so
    the kit fixes no order among the checks they add (spec §6.2 after step 22 gives a zone's)."""
    for p in ALL:
        lines = p.with_suffix(".expect").read_text("utf-8").splitlines()
        assert sum(line.split(":", 1)[0] in ("base", "state", "open", "check") for line in lines) <= 1, p.name


def test_every_expected_code_is_a_registered_one_and_every_vector_is_documented() -> None:
    """A second implementation reads the codes in spec/errors.md: the kit never expects another."""
    from bundlekit.error_codes import REGISTRY

    for p in ALL:
        expect = _expectation(p)
        assert expect == "ok" or (expect.startswith("refuse ") and expect.split()[1] in REGISTRY), p.name
        lines = p.with_suffix(".expect").read_text().splitlines()
        assert lines[1] in ("kind: release", "kind: receipt") and lines[2].startswith("note: "), p.name


def _base_of(path: Path) -> Path | None:
    """The package a format 1.1 delta vector is rebuilt from (its ``base:`` line), if any."""
    for line in path.with_suffix(".expect").read_text().splitlines()[3:]:
        if line.startswith("base: "):
            return VECTORS / line[len("base: "):]
    return None


@functools.cache
def _runner() -> Any:
    """scripts/vector_runner.py, bundlekit's runner for the conformance kit, as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("vector_runner", VECTORS.parents[1] / "scripts" / "vector_runner.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _state_file(path: Path) -> Path | None:
    """The prior zone state a vector is imported into (its ``state:`` line), if any."""
    for line in path.with_suffix(".expect").read_text().splitlines()[3:]:
        if line.startswith("state: "):
            return VECTORS / line[len("state: "):]
    return None


def _check_with_rebuild(path: Path, tmp: Path) -> None:
    """Verify like a zone would: the bundle, then every delta rebuilt from the held base, then
    (``open: sealed``) every sealed value opened with the zone's key and (``check: rotations``)
    every rotation statement checked; then (``state:``) the import state rules against the
    prior state that file gives."""
    result = check_bundle(_verifier(path), path)
    lines = path.with_suffix(".expect").read_text().splitlines()
    state = _state_file(path)
    if state is not None and _runner().import_into_state(result, state, _verifier(path)):
        return  # a bundle the zone accepted before: the import is a no-op (spec §6.6)
    if "open: sealed" in lines:
        _runner().open_all(result.manifest, VECTORS, result.relay)
    if "check: rotations" in lines:
        for i, statement in enumerate(result.manifest.rotations):
            parse_rotation(statement, f"rotations[{i}]")
    base = _base_of(path)
    if result.manifest.kind == "release":
        # The verifying zone holds no package but the base, which the vectors' source delivered.
        store = PackageStore(tmp)
        usable: frozenset[str] = frozenset()
        if base is not None:
            data = base.read_bytes()
            held = store.path(hashlib.sha256(data).hexdigest())
            held.parent.mkdir(parents=True, exist_ok=True)
            held.write_bytes(data)
            usable = frozenset({hashlib.sha256(data).hexdigest()})
        check_shared(result.manifest, str(path), usable)
        check_bases(result.manifest, store, str(path), usable)
        rebuilt = io.BytesIO()
        rebuild_all(path, result.digest, result.manifest, store, lambda _digest: rebuilt.write, usable=usable)
        deltas = [p for p in result.manifest.packages if p.delta is not None]
        if deltas:
            assert hashlib.sha256(rebuilt.getvalue()).hexdigest() == deltas[0].sha256


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_vector(path: Path, tmp_path: Path) -> None:
    expect = _expectation(path)
    if expect == "ok":
        _check_with_rebuild(path, tmp_path)
        kind_line = path.with_suffix(".expect").read_text().splitlines()[1]
        assert kind_line == f"kind: {check_bundle(_verifier(path), path).manifest.kind}"
    else:
        code = expect.split()[1]
        with raises_code(code) as info:
            _check_with_rebuild(path, tmp_path)
        assert info.value.exit_code == 3


def test_delta_vector_rebuilds_from_the_base_file_the_spec_names() -> None:
    m = check_bundle(_verifier(), VECTORS / "valid-delta-release.bundle").manifest
    package = m.packages[0]
    assert package.delta is not None and not package.included
    assert package.delta.base.sha256 == hashlib.sha256((VECTORS / "delta-base.bin").read_bytes()).hexdigest()
    assert (VECTORS / "valid-delta-release.bundle").read_bytes()[8:12] == b"\x00\x01\x00\x02"  # format 1.2


def test_packed_recipe_vector_is_the_list_recipe_vector_in_the_form_of_format_1_3() -> None:
    """The 1.2 vector (list recipe) stays byte for byte and readable; its 1.3 twin carries the same
    operations packed, and shows them packed."""
    listed = check_bundle(_verifier(), VECTORS / "valid-delta-release.bundle").manifest.packages[0].delta
    packed = check_bundle(_verifier(), VECTORS / "valid-delta-packed.bundle").manifest.packages[0].delta
    assert listed is not None and packed is not None
    assert list(packed.recipe) == list(listed.recipe) == [(0, 0, 1000), (1, 196), (0, 1196, 2164)]
    assert not listed.packed and isinstance(listed.to_dict()["recipe"], list)
    assert packed.packed and len(packed.to_dict()["recipe"]) == 64  # 48 bytes of base64
    assert (VECTORS / "valid-delta-packed.bundle").read_bytes()[8:12] == b"\x00\x01\x00\x03"  # format 1.3


def test_valid_vector_secret_opens_only_with_its_binding() -> None:
    result = check_bundle(_verifier(), VECTORS / "valid-release.bundle")
    m = result.manifest
    sealed = unb64(next(v.sealed for v in m.variables if v.sensitive) or "", "sealed")
    key = X25519PrivateKey.from_private_bytes(unb64(KEYS["verifier"]["sealing_private"], "key", 32))
    ad = seal_ad(m.bundle_id, m.destination.key_id, "variable:db.password|")
    assert open_sealed(key, sealed, ad, "Db.Password").decode() == KEYS["sealed_secret"]
    with raises_code("invalid_seal"):
        open_sealed(key, sealed, seal_ad(m.bundle_id, m.destination.key_id, "variable:other|"), "x")
    with raises_code("invalid_seal"):
        open_sealed(key, sealed, seal_ad("0" * 32, m.destination.key_id, "variable:db.password|"), "x")


def test_valid_receipt_vector_output_opens_only_for_its_deployment() -> None:
    from bundlekit.format.crypto import seal_label

    m = check_bundle(_verifier(), VECTORS / "valid-receipt.bundle").manifest
    run = m.receipts[0]["runs"][0]
    token = next(o for o in run["outputs"] if o["sensitive"])
    key = X25519PrivateKey.from_private_bytes(unb64(KEYS["verifier"]["sealing_private"], "key", 32))
    label = seal_label("output", "Migrate/db-01/Token", {})
    ad = seal_ad("deployment:Deployments-1", m.destination.key_id, label)
    assert open_sealed(key, unb64(token["sealed"], "t"), ad, "Token") == b"vector-output-secret"
    with raises_code("invalid_seal"):
        open_sealed(key, unb64(token["sealed"], "t"), seal_ad("deployment:Deployments-2", m.destination.key_id,
                                                             label), "Token")


def test_zstd_bomb_refused_with_small_memory() -> None:
    # Measured in a fresh process: this process's high-water mark says nothing about the bomb.
    peak = peak_of(setup="""
        from tests.format.test_vectors import VECTORS, _verifier
        from bundlekit.importer.verify import check_bundle
        verifier = _verifier()
    """, work="""
        check_bundle(verifier, VECTORS / "zstd-bomb.bundle")
    """)
    assert peak.outcome.endswith(":blob_size_mismatch"), peak.outcome  # zstd-bomb.expect
    assert peak.grown_kib < 48 * 1024, peak  # the bomb expands to 64 MiB; the reader stops at 1 MiB + 1


def test_vectors_are_reproducible_from_the_committed_script(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = VECTORS.parent / "make_vectors.py"
    code = (f"import sys, runpy; sys.argv=['x']; import importlib.util as u;"
            f"s=u.spec_from_file_location('mv', {str(script)!r}); m=u.module_from_spec(s); s.loader.exec_module(m);"
            f"m.OUT=__import__('pathlib').Path({str(tmp_path)!r}); m.main()")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(p.name for p in VECTORS.iterdir() if p.name != "README.md")
    for name in written:
        assert (tmp_path / name).read_bytes() == (VECTORS / name).read_bytes(), name


def _minor(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[10:12], "big")


def test_format_1_0_vectors_stay_readable_beside_1_1_ones() -> None:
    """Vectors written before format 1.1 are kept byte for byte; a 1.1 reader accepts them."""
    minors = {p.stem: _minor(p) for p in ALL}
    assert minors["valid-release"] == 0 and minors["valid-receipt"] == 0
    assert minors["valid-release-lifecycle"] == 1 and minors["valid-receipt-refusals"] == 1
    old = check_bundle(_verifier(), VECTORS / "valid-release.bundle").manifest
    assert old.lifecycle is None and old.attestations == ()


def test_lifecycle_vector_carries_phases_attestations_and_its_release_digest() -> None:
    m = check_bundle(_verifier(), VECTORS / "valid-release-lifecycle.bundle").manifest
    assert m.lifecycle is not None
    assert [p.name for p in m.lifecycle.phases] == ["Development", "Test", "Production"]
    assert m.lifecycle.phases[1].optional and m.lifecycle.phases[1].minimum_successful == 2
    assert m.lifecycle.index_of("test b") == 1 and m.lifecycle.index_of("Staging") is None
    assert [a["environment"] for a in m.attestations] == ["Development"]
    note = (VECTORS / "valid-release-lifecycle.expect").read_text()
    assert f"release digest {m.release_digest()}" in note


def test_release_digest_ignores_what_differs_between_bundles_of_one_release() -> None:
    """Two bundles of one release (other id, sequence, sealed value, package by reference) share it."""
    import dataclasses

    from bundlekit.format.manifest import PackageRef, Variable

    m = check_bundle(_verifier(), VECTORS / "valid-release-lifecycle.bundle").manifest
    other = dataclasses.replace(
        m, bundle_id="0" * 32, sequence=99, expires=m.expires + 1, attestations=(),
        variables=tuple(Variable(v.name, v.scope, True, None, "c2VhbGVk") if v.sensitive else v for v in m.variables),
        packages=tuple(PackageRef(p.id, p.version, p.file, p.size, p.sha256, included=False) for p in m.packages))
    assert other.release_digest() == m.release_digest()
    changed = dataclasses.replace(m, release={**m.release, "notes": "other notes"})
    assert changed.release_digest() != m.release_digest()


def test_receipt_vector_carries_refusals_and_entry_fields_of_format_1_1() -> None:
    m = check_bundle(_verifier(), VECTORS / "valid-receipt-refusals.bundle").manifest
    assert [r["code"] for r in m.refusals] == ["rollback"]
    entry = m.receipts[0]
    assert entry["tenant"] == "Acme Corp" and entry["waived"] == ["Test"] and len(entry["release_digest"]) == 64


def _sealed_values(obj: object) -> list[bytes]:
    """Every ``sealed`` value (decoded base64) anywhere in a decoded manifest."""
    import base64

    found: list[bytes] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "sealed" and isinstance(v, str):
                found.append(base64.b64decode(v))
            else:
                found.extend(_sealed_values(v))
    elif isinstance(obj, list):
        for v in obj:
            found.extend(_sealed_values(v))
    return found


def _raw_manifest(data: bytes) -> object:
    """A vector's manifest decoded leniently (no canonical check), or None where the header's
    lengths do not locate one: this looks at what a vector carries, valid or not."""
    import msgpack

    if len(data) < 32:
        return None
    blobs_len, man_len = int.from_bytes(data[16:24], "big"), int.from_bytes(data[24:32], "big")
    body = data[32 + blobs_len:32 + blobs_len + man_len]
    if not body or len(body) != man_len:
        return None
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    unpacker.feed(body)
    try:
        return next(unpacker)  # a vector with bytes after the manifest value still carries it
    except (ValueError, StopIteration, msgpack.UnpackException):
        return None


def _documents(data: bytes) -> list[object]:
    """Every msgpack document a vector carries that may hold sealed values: its manifest, and for
    a relayed bundle (header kind 3, spec/relay.md §1) the origin's manifest and every hop record
    the hops section lets one cut out, decoded leniently."""
    import msgpack

    if len(data) < 32 or data[12] != 3:
        return [_raw_manifest(data)]
    origin_len = int.from_bytes(data[16:24], "big")
    found = [_raw_manifest(data[32:32 + origin_len])]
    pos = 32 + origin_len
    while pos + 4 <= len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        record = data[pos + 4:pos + 4 + n]
        if len(record) != n:
            break
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        unpacker.feed(record)
        try:
            found.append(next(unpacker))
        except (ValueError, StopIteration, msgpack.UnpackException):
            pass
        pos += 4 + n + 96
    return found


def test_no_two_sealed_values_in_the_vectors_share_an_ephemeral_key() -> None:
    """Spec §8: the nonce is zero because no ephemeral key seals twice, read across the whole kit:
    every vector's manifest and every relay hop's re-sealed copies. The same sealed bytes repeated
    in another vector (or twice in one) are one value; two different values under one key are the
    flaw (same key and nonce: equal keystream when the recipient is the same, and the generator's
    bug whoever the recipient; decision 925)."""
    by_key: dict[bytes, set[bytes]] = {}
    where: dict[bytes, set[str]] = {}
    for path in ALL:
        for doc in _documents(path.read_bytes()):
            for sealed in _sealed_values(doc):
                by_key.setdefault(sealed[:32], set()).add(sealed)
                where.setdefault(sealed[:32], set()).add(path.name)
    shared = {k.hex()[:16]: sorted(where[k])[:4] for k, v in by_key.items() if len(v) > 1}
    assert not shared, f"ephemeral keys sealing more than one value: {shared}"
    hop_copies = [k for k, names in where.items() if any(n.startswith(("relay-", "valid-relayed-")) for n in names)]
    assert len(hop_copies) >= 4  # the relays' copies are scanned too, not only the manifests
    assert sum(len(v) for v in by_key.values()) >= 20


def test_the_withheld_receipt_vector_names_its_withheld_output_and_carries_nothing_else_of_it() -> None:
    m = check_bundle(_verifier(), VECTORS / "valid-receipt-withheld.bundle").manifest
    run = m.receipts[0]["runs"][0]
    assert run["withheld"] == ["Token"] and [o["name"] for o in run["outputs"]] == ["Schema"]
    assert run["log_omitted"] == 2048 and "log" in run
    data = (VECTORS / "valid-receipt-withheld.bundle").read_bytes()
    assert data[10:12] == b"\x00\x04"  # the header's minor version says 1.4
    assert b"vector-output-secret" not in data and b"sealed" not in data


CARDS = sorted(VECTORS.glob("*.card"))


@pytest.mark.parametrize("path", [p for p in CARDS if p.with_suffix(".expect").exists()],
                         ids=[p.stem for p in CARDS if p.with_suffix(".expect").exists()])
def test_card_vector(path: Path) -> None:
    """Identity card vectors (spec §6.5): loading the card reaches the expected result."""
    lines = path.with_suffix(".expect").read_text().splitlines()
    assert lines[1] == "kind: card"
    expect = _expectation(path)
    if expect == "ok":
        assert parse_card(path.read_bytes(), path.name).name == "vector-src"
    else:
        with raises_code(expect.split()[1]):
            parse_card(path.read_bytes(), path.name)


def test_the_valid_card_vector_is_the_card_every_vector_trusts() -> None:
    assert (VECTORS / "valid-card.card").read_bytes() == (VECTORS / KEYS["trusted"]["card"]).read_bytes()


STATE_CODES = ("rollback", "sequence_reused", "unknown_bundle", "receipt_mismatch", "replay")
STATEFUL = [p for p in ALL if _state_file(p) is not None]


def test_state_vectors_cover_every_state_refusal_and_the_state_alone_refuses_them() -> None:
    """Spec §6.6: each refusal code of the import state rules has a vector, and a vector refused
    with one of them verifies (steps 1-22 of §6.2 accept its bytes): only its prior state decides."""
    expects = {p.stem: _expectation(p) for p in STATEFUL}
    assert {e.split()[1] for e in expects.values() if e != "ok"} >= set(STATE_CODES)
    for p in STATEFUL:
        if expects[p.stem].split()[-1] in STATE_CODES:
            check_bundle(_verifier(p), p)


def test_state_files_have_exactly_the_lists_and_fields_of_the_kit_readme() -> None:
    """fixtures/vectors/README.md ("The state file") names every list and field; a runner that
    meets another stops, so the vectors never hold one."""
    fields = _runner().STATE_FIELDS
    readme = (VECTORS / "README.md").read_text()
    for name, keys in fields.items():
        assert f"`{name}`" in readme and all(f"`{k}`" in readme for k in keys), name
    for p in STATEFUL:
        state = _runner().read_state(_state_file(p))
        for item in state["releases"] + state["receipts"]:
            assert len(item["digest"]) == 64 and item["sequence"] >= 1
