"""Delta packages through the real CLI: only the changed bytes travel, the rebuild is exact or refused.

One world is built per module: production holds Acme.Web 1.4.0 (a 6 MiB stored zip) and
has reported it in a receipt; Acme.Web 1.5.0 changes members in place, inserts one and
deletes one. Each test works on its own copy of that world.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import zipfile
from pathlib import Path

import pytest

from bundlekit.format.container import HEADER_SIZE
from tests.conftest import run_cli, snapshot
from tests.e2e.world import World, json_of, make_world
from tests.refusals.forge import pack_recipe, resign, unpack_recipe

MIB = 1 << 20


def _members(seed: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(800)]
    members = {
        "appsettings.json": b'{"ConnectionStrings": {"Db": "#{Acme.Db.Name}"}}\n',
        "index.html": b"<html><body>Acme on #{Octopus.Environment.Name}</body></html>\n",
    }
    for i in range(24):
        if i % 3 == 0:
            members[f"lib/module{i:02d}.bin"] = rng.randbytes(256 * 1024)
        else:
            members[f"src/module{i:02d}.txt"] = b"\n".join(b" ".join(rng.choice(words) for _ in range(10))
                                                           for _ in range(4000))
    return members


def _write_zip(path: Path, members: dict[str, bytes]) -> bytes:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            z.writestr(info, data)
    return path.read_bytes()


def _changed(members: dict[str, bytes]) -> dict[str, bytes]:
    """Version 1.5.0: two members changed in place, one inserted in the middle, one deleted."""
    out: dict[str, bytes] = {}
    for name, data in members.items():
        if name == "src/module04.txt":
            data = data[:9000] + b"CHANGED IN 1.5.0 " * 40 + data[9000 + 17 * 40:]
        elif name == "lib/module09.bin":
            data = data[:100_000] + bytes(reversed(data[100_000:101_000])) + data[101_000:]
        elif name == "src/module13.txt":
            continue  # deleted
        out[name] = data
        if name == "src/module07.txt":
            out["src/inserted.txt"] = b"a new file in 1.5.0\n" * 3000
    return out


def _set_release(w: World, version: str, package_file: str) -> None:
    path = w.release_dir / "release.toml"
    text = path.read_text()
    old_version = text.split('[release]\nversion = "', 1)[1].split('"', 1)[0]
    text = text.replace(f'[release]\nversion = "{old_version}"', f'[release]\nversion = "{version}"', 1)
    text = text.replace(f'id = "Acme.Web"\nversion = "{old_version}"', f'id = "Acme.Web"\nversion = "{version}"', 1)
    old_file = text.split('file = "packages/', 1)[1].split('"', 1)[0]
    text = text.replace(f'file = "packages/{old_file}"', f'file = "packages/{package_file}"', 1)
    path.write_text(text)


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("delta") / "w"
    w = make_world(root)
    (w.release_dir / "packages" / "Acme.Web.1.4.0.zip").unlink()
    _write_zip(w.release_dir / "packages" / "Acme.Web.1.4.0.zip", _members(1))
    w.cli("import", w.export("acme-1.4.0.bundle"), home=w.prod)
    w.cli("variables", "set", "acme-web", "Acme.ApiKey", "k-delta", "--sensitive", home=w.prod)
    receipt = root / "media" / "receipt.bundle"
    w.cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--receipt-out", receipt, home=w.prod)
    w.cli("import", receipt, home=w.dev)
    _write_zip(w.release_dir / "packages" / "Acme.Web.1.5.0.zip", _changed(_members(1)))
    _set_release(w, "1.5.0", "Acme.Web.1.5.0.zip")
    return root


def _world(world_dir: Path, tmp_path: Path) -> World:
    root = tmp_path / "w"
    shutil.copytree(world_dir, root, symlinks=True)
    return World(root, root / "dev", root / "prod", root / "release")


def _export(w: World, name: str, *extra: str) -> tuple[Path, dict]:  # type: ignore[type-arg]
    out = w.root / "media" / name
    info = json_of(w.cli("export", w.release_dir / "release.toml", "--to", "prod", "-o", out, "--json", *extra,
                         home=w.dev))
    return out, info


def _store_file(home: Path, digest: str) -> Path:
    return home / "packages" / "sha256" / digest[:2] / digest


def _refused(w: World, bundle: Path, code: str) -> dict:  # type: ignore[type-arg]
    """Import ``bundle`` into prod: refused with ``code``, exit 3, and nothing changed but the one
    refusal entry queued for the source in the state database (decision 153)."""
    before = snapshot(w.prod, bundle)
    r = run_cli("import", bundle, "--json", home=w.prod)
    assert r.returncode == 3, r.stdout + r.stderr
    error = json.loads(r.stdout)["error"]
    assert error["code"] == code
    after = snapshot(w.prod, bundle)
    assert {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)} <= {str(w.prod / "state.db")}
    return error  # type: ignore[no-any-return]


def test_changed_package_travels_as_its_new_bytes_and_rebuilds_byte_identical(world_dir: Path,
                                                                               tmp_path: Path) -> None:
    w = _world(world_dir, tmp_path)
    new = (w.release_dir / "packages" / "Acme.Web.1.5.0.zip").read_bytes()
    delta, info = _export(w, "delta.bundle")
    assert info["delta"] == [{"package": "Acme.Web 1.5.0", "base": "Acme.Web 1.4.0",
                              "shipped": info["delta"][0]["shipped"]}]
    full, _ = _export(w, "full.bundle", "--full")
    # Changed, inserted and deleted members touch a few 64 KiB chunks each: far less than the package.
    assert delta.stat().st_size < 0.2 * full.stat().st_size
    assert info["delta"][0]["shipped"] < 0.2 * len(new)
    assert delta.read_bytes()[8:12] == b"\x00\x01\x00\x03"  # format 1.3 (a packed recipe) in the header
    assert full.read_bytes()[8:12] == b"\x00\x01\x00\x01"  # nothing of 1.2 or 1.3 used: 1.1
    inspected = json_of(run_cli("inspect", delta, "--json").stdout)
    assert inspected["packages"][0]["delta"]["base"]["version"] == "1.4.0"
    ops = unpack_recipe(inspected["packages"][0]["delta"]["recipe"])  # shown as the manifest carries it
    assert sum(op[-1] for op in ops) == len(new) and any(op[0] == 1 for op in ops)
    w.cli("verify", delta, home=w.prod)
    w.cli("import", delta, home=w.prod)
    digest = hashlib.sha256(new).hexdigest()
    assert _store_file(w.prod, digest).read_bytes() == new
    listed = json_of(w.cli("import", delta, "--json", home=w.prod))
    assert listed["noop"] is True  # the same bundle again changes nothing


def test_base_no_longer_held_is_refused_with_advice_to_export_full(world_dir: Path, tmp_path: Path) -> None:
    w = _world(world_dir, tmp_path)
    delta, _ = _export(w, "delta.bundle")
    base = (w.release_dir / "packages" / "Acme.Web.1.4.0.zip").read_bytes()
    _store_file(w.prod, hashlib.sha256(base).hexdigest()).unlink()  # the store lost it (pruned, disk replaced)
    error = _refused(w, delta, "delta_base_missing")
    assert "Acme.Web 1.4.0" in error["message"] and "--full" in error["message"]
    r = run_cli("verify", delta, "--json", home=w.prod)
    assert r.returncode == 3 and json.loads(r.stdout)["error"]["code"] == "delta_base_missing"
    full, _ = _export(w, "full.bundle", "--full")
    w.cli("import", full, home=w.prod)


def test_tampered_chunk_in_the_bundle_is_refused_and_nothing_changes(world_dir: Path, tmp_path: Path) -> None:
    w = _world(world_dir, tmp_path)
    delta, _ = _export(w, "delta.bundle")
    data = bytearray(delta.read_bytes())
    data[HEADER_SIZE + 200] ^= 0x01  # inside the data blob: the new chunks
    delta.write_bytes(bytes(data))
    _refused(w, delta, "blob_hash_mismatch")


def test_damaged_base_in_the_store_fails_the_rebuild_check_and_nothing_changes(world_dir: Path,
                                                                                tmp_path: Path) -> None:
    w = _world(world_dir, tmp_path)
    delta, _ = _export(w, "delta.bundle")
    base = (w.release_dir / "packages" / "Acme.Web.1.4.0.zip").read_bytes()
    stored = _store_file(w.prod, hashlib.sha256(base).hexdigest())
    damaged = bytearray(base)
    damaged[len(base) // 2] ^= 0xFF  # a chunk the recipe copies from the base
    stored.write_bytes(bytes(damaged))
    error = _refused(w, delta, "rebuilt_package_mismatch")
    assert "Acme.Web 1.5.0" in error["message"]
    new = (w.release_dir / "packages" / "Acme.Web.1.5.0.zip").read_bytes()
    assert not _store_file(w.prod, hashlib.sha256(new).hexdigest()).exists()


@pytest.mark.parametrize("damage", ["base range past its end", "data blob not in the bundle",
                                    "more data than the blob"])
def test_recipe_naming_bytes_that_are_not_there_is_refused(world_dir: Path, tmp_path: Path, damage: str) -> None:
    w = _world(world_dir, tmp_path)
    delta, _ = _export(w, "delta.bundle")

    def mutate(m: dict) -> None:  # type: ignore[type-arg]
        d = m["packages"][0]["delta"]
        ops = unpack_recipe(d["recipe"])
        if damage == "base range past its end":
            op = next(op for op in ops if op[0] == 0)
            op[1] = d["base"]["size"]  # a chunk beyond the end of the base
        elif damage == "data blob not in the bundle":
            d["data"] = "ab" * 32
        else:
            next(op for op in ops if op[0] == 1)[1] += 1  # lengths still add up to the package size
            [op for op in ops if op[0] == 0][-1][2] -= 1
        d["recipe"] = pack_recipe(ops)

    forged = resign(delta, w.root / "media" / "forged.bundle", w.dev, mutate=mutate)
    error = _refused(w, forged, "invalid_delta")
    assert "packages[0].delta" in error["message"]


def _cli_refuses(w: World, bundle: Path, code: str, named: str) -> None:
    """``verify`` and ``import`` of ``bundle`` in prod: refused with ``code`` (exit 3) by a message
    naming ``named``, never a traceback, nothing changed but the refusal queued for the source."""
    r = run_cli("verify", bundle, "--json", home=w.prod)
    assert r.returncode == 3 and "Traceback" not in r.stderr, r.stdout + r.stderr
    assert json.loads(r.stdout)["error"]["code"] == code
    error = _refused(w, bundle, code)
    assert named in error["message"], error["message"]


@pytest.mark.parametrize(("field", "code", "named"), [
    ("offset", "invalid_delta", "packages[0].delta.recipe operation 0 (offset)"),
    ("base size", "invalid_manifest", "packages.0.delta.base.size"),
])
def test_recipe_integer_past_what_a_file_offset_holds_is_refused_by_name(world_dir: Path, tmp_path: Path,
                                                                         field: str, code: str, named: str) -> None:
    """A signed recipe copying from offset 2^63 (with a base claiming 2^64 - 1 bytes, so the range
    lies inside it) once reached ``pread`` and ended in an OverflowError traceback."""
    w = _world(world_dir, tmp_path)
    delta, _ = _export(w, "delta.bundle")

    def mutate(m: dict) -> None:  # type: ignore[type-arg]
        d = m["packages"][0]["delta"]
        ops = unpack_recipe(d["recipe"])
        assert ops[0][0] == 0
        ops[0][1] = 2**63
        d["recipe"] = pack_recipe(ops)
        if field == "base size":
            d["base"]["size"] = 2**64 - 1

    _cli_refuses(w, resign(delta, w.root / "media" / "forged.bundle", w.dev, mutate=mutate), code, named)


def test_declared_size_of_a_package_the_zone_holds_must_be_its_real_size(world_dir: Path, tmp_path: Path) -> None:
    """A delta's base, or a package listed by reference, named by the SHA-256 of what the zone
    holds but with another size: the bundle describes bytes the zone does not have."""
    w = _world(world_dir, tmp_path)
    delta, _ = _export(w, "delta.bundle")
    base = (w.release_dir / "packages" / "Acme.Web.1.4.0.zip").read_bytes()

    def bigger_base(m: dict) -> None:  # type: ignore[type-arg]
        m["packages"][0]["delta"]["base"]["size"] += 4096  # every range of the recipe still inside it

    _cli_refuses(w, resign(delta, w.root / "media" / "forged.bundle", w.dev, mutate=bigger_base),
                 "package_size_mismatch", "delta.base.size")

    def by_reference(m: dict) -> None:  # type: ignore[type-arg]
        m["packages"][0] = {"id": "Acme.Web", "version": "1.4.0", "file": "Acme.Web.1.4.0.zip",
                            "size": len(base) - 1, "sha256": hashlib.sha256(base).hexdigest(), "included": False}
        m["blobs"] = []

    forged = resign(delta, w.root / "media" / "by-reference.bundle", w.dev, mutate=by_reference, blobs=b"")
    error = _refused(w, forged, "package_size_mismatch")
    assert "packages[0] (Acme.Web 1.4.0, size)" in error["message"] and f"has {len(base)}" in error["message"]


def test_one_blob_that_is_both_a_package_and_a_deltas_data_stores_both(world_dir: Path, tmp_path: Path) -> None:
    """A bundle stores identical content once, so a delta's new bytes may also be the whole of
    another package (decision 300); that package used to be left out of the store."""
    w = _world(world_dir, tmp_path)
    delta, _ = _export(w, "delta.bundle")
    notes = {}

    def share(m: dict) -> None:  # type: ignore[type-arg]
        blob = m["blobs"][0]
        assert m["packages"][0]["delta"]["data"] == blob["digest"]
        notes.update(id="Acme.Notes", version="1.0.0", file="notes.bin", size=blob["size"], sha256=blob["digest"],
                     included=True)
        m["packages"].append(dict(notes))

    forged = resign(delta, w.root / "media" / "shared.bundle", w.dev, mutate=share)
    w.cli("verify", forged, home=w.prod)
    w.cli("import", forged, home=w.prod)
    new = (w.release_dir / "packages" / "Acme.Web.1.5.0.zip").read_bytes()
    assert _store_file(w.prod, hashlib.sha256(new).hexdigest()).read_bytes() == new
    kept = _store_file(w.prod, notes["sha256"])
    assert kept.is_file() and hashlib.sha256(kept.read_bytes()).hexdigest() == notes["sha256"]
    assert kept.stat().st_size == notes["size"]
