"""A stick holding volumes of two bundles is never used silently: refused, both sets named."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.cli.operator_world import World, bk, ok, ok_json, set_version, world
from tests.conftest import snapshot


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, Path]:
    """The world's 1.4.0 bundle and a 1.4.1 bundle of the same project."""
    w = world(tmp_path_factory.mktemp("sets"))
    set_version(w.release, "1.4.0", "1.4.1")
    newer = w.root / "acme-1.4.1.bundle"
    ok("export", w.release, "--to", "prod", "-o", newer, home=w.dev)
    return w, newer


def _stick(tmp_path: Path, *bundles: Path) -> Path:
    """A folder holding complete volume sets of every bundle given (as if split at different times)."""
    stick = tmp_path / "stick"
    for n, b in enumerate(bundles):
        ok("media", "split", b, "--volume-size", "8K", "--out", tmp_path / f"set{n}")
        for f in (tmp_path / f"set{n}").iterdir():
            stick.mkdir(exist_ok=True)
            shutil.copy(f, stick / f.name)
    return stick


def test_split_into_a_folder_holding_another_set_is_refused_and_changes_nothing(two: tuple[World, Path],
                                                                              tmp_path: Path) -> None:
    w, newer = two
    stick = _stick(tmp_path, w.bundle)
    before = snapshot(stick)
    r = bk("media", "split", newer, "--volume-size", "8K", "--out", stick, "--json")
    assert r.exit_code == 1
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "output_exists" and "acme.bundle: Acme Web 1.4.0 created" in err["message"]
    assert "--replace" in err["message"] and snapshot(stick) == before


def test_split_with_replace_leaves_only_the_new_set(two: tuple[World, Path], tmp_path: Path) -> None:
    w, newer = two
    stick = _stick(tmp_path, w.bundle)
    ok("media", "split", newer, "--volume-size", "8K", "--out", stick, "--replace")
    assert {p.name.split(".")[0] for p in stick.iterdir()} == {"acme-1"}
    assert ok_json("media", "check", stick)["bundle"]["about"]["version"] == "1.4.1"


def test_import_of_a_stick_with_two_complete_sets_refuses_and_names_both(two: tuple[World, Path],
                                                                        tmp_path: Path) -> None:
    w, newer = two
    stick = _stick(tmp_path, w.bundle, newer)
    home = tmp_path / "prod"
    shutil.copytree(w.prod, home)
    before = snapshot(home, stick)
    r = bk("import", stick, "--json", home=home)
    assert r.exit_code == 1
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "volumes_mixed"
    assert "Acme Web 1.4.0 created" in err["message"] and "Acme Web 1.4.1 created" in err["message"]
    assert {b["about"]["version"] for b in err["details"]["bundles"]} == {"1.4.0", "1.4.1"}
    assert snapshot(home, stick) == before
    chosen = next(b for b in err["details"]["bundles"] if b["about"]["version"] == "1.4.1")
    done = ok_json("import", stick, "--set", chosen["sha256"][:12], home=home)
    assert done["release"] == "1.4.1"


def test_join_refuses_two_sets_and_check_exits_non_zero(two: tuple[World, Path], tmp_path: Path) -> None:
    w, newer = two
    stick = _stick(tmp_path, w.bundle, newer)
    r = bk("media", "join", stick, "-o", tmp_path / "out.bundle", "--json")
    assert r.exit_code == 1 and json.loads(r.stdout)["error"]["code"] == "volumes_mixed"
    assert not (tmp_path / "out.bundle").exists()
    r = bk("media", "check", stick)
    assert r.exit_code == 1 and "1.4.0" in r.stdout and "1.4.1" in r.stdout
    digest = ok_json("inspect", w.bundle)["digest"]
    ok("media", "join", stick, "-o", tmp_path / "out.bundle", "--set", digest[:10])
    assert ok_json("inspect", tmp_path / "out.bundle")["digest"] == digest


