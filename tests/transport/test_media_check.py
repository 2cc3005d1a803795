"""`check` names exactly which volumes are missing, doubled, foreign or damaged; `join` refuses cleanly."""

from __future__ import annotations

import shutil
from pathlib import Path


from bundlekit.transport.media import check, find_volume_set, is_volume_dir, join, join_to_temp, split
from bundlekit.transport.media_scan import VolumeStatus
from bundlekit.transport.volume import HEADER_SIZE
from tests.conftest import raises_code, snapshot
from tests.transport.helpers import write_payload

VOL = HEADER_SIZE + 1000


def _set(tmp: Path, name: str = "acme.bundle", size: int = 4500, seed: int = 0, parity: int = 0,
         folder: str = "v") -> tuple[bytes, list[Path]]:
    src = tmp / "src" / name
    src.parent.mkdir(exist_ok=True)
    data = write_payload(src, size, seed)
    return data, split(src, tmp / folder, VOL, parity)


def _flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


def _status(report_volumes: tuple[VolumeStatus, ...], path: Path) -> str:
    return next(v.status for v in report_volumes if Path(v.path).name == path.name)


def test_complete_set_is_joinable_and_every_volume_ok(tmp_path: Path) -> None:
    _, vols = _set(tmp_path)
    r = check([tmp_path / "v"])
    assert r.joinable and r.code is None
    assert [v.status for v in r.volumes] == ["ok"] * len(vols)
    assert r.bundle is not None and r.bundle.name == "acme.bundle"


def test_missing_volume_is_named(tmp_path: Path) -> None:
    _, vols = _set(tmp_path)
    vols[2].unlink()
    r = check([tmp_path / "v"])
    assert not r.joinable and r.code == "volumes_incomplete"
    assert r.missing == (2,)
    assert "data volume 3 of 5" in r.message


def test_damaged_payload_is_named_and_join_leaves_nothing(tmp_path: Path) -> None:
    _, vols = _set(tmp_path)
    _flip(vols[1], HEADER_SIZE + 10)
    r = check([tmp_path / "v"])
    assert r.damaged == (1,) and not r.joinable
    assert _status(r.volumes, vols[1]) == "damaged"
    with raises_code("volumes_incomplete"):
        join([tmp_path / "v"], tmp_path / "out.bundle")
    assert not (tmp_path / "out.bundle").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.bundle")]


def test_damaged_header_is_reported_as_unreadable_and_its_slot_missing(tmp_path: Path) -> None:
    _, vols = _set(tmp_path)
    _flip(vols[0], 20)
    r = check([tmp_path / "v"])
    assert _status(r.volumes, vols[0]) == "unreadable"
    assert r.missing == (0,) and not r.joinable


def test_truncated_volume_is_damaged(tmp_path: Path) -> None:
    _, vols = _set(tmp_path)
    with open(vols[3], "r+b") as f:
        f.truncate(HEADER_SIZE + 10)
    r = check([tmp_path / "v"])
    assert r.damaged == (3,)
    assert "truncated" in next(v.detail for v in r.volumes if Path(v.path) == vols[3])


def test_identical_duplicate_is_named_and_harmless(tmp_path: Path) -> None:
    data, vols = _set(tmp_path)
    (tmp_path / "w").mkdir()
    shutil.copy(vols[1], tmp_path / "w" / "copy-of-2.bkvol")
    r = check([tmp_path / "v", tmp_path / "w"])
    assert r.joinable
    assert len(r.duplicates) == 1 and r.duplicates[0].index == 1 and r.duplicates[0].identical
    assert join([tmp_path / "v", tmp_path / "w"], tmp_path / "out").read_bytes() == data


def test_damaged_duplicate_is_not_identical_and_the_good_copy_is_used(tmp_path: Path) -> None:
    data, vols = _set(tmp_path)
    (tmp_path / "a").mkdir()
    bad = tmp_path / "a" / "aaa-first-in-order.bkvol"
    shutil.copy(vols[2], bad)
    _flip(bad, HEADER_SIZE + 5)
    r = check([tmp_path / "a", tmp_path / "v"])
    assert r.joinable
    dup = r.duplicates[0]
    assert dup.index == 2 and not dup.identical
    assert _status(r.volumes, bad) == "damaged"
    # join tries the damaged copy first (it sorts first), sees the hash mismatch, uses the good one.
    assert join([tmp_path / "a", tmp_path / "v"], tmp_path / "out").read_bytes() == data