def test_an_old_stick_with_one_volume_of_a_new_set_is_not_imported_silently(two: tuple[World, Path],
                                                                           tmp_path: Path) -> None:
    w, newer = two
    stick = _stick(tmp_path, w.bundle)
    ok("media", "split", newer, "--volume-size", "2K", "--out", tmp_path / "new")
    first_new = sorted((tmp_path / "new").iterdir())[0]
    shutil.copy(first_new, stick / first_new.name)  # the copy of the new set stopped after one volume
    r = bk("import", stick, "--json", home=w.prod)
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "volumes_mixed" and "incomplete" in err["message"]


def test_set_that_names_no_set_is_a_usage_error(two: tuple[World, Path], tmp_path: Path) -> None:
    w, _ = two
    stick = _stick(tmp_path, w.bundle)
    r = bk("media", "join", stick, "-o", tmp_path / "o.bundle", "--set", "0000000000", "--json")
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["code"] == "unknown_volume_set"


def test_a_set_prefix_too_short_to_choose_by_says_so_first(two: tuple[World, Path], tmp_path: Path) -> None:
    """The reviewer's example: ``--set be65f7`` (6 characters of the right SHA-256) was answered
    as if it named no set; the message leads with what to give instead."""
    w, newer = two
    stick = _stick(tmp_path, w.bundle, newer)
    sha = ok_json("media", "check", stick, "--set", newer.name)["bundle"]["sha256"]
    r = bk("media", "join", stick, "-o", tmp_path / "o.bundle", "--set", sha[:6], "--json")
    err = json.loads(r.stdout)["error"]
    assert (r.exit_code, err["code"]) == (2, "unknown_volume_set")
    assert err["message"].startswith(f"give 8 or more characters of a set's SHA-256 or bundle digest (--set "
                                     f"'{sha[:6]}' has 6), or its file name.")
    assert not (tmp_path / "o.bundle").exists()


def test_mixed_sets_are_described_in_plain_counts_and_grammar(two: tuple[World, Path], tmp_path: Path) -> None:
    """The reviewer's examples: "<folder> hold volumes" (one folder holds) and "(5 of 4 volumes
    needed)" for a set with a parity volume, which reads as if one were missing."""
    w, newer = two
    stick = tmp_path / "stick"
    for n, (b, parity) in enumerate(((w.bundle, "1"), (newer, "0"))):
        ok("media", "split", b, "--volume-size", "8K", "--parity", parity, "--out", tmp_path / f"set{n}")
        for f in (tmp_path / f"set{n}").iterdir():
            stick.mkdir(exist_ok=True)
            shutil.copy(f, stick / f.name)
    r = bk("media", "join", stick, "-o", tmp_path / "o.bundle", "--json")
    err = json.loads(r.stdout)["error"]
    assert err["message"].startswith(f"{stick} holds volumes of 2 bundles: ")
    old = next(b for b in err["details"]["bundles"] if b["about"]["version"] == "1.4.0")
    found, needed = old["volumes_found"], old["volumes_needed"]
    assert found == needed + 1  # the parity volume
    assert f"({found} found, {needed} needed)" in err["message"] and "volumes needed" not in err["message"]
    r = bk("media", "check", stick, tmp_path / "set1", "--json")
    assert json.loads(r.stdout)["error"]["message"].startswith(f"{stick}, {tmp_path / 'set1'} hold volumes of 2 "
                                                               "bundles")