def test_a_stray_volume_of_another_bundle_refuses_until_a_set_is_chosen(tmp_path: Path) -> None:
    data, vols = _set(tmp_path)
    _, other = _set(tmp_path, name="other.bundle", size=2500, seed=9, folder="o")
    shutil.copy(other[0], tmp_path / "v" / other[0].name)
    r = check([tmp_path / "v"])
    assert not r.joinable and r.code == "volumes_mixed" and r.mixed  # never a silent majority vote
    assert {b.name for b in r.bundles} == {"acme.bundle", "other.bundle"}
    with raises_code("volumes_mixed"):
        join([tmp_path / "v"], tmp_path / "out")
    mine = next(b.sha256 for b in r.bundles if b.name == "acme.bundle")
    r = check([tmp_path / "v"], mine[:12])
    assert r.joinable and r.foreign == (str(tmp_path / "v" / other[0].name),)
    assert _status(r.volumes, other[0]) == "foreign"
    assert join([tmp_path / "v"], tmp_path / "out", choice=mine[:12]).read_bytes() == data


def test_foreign_volume_of_same_name_but_other_digest_is_foreign(tmp_path: Path) -> None:
    _, vols = _set(tmp_path)
    _, newer = _set(tmp_path, seed=1, folder="n")  # same name, same size, other content
    vols[4].unlink()
    shutil.copy(newer[4], tmp_path / "v" / newer[4].name)
    assert check([tmp_path / "v"]).code == "volumes_mixed"
    old = next(b.sha256 for b in check([tmp_path / "v"]).bundles if b.volumes > 1)
    r = check([tmp_path / "v"], old[:16])
    assert not r.joinable and r.missing == (4,)
    assert r.foreign == (str(tmp_path / "v" / newer[4].name),)


def test_several_bundles_are_refused_and_listed(tmp_path: Path) -> None:
    _set(tmp_path, name="a.bundle", size=2500, folder="x")
    _, other = _set(tmp_path, name="b.bundle", size=2500, seed=4, folder="y")
    for f in other:
        shutil.copy(f, tmp_path / "x" / f.name)  # split refuses a folder holding another set: copied by hand
    r = check([tmp_path / "x"])
    assert not r.joinable and r.code == "volumes_mixed" and r.mixed
    assert {b.name for b in r.bundles} == {"a.bundle", "b.bundle"}
    with raises_code("volumes_mixed") as err:
        find_volume_set([tmp_path / "x"])
    assert "a.bundle" in err.value.message and "b.bundle" in err.value.message and "--set" in err.value.message


def test_folder_without_volumes(tmp_path: Path) -> None:
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "notes.txt").write_text("hello")
    assert check([tmp_path / "e"]).code == "no_volumes"
    assert not is_volume_dir(tmp_path / "e")
    with raises_code("no_volumes"):
        join([tmp_path / "e"], tmp_path / "out")


def test_missing_folder_is_an_input_error(tmp_path: Path) -> None:
    with raises_code("volume_dir_missing"):
        check([tmp_path / "nope"])


def test_join_failure_leaves_an_existing_output_untouched(tmp_path: Path) -> None:
    _, vols = _set(tmp_path)
    vols[0].unlink()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "b.bundle").write_bytes(b"previous")
    before = snapshot(tmp_path / "out")
    with raises_code("volumes_incomplete"):
        join([tmp_path / "v"], tmp_path / "out" / "b.bundle")
    assert snapshot(tmp_path / "out") == before


def test_symlinked_volume_is_not_followed(tmp_path: Path) -> None:
    _, vols = _set(tmp_path)
    (tmp_path / "l").mkdir()
    for v in vols[1:]:
        shutil.copy(v, tmp_path / "l" / v.name)
    (tmp_path / "l" / vols[0].name).symlink_to(vols[0])
    assert check([tmp_path / "l"]).missing == (0,)


def test_import_helpers_find_and_join_a_volume_folder(tmp_path: Path) -> None:
    data, _ = _set(tmp_path)
    assert is_volume_dir(tmp_path / "v")
    assert not is_volume_dir(tmp_path / "src")
    (tmp_path / "t").mkdir()
    out = join_to_temp([tmp_path / "v"], tmp_path / "t")
    assert out == tmp_path / "t" / "acme.bundle" and out.read_bytes() == data