def test_replace_removes_only_volumes_named_as_bundlekit_names_them_and_says_which(two: tuple[World, Path],
                                                                                 tmp_path: Path) -> None:
    """--replace removed every file whose content is a volume, a user's copy under a name of its own
    too, and never said which files it removed (reviews v33-15a F7, v33-15u F9)."""
    w, newer = two
    stick = _stick(tmp_path, w.bundle)
    old = sorted(p.name for p in stick.iterdir())
    shutil.copy(stick / old[0], stick / "my-backup.bin")
    before = snapshot(stick)
    r = bk("media", "split", newer, "--volume-size", "8K", "--out", stick, "--json")
    err = json.loads(r.stdout)["error"]
    assert (r.exit_code, err["code"]) == (1, "output_exists")
    assert f"pass --replace to remove {', '.join(old[:6])}" in err["message"]  # what it would remove, named
    assert "my-backup.bin holds a volume under a name of its own, which --replace never removes" in err["message"]
    assert err["details"]["would_replace"] == [str(stick / n) for n in old]
    assert err["details"]["not_replaced"] == [str(stick / "my-backup.bin")]
    r = bk("media", "split", newer, "--volume-size", "8K", "--out", stick, "--replace", "--json")
    err = json.loads(r.stdout)["error"]
    assert (r.exit_code, err["code"]) == (1, "output_exists") and "move it out of the folder" in err["message"]
    assert snapshot(stick) == before  # both refusals left every file as it was
    kept = (stick / "my-backup.bin").rename(tmp_path / "my-backup.bin")
    sizes = {n: (stick / n).stat().st_size for n in old}
    done = ok_json("media", "split", newer, "--volume-size", "8K", "--out", stick, "--replace")
    assert done["replaced"] == [{"path": str(stick / n), "size": sizes[n]} for n in old]
    assert done["unchanged"] is False and kept.exists()
    assert ok_json("media", "check", stick)["bundle"]["about"]["version"] == "1.4.1"
    shutil.copy(kept, stick / "my-backup.bin")  # an old volume under the user's name
    again = _stick(tmp_path / "again", w.bundle)  # and the old set back, to see the human line
    for p in again.iterdir():
        shutil.copy(p, stick / p.name)
    (stick / "my-backup.bin").unlink()
    human = ok("media", "split", newer, "--volume-size", "8K", "--out", stick, "--replace")
    assert f"removed {len(old)} volume(s) of the set that was in {stick}" in human and old[0] in human


def test_splitting_the_same_bundle_again_into_its_own_set_is_nothing_to_do(two: tuple[World, Path],
                                                                           tmp_path: Path) -> None:
    """It was refused as holding 'another set' whose SHA-256 was the bundle's own (review v33-15a F8)."""
    w, _ = two
    stick = _stick(tmp_path, w.bundle)
    before = snapshot(stick)
    out = ok("media", "split", w.bundle, "--volume-size", "8K", "--out", stick)
    assert out.startswith(f"nothing to do: {stick} already holds this set of acme.bundle")
    assert f"`bundlekit media check {stick}` verifies them" in out
    done = ok_json("media", "split", w.bundle, "--volume-size", "8K", "--out", stick)
    assert done["unchanged"] is True and done["replaced"] == [] and len(done["volumes"]) == len(os.listdir(stick))
    assert snapshot(stick) == before
    r = bk("media", "split", w.bundle, "--volume-size", "6K", "--out", stick, "--json")
    err = json.loads(r.stdout)["error"]
    assert (r.exit_code, err["code"]) == (1, "output_exists")
    assert "of this same bundle cut otherwise (another --volume-size or --parity)" in err["message"]
    assert "another set" not in err["message"] and snapshot(stick) == before


def test_two_sets_sharing_a_file_name_are_not_offered_as_chosen_by_name(two: tuple[World, Path],
                                                                        tmp_path: Path) -> None:
    """The volumes_mixed hint offered `--set NAME`, which was then refused as naming two sets."""
    w, newer = two
    renamed = tmp_path / "b" / w.bundle.name
    renamed.parent.mkdir()
    shutil.copy(newer, renamed)  # 1.4.1 under the 1.4.0 bundle's file name, in smaller volumes
    stick = _stick(tmp_path, w.bundle)
    ok("media", "split", renamed, "--volume-size", "2K", "--out", tmp_path / "small")
    for f in (tmp_path / "small").iterdir():
        shutil.copy(f, stick / f.name)
    r = bk("media", "join", stick, "-o", tmp_path / "j.bundle", "--json")
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "volumes_mixed" and "or its file name" not in err["message"]
    assert f"'{w.bundle.name}' names more than one set, so a file name does not choose" in err["message"]
    r = bk("media", "join", stick, "-o", tmp_path / "j.bundle", "--set", w.bundle.name, "--json")
    err = json.loads(r.stdout)["error"]
    assert (r.exit_code, err["code"]) == (2, "unknown_volume_set") and "or its file name" not in err["message"]
    assert not (tmp_path / "j.bundle").exists()
